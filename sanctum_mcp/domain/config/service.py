"""ConfigService: reading settings (get through the inheritance walk, lists, history) and changing
them (set, delete, reset, rollback; each for the general value or one environment's), each change one
transaction with its history row and audit row, checked against the version the caller read; and
switching the active environment (a diff first, then one audited transaction)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from sanctum_mcp.domain.config.access import check_governing, check_own_preferences, need_admin
from sanctum_mcp.domain.config.models import (
    SYSTEM_CATEGORIES,
    ConfigChange,
    ConfigEntry,
    ConfigHistory,
    ConfigPage,
    EnvironmentSwitch,
    HistoryEntry,
    ResolvedConfig,
    plaintext,
    present,
)
from sanctum_mcp.domain.config import environments
from sanctum_mcp.domain.config.environments import ENVIRONMENT_KEY, check_environment
from sanctum_mcp.domain.config.namespace import check_new_key, key_info, unknown_key
from sanctum_mcp.domain.config.resolve import resolve
from sanctum_mcp.domain.config.targets import SYSTEM, Target, resolve_target
from sanctum_mcp.domain.config.values import MAX_VALUE, check_constraint, check_key, coerce, constraint_document
from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.confirm import Confirmation
from sanctum_mcp.domain.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.pagination import decode_cursor, encode_cursor
from sanctum_mcp.domain.shared.secrets import SecretBox, SecretUnreadable
from sanctum_mcp.storage import config as sql

if TYPE_CHECKING:
    from sanctum_mcp.storage.database import Database


def _where(t: Target, environment: str | None) -> str:
    """Where a value is, in words: "the system level", or "the system level for production"."""
    return f"{t.label} for {environment}" if environment else t.label


def _refuse_environment_key(key: str, tool: str) -> None:
    """The active environment changes only through the switch, which shows what changes first."""
    if key == ENVIRONMENT_KEY:
        raise InvalidInput(
            f"{tool} does not change {ENVIRONMENT_KEY!r}: switching the environment changes the value of every "
            "setting held per environment. Call switch_environment (it lists what would change first); nothing "
            "was changed."
        )


# The most changes a switch lists (the count of the rest is given): the answer stays bounded.
MAX_LISTED_CHANGES = 500


def _check_version(expected: int | None, current: int, key: str, target: Target, retry_with: str,
                   environment: str | None = None) -> None:
    if expected is not None and expected != current:
        now = f"version {current}" if current else "not set (version 0)"
        raise Conflict(
            f"{key} at {_where(target, environment)} is now {now}, not version {expected}: someone changed it since "
            "you read it. "
            f"Nothing was changed. Read it again with {retry_with}, check the new value with the person, then "
            f"retry with expected_version={current}."
        )


class ConfigService:
    PAGE_DEFAULT = 100

    def __init__(self, db: Database, secrets: SecretBox) -> None:
        self.db = db
        self.box = secrets

    # --- building models (always through present()) ---------------------------------------------

    def entry(self, row: sqlite3.Row, target: Target | None = None, *, sensitive: bool | None = None) -> ConfigEntry:
        secret = bool(row["is_sensitive"]) if sensitive is None else sensitive
        if target is None:
            target = Target(row["scope"], row["target"], row["target_name"] or (f"#{row['target']} (deleted)" if row["target"] else ""))
        return ConfigEntry(
            key=row["key"],
            scope=row["scope"],
            target=target.name,
            target_id=target.target_id,
            value=present(row["value"], secret, self.box),
            type=row["type"],
            sensitive=secret,
            has_value=bool(row["value"]),
            category=row["category"],
            description=row["description"],
            version=row["version"],
            updated_at=row["updated_at"],
            default_value=present(row["default_value"], secret, self.box),
            constraint=constraint_document(row["constraint_json"]),
            environment=row["environment"],
        )

    # --- reading ------------------------------------------------------------------------------------

    async def get(
        self,
        caller: Caller,
        key: str,
        *,
        agent: str | None = None,
        tool: str | None = None,
        instance: str | None = None,
        user: str | None = None,
        reveal: bool = False,
    ) -> ResolvedConfig:
        if reveal and not caller.has_role("admin"):
            raise Forbidden(
                f"revealing a value needs the 'admin' role; {caller.username!r} has {caller.role!r}. "
                "Call get_config without reveal to see the masked value."
            )
        work = partial(resolve, box=self.box, caller=caller, key=key, agent=agent, tool=tool, instance=instance,
                       user=user, reveal=reveal)
        if reveal:
            return await self.db.write(work)
        # A handful of point lookups: run inline, without a thread hop (see Database.read_now).
        return await self.db.read_now(work)

    async def list(
        self,
        *,
        category: str | None = None,
        scope: str | None = None,
        target: str | None = None,
        prefix: str | None = None,
        cursor: str | None = None,
        limit: int = PAGE_DEFAULT,
    ) -> ConfigPage:
        """System settings first (by key), then scoped ones by (scope, target id, key)."""
        key = decode_cursor("list_config", cursor, arity=5)
        if target is not None and scope is None:
            raise InvalidInput("target needs scope too (e.g. scope='agent', target='Athena').")

        def work(conn: sqlite3.Connection) -> ConfigPage:
            target_id: str | None = None
            if scope is not None and scope != "system":
                target_id = resolve_target(conn, scope, target).id if target is not None else None
            elif scope == "system":
                resolve_target(conn, "system", target)
            rows: list[sqlite3.Row] = []
            phase = key[0] if key else 0
            if phase == 0 and scope in (None, "system"):
                rows += sql.page_system(conn, category=category, prefix=prefix,
                                        after=key[3] if key else None, limit=limit + 1)
            if len(rows) <= limit and scope != "system" and phase <= 1:
                after = (key[1], key[2], key[3]) if key and key[0] == 1 else None
                rows += sql.page_scoped(conn, scope=scope, target=target_id, category=category, prefix=prefix,
                                        after=after, limit=limit + 1 - len(rows))
            if len(rows) <= limit:  # then every environment's values
                after_env = (key[1], key[2], key[3], key[4]) if key and key[0] == 2 else None
                rows += sql.page_env(conn, scope=scope, target=target_id if scope != "system" else "",
                                     category=category, prefix=prefix, after=after_env, limit=limit + 1 - len(rows))
            entries = [self.entry(r) for r in rows[:limit]]
            next_cursor = None
            if len(rows) > limit:
                last = rows[limit - 1]
                phase_of_last = 2 if last["environment"] else 0 if last["scope"] == "system" else 1
                next_cursor = encode_cursor("list_config", [phase_of_last, last["scope"], last["target"], last["key"],
                                                            last["environment"] or ""])
            return ConfigPage(entries=entries, next_cursor=next_cursor)

        return await self.db.read(work)

    async def history(
        self, key: str, *, scope: str, target: str | None, cursor: str | None = None, limit: int = 50,
        environment: str | None = None,
    ) -> ConfigHistory:
        position = decode_cursor("config_history", cursor, arity=1)
        check_environment(environment)

        def work(conn: sqlite3.Connection) -> ConfigHistory:
            t = resolve_target(conn, scope, target, allow_gone=True)
            rows = sql.history_page(conn, scope, t.id, key, before=position[0] if position else None, limit=limit + 1,
                                    environment=environment or "")
            if not rows and position is None:
                if not sql.key_definitions(conn, key):
                    raise unknown_key(conn, key)
                raise NotFound(
                    f"{key} has no recorded history at {_where(t, environment)}; list_config shows where it is set "
                    "(and for which environment), and config_history needs that scope, target and environment."
                )
            entries = [
                HistoryEntry(
                    version=r["version"],
                    change=r["change"],
                    value=present(r["value"], bool(r["sensitive"]), self.box),
                    type=r["value_type"],
                    sensitive=bool(r["sensitive"]),
                    changed_by=r["changed_by"],
                    created_at=r["created_at"],
                )
                for r in rows[:limit]
            ]
            next_cursor = encode_cursor("config_history", [entries[-1].version]) if len(rows) > limit else None
            return ConfigHistory(key=key, scope=t.scope, target=t.name, target_id=t.target_id, entries=entries,
                                 next_cursor=next_cursor, environment=environment)

        return await self.db.read(work)

    async def entries_at(self, scope: str, target: str | None) -> list[ConfigEntry]:
        """Every setting stored at one scope and target (for resources)."""
        entries: list[ConfigEntry] = []
        cursor = None
        while True:
            page = await self.list(scope=scope, target=target, cursor=cursor, limit=500)
            entries += page.entries
            cursor = page.next_cursor
            if not cursor:
                return entries

    async def summary(self) -> tuple[list[ConfigEntry], dict[str, int]]:
        system = await self.entries_at("system", None)
        counts = await self.db.read(sql.scope_counts)
        return system, counts

    # --- writing --------------------------------------------------------------------------------------

    async def set(self, caller: Caller, key: str, value: str, **options: Any) -> ConfigChange:
        return await self.db.write(self.setter(caller, key, value, **options))

    def setter(
        self,
        caller: Caller,
        key: str,
        value: str,
        *,
        scope: str,
        target: str | None = None,
        value_type: str | None = None,
        description: str | None = None,
        category: str | None = None,
        sensitive: bool | None = None,
        expected_version: int | None = None,
        create: bool = False,
        environment: str | None = None,
    ) -> Callable[[sqlite3.Connection], ConfigChange]:
        """set_config's checks, then its transaction body: `set` runs it in a transaction of its own,
        import_config (transfer.py) runs one per entry inside ONE transaction, so both keep every rule."""
        check_key(key)
        check_environment(environment)
        _refuse_environment_key(key, "set_config")
        check_governing(caller, "set_config", key)
        if len(value) > MAX_VALUE:
            raise InvalidInput(f"the value is {len(value)} characters long; the limit is {MAX_VALUE}.")
        if sensitive and not caller.has_role("admin"):
            need_admin(caller, "set_config", key)
        if scope == "system" and category is not None and category not in SYSTEM_CATEGORIES:
            raise InvalidInput(
                f"system settings have category one of {', '.join(SYSTEM_CATEGORIES)}, not {category!r}."
            )

        def tx(conn: sqlite3.Connection) -> ConfigChange:
            t = resolve_target(conn, scope, target)
            check_own_preferences(caller, "set_config", t)
            current = sql.get_row(conn, t.scope, t.id, key, environment)
            info = key_info(conn, key)
            if value_type is not None and info.type is not None and value_type != info.type:
                raise InvalidInput(
                    f"{key} is a {info.type} key (as set at {info.type_where}); a key has one type at every scope. "
                    f"Leave type out or pass type='{info.type}'. To change its type, delete it everywhere first "
                    "(delete_config)."
                )
            final_type = value_type or info.type or "string"
            if sensitive is False and info.sensitive:
                raise InvalidInput(
                    f"{key} is sensitive, and a sensitive key stays sensitive at every scope; leave sensitive out."
                )
            secret = info.sensitive or bool(sensitive)
            if secret and caller.no_secrets is not None:
                raise Forbidden(f"set_config on the sensitive key {key!r} carries a secret in clear, and "
                                f"{caller.no_secrets}")
            if secret:
                need_admin(caller, "set_config", key)
            previous = current["version"] if current else 0
            _check_version(expected_version, previous, key, t, "get_config or list_config", environment)
            check_new_key(conn, caller, key, info, create=create)
            text, typed = coerce(key, value, final_type, sensitive=secret)
            check_constraint(key, info.constraint_json, typed, text, sensitive=secret)

            if t.scope == "system":
                new_category = category or (current["category"] if current else None) or info.category
                if new_category not in SYSTEM_CATEGORIES:
                    new_category = "general"
            else:
                new_category = category if category is not None else (current["category"] if current else info.category)
            new_description = description if description is not None else (
                current["description"] if current else info.description
            )

            if current is not None and (
                current["type"] == final_type
                and bool(current["is_sensitive"]) == secret
                and current["category"] == new_category
                and current["description"] == new_description
                and self._same_value(current["value"], text, secret)
            ):
                entry = self.entry(current, t)
                return ConfigChange(key=key, scope=t.scope, target=t.name, target_id=t.target_id, change="unchanged",
                                    version=previous, previous_version=previous, entry=entry,
                                    message=f"{key} at {_where(t, environment)} already is {entry.value}; nothing "
                                            f"changed (version {previous}).")

            before = self.entry(current, t, sensitive=secret) if current else None
            if secret and not info.sensitive and info.exists:
                self._make_key_sensitive(conn, key)
            stored = self.box.encrypt(text) if secret and text != "" else text
            version = max(previous, sql.max_history_version(conn, t.scope, t.id, key, environment or "")) + 1
            values = {"value": stored, "type": final_type, "is_sensitive": int(secret), "category": new_category,
                      "description": new_description, "version": version}
            self._write(conn, t, key, values, exists=current is not None, environment=environment)
            return self._finish(conn, caller, t, key, "set", version, previous, before, stored, final_type, secret,
                                environment)

        return tx

    def _same_value(self, stored: str | None, text: str, secret: bool) -> bool:
        if secret and SecretBox.is_encrypted(stored):
            try:
                return self.box.decrypt(stored) == text
            except SecretUnreadable:
                return False
        return stored == text

    def _make_key_sensitive(self, conn: sqlite3.Connection, key: str) -> None:
        """A key becomes sensitive: encrypt every value it holds now and in its history."""
        for table, rowid, stored in sql.plain_values_of_key(conn, key):
            if stored and not SecretBox.is_encrypted(stored):
                stored = self.box.encrypt(stored)
            sql.make_cell_sensitive(conn, table, rowid, stored)

    def _write(self, conn: sqlite3.Connection, t: Target, key: str, values: dict[str, Any], *, exists: bool,
               environment: str | None = None) -> None:
        if environment is not None:
            (sql.update_env if exists else sql.insert_env)(conn, t.scope, t.id, key, environment, values)
        elif t.scope == "system":
            (sql.update_system if exists else sql.insert_system)(conn, key, values)
        elif exists:
            sql.update_scoped(conn, t.scope, t.id, key, values)
        else:
            sql.insert_scoped(conn, t.scope, t.id, key, values)

    def _finish(
        self,
        conn: sqlite3.Connection,
        caller: Caller,
        t: Target,
        key: str,
        change: str,
        version: int,
        previous: int,
        before: ConfigEntry | None,
        stored: str | None,
        value_type: str,
        secret: bool,
        environment: str | None = None,
    ) -> ConfigChange:
        """History row, audit row and the result of a mutation (all inside its transaction)."""
        sql.add_history(conn, scope=t.scope, target=t.id, key=key, version=version, value=stored,
                        value_type=value_type, sensitive=secret, changed_by=caller.username, change=change,
                        environment=environment or "")
        row = sql.get_row(conn, t.scope, t.id, key, environment)
        after = self.entry(row, t) if row is not None else None
        verb = {"set": "set", "delete": "deleted", "rollback": "rolled back", "reset": "reset to its default"}[change]
        where = _where(t, environment)
        if after is not None:
            was = f"; was {before.value}" if before is not None else "; it was not set here before"
            message = f"{key} {verb} at {where}: now {after.value} (version {version}{was})."
        else:
            falls_back = "the general value here and lower levels" if environment else "lower levels"
            message = f"{key} {verb} at {where} (was {before.value if before else None}, version {previous}); " \
                      f"{falls_back} now apply."
        extra: dict[str, Any] = {"key": key, "scope": t.scope, "target": t.name, "version": version}
        if environment:
            extra["environment"] = environment
        audit.record(conn, caller, action=f"config.{change}", source="config",
                     source_id=f"{t.scope}:{t.id}:{key}", message=message, before=before, after=after, extra=extra)
        return ConfigChange(key=key, scope=t.scope, target=t.name, target_id=t.target_id, change=change,
                            version=version, previous_version=previous, entry=after, message=message)

    async def delete(
        self, caller: Caller, key: str, *, scope: str, target: str | None, expected_version: int | None = None,
        environment: str | None = None,
    ) -> ConfigChange:
        check_environment(environment)
        check_governing(caller, "delete_config", key)

        def tx(conn: sqlite3.Connection) -> ConfigChange:
            t = resolve_target(conn, scope, target)
            check_own_preferences(caller, "delete_config", t)
            current = sql.get_row(conn, t.scope, t.id, key, environment)
            if current is None:
                if not sql.key_definitions(conn, key):
                    raise unknown_key(conn, key)
                raise NotFound(f"{key} is not set at {_where(t, environment)}; nothing to delete. list_config shows "
                               "where it is set (and for which environment).")
            if t.scope == "system" and current["default_value"] is not None:
                raise Conflict(
                    f"{key} is a seeded system default and cannot be deleted; call reset_config to restore its "
                    f"default, or set_config to change it."
                )
            secret = key_info(conn, key).sensitive
            if secret:
                need_admin(caller, "delete_config", key)
            _check_version(expected_version, current["version"], key, t, "get_config or list_config", environment)
            before = self.entry(current, t, sensitive=secret)
            version = max(current["version"], sql.max_history_version(conn, t.scope, t.id, key, environment or "")) + 1
            sql.delete_row(conn, t.scope, t.id, key, environment)
            return self._finish(conn, caller, t, key, "delete", version, current["version"], before, None,
                                current["type"], secret, environment)

        return await self.db.write(tx)

    async def reset(
        self, caller: Caller, key: str, *, expected_version: int | None = None, environment: str | None = None
    ) -> ConfigChange:
        check_environment(environment)
        _refuse_environment_key(key, "reset_config")
        check_governing(caller, "reset_config", key)

        def tx(conn: sqlite3.Connection) -> ConfigChange:
            general = sql.get_row(conn, "system", "", key)
            current = general if environment is None else sql.get_row(conn, "system", "", key, environment)
            if general is None:
                raise unknown_key(conn, key) if not sql.key_definitions(conn, key) else NotFound(
                    f"{key} has no system-level setting to reset; use delete_config to remove an override."
                )
            if current is None:
                raise NotFound(
                    f"{key} has no {environment} value at the system level to reset: the general value applies "
                    "there. Leave environment out to reset the general value."
                )
            if general["default_value"] is None:
                raise InvalidInput(
                    f"{key} is not a seeded default, so it has no default to reset to; change it with set_config "
                    "or remove it with delete_config."
                )
            secret = bool(current["is_sensitive"])
            if secret:
                need_admin(caller, "reset_config", key)
            _check_version(expected_version, current["version"], key, SYSTEM, "get_config", environment)
            default = general["default_value"]
            if self._same_value(current["value"], default, secret):
                entry = self.entry(current, SYSTEM)
                return ConfigChange(key=key, scope="system", target="", change="unchanged", version=current["version"],
                                    previous_version=current["version"], entry=entry,
                                    message=f"{key} already has its default value; nothing changed.")
            before = self.entry(current, SYSTEM)
            stored = self.box.encrypt(default) if secret and default != "" else default
            version = max(current["version"], sql.max_history_version(conn, "system", "", key, environment or "")) + 1
            values = {"value": stored, "type": current["type"], "is_sensitive": int(secret),
                      "category": current["category"], "description": current["description"], "version": version}
            self._write(conn, SYSTEM, key, values, exists=True, environment=environment)
            return self._finish(conn, caller, SYSTEM, key, "reset", version, current["version"], before, stored,
                                current["type"], secret, environment)

        return await self.db.write(tx)

    async def rollback(
        self,
        caller: Caller,
        key: str,
        *,
        scope: str,
        target: str | None,
        version: int,
        expected_version: int | None = None,
        confirm: Confirmation | None = None,
        environment: str | None = None,
    ) -> ConfigChange:
        check_environment(environment)
        _refuse_environment_key(key, "rollback_config")
        check_governing(caller, "rollback_config", key)
        env = environment or ""

        def tx(conn: sqlite3.Connection) -> ConfigChange:
            t = resolve_target(conn, scope, target)
            check_own_preferences(caller, "rollback_config", t)
            old = sql.history_version(conn, t.scope, t.id, key, version, env)
            if old is None:
                versions = sql.history_versions(conn, t.scope, t.id, key, env)
                if not versions and not sql.key_definitions(conn, key):
                    raise unknown_key(conn, key)
                known = ", ".join(map(str, versions)) if versions else "none"
                raise NotFound(
                    f"{key} at {_where(t, environment)} has no version {version} in its history (versions holding a "
                    f"value: {known}); call config_history to see them."
                )
            if old["change"] == "delete" or old["value"] is None:
                raise InvalidInput(
                    f"version {version} of {key} at {t.label} records a deletion, not a value; pick a version that "
                    "holds a value (config_history), or delete_config to remove the setting."
                )
            info = key_info(conn, key)
            current = sql.get_row(conn, t.scope, t.id, key, environment)
            secret = info.sensitive or bool(old["sensitive"])
            if secret:
                need_admin(caller, "rollback_config", key)
            previous = current["version"] if current else 0
            _check_version(expected_version, previous, key, t, "get_config or config_history", environment)
            if info.type is not None and old["value_type"] != info.type:
                raise Conflict(
                    f"version {version} of {key} is a {old['value_type']}, but the key is now a {info.type}; "
                    "roll back to a version of the same type, or set the value with set_config (a key changes type "
                    "only after delete_config has removed it everywhere)."
                )
            stored = old["value"]
            plain = plaintext(stored, self.box) if SecretBox.is_encrypted(stored) else stored
            text, typed = coerce(key, plain, old["value_type"], sensitive=secret)
            check_constraint(key, info.constraint_json, typed, text, sensitive=secret, stored=True)
            if current is not None and current["type"] == old["value_type"] and self._same_value(
                current["value"], text, secret
            ):
                entry = self.entry(current, t, sensitive=secret)
                return ConfigChange(key=key, scope=t.scope, target=t.name, target_id=t.target_id, change="unchanged",
                                    version=previous, previous_version=previous, entry=entry,
                                    message=f"{key} at {_where(t, environment)} already holds the value of version "
                                            f"{version}; nothing changed.")
            if secret and stored and not SecretBox.is_encrypted(stored):
                stored = self.box.encrypt(stored)
            before = self.entry(current, t, sensitive=secret) if current else None
            if confirm is not None:
                now = f"{before.value} (version {previous})" if before else "not set"
                confirm.check(f"set {key} at {_where(t, environment)} to {present(stored, secret, self.box)}, the "
                              f"value of version {version}; it is now {now}")
            new_version = max(previous, sql.max_history_version(conn, t.scope, t.id, key, env)) + 1
            if t.scope == "system":
                category = current["category"] if current else (info.category if info.category in SYSTEM_CATEGORIES else "general")
            else:
                category = current["category"] if current else info.category
            description = current["description"] if current else info.description
            values = {"value": stored, "type": old["value_type"], "is_sensitive": int(secret), "category": category,
                      "description": description, "version": new_version}
            self._write(conn, t, key, values, exists=current is not None, environment=environment)
            return self._finish(conn, caller, t, key, "rollback", new_version, previous, before, stored,
                                old["value_type"], secret, environment)

        return await self.db.write(tx)

    # --- environments ---------------------------------------------------------------------------------

    async def active_environment(self) -> str:
        return await self.db.read(environments.active_environment)

    async def values_in(self, environment: str) -> list[ConfigEntry]:
        """The value that applies at every stored place while `environment` is active (masked); see
        environments.values_in. For config export by environment and the console."""
        return await self.db.read(lambda conn: environments.values_in(conn, environment, self.entry))

    async def switch_environment(self, caller: Caller, environment: str, *, confirm: bool) -> EnvironmentSwitch:
        """Without confirm: the diff of every stored place whose value would change (masked), nothing
        written. With confirm: the same diff, computed and applied in one transaction (the environment
        setting's new version, its history row and one audit row naming every change)."""
        check_environment(environment)
        if environment is None:
            raise InvalidInput("switch_environment needs the environment to switch to: "
                               f"{', '.join(environments.ENVIRONMENTS)}.")

        def work(conn: sqlite3.Connection) -> EnvironmentSwitch:
            current = sql.get_row(conn, "system", "", ENVIRONMENT_KEY)
            old = environments.active_environment(conn)
            version = current["version"] if current else 0
            if old == environment:
                return EnvironmentSwitch(from_environment=old, to_environment=environment, applied=False, changes=[],
                                         version=version,
                                         message=f"Sanctum already runs as {environment}; nothing changed.")
            listed, total = environments.diff(conn, self.box, old, environment, self.entry, limit=MAX_LISTED_CHANGES)
            omitted = total - len(listed)
            count = f"{total} stored value{'' if total == 1 else 's'}"
            if not confirm:
                return EnvironmentSwitch(
                    from_environment=old, to_environment=environment, applied=False, changes=listed, omitted=omitted,
                    version=version,
                    message=f"Switching from {old} to {environment} would change {count} (listed, secrets masked); "
                            "nothing was changed. Call switch_environment again with confirm=true to switch.",
                )
            new_version = max(version, sql.max_history_version(conn, "system", "", ENVIRONMENT_KEY)) + 1
            values = {"value": environment, "type": current["type"], "is_sensitive": 0,
                      "category": current["category"], "description": current["description"], "version": new_version}
            sql.update_system(conn, ENVIRONMENT_KEY, values)
            sql.add_history(conn, scope="system", target="", key=ENVIRONMENT_KEY, version=new_version,
                            value=environment, value_type=current["type"], sensitive=False,
                            changed_by=caller.username, change="set")
            message = f"Sanctum now runs as {environment} (was {old}): {count} changed."
            audit.record(conn, caller, action="config.switch_environment", source="config",
                         source_id=f"system::{ENVIRONMENT_KEY}", message=message,
                         extra={"from": old, "to": environment, "version": new_version,
                                "changes": [c.model_dump(exclude_none=True) for c in listed], "omitted": omitted})
            return EnvironmentSwitch(from_environment=old, to_environment=environment, applied=True, changes=listed,
                                     omitted=omitted, version=new_version, message=message)

        return await (self.db.write(work) if confirm else self.db.read(work))
