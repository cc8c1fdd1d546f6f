"""Tools (the catalog of what agents can use) and tool instances (a tool configured for an agent,
or for the whole host when the tool is a master tool).

Rules kept here:
- `category` is one of master/athena/monday/timbre/smcp. Instances of a master tool are shared and
  have no agent; instances of athena/monday/timbre tools belong to an agent (one is required);
  instances of smcp tools (SMCP plugin commands) may name an agent or not.
- `config_schema` must be a valid JSON Schema describing an object; an instance's config is
  validated against it and errors name the JSON path. Changing a tool's schema (or category) is
  refused while an existing instance would no longer fit it.
- An instance of a disabled tool cannot be active.
- Values a tool's schema marks `"writeOnly": true` are secrets, wherever JSON Schema puts the mark
  (nested properties, array items, additionalProperties, $ref, allOf/anyOf/oneOf, if/then/else...;
  domain/schema_graph.py finds them in each config): stored encrypted, shown masked. Sending back
  exactly the mask keeps the stored secret. A schema where a writeOnly cannot protect anything is
  refused when the tool is created or updated.
- Changing the config_schema of a tool whose instances hold secrets needs the admin role, and an
  error about a stored secret never says which rule it broke (either would let a caller question
  a secret they cannot read).
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from sanctum_mcp.domain import audit, schemas
from sanctum_mcp.domain.agents import resolve as resolve_agent
from sanctum_mcp.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from sanctum_mcp.domain.identity import Caller
from sanctum_mcp.domain.names import check_name_characters
from sanctum_mcp.domain.pagination import decode_cursor, encode_cursor
from sanctum_mcp.domain.reach import refuse_outside_agents
from sanctum_mcp.domain.references import as_id, looks_like_id
from sanctum_mcp.domain.schema_graph import Path, graph_of
from sanctum_mcp.domain.secrets import MASK, SecretBox, SecretUnreadable, mask
from sanctum_mcp.storage import ownership
from sanctum_mcp.storage import tools as sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry

ToolCategory = Literal["master", "athena", "monday", "timbre", "smcp"]
CATEGORIES: tuple[str, ...] = ToolCategory.__args__  # type: ignore[attr-defined]
ToolType = Literal["config", "plugin", "service", "utility"]
TOOL_TYPES: tuple[str, ...] = ToolType.__args__  # type: ignore[attr-defined]
ToolStatus = Literal["Healthy", "Degraded", "Off", "Ready"]
PER_AGENT_CATEGORIES = ("athena", "monday", "timbre")
MAX_NAME = 64


class Tool(BaseModel):
    id: int
    name: str
    description: str | None = None
    emoji: str | None = None
    category: str = Field(description="master, athena, monday, timbre or smcp.")
    status: ToolStatus
    tool_type: str = Field(description="config, plugin, service or utility.")
    config_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema every instance's config must satisfy (absent = any object)."
    )
    is_enabled: bool
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Tool:
        return cls(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            emoji=row["emoji"],
            category=row["category"],
            status=row["status"],
            tool_type=row["tool_type"],
            config_schema=json.loads(row["config_schema"]) if row["config_schema"] else None,
            is_enabled=bool(row["is_enabled"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class ToolPage(BaseModel):
    tools: list[Tool]
    next_cursor: str | None = Field(default=None, description="Pass to list_tools for the next page; absent on the last page.")


class DeletedTool(BaseModel):
    deleted: Tool
    removed_tool_instances: list[str] = Field(default_factory=list)
    removed_scheduled_jobs: list[str] = Field(default_factory=list)


class ToolInstance(BaseModel):
    id: int
    tool: str = Field(description="The tool's name.")
    tool_id: int
    tool_enabled: bool = Field(description="Whether the tool itself is enabled (a disabled tool's instances do not run).")
    agent: str | None = Field(default=None, description="The agent's name; absent for a master (host-wide) instance.")
    agent_id: int | None = None
    name: str
    config: dict[str, Any] = Field(default_factory=dict, description="The instance's settings; secrets are masked.")
    status: ToolStatus
    last_run: str | None = None
    next_run: str | None = None
    is_active: bool
    created_at: str
    updated_at: str


class ToolInstancePage(BaseModel):
    instances: list[ToolInstance]
    next_cursor: str | None = Field(
        default=None, description="Pass to list_tool_instances for the next page; absent on the last page."
    )


class DeletedToolInstance(BaseModel):
    deleted: ToolInstance
    removed_scheduled_jobs: list[str] = Field(default_factory=list)


# --- resolving references ------------------------------------------------------------------------


def resolve_tool(conn: sqlite3.Connection, tool: str) -> sqlite3.Row:
    row = sql.get_tool_by_name(conn, tool)
    if row is None and (tool_id := as_id(tool)) is not None:
        row = sql.get_tool_by_id(conn, tool_id)
    if row is None:
        raise NotFound(f"no tool named {tool!r}; call list_tools to see the registered tools.")
    return row


def resolve_instance(conn: sqlite3.Connection, instance_id: int) -> sqlite3.Row:
    row = sql.get_instance(conn, instance_id)
    if row is None:
        raise NotFound(f"no tool instance with id {instance_id}; call list_tool_instances to find its id.")
    return row


# --- checks ----------------------------------------------------------------------------------------


def check_name(name: str, what: str) -> str:
    check_name_characters(name, what)
    if not name.strip() or name.strip() != name:
        raise InvalidInput(f"{what} name {name!r} must be non-empty and have no surrounding spaces.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"{what} name is {len(name)} characters long; the limit is {MAX_NAME}.")
    if looks_like_id(name):
        raise InvalidInput(f"{what} name {name!r} cannot be all digits (digits address a {what} by id).")
    return name


def check_category(category: str) -> str:
    if category not in CATEGORIES:
        raise InvalidInput(f"tool category {category!r} is unknown; use one of {', '.join(CATEGORIES)}.")
    return category


def check_tool_type(tool_type: str) -> str:
    if tool_type not in TOOL_TYPES:
        raise InvalidInput(f"tool_type {tool_type!r} is unknown; use one of {', '.join(TOOL_TYPES)}.")
    return tool_type


def check_config_schema(schema: Any) -> dict[str, Any]:
    schemas.check_schema(schema, what="config_schema", fix="Fix the schema and call the tool again.")
    return schema


async def check_config_schema_off_loop(schema: Any) -> dict[str, Any]:
    """check_config_schema in a worker thread: checking a large schema against its meta-schema
    takes seconds of pure Python, which on the event loop would stall every other caller."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(check_config_schema, schema)


