"""The audit log: who did what, to which id, when — chained by hash, with signed checkpoints.

Every state-changing command appends one entry (``record``). An entry holds ids, counts,
hashes and file names, never a value from a data row: the log is read by auditors who must not
see personal data, and it outlives the data it describes. See docs/audit.md.

Three layers make tampering visible to :func:`verify`:

* **the chain** — each entry's hash covers its content and the previous entry's hash, so an
  edited, deleted, reordered or inserted entry breaks the chain at that entry or the next;
* **checkpoints** — an Ed25519 signature over (seq, hash) of an ``audit.checkpoint`` entry, made
  with a key derived from the master secret. Someone who rewrites the database can recompute
  hashes, but cannot sign without the secret; ``audit.pub`` lets anyone check the signatures;
* **the head file** — ``audit.head`` in the workspace holds the newest entry's seq and hash, so
  entries deleted after the last checkpoint (where no signature covers them) are noticed.

The entries live in the ledger database (tables ``audit_log`` and ``audit_checkpoints``,
migration 0003), which also refuses UPDATE and DELETE on them through triggers.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import logging
import os
import re
import time as _time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from jejak.errors import JejakError, WorkspaceError
from jejak.files import write_private
from jejak.ledger.models import AuditCheckpointRow, AuditEntryRow

if TYPE_CHECKING:
    from jejak.ledger import Ledger
    from jejak.workspace import Workspace

log = logging.getLogger(__name__)

GENESIS = "0" * 64  # the prev_hash of entry 1
CHECKPOINT_ACTION = "audit.checkpoint"
#: A checkpoint is signed automatically after this many entries (when the master secret is at hand).
CHECKPOINT_EVERY = 100
HEAD_FILE = "audit.head"
PUBLIC_KEY_FILE = "audit.pub"
LOCK_FILE = "audit.lock"
DETAIL_MAX = 4000  # characters of canonical JSON: a detail is a few facts, not a payload
_ACTION_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_ENCODING = "jejak-audit/v1"
_SIGNED = "jejak-audit-checkpoint/v1"
_RETRIES = 20


class AuditError(JejakError):
    """The audit log refused an entry or cannot be read."""


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    time: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": _iso(self.time), "actor": self.actor, "action": self.action,
                "target": self.target, "detail": self.detail, "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    signed_at: datetime
    signature: str  # hex


@dataclass(frozen=True)
class Verification:
    """What :func:`verify` found: ``intact``, or the first entry that fails and why (one sentence)."""

    intact: bool
    entries: int
    last_checkpoint: int | None
    failed_seq: int | None = None
    reason: str | None = None

    @property
    def message(self) -> str:
        if self.intact:
            where = f"last checkpoint at seq {self.last_checkpoint}" if self.last_checkpoint else "no checkpoint yet"
            return f"intact: {self.entries} entries, {where}"
        return self.reason or "the audit log failed verification"

    def to_json(self) -> dict[str, Any]:
        return {"intact": self.intact, "entries": self.entries, "last_checkpoint": self.last_checkpoint,
                "failed_seq": self.failed_seq, "message": self.message}


# -- hashing -------------------------------------------------------------------------------------


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(seq: int, time: datetime, actor: str, action: str, target: str | None,
              detail: Mapping[str, Any], prev_hash: str) -> bytes:
    """The bytes an entry's hash covers: one JSON array, sorted keys, no spaces, ASCII only, so
    the same entry encodes the same way on every machine and backend."""
    return json.dumps([_ENCODING, seq, _iso(time), actor, action, target, detail, prev_hash],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def entry_hash(seq: int, time: datetime, actor: str, action: str, target: str | None,
               detail: Mapping[str, Any], prev_hash: str) -> str:
    return hashlib.sha256(canonical(seq, time, actor, action, target, detail, prev_hash)).hexdigest()


def _signed_bytes(seq: int, hash_: str) -> bytes:
    return f"{_SIGNED}\n{seq}\n{hash_}".encode()


def actor_name() -> str:
    """Who runs this process (the OS user), as releases record their operator."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


# -- the log -------------------------------------------------------------------------------------


