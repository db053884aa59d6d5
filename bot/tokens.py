"""Scoped API tokens: created once (only a hash is kept), checked in constant time.

``WARROOM_API_TOKEN`` keeps working as a read-only token; named tokens made with
``warroom token create`` carry the scopes they were given.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import col, select

from bot.database import Database
from bot.errors import NotFound, UsageError
from storage.models import ApiToken, table_of


class Scope(StrEnum):
    """What a token may do."""

    READ = "read"
    RELEASES_WRITE = "releases:write"
    CHECKS_WRITE = "checks:write"


@dataclass(frozen=True)
class Caller:
    """Who called the API, and what they may do."""

    name: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        """True when this caller holds ``scope`` (any write scope implies read)."""
        return scope in self.scopes or (scope == Scope.READ and bool(self.scopes))


def digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """Create, list, revoke and check API tokens."""

    def __init__(self, db: Database, read_token: str | None) -> None:
        self.db = db
        self._read_digest = digest(read_token) if read_token else None

    def create(self, name: str, scopes: list[str]) -> str:
        """Make a token named ``name``; the secret is returned once and never stored."""
        if not name or len(name) > 64:
            raise UsageError("a token name is 1 to 64 characters")
        unknown = sorted(set(scopes) - {s.value for s in Scope})
        if unknown:
            raise UsageError(f"unknown scope {unknown[0]!r}; use one of {', '.join(s.value for s in Scope)}")
        secret = "wr_" + secrets.token_urlsafe(32)
        with self.db.transaction() as tx:
            taken = tx.session.exec(select(ApiToken.id).where(ApiToken.name == name)).first()
            if taken is not None:
                raise UsageError(f"a token named {name!r} exists; revoke it first")
            tx.insert(ApiToken(name=name, token_hash=digest(secret), scopes=sorted(set(scopes) or {Scope.READ}),
                               created_at=tx.now))
        return secret

    def list(self) -> list[ApiToken]:
        """Every token, revoked ones included, oldest first."""
        with self.db.read() as session:
            return list(session.exec(select(ApiToken).order_by(col(ApiToken.id))))

    def revoke(self, name: str) -> None:
        """Revoke the token named ``name``."""
        with self.db.transaction() as tx:
            table = table_of(ApiToken)
            done = tx.session.connection().execute(
                update(table).where(table.c.name == name, table.c.revoked_at.is_(None))
                .values(revoked_at=tx.now)).rowcount
        if not done:
            raise NotFound(f"no active token named {name!r}")

    def check(self, token: str) -> Caller | None:
        """The caller a presented token stands for, or None."""
        given = digest(token)
        if self._read_digest and hmac.compare_digest(given, self._read_digest):
            return Caller("api", frozenset({Scope.READ.value}))
        with self.db.read() as session:
            # Looked up by its hash, so the comparison is of hashes, not of the secret itself.
            row = session.exec(select(ApiToken).where(ApiToken.token_hash == given)).first()
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, given):
            return None
        return Caller(row.name, frozenset(row.scopes))