def agent_rule(tool_name: str, category: str, agent_given: bool) -> None:
    """Master tools' instances are host-wide (no agent); per-agent categories need one."""
    if category == "master" and agent_given:
        raise InvalidInput(
            f"tool {tool_name!r} is a master tool: its instances are shared by the whole host and have no "
            "agent. Leave agent out, or use a tool of an agent's category."
        )
    if category in PER_AGENT_CATEGORIES and not agent_given:
        raise InvalidInput(
            f"tool {tool_name!r} has category {category!r}: its instances belong to an agent. Name the agent "
            "(see list_agents)."
        )


# --- secrets inside instance configs (writeOnly values) ---------------------------------------------


def _get(config: Any, path: Path) -> tuple[bool, Any]:
    node: Any = config
    for key in path:
        if isinstance(key, int):
            if not isinstance(node, list) or not 0 <= key < len(node):
                return False, None
        elif not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _set(config: Any, path: Path, value: Any) -> None:
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _copy(config: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(config))


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _covered(location: Path, by: list[Path]) -> bool:
    """Whether `location` is one of `by` or inside one of them (then encrypted with it)."""
    return any(location[:len(other)] == other for other in by)


class InstanceConfig:
    """Stored form (secrets encrypted) <-> plaintext <-> shown form (secrets masked).

    Which values are secrets depends on the config as well as the schema (array items,
    additionalProperties keys...): `locations(config)` finds them (domain/schema_graph.py), and
    gives the same answer for the stored form and the plaintext of one config.
    """

    def __init__(self, box: SecretBox, schema: dict[str, Any] | None) -> None:
        self.box = box
        self.graph = graph_of(schema) if schema else None

    def locations(self, config: dict[str, Any]) -> list[Path]:
        return self.graph.secret_locations(config) if self.graph is not None else []

    def plaintext(self, stored: dict[str, Any]) -> dict[str, Any]:
        locations = self.locations(stored)
        if not locations:
            return stored
        plain = _copy(stored)
        for path in locations:
            present, value = _get(plain, path)
            if present and isinstance(value, str) and SecretBox.is_encrypted(value):
                _set(plain, path, json.loads(self.box.decrypt(value)))
        return plain

    def readable(self, stored: dict[str, Any]) -> tuple[dict[str, Any], list[Path]]:
        """plaintext(), except that a secret the keys at hand cannot decrypt (a database copied
        without its key file) stays as stored; with the locations of those secrets."""
        plain = _copy(stored)
        unreadable: list[Path] = []
        for path in self.locations(stored):
            present, value = _get(plain, path)
            if present and isinstance(value, str) and SecretBox.is_encrypted(value):
                try:
                    _set(plain, path, json.loads(self.box.decrypt(value)))
                except SecretUnreadable:
                    unreadable.append(path)
        return plain, unreadable

    def shown(self, stored: dict[str, Any]) -> dict[str, Any]:
        locations = self.locations(stored)
        if not locations:
            return stored
        plain, unreadable = self.readable(stored)  # an unreadable secret shows as the bare mask
        out = _copy(stored)
        for path in locations:
            present, value = _get(plain, path)
            if present:
                _set(out, path, MASK if path in unreadable else mask(_as_text(value)))
        return out

    def stored(self, plain: dict[str, Any], current_stored: dict[str, Any] | None = None) -> dict[str, Any]:
        """Encrypt every secret of `plain`; where `current_stored` holds the same secret, encrypted,
        at the same place, keep its ciphertext (an unchanged secret is not rewritten)."""
        locations = self.locations(plain)
        if not locations:
            return plain
        current_plain, unreadable = self.readable(current_stored) if current_stored else (None, [])
        out = _copy(plain)
        for path in locations:
            present, value = _get(out, path)
            if not present:
                continue
            if current_stored is not None and current_plain is not None:
                had, old = _get(current_plain, path)
                old_cipher = _get(current_stored, path)[1] if had else None
                if (had and path not in unreadable and old == value and isinstance(old_cipher, str)
                        and SecretBox.is_encrypted(old_cipher)):
                    _set(out, path, old_cipher)
                    continue
            _set(out, path, self.box.encrypt(json.dumps(value)))
        return out

    def sent_in_clear(self, incoming: dict[str, Any], current_stored: dict[str, Any] | None) -> list[str]:
        """The secrets of incoming that are not exactly the mask of the stored one (which merge_masks
        keeps), as JSON paths: what the caller sent in clear. Never compared with the plaintext: the
        answer must not depend on a stored secret beyond its mask, which the caller is shown anyway."""
        current = self.readable(current_stored)[0] if current_stored else {}
        sent = []
        for path in self.locations(incoming):
            present, value = _get(incoming, path)
            had, old = _get(current, path)
            if present and not (had and isinstance(value, str) and value == mask(_as_text(old))):
                sent.append(schemas.json_path(path))
        return sent

    def merge_masks(self, incoming: dict[str, Any], current_stored: dict[str, Any] | None) -> tuple[dict[str, Any], list[Path]]:
        """Where the caller sent back exactly the mask of the stored secret, keep the stored secret.
        Returns the merged plaintext and the locations whose stored secret was kept."""
        if not current_stored:
            return incoming, []
        locations = self.locations(incoming)
        if not locations:
            return incoming, []
        current, unreadable = self.readable(current_stored)
        merged = _copy(incoming)
        kept: list[Path] = []
        undecryptable: list[str] = []
        for path in locations:
            present, value = _get(merged, path)
            had, old = _get(current, path)
            if present and path in unreadable and value == MASK:
                undecryptable.append(schemas.json_path(path))
                continue
            if present and had and isinstance(value, str) and value == mask(_as_text(old)):
                _set(merged, path, old)
                kept.append(path)
            elif present and isinstance(value, str) and value.startswith(MASK):
                # A mask where no stored secret has it (an array reordered, an item removed): storing
                # the mask itself would silently replace a secret with asterisks.
                raise InvalidInput(
                    f"at {schemas.json_path(path)}: {value[:len(MASK) + 4]!r} is the mask of a secret, but the "
                    "secret stored at this place has another one (were items moved or removed?). Send the secret "
                    "itself there, or the config exactly as get_tool_instance shows it. Nothing was changed."
                )
        if undecryptable:
            # Keeping them would store a config nobody can check against the schema or run.
            raise Conflict(
                f"the stored secrets at {', '.join(undecryptable)} cannot be decrypted with the current key (the "
                "database was probably copied without its key file, or the key was changed), so they cannot be "
                "kept. Send a new value for each, or restore the key. Nothing was changed."
            )
        return merged, kept


