"""Traceable releases: every extract that leaves the registry is made here and written into the ledger.

Making a release: select the rows valid at the as-of date (optionally filtered and with a subset
of columns), mark them through the fingerprint channels with the release's own secret, add its
canary records, write the file under a temporary name, and only then record it in the ledger and
move the file into place inside the ledger transaction. A failure at any step leaves neither a
ledger entry nor a file.

Everything a release contains is a function of (registry, ledger entry, master secret), so
``reproduce`` regenerates it byte-for-byte: the proof that the marks in a leak were ours.
"""

from __future__ import annotations

import bisect
import contextlib
import getpass
import logging
import os
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from jejak import keys, signals
from jejak import progress as query_progress
from jejak.channel import Policy
from jejak.channel.base import SYMBOL_BLOCK, MarkPlan, digests_array
from jejak.channel.canary import make_canaries
from jejak.errors import JejakError
from jejak.export import FORMATS, write_table
from jejak.registry import Registry, quote, table_name
from jejak.validators import sql
from jejak.where import columns_match, compile_filter
from jejak.workspace import Workspace

if TYPE_CHECKING:
    from jejak.ledger import Ledger, ReleaseEntry, ReleaseRecord

log = logging.getLogger(__name__)
Say = Callable[[str], None]
_TABLE = "_jj_release"
_SYMBOLS = "_jj_symbols"
_CANARIES = "_jj_canaries"


class ReleaseError(JejakError):
    """A release was refused."""


@dataclass(frozen=True)
class ReleaseRequest:
    dataset: str
    recipient: str
    out: Path
    columns: list[str] | None = None
    where: str | None = None
    as_of: date | None = None
    purpose: str | None = None
    fmt: str | None = None  # default: from the file extension, else csv
    policy: Policy | None = None
    operator: str | None = None  # who made it, for the ledger (default: the OS user; the service: web:<approver>)
    #: more for the ``release.create`` audit entry (the service: the request's id); ids, never values
    audit_extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reproduction:
    release_id: str
    path: Path
    sha256: str
    identical: bool


