"""Per-channel pacing of outgoing messages. Slack allows about one message per second per
channel with short bursts; sending faster only earns 429s that stall every other channel."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Calls that Slack does not limit per channel (or that a user waits for) go out at once.
UNPACED = frozenset({"ephemeral", "open_view", "dm", "create_channel", "invite", "topic", "pin"})


class ChannelPacer:
    """GCRA (a token bucket without timers): ``rate`` per second, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self.tolerance = (max(burst, 1) - 1) * self.interval
        self.monotonic = monotonic
        self._tat: dict[str, float] = {}
        self._granted: dict[int, float] = {}
        self._lock = threading.Lock()

    def delay(self, row_id: int, op: str, channel: str | None) -> float:
        """Seconds ``row_id`` must wait before it may be sent; its slot is reserved either way."""
        if op in UNPACED or not channel:
            return 0.0
        now = self.monotonic()
        with self._lock:
            if row_id in self._granted:  # its slot was reserved on an earlier pass
                return max(0.0, self._granted.pop(row_id) - now)
            if len(self._granted) > 10_000:  # rows superseded while waiting never come back
                self._granted = {k: t for k, t in self._granted.items() if t > now - 60}
            tat = max(self._tat.get(channel, now), now)
            self._tat[channel] = tat + self.interval
            wait = max(0.0, tat - self.tolerance - now)
            if wait > 0:
                self._granted[row_id] = now + wait
            return wait
