"""Bolt tries a request against each listener in the order they were registered, and its built-in
matchers (the command name, an action_id, a callback_id, an event type) first build every argument a
listener could ask for (say, respond, eight views of the payload...) only to read the body: about
25 µs a try, so a form's submission, registered late, paid half a millisecond before its listener ran.
Those matchers take nothing but the body; ``direct`` calls them with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.listener_matcher.builtins import BuiltinListenerMatcher
from slack_bolt.listener_matcher.listener_matcher import ListenerMatcher


class BodyMatcher(ListenerMatcher):
    """A matcher called with the request's body alone."""

    def __init__(self, func: Callable[[dict[str, Any]], bool]) -> None:
        self.func = func

    def matches(self, req: BoltRequest, resp: BoltResponse) -> bool:
        """What the matcher's function says of the body."""
        return bool(self.func(req.body))


def direct(app: App) -> int:
    """Swap each registered listener's body-only built-in matchers for BodyMatchers; how many were swapped.

    Bolt keeps its listeners in ``App._listeners``; a Bolt that does not leaves them as they are."""
    swapped = 0
    for listener in getattr(app, "_listeners", []):
        matchers = list(getattr(listener, "matchers", []))
        for i, matcher in enumerate(matchers):
            if type(matcher) is BuiltinListenerMatcher and matcher.arg_names == ["body"]:
                matchers[i] = BodyMatcher(matcher.func)  # type: ignore[arg-type]
                swapped += 1
        listener.matchers = matchers
    return swapped