def _suffix_format(path: Path) -> str | None:
    """The format a file name promises, or None when its suffix names none of ours."""
    suffix = path.suffix.lower().lstrip(".")
    fmt = {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet"}.get(suffix, suffix)
    return fmt if fmt in FORMATS else None


def output_format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        fmt = _suffix_format(path) or "csv"
    if fmt not in FORMATS:
        raise ReleaseError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def create_release(ws: Workspace, req: ReleaseRequest, say: Say = lambda _m: None) -> ReleaseRecord:
    """Make a marked release and record it; returns the ledger record."""
    fmt = output_format(req.out, req.fmt)
    out = req.out.expanduser().resolve()
    if out.exists():
        raise ReleaseError(f"{out} already exists; a release never overwrites a file")
    if not out.parent.is_dir():
        raise ReleaseError(f"the directory {out.parent} does not exist")
    policy = req.policy or Policy()
    # Read-only: a release only reads the registry (its tables are temporary), so releases and
    # investigations run side by side; only an import waits for them.
    with Registry(ws.registry_path, read_only=True) as reg:
        info = reg.dataset(req.dataset)
        as_of = req.as_of or info.snapshots[-1]
        if as_of < info.snapshots[0]:
            raise ReleaseError(f"--as-of {as_of} is before the first snapshot ({info.snapshots[0]})")
        if as_of > info.snapshots[-1]:
            # A later snapshot dated before it would change what this release held: its marks could
            # no longer be reproduced, nor read against the values it carried.
            raise ReleaseError(f"--as-of {as_of} is after the newest snapshot ({info.snapshots[-1]}); "
                               "leave it out to release the newest")
        columns = _select_columns(req.columns, info.columns)
        where_sql = compile_filter(req.where, info.columns) if req.where else None
        say("selecting and marking rows")
        # The read needs nothing from the ledger, so DuckDB starts on it while the ledger (and
        # SQLAlchemy) is loaded and asked about the recipient; a refusal stops the read.
        with _Reader(reg, info.name, columns, as_of, where_sql, policy) as reader:
            from jejak.ledger import ReleaseEntry

            ledger = ws.ledger()
            recipient = ledger.recipient(req.recipient)
            release_id = ledger.new_release_id()
            created = datetime.now(UTC).replace(microsecond=0)
            entry = ReleaseEntry(
                release_id=release_id, recipient=recipient.name, dataset=info.name, as_of=as_of,
                registry_version=_registry_version(info.snapshots, as_of), columns=columns, filter=req.where,
                rows=0, channels={}, policy=policy.to_dict(), canaries=0, created_at=created,
                operator=req.operator or _operator(), purpose=req.purpose, file_name=out.name, file_sha256=None,
                file_format=fmt, kind="marked", extra={},
            )
            tmp = out.with_name(f".{out.name}.{release_id}.partial")
            try:
                rows, marking, canaries = _build(reg, ws.master_secret(), entry, reader, policy, fmt)
                say(f"marking and writing {rows:,} rows as {fmt}")
                with ws.tmpdir("release") as scratch, query_progress.rows(rows):
                    digest = write_table(reg.con, _TABLE, columns, tmp, fmt, created,
                                         parquet_required=policy.version < 2, scratch=scratch)
                _check_rows(rows, marking)
                entry = _with(entry, rows=rows, channels=dict(marking.cells), canaries=len(canaries),
                              file_sha256=digest)
                say("recording the release in the ledger")
                _commit(ws, ledger, entry, canaries, tmp, out, "release.create", req.audit_extra)
                return ledger.release(release_id)
            finally:
                tmp.unlink(missing_ok=True)
                _drop(reg.con)
                ledger.close()  # a long-running server makes many releases: no engine left behind


def reproduce_release(ws: Workspace, release_id: str, out: Path, say: Say = lambda _m: None) -> Reproduction:
    """Regenerate a release from registry, ledger and master secret, and compare its hash."""
    with ws.ledger() as ledger:
        rec = ledger.release(release_id)
    if rec.kind != "marked":
        raise ReleaseError(f"{release_id} was registered without a file; there is nothing to reproduce")
    out = out.expanduser().resolve()
    if out.exists():
        raise ReleaseError(f"{out} already exists; choose a new file name")
    fmt = rec.file_format or "csv"
    named = _suffix_format(out)
    if named is not None and named != fmt:
        # Reproduction proves the marks by the file's hash, which only the original format has.
        raise ReleaseError(f"{release_id} was released as {fmt}; name the output *.{fmt} (not {out.suffix})")
    with Registry(ws.registry_path, read_only=True) as reg:
        info = reg.dataset(rec.dataset)
        where_sql = compile_filter(rec.filter, info.columns) if rec.filter else None
        tmp = out.with_name(f".{out.name}.partial")
        policy = Policy.from_dict(rec.policy)
        try:
            say("rebuilding the release")
            with _Reader(reg, info.name, rec.columns, rec.as_of, where_sql, policy) as reader:
                rows, marking, _ = _build(reg, ws.master_secret(), rec, reader, policy, fmt)
                with ws.tmpdir("release") as scratch:
                    digest = write_table(reg.con, _TABLE, rec.columns, tmp, fmt, rec.created_at,
                                         parquet_required=policy.version < 2, scratch=scratch)
                _check_rows(rows, marking)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
            _drop(reg.con)
    return Reproduction(release_id, out, digest, digest == rec.file_sha256)


def register_release(
    ws: Workspace, *, dataset: str, recipient: str, as_of: date, columns: list[str] | None,
    where: str | None, purpose: str | None, created_at: datetime | None = None,
) -> ReleaseRecord:
    """Record a release made before jejak: no file and no marks, but its rows, columns and time."""
    from jejak.ledger import Ledger, ReleaseEntry

    if as_of > datetime.now(UTC).date():
        # The ledger is append-only: an entry dated in the future could never be corrected.
        raise ReleaseError(f"--as-of {as_of} is in the future; a registered release was made in the past")
    ledger = Ledger.open(ws.ledger_url)
    rcpt = ledger.recipient(recipient)
    with Registry(ws.registry_path, read_only=True) as reg:
        info = reg.dataset(dataset)
        if not info.snapshots or as_of < info.snapshots[0]:
            first = f"the first snapshot ({info.snapshots[0]})" if info.snapshots else "any snapshot"
            raise ReleaseError(f"--as-of {as_of} is before {first}; the registry holds nothing that old")
        cols = _select_columns(columns, info.columns)
        where_sql = compile_filter(where, info.columns) if where else None
        cond = f"WHERE {where_sql}" if where_sql else ""
        rows = reg.con.execute(f"SELECT count(*) FROM ({reg.as_of_sql(dataset, as_of)}) {cond}").fetchall()[0][0]
    release_id = ledger.new_release_id()
    entry = ReleaseEntry(
        release_id=release_id, recipient=rcpt.name, dataset=info.name, as_of=as_of,
        registry_version=_registry_version(info.snapshots, as_of), columns=cols, filter=where, rows=rows,
        channels={}, policy={}, canaries=0, created_at=(created_at or datetime.now(UTC)).replace(microsecond=0),
        operator=_operator(), purpose=purpose, file_name=None, file_sha256=None, file_format=None,
        kind="registered", extra={},
    )
    _commit(ws, ledger, entry, [], None, None, "release.register", {})
    return ledger.release(release_id)


# -- internals -------------------------------------------------------------------------------------


class _Reader:
    """The selected rows in key order with their digests and facts, streamed into Arrow by a worker.

    Rows in key order: the order, like everything else in a release, must be reproducible. The
    read runs in DuckDB, on its own connection and without the GIL, so the caller's Python work
    (loading the ledger, drawing canaries) overlaps it on the other core; and since the rows
    arrive in batches, the caller marks one batch while DuckDB converts the next. At most a few
    batches wait in the queue: a reader far ahead of the marking would hold the release in memory.
    """

    def __init__(self, reg: Registry, dataset: str, columns: list[str], as_of: date, where_sql: str | None,
                 policy: Policy) -> None:
        info = reg.dataset(dataset)
        self.columns = columns
        self.plan = MarkPlan.of({c: r for c, r in info.roles.items() if c in columns}, policy)
        self.facts_sql = ", ".join(["_key", f"{keys.digest_sql(info.name, '_key')} AS _digest",
                                    *self.plan.facts_sql()])
        self.where_sql = where_sql
        self.selected = f"({reg.as_of_sql(info.name, as_of)}) {f'WHERE {where_sql}' if where_sql else ''}"
        sql.install(reg.con, nik_macros=False)
        self._con = reg.con.cursor()
        sql.install(self._con, nik_macros=False)  # macros are per connection
        self._batches: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=4)
        self._stopped = threading.Event()
        self._pool = ThreadPoolExecutor(1)
        query = f"SELECT {', '.join(quote(c) for c in columns)}, {self.facts_sql} FROM {self.selected} ORDER BY _key"
        self._read = self._pool.submit(self._stream, query)

    def _stream(self, query: str) -> None:
        try:
            for batch in self._con.sql(query).to_arrow_reader(SYMBOL_BLOCK):
                if not self._put(batch):
                    return
        finally:
            self._put(None)  # the end, or the error that ``marked`` raises

    def _put(self, item: pa.RecordBatch | None) -> bool:
        """Queue ``item`` unless the release has stopped (a full queue must not keep the worker waiting)."""
        while not self._stopped.is_set():
            try:
                self._batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def next_batch(self) -> pa.RecordBatch | None:
        """The next batch of rows; None at the end (a failed read raises here)."""
        batch = self._batches.get()
        if batch is None:
            self._read.result()
        return batch

    def marked(self, secret: bytes, canaries: _Canaries | None) -> _Marking:
        """The rows with their symbol columns, marked batch by batch as they are read (see :class:`_Marking`)."""
        return _Marking(self, secret, canaries)

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopped.set()
        if not self._read.done():  # the release was refused before the read finished
            self._con.interrupt()
        self._pool.shutdown(wait=True)
        self._con.close()


