"""An instance config's three forms: stored (secrets encrypted), plaintext (for running and
checking), shown (secrets masked). Which values are secrets: the writeOnly locations the tool's
schema gives for this config (domain/schemas/graph.py)."""

from __future__ import annotations

import json
from typing import Any

from sanctum_mcp.domain.schemas import validation as schemas
from sanctum_mcp.domain.schemas.graph import Path, graph_of
from sanctum_mcp.domain.shared.errors import Conflict, InvalidInput
from sanctum_mcp.domain.shared.secrets import MASK, SecretBox, SecretUnreadable, mask


def value_at(config: Any, path: Path) -> tuple[bool, Any]:
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


def covered(location: Path, by: list[Path]) -> bool:
    """Whether `location` is one of `by` or inside one of them (then encrypted with it)."""
    return any(location[:len(other)] == other for other in by)


class InstanceConfig:
    """Stored form (secrets encrypted) <-> plaintext <-> shown form (secrets masked).

    Which values are secrets depends on the config as well as the schema (array items,
    additionalProperties keys...): `locations(config)` finds them (domain/schemas/graph.py), and
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
            present, value = value_at(plain, path)
            if present and isinstance(value, str) and SecretBox.is_encrypted(value):
                _set(plain, path, json.loads(self.box.decrypt(value)))
        return plain

    def readable(self, stored: dict[str, Any]) -> tuple[dict[str, Any], list[Path]]:
        """plaintext(), except that a secret the keys at hand cannot decrypt (a database copied
        without its key file) stays as stored; with the locations of those secrets."""
        plain = _copy(stored)
        unreadable: list[Path] = []
        for path in self.locations(stored):
            present, value = value_at(plain, path)
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
            present, value = value_at(plain, path)
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
            present, value = value_at(out, path)
            if not present:
                continue
            if current_stored is not None and current_plain is not None:
                had, old = value_at(current_plain, path)
                old_cipher = value_at(current_stored, path)[1] if had else None
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
            present, value = value_at(incoming, path)
            had, old = value_at(current, path)
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
            present, value = value_at(merged, path)
            had, old = value_at(current, path)
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
