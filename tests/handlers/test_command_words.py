"""Command text splits into the words shlex would give, quotes honoured, on the fast path as well."""

from __future__ import annotations

import random
import shlex

import pytest

from bot.errors import UsageError
from handlers.common import MAX_COMMAND_TEXT, split


@pytest.mark.parametrize(("text", "words"), [
    ("start v2.4.0 risk=high  new checkout", ["start", "v2.4.0", "risk=high", "new", "checkout"]),
    ('start v2.4.0 "new checkout flow"', ["start", "v2.4.0", "new checkout flow"]),
    ("rollback v2 it's broken", ["rollback", "v2", "it's", "broken"]),  # unbalanced: plain words
    ("  ", []),
    ("reject v2 #1\u00a0blocker", ["reject", "v2", "#1\u00a0blocker"]),  # no comments; NBSP is no space
])
def test_words(text: str, words: list[str]) -> None:
    assert split(text) == words


def test_text_without_quotes_splits_as_shlex_does() -> None:
    rng = random.Random(7)
    alphabet = "ab =\t\n\r\x0b\x0c\u00a0\u2003#;|&$`*?~x1.-"
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert split(text) == shlex.split(text), repr(text)


def test_overlong_text_is_refused() -> None:
    with pytest.raises(UsageError, match="over 4,000 characters"):
        split("x" * (MAX_COMMAND_TEXT + 1))
