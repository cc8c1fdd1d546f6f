"""What a plugins folder holds: its sub-folders, with a `cli.py` (described by running
`cli.py --describe`) and/or a `manifest.json` (Sanctum's module manifest), and what each says the
plugin is (type, version, description, commands, dependencies, or why it is in Error)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sanctum_mcp.domain.plugins.models import PLUGIN_TYPES
from sanctum_mcp.domain.plugins.versions import check_version, parse_dependency
from sanctum_mcp.domain.schemas.validation import check_schema
from sanctum_mcp.domain.shared.errors import InvalidInput
from sanctum_mcp.domain.smcp.contract import PluginRun, describe_problems, help_commands

MANIFEST = "manifest.json"
MANIFEST_FIELDS = ("name", "type", "description", "version", "module_scope", "config_schema", "dependencies", "entry_point")


@dataclass
class Folder:
    name: str
    path: Path
    has_cli: bool
    manifest: dict[str, Any] | None = None
    manifest_error: str | None = None
    run: PluginRun | None = None
    help_run: PluginRun | None = None  # `cli.py --help`, run when SMCP would fall back to it
    warnings: list[str] = field(default_factory=list)


def discover(base: Path) -> list[Folder]:
    folders = []
    for path in sorted(base.iterdir()):
        if not path.is_dir() or path.name.startswith((".", "_")):
            continue
        folder = Folder(name=path.name, path=path.resolve(), has_cli=(path / "cli.py").is_file())
        manifest_path = path / MANIFEST
        if manifest_path.is_file():
            folder.manifest, folder.manifest_error = read_manifest(manifest_path)
        folders.append(folder)
    return folders


def read_manifest(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{MANIFEST} cannot be read as JSON ({type(exc).__name__})"
    if not isinstance(data, dict):
        return None, f"{MANIFEST} must hold a JSON object"
    missing = [k for k in ("name", "type") if not isinstance(data.get(k), str) or not data.get(k)]
    if missing:
        return None, f"{MANIFEST} lacks the required field(s) {', '.join(missing)}"
    return {k: data[k] for k in MANIFEST_FIELDS if k in data}, None


@dataclass
class Found:
    """What the folder says the plugin is, before comparing with the registry."""

    type: str
    version: str | None
    description: str | None
    commands: list[dict[str, Any]] | None  # None: describe failed
    dependencies: list[tuple[str, str | None]]
    error: str | None
    discovery: str | None = None  # "help": the commands SMCP scrapes from --help (no describe)


def _describe_error(run: PluginRun) -> str | None:
    if not run.ok:
        return f"cli.py --describe failed: {run.error}"
    if run.result is None:
        if not run.stdout.strip():
            return "cli.py --describe printed nothing; it must print the describe JSON"
        return "cli.py --describe did not print valid JSON"
    problems = describe_problems(run.result)
    if problems:
        return "cli.py --describe output breaks the SMCP describe contract v1: " + "; ".join(problems[:5])
    names = [c["name"] for c in run.result["commands"]]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        return f"cli.py --describe lists command(s) {', '.join(doubled)} more than once"
    return None


def _manifest_dependencies(raw: Any) -> list[tuple[str, str | None]]:
    """Manifest dependencies as 'name<spec>' strings, {name: spec}, or [{name, version_spec|version}]."""
    if raw is None:
        return []
    items: list[str] = []
    if isinstance(raw, dict):
        items = [f"{name}{spec or ''}" if isinstance(spec, (str, type(None))) else "?" for name, spec in raw.items()]
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, str):
                items.append(item)
            elif isinstance(item, dict) and isinstance(item.get("name"), str):
                spec = item.get("version_spec", item.get("version")) or ""
                items.append(f"{item['name']}{spec}")
            else:
                items.append("?")
    else:
        raise InvalidInput("dependencies must be a list or an object")
    return [parse_dependency(text) for text in items]


def evaluate(folder: Folder) -> Found:
    errors: list[str] = []
    manifest = folder.manifest or {}
    if folder.manifest_error:
        errors.append(folder.manifest_error)
    commands = None
    description = manifest.get("description") if isinstance(manifest.get("description"), str) else None
    version = None
    discovery = None
    if folder.has_cli:
        assert folder.run is not None
        problem = _describe_error(folder.run)
        scraped = help_commands(folder.help_run.stdout) if folder.help_run and folder.help_run.ok else []
        if problem and scraped:
            # SMCP serves it anyway, through --help: register it as SMCP sees it.
            commands, discovery = scraped, "help"
            folder.warnings.append(f"no contract --describe ({problem}); SMCP serves its commands from --help, "
                                   "without parameters, so it passes them no arguments")
        elif problem:
            if folder.help_run is not None:
                problem += ("; and --help lists no commands (SMCP serves none of it)" if folder.help_run.ok
                            else f"; and --help failed too ({folder.help_run.error})")
            errors.append(problem)
        else:
            payload = folder.run.result
            commands = payload["commands"]
            meta = payload.get("plugin") or {}
            version = meta.get("version") or None
            description = meta.get("description") or description
            if meta.get("name") and meta["name"] != folder.name:
                folder.warnings.append(f"describe names the plugin {meta['name']!r}; SMCP uses the folder name {folder.name!r}")
    if version is None and isinstance(manifest.get("version"), str):
        version = manifest["version"]
    if version is not None:
        try:
            check_version(version)
        except InvalidInput as exc:
            errors.append(str(exc))
            version = None
    if manifest.get("name") and manifest["name"] != folder.name:
        folder.warnings.append(f"{MANIFEST} names the module {manifest['name']!r}; the folder name {folder.name!r} is used")
    if "config_schema" in manifest:
        try:
            check_schema(manifest["config_schema"], what=f"{MANIFEST} config_schema", fix="")
        except InvalidInput as exc:
            errors.append(str(exc).strip())
    dependencies: list[tuple[str, str | None]] = []
    try:
        dependencies = _manifest_dependencies(manifest.get("dependencies"))
    except InvalidInput as exc:
        errors.append(f"{MANIFEST} dependencies: {exc}")
    if any(name.lower() == folder.name.lower() for name, _ in dependencies):
        errors.append(f"it depends on itself (cycle: {folder.name} -> {folder.name})")
        dependencies = [d for d in dependencies if d[0].lower() != folder.name.lower()]
    if folder.has_cli:
        kind = "mcp"
    else:
        kind = manifest.get("type") if manifest.get("type") in PLUGIN_TYPES else "extension"
    return Found(kind, version, description, commands, dependencies, "; ".join(errors) or None, discovery)
