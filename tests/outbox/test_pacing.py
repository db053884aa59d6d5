"""Per-channel pacing: bursts pass, then one message per interval, each slot reserved once."""

from bot.pacing import ChannelPacer


class FakeTime:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_one_per_second_per_channel() -> None:
    t = FakeTime()
    pacer = ChannelPacer(rate=1.0, burst=3, monotonic=t)
    assert [pacer.delay(i, "post", "C1") for i in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.delay(3, "post", "C1") == 1.0
    assert pacer.delay(4, "update", "C1") == 2.0
    # Another channel has its own budget; ephemeral messages are never held back.
    assert pacer.delay(5, "post", "C2") == 0.0
    assert pacer.delay(6, "ephemeral", "C1") == 0.0
    # A deferred row keeps its reserved slot: coming back early it waits only the rest.
    t.now += 0.5
    assert pacer.delay(3, "post", "C1") == 0.5
    t.now += 1.0
    assert pacer.delay(4, "update", "C1") == 0.5
    # After a quiet spell the burst is available again.
    t.now += 60
    assert pacer.delay(7, "post", "C1") == 0.0