class _Marking:
    """The marked rows as a stream of Arrow batches, made as the writer asks for them.

    Each batch read from the registry is marked, the canaries that stand among its rows are
    spliced in, and it goes on to the writer; so a release of any size holds a few batches in
    memory, and marking overlaps writing. ``rows`` and ``cells`` (what each channel marked) are
    complete once the stream has been read to its end. The first batch is marked at once, for the
    stream's schema; a selection that comes back empty is refused there.
    """

    def __init__(self, reader: _Reader, secret: bytes, canaries: _Canaries | None) -> None:
        self._reader, self._secret, self._canaries = reader, secret, canaries
        self.rows = 0
        self.cells: Counter[str] = Counter()
        first = self._next()
        if first is None:  # the caller counted rows a moment before
            raise ReleaseError("the registry changed while the release was made; make it again")
        self.schema = first.schema
        self._first: pa.Table | None = first

    def _next(self) -> pa.Table | None:
        batch = self._reader.next_batch()
        if batch is None:
            return None
        table, counts = _marked(pa.Table.from_batches([batch]), self._reader.plan, self._secret,
                                self._reader.columns)
        self.cells.update(counts)
        if self._canaries is not None:
            table = self._canaries.splice(table, self.rows)
        self.rows += batch.num_rows
        return table

    def _batches(self) -> Iterator[pa.RecordBatch]:
        table, self._first = self._first, None
        while table is not None:  # every batch has the query's schema (canaries are cast to it in _splice)
            yield from table.to_batches()
            if signals.received():  # the writer holds the interruption back until the stream ends
                return
            table = self._next()
        if self._canaries is not None and (rest := self._canaries.rest()) is not None:
            yield from rest.cast(self.schema).to_batches()

    def stream(self) -> pa.RecordBatchReader:
        """The batches, to be read once."""
        return pa.RecordBatchReader.from_batches(self.schema, self._batches())

    def table(self) -> pa.Table:
        """All of it in memory (an XLSX sheet, at most a million rows, is read twice)."""
        return self.stream().read_all()


