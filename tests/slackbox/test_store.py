"""The sandbox store: seed data, persistence, change notifications and thread safety."""

from __future__ import annotations

import threading
from pathlib import Path

from slackbox import (
    APPROVER_1,
    APPROVER_2,
    APPROVERS_GROUP,
    BOT_ID,
    BOT_USER_ID,
    INCIDENTS_CHANNEL,
    RELEASES_CHANNEL,
    REQUESTER,
    SEED_MEMBERS,
    SandboxStore,
)


def test_seed_has_the_team_people_group_and_channels() -> None:
    store = SandboxStore()
    names = {m["id"]: m["real_name"] for m in store.members()}
    assert names[REQUESTER] == "Riley Requester"
    assert names["U0APPROVE1"] == "Avery Approver"
    assert names["U0APPROVE2"] == "Blake Approver"
    assert names["U0VIEWER"] == "Casey Viewer"
    assert names["U0ONCALL"] == "Drew Oncall"
    assert store.member(BOT_USER_ID)["bot_id"] == BOT_ID
    assert store.usergroup(APPROVERS_GROUP)["users"] == [APPROVER_1, APPROVER_2]
    releases, incidents = store.channel_by_name("#releases"), store.channel_by_name("incidents")
    assert releases["id"] == RELEASES_CHANNEL and incidents["id"] == INCIDENTS_CHANNEL
    humans_and_bot = {m.id for m in SEED_MEMBERS if m.in_channels}
    assert set(releases["members"]) == humans_and_bot == set(incidents["members"])


def test_state_survives_a_restart_and_is_not_reseeded(tmp_path: Path) -> None:
    path = str(tmp_path / "sandbox.db")
    store = SandboxStore(path)
    msg = store.post_message(
        RELEASES_CHANNEL, user=BOT_USER_ID, bot_id=BOT_ID, text="v1.0.0 started", blocks=[{"type": "divider"}]
    )
    store.create_channel("inc-1", creator=BOT_USER_ID)
    store.close()

    again = SandboxStore(path)
    assert again.message(RELEASES_CHANNEL, msg["ts"])["blocks"] == [{"type": "divider"}]
    assert again.channel_by_name("inc-1") is not None
    assert len(again.members()) == len(SEED_MEMBERS)
    later = again.post_message(RELEASES_CHANNEL, user=REQUESTER, text="after restart")
    assert float(later["ts"]) > float(msg["ts"])


def test_listeners_and_queues_see_every_change() -> None:
    store = SandboxStore()
    seen: list[str] = []
    remove = store.add_listener(lambda event: seen.append(event["type"]))
    q = store.subscribe()
    msg = store.post_message(RELEASES_CHANNEL, user=BOT_USER_ID, bot_id=BOT_ID, text="hello")
    store.update_message(RELEASES_CHANNEL, msg["ts"], text="edited")
    store.delete_message(RELEASES_CHANNEL, msg["ts"])
    view = store.create_view(
        REQUESTER, {"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": []}
    )
    store.close_views([view["id"]])
    assert seen == ["message", "message_changed", "message_deleted", "view_opened", "view_closed"]
    first = q.get_nowait()
    assert first["type"] == "message" and first["message"]["text"] == "hello"
    remove()
    store.unsubscribe(q)
    store.post_message(RELEASES_CHANNEL, user=REQUESTER, text="unheard")
    assert len(seen) == 5 and q.qsize() == 4


def test_concurrent_posts_get_unique_increasing_timestamps() -> None:
    store = SandboxStore()

    def post(n: int) -> None:
        for i in range(25):
            store.post_message(RELEASES_CHANNEL, user=REQUESTER, text=f"{n}-{i}")

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    stamps = [m["ts"] for m in store.messages(RELEASES_CHANNEL)]
    assert len(stamps) == 200 == len(set(stamps))
    assert stamps == sorted(stamps, key=float)


def test_triggers_are_single_use_and_expire() -> None:
    store = SandboxStore()
    trigger = store.issue_trigger(REQUESTER)
    assert store.consume_trigger(trigger) == (REQUESTER, None)
    assert store.consume_trigger(trigger) == (None, "exchanged_trigger_id")
    assert store.consume_trigger("1.2.nope") == (None, "invalid_trigger_id")
    assert store.consume_trigger(store.issue_trigger(REQUESTER), ttl=-1) == (None, "expired_trigger_id")
