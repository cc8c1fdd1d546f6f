"""README must document every tool and resource the server has, and nothing it lacks."""

from __future__ import annotations

import re

from support import REPO

from sanctum_mcp.catalogue import all_tools


def _table_names(section: str) -> list[str]:
    readme = (REPO / "README.md").read_text()
    body = readme.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", body, flags=re.M)


def test_every_tool_is_in_readme_table():
    documented = _table_names("Tools")
    registered = list(all_tools())
    missing = [name for name in registered if name not in documented]
    extra = [name for name in documented if name not in registered]
    assert not missing, f"tools missing from README's tool table: {missing}"
    assert not extra, f"README documents tools that do not exist: {extra}"
    assert len(documented) == len(set(documented)), "a tool is listed twice in README"


async def test_every_resource_is_in_readme(server):
    documented = set(_table_names("Resources"))
    uris = {str(r.uri) for r in await server.list_resources()}
    uris |= {t.uri_template for t in await server.list_resource_templates()}
    assert uris <= documented, f"resources missing from README: {sorted(uris - documented)}"
    assert documented <= uris, f"README lists resources that do not exist: {sorted(documented - uris)}"
