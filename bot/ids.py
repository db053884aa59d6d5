"""Bounded ASCII integer ids: what every edge (commands, buttons, the API, hooks) accepts as a row id.

Row ids are PostgreSQL ``integer`` columns, so anything above 2**31-1 cannot name a row; a bigger
number sent to the database is an error there (a 500), and ``int()`` on a huge digit string costs CPU.
``str.isdigit`` also accepts non-ASCII digits ("٣", "³"), which ``int()`` reads or rejects in ways a
user would not expect. So an id is 1 to 10 ASCII digits with a value from 1 to MAX_ID.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.errors import UsageError, WarroomError
from bot.text import clip, escape

MAX_ID = 2_147_483_647  # PostgreSQL integer
# A row id in a payload model: a bigger number cannot name a row and would be a database error.
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
_MAX_DIGITS = len(str(MAX_ID))


def ascii_digits(raw: str) -> bool:
    """True when ``raw`` is one or more ASCII digits 0-9 (and nothing else)."""
    return bool(raw) and raw.isascii() and raw.isdigit()


def id_value(value: object) -> int | None:
    """``value`` as a row id when it is an int in range (a JSON number from a button or form), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 1 <= value <= MAX_ID else None


def parse_id(raw: object, what: str = "id number", *, hash_ok: bool = False,
             too_big: type[WarroomError] = UsageError) -> int:
    """Parse a row id typed by a person or sent in a path.

    Not ASCII digits: UsageError. Digits whose value no row can have (0 or over MAX_ID): ``too_big``
    (the API passes NotFound, so ``/api/incidents/99999999999999999999999`` is a 404).
    ``hash_ok`` accepts a leading ``#`` ("#3").
    """
    text = str(raw).strip() if raw is not None else ""
    if hash_ok and text.startswith("#"):
        text = text[1:]
    if not ascii_digits(text):
        raise UsageError(f"`{escape(clip(str(raw or ''), 40))}` is not a valid {what} (a number such as `3`).")
    digits = text.lstrip("0")
    if not digits or len(digits) > _MAX_DIGITS or int(digits) > MAX_ID:
        raise too_big(f"There is no {what} {clip(text, 24)}.")
    return int(digits)


def query_limit(raw: str | None, default: int = 50, most: int = 500) -> int:
    """A ``?limit=`` page size: ASCII digits clamped to 1..most (UsageError otherwise)."""
    if raw is None:
        return default
    text = raw.strip()
    if not ascii_digits(text):
        raise UsageError("limit must be a number")
    return min(max(int(text[:6]) if len(text) <= 6 else most, 1), most)