def instance_from_row(row: sqlite3.Row, box: SecretBox, schema: dict[str, Any] | None) -> ToolInstance:
    stored = json.loads(row["config"]) if row["config"] else {}
    return ToolInstance(
        id=row["id"],
        tool=row["tool_name"],
        tool_id=row["tool_id"],
        tool_enabled=bool(row["tool_enabled"]),
        agent=row["agent_name"],
        agent_id=row["agent_id"],
        name=row["name"],
        config=InstanceConfig(box, schema).shown(stored),
        status=row["status"],
        last_run=row["last_run"],
        next_run=row["next_run"],
        is_active=bool(row["is_active"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _schema_of(tool_row: sqlite3.Row) -> dict[str, Any] | None:
    return json.loads(tool_row["config_schema"]) if tool_row["config_schema"] else None


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class ToolService:
    PAGE_DEFAULT = 50

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    # --- reading ----------------------------------------------------------------------------------

    async def list_tools(
        self,
        *,
        category: str | None = None,
        tool_type: str | None = None,
        is_enabled: bool | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = PAGE_DEFAULT,
    ) -> ToolPage:
        if category is not None:
            check_category(category)
        if tool_type is not None:
            check_tool_type(tool_type)
        key = decode_cursor("list_tools", cursor, arity=2)
        after = (key[0], key[1]) if key else None
        rows = await self.registry.db.read(
            lambda conn: sql.page_tools(
                conn, category=category, tool_type=tool_type, is_enabled=is_enabled, status=status,
                after=after, limit=limit + 1,
            )
        )
        tools = [Tool.from_row(r) for r in rows[:limit]]
        next_cursor = encode_cursor("list_tools", [tools[-1].name, tools[-1].id]) if len(rows) > limit else None
        return ToolPage(tools=tools, next_cursor=next_cursor)

    async def get_tool(self, tool: str) -> Tool:
        return Tool.from_row(await self.registry.db.read(resolve_tool, tool))

    async def list_instances(
        self,
        *,
        agent: str | None = None,
        tool: str | None = None,
        is_active: bool | None = None,
        cursor: str | None = None,
        limit: int = PAGE_DEFAULT,
    ) -> ToolInstancePage:
        key = decode_cursor("list_tool_instances", cursor, arity=1)
        box = self.registry.secrets

        def read(conn: sqlite3.Connection) -> tuple[list[ToolInstance], bool]:
            agent_id = resolve_agent(conn, agent)["id"] if agent is not None else None
            tool_id = resolve_tool(conn, tool)["id"] if tool is not None else None
            rows = sql.page_instances(
                conn, agent_id=agent_id, tool_id=tool_id, is_active=is_active,
                after=key[0] if key else None, limit=limit + 1,
            )
            schemas_by_tool: dict[int, dict[str, Any] | None] = {}
            out = []
            for row in rows[:limit]:
                if row["tool_id"] not in schemas_by_tool:
                    schemas_by_tool[row["tool_id"]] = _schema_of(sql.get_tool_by_id(conn, row["tool_id"]))
                out.append(instance_from_row(row, box, schemas_by_tool[row["tool_id"]]))
            return out, len(rows) > limit

        instances, more = await self.registry.db.read(read)
        next_cursor = encode_cursor("list_tool_instances", [instances[-1].id]) if more else None
        return ToolInstancePage(instances=instances, next_cursor=next_cursor)

    async def get_instance(self, instance_id: int) -> ToolInstance:
        return await self.registry.db.read(lambda conn: self._instance(conn, instance_id))

    def _instance(self, conn: sqlite3.Connection, instance_id: int) -> ToolInstance:
        row = resolve_instance(conn, instance_id)
        return instance_from_row(row, self.registry.secrets, _schema_of(sql.get_tool_by_id(conn, row["tool_id"])))

    # --- tools ------------------------------------------------------------------------------------

    async def create_tool(self, caller: Caller, values: dict[str, Any]) -> Tool:
        name = check_name(values["name"], "tool")
        check_category(values["category"])
        check_tool_type(values["tool_type"])
        if values.get("config_schema") is not None:
            await check_config_schema_off_loop(values["config_schema"])

        def tx(conn: sqlite3.Connection) -> Tool:
            return self.create_tool_in(conn, caller, values, name=name)

        return await self.registry.db.write(tx)

    def create_tool_in(self, conn: sqlite3.Connection, caller: Caller, values: dict[str, Any], *, name: str) -> Tool:
        """The body of create_tool, for callers already inside a write transaction (SMCP sync)."""
        existing = sql.get_tool_by_name(conn, name)
        if existing is not None:
            raise Conflict(
                f"a tool named {existing['name']!r} already exists (names ignore case); choose another name "
                "or change that tool with update_tool."
            )
        tool_id = sql.insert_tool(conn, _tool_columns(values))
        created = Tool.from_row(sql.get_tool_by_id(conn, tool_id))
        audit.record(conn, caller, action="tool.create", source="tool", source_id=tool_id,
                     message=f"tool {name!r} created", after=created)
        return created

    async def update_tool(self, caller: Caller, tool: str, changes: dict[str, Any]) -> Tool:
        if "name" in changes:
            check_name(changes["name"], "tool")
        if "category" in changes:
            check_category(changes["category"])
        if "tool_type" in changes:
            check_tool_type(changes["tool_type"])
        if "config_schema" in changes:
            await check_config_schema_off_loop(changes["config_schema"])

        def tx(conn: sqlite3.Connection) -> Tool:
            return self.update_tool_in(conn, caller, resolve_tool(conn, tool), changes)

        return await self.registry.db.write(tx)

    def update_tool_in(self, conn: sqlite3.Connection, caller: Caller, row: sqlite3.Row, changes: dict[str, Any]) -> Tool:
        before = Tool.from_row(row)
        # The enabled flag, the schema and the category decide what every instance of the tool may
        # do or hold: changing them acts on those instances (and their jobs), whoever owns them.
        switched = [label for column, label, now in (
            ("is_enabled", "enabled", before.is_enabled), ("config_schema", "config_schema", before.config_schema),
            ("category", "category", before.category),
        ) if column in changes and changes[column] != now]
        if switched:
            refuse_outside_agents(conn, caller, f"changing {', '.join(switched)} of tool {before.name!r}",
                                  ownership.tool_reach, row["id"])
        if "name" in changes:
            clash = sql.get_tool_by_name(conn, changes["name"])
            if clash is not None and clash["id"] != row["id"]:
                raise Conflict(f"another tool is already named {clash['name']!r}; choose another name.")
        instances = sql.instances_of_tool(conn, row["id"])
        if "category" in changes and changes["category"] != before.category:
            misfits = []
            for inst in instances:
                try:
                    agent_rule(before.name, changes["category"], inst["agent_id"] is not None)
                except InvalidInput:
                    misfits.append(f"{inst['name']!r} (id {inst['id']})")
            if misfits:
                kind = "have an agent" if changes["category"] == "master" else "have no agent"
                raise Conflict(
                    f"tool {before.name!r} cannot become category {changes['category']!r}: its instances "
                    f"{', '.join(misfits)} {kind}, which that category does not allow. Delete or recreate "
                    "those instances first (delete_tool_instance). Nothing was changed."
                )
        if "config_schema" in changes and changes["config_schema"] != before.config_schema:
            self._reconcile_instances(conn, caller, before, changes["config_schema"], instances)
        sql.update_tool(conn, row["id"], _tool_columns(changes))
        after = Tool.from_row(sql.get_tool_by_id(conn, row["id"]))
        audit.record(conn, caller, action="tool.update", source="tool", source_id=row["id"],
                     message=f"tool {after.name!r} updated", before=before, after=after)
        return after

    def _reconcile_instances(
        self, conn: sqlite3.Connection, caller: Caller, tool: Tool, new_schema: dict[str, Any],
        instances: list[sqlite3.Row],
    ) -> None:
        """Every instance must satisfy the new schema; secrets are re-stored where the writeOnly set moved.

        Whether a stored secret satisfies a schema is a question about the secret (a pattern, a
        length): only an admin may ask it, so a non-admin may not change the schema of a tool
        whose instances hold secrets, whatever the answer would be; and the answer never says
        which rule a stored secret broke.
        """
        old_codec = InstanceConfig(self.registry.secrets, tool.config_schema)
        new_codec = InstanceConfig(self.registry.secrets, new_schema)
        current = [(inst, json.loads(inst["config"]) if inst["config"] else {}) for inst in instances]
        holding = {inst["id"]: [path for path in old_codec.locations(stored) if _get(stored, path)[0]]
                   for inst, stored in current}
        if not caller.has_role("admin") and any(holding.values()):
            raise Forbidden(
                f"update_tool: changing the config_schema of tool {tool.name!r} needs the 'admin' role while its "
                f"instances hold writeOnly secrets; {caller.username!r} has {caller.role!r}. Whether a stored secret "
                "satisfies a new schema would tell something about it. Ask an admin to change the schema (other "
                "fields of the tool can be changed without config_schema). Nothing was changed."
            )
        failures, restored, exposed = [], [], []
        for inst, stored in current:
            plain = old_codec.plaintext(stored)
            secrets = holding[inst["id"]]
            new_locations = new_codec.locations(plain)
            for path in secrets:
                if not _covered(path, new_locations):
                    exposed.append(f"{schemas.json_path(path)} of instance {inst['name']!r} (id {inst['id']})")
            problems = schemas.schema_problems(new_schema, plain, stored_secrets=secrets)
            if problems:
                failures.append(f"instance {inst['name']!r} (id {inst['id']}): {'; '.join(problems[:3])}")
                continue
            new_stored = new_codec.stored(plain, stored)
            if new_stored != stored:
                restored.append((inst["id"], new_stored))
        if exposed:
            raise Conflict(
                f"the new config_schema of tool {tool.name!r} no longer marks as writeOnly secrets that instances "
                f"hold ({', '.join(exposed[:5])}); they would be shown in plain text. Keep \"writeOnly\": true on "
                "them, or remove those values from the instances first (update_tool_instance). Nothing was changed."
            )
        if failures:
            raise Conflict(
                f"the new config_schema of tool {tool.name!r} would not accept existing instances: "
                f"{' | '.join(failures[:5])}. Update those instances first (update_tool_instance) or adjust "
                "the schema. Nothing was changed."
            )
        for instance_id, stored in restored:
            sql.update_instance(conn, instance_id, {"config": _dump(stored)})

    async def delete_tool(self, caller: Caller, tool: str, *, cascade: bool) -> DeletedTool:
        box = self.registry.secrets

        def tx(conn: sqlite3.Connection) -> DeletedTool:
            row = resolve_tool(conn, tool)
            before = Tool.from_row(row)
            refs = sql.tool_dependents(conn, row["id"])
            if refs["tool_instances"] and not cascade:
                raise Conflict(
                    f"tool {before.name!r} still has {len(refs['tool_instances'])} instance(s) "
                    f"({', '.join(repr(n) for n in refs['tool_instances'])})"
                    + (f" run by scheduled jobs ({', '.join(repr(n) for n in refs['scheduled_jobs'])})" if refs["scheduled_jobs"] else "")
                    + ". Nothing was deleted. Delete them first (delete_tool_instance), or call delete_tool "
                    "again with cascade=true to delete them together with the tool."
                )
            if refs["tool_instances"]:
                refuse_outside_agents(conn, caller, f"delete_tool {before.name!r} with cascade=true",
                                      ownership.tool_reach, row["id"])
            removed = [instance_from_row(r, box, before.config_schema) for r in sql.instances_of_tool(conn, row["id"])]
            sql.delete_tool_dependents(conn, row["id"])
            sql.delete_tool(conn, row["id"])
            audit.record(conn, caller, action="tool.delete", source="tool", source_id=row["id"],
                         message=f"tool {before.name!r} deleted", before=before,
                         extra={"removed_instances": [i.model_dump(mode="json") for i in removed],
                                "removed_scheduled_jobs": refs["scheduled_jobs"]} if removed else None)
            return DeletedTool(deleted=before, removed_tool_instances=refs["tool_instances"],
                               removed_scheduled_jobs=refs["scheduled_jobs"])

        return await self.registry.db.write(tx)

    # --- instances --------------------------------------------------------------------------------

    async def create_instance(
        self,
        caller: Caller,
        *,
        tool: str,
        agent: str | None,
        name: str,
        config: dict[str, Any],
        status: str = "Ready",
        is_active: bool = True,
    ) -> ToolInstance:
        check_name(name, "tool instance")
        box = self.registry.secrets

        def tx(conn: sqlite3.Connection) -> ToolInstance:
            tool_row = resolve_tool(conn, tool)
            agent_rule(tool_row["name"], tool_row["category"], agent is not None)
            agent_id = resolve_agent(conn, agent)["id"] if agent is not None else None
            if is_active and not tool_row["is_enabled"]:
                raise Conflict(_disabled_tool_message(tool_row["name"]))
            clash = sql.find_instance_named(conn, tool_row["id"], agent_id, name)
            if clash is not None:
                owner = f"agent {agent!r}" if agent is not None else "the host"
                raise Conflict(
                    f"tool {tool_row['name']!r} already has an instance named {clash['name']!r} for {owner} "
                    f"(id {clash['id']}); choose another name or change it with update_tool_instance."
                )
            schema = _schema_of(tool_row)
            codec = InstanceConfig(box, schema)
            _refuse_secrets_in_clear(caller, codec, config, None, name)
            if schema is not None:
                schemas.usable(schema, what=f"the config_schema of tool {tool_row['name']!r}")
                schemas.validate(schema, config, what=f"config of the new instance {name!r}",
                                 fix=f"See the schema with get_tool {tool_row['name']!r}. Nothing was changed.")
            instance_id = sql.insert_instance(conn, {
                "tool_id": tool_row["id"], "agent_id": agent_id, "name": name,
                "config": _dump(codec.stored(config)), "status": status, "is_active": int(is_active),
            })
            created = instance_from_row(sql.get_instance(conn, instance_id), box, schema)
            audit.record(conn, caller, action="tool_instance.create", source="tool_instance", source_id=instance_id,
                         message=f"instance {name!r} of tool {tool_row['name']!r} created", after=created)
            return created

        return await self.registry.db.write(tx)

    async def update_instance(self, caller: Caller, instance_id: int, changes: dict[str, Any]) -> ToolInstance:
        if "name" in changes:
            check_name(changes["name"], "tool instance")
        box = self.registry.secrets

        def tx(conn: sqlite3.Connection) -> ToolInstance:
            row = resolve_instance(conn, instance_id)
            tool_row = sql.get_tool_by_id(conn, row["tool_id"])
            schema = _schema_of(tool_row)
            before = instance_from_row(row, box, schema)
            columns: dict[str, Any] = {k: changes[k] for k in ("name", "status") if k in changes}
            if changes.get("is_active") is True and not tool_row["is_enabled"]:
                raise Conflict(_disabled_tool_message(tool_row["name"]))
            if "is_active" in changes:
                columns["is_active"] = int(changes["is_active"])
            if "name" in changes:
                clash = sql.find_instance_named(conn, row["tool_id"], row["agent_id"], changes["name"])
                if clash is not None and clash["id"] != row["id"]:
                    raise Conflict(f"this tool already has an instance named {clash['name']!r} for the same owner "
                                   f"(id {clash['id']}); choose another name.")
            if "config" in changes:
                codec = InstanceConfig(box, schema)
                current = json.loads(row["config"]) if row["config"] else {}
                _refuse_secrets_in_clear(caller, codec, changes["config"], current, row["name"])
                plain, kept = codec.merge_masks(changes["config"], current)
                if schema is not None:
                    schemas.usable(schema, what=f"the config_schema of tool {tool_row['name']!r}")
                    schemas.validate(schema, plain, what=f"config of instance {row['name']!r}", stored_secrets=kept,
                                     fix=f"See the schema with get_tool {tool_row['name']!r}. Nothing was changed.")
                columns["config"] = _dump(codec.stored(plain, current))
            sql.update_instance(conn, row["id"], columns)
            after = instance_from_row(sql.get_instance(conn, row["id"]), box, schema)
            audit.record(conn, caller, action="tool_instance.update", source="tool_instance", source_id=row["id"],
                         message=f"instance {after.name!r} of tool {after.tool!r} updated", before=before, after=after)
            return after

        return await self.registry.db.write(tx)

    async def delete_instance(self, caller: Caller, instance_id: int, *, cascade: bool) -> DeletedToolInstance:
        box = self.registry.secrets

        def tx(conn: sqlite3.Connection) -> DeletedToolInstance:
            row = resolve_instance(conn, instance_id)
            before = instance_from_row(row, box, _schema_of(sql.get_tool_by_id(conn, row["tool_id"])))
            jobs = sql.instance_jobs(conn, row["id"])
            if jobs and not cascade:
                raise Conflict(
                    f"instance {before.name!r} (id {before.id}) is run by scheduled jobs "
                    f"({', '.join(repr(j) for j in jobs)}). Nothing was deleted. Delete or re-target those jobs "
                    "first, or call delete_tool_instance again with cascade=true to delete them too."
                )
            if jobs:
                refuse_outside_agents(conn, caller, f"delete_tool_instance {before.id} with cascade=true",
                                      ownership.instance_reach, row["id"])
            sql.delete_instance(conn, row["id"], with_jobs=cascade)
            audit.record(conn, caller, action="tool_instance.delete", source="tool_instance", source_id=row["id"],
                         message=f"instance {before.name!r} of tool {before.tool!r} deleted", before=before,
                         extra={"removed_scheduled_jobs": jobs} if jobs else None)
            return DeletedToolInstance(deleted=before, removed_scheduled_jobs=jobs)

        return await self.registry.db.write(tx)


def _refuse_secrets_in_clear(caller: Caller, codec: InstanceConfig, incoming: dict[str, Any],
                             current_stored: dict[str, Any] | None, name: str) -> None:
    """A caller whose surface must not carry secrets may send back masks, never a secret in clear
    (not even the stored one: accepting that would tell them their guess was right)."""
    if caller.no_secrets is None:
        return
    sent = codec.sent_in_clear(incoming, current_stored)
    if sent:
        raise Forbidden(f"the config of instance {name!r} sets the secret(s) {', '.join(sent)} (writeOnly in its "
                        f"tool's schema) in clear, and {caller.no_secrets}")


def _disabled_tool_message(tool_name: str) -> str:
    return (
        f"tool {tool_name!r} is disabled, so an instance of it cannot be active. Enable the tool first "
        f"(update_tool with enabled=true), or keep the instance inactive (active=false)."
    )


def _tool_columns(values: dict[str, Any]) -> dict[str, Any]:
    columns = {k: v for k, v in values.items() if k in sql.TOOL_COLUMNS}
    if "config_schema" in columns and columns["config_schema"] is not None:
        columns["config_schema"] = _dump(columns["config_schema"])
    if "is_enabled" in columns:
        columns["is_enabled"] = int(columns["is_enabled"])
    return columns
