"""The outbox on a real database: the typed port writes rows, the sender delivers them in order,
coalesces updates, fills references, retries Slack's hiccups and fails programming errors at once."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.gateway import SlackGateway, make_client
from bot.ops import Op
from bot.services import Services
from bot.tx import ref
from storage.models import OutboxMessage, SlackRef
from tests.support import SlackDouble, drain


def rows(s: Services) -> list[OutboxMessage]:
    with s.db.read() as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def test_port_methods_write_rows_with_their_op_and_arguments(services: Services) -> None:
    with services.db.transaction() as tx:
        tx.slack.post("C1", "hello", store_as="greeting")
        tx.slack.update(ref("greeting", "channel"), ref("greeting"), "hello again", coalesce="greeting")
        tx.slack.ephemeral("C1", "U1", "only you")
        tx.slack.dm("U1", "psst")
        tx.slack.upload("C1", "a.md", "# a", "A", comment="the file")
    assert [(r.op, r.store_as, r.coalesce_key) for r in rows(services)] == [
        ("post", "greeting", None), ("update", None, "greeting"), ("ephemeral", None, None), ("dm", None, None),
        ("upload", None, None)]
    assert rows(services)[0].payload == {"channel": "C1", "text": "hello"}  # left-out options are not stored
    with pytest.raises(TypeError), services.db.transaction() as tx:
        tx.slack.post(chanel="C1", text="typo")  # type: ignore[call-arg]  # the mistake is caught where it is made
    assert len(rows(services)) == 5  # and nothing of that transaction was stored


def test_delivery_in_order_with_references_filled(services: Services) -> None:
    with services.db.transaction() as tx:
        tx.slack.post("C1", "parent", store_as="parent")
        tx.slack.post(ref("parent", "channel"), "reply", thread_ts=ref("parent"))
        tx.slack.post("C2", "elsewhere")
    slack = SlackDouble()
    drain(services, slack)
    texts = [args["text"] for _, args in slack.calls]
    # Rows go in id order, except that a reply waits for its parent (others pass it meanwhile).
    assert sorted(texts) == ["elsewhere", "parent", "reply"] and texts.index("parent") < texts.index("reply")
    assert texts.index("parent") < texts.index("elsewhere")
    reply = slack.calls[texts.index("reply")][1]
    assert reply["thread_ts"] == "1.0001" and reply["channel"] == "C1"
    assert all(r.sent_at for r in rows(services))


def test_a_reply_waits_for_the_message_it_refers_to(services: Services) -> None:
    with services.db.transaction() as tx:
        tx.slack.post(ref("later", "channel"), "reply", thread_ts=ref("later"))
    slack = SlackDouble()
    drain(services, slack, rounds=2)
    assert slack.calls == []
    assert rows(services)[0].waits_for == "later"
    with services.db.transaction() as tx:
        tx.slack.post("C9", "the parent", store_as="later")
    drain(services, slack)
    assert [args["text"] for _, args in slack.calls] == ["the parent", "reply"]


def test_pending_updates_of_one_message_coalesce_to_the_newest(services: Services) -> None:
    with services.db.transaction() as tx:
        tx.slack.post("C1", "v0", store_as="msg")
    slack = SlackDouble()
    drain(services, slack)
    for n in range(1, 6):
        with services.db.transaction() as tx:
            tx.slack.update(ref("msg", "channel"), ref("msg"), f"v{n}", coalesce="msg")
    drain(services, slack)
    assert [args["text"] for op, args in slack.calls if op == "update"] == ["v5"]
    assert sum(r.last_error == "superseded" for r in rows(services)) == 4


def test_a_temporary_slack_error_is_retried_later(services: Services) -> None:
    with services.db.transaction() as tx:
        tx.slack.post("C1", "hi")
    drain(services, SlackDouble(refuse={"post": "ratelimited"}), rounds=1)
    row = rows(services)[0]
    assert (row.failed, row.attempts, row.sent_at, row.last_error) == (False, 1, None, "ratelimited")
    assert row.not_before > row.created_at  # backed off, not dropped


def test_a_permanent_slack_error_fails_the_row(services: Services) -> None:
    with services.db.transaction() as tx:
        tx.slack.post("C404", "hi")
    drain(services, SlackDouble(refuse={"post": "channel_not_found"}))
    row = rows(services)[0]
    assert (row.failed, row.attempts, row.last_error) == (True, 1, "channel_not_found")


@pytest.mark.parametrize("op, payload, error", [
    (Op.POST, {"chanel": "C1", "text": "misspelt"}, "TypeError"),
    (Op.WEBHOOK, {"executor": "ci", "body": {}}, "KeyError"),  # an op nothing here delivers (no target)
    (Op.RENDER, {"renderer": "no_such_renderer"}, "KeyError"),
    (Op.RENDER, {"renderer": "release_announcement"}, "KeyError"),  # a payload its renderer cannot read
])
def test_a_programming_error_fails_the_row_at_once_and_loudly(services: Services, caplog: pytest.LogCaptureFixture,
                                                              op: Op, payload: dict[str, str], error: str) -> None:
    # The real gateway: a bad payload fails on binding its arguments, before any network call.
    services.outbox.gateway = SlackGateway(make_client("xoxb-test", "http://127.0.0.1:9/api/"))
    services.outbox.targets.clear()  # no executor client wired: the gateway alone delivers
    with services.db.transaction() as tx:
        tx.send(op, **payload)
    with caplog.at_level(logging.ERROR, logger="bot.outbox"):
        services.outbox.drain_once()
    row = rows(services)[0]
    assert row.failed and row.attempts == 1 and row.sent_at is None
    assert row.last_error is not None and row.last_error.startswith(error)
    assert any(r.levelno == logging.ERROR and "programming error" in r.getMessage() for r in caplog.records)
    assert services.outbox.drain_once() is False  # not claimed again


def test_results_are_stored_under_their_key(services: Services) -> None:
    with services.db.transaction() as tx:
        tx.slack.post("C1", "keep me", store_as="kept")
    drain(services, SlackDouble())
    with services.db.read() as session:
        stored = session.get(SlackRef, "kept")
    assert stored is not None and (stored.channel, stored.ts) == ("C1", "1.0001")


def test_a_renderer_is_registered_once(services: Services) -> None:
    with pytest.raises(ValueError, match="registered already"):
        services.outbox.register_renderer("release_announcement", lambda s, args: None)


def test_the_sweep_wakes_a_row_whose_message_another_replica_stored_and_drops_week_old_sent_rows(
        services: Services) -> None:
    with services.db.transaction() as tx:
        tx.slack.post(ref("stored elsewhere", "channel"), "reply", thread_ts=ref("stored elsewhere"))
        tx.slack.post(ref("never stored", "channel"), "orphan", thread_ts=ref("never stored"))
        tx.slack.post("C1", "last week")
        tx.slack.post("C1", "yesterday")
    slack = SlackDouble()
    drain(services, slack, rounds=2)
    assert sorted(r.waits_for or "" for r in rows(services) if r.sent_at is None) == ["never stored",
                                                                                     "stored elsewhere"]
    now = services.db.clock.now()
    with services.db.transaction() as tx:
        # The parent was posted by another replica while this one parked the reply.
        tx.session.add(SlackRef(key="stored elsewhere", channel="C7", ts="7.0001"))
        for text, ago in (("last week", timedelta(days=8)), ("yesterday", timedelta(days=1))):
            tx.session.execute(update(OutboxMessage).where(col(OutboxMessage.payload)["text"].as_string() == text)
                               .values(sent_at=now - ago))

    services.outbox.sweep()
    by_text = {r.payload["text"]: r for r in rows(services)}
    assert "last week" not in by_text and by_text["yesterday"].sent_at is not None
    assert by_text["reply"].waits_for is None and by_text["reply"].not_before <= services.db.clock.now()
    assert by_text["orphan"].waits_for == "never stored"
    drain(services, slack)
    assert [args["text"] for _, args in slack.calls][-1] == "reply"
