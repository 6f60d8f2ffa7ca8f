"""``jejak investigate``: from a leaked file to a verdict with its evidence.

The pipeline (``docs/investigation.md``): intake (``strict=False``: what cannot be read is listed,
not fatal) -> column mapping from the values -> linkage and verification -> dating -> impact ->
attribution. Each stage is its own module, called through the contracts in that document.

Evidence handling: the file is copied into the case folder while it is hashed (one read), the
copy is made read-only, and the original is never opened for writing. The case folder
``cases/<case_id>/`` (``evidence/<file>``, ``verdict.json``, ``subjects.parquet`` — the registry
keys of the people affected, for the notification pack) is assembled under a temporary name
and renamed into place at the end, so it appears complete or not at all. The registry is opened
read-only; all work lives in TEMP tables of that one DuckDB connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from jejak import __version__, dating, resources
from jejak import progress as query_progress
from jejak.errors import JejakError
from jejak.files import EVIDENCE_MODE, OWNER_FILE, check_input, private_dir, privatise_tree, write_private
from jejak.findings import extraction_window
from jejak.impact import measure as measure_impact
from jejak.intake import Table, read_table
from jejak.keys import canary_index_key
from jejak.mapping import ColumnMapping, map_columns
from jejak.notify import SUBJECTS_FILE
from jejak.registry import DatasetInfo, Registry, table_name
from jejak.report import specific_words
from jejak.roles import infer_roles
from jejak.verify import NARROW, TEXT, Verification, link, verification
from jejak.workspace import Workspace

log = logging.getLogger(__name__)

SCHEMA = "jejak.verdict/1"
LEAK = "_jj_leak"
STAGES = ("reading the evidence", "mapping columns", "linking rows", "verifying", "dating", "measuring impact",
          "attributing", "recording the case")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MAX_SKIPPED_LISTED = 200  # the verdict lists the first skipped lines; the count covers all of them

#: ``progress(stage, done, total)`` — the CLI draws a bar from it.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Evidence:
    path: str
    member: str | None
    sha256: str
    size: int
    format: str
    encoding: str | None
    delimiter: str | None
    header: bool
    rows: int
    columns: list[str]
    skipped: list[dict[str, Any]]
    skipped_rows: int
    copy: str  # the read-only copy, relative to the case folder
    archive: str | None = None  # zip | gz | tar ... when the rows came out of an archive
    row_ids: str = "line"  # what _line means: "line" of the file, or "record" ordinal (see _number_records)

    def to_json(self, mapping: ColumnMapping | None) -> dict[str, Any]:
        return {
            "path": self.path, "archive": self.archive, "member": self.member, "sha256": self.sha256,
            "size": self.size, "row_ids": self.row_ids,
            "format": self.format, "encoding": self.encoding, "delimiter": self.delimiter, "header": self.header,
            "rows": self.rows, "columns": self.columns, "mapping": mapping.to_json() if mapping else {},
            "skipped": self.skipped[:MAX_SKIPPED_LISTED], "skipped_rows": self.skipped_rows, "copy": self.copy,
        }


@dataclass
class Verdict:
    case_id: str
    created_at: datetime
    dataset: DatasetInfo
    evidence: Evidence
    mapping: ColumnMapping
    verification: Verification
    snapshot: dict[str, Any] | None
    impact: dict[str, Any] | None
    attribution: dict[str, Any]
    summary: list[str] = field(default_factory=list)
    case_dir: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "case_id": self.case_id,
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "jejak_version": __version__,
            "dataset": self.dataset.name,
            "registry": {"snapshots": [d.isoformat() for d in self.dataset.snapshots], "rows": self.dataset.rows,
                         "versions": self.dataset.versions},
            "evidence": self.evidence.to_json(self.mapping),
            "verification": self.verification.to_json(),
            "snapshot": self.snapshot,
            "impact": self.impact,
            "attribution": self.attribution,
            "summary": self.summary,
        }


_CASE_ID_RE = re.compile(r"C-\d{8}-\d{6}-[0-9A-Z]{4}")


def new_case_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"C-{stamp}-{''.join(secrets.choice(_CROCKFORD) for _ in range(4))}"


def investigate(
    ws: Workspace, path: Path, *, dataset: str | None = None, threshold: float = 1e-6,
    linkage_threshold: float = 0.9, progress: Progress | None = None, memory_limit: str | None = None,
    case_id: str | None = None, source_name: str | None = None,
) -> Verdict:
    """Investigate the leaked file ``path`` against ``ws``'s registry; store and return the verdict.

    ``memory_limit`` bounds DuckDB (e.g. ``"8GB"``); by default :func:`jejak.resources.memory_limit`.
    Beyond it DuckDB spills to the case folder. ``case_id`` (default: a new one) lets a caller
    that must know the id before the case exists (the service's job queue) choose it; an id whose
    case already exists is refused, so a case is never overwritten. ``source_name`` is what the
    verdict and report call the file (default: its path), for a caller that stored it under
    another name (the service keeps uploads by case id).
    """
    path = check_input(Path(path))
    report = progress or (lambda _s, _d, _t: None)
    case_id = case_id or new_case_id()
    if not _CASE_ID_RE.fullmatch(case_id):
        raise JejakError("a case id is C-YYYYMMDD-HHMMSS-XXXX")
    if (ws.cases_dir / case_id).exists():
        raise JejakError(f"case {case_id} already exists")
    private_dir(ws.cases_dir, parents=True)
    final = ws.cases_dir / case_id
    # The case is built beside its final place (same file system, so the rename is atomic) in a
    # folder that records our PID: if this run is killed, the next command sweeps it away.
    with ws.tmpdir(case_id, parent=ws.cases_dir) as tmp:
        with query_progress.rows(None):  # (the row count _run sets ends with it)
            verdict = _run(ws, path, tmp, case_id, dataset, threshold, linkage_threshold, report, memory_limit,
                           source_name)
        report(STAGES[7], 7, len(STAGES))
        write_private(tmp / "verdict.json", json.dumps(verdict.to_json(), indent=2, default=str) + "\n")
        shutil.rmtree(tmp / "spill", ignore_errors=True)
        (tmp / OWNER_FILE).unlink()
        privatise_tree(tmp)  # DuckDB wrote the subject list with the process's umask
        os.replace(tmp, final)  # the case appears complete or not at all
        verdict.case_dir = final
    report("done", len(STAGES), len(STAGES))
    log.info("case %s recorded", case_id)
    return verdict


def _preload_ledger() -> None:
    """Import SQLAlchemy and the ledger's models on a worker while DuckDB reads the leak.

    They cost about half a second, a tenth of investigating a million rows, and are first needed
    after the mapping; the reading holds no GIL, so the import is free. Only modules that import
    no jejak module of the pipeline are loaded here: two threads importing modules that import
    each other could each wait for the other.
    """
    def load() -> None:
        # A failure is the main thread's to report, when it imports the ledger itself.
        with contextlib.suppress(Exception):
            importlib.import_module("jejak.ledger.models")

    threading.Thread(target=load, name="jejak-preload", daemon=True).start()


def _run(
    ws: Workspace, path: Path, tmp: Path, case_id: str, dataset: str | None, threshold: float,
    linkage_threshold: float, report: Progress, memory_limit: str | None, source_name: str | None = None,
) -> Verdict:
    n = len(STAGES)
    _preload_ledger()
    with Registry(ws.registry_path, read_only=True) as reg:
        con = reg.con
        if memory_limit:
            resources.configure(con, memory_limit)
        con.execute(f"SET temp_directory = '{_lit(str(tmp / 'spill'))}'")
        say = _say(report)
        report(STAGES[0], 0, n)
        evidence, leak = _intake(con, path, tmp)
        if source_name:
            evidence = dataclasses.replace(evidence, path=source_name)
        query_progress.set_rows(leak.rows)  # every later stage works through the leak's rows
        report(STAGES[1], 1, n)
        info, mapping = _choose_dataset(con, reg, leak, dataset)
        versions = table_name(info.name)
        report(STAGES[2], 2, n)
        with ws.ledger() as ledger:
            canaries = ledger.canaries(info.name)
            link(con, leak=leak, dataset=info, mapping=mapping, versions_table=versions, canaries=canaries,
                 threshold=linkage_threshold, say=say,  # the linked view reads the leak table: keep it
                 index_key=canary_index_key(ws.master_secret()))
            report(STAGES[3], 3, n)
            # Stages that read only the linked table's own columns use the narrow table: the full
            # view would join every row to its leaked text first.
            ver = verification(con, dataset=info, mapping=mapping, versions_table=versions, linked=NARROW)
            report(STAGES[4], 4, n)
            window = dating.extraction_window(con, linked=NARROW, dataset=info, versions_table=versions)
            report(STAGES[5], 5, n)
            # The people to notify (distinct keys of genuine rows) are stored with the case so the
            # notification pack needs no re-linking; their count is the summary's head count.
            impact = measure_impact(con, linked=NARROW, dataset=info, versions_table=versions,
                                    columns=list(mapping.mapped.values()), subjects=tmp / SUBJECTS_FILE)
            report(STAGES[6], 6, n)
            from jejak.attribution import attribute

            attribution = attribute(
                con, registry=reg, ledger=ledger, master=ws.master_secret(), dataset=info, linked=NARROW,
                window=window, threshold=threshold, say=say, text=TEXT, read_poorly=read_poorly(evidence),
            )
    verdict = Verdict(
        case_id=case_id, created_at=datetime.now(UTC), dataset=info, evidence=evidence, mapping=mapping,
        verification=ver, snapshot=window.to_json(), impact=impact.to_json(), attribution=attribution.to_json(),
    )
    verdict.summary = summarise(verdict, impact.people)
    return verdict


def read_poorly(ev: Evidence) -> str | None:
    """Why the evidence was not read well enough to call it foreign, or None: a file read as one
    column or one row, most of its records skipped, or a part of its archive lost is no proof of
    anything, least of all that the data is not ours."""
    problems = []
    if ev.rows <= 1:
        problems.append(f"only {ev.rows} record could be read")
    if len(ev.columns) == 1:
        problems.append("it was read as a single column")
    if ev.skipped_rows > ev.rows:
        problems.append(f"{ev.skipped_rows:,} of {ev.skipped_rows + ev.rows:,} records could not be read")
    if any("truncated" in str(s.get("reason")) or "damaged" in str(s.get("reason")) for s in ev.skipped):
        problems.append("part of it is truncated or damaged")
    return "; ".join(problems) or None


def _say(report: Progress) -> Callable[[str], None]:
    """Detail messages of a stage go to the log; the bar shows the stage."""

    def say(msg: str) -> None:
        log.info("%s", msg)

    return say


def _intake(con: duckdb.DuckDBPyConnection, path: Path, tmp: Path) -> tuple[Evidence, Table]:
    """Read the leak while a thread copies it into the case folder and hashes it (one read of the file)."""
    private_dir(tmp / "evidence")
    copy = tmp / "evidence" / path.name
    copier = _CopyHasher(path, copy)
    copier.start()
    try:
        table = read_table(con, path, name=LEAK, strict=False, scratch_dir=tmp)
    finally:
        sha256, size = copier.result()
    copy.chmod(EVIDENCE_MODE)
    _, _, member = table.source.partition("!")
    members = list(getattr(table, "members", []) or [])
    # One delimited file numbers its records by line, distinct by construction: no need to count.
    one_text_file = table.format in ("csv", "tsv") and len(members) <= 1
    row_ids = "record" if not one_text_file and _number_records(con, LEAK) else "line"
    if members:
        member = ", ".join(m.partition("!")[2] or m for m in members)
    skipped = [{"line": s.line, "reason": s.reason} for s in table.skipped]
    ev = Evidence(
        path=str(path), member=member or None, sha256=sha256, size=size, format=table.format,
        encoding=table.encoding, delimiter=table.delimiter, header=table.header, rows=table.rows,
        columns=list(table.columns), skipped=skipped, skipped_rows=len(skipped),
        copy=f"evidence/{path.name}", archive=getattr(table, "archive", None), row_ids=row_ids,
    )
    return ev, table


def _number_records(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Give every record its own ``_line`` where the evidence puts several on one line.

    The pipeline identifies a leaked row by ``_line``. A multi-row ``INSERT`` holds many records
    on one line, and the members of an archive each start at line 1; there ``_line`` becomes the
    record's ordinal in reading order (1-based), and the verdict's ``evidence.row_ids`` says so.
    """
    total, distinct = con.execute(f"SELECT count(*), count(DISTINCT _line) FROM {table}").fetchall()[0]
    if total == distinct:
        return False
    con.execute(f"CREATE TEMP TABLE _jj_numbered AS SELECT * REPLACE (row_number() OVER () AS _line) FROM {table}")
    con.execute(f"DROP TABLE {table}")
    con.execute(f"ALTER TABLE _jj_numbered RENAME TO {table}")
    return True


def _choose_dataset(
    con: duckdb.DuckDBPyConnection, reg: Registry, leak: Table, name: str | None
) -> tuple[DatasetInfo, ColumnMapping]:
    """``--dataset``, else the dataset whose column mapping fits the leak best."""
    if name is not None:
        info = reg.dataset(name)
        return info, map_columns(con, leak, info, table_name(info.name))
    infos = reg.datasets()
    if not infos:
        raise JejakError("the registry is empty: import a snapshot before investigating a leak")
    guesses = infer_roles(con, leak.name, leak.columns)
    scored = [
        (map_columns(con, leak, i, table_name(i.name), guesses=guesses), i) for i in infos
    ]
    mapping, info = max(scored, key=lambda s: s[0].score)
    return info, mapping


def summarise(v: Verdict, people: int) -> list[str]:
    """Plain-language lines for the terminal, in the order they are printed."""
    ver, ev = v.verification, v.evidence
    mapped = len(v.mapping.mapped)
    lines = [
        f"Evidence {Path(ev.path).name}{' (' + ev.member + ')' if ev.member else ''}: {ev.format}, "
        f"{ev.rows:,} rows, sha256 {ev.sha256[:16]}…; {mapped} of {len(ev.columns)} columns match "
        f"columns of '{v.dataset.name}'."
        + (f" {ev.skipped_rows:,} unreadable rows skipped." if ev.skipped_rows else "")
    ]
    share = ver.matched / ver.rows if ver.rows else 0.0
    if ver.matched or ver.canary:
        lines.append(
            f"Ours: {ver.matched:,} of {ver.rows:,} rows ({share:.1%}) match registry rows of '{v.dataset.name}'"
            f" — {ver.current:,} as they are now, {ver.outdated:,} with older values."
        )
    elif v.attribution.get("verdict") == "not-ours":
        lines.append(
            f"Not ours, as far as the registry shows: none of the {ver.rows:,} rows matches '{v.dataset.name}'."
        )
    else:
        # No match is not evidence of foreign data: a names-only list or a file read poorly
        # matches nothing either. Only the attribution's positive evidence may say "not ours".
        lines.append(
            f"None of the {ver.rows:,} rows could be matched to '{v.dataset.name}'; that alone does not show "
            "the data is not ours."
        )
    rest = []
    if ver.fabricated:
        canaries = f", {ver.canary:,} of them canary records of our own releases" if ver.canary else ""
        rest.append(f"{ver.fabricated:,} fabricated (well-formed identifiers we never had{canaries})")
    if ver.invalid:
        rest.append(f"{ver.invalid:,} invalid (impossible identifiers)")
    if ver.unlinked:
        rest.append(f"{ver.unlinked:,} without any identifier and unmatched")
    if ver.duplicates:
        rest.append(f"{ver.duplicates:,} repeat a person already in the file")
    if rest:
        lines.append("Of the rows: " + "; ".join(rest) + ".")
    if ver.matched:
        st = ver.status
        lines.append(
            f"{people:,} distinct people are affected (the registry holds {ver.registry_rows:,} now); among matched "
            f"rows {st.get('active', 0):,} active, {st.get('inactive', 0):,} inactive, {st.get('deceased', 0):,} "
            "deceased" + (f", {st['unknown']:,} of unknown status" if st.get("unknown") else "") + "."
        )
    # The window, the head count and the specific data are read as the report and the notice
    # read them (jejak.findings), so the three never disagree.
    facts: dict[str, Any] = {"snapshot": v.snapshot, "impact": v.impact, "verification": {"matched": ver.matched},
             "evidence": {"mapping": {}}}
    window = extraction_window(facts)
    if window is not None:
        snap = v.snapshot or {}
        lines.append(
            f"Taken {window.words('en')} ({snap.get('support', 0):,} rows support this window, "
            f"{snap.get('contradicting', 0):,} contradict it)."
        )
    imp = v.impact or {}
    if imp.get("categories") and imp.get("people"):
        hit = [f"{k} ({c['people']:,})" for k, c in imp["categories"].items() if c.get("people")]
        specific = specific_words(facts, "en")
        flags = [f"includes SPECIFIC personal data under UU PDP Art. 4: {specific}"] if specific else []
        top = ", ".join(f"{p.get('name') or p['code']} {p['people']:,}" for p in (imp.get("provinces") or [])[:3])
        lines.append(
            "Data categories exposed: " + (", ".join(hit) or "none") + (f"; {'; '.join(flags)}" if flags else "")
            + (f". Most affected provinces: {top}." if top else ".")
        )
    att = v.attribution
    if att.get("explanation"):
        lines.append(str(att["explanation"]))
    return lines


class _CopyHasher(threading.Thread):
    """Copy the evidence, then hash the copy (the bytes kept are the bytes hashed).

    The kernel copies (``sendfile``) and hashlib releases the GIL, so this thread costs the
    reader little: copying through Python buffers took 2 CPU-seconds more per 3 GB.
    """

    def __init__(self, src: Path, dst: Path) -> None:
        super().__init__(daemon=True)
        self.src, self.dst = src, dst
        self._result: tuple[str, int] = ("", 0)
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            if self.dst.exists():
                raise FileExistsError(self.dst)
            shutil.copyfile(self.src, self.dst)
            with self.dst.open("rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
                # Evidence must survive a crash; flushing now, while the leak is being read, also
                # keeps gigabytes of write-back from landing on the linking stage.
                os.fsync(f.fileno())
            self._result = (digest, self.dst.stat().st_size)
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def result(self) -> tuple[str, int]:
        self.join()
        if self._error is not None:
            raise self._error
        return self._result


def _lit(s: str) -> str:
    return s.replace("'", "''")
