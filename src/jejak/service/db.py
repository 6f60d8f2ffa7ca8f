"""The service's own tables, in the workspace's ledger database (SQLite, or PostgreSQL when
``JEJAK_DATABASE_URL`` is set), beside the ledger's recipients and releases.

They hold accounts, sessions, release requests, cases and jobs. Nothing here holds a value from
a data row: a request's filter is the one exception a requester types, and only the approver's
and the requester's pages show it (an auditor sees that a filter exists, not its text).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

SCHEMA_VERSION = 1
metadata = sa.MetaData()


def _ts(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


users = sa.Table(
    "svc_users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("failed", sa.Integer, nullable=False, default=0),
    _ts("locked_until", nullable=True),
    _ts("created_at", nullable=False),
)

sessions = sa.Table(
    "svc_sessions", metadata,
    # The cookie holds a random token; the table holds its SHA-256, so a copy of the database
    # does not sign anyone in.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("svc_users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    _ts("created_at", nullable=False),
    _ts("last_seen", nullable=False),
)

tokens = sa.Table(
    "svc_tokens", metadata,
    sa.Column("id", sa.String(16), primary_key=True),  # the public part of the token
    sa.Column("user_id", sa.Integer, sa.ForeignKey("svc_users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("label", sa.String(64), nullable=False),
    _ts("created_at", nullable=False),
    _ts("expires_at", nullable=True),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

requests = sa.Table(
    "svc_requests", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("requester_id", sa.Integer, sa.ForeignKey("svc_users.id"), nullable=False),
    sa.Column("dataset", sa.String(128), nullable=False),
    sa.Column("columns", sa.JSON, nullable=True),
    sa.Column("filter", sa.Text, nullable=True),
    sa.Column("recipient", sa.String(128), nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("as_of", sa.Date, nullable=True),
    sa.Column("format", sa.String(16), nullable=False),
    # pending -> approved -> ready -> downloaded, or rejected, or failed (the job's error)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("decided_by", sa.Integer, sa.ForeignKey("svc_users.id"), nullable=True),
    _ts("decided_at", nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("release_id", sa.String(64), nullable=True),
    sa.Column("file", sa.Text, nullable=True),  # path of the release file, inside the workspace
    sa.Column("link_hash", sa.String(64), nullable=True),
    _ts("link_expires", nullable=True),
    _ts("downloaded_at", nullable=True),
    sa.Column("downloaded_from", sa.String(64), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    _ts("created_at", nullable=False),
)

cases = sa.Table(
    "svc_cases", metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # the library's case id
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("svc_users.id"), nullable=False),
    sa.Column("dataset", sa.String(128), nullable=True),
    sa.Column("upload_name", sa.String(255), nullable=False),
    sa.Column("upload_sha256", sa.String(64), nullable=False),
    sa.Column("upload_size", sa.BigInteger, nullable=False),
    sa.Column("upload_path", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # queued, running, done, failed
    sa.Column("headline", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    _ts("created_at", nullable=False),
)

case_access = sa.Table(
    "svc_case_access", metadata,
    sa.Column("case_id", sa.String(32), sa.ForeignKey("svc_cases.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("svc_users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # assigned (colleague) or granted (external)
    _ts("until", nullable=True),
    sa.Column("granted_by", sa.Integer, sa.ForeignKey("svc_users.id"), nullable=False),
    _ts("granted_at", nullable=False),
)

jobs = sa.Table(
    "svc_jobs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),  # release or investigate
    sa.Column("ref", sa.String(32), nullable=False),  # the request or case it works for
    sa.Column("state", sa.String(16), nullable=False),  # queued, running, done, failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("worker", sa.String(64), nullable=True),
    _ts("lease_until", nullable=True),
    sa.Column("stage", sa.String(64), nullable=True),
    sa.Column("done", sa.Integer, nullable=False, default=0),
    sa.Column("total", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text, nullable=True),
    _ts("created_at", nullable=False),
    _ts("finished_at", nullable=True),
    sa.UniqueConstraint("kind", "ref", name="svc_jobs_one_per_ref"),
)

meta = sa.Table(
    "svc_meta", metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


def now() -> datetime:
    return datetime.now(UTC)


def aware(t: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=UTC)


class Database:
    """The service's tables on the ledger's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine, checkfirst=True)
        with self.engine.begin() as conn:
            have = conn.scalar(sa.select(meta.c.value).where(meta.c.key == "schema"))
            if have is None:
                conn.execute(sa.insert(meta).values(key="schema", value=str(SCHEMA_VERSION)))
            elif int(have) != SCHEMA_VERSION:
                from jejak.errors import JejakError

                raise JejakError(f"the service tables are at schema {have}; this jejak reads {SCHEMA_VERSION}")

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn
