"""Plugin names, semantic versions and dependency specifiers (parsed by `packaging`)."""

from __future__ import annotations

import re

from sanctum_mcp.domain.shared.errors import InvalidInput
from sanctum_mcp.domain.shared.names import check_name_characters

# \Z, not $: `$` also matches before a trailing newline, and the SMCP scan matches folder names with it.
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\Z")
MAX_NAME = 64


def check_plugin_name(name: str) -> str:
    check_name_characters(name, "plugin")
    if len(name) > MAX_NAME or not NAME_RE.match(name):
        raise InvalidInput(
            f"plugin name {name[:80]!r} is not valid: use 1-{MAX_NAME} letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit (e.g. 'letta-bridge')."
        )
    return name


def check_version(version: str, *, what: str = "version") -> str:
    from packaging.version import InvalidVersion, Version

    hint = (
        "use a semantic version MAJOR.MINOR.PATCH such as 1.4.0 (pre-release and build tags like "
        "1.4.0rc1, 1.4.0-beta.1 or 1.4.0+build.7 are accepted)."
    )
    try:
        parsed = Version(version)
    except InvalidVersion:
        raise InvalidInput(f"{what} {version[:40]!r} is not a version; {hint}") from None
    if (not "0" <= version[:1] <= "9" or parsed.epoch or len(parsed.release) != 3
            or parsed.is_postrelease or parsed.is_devrelease):
        raise InvalidInput(f"{what} {version[:40]!r} is not a semantic version; {hint}")
    return version


def parse_dependency(text: str) -> tuple[str, str | None]:
    """`name` or `name<specifier>` (e.g. 'core>=1.2,<2'), parsed by packaging's requirement parser."""
    from packaging.requirements import InvalidRequirement, Requirement

    hint = "write a dependency as a plugin name with an optional version specifier, e.g. 'core' or 'core>=1.2,<2'."
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        first = str(exc).splitlines()[0]
        raise InvalidInput(f"dependency {text[:80]!r} cannot be parsed ({first}); {hint}") from None
    if requirement.extras or requirement.marker is not None or requirement.url:
        raise InvalidInput(f"dependency {text[:80]!r} has extras, a marker or a URL, which plugins do not use; {hint}")
    check_plugin_name(requirement.name)
    spec = str(requirement.specifier)
    return requirement.name, spec or None


def parse_dependencies(texts: list[str], *, owner: str) -> list[tuple[str, str | None]]:
    parsed: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for text in texts:
        name, spec = parse_dependency(text)
        if name.lower() in seen:
            raise InvalidInput(f"dependency {name!r} is listed twice; combine the specifiers in one entry (e.g. '{name}>=1,<2').")
        if name.lower() == owner.lower():
            raise InvalidInput(f"plugin {owner!r} cannot depend on itself (cycle: {owner} -> {owner}).")
        seen.add(name.lower())
        parsed.append((name, spec))
    return parsed


def satisfies(version: str | None, spec: str | None) -> bool:
    if not spec:
        return True
    if version is None:
        return False
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return SpecifierSet(spec).contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def compare_versions(a: str | None, b: str | None) -> int:
    """-1, 0, 1 as a <, ==, > b; a missing version is older than any version."""
    from packaging.version import Version

    if a is None or b is None:
        return (a is not None) - (b is not None)
    va, vb = Version(a), Version(b)
    return (va > vb) - (va < vb)
