"""User text is escaped so it cannot ping or forge links."""

from bot.text import clip, duration, escape


def test_escape_blocks_mentions_and_links() -> None:
    assert escape("<!channel> see <https://evil|docs> & more") == (
        "&lt;!channel&gt; see &lt;https://evil|docs&gt; &amp; more")
    assert "<" not in escape("<!here>") and ">" not in escape("<@U123>")


def test_clip_and_duration() -> None:
    assert clip("abcdef", 4) == "abc…"
    assert clip("abc", 4) == "abc"
    assert [duration(s) for s in (5, 125, 3720, 90000)] == ["5s", "2m", "1h 02m", "1d 1h"]
