"""Configuration export and import (export_config, import_config, `sanctum-mcp config export|import`).

An export is a document of stored settings (not resolved values), one entry per (scope, target,
key), each carrying the version it had: JSON or YAML for import, or `KEY=value` lines for a shell.
Secrets are masked unless an admin reveals them (audited per secret, like get_config's reveal).

An import applies such a document in ONE transaction: every entry's version is checked first (a
check-and-set; any conflict refuses the whole import and names the keys), then each entry goes
through ConfigService.setter, set_config's own checks and transaction body, so every rule of
set_config holds (roles, governing keys, types, constraints, secrets need admin) and each change
gets its history and audit rows. A dry run does the same and rolls back, so its diff is exactly
what the import would do. Imports set; they never delete a setting missing from the document.

Secrets sent back: a value that is exactly the mask the export showed for the stored secret keeps
the stored secret (as update_tool_instance does with instance configs); any other masked value is
refused, since storing it would replace a secret with asterisks.

Entries are plain dictionaries with a fixed set of fields (ENTRY_FIELDS), so a field such as
`environment` can be added to both directions without changing the document's shape.
"""

from __future__ import annotations

import json
import shlex
import sqlite3
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import BaseModel

from sanctum_mcp.domain.config.models import SCOPES, TYPES, ConfigChange, ConfigScope, ConfigType, plaintext, present
from sanctum_mcp.domain.config.environments import ENVIRONMENT_KEY, ENVIRONMENTS, check_environment
from sanctum_mcp.domain.config.namespace import key_info, unknown_key
from sanctum_mcp.domain.config.targets import Target, resolve_target
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.errors import Conflict, Forbidden, InvalidInput, RegistryError
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.reach import refuse_outside_agents
from sanctum_mcp.domain.shared.secrets import MASK, SecretBox
from sanctum_mcp.storage import config as sql
from sanctum_mcp.storage.ownership import Reach

if TYPE_CHECKING:
    from sanctum_mcp.domain.config.service import ConfigService
    from sanctum_mcp.storage.database import Database

FORMAT_VERSION = 1
# Bounds on what an import reads: a real registry's export is far smaller; a larger document is
# refused before it is parsed (parsing and applying cost stays bounded).
MAX_DOCUMENT = 1_000_000  # characters
MAX_ENTRIES = 2_000  # one write transaction: ~2 s of set_config rules at this size (README)
SHOWN = 10  # keys named in a refusal
ENTRY_FIELDS = ("key", "scope", "target", "environment", "value", "type", "sensitive", "category", "description",
                "version", "create")
# `--format env`: SANCTUM_ + the key in upper case, every '.' or '-' as '_' (keys are [a-z][a-z0-9_.-]*).
# The prefix keeps a key such as `path` or `home` from replacing the shell's own PATH or HOME.
ENV_PREFIX = "SANCTUM_"


class ExportedEntry(BaseModel):
    """One entry of an export document (the document, not the tool result, carries these)."""

    key: str
    scope: ConfigScope
    target: str  # agent, tool or user name; instance id; '' at system
    environment: str | None = None  # the value held for this environment only; None: the general value
    value: str | None
    type: ConfigType
    sensitive: bool
    category: str | None = None
    description: str | None = None
    version: int


class ConfigExport(BaseModel):
    # The document as text, the form import_config takes back (and a shell evals, for env): one
    # string keeps the tool's published output schema small (the listing budget).
    document: str


class ConfigImport(BaseModel):
    # The diff as lines ("~ key at where: before -> after (version n)", "+" for a new setting): what
    # a person or a model reads, and a small published schema.
    changed: list[str]
    unchanged: int
    message: str


# --- export ------------------------------------------------------------------------------------------


def check_selection(scope: str | None, target: str | None, fmt: str) -> None:
    if target is not None and scope is None:
        raise InvalidInput("target needs scope too (e.g. scope='agent', target='Athena').")
    if fmt == "env" and scope not in (None, "system") and target is None:
        raise InvalidInput(
            f"format env prints one value per variable, so it exports the settings of one target: give target "
            f"with scope={scope!r} (e.g. target='Athena'), or export scope system."
        )


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper().replace(".", "_").replace("-", "_")