def _build(reg: Registry, master: bytes, entry: Any, reader: _Reader, policy: Policy,
           fmt: str) -> tuple[int, _Marking, list[dict[str, Any]]]:
    """Define the marked release as the view ``_jj_release``, in release order; return the rows
    selected, the marking (whose counts are complete once the view has been written) and the
    canaries' ledger rows.

    While the reader streams the rows, the canaries (drawn from the release secret) are made and
    marked; then, as the caller's COPY asks for them, the rows are marked batch by batch (numpy and
    AES give every cell's symbol, a function of its row alone), the canaries spliced in between
    real rows without copying, and the view renders the marked values from the symbols. Nothing is
    sorted or joined twice, no table is written, and the view can be read once.
    """
    info = reg.dataset(entry.dataset)
    con = reg.con
    rows = con.execute(f"SELECT count(*) FROM {reader.selected}").fetchall()[0][0]
    if rows == 0:
        raise ReleaseError("the selection is empty: no rows match at this date and filter")
    secret = keys.release_secret(master, entry.release_id)
    people, canaries = _canaries(con, info, entry, policy, secret, rows, keys.canary_index_key(master),
                                 reader.where_sql)
    extra = None if people is None or not people.num_rows else _canary_rows(
        con, people, reader.facts_sql, reader.plan, secret, entry.columns)
    spliced = None
    if extra is not None:
        more, after, extra_cells = extra
        # From policy 3 a canary stands where its key sorts among the real rows, found batch by batch.
        spliced = _Canaries(more, None if policy.version >= CANARIES_BLEND_FROM else after, info.key)
    marking = reader.marked(secret, spliced)
    if extra is not None:
        marking.cells.update(extra_cells)
    # Every format but XLSX is written in one scan, so the rows stream from the marking to the file.
    con.register(_SYMBOLS, marking.table() if fmt == "xlsx" else marking.stream())
    rendered = reader.plan.rendered_sql(entry.columns)
    select = ", ".join(f"{expr} AS {quote(c)}" for c, expr in rendered.items())
    con.execute(f"CREATE OR REPLACE TEMP VIEW {_TABLE} AS SELECT {select} FROM {_SYMBOLS}")
    if canaries:
        marking.cells["canary"] = len(canaries)
    return rows, marking, canaries


