"""The weekly digest: due time from the policy, held in a row, posted once across replicas."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlmodel import select

from bot.app import build_services
from bot.clock import Clock
from bot.metrics.digest import DigestJob, next_due
from bot.metrics.service import METRICS_REPORT
from bot.ops import Op
from bot.policy import Digest
from bot.settings import load_settings
from storage.models import OutboxMessage


def test_next_due_is_the_next_weekday_and_time_in_the_team_zone() -> None:
    d = Digest(channel="C0REL", weekday="Monday", time="09:00")
    wed = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    assert next_due(d, "UTC", wed) == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    assert next_due(d, "Europe/Berlin", wed) == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    monday_nine = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    assert next_due(d, "UTC", monday_nine) == datetime(2026, 3, 16, 9, 0, tzinfo=UTC)  # strictly after


def test_two_replicas_post_the_digest_once(database_url: str) -> None:
    clock = Clock()
    settings = load_settings(DATABASE_URL=database_url, SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET="s",
                             SLACK_API_URL="http://127.0.0.1:9/api/")
    replicas = [build_services(settings, clock) for _ in range(2)]
    digest = Digest(channel="C0REL", weekday="mon", time="09:00")
    jobs = [DigestJob(s.db, s.metrics, digest, "UTC") for s in replicas]
    assert [j.run_due() for j in jobs] == [0, 0]  # the first run plans the schedule
    clock.advance(8 * 86400)  # past the next Monday 09:00 whatever today is
    results: list[int] = []
    barrier = threading.Barrier(2)

    def run(job: DigestJob) -> None:
        barrier.wait()
        results.append(job.run_due())

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1]
    assert [j.run_due() for j in jobs] == [0, 0]  # not again until next week
    with replicas[0].db.read() as s:
        rows = [r for r in s.exec(select(OutboxMessage).where(OutboxMessage.op == Op.RENDER))
                if r.payload["renderer"] == METRICS_REPORT]
    assert len(rows) == 1 and rows[0].payload["channel"] == "C0REL" and rows[0].payload["comment"] is True
    for s in replicas:
        s.db.engine.dispose()


def test_a_bad_digest_or_target_names_its_policy_field(tmp_path) -> None:
    import pytest

    from bot.errors import ConfigError
    from bot.policy import load_policy

    with pytest.raises(ConfigError, match="digest.weekday"):
        load_policy(None, {"digest": {"channel": "C0REL", "weekday": "someday"}})
    with pytest.raises(ConfigError, match="digest.time"):
        load_policy(None, {"digest": {"channel": "C0REL", "time": "9am"}})
    with pytest.raises(ConfigError, match="targets.success_rate"):
        load_policy(None, {"targets": {"success_rate": 95}})
    assert load_policy().targets.lead_time_hours == 48 and load_policy().digest is None


def test_a_digest_channel_name_is_accepted_and_a_bad_one_stops_start_up() -> None:
    import pytest

    from bot.errors import ConfigError
    from bot.policy import load_policy

    assert load_policy(None, {"digest": {"channel": "#releases"}}).digest == Digest(channel="#releases")
    assert load_policy(None, {"digest": {"channel": "releases"}}).digest.channel == "#releases"
    assert load_policy(None, {"digest": {"channel": "C0REL"}}).digest.channel == "C0REL"
    for bad in ("#Releases", "my releases", "#", "<#C0REL|releases>"):
        with pytest.raises(ConfigError, match=r"digest\.channel.*neither a channel ID"):
            load_policy(None, {"digest": {"channel": bad}})


def test_a_digest_channel_given_by_name_is_looked_up_when_due(database_url: str, caplog) -> None:
    import logging

    from slackbox import RELEASES_CHANNEL, SandboxStore, start_workspace

    rw = start_workspace(SandboxStore())
    clock = Clock()
    settings = load_settings(DATABASE_URL=database_url, SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET="s",
                             SLACK_API_URL=rw.api_url)
    services = build_services(settings, clock)

    def reports() -> list[OutboxMessage]:
        with services.db.read() as s:
            return [r for r in s.exec(select(OutboxMessage).where(OutboxMessage.op == Op.RENDER))
                    if r.payload["renderer"] == METRICS_REPORT]

    try:
        job = DigestJob(services.db, services.metrics, Digest(channel="#releases"), "UTC",
                        services.gateway.find_channel)
        assert job.run_due() == 0  # planned
        assert rw.workspace.calls("conversations.list") == []  # looked up only when due
        clock.advance(8 * 86400)
        assert job.run_due() == 1
        assert [r.payload["channel"] for r in reports()] == [RELEASES_CHANNEL]
        while services.outbox.drain_once():
            pass
        [posted] = [m for m in rw.workspace.messages(RELEASES_CHANNEL) if m.get("files")]
        assert "Delivery metrics, all services" in posted["text"] and "(7 days)" in posted["text"]

        lost = DigestJob(services.db, services.metrics, Digest(channel="no-such-room"), "UTC",
                         services.gateway.find_channel)
        assert lost.run_due() == 0  # the schedule changed: planned again
        clock.advance(8 * 86400)
        with caplog.at_level(logging.ERROR, logger="bot.metrics.digest"):
            assert lost.run_due() == 0
        assert "no channel is called #no-such-room (policy field 'digest.channel')" in caplog.text
        lookups = len(rw.workspace.calls("conversations.list"))
        assert lost.run_due() == 0 and len(rw.workspace.calls("conversations.list")) == lookups  # not until next week
        assert len(reports()) == 1  # nothing queued for the missing channel
    finally:
        services.db.engine.dispose()
        rw.stop()
