"""Secrets: encryption at rest and the one masking rule.

Sensitive values are stored as Fernet tokens (AES-128-CBC + HMAC-SHA256, from `cryptography`)
prefixed with `fernet:`. The key never enters the database: it comes from $SANCTUM_MCP_SECRET_KEY
or from a key file beside the database, created on first start with mode 0600. The key file may
hold several keys, newest first, one per line: the newest encrypts, all of them decrypt, which is
what lets a key rotation stay readable at every instant.

Masking: `mask()` is the only function that turns a secret into something shown to anyone. Domain
models carry masked text, never plaintext, so every surface built on them (tool results,
resources, audit rows, history, exports, errors) is masked by construction.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sanctum_mcp.domain.shared.errors import Conflict

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

ENV_SECRET_KEY = "SANCTUM_MCP_SECRET_KEY"
PREFIX = "fernet:"
MASK = "********"
# Below this length even the last four characters would say too much about the value.
SHOW_TAIL_FROM = 12
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
# What redact() hides in free text: API tokens (domain/users/tokens.py: "sanctum_" + 43 url-safe
# characters; any run of 32 or more is taken for one) and stored ciphertext (a Fernet token starts
# with its version byte 0x80 and a timestamp: "gAAAAA" in base64).
_CREDENTIALS = re.compile(r"sanctum_[A-Za-z0-9_-]{32,}|fernet:gAAAA[A-Za-z0-9_=-]*")


class SecretUnreadable(Conflict):
    """A stored secret cannot be decrypted with the keys at hand (wrong or missing key).

    A Conflict, so that any path that needs the plaintext and cannot have it fails with this
    message (restore the key, or set the secret again), never as an unexpected failure. Paths that
    only SHOW a secret catch it and show the bare mask instead.
    """


def mask(plaintext: str | None) -> str:
    """The fixed mask, plus the last 4 characters for values of 12 characters or more."""
    if not plaintext:
        return MASK
    return MASK + (plaintext[-4:] if len(plaintext) >= SHOW_TAIL_FROM else "")


def redact(text: str) -> str:
    """Free text (a log line) with every API token and stored-secret ciphertext replaced by the mask.

    A guard for text nobody built from domain models (third-party log records, tracebacks): a
    plaintext secret cannot be recognised in such text, so the loggers that could print one are
    kept quiet instead (sanctum_mcp/log_setup.py).
    """
    if "sanctum_" not in text and "fernet:" not in text:
        return text
    return _CREDENTIALS.sub(lambda m: ("fernet:" if m.group().startswith("fernet:") else "sanctum_") + MASK, text)


def new_key() -> bytes:
    """A fresh Fernet key (32 random bytes, urlsafe base64), made without importing cryptography."""
    return base64.urlsafe_b64encode(os.urandom(32))


def key_file_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".key")


def read_keys(path: Path) -> list[bytes]:
    return [line.strip().encode() for line in path.read_text().splitlines() if line.strip()]


def write_keys(path: Path, keys: Sequence[bytes]) -> None:
    """Replace the key file atomically, readable by the owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(k.decode() for k in keys) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class SecretBox:
    """Encrypts and decrypts secret values with the newest of its keys."""

    def __init__(self, keys: Sequence[bytes], *, source: str, path: Path | None = None) -> None:
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        self.keys = list(keys)
        self.source = source  # where the keys came from, for messages (never the keys)
        # The key file, when keys come from one: another process (`sanctum-mcp rotate-key`) may
        # rewrite it while this one runs, so it is re-read whenever it changes (see refresh()).
        self.path = path
        self._signature = _file_signature(path) if path is not None else None
        self._fernet: MultiFernet | None = None

    @classmethod
    def load(cls, db_path: Path) -> SecretBox:
        """Keys from the environment, else from the key file (created on first start)."""
        from_env = os.environ.get(ENV_SECRET_KEY)
        if from_env:
            return cls([k.strip().encode() for k in from_env.split(",") if k.strip()], source=f"${ENV_SECRET_KEY}")
        path = key_file_for(db_path)
        if not path.exists():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first: use theirs
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(new_key().decode() + "\n")
        return cls(read_keys(path), source=str(path), path=path)

    @property
    def from_environment(self) -> bool:
        return self.path is None

    def refresh(self) -> bool:
        """Re-read the key file if it changed since it was read; True when the keys changed.

        Called before every encryption (so a value is never written under a key that a rotation
        is about to drop) and after a failed decryption (so a value re-encrypted by a rotation
        in another process stays readable here). A stat costs microseconds.
        """
        if self.path is None:
            return False
        signature = _file_signature(self.path)
        if signature == self._signature:
            return False
        keys = read_keys(self.path)
        if not keys:
            return False
        self.keys, self._signature, self._fernet = keys, signature, None
        return True

    def use_keys(self, keys: Sequence[bytes]) -> None:
        """Adopt keys this process has just written to the key file (rotation)."""
        self.keys = list(keys)
        self._fernet = None
        if self.path is not None:
            self._signature = _file_signature(self.path)

    @property
    def fernet(self) -> MultiFernet:
        if self._fernet is None:
            from cryptography.fernet import Fernet, MultiFernet

            try:
                self._fernet = MultiFernet([Fernet(k) for k in self.keys])
            except ValueError:
                raise SecretUnreadable(
                    f"the secret key in {self.source} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes); fix it or restore the right key file."
                ) from None
        return self._fernet

    def encrypt(self, plaintext: str) -> str:
        self.refresh()
        return PREFIX + self.fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        from cryptography.fernet import InvalidToken

        if not stored.startswith(PREFIX):
            raise SecretUnreadable("this value is not an encrypted secret")
        token = stored[len(PREFIX):].encode()
        try:
            return self.fernet.decrypt(token).decode()
        except InvalidToken:
            pass
        try:
            if self.refresh():
                return self.fernet.decrypt(token).decode()
        except InvalidToken:
            pass
        raise SecretUnreadable(
            f"a stored secret cannot be decrypted with the key(s) from {self.source}; the database "
            "was probably copied without its key file, or the key was changed. Restore the key, "
            "or set the secret again."
        )

    def reencrypt(self, stored: str) -> str:
        """The same secret under the newest key (for rotation)."""
        from cryptography.fernet import InvalidToken

        try:
            return PREFIX + self.fernet.rotate(stored[len(PREFIX):].encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(f"a stored secret cannot be decrypted with the key(s) from {self.source}") from None

    def __repr__(self) -> str:  # never the keys
        return f"SecretBox(source={self.source!r}, keys={len(self.keys)})"

    @staticmethod
    def is_encrypted(stored: str | None) -> bool:
        return bool(stored) and stored.startswith(PREFIX)


def is_token(value: Any) -> bool:
    """True for a string that is a `fernet:` token by its shape (version byte, timestamp, IV, whole
    AES blocks, HMAC), whether or not the keys at hand open it. Used where secrets are found by
    their shape inside JSON (storage/secrets.py, embedded cells), so that a plain note that merely
    starts with "fernet:" is not taken for a secret."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return False
    body = value[len(PREFIX):]
    if len(body) > 1_000_000 or len(body) % 4 or _BASE64URL.fullmatch(body) is None:
        return False
    try:
        raw = base64.urlsafe_b64decode(body.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False
    # 1 version + 8 timestamp + 16 IV + n*16 ciphertext (n >= 1) + 32 HMAC
    return len(raw) >= 73 and (len(raw) - 57) % 16 == 0 and raw[0] == 0x80


def find_tokens(document: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every token (is_token) anywhere inside a JSON document (dicts and lists).
    Iterative: a deep document costs no stack."""
    found: list[tuple[Any, Any]] = []
    pending = [document]
    while pending:
        node = pending.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if is_token(value):
                found.append((node, key))
            elif isinstance(value, (dict, list)):
                pending.append(value)
    return found


def rewrite_tokens(document: Any, replace) -> int:
    """Replace, in place, every token inside a JSON document with replace(token); how many there were."""
    found = find_tokens(document)
    for node, key in found:
        node[key] = replace(node[key])
    return len(found)


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