def _check_rows(rows: int, marking: _Marking) -> None:
    """The rows written are the rows counted before: else the registry changed meanwhile."""
    if marking.rows != rows:
        raise ReleaseError("the registry changed while the release was made; make it again")


def _marked(data: pa.Table, plan: MarkPlan, secret: bytes, columns: list[str]) -> tuple[pa.Table, dict[str, int]]:
    """``columns`` of ``data`` with a symbol column ``_s{i}`` per mark; and the cells each channel marked."""
    symbols = plan.symbols(data, digests_array(data.column("_digest")), secret)
    table = data.select(columns)
    marks = plan.symbols_table(symbols)
    for name, col in zip(marks.column_names, marks.columns, strict=True):
        table = table.append_column(name, col)
    return table, plan.cells(symbols)


#: Since policy 3 canaries satisfy the release's filter and stand where their keys sort.
CANARIES_BLEND_FROM = 3


def _canaries(con: Any, info: Any, entry: Any, policy: Policy, secret: bytes, rows: int,
              index_key: bytes, where_sql: str | None) -> tuple[pa.Table | None, list[dict[str, Any]]]:
    """The canary rows to splice in, and their ledger rows: tags under ``index_key``, never values."""
    if "canary" not in policy.channels or info.key not in entry.columns:
        return None, []
    return make_canaries(con, versions_table=table_name(info.name), key_column=info.key, columns=entry.columns,
                         roles=info.roles, as_of=entry.as_of, release_secret=secret, rows=rows,
                         index_key=index_key, where_sql=where_sql, blend=policy.version >= CANARIES_BLEND_FROM)


class _Canaries:
    """The canary rows, in release order, put among the real rows batch by batch.

    Canary i stands after ``after[i]`` real rows; when ``after`` is None (policy 3 and later) that is
    the number of real keys below its key, found by binary search in the batch that holds the first
    key not below it: a few dozen probes per canary, and no key is converted to Python beyond them.
    """

    def __init__(self, rows: pa.Table, after: np.ndarray | None, key: str) -> None:
        self.rows, self.after, self.key = rows, after, key
        self.keys = rows.column(key).to_pylist() if after is None else []
        self.next = 0  # the first canary not yet placed

    def splice(self, batch: pa.Table, before: int) -> pa.Table:
        """``batch`` (the real rows ``before`` … ``before + len - 1``) with the canaries that stand among them."""
        cuts: list[int] = []
        n = batch.num_rows
        if self.after is None:
            real = batch.column(self.key).combine_chunks()
            last = real[n - 1].as_py() if n else None
            lo = 0
            while (i := self.next + len(cuts)) < len(self.keys) and last is not None and self.keys[i] <= last:
                lo = bisect.bisect_left(real, self.keys[i], lo=lo, key=lambda s: s.as_py())
                cuts.append(lo)
        else:
            while self.next + len(cuts) < len(self.after) and self.after[self.next + len(cuts)] <= before + n:
                cuts.append(int(self.after[self.next + len(cuts)]) - before)
        if not cuts:
            return batch
        placed = self.rows.slice(self.next, len(cuts))
        self.next += len(cuts)
        return _splice(batch, placed, np.array(cuts, dtype=np.int64))

    def rest(self) -> pa.Table | None:
        """The canaries after the last real row."""
        left = self.rows.num_rows - self.next
        return self.rows.slice(self.next) if left else None