def render_env(entries: list[ExportedEntry]) -> str:
    """`NAME='value'` lines a shell can eval, quoted with shlex.quote (no expansion, no command runs)."""
    names: dict[str, str] = {}
    lines = []
    for entry in entries:
        name = env_name(entry.key)
        if name in names:
            raise InvalidInput(
                f"the keys {names[name]!r} and {entry.key!r} both become the variable {name} in format env; export "
                "one of them at a time (keys), or use format json or yaml."
            )
        names[name] = entry.key
        value = entry.value or ""
        if "\x00" in value:
            # A shell variable cannot hold a NUL byte: eval would cut the value short.
            raise InvalidInput(f"{entry.key} holds a NUL character, which no shell variable can hold; use format "
                               "json or yaml for it (or leave it out with keys).")
        lines.append(f"{name}={shlex.quote(value)}")
    return "\n".join(lines)


def render(entries: list[ExportedEntry], fmt: str) -> str:
    if fmt == "env":
        return render_env(entries)
    document = {"sanctum_config": FORMAT_VERSION, "entries": [e.model_dump(mode="json") for e in entries]}
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1_000_000).rstrip("\n")
    return json.dumps(document, indent=2, ensure_ascii=False)


# --- reading an import document ------------------------------------------------------------------------


def parse_document(text: str) -> list[dict[str, Any]]:
    """The entries of an export (JSON, or YAML via safe_load), checked for shape; bounded in size.

    YAML aliases are harmless here: every entry field must be a scalar, so a shared node is never
    walked twice (a "billion laughs" document is refused as a wrong shape, not expanded)."""
    if len(text) > MAX_DOCUMENT:
        raise InvalidInput(
            f"the document is longer than {MAX_DOCUMENT:,} characters, the most an import takes. Split it "
            "(export with scope, category or keys) and import the parts. Nothing was changed."
        )
    try:
        if text.lstrip().startswith(("{", "[")):
            try:
                document = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"the document is not valid JSON ({exc.msg} at line {exc.lineno}, column "
                                   f"{exc.colno}). Nothing was changed.") from None
        else:
            import yaml

            try:
                document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (safe)
            except yaml.YAMLError as exc:
                where = getattr(exc, "problem_mark", None)
                at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
                problem = getattr(exc, "problem", None) or "it cannot be read"
                raise InvalidInput(f"the document is neither JSON nor valid YAML ({problem}{at}). Nothing was "
                                   "changed.") from None
    except RecursionError:
        raise InvalidInput("the document nests too deeply to be an export. Nothing was changed.") from None
    except ValueError as exc:  # e.g. a number of more than 4,300 digits (Python's int limit)
        raise InvalidInput(f"the document cannot be read: {str(exc)[:200]}. Nothing was changed.") from None
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise InvalidInput(
            "the document is not a configuration export: it needs an object with 'entries', a list of settings "
            "(as export_config writes it). Nothing was changed."
        )
    version = document.get("sanctum_config", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise InvalidInput(f"the document is format {version!r}; this registry reads format {FORMAT_VERSION}. "
                           "Nothing was changed.")
    entries = document["entries"]
    if len(entries) > MAX_ENTRIES:
        raise InvalidInput(f"the document has {len(entries):,} entries; an import takes at most {MAX_ENTRIES:,}. "
                           "Split it and import the parts. Nothing was changed.")
    return [_entry(i, raw) for i, raw in enumerate(entries, 1)]


def _entry(number: int, raw: Any) -> dict[str, Any]:
    where = f"entry {number}"
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} is not an object with key, scope, target and value. Nothing was changed.")
    unknown = [str(name)[:40] for name in raw if name not in ENTRY_FIELDS]
    if unknown:
        raise InvalidInput(f"{where} has fields this registry does not know ({', '.join(map(repr, unknown[:5]))}); "
                           f"an entry has {', '.join(ENTRY_FIELDS)}. Nothing was changed.")
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{where} has no key (a setting's name as text). Nothing was changed.")
    where = f"{where} ({key[:128]!r})"
    entry: dict[str, Any] = {"key": key, "where": where}
    scope = raw.get("scope", "system")
    if scope not in SCOPES:
        raise InvalidInput(f"{where}: scope must be one of {', '.join(SCOPES)}. Nothing was changed.")
    entry["scope"] = scope
    target = raw.get("target")
    if isinstance(target, int) and not isinstance(target, bool):
        target = str(target)
    if target is not None and not isinstance(target, str):
        raise InvalidInput(f"{where}: target must be a name or id as text. Nothing was changed.")
    entry["target"] = target or None
    if "value" not in raw:
        raise InvalidInput(f"{where} has no value. Nothing was changed.")
    entry["value"] = _value_text(where, raw["value"])
    value_type = raw.get("type")
    if value_type is not None and value_type not in TYPES:
        raise InvalidInput(f"{where}: type must be one of {', '.join(TYPES)}. Nothing was changed.")
    entry["type"] = value_type
    for name, kind in (("sensitive", bool), ("category", str), ("description", str), ("create", bool)):
        value = raw.get(name)
        if value is not None and not isinstance(value, kind):
            raise InvalidInput(f"{where}: {name} must be a {kind.__name__.replace('str', 'text')}. Nothing was changed.")
        entry[name] = value
    version = raw.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 0):
        raise InvalidInput(f"{where}: version must be a whole number (the version exported), or left out to "
                           "apply the entry without the check. Nothing was changed.")
    entry["version"] = version
    environment = raw.get("environment")
    if environment is not None and environment not in ENVIRONMENTS:
        raise InvalidInput(f"{where}: environment must be one of {', '.join(ENVIRONMENTS)}, or left out for the "
                           "general value. Nothing was changed.")
    entry["environment"] = environment
    return entry


