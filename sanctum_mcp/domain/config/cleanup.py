"""Settings of deleted objects: removed inside the deleting service's transaction (an agent with
its instances, ...); their history stays."""

from __future__ import annotations

import sqlite3

from sanctum_mcp.storage import config as sql


def delete_settings_of(conn: sqlite3.Connection, scope: str, target_ids: list[int], *, changed_by: str) -> list[str]:
    """Remove the settings of deleted objects (inside the deleting service's transaction).

    Returns "scope:target-id:key" labels of what was removed (with "@environment" for a value held for
    one environment), for the caller's result and audit.
    """
    removed = sql.delete_for_targets(conn, scope, [str(i) for i in target_ids], changed_by=changed_by)
    return [f"{r['scope']}:{r['target']}:{r['key']}" + (f"@{r['environment']}" if r["environment"] else "")
            for r in removed]
