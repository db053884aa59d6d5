"""The page's JSON endpoints and event stream, without a browser: privacy, escaping, stream lifetime."""

from __future__ import annotations

import time

import httpx

from slackbox import APPROVER_1, BOT_USER_ID, RELEASES_CHANNEL, REQUESTER
from slackbox.launch import Sandbox


def test_event_stream_ends_when_the_client_leaves(sandbox: Sandbox) -> None:
    """/ui/events pushes change summaries (never message text) and unsubscribes on disconnect."""
    store = sandbox.store
    before = len(store._queues)  # noqa: SLF001 - the store keeps one queue per open stream
    with httpx.Client(base_url=sandbox.url, timeout=5) as client, client.stream("GET", "/ui/events") as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        store.post_message(RELEASES_CHANNEL, user=APPROVER_1, text="secret words")
        data = next(line for line in lines if line.startswith("data:"))
        assert RELEASES_CHANNEL in data and "secret words" not in data
        assert len(store._queues) == before + 1  # noqa: SLF001
    deadline = time.monotonic() + 5
    while len(store._queues) > before:  # noqa: SLF001
        assert time.monotonic() < deadline, "the event stream outlived its client"
        time.sleep(0.05)


def test_members_see_only_their_own_direct_messages_and_ephemerals(sandbox: Sandbox) -> None:
    """Someone else's DM is refused; another member's ephemeral message is not listed."""
    store = sandbox.store
    dm = store.open_dm(APPROVER_1, with_user=BOT_USER_ID)
    store.post_message(RELEASES_CHANNEL, user=BOT_USER_ID, text="for Riley only", ephemeral_for=REQUESTER)
    with httpx.Client(base_url=sandbox.url, timeout=5) as client:
        refused = client.get("/ui/messages", params={"user": REQUESTER, "channel": dm["id"]})
        assert refused.status_code == 400
        own = client.get("/ui/messages", params={"user": APPROVER_1, "channel": dm["id"]})
        assert own.status_code == 200
        seen = client.get("/ui/messages", params={"user": APPROVER_1, "channel": RELEASES_CHANNEL}).json()
        assert all(m["text"] != "for Riley only" for m in seen["messages"])
        state = client.get("/ui/state", params={"user": REQUESTER}).json()
        assert dm["id"] not in {c["id"] for c in state["channels"]}
        assert client.get("/ui/state", params={"user": "U0NOBODY"}).status_code == 400


def test_typed_text_is_stored_escaped_like_slack(sandbox: Sandbox) -> None:
    """The composer's text is stored with &, < and > escaped, so it cannot forge mentions or links."""
    with httpx.Client(base_url=sandbox.url, timeout=5) as client:
        answer = client.post("/ui/post", json={"user": REQUESTER, "channel": RELEASES_CHANNEL,
                                               "text": "<!channel> <http://evil|bank> & co"})
        assert answer.json()["ok"]
        page = client.get("/")
        assert "script-src 'self'" in page.headers["content-security-policy"]
    stored = sandbox.store.message(RELEASES_CHANNEL, answer.json()["ts"])
    assert stored and stored["text"] == "&lt;!channel&gt; &lt;http://evil|bank&gt; &amp; co"