class AuditLog:
    """The audit log of one workspace: its ledger database plus the head and key files in ``home``."""

    def __init__(self, ledger: Ledger, home: Path, *, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.ledger = ledger
        self.home = home
        self.checkpoint_every = checkpoint_every

    @property
    def head_path(self) -> Path:
        return self.home / HEAD_FILE

    @property
    def public_key_path(self) -> Path:
        return self.home / PUBLIC_KEY_FILE

    # -- writing --

    def append(self, action: str, target: str | None = None, detail: Mapping[str, Any] | None = None, *,
               actor: str | None = None, master: bytes | None = None) -> AuditEntry:
        """Append one entry; with ``master``, also sign a checkpoint when one is due.

        Writers of one workspace take turns under ``audit.lock`` from reading the end of the chain
        to moving the head, so the head never lags a committed entry. Writers that do not share the
        lock (another machine on the same PostgreSQL) may both read entry N as the newest; both
        try to insert N+1, the primary key lets one win, and the other reads again and retries.
        """
        make, signer = self._prepare(action, target, detail, actor, master)
        with self._head_lock():
            self._check_head_before_append()
            entry, checkpoint = self._insert(make, signer)
            self._move_head(checkpoint[0] if checkpoint else entry)
        log.info("audit: %s %s (entry %d)", action, target or "", entry.seq)
        return entry

    def _prepare(self, action: str, target: str | None, detail: Mapping[str, Any] | None, actor: str | None,
                 master: bytes | None) -> tuple[Callable[[int, str, datetime], AuditEntry], Ed25519PrivateKey | None]:
        """An entry checked and ready to be numbered (``make(seq, prev_hash, now)``), and the key that
        signs a checkpoint when one is due (None without ``master``, or when it cannot be used)."""
        actor = _check_text(actor or actor_name(), "actor")
        target = None if target is None else _check_text(target, "target")
        if not _ACTION_RE.fullmatch(action) or len(action) > 64:
            raise AuditError(f"audit action {action!r} must be dotted lower-case words, e.g. release.create")
        clean = _clean_detail(detail or {})
        signer = None
        if master is not None:
            try:
                signer = self._signer(master)
            except AuditError as exc:
                # The work is done or about to commit: record it unsigned rather than not at all;
                # verify and 'jejak audit checkpoint' report the key problem.
                log.warning("%s; the entry is recorded without a checkpoint", exc)
        return (lambda seq, prev, now: self._entry(seq, now, actor, action, target, clean, prev)), signer

    def checkpoint(self, master: bytes, *, actor: str | None = None) -> Checkpoint:
        """Append an ``audit.checkpoint`` entry and sign it, in one transaction."""
        actor = _check_text(actor or actor_name(), "actor")
        signer = self._signer(master)
        with self._head_lock():
            self._check_head_before_append()
            _, checkpoint = self._insert(None, signer, actor=actor)
            assert checkpoint is not None  # a checkpoint is always made when no entry is given
            self._move_head(checkpoint[0])
        return checkpoint[1]

    def _signer(self, master: bytes) -> Ed25519PrivateKey:
        from jejak.keys import audit_signing_key

        signer = audit_signing_key(master)
        self._ensure_public_key(signer.public_key())
        return signer

    def _entry(self, seq: int, now: datetime, actor: str, action: str, target: str | None,
               detail: dict[str, Any], prev: str) -> AuditEntry:
        return AuditEntry(seq, now, actor, action, target, detail, prev,
                          entry_hash(seq, now, actor, action, target, detail, prev))

    def _insert(self, make: Callable[[int, str, datetime], AuditEntry] | None, signer: Ed25519PrivateKey | None,
                *, actor: str | None = None) -> tuple[AuditEntry, tuple[AuditEntry, Checkpoint] | None]:
        """Insert ``make(seq, prev_hash, now)`` (or only a checkpoint when ``make`` is None) at the end
        of the chain, retrying when another writer took the seq first."""
        for attempt in range(_RETRIES):
            try:
                with self.ledger.engine.begin() as conn:
                    return self._insert_on(conn, make, signer, actor=actor)
            except IntegrityError:
                pass  # another writer appended first: read the new end and try again
            except OperationalError as exc:
                if "locked" not in str(exc.orig):  # SQLite's busy writer: wait like for a conflict
                    raise AuditError(f"the audit log could not be written: {_reason(exc)}") from exc
            except SQLAlchemyError as exc:
                raise AuditError(f"the audit log could not be written: {_reason(exc)}") from exc
            _time.sleep(0.01 * (attempt + 1))
        raise AuditError(f"the audit log could not be written: {_RETRIES} concurrent writers kept taking the "
                         "next entry")

    def _insert_on(self, conn: sa.Connection, make: Callable[[int, str, datetime], AuditEntry] | None,
                   signer: Ed25519PrivateKey | None, *, actor: str | None = None
                   ) -> tuple[AuditEntry, tuple[AuditEntry, Checkpoint] | None]:
        last = conn.execute(sa.select(AuditEntryRow.seq, AuditEntryRow.hash)
                            .order_by(AuditEntryRow.seq.desc()).limit(1)).first()
        seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
        now = datetime.now(UTC)
        entry = None
        if make is not None:
            entry = make(seq + 1, prev, now)
            conn.execute(sa.insert(AuditEntryRow).values(**asdict(entry)))
            seq, prev = entry.seq, entry.hash
        signed = None
        if signer is not None and (make is None or self._due(conn, seq)):
            previous = conn.scalar(sa.select(sa.func.max(AuditCheckpointRow.seq)))
            mark = self._entry(seq + 1, now, actor or (entry.actor if entry else actor_name()),
                               CHECKPOINT_ACTION, None, {"previous_checkpoint": previous}, prev)
            conn.execute(sa.insert(AuditEntryRow).values(**asdict(mark)))
            cp = Checkpoint(mark.seq, mark.hash, now, signer.sign(_signed_bytes(mark.seq, mark.hash)).hex())
            conn.execute(sa.insert(AuditCheckpointRow).values(**asdict(cp)))
            signed = (mark, cp)
            entry = entry or mark
        assert entry is not None
        return entry, signed

    @contextlib.contextmanager
    def within(self) -> Iterator[Within]:
        """Entries written inside a transaction of the caller's on the ledger's database, so that
        the work and its record commit together or not at all (a release and its ``release.create``).

        The turn of this workspace's writers is held from before the caller's transaction to after
        its end, and the head file moves only when the block ends normally, i.e. after the commit.
        """
        with self._head_lock():
            self._check_head_before_append()
            w = Within(self)
            yield w
            if w.last is not None:
                try:
                    self._move_head(w.last)
                except (OSError, AuditError) as exc:
                    # The work and its entry have committed: a head that could not follow is for
                    # verify to report (and the next append to move on), not a reason to fail.
                    log.warning("the audit head file could not be moved to entry %d: %s", w.last.seq,
                                type(exc).__name__)

    def _due(self, conn: sa.Connection, seq: int) -> bool:
        last = conn.scalar(sa.select(sa.func.max(AuditCheckpointRow.seq))) or 0
        return seq - last >= self.checkpoint_every

    def _ensure_public_key(self, public: Ed25519PublicKey) -> None:
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        if self.public_key_path.exists():
            if self.public_key_path.read_bytes() != pem:
                # Signing with a key that audit.pub does not hold would make every later checkpoint
                # look forged; the master secret was changed or audit.pub was replaced.
                raise AuditError(f"{self.public_key_path} does not belong to this workspace's master secret; "
                                 "checkpoints cannot be signed until they match")
            return
        write_private(self.public_key_path, pem.decode())

    # -- the head file --

    @contextlib.contextmanager
    def _head_lock(self) -> Iterator[None]:
        path = self.home / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except PermissionError:
            # An auditor's read-only account may verify; flock needs no write access to the file.
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                yield  # no lock file and no right to make one: an append running meanwhile may be reported
                return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def read_head(self) -> tuple[int, str] | None:
        try:
            data = json.loads(self.head_path.read_text())
            return int(data["seq"]), str(data["hash"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            raise AuditError(f"{self.head_path} is not a jejak audit head file") from None

    def _move_head(self, entry: AuditEntry) -> None:
        """Replace the head file atomically (a reader sees the old head or the new one, never half),
        and only forwards; called under :meth:`_head_lock`."""
        head = self.read_head()
        if head is not None and head[0] >= entry.seq:
            return
        tmp = self.head_path.with_name(f"{HEAD_FILE}.{os.getpid()}.tmp")
        write_private(tmp, json.dumps({"seq": entry.seq, "hash": entry.hash}) + "\n")
        os.replace(tmp, self.head_path)

    def _check_head_before_append(self) -> None:
        """Say so when the database no longer ends where the head file does; the append goes ahead
        (the command's work is already done), and verify names the entry."""
        head = self.read_head()
        if head is None:
            return
        with self._connection() as conn:
            last = conn.execute(sa.select(AuditEntryRow.seq, AuditEntryRow.hash)
                                .order_by(AuditEntryRow.seq.desc()).limit(1)).first()
        if last is None or (last.seq, last.hash) != head:
            log.warning("the audit log does not end where %s says it does; run 'jejak audit verify'", HEAD_FILE)

    # -- reading --

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        try:
            with self.ledger.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise AuditError(f"the audit log could not be read: {_reason(exc)}") from exc

    def entries(self, limit: int | None = None, before: int | None = None) -> list[AuditEntry]:
        """Entries oldest first; with ``limit``, only the newest ``limit`` (of those before entry ``before``)."""
        query = sa.select(*_columns()).order_by(AuditEntryRow.seq.desc())
        if before is not None:
            query = query.where(AuditEntryRow.seq < before)
        if limit is not None:
            query = query.limit(limit)
        with self._connection() as conn:
            rows = [AuditEntry(**r._mapping) for r in conn.execute(query)]
        return rows[::-1]

    def checkpoints(self) -> list[Checkpoint]:
        cols = [getattr(AuditCheckpointRow, c) for c in ("seq", "hash", "signed_at", "signature")]
        with self._connection() as conn:
            return [Checkpoint(**r._mapping) for r in conn.execute(sa.select(*cols).order_by(AuditCheckpointRow.seq))]

    # -- verifying --

    def verify(self, public_key: Ed25519PublicKey | None = None) -> Verification:
        """Walk the chain from entry 1 and stop at the first entry that fails.

        ``public_key`` defaults to ``audit.pub``; an auditor passes a copy kept elsewhere, since
        whoever can rewrite the workspace can also replace the file.
        """
        key = public_key if public_key is not None else self._load_public_key()
        # Head, end of the log and checkpoints are read together under the writers' lock, so an
        # append running meanwhile is not mistaken for tampering; the walk then stops at that end.
        with self._head_lock(), self._connection() as conn:
            head = self.read_head()
            end = conn.scalar(sa.select(sa.func.max(AuditEntryRow.seq))) or 0
            pending = {c.seq: c for c in self.checkpoints()}
        n, prev, last_cp = 0, GENESIS, None

        def fail(seq: int | None, reason: str) -> Verification:
            return Verification(False, n, last_cp, seq, reason)

        with self._connection() as conn:
            for row in conn.execute(sa.select(*_columns()).where(AuditEntryRow.seq <= end)
                                    .order_by(AuditEntryRow.seq)):
                e = AuditEntry(**row._mapping)
                expected = n + 1
                if e.seq != expected:
                    if e.seq < expected:  # only possible once the primary key itself was dropped
                        return fail(e.seq, f"entry {e.seq} appears more than once")
                    after = f"the log goes from entry {n} to entry {e.seq}" if n else f"the log starts at entry {e.seq}"
                    return fail(expected, f"entry {expected} is missing: {after}")
                if entry_hash(e.seq, e.time, e.actor, e.action, e.target, e.detail, e.prev_hash) != e.hash:
                    return fail(e.seq, f"entry {e.seq} was altered: its content or position no longer matches "
                                       "its hash")
                if e.prev_hash != prev:
                    return fail(e.seq, f"entry {e.seq} does not follow entry {n}: entry {n} was replaced, or an "
                                       f"entry was inserted or removed between them")
                cp = pending.pop(e.seq, None)
                if cp is None and e.action == CHECKPOINT_ACTION:
                    return fail(e.seq, f"entry {e.seq} records a checkpoint whose signature was removed")
                if cp is not None:
                    problem = _check_signature(cp, key)
                    if problem:
                        return fail(e.seq, problem)
                    if cp.hash != e.hash:
                        return fail(e.seq, f"entry {e.seq} is not the entry its checkpoint signed: it was replaced")
                    last_cp = e.seq
                n, prev = e.seq, e.hash
        for cp in sorted(pending.values(), key=lambda c: c.seq):  # checkpoints beyond the end
            problem = _check_signature(cp, key)
            if problem:
                return fail(cp.seq, problem)
            return fail(n + 1, f"entry {n + 1} is missing: {_end(n)} but a checkpoint was signed at entry "
                               f"{cp.seq} (entries were deleted from the end)")
        if head is None:
            if n:
                return fail(None, f"{HEAD_FILE} is missing, so deletions after the last checkpoint cannot be "
                                  "ruled out")
            return Verification(True, n, last_cp)
        head_seq, head_hash = head
        if head_seq > n:
            return fail(n + 1, f"entry {n + 1} is missing: {_end(n)} but {HEAD_FILE} records entry {head_seq} "
                               "(entries were deleted from the end)")
        if head_seq < n:
            return fail(head_seq + 1, f"entry {head_seq + 1} is beyond {HEAD_FILE}, which ends at entry {head_seq}: "
                                      "it was added outside jejak, or a writer stopped before updating the head")
        if head_hash != prev:
            return fail(n, f"entry {n} is not the entry {HEAD_FILE} records: it was replaced")
        return Verification(True, n, last_cp)

    def _load_public_key(self) -> Ed25519PublicKey | None:
        try:
            return load_public_key(self.public_key_path)
        except FileNotFoundError:
            return None


class Within:
    """Appends inside the caller's transaction (see :meth:`AuditLog.within`)."""

    def __init__(self, log_: AuditLog) -> None:
        self._log = log_
        self.last: AuditEntry | None = None

    def append(self, conn: sa.Connection, action: str, target: str | None, detail: Mapping[str, Any], *,
               actor: str | None = None, master: bytes | None = None) -> AuditEntry:
        """Append one entry (and a checkpoint when one is due) on ``conn``, in its transaction. A
        writer on another machine that keeps taking the next entry number makes the caller's whole
        transaction fail: the work is not done unrecorded, and can be run again."""
        make, signer = self._log._prepare(action, target, detail, actor, master)
        for attempt in range(_RETRIES):
            try:
                # A savepoint: a writer on another machine that took the next number first costs a
                # retry of the entry, not the caller's whole transaction.
                with conn.begin_nested():
                    entry, checkpoint = self._log._insert_on(conn, make, signer)
                break
            except IntegrityError:
                _time.sleep(0.01 * (attempt + 1))
        else:
            raise AuditError(f"the audit log could not be written: {_RETRIES} concurrent writers kept taking the "
                             "next entry")
        self.last = checkpoint[0] if checkpoint else entry
        log.info("audit: %s %s (entry %d)", action, target or "", entry.seq)
        return entry


def _end(n: int) -> str:
    return f"the log ends at entry {n}" if n else "the log is empty"


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError:
        raise AuditError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"{path} is not an Ed25519 public key")
    return key


def _check_signature(cp: Checkpoint, key: Ed25519PublicKey | None) -> str | None:
    if key is None:
        return f"the checkpoint at entry {cp.seq} cannot be checked: {PUBLIC_KEY_FILE} is missing"
    try:
        key.verify(bytes.fromhex(cp.signature), _signed_bytes(cp.seq, cp.hash))
    except (InvalidSignature, ValueError):
        return f"the checkpoint at entry {cp.seq} has an invalid signature: it was forged or altered"
    return None


def _columns() -> list[Any]:
    return [getattr(AuditEntryRow, c) for c in
            ("seq", "time", "actor", "action", "target", "detail", "prev_hash", "hash")]


def _check_text(value: str, what: str) -> str:
    if not value or len(value) > 200 or not value.isprintable():
        raise AuditError(f"an audit {what} must be 1-200 printable characters")
    return value


def _clean_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The detail as the database will give it back (tuples become lists, keys strings), so the
    hash computed now is the hash recomputed by verify."""
    try:
        text = json.dumps(dict(detail), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AuditError(f"an audit detail must be plain JSON ({type(exc).__name__})") from None
    if len(text) > DETAIL_MAX:
        raise AuditError(f"an audit detail must stay under {DETAIL_MAX} characters: counts, ids and hashes only")
    clean: dict[str, Any] = json.loads(text)
    return clean


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


# -- the workspace's log, for the CLI ----------------------------------------------------------------


@contextlib.contextmanager
def open_log(ws: Workspace) -> Iterator[AuditLog]:
    from jejak.ledger import Ledger

    with Ledger.open(ws.ledger_url) as ledger:
        yield AuditLog(ledger, ws.home)


def master_or_none(ws: Workspace) -> bytes | None:
    """The master secret that signs checkpoints, or None where this account cannot read it."""
    try:
        return ws.master_secret()
    except WorkspaceError:
        return None  # no checkpoint now; the next command that holds the secret signs one


def record(ws: Workspace, action: str, target: str | None = None,
           detail: Mapping[str, Any] | None = None) -> AuditEntry:
    """Append an entry for something done in ``ws``; sign a checkpoint when one is due.

    ``target`` is an id (release, case, dataset, recipient); ``detail`` holds counts, hashes and
    file names. Neither may hold a value from a data row.
    """
    with open_log(ws) as audit:
        return audit.append(action, target, detail, master=master_or_none(ws))


def checkpoint(ws: Workspace) -> Checkpoint:
    with open_log(ws) as audit:
        return audit.checkpoint(ws.master_secret())


def entries(ws: Workspace, limit: int | None = None) -> list[AuditEntry]:
    with open_log(ws) as audit:
        return audit.entries(limit)


def verify(ws: Workspace, public_key: Path | None = None) -> Verification:
    with open_log(ws) as audit:
        return audit.verify(load_public_key(public_key) if public_key is not None else None)