def _canary_rows(con: Any, people: pa.Table, facts_sql: str, plan: MarkPlan, secret: bytes,
                 columns: list[str]) -> tuple[pa.Table, np.ndarray, dict[str, int]]:
    """The canaries marked like real rows, in release order; and how many real rows precede each."""
    con.register(_CANARIES, people)
    try:
        listed = ", ".join(quote(c) if c in people.column_names else f"NULL::VARCHAR AS {quote(c)}" for c in columns)
        rows = con.sql(f"SELECT {listed}, {facts_sql}, _pos FROM {_CANARIES} ORDER BY _pos, _key").to_arrow_table()
    finally:
        con.unregister(_CANARIES)
    after = (_as_numpy(rows.column("_pos")) - 1) // 2 + 1  # odd _pos 2i+1: after real row i
    table, cells = _marked(rows, plan, secret, columns)
    return table, after, cells


def _splice(data: pa.Table, extra: pa.Table, after: np.ndarray) -> pa.Table:
    """Put row i of ``extra`` after ``after[i]`` rows of ``data``, without copying ``data``."""
    extra = extra.cast(data.schema)
    pieces, prev = [], 0
    for i, cut in enumerate(after.tolist()):  # one slice per canary: a few hundred, never per row
        pieces += [data.slice(prev, cut - prev), extra.slice(i, 1)]
        prev = cut
    pieces.append(data.slice(prev))
    return pa.concat_tables(pieces)


def _as_numpy(col: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(col.to_numpy(), dtype=np.int64)


def _drop(con: Any) -> None:
    con.execute(f"DROP VIEW IF EXISTS {_TABLE}")
    with contextlib.suppress(Exception):  # never registered: the build stopped before
        con.unregister(_SYMBOLS)


def _commit(ws: Workspace, ledger: Ledger, entry: ReleaseEntry, canaries: list[dict[str, Any]], tmp: Path | None,
            out: Path | None, action: str, extra: dict[str, Any]) -> None:
    """Record the release and its audit entry, and move the file into place, in one transaction.

    If the commit fails after the rename, the file is removed again: a release file without a
    ledger entry must never exist, nor a release the audit log does not show.
    """
    from jejak import audit

    moved = committed = False
    try:
        with audit.AuditLog(ledger, ws.home).within() as log_:
            with ledger.recording(entry) as handle:
                if canaries:
                    handle.add_canaries(canaries)
                log_.append(handle.connection, action, entry.release_id, {**audit_detail(entry), **extra},
                            actor=entry.operator, master=audit.master_or_none(ws))
                if tmp is not None and out is not None:
                    os.replace(tmp, out)
                    moved = True
            committed = True  # from here on the release exists: its file is never taken back
    except BaseException:
        if moved and not committed and out is not None:
            out.unlink(missing_ok=True)
        raise


def audit_detail(rec: ReleaseEntry | ReleaseRecord) -> dict[str, Any]:
    """What the audit log says of a release: column count and whether it was filtered, not the
    names or the filter's text (a filter may quote a person's key)."""
    return {"recipient": rec.recipient, "dataset": rec.dataset, "as_of": rec.as_of.isoformat(), "rows": rec.rows,
            "columns": len(rec.columns), "filtered": rec.filter is not None, "canaries": rec.canaries,
            "file": rec.file_name, "sha256": rec.file_sha256, "format": rec.file_format}


def _select_columns(requested: list[str] | None, available: list[str]) -> list[str]:
    if not requested:
        return list(available)
    known = {c.lower(): c for c in available}
    chosen: list[str] = []
    for name in requested:
        real = columns_match(name.strip(), known)
        if real is None:
            raise ReleaseError(f"--columns names {name.strip()!r}, which the dataset does not have")
        if real not in chosen:
            chosen.append(real)
    return chosen


def _registry_version(snapshots: list[date], as_of: date) -> str:
    used = [d for d in snapshots if d <= as_of]
    return f"snapshot {used[-1].isoformat()} ({len(used)} of {len(snapshots)})"


def _operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def _with(entry: ReleaseEntry, **changes: Any) -> ReleaseEntry:
    from dataclasses import replace

    return replace(entry, **changes)
