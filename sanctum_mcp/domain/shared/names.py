"""The one check every user-chosen name passes, whatever it names: agents, tools, tool instances,
jobs, plugins, users, API tokens, backups, and the agent names a user's permissions list (and the
names the registry takes from Letta and from SMCP plugin folders, through the same checks).

A name is read by people and models and compared by machines, so it must show everything it holds.
Refused, each named by its code point:
- control and format characters (categories Cc, Cf): NUL, tabs and line breaks, bidi overrides
  and isolates (U+202A-202E, U+2066-2069), zero-width characters (U+200B-200D), the byte order
  mark U+FEFF, ...; line and paragraph separators (Zl, Zp);
- spaces other than the plain space U+0020 (Zs: no-break and ideographic spaces look like it);
- surrogates, private-use and unassigned code points (Cs, Co, Cn): they show as nothing or as
  whatever a font makes of them, and an unassigned one may become anything later;
- the other default-ignorable code points, invisible although they are letters or marks: the
  Hangul fillers, U+034F COMBINING GRAPHEME JOINER, variation selectors, ...;
- text not in composed form (NFC): "e" + U+0301 looks exactly like the single letter "é".
Letters, marks, digits, punctuation and symbols of every script are accepted. Confusable letters
of different scripts (Latin "A" and Cyrillic "А") are not detected here.
"""

from __future__ import annotations

import unicodedata

from sanctum_mcp.domain.shared.errors import InvalidInput

REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cs": "a lone surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
}
# Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties) outside the categories above, and
# U+2800 BRAILLE PATTERN BLANK: they render as nothing although they are letters, marks or symbols.
INVISIBLE = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x2800, 0x2800),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0100, 0xE01EF),
)
# Control characters have no Unicode name; the ones people meet get theirs.
CONTROL_NAMES = {0x00: "NUL", 0x09: "TAB", 0x0A: "LINE FEED", 0x0B: "LINE TABULATION", 0x0C: "FORM FEED",
                 0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE", 0x7F: "DELETE"}


def _problem(char: str) -> str | None:
    code = ord(char)
    category = unicodedata.category(char)
    if category in REFUSED_CATEGORIES:
        return REFUSED_CATEGORIES[category]
    if category == "Zs" and char != " ":
        return "a space other than the plain space"
    if any(low <= code <= high for low, high in INVISIBLE):
        return "an invisible character"
    return None


def _label(char: str) -> str:
    code = ord(char)
    name = CONTROL_NAMES.get(code) or unicodedata.name(char, "")
    return f"U+{code:04X}" + (f" ({name})" if name else "")


def check_name_characters(name: str, what: str) -> str:
    """Refuse a name holding a character that does not show (or shows as something else); see the
    module docstring. `what` names the kind of name ('agent', 'tool instance', ...). The message
    never repeats the name: it holds the very character that makes it misleading to print."""
    for position, char in enumerate(name, start=1):
        problem = _problem(char)
        if problem is not None:
            raise InvalidInput(
                f"{what} name has {problem}, {_label(char)}, at position {position}; names may hold letters, "
                "marks, digits, punctuation, symbols and plain spaces only, so that two names never look alike. "
                "Type the name again without it. Nothing was changed."
            )
    if unicodedata.normalize("NFC", name) != name:
        mark = next((c for c in name if unicodedata.combining(c)), None)
        detail = f" (a letter followed by {_label(mark)})" if mark else ""
        raise InvalidInput(
            f"{what} name is not in composed form (NFC){detail}: it would look exactly like a name written with "
            "the composed letter. Type the name again with composed letters (most keyboards produce them). "
            "Nothing was changed."
        )
    return name