def _value_text(where: str, value: Any) -> str:
    """A value as set_config takes it: text; a YAML/JSON number or boolean as its JSON text (as
    set_config accepts 8080 or true). null and lists/objects are refused: write JSON as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return value
    what = "null" if value is None else type(value).__name__
    raise InvalidInput(f"{where}: the value is {what}; a value is text (JSON values as text, e.g. '{{\"a\": 1}}'). "
                       "Nothing was changed.")


# --- the service ---------------------------------------------------------------------------------------


class _DryRun(Exception):
    """Raised at the end of a dry run's transaction so that Database.write rolls it back."""

    def __init__(self, result: ConfigImport) -> None:
        self.result = result


class ConfigTransfer:
    def __init__(self, db: Database, secrets: SecretBox, config: ConfigService) -> None:
        self.db = db
        self.box = secrets
        self.config = config

    async def export(self, caller: Caller, *, scope: str | None = None, target: str | None = None,
                     category: str | None = None, keys: list[str] | None = None, reveal: bool = False,
                     fmt: str = "json", environment: str | None = None) -> ConfigExport:
        """Stored values with their versions. JSON/YAML: the general values and every environment's own
        (each entry says which), or with `environment` the general values and that environment's.
        env: one line per key, the value that applies in `environment` (default the active one):
        its own value where it has one, else the general one."""
        if reveal and not caller.has_role("admin"):
            raise Forbidden(
                f"revealing secrets needs the 'admin' role; {caller.username!r} has {caller.role!r}. "
                "Export without reveal to get them masked."
            )
        check_selection(scope, target, fmt)
        check_environment(environment)
        wanted = set(keys) if keys else None
        if fmt == "env" and scope is None:
            scope = "system"

        def work(conn: sqlite3.Connection) -> list[ExportedEntry]:
            rows: list[sqlite3.Row] = []
            for key in sorted(wanted or ()):
                if not sql.key_definitions(conn, key):
                    raise unknown_key(conn, key)  # a typo in a script's --keys is an error, not an empty export
            if scope == "system":
                resolve_target(conn, "system", target)  # refuses a target at the system scope
            if scope in (None, "system"):
                rows += sql.page_system(conn, category=category, prefix=None, after=None, limit=-1)
            target_id = None
            if scope != "system":
                target_id = resolve_target(conn, scope, target).id if scope and target is not None else None
                rows += sql.page_scoped(conn, scope=scope, target=target_id, category=category, prefix=None,
                                        after=None, limit=-1)
            shown = environment or (sql.active_environment(conn) if fmt == "env" else None)
            held = sql.page_env(conn, scope=scope, target="" if scope == "system" else target_id, category=category,
                                prefix=None, after=None, limit=-1)
            held = [r for r in held if shown is None or r["environment"] == shown]
            if fmt == "env":
                # The value that applies in that environment at each place: its own replaces the general one.
                own = {(r["scope"], r["target"], r["key"]) for r in held}
                rows = [r for r in rows if (r["scope"], r["target"], r["key"]) not in own]
            rows += held
            if wanted is not None:
                rows = [r for r in rows if r["key"] in wanted]
            return [self._exported(conn, caller, r, reveal) for r in rows]

        # A reveal writes its audit rows, so it runs in a write transaction (as get_config's does).
        entries = await (self.db.write(work) if reveal else self.db.read(work))
        return ConfigExport(document=render(entries, fmt))

    def _exported(self, conn: sqlite3.Connection, caller: Caller, row: sqlite3.Row, reveal: bool) -> ExportedEntry:
        secret = bool(row["is_sensitive"])
        target = row["target"] if row["scope"] == "instance" else (row["target_name"] or row["target"])
        value = present(row["value"], secret, self.box)
        if reveal and secret:
            value = plaintext(row["value"], self.box)
            label = Target(row["scope"], row["target"], target).label
            audit.record(conn, caller, action="config.reveal", source="config",
                         source_id=f"{row['scope']}:{row['target']}:{row['key']}",
                         message=f"sensitive value of {row['key']} at {label} revealed to {caller.username!r} "
                                 "(export_config)",
                         extra={"key": row["key"], "scope": row["scope"], "target": target, "version": row["version"]})
        held_for = row["environment"] if "environment" in row.keys() else None
        return ExportedEntry(key=row["key"], scope=row["scope"], target=target, environment=held_for or None,
                             value=value, type=row["type"],
                             sensitive=secret, category=row["category"], description=row["description"],
                             version=row["version"])

    async def import_(self, caller: Caller, document: str, *, dry_run: bool = False) -> ConfigImport:
        permissions = caller.permissions
        if permissions is not None and permissions.tools is not None and "set_config" not in permissions.tools:
            raise Forbidden(
                f"import_config applies set_config to every entry, and set_config is not among the tools "
                f"{caller.username!r} may call. Ask an admin to add it with update_user."
            )
        # Parsing YAML is pure Python work on up to MAX_DOCUMENT characters: off the event loop.
        entries = await anyio.to_thread.run_sync(parse_document, document)

        def tx(conn: sqlite3.Connection) -> ConfigImport:
            targets = self._check(conn, caller, entries)
            changed: list[str] = []
            unchanged = 0
            for entry, t in zip(entries, targets):
                current = sql.get_row(conn, t.scope, t.id, entry["key"], entry["environment"])
                result = self._apply(conn, caller, entry, t)
                if result is None or result.change == "unchanged" or result.entry is None:
                    unchanged += 1
                    continue
                # Masked as the setting is now (a key made sensitive by the import masks its old value too).
                before = present(current["value"], result.entry.sensitive, self.box) if current else None
                where = "system" if t.scope == "system" else f"{t.scope} {t.name}"
                if entry["environment"]:
                    where += f" for {entry['environment']}"
                was = f"{before} -> " if current else ""
                changed.append(f"{'~' if current else '+'} {entry['key']} at {where}: {was}{result.entry.value} "
                               f"(version {result.version})")
            verb = "would change" if dry_run else "changed"
            message = (f"{len(changed)} setting(s) {verb}, {unchanged} already as in the document"
                       + (" (dry run: nothing was changed)." if dry_run else ", in one transaction."))
            outcome = ConfigImport(changed=changed, unchanged=unchanged, message=message)
            if dry_run:
                raise _DryRun(outcome)
            return outcome

        try:
            return await self.db.write(tx)
        except _DryRun as done:
            return done.result

    def _check(self, conn: sqlite3.Connection, caller: Caller, entries: list[dict[str, Any]]) -> list[Target]:
        """Every entry's target, then every version (check-and-set) before anything is written: a
        conflict anywhere refuses the whole import and names every conflicting key."""
        targets: list[Target] = []
        seen: dict[tuple[str, str, str, str], str] = {}
        for entry in entries:
            try:
                t = resolve_target(conn, entry["scope"], entry["target"])
            except RegistryError as exc:
                raise _located(exc, entry["where"]) from None
            place = (t.scope, t.id, entry["key"], entry["environment"] or "")
            if place in seen:
                raise InvalidInput(f"{entry['where']} and {seen[place]} both set {entry['key']} at {t.label}"
                               f"{' for ' + entry['environment'] if entry['environment'] else ''}; keep "
                                   "one of them. Nothing was changed.")
            seen[place] = entry["where"]
            targets.append(t)
        # permissions.agents, as set_config's gate checks it for the one target it names.
        refuse_outside_agents(conn, caller, "import_config", _reach, targets)
        conflicts = []
        for entry, t in zip(entries, targets):
            if entry["version"] is None:
                continue
            current = sql.get_row(conn, t.scope, t.id, entry["key"], entry["environment"])
            now = current["version"] if current else 0
            if now != entry["version"]:
                conflicts.append(f"{entry['key']} at {t.label} (exported at version {entry['version']}, now "
                                 f"{'version ' + str(now) if now else 'not set'})")
        if conflicts:
            more = f" and {len(conflicts) - SHOWN} more" if len(conflicts) > SHOWN else ""
            raise Conflict(
                f"the import is refused: {len(conflicts)} setting(s) changed since the export: "
                f"{'; '.join(conflicts[:SHOWN])}{more}. Nothing was changed. Export again (or take those entries' "
                "version out of the document to overwrite them) and retry."
            )
        return targets

    def _apply(self, conn: sqlite3.Connection, caller: Caller, entry: dict[str, Any], t: Target) -> ConfigChange | None:
        key, value = entry["key"], entry["value"]
        if key == ENVIRONMENT_KEY and t.scope == "system" and entry["environment"] is None:
            # The active environment changes only through switch_environment (set_config refuses it and
            # says so); an export carries it, so an import of the same value leaves it as it is.
            current = sql.get_row(conn, "system", "", key)
            if current is not None and current["value"] == value:
                return None
        if value.startswith(MASK) and (entry["sensitive"] or key_info(conn, key).sensitive):
            current = sql.get_row(conn, t.scope, t.id, key, entry["environment"])
            if current is not None and value == present(current["value"], True, self.box):
                return None  # the mask of the stored secret, exactly: keep the secret
            raise InvalidInput(
                f"{entry['where']} at {t.label}: {value[:len(MASK) + 4]!r} is the mask of a secret, not a secret, "
                "and it is not the mask of the secret stored there. Put the secret itself in the document, export "
                "with reveal, or leave the entry out. Nothing was changed."
            )
        try:
            return self.config.setter(
                caller, key, value, scope=t.scope, target=_reference(t), value_type=entry["type"],
                description=entry["description"], category=entry["category"], sensitive=entry["sensitive"],
                expected_version=entry["version"], create=bool(entry["create"]), environment=entry["environment"],
            )(conn)
        except RegistryError as exc:
            raise _located(exc, f"{entry['where']} at {t.label}") from None


def _reference(t: Target) -> str | None:
    """How set_config names a resolved target: instances by id, other objects by their own name."""
    if t.scope == "system":
        return None
    return t.id if t.scope == "instance" else t.name


def _located(exc: RegistryError, where: str) -> RegistryError:
    """The same kind of error, saying which entry of the document it is about."""
    located = type(exc).__new__(type(exc))
    RegistryError.__init__(located, f"{where}: {exc} Nothing was changed."
                           if "Nothing was changed" not in str(exc) else f"{where}: {exc}")
    return located


def _reach(conn: sqlite3.Connection, targets: list[Target]) -> list[Reach]:
    """The agents owning the agent- and instance-scope targets of an import (others are shared)."""
    reach = []
    for t in targets:
        if t.scope == "agent":
            reach.append(Reach("agent", t.name, t.name))
        elif t.scope == "instance":
            row = sql.find_instance(conn, int(t.id))
            reach.append(Reach("instance", t.name, row["agent_name"] if row else None))
    return reach
