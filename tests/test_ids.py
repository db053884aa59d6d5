"""Bounded ASCII integer ids: what every edge accepts as a row id."""

from __future__ import annotations

import pytest

from bot.errors import NotFound, UsageError
from bot.ids import MAX_ID, id_value, parse_id, query_limit


@pytest.mark.parametrize(("raw", "expected"), [("3", 3), (" 42 ", 42), ("007", 7), (str(MAX_ID), MAX_ID)])
def test_plain_ascii_numbers_are_ids(raw: str, expected: int) -> None:
    assert parse_id(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "٣", "³", "1_0", "-1", "+1", "1e3", "#3", "3.0", None, "1 2"])
def test_anything_else_is_a_usage_error(raw: object) -> None:
    with pytest.raises(UsageError, match="is not a valid"):
        parse_id(raw, "incident number")


@pytest.mark.parametrize("raw", ["0", "000", str(MAX_ID + 1), "99999999999999999999999", "9" * 5000])
def test_numbers_no_row_can_have_are_too_big(raw: str) -> None:
    with pytest.raises(NotFound, match="There is no incident number"):
        parse_id(raw, "incident number", too_big=NotFound)
    with pytest.raises(UsageError):
        parse_id(raw, "incident number")


def test_a_hash_is_allowed_only_when_asked() -> None:
    assert parse_id("#12", hash_ok=True) == 12
    with pytest.raises(UsageError):
        parse_id("#12")


def test_json_values() -> None:
    assert id_value(5) == 5
    assert [id_value(v) for v in (True, 0, -1, MAX_ID + 1, 10**30, "5", 5.0, None)] == [None] * 8


def test_query_limit() -> None:
    assert query_limit(None) == 50 and query_limit("7") == 7 and query_limit("0") == 1
    assert query_limit("9" * 400) == 500
    for bad in ("٣", "x", "-1", ""):
        with pytest.raises(UsageError):
            query_limit(bad)
