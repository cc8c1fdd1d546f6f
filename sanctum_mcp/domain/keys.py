"""Rotating the secret key: every stored secret re-encrypted under a new key, in one transaction.

Order of events (key file mode):
1. the key file is rewritten as [new, old...]: from here on the newest key encrypts and every key
   decrypts, in this process and (see SecretBox.refresh) in any server process sharing the file;
2. ONE transaction re-encrypts every secret cell (storage/secrets.py:SECRET_CELLS, including every token
   inside a JSON cell such as a tool instance's config) under the new key;
3. only after it has committed is the key file rewritten as [new].
A failure in step 2 rolls the whole transaction back and leaves the key file at [new, old...], which
still decrypts every secret (old tokens with the old key). It is deliberately NOT put back to
[old...]: a server may already have encrypted a new value under the new key.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from sanctum_mcp.domain.shared import audit
from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput
from sanctum_mcp.domain.shared.identity import Caller
from sanctum_mcp.domain.shared.secrets import (
    ENV_SECRET_KEY,
    SecretBox,
    SecretUnreadable,
    new_key,
    read_keys,
    rewrite_tokens,
    write_keys,
)
from sanctum_mcp.storage import secrets as sql

if TYPE_CHECKING:
    from sanctum_mcp.domain.registry import Registry


class Rotation(BaseModel):
    reencrypted: int = Field(description="How many stored secrets were re-encrypted.")
    by_column: dict[str, int] = Field(default_factory=dict, description="Count per table.column.")
    message: str


def _reencrypt_all(box: SecretBox, caller: Caller, note: str):

    def tx(conn: sqlite3.Connection) -> Rotation:
        counts: dict[str, int] = {}
        for cell, rowid, stored in sql.encrypted_cells(conn):

            def fresh(token: str) -> str:
                try:
                    renewed = box.reencrypt(token)
                except SecretUnreadable:
                    raise Conflict(
                        f"a secret in {cell.name} (row id {rowid}) cannot be decrypted with the current keys, so "
                        f"nothing was re-encrypted and every other secret stays readable {note}. Set that secret "
                        "again (set_config, update_tool_instance, update_letta_server) or restore the key it was "
                        "written with, then run rotate-key again."
                    ) from None
                counts[cell.name] = counts.get(cell.name, 0) + 1
                return renewed

            if cell.embedded:
                # Every token inside the JSON document, wherever the tool's schema puts it.
                document = json.loads(stored)
                if rewrite_tokens(document, fresh):
                    sql.replace_cell(conn, cell, rowid, json.dumps(document, separators=(",", ":")))
            else:
                sql.replace_cell(conn, cell, rowid, fresh(stored))
        total = sum(counts.values())
        message = f"{total} secret(s) re-encrypted under the new key"
        audit.record(conn, caller, action="secrets.rotate_key", source="secrets", source_id=None,
                     message=message, extra={"reencrypted": counts})
        return Rotation(reencrypted=total, by_column=counts, message=message)

    return tx


async def rotate_key(registry: Registry, caller: Caller) -> Rotation:
    box = registry.secrets
    if box.from_environment:
        if len(box.keys) < 2:
            raise InvalidInput(
                f"the secret key comes from ${ENV_SECRET_KEY}, which sanctum-mcp cannot change, so rotate-key "
                f"will not write a key file. Rotate the variable instead: set {ENV_SECRET_KEY}=NEW,OLD (the new "
                "Fernet key first, comma, the current key), run `sanctum-mcp rotate-key` again to re-encrypt "
                f"every secret under NEW, then set {ENV_SECRET_KEY}=NEW. Make a key with: python -c "
                "\"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\""
            )
        result = await registry.db.write(_reencrypt_all(box, caller, f"(${ENV_SECRET_KEY} is unchanged)"))
        result.message += f"; every secret now decrypts with the first key of ${ENV_SECRET_KEY}: drop the others."
        return result

    path = box.path
    assert path is not None
    box.refresh()
    old = read_keys(path)
    fresh = new_key()
    write_keys(path, [fresh, *old])
    box.use_keys([fresh, *old])
    result = await registry.db.write(
        _reencrypt_all(box, caller, f"(the key file {path} holds the new key first, then the old ones)")
    )
    write_keys(path, [fresh])
    box.use_keys([fresh])
    result.message += f"; the key file {path} now holds only the new key."
    return result
