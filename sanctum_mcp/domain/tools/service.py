"""ToolService: the tools (create, update with the instances kept fitting the schema, delete) and
their instances (create, update with secrets kept behind masks, delete)."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from sanctum_mcp.domain.agents import resolve as resolve_agent
from sanctum_mcp.domain.schemas import validation as schemas
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.confirm import Confirmation
from sanctum_mcp.domain.shared.errors import Conflict, Forbidden, InvalidInput
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.pagination import decode_cursor, encode_cursor
from sanctum_mcp.domain.shared.reach import refuse_outside_agents
from sanctum_mcp.domain.shared.secrets import SecretBox
from sanctum_mcp.domain.tools.checks import (
    agent_rule,
    check_category,
    check_config_schema_off_loop,
    check_name,
    check_tool_type,
    disabled_tool_message,
    resolve_instance,
    resolve_tool,
    schema_of,
)
from sanctum_mcp.domain.tools.instance_config import InstanceConfig, covered, value_at
from sanctum_mcp.domain.tools.models import (
    DeletedTool,
    DeletedToolInstance,
    Tool,
    ToolInstance,
    ToolInstancePage,
    ToolPage,
)
from sanctum_mcp.storage import ownership
from sanctum_mcp.storage import tools as sql

if TYPE_CHECKING:
    from sanctum_mcp.storage.database import Database


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


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class ToolService:
    PAGE_DEFAULT = 50

    def __init__(self, db: Database, secrets: SecretBox) -> None:
        self.db = db
        self.secrets = secrets

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
        rows = await self.db.read(
            lambda conn: sql.page_tools(
                conn, category=category, tool_type=tool_type, is_enabled=is_enabled, status=status,
                after=after, limit=limit + 1,
            )
        )
        tools = [Tool.from_row(r) for r in rows[:limit]]
        next_cursor = encode_cursor("list_tools", [tools[-1].name, tools[-1].id]) if len(rows) > limit else None
        return ToolPage(tools=tools, next_cursor=next_cursor)

    async def get_tool(self, tool: str) -> Tool:
        return Tool.from_row(await self.db.read(resolve_tool, tool))

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
        box = self.secrets

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
                    schemas_by_tool[row["tool_id"]] = schema_of(sql.get_tool_by_id(conn, row["tool_id"]))
                out.append(instance_from_row(row, box, schemas_by_tool[row["tool_id"]]))
            return out, len(rows) > limit

        instances, more = await self.db.read(read)
        next_cursor = encode_cursor("list_tool_instances", [instances[-1].id]) if more else None
        return ToolInstancePage(instances=instances, next_cursor=next_cursor)

    async def get_instance(self, instance_id: int) -> ToolInstance:
        return await self.db.read(lambda conn: self._instance(conn, instance_id))

    def _instance(self, conn: sqlite3.Connection, instance_id: int) -> ToolInstance:
        row = resolve_instance(conn, instance_id)
        return instance_from_row(row, self.secrets, schema_of(sql.get_tool_by_id(conn, row["tool_id"])))

    # --- tools ------------------------------------------------------------------------------------

    async def create_tool(self, caller: Caller, values: dict[str, Any]) -> Tool:
        name = check_name(values["name"], "tool")
        check_category(values["category"])
        check_tool_type(values["tool_type"])
        if values.get("config_schema") is not None:
            await check_config_schema_off_loop(values["config_schema"])

        def tx(conn: sqlite3.Connection) -> Tool:
            return self.create_tool_in(conn, caller, values, name=name)

        return await self.db.write(tx)

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

        return await self.db.write(tx)

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
        old_codec = InstanceConfig(self.secrets, tool.config_schema)
        new_codec = InstanceConfig(self.secrets, new_schema)
        current = [(inst, json.loads(inst["config"]) if inst["config"] else {}) for inst in instances]
        holding = {inst["id"]: [path for path in old_codec.locations(stored) if value_at(stored, path)[0]]
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
                if not covered(path, new_locations):
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

    async def delete_tool(self, caller: Caller, tool: str, *, cascade: bool,
                          confirm: Confirmation | None = None) -> DeletedTool:
        box = self.secrets

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
            if confirm is not None:
                links = sql.tool_link_count(conn, row["id"])
                confirm.check(f"delete tool {before.name!r} (id {before.id}) with {_names('instance', refs['tool_instances'])}"
                              f" and {_names('scheduled job', refs['scheduled_jobs'])}, and its {links} plugin link(s)")
            removed = [instance_from_row(r, box, before.config_schema) for r in sql.instances_of_tool(conn, row["id"])]
            sql.delete_tool_dependents(conn, row["id"])
            sql.delete_tool(conn, row["id"])
            audit.record(conn, caller, action="tool.delete", source="tool", source_id=row["id"],
                         message=f"tool {before.name!r} deleted", before=before,
                         extra={"removed_instances": [i.model_dump(mode="json") for i in removed],
                                "removed_scheduled_jobs": refs["scheduled_jobs"]} if removed else None)
            return DeletedTool(deleted=before, removed_tool_instances=refs["tool_instances"],
                               removed_scheduled_jobs=refs["scheduled_jobs"])

        return await self.db.write(tx)

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
        box = self.secrets

        def tx(conn: sqlite3.Connection) -> ToolInstance:
            tool_row = resolve_tool(conn, tool)
            agent_rule(tool_row["name"], tool_row["category"], agent is not None)
            agent_id = resolve_agent(conn, agent)["id"] if agent is not None else None
            if is_active and not tool_row["is_enabled"]:
                raise Conflict(disabled_tool_message(tool_row["name"]))
            clash = sql.find_instance_named(conn, tool_row["id"], agent_id, name)
            if clash is not None:
                owner = f"agent {agent!r}" if agent is not None else "the host"
                raise Conflict(
                    f"tool {tool_row['name']!r} already has an instance named {clash['name']!r} for {owner} "
                    f"(id {clash['id']}); choose another name or change it with update_tool_instance."
                )
            schema = schema_of(tool_row)
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

        return await self.db.write(tx)

    async def update_instance(self, caller: Caller, instance_id: int, changes: dict[str, Any]) -> ToolInstance:
        if "name" in changes:
            check_name(changes["name"], "tool instance")
        box = self.secrets

        def tx(conn: sqlite3.Connection) -> ToolInstance:
            row = resolve_instance(conn, instance_id)
            tool_row = sql.get_tool_by_id(conn, row["tool_id"])
            schema = schema_of(tool_row)
            before = instance_from_row(row, box, schema)
            columns: dict[str, Any] = {k: changes[k] for k in ("name", "status") if k in changes}
            if changes.get("is_active") is True and not tool_row["is_enabled"]:
                raise Conflict(disabled_tool_message(tool_row["name"]))
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

        return await self.db.write(tx)

    async def delete_instance(self, caller: Caller, instance_id: int, *, cascade: bool,
                              confirm: Confirmation | None = None) -> DeletedToolInstance:
        box = self.secrets

        def tx(conn: sqlite3.Connection) -> DeletedToolInstance:
            row = resolve_instance(conn, instance_id)
            before = instance_from_row(row, box, schema_of(sql.get_tool_by_id(conn, row["tool_id"])))
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
            if confirm is not None:
                confirm.check(f"delete instance {before.name!r} (id {before.id}) of tool {before.tool!r} with "
                              f"{_names('scheduled job', jobs)}")
            sql.delete_instance(conn, row["id"], with_jobs=cascade)
            audit.record(conn, caller, action="tool_instance.delete", source="tool_instance", source_id=row["id"],
                         message=f"instance {before.name!r} of tool {before.tool!r} deleted", before=before,
                         extra={"removed_scheduled_jobs": jobs} if jobs else None)
            return DeletedToolInstance(deleted=before, removed_scheduled_jobs=jobs)

        return await self.db.write(tx)


def _names(kind: str, names: list[str]) -> str:
    """'2 instances ('a', 'b')' for a preview; 'no instance' when there is none."""
    if not names:
        return f"no {kind}"
    return f"{len(names)} {kind}{'s' if len(names) > 1 else ''} ({', '.join(repr(n) for n in names)})"


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


def _tool_columns(values: dict[str, Any]) -> dict[str, Any]:
    columns = {k: v for k, v in values.items() if k in sql.TOOL_COLUMNS}
    if "config_schema" in columns and columns["config_schema"] is not None:
        columns["config_schema"] = _dump(columns["config_schema"])
    if "is_enabled" in columns:
        columns["is_enabled"] = int(columns["is_enabled"])
    return columns
