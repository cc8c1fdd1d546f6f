"""Regular expressions written by callers (JSON Schema `pattern`, `patternProperties`, format "regex").

They run in RE2 (the `google-re2` package), never in Python's `re`: RE2 matches in time linear in
the text, whatever the pattern, so `^(a+)+$` against "aaaa...!" costs microseconds instead of
freezing the process (Python's `re` backtracks exponentially there, holding the GIL, so not even
the event loop or a SIGTERM handler runs). The price is RE2's syntax: no backreferences, no
lookahead or lookbehind; such a pattern is refused with a message saying so.

JSON Schema patterns are ECMA-262 regular expressions; the one escape RE2 spells differently,
`\\uXXXX`, is translated to `\\x{XXXX}`. Compiled patterns are cached, and each compiled program is
limited in memory (RE2 refuses one that would need more, e.g. `(a{1000}){1000}`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

MAX_PROGRAM_BYTES = 8 << 20


class PatternRefused(ValueError):
    """A pattern RE2 cannot run; str() says why, in words for the caller who wrote it."""


def to_re2(pattern: str) -> str:
    """ECMA-262 `\\uXXXX` escapes as RE2's `\\x{XXXX}`; everything else as written."""
    if "\\u" not in pattern:
        return pattern
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            digits = pattern[i + 2:i + 6]
            if pattern[i + 1] == "u" and len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                out.append("\\x{" + digits + "}")
                i += 6
                continue
            out.append(pattern[i:i + 2])  # an escaped character, e.g. `\\` followed by a literal u
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


@lru_cache(maxsize=1024)
def compiled(pattern: str) -> Any:
    """The RE2 program for a JSON Schema pattern; raises PatternRefused."""
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print each refusal on the server's stderr
    options.max_mem = MAX_PROGRAM_BYTES
    try:
        return re2.compile(to_re2(pattern), options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternRefused(
            f"patterns run in RE2, a linear-time engine, which cannot run this one ({reason}); RE2 has no "
            "backreferences (\\1), lookahead or lookbehind ((?=, (?!, (?<=, (?<!) and repeats at most {1000}. "
            "Rewrite the pattern without them"
        ) from None


def problem(pattern: Any) -> str | None:
    """Why `pattern` cannot be used, or None when it can."""
    if not isinstance(pattern, str):
        return "a pattern must be a string"
    try:
        compiled(pattern)
    except PatternRefused as exc:
        return str(exc)
    return None


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text` (JSON Schema patterns are not anchored)."""
    return compiled(pattern).search(text) is not None
