"""The layers stay visible: storage -> domain -> catalogue -> server -> transports/CLI."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sanctum_mcp"


def _imports(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (PACKAGE / folder).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(PACKAGE))] = names
    return found


def _offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, names in _imports(folder).items()
        for name in names
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_domain_storage_and_catalogue_never_import_mcp():
    for folder in ("domain", "storage", "catalogue"):
        assert not _offenders(folder, ("mcp", "mcp_types", "starlette", "uvicorn")), folder


def test_storage_knows_nothing_above_it():
    assert not _offenders("storage", ("sanctum_mcp.domain", "sanctum_mcp.catalogue", "sanctum_mcp.server"))


def test_domain_does_not_reach_up():
    assert not _offenders("domain", ("sanctum_mcp.catalogue", "sanctum_mcp.server", "sanctum_mcp.transports"))
