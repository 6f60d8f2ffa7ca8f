"""The ledger: who received which data, when, why, and with which marks.

Every release of personal data is recorded here. The ledger is evidence, so its API only
appends: recipients are added, releases are recorded atomically with the file they describe
(:meth:`Ledger.recording`), and nothing is updated or deleted (the database refuses it too,
through triggers created by the first migration).

The ledger lives in SQLite (``sqlite:///<home>/ledger.sqlite``) or PostgreSQL
(``JEJAK_DATABASE_URL``). The schema is created and upgraded by the Alembic migrations
shipped in ``jejak/ledger/migrations``; :meth:`Ledger.open` runs them.

Release ids look like ``R-20240501-101530-7K3Q9M2X``: the UTC time of issue (so ids sort in
time order) and 40 random bits. They reveal nothing but the time of issue: not how many
releases were made, nor to whom. The random part also keeps ids unique across ledgers —
important because each release's secret is derived from its id, and a ledger rebuilt from
scratch with the same master secret must never hand out an old id again.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from jejak.errors import JejakError
from jejak.ledger.models import (
    RECIPIENT_KINDS,
    RELEASE_KINDS,
    TAG_FIELDS,
    CanaryRow,
    RecipientRow,
    ReleaseRow,
    UnsealedCanaryRow,
)

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest migration's revision. A ledger already there is opened without loading Alembic,
#: which would add a tenth of a second to every command (a test checks this against the scripts).
HEAD = "0003"
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_TAG_RE = _SHA256_RE  # a canary tag is a hex SHA-256 too
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: ids are read aloud and retyped


class LedgerError(JejakError):
    """A ledger operation was refused, or the ledger cannot be reached."""


@dataclass(frozen=True)
class Recipient:
    name: str
    kind: str
    contact: str | None
    note: str | None
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class ReleaseEntry:
    """What the caller asks the ledger to record; see docs/ledger.md for each field."""

    release_id: str
    recipient: str
    dataset: str
    as_of: date
    registry_version: str
    columns: list[str]
    rows: int
    created_at: datetime
    operator: str
    filter: str | None = None
    channels: dict[str, int] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    canaries: int = 0
    purpose: str | None = None
    file_name: str | None = None
    file_sha256: str | None = None
    file_format: str | None = None
    kind: str = "marked"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ReleaseRecord(ReleaseEntry):
    """A release as the ledger holds it (read back from the database)."""


_RELEASE_FIELDS = tuple(f.name for f in fields(ReleaseEntry))


class Recording:
    """The open transaction of one release, handed out by :meth:`Ledger.recording`."""

    def __init__(self, conn: Connection, record: ReleaseRecord) -> None:
        self._conn = conn
        self.record = record
        self.canaries_added = 0

    @property
    def release_id(self) -> str:
        return self.record.release_id

    @property
    def connection(self) -> Connection:
        """The transaction's connection: what else must commit with the release (its audit entry)."""
        return self._conn

    def add_canaries(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Record the release's canary persons as tags (``jejak.channel.canary.tag_row``).

        Keys are ``family`` (an int, optional) and fields of ``TAG_FIELDS``; ``key`` is required.
        Every value must be a tag — 64 lower-case hex digits — so no plaintext can be written
        here by mistake (the database checks the length too).
        """
        if not rows:
            return 0
        values = [self._canary_values(i, row) for i, row in enumerate(rows)]
        try:
            self._conn.execute(sa.insert(CanaryRow), values)
        except IntegrityError as exc:
            raise LedgerError(f"canaries of {self.release_id}: a canary's key tag is given twice") from exc
        except SQLAlchemyError as exc:
            raise LedgerError(f"canaries of {self.release_id} could not be recorded: {_reason(exc)}") from exc
        self.canaries_added += len(values)
        return len(values)

    def _canary_values(self, index: int, row: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(row) - set(TAG_FIELDS) - {"family"})
        if unknown:
            raise LedgerError(
                f"canary {index}: unknown field(s) {', '.join(unknown)}; expected family and {', '.join(TAG_FIELDS)}"
            )
        if not row.get("key"):
            raise LedgerError(f"canary {index}: the key tag is missing")
        family = row.get("family")
        if family is not None and (isinstance(family, bool) or not isinstance(family, int)):
            raise LedgerError(f"canary {index}: family must be an int")
        values: dict[str, Any] = {"release_id": self.release_id, "dataset": self.record.dataset, "family": family}
        for name in TAG_FIELDS:
            value = row.get(name)
            if value is not None and not (isinstance(value, str) and _TAG_RE.fullmatch(value)):
                # Never quote the value: it may be the very plaintext the ledger must not hold.
                raise LedgerError(f"canary {index}: {name} is not a tag (64 lower-case hex digits); "
                                  "the ledger keeps canaries as tags only")
            values[f"{name}_tag"] = value
        return values


class Ledger:
    """Recipients and releases in SQLite or PostgreSQL. Use :meth:`open` to get a migrated one."""

    def __init__(self, url: str) -> None:
        self.url = _normalise_url(url)
        if self.url.get_backend_name() not in ("sqlite", "postgresql"):
            raise LedgerError(f"unsupported ledger database {self._where}; use sqlite:/// or postgresql://")
        self.engine: Engine = sa.create_engine(self.url)
        if self.url.get_backend_name() == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)

    @classmethod
    def open(cls, url: str) -> Ledger:
        ledger = cls(url)
        ledger.upgrade()
        ledger._owner_only()
        return ledger

    def _owner_only(self) -> None:
        """An SQLite ledger names every recipient and release: owner-only, whatever the umask
        (SQLite gives its journal files the database file's mode)."""
        db = self.url.database if self.url.get_backend_name() == "sqlite" else None
        if db and db != ":memory:":
            from jejak.files import private_file

            for suffix in ("", "-wal", "-shm", "-journal"):
                private_file(Path(db + suffix))

    @property
    def _where(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; does nothing when it is already there."""
        if self._revision() == HEAD:
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))  # configparser syntax
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise LedgerError(f"cannot open the ledger at {self._where}: {_reason(exc)}") from exc

    def _revision(self) -> str | None:
        """The schema's revision, or None for a new (or unreadable) database: then Alembic decides."""
        try:
            with self.engine.connect() as conn:
                return conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
        except SQLAlchemyError:
            return None

    @contextmanager
    def _connection(self, *, write: bool = False) -> Iterator[Connection]:
        """A connection (in a transaction when writing) whose database errors become LedgerErrors."""
        try:
            with self.engine.connect() as conn:
                if write:
                    with conn.begin():
                        yield conn
                else:
                    yield conn
        except SQLAlchemyError as exc:
            raise LedgerError(f"the ledger at {self._where} failed: {_reason(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- recipients --------------------------------------------------------------------------

    def add_recipient(
        self, name: str, kind: str, contact: str | None = None, note: str | None = None
    ) -> Recipient:
        name = _check_name(name)
        if kind not in RECIPIENT_KINDS:
            raise LedgerError(f"unknown recipient kind {kind!r}; choose one of {', '.join(RECIPIENT_KINDS)}")
        row = {"name": name, "kind": kind, "contact": contact, "note": note,
               "created_at": datetime.now(UTC).replace(microsecond=0)}
        with self._connection(write=True) as conn:
            # Names differing only in case would be told apart by nobody reading the ledger.
            clash = conn.scalar(
                sa.select(RecipientRow.name).where(sa.func.lower(RecipientRow.name) == name.lower())
            )
            if clash is not None:
                raise LedgerError(f"recipient {clash!r} already exists")
            try:
                conn.execute(sa.insert(RecipientRow).values(**row))
            except IntegrityError as exc:  # a concurrent add of the same name
                raise LedgerError(f"recipient {name!r} already exists") from exc
        log.info("added recipient %s (%s)", name, kind)
        return self.recipient(name)

    def recipients(self) -> list[Recipient]:
        with self._connection() as conn:
            rows = conn.execute(sa.select(*_cols(RecipientRow, Recipient)).order_by(RecipientRow.name))
            return [Recipient(**r._mapping) for r in rows]

    def recipient(self, name: str) -> Recipient:
        with self._connection() as conn:
            return self._recipient(conn, name)

    def _recipient(self, conn: Connection, name: str) -> Recipient:
        row = conn.execute(
            sa.select(*_cols(RecipientRow, Recipient)).where(RecipientRow.name == name)
        ).first()
        if row is None:
            known = conn.scalars(sa.select(RecipientRow.name).order_by(RecipientRow.name)).all()
            raise LedgerError(f"unknown recipient {name!r}; known: {', '.join(known) or '(none yet)'}")
        return Recipient(**row._mapping)

    # -- releases ----------------------------------------------------------------------------

    def new_release_id(self) -> str:
        """A fresh id ``R-YYYYMMDD-HHMMSS-XXXXXXXX`` (UTC time of issue + 40 random bits)."""
        with self._connection() as conn:
            while True:
                stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
                suffix = "".join(secrets.choice(_CROCKFORD) for _ in range(8))
                release_id = f"R-{stamp}-{suffix}"
                taken = conn.scalar(sa.select(ReleaseRow.id).where(ReleaseRow.release_id == release_id))
                if taken is None:
                    return release_id

    @contextmanager
    def recording(self, entry: ReleaseEntry) -> Iterator[Recording]:
        """Record ``entry`` in one transaction that stays open while the caller's block runs.

        The row (and any canaries added through the handle) is inserted before the block runs,
        so a refusal comes before the caller moves its file into place. The transaction
        commits when the block ends normally and rolls back if it raises. If the commit itself
        fails, the exception propagates: the caller must then remove the file it moved.
        """
        values = _release_values(entry)
        caller_failed = False
        try:
            with self.engine.connect() as conn, conn.begin():
                self._recipient(conn, entry.recipient)
                try:
                    conn.execute(sa.insert(ReleaseRow).values(**values))
                except IntegrityError as exc:
                    raise LedgerError(f"release {entry.release_id} is already in the ledger") from exc
                handle = Recording(conn, ReleaseRecord(**{k: values[k] for k in _RELEASE_FIELDS}))
                try:
                    yield handle
                except BaseException:
                    caller_failed = True  # the caller's own error passes through untouched
                    raise
                if handle.canaries_added != entry.canaries:
                    raise LedgerError(
                        f"release {entry.release_id} declares {entry.canaries} canaries "
                        f"but {handle.canaries_added} were added; nothing was recorded"
                    )
        except SQLAlchemyError as exc:
            if caller_failed:
                raise
            raise LedgerError(
                f"the ledger at {self._where} could not record {entry.release_id}: {_reason(exc)}"
            ) from exc
        log.info("recorded release %s (%s, %d rows)", entry.release_id, entry.kind, entry.rows)

    def releases(self, dataset: str | None = None, recipient: str | None = None) -> list[ReleaseRecord]:
        """Releases in time order (ties: order of recording)."""
        query = sa.select(*_cols(ReleaseRow, ReleaseRecord)).order_by(ReleaseRow.created_at, ReleaseRow.id)
        if dataset is not None:
            query = query.where(ReleaseRow.dataset == dataset)
        with self._connection() as conn:
            if recipient is not None:
                self._recipient(conn, recipient)  # a typo should not look like "no releases"
                query = query.where(ReleaseRow.recipient == recipient)
            return [ReleaseRecord(**r._mapping) for r in conn.execute(query)]

    def release(self, release_id: str) -> ReleaseRecord:
        query = sa.select(*_cols(ReleaseRow, ReleaseRecord)).where(ReleaseRow.release_id == release_id)
        with self._connection() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise LedgerError(f"unknown release {release_id!r}: it is not in the ledger at {self._where}")
        return ReleaseRecord(**row._mapping)

    def canaries(self, dataset: str | None = None, release_id: str | None = None) -> list[dict[str, Any]]:
        """Canary persons in order of recording: ``release_id``, ``dataset``, ``family`` and a tag per field
        of ``TAG_FIELDS`` (keys without ``_tag``).

        Refuses while canaries recorded before tags wait to be sealed (:meth:`seal_canaries`): a
        list without them would make their evidence vanish silently.
        """
        cols = [CanaryRow.release_id, CanaryRow.dataset, CanaryRow.family,
                *(getattr(CanaryRow, f"{f}_tag").label(f) for f in TAG_FIELDS)]
        query = sa.select(*cols).order_by(CanaryRow.id)
        waiting = sa.select(sa.func.count()).select_from(UnsealedCanaryRow)
        if dataset is not None:
            query = query.where(CanaryRow.dataset == dataset)
            waiting = waiting.where(UnsealedCanaryRow.dataset == dataset)
        if release_id is not None:
            query = query.where(CanaryRow.release_id == release_id)
            waiting = waiting.where(UnsealedCanaryRow.release_id == release_id)
        with self._connection() as conn:
            unsealed = conn.scalar(waiting)
            if unsealed:
                raise LedgerError(
                    f"the ledger at {self._where} holds {unsealed} canaries recorded before canary tags; "
                    "any command that has the master secret seals them (e.g. jejak investigate)")
            return [dict(r._mapping) for r in conn.execute(query)]

    def seal_canaries(self, index_key: bytes) -> int:
        """Turn every canary recorded in plaintext (before revision 0002) into tags, and delete the
        plaintext, in one transaction; returns how many were sealed (0 at once when none wait).

        ``index_key`` is ``jejak.keys.canary_index_key(master)``. The plaintext rows are read, their
        tags inserted into ``canaries`` and the rows deleted from ``canaries_unsealed`` together, so
        a canary is never lost nor held twice. Family is unknown for them (the bound then counts
        a release's sealed canaries as one family, which is conservative).
        """
        from jejak.channel.canary import tag_row

        with self._connection() as conn:
            if conn.scalar(sa.select(UnsealedCanaryRow.id).limit(1)) is None:
                return 0
        plain = [c.name for c in UnsealedCanaryRow.__table__.columns]
        try:
            with self._connection(write=True) as conn:
                rows = conn.execute(sa.select(UnsealedCanaryRow).order_by(UnsealedCanaryRow.id)).all()
                if not rows:  # another process sealed them meanwhile
                    return 0
                sealed = []
                for r in rows:
                    m = dict(zip(plain, r, strict=True))
                    tags = tag_row(m, index_key)
                    sealed.append({"release_id": m["release_id"], "dataset": m["dataset"], "family": None,
                                   **{f"{f}_tag": tags[f] for f in TAG_FIELDS}})
                conn.execute(sa.insert(CanaryRow), sealed)
                conn.execute(sa.delete(UnsealedCanaryRow).where(UnsealedCanaryRow.id.in_([r.id for r in rows])))
        except LedgerError:
            with self._connection() as conn:  # a concurrent seal: fine when nothing is left
                if conn.scalar(sa.select(UnsealedCanaryRow.id).limit(1)) is None:
                    return 0
            raise
        log.info("sealed %d canaries recorded in plaintext into tags", len(sealed))
        return len(sealed)


# -- internals ---------------------------------------------------------------------------------


def _normalise_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise LedgerError("not a database URL; use sqlite:///... or postgresql://...") from exc
    # Plain postgresql:// would pick psycopg2, which jejak does not install; psycopg 3 is the driver.
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")  # off by default in SQLite, per connection
    # Deleted rows (plaintext canaries being sealed) are overwritten, not left in free pages.
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def _reason(exc: SQLAlchemyError) -> str:
    # The driver's first line says what went wrong (unreachable, refused, locked) without data.
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def _cols(table: type[Any], record: type[Any]) -> list[Any]:
    return [getattr(table, f.name) for f in fields(record)]


def _check_name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean or len(clean) > 200 or not clean.isprintable():
        raise LedgerError("a recipient name must be 1-200 printable characters")
    if clean != name:
        raise LedgerError(f"recipient name {name!r} has extra spaces; use {clean!r}")
    return name


def _release_values(entry: ReleaseEntry) -> dict[str, Any]:
    """Check an entry before it is written; every refusal names the field, never a data value."""
    rid = entry.release_id
    if not _ID_RE.fullmatch(rid):
        raise LedgerError("a release id must be 1-64 letters, digits, '.', '_' or '-'")
    if entry.kind not in RELEASE_KINDS:
        raise LedgerError(f"release {rid}: kind must be one of {', '.join(RELEASE_KINDS)}")
    if entry.created_at.tzinfo is None or entry.created_at.utcoffset() is None:
        raise LedgerError(f"release {rid}: created_at must be timezone-aware")
    if entry.rows < 0 or entry.canaries < 0:
        raise LedgerError(f"release {rid}: rows and canaries cannot be negative")
    if not entry.columns or not all(isinstance(c, str) for c in entry.columns):
        raise LedgerError(f"release {rid}: columns must be a non-empty list of names")
    has_file = entry.file_name is not None or entry.file_sha256 is not None
    if entry.kind == "registered" and (has_file or entry.canaries):
        raise LedgerError(f"release {rid}: a registered release has no file and no canaries")
    if entry.kind == "marked" and not (entry.file_name and entry.file_sha256):
        raise LedgerError(f"release {rid}: a marked release needs file_name and file_sha256")
    if entry.file_sha256 is not None and not _SHA256_RE.fullmatch(entry.file_sha256):
        raise LedgerError(f"release {rid}: file_sha256 must be 64 lower-case hex digits")
    for name in ("channels", "policy", "extra"):
        if not isinstance(getattr(entry, name), dict):
            raise LedgerError(f"release {rid}: {name} must be a dict")
        try:
            json.dumps(getattr(entry, name))
        except (TypeError, ValueError) as exc:
            raise LedgerError(f"release {rid}: {name} cannot be stored as JSON ({exc})") from exc
    values = {name: getattr(entry, name) for name in _RELEASE_FIELDS}
    values["created_at"] = entry.created_at.astimezone(UTC)
    values["columns"] = list(entry.columns)
    values["channels"] = {str(k): int(v) for k, v in entry.channels.items()}
    return values
