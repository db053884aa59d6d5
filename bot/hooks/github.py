"""GitHub deliveries: check runs, suites, workflow runs and statuses become check reports;
pushes record commit times; a tag's push, create or release fills a release's sha. Deployment
statuses and workflow runs also report the executors' deployments (handlers in ``extra``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import select

from bot.checks import rules
from bot.checks.rules import Report
from bot.checks.service import ChecksService
from bot.hooks.common import OPEN_SHAS, dig, open_release_for, parse_time, text
from bot.releases.state import ACTIVE
from bot.tx import Origin, Tx
from storage.db import is_postgres
from storage.models import CommitRecord, InboundEvent, Release, table_of

_SHA = re.compile(r"^[0-9a-f]{40}$")
GITHUB = Origin(user="github", source="hook:github")


class GitHubProcessor:
    """Applies one stored GitHub delivery; returns True when it concerned a release."""

    def __init__(self, checks: ChecksService) -> None:
        self.checks = checks
        self.policy = checks.policy
        # Handlers for the executors register here (deployment_status, workflow_run: bot/app.py).
        self.extra: dict[str, Callable[[Tx, dict[str, Any]], bool]] = {}

    def __call__(self, tx: Tx, event: InboundEvent) -> bool:
        p = event.payload if isinstance(event.payload, dict) else {}
        kind = event.event
        # A workflow_run may be both a deployment's run (extra) and a check on a release: both apply.
        matched = self.extra[kind](tx, p) if kind in self.extra else False
        if kind in ("check_run", "check_suite", "workflow_run", "status"):
            return self._report(tx, kind, p) or matched
        if kind in self.extra:
            return matched
        if kind == "push":
            return self._push(tx, p)
        if kind in ("create", "release"):
            return self._tag(tx, kind, p)
        return False

    # --- checks ------------------------------------------------------------------------
    def _report(self, tx: Tx, kind: str, p: dict[str, Any]) -> bool:
        found = _report_fields(kind, p)
        if found is None:
            return False
        sha, name, word, at, url, blurb = found
        release = open_release_for(tx, sha, text(dig(p, "repository", "full_name"), 140) or None)
        if release is None or not rules.matching(self.policy, name):
            return False
        state, note = rules.normalize_state(word)
        keys = sorted({k for c in rules.matching(self.policy, name) for k in (*c.min, *c.max)})
        report = Report(name=name, state=state, values=rules.values_in(blurb, keys), url=url,
                        source=f"github:{kind}:{name}", at=at, note=note)
        self.checks.apply(tx, release, report)
        return True

    # --- commits and tags ----------------------------------------------------------------
    def _push(self, tx: Tx, p: dict[str, Any]) -> bool:
        repo = text(dig(p, "repository", "full_name"), 140) or None
        rows = []
        for commit in p.get("commits") or []:
            sha = text(dig(commit, "id"), 64)
            at = parse_time(dig(commit, "timestamp"))
            if _SHA.match(sha) and at:
                rows.append({"sha": sha, "repo": repo, "committed_at": at.astimezone(UTC)})
        if rows:
            table = table_of(CommitRecord)
            dialect_insert = pg_insert if is_postgres(tx.session.get_bind()) else sqlite_insert
            tx.session.connection().execute(dialect_insert(table).values(rows).on_conflict_do_nothing())
        ref = text(p.get("ref"), 200)
        after = text(p.get("after"), 64)
        if ref.startswith("refs/tags/") and _SHA.match(after):
            return self._fill(tx, ref.removeprefix("refs/tags/"), after, repo, ref)
        return False

    def _tag(self, tx: Tx, kind: str, p: dict[str, Any]) -> bool:
        repo = text(dig(p, "repository", "full_name"), 140) or None
        if kind == "create":
            if p.get("ref_type") != "tag":
                return False
            return self._fill(tx, text(p.get("ref"), 100), None, repo, f"refs/tags/{text(p.get('ref'), 90)}")
        tag = text(dig(p, "release", "tag_name"), 100)
        target = text(dig(p, "release", "target_commitish"), 64)
        return self._fill(tx, tag, target if _SHA.match(target) else None, repo, f"refs/tags/{tag}")

    def _fill(self, tx: Tx, tag: str, sha: str | None, repo: str | None, ref: str) -> bool:
        """The open release named like the tag gets its ref, sha and repo (once each)."""
        release = tx.session.exec(select(Release).where(Release.version == tag[:64],
                                                        Release.status == ACTIVE)).first()
        if release is None or (release.repo and repo and release.repo.lower() != repo.lower()):
            return False
        changes: dict[str, Any] = {}
        if sha and release.sha != sha:
            changes["sha"] = sha
        if not release.ref:
            changes["ref"] = ref[:100]
        if repo and not release.repo:
            changes["repo"] = repo
        if changes:
            tx.save(release, **changes, updated_at=tx.now)
            tx.memo.pop(OPEN_SHAS, None)
            tx.audit(GITHUB, "release", release.id or 0, "source", **changes)
        return True


def _report_fields(kind: str, p: dict[str, Any]) -> tuple[str, str, str, Any, str | None, str] | None:
    """(head sha, name, state word, time, link, free text with values) of a CI delivery."""
    if kind == "status":
        word = text(p.get("state"), 40)
        at = parse_time(p.get("updated_at")) or parse_time(p.get("created_at"))
        return text(p.get("sha"), 64), text(p.get("context")), word, at, _url(p.get("target_url")), \
            text(p.get("description"), 1000)
    body = p.get(kind)
    if not isinstance(body, dict):
        return None
    status, conclusion = text(body.get("status"), 40), text(body.get("conclusion"), 40)
    word = conclusion if status == "completed" and conclusion else status
    if kind == "check_run":
        name = text(body.get("name"))
        at = parse_time(body.get("completed_at")) if status == "completed" else parse_time(body.get("started_at"))
        blurb = f"{text(dig(body, 'output', 'title'), 1000)}\n{text(dig(body, 'output', 'summary'), 5000)}"
        url = _url(body.get("html_url")) or _url(body.get("details_url"))
    elif kind == "check_suite":
        name = text(dig(body, "app", "name"))
        at, blurb, url = parse_time(body.get("updated_at")), "", None
    else:
        name = text(body.get("name"))
        at, blurb, url = parse_time(body.get("updated_at")), "", _url(body.get("html_url"))
    return text(body.get("head_sha"), 64), name, word, at, url, blurb


def _url(value: Any) -> str | None:
    return text(value, 1000) or None
