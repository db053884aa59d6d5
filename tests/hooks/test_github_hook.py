"""GitHub deliveries over HTTP: signatures, stored once, replayed real payloads, out of order."""

from __future__ import annotations

import json

from sqlmodel import select

from storage.models import CommitRecord, InboundEvent
from tests.e2e.conftest import Stack
from tests.e2e.test_releases import REL, REQ, release, start
from tests.hooks.conftest import checks, github, payload, processed

SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # the head sha of the recorded check runs
REPO = "Codertocat/Hello-World"


def test_signature_is_required_and_checked(hooked: Stack) -> None:
    body = payload("github.check_run.completed")
    assert github(hooked, "check_run", body, secret=None).status_code == 401
    assert github(hooked, "check_run", body, secret="not-the-secret").status_code == 401
    # Signed over other bytes than those sent: refused.
    raw = json.dumps(body).encode()
    resp = github(hooked, "check_run", raw + b" ", secret=None)
    assert resp.status_code == 401
    ping = github(hooked, "ping", payload("github.ping"))
    assert ping.status_code == 200 and ping.json()["ok"] is True
    bad = github(hooked, "check_run", b"{not json")
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
    assert not processed(hooked)  # nothing refused was stored


def test_a_redelivery_is_stored_once(hooked: Stack) -> None:
    body = payload("github.issues")
    first = github(hooked, "issues", body, delivery="d-1")
    again = github(hooked, "issues", body, delivery="d-1")
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["stored"] is True and again.json()["duplicate"] is True
    rows = processed(hooked)
    assert len(rows) == 1 and rows[0].event == "issues" and rows[0].matched is False


def test_check_runs_out_of_order_gate_the_release(hooked: Stack) -> None:
    start(hooked, f"v1.0.0 sha={SHA} repo={REPO}")
    # GitHub delivered `completed` (failure) before `created` (queued): the older report loses.
    assert github(hooked, "check_run", payload("github.check_run.completed")).status_code == 202
    assert github(hooked, "check_run", payload("github.check_run.created")).status_code == 202
    rows = processed(hooked)
    assert [r.matched for r in rows] == [True, True]
    lint = checks(hooked, "v1.0.0")["lint"]
    assert lint.state == "failed" and lint.url and lint.url.startswith("https://github.com/")
    resp = hooked.ws.command(REQ, REL, "/release", "promote v1.0.0")
    assert "`lint` is failed" in resp.json()["text"] and "github.com" in resp.json()["text"]
    assert release(hooked, "v1.0.0")["stage"] == "dev"


def test_other_repos_and_unknown_states_are_kept_not_applied(hooked: Stack) -> None:
    start(hooked, f"v1.0.1 sha={SHA} repo=someone/else")
    github(hooked, "check_run", payload("github.check_run.completed"))
    odd = payload("github.check_run.created")
    odd["repository"]["full_name"] = "someone/else"
    odd["check_run"]["status"] = "brand_new_state"
    odd["check_run"]["started_at"] = "2030-01-01T00:00:00Z"
    github(hooked, "check_run", odd)
    rows = processed(hooked)
    assert [r.matched for r in rows] == [False, True]
    lint = checks(hooked, "v1.0.1")["lint"]
    assert lint.state == "pending" and "brand_new_state" in (lint.note or "")


def test_push_keeps_commit_times_and_a_tag_fills_the_sha(hooked: Stack) -> None:
    start(hooked, "v2.0.0")
    push = payload("github.push")
    github(hooked, "push", push)
    tag = dict(push, ref="refs/tags/v2.0.0", after="a" * 40, commits=[])
    github(hooked, "push", tag)
    rows = processed(hooked)
    assert [r.matched for r in rows] == [False, True]
    assert hooked.runtime
    with hooked.runtime.services.db.read() as s:
        commits = s.exec(select(CommitRecord)).all()
        assert [(c.sha, c.committed_at.isoformat()) for c in commits] == [
            (push["commits"][0]["id"], "2019-05-15T15:19:25+00:00")]
        assert s.exec(select(InboundEvent)).all()
    body = release(hooked, "v2.0.0")
    assert body["stage"] == "dev"
    resp = hooked.api("/api/releases/v2.0.0/audit")
    assert any(e["action"] == "source" and e["detail"].get("sha") == "a" * 40 for e in resp.json()["audit"])


def test_a_commit_status_reports_through_its_context_and_shows_live(hooked: Stack) -> None:
    status = payload("github.status")
    msg = start(hooked, f"v3.0.0 sha={status['sha']}")
    status["context"] = "codeql / analyze"
    status["state"] = "failure"
    github(hooked, "status", status)
    processed(hooked)
    assert checks(hooked, "v3.0.0")["security"].state == "failed"
    hooked.ws.wait_for(lambda: ":x: `security` failed" in json.dumps(
        next(m for m in hooked.bot_messages(REL) if m["ts"] == msg["ts"])["blocks"]),
        what="the announcement to show the failed check")


def test_a_workflow_run_without_the_coverage_value_fails_the_bound(hooked: Stack) -> None:
    run = payload("github.workflow_run.completed")
    head = run["workflow_run"]["head_sha"]
    start(hooked, f"v4.0.0 sha={head}")
    run["workflow_run"].update(name="CI / test", status="completed", conclusion="success")
    github(hooked, "workflow_run", run)
    assert processed(hooked)[0].matched is True
    tests = checks(hooked, "v4.0.0")["tests"]
    assert tests.state == "failed" and tests.note == "coverage not reported (needs at least 95)"


def test_a_release_event_and_a_tag_creation_name_the_release(hooked: Stack) -> None:
    published = payload("github.release.published")
    created = payload("github.create")
    start(hooked, f"{published['release']['tag_name']} service=checkout")
    start(hooked, f"{created['ref']}")
    published["release"]["target_commitish"] = "b" * 40
    github(hooked, "release", published)
    github(hooked, "create", created)
    assert [r.matched for r in processed(hooked)] == [True, True]
    assert hooked.runtime
    by_version = {v.release.version: v.release for v in hooked.runtime.services.releases.recent(5)}
    tagged = by_version[published["release"]["tag_name"]]
    assert (tagged.sha, tagged.ref, tagged.repo) == ("b" * 40, "refs/tags/0.0.1", REPO)
    assert (by_version[created["ref"]].ref, by_version[created["ref"]].sha) == ("refs/tags/simple-tag", None)
