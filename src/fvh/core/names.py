"""Names people type in (first and last names, API clients, tokens): one rule for all.

A name loses its outer spaces and fits its column (255 characters). Whether it may be empty
and the words of the refusal differ per name, so the caller passes its own marked messages.
"""

from __future__ import annotations

import re
import unicodedata

from fvh.core.errors import ValidationError

MAX_LENGTH = 255


def validate_name(
    value: object,
    field: str,
    *,
    too_long: str,
    missing: str | None = None,
    max_length: int = MAX_LENGTH,
) -> str:
    """`value` without outer spaces, or a ValidationError naming `field`.

    Empty (or not a string) is refused with `missing`, or allowed as "" when `missing` is
    None; more than `max_length` characters are refused with `too_long`, which may use
    `%(max)d` for `max_length`.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not text and missing is not None:
        raise ValidationError(missing, field)
    if len(text) > max_length:
        raise ValidationError(too_long, field, max=max_length)
    return text


# --- finding and ordering people by their names ---------------------------------------------
#
# Databases fold case and accents each in their own way (SQLite's lower() only ASCII, MariaDB
# by its collation, PostgreSQL by the server's locale), so the rule is applied here, in Python,
# and its results are stored beside the names (`Member.search_key`, `Member.sort_key`). The
# sort key is compared as plain code points (a binary collation on every backend), which gives
# the same order on SQLite, MariaDB and PostgreSQL.

# Letters that Unicode does not decompose into a base letter and a mark, spelled as a German
# reader would look for them.
_LETTERS = str.maketrans(
    {
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
    }
)
SORT_SEPARATOR = "\x1f"  # below every character a sortable name keeps (they become spaces)
SORT_KEY_LENGTH = 700  # characters; fits a MariaDB index (utf8mb4, 3072 bytes)
SEARCH_KEY_LENGTH = 2000  # characters: names, e-mail address and comment, folded


def fold(text: str | None) -> str:
    """`text` as searches and sorting compare it: case and accents gone, ß as ss.

    Casefolding turns ß into ss; the compatibility decomposition splits Ä into A and a mark
    (and ligatures such as ﬀ into ff), and the marks are dropped, so Öztürk, oztürk and
    ÖZTURK all become "ozturk" (DIN 5007-1: Ä sorts as A).
    """
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare.translate(_LETTERS))


def _sortable(text: str) -> str:
    """The folded name with every run of other characters (spaces, hyphens, apostrophes)
    as one space, so that "Müller" < "Müller-Lüdenscheidt" < "Müllers"."""
    return " ".join("".join(c if c.isalnum() else " " for c in fold(text)).split())


def _exact(text: str) -> str:
    """The name as typed (NFC), control characters as spaces: the tie-break level."""
    return "".join(" " if c < " " else c for c in unicodedata.normalize("NFC", text))


def sort_key(last_name: str, first_name: str) -> str:
    """The key that orders members by last name, then first name, by German rules.

    First level: the folded names (DIN 5007-1: case ignored, Ä as A, ß as ss); names equal
    there are ordered by the names as written (Muller before Müller, Strauss before Strauß),
    so the order never depends on the backend. Callers add the id as the last tie-break.
    """
    key = SORT_SEPARATOR.join(
        (_sortable(last_name), _sortable(first_name), _exact(last_name), _exact(first_name))
    )
    return key[:SORT_KEY_LENGTH]


def search_key(first_name: str, last_name: str, email: str | None, comment: str | None) -> str:
    """What a search for a member looks in: names, e-mail address and comment, folded."""
    parts = (fold(first_name), fold(last_name), fold(email), fold(comment))
    return " ".join(p for p in parts if p)[:SEARCH_KEY_LENGTH]


# Between the words of a search: spaces, and what a list of names puts between them
# ("Müller, Anna (1234567890)"); not what e-mail addresses are made of.
_WORD_BREAKS = re.compile(r"[\s,;()]+")


def search_words(text: str) -> list[str]:
    """A search as folded words; a member matches when their key contains each of them."""
    return [word for word in _WORD_BREAKS.split(fold(text)) if word]


def same_name_prefix(last_name: str, first_name: str) -> str:
    """The start of the sort key that every member with this name (by the first level, i.e.
    case and accents aside) shares: "Anna Müller" and "anna muller" are the same name."""
    return SORT_SEPARATOR.join((_sortable(last_name), _sortable(first_name), ""))
