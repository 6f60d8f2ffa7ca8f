"""The ledger's tables, as SQLAlchemy models.

These models describe the schema that the Alembic migrations create; they are not the API
(`jejak.ledger.store` hands out plain dataclasses, so no caller ever holds a session-bound
object). A test compares them with the migrated database, so the two cannot drift apart.

Types are chosen to behave the same on SQLite and PostgreSQL: JSON for structured fields,
timezone-aware timestamps that always come back in UTC, and strings for every identifier.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RECIPIENT_KINDS = ("branch", "vendor", "hospital", "ministry", "researcher", "other")
RELEASE_KINDS = ("marked", "registered")
#: A canary's fields in plaintext (as drawn; as ledgers before revision 0002 stored them).
CANARY_FIELDS = ("canary_key", "nik", "noka", "phone", "email", "name", "birth_date")
#: A canary's fields as the ledger keeps them: a tag each (column ``<field>_tag``).
TAG_FIELDS = ("key", "nik", "noka", "name", "phone", "email", "birth_date")

# Deterministic constraint names: the migrations spell the same names by hand, and a future
# migration can drop or alter a constraint by name on both backends.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite has no timestamp type; store UTC as text with an explicit offset so that a person
# reading the file with any SQLite tool sees the time zone. Fixed width keeps text order = time order.
_SQLITE_UTC = sqlite.DATETIME(
    storage_format="%(year)04d-%(month)02d-%(day)02dT%(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d+00:00",
    regexp=r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)\+00:00",
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that must be timezone-aware going in and is aware UTC coming out."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLITE_UTC)
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            # A naive time is ambiguous evidence; refuse it rather than guess the zone.
            raise ValueError("ledger timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class RecipientRow(Base):
    __tablename__ = "recipients"
    __table_args__ = (sa.CheckConstraint(_in("kind", RECIPIENT_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    contact: Mapped[str | None] = mapped_column(sa.String(500))
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReleaseRow(Base):
    __tablename__ = "releases"
    __table_args__ = (sa.CheckConstraint(_in("kind", RELEASE_KINDS), name="kind"),)

    # `id` gives insertion order, which breaks ties between releases made in the same second.
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The recipient's name, not a surrogate id: a raw dump of the table reads as evidence.
    recipient: Mapped[str] = mapped_column(sa.String(200), sa.ForeignKey("recipients.name"), index=True)
    dataset: Mapped[str] = mapped_column(sa.String(200), index=True)
    as_of: Mapped[date] = mapped_column(sa.Date)
    registry_version: Mapped[str] = mapped_column(sa.String(200))
    columns: Mapped[list[str]] = mapped_column(sa.JSON)
    filter: Mapped[str | None] = mapped_column(sa.Text)
    rows: Mapped[int] = mapped_column(sa.BigInteger)
    channels: Mapped[dict[str, int]] = mapped_column(sa.JSON)
    policy: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    canaries: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    operator: Mapped[str] = mapped_column(sa.String(200))
    purpose: Mapped[str | None] = mapped_column(sa.Text)
    file_name: Mapped[str | None] = mapped_column(sa.String(500))
    file_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    file_format: Mapped[str | None] = mapped_column(sa.String(20))
    kind: Mapped[str] = mapped_column(sa.String(20))
    extra: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


class CanaryRow(Base):
    """One synthetic person planted in one release, as tags only (``jejak.channel.canary.tag``).

    Each tag is 64 hex digits, keyed by the canary index key (derived from the master secret,
    which is never here): whoever reads the ledger learns which releases had canaries and how
    many, never a value to copy into a forged leak. ``family`` numbers the families the release's
    canaries were drawn in (null for canaries sealed from an old ledger, where it is unknown).
    """

    __tablename__ = "canaries"
    __table_args__ = (
        sa.UniqueConstraint("release_id", "key_tag"),
        *(sa.CheckConstraint(f"length({f}_tag) = 64", name=f"{f}_tag") for f in TAG_FIELDS),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("releases.release_id"))
    dataset: Mapped[str] = mapped_column(sa.String(200))
    family: Mapped[int | None] = mapped_column(sa.Integer)
    key_tag: Mapped[str] = mapped_column(sa.String(64))
    nik_tag: Mapped[str | None] = mapped_column(sa.String(64))
    noka_tag: Mapped[str | None] = mapped_column(sa.String(64))
    name_tag: Mapped[str | None] = mapped_column(sa.String(64))
    phone_tag: Mapped[str | None] = mapped_column(sa.String(64))
    email_tag: Mapped[str | None] = mapped_column(sa.String(64))
    birth_date_tag: Mapped[str | None] = mapped_column(sa.String(64))


class UnsealedCanaryRow(Base):
    """A canary recorded in plaintext before revision 0002, waiting to be sealed into ``canaries``.

    ``Ledger.seal_canaries`` moves every row into ``canaries`` as tags and deletes it here, in one
    transaction; every command that holds the master secret does so when it opens the ledger, so
    this table is empty in any ledger such a command has opened since the upgrade.
    """

    __tablename__ = "canaries_unsealed"
    __table_args__ = (sa.UniqueConstraint("release_id", "canary_key"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    release_id: Mapped[str] = mapped_column(sa.String(64), sa.ForeignKey("releases.release_id"))
    dataset: Mapped[str] = mapped_column(sa.String(200))
    canary_key: Mapped[str] = mapped_column(sa.String(200))
    nik: Mapped[str | None] = mapped_column(sa.String(64))
    noka: Mapped[str | None] = mapped_column(sa.String(64))
    phone: Mapped[str | None] = mapped_column(sa.String(64))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    birth_date: Mapped[str | None] = mapped_column(sa.String(32))


class AuditEntryRow(Base):
    """One entry of the audit log (``jejak.audit``): who did what to which id, chained by hash.

    ``seq`` is the primary key rather than a surrogate id: two writers that both read entry N as
    the newest and both try to append N+1 collide on it, and one of them retries.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.CheckConstraint("length(hash) = 64", name="hash"),
        sa.CheckConstraint("length(prev_hash) = 64", name="prev_hash"),
    )

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target: Mapped[str | None] = mapped_column(sa.String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditCheckpointRow(Base):
    """An Ed25519 signature over one audit entry's (seq, hash), made with a key derived from the
    master secret; the public half is ``audit.pub`` in the workspace."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (sa.CheckConstraint("length(hash) = 64", name="hash"),)

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(sa.String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signature: Mapped[str] = mapped_column(sa.String(128))
