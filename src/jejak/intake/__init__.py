"""Reading tabular files into DuckDB, with every value kept exactly as text.

``read_table`` turns a CSV/TSV (any delimiter and line end, UTF-8/UTF-16/UTF-32/legacy
encodings, with or without a header), JSON lines, JSON arrays or objects wrapping them, Parquet,
XLSX or SQL dump (MySQL/PostgreSQL ``INSERT`` and ``COPY``), plain or inside .zip/.gz/.tar
archives, into a DuckDB TEMP table whose data columns are all VARCHAR (so leading zeros of NIK
and card numbers survive) plus ``_line``, the line of the file the row came from. Column names are
made safe by ``names.column_names`` (unique ignoring case, never one of jejak's own ``_`` names).
Errors name the file, line and column but never quote a value: values are personal data.

``strict=True`` (registry import) refuses a file with any unreadable row. ``strict=False``
(investigation of a leak) reads what can be read and lists every skipped line in
``Table.skipped``; hostile input (a zip bomb, a 2 GB line) is bounded by ``Limits``.

The evidence file is only ever opened for reading: unpacking and transcoding write to private
temporary files that are removed before ``read_table`` returns. ``evidence(path)`` hashes it.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from jejak.errors import InputError
from jejak.intake import archive, delimited, encoding, jsondoc, scratch, screen, sqldump, tabular
from jejak.intake import encoding as _encoding  # read_table's parameter `encoding` hides the module
from jejak.intake import header as header_mod


@dataclass
class Skipped:
    line: int | None
    reason: str


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile or broken file from exhausting the machine.

    An archive may expand to at most ``max_total_bytes``; one that expands more than
    ``max_ratio`` times its own size *and* beyond ``ratio_min_bytes`` is a zip bomb. A text line
    (CSV record, COPY row) may be ``max_line`` bytes, an SQL statement ``max_statement`` bytes, a
    cell (or a JSON record) ``max_cell`` bytes. A table may have ``max_columns`` columns: real
    registers have a few dozen to a few hundred, and a file far wider is refused before any heavy
    work (its cost would grow with the width, and no person is described by 100,000 fields).

    ``ratio_min_bytes`` is 64 MiB: tables of people compress a few times (every row carries its
    own identifiers, names and phone numbers; the synthetic participants 3.6 times at zlib's level
    9), so nothing real grows 200 times beyond that, while the earlier floor of 1 GiB let a 1 MB
    zip of a gigabyte of zeros be unpacked in full — by the service, onto its disk, for anyone
    allowed to upload.
    """

    max_total_bytes: int = 20 << 30
    max_ratio: float = 200.0
    ratio_min_bytes: int = 64 << 20
    max_members: int = 10_000
    max_line: int = 16 << 20
    max_statement: int = 256 << 20
    max_cell: int = 16 << 20
    max_columns: int = 2000


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: int
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    header: bool = True
    skipped: list[Skipped] = field(default_factory=list)
    source: str = ""
    note: str | None = None
    archive: str | None = None  # zip | gz | tar | ... when the table came out of an archive
    members: list[str] = field(default_factory=list)  # sources of the archive members read, in `_member` order


@dataclass
class Evidence:
    """What identifies a leaked file: its hash, size and shape; computed by streaming it once."""

    path: str
    sha256: str
    size: int
    format: str
    members: list[archive.Member] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "sha256": self.sha256, "size": self.size, "format": self.format,
            "members": [{"name": m.name, "size": m.size, "compressed": m.compressed} for m in self.members],
        }


def check_file(path: Path) -> None:
    """Refuse what is not a regular file, saying what it is: opening a FIFO would wait forever."""
    if path.is_file():
        return
    if not path.exists():
        raise InputError("no such file", path=path)
    if path.is_dir():
        raise InputError("this is a folder, not a file; give the leaked file itself", path=path)
    raise InputError("this is not a regular file (a pipe, socket or device); copy the data to a file first",
                     path=path)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks (files here are leaks and releases of many GB)."""
    with Path(path).open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()  # one reused buffer: no page faults per block


def evidence(path: Path) -> Evidence:
    """SHA-256, size, detected format and (for archives) the declared members of ``path``."""
    path = Path(path)
    check_file(path)
    sha256, size = file_sha256(path), path.stat().st_size
    fmt = detect_format(path) if size else "empty"
    members = archive.list_members(path, fmt) if fmt in archive.ARCHIVES else []
    return Evidence(str(path), sha256, size, fmt, members)


TEXT_FORMATS = ("csv", "sql", "json", "jsonl")


def detect_format(path: Path) -> str:
    """From the first bytes, not the name: leaks arrive renamed. ``binary`` is no table format."""
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    packed = archive.sniff(head)
    if packed == "zip":
        return "xlsx" if _is_xlsx(path) else "zip"
    if packed is not None:
        return packed
    if encoding.sniff(head) == "binary":
        return "binary"
    stripped = encoding.peek_text(path).lstrip("\ufeff \r\n\t")
    if stripped.startswith("{"):
        return "jsonl"
    if stripped.startswith("["):
        return "json"
    if sqldump.looks_like_dump(stripped):
        return "sql"
    return "csv"


def _is_xlsx(path: Path) -> bool:
    """Also true of a damaged workbook: its parts (``xl/theme/theme1.xml``...) are no tables, and
    reading it as a zip of them would call an unreadable file a foreign one."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return "xl/workbook.xml" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return archive.office_parts(path)


def read_table(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    name: str = "intake",
    strict: bool = True,
    encoding: str | None = None,
    header: bool | None = None,
    table: str | None = None,
    limits: Limits | None = None,
    scratch_dir: Path | None = None,
) -> Table:
    """Read ``path`` into the TEMP table ``name``; see the module docstring.

    ``header=None`` decides from the values whether a delimited file has a header row;
    ``table`` picks one table of an SQL dump (default: the one with the most data);
    ``scratch_dir`` is a private folder for temporary copies (the workspace's; see ``scratch``).
    """
    with scratch.within(scratch_dir):
        return _read_table(con, Path(path), name, strict, encoding, header, table, limits)


def _read_table(con: duckdb.DuckDBPyConnection, path: Path, name: str, strict: bool, encoding: str | None,
                header: bool | None, table: str | None, limits: Limits | None) -> Table:
    limits = limits or Limits()
    check_file(path)
    if path.stat().st_size == 0:
        raise InputError("the file is empty", path=path)
    fmt = detect_format(path)
    if fmt == "binary":
        raise _encoding.binary_error(path)
    if path.stat().st_size <= 65536 and not _encoding.peek_text(path).strip(" \t\r\n\ufeff"):
        raise InputError("the file holds only white space", path=path)
    opts = _Options(strict, encoding, header, table, limits)
    if fmt in archive.ARCHIVES or fmt == "unsupported":
        return _read_archive(con, path, fmt, name, opts)
    return _read_file(con, path, fmt, name, opts)


@dataclass(frozen=True)
class _Options:
    strict: bool
    encoding: str | None
    header: bool | None
    table: str | None
    limits: Limits


def _read_file(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, name: str, o: _Options) -> Table:
    if path.stat().st_size == 0:
        raise InputError("the file is empty", path=path)
    if fmt in TEXT_FORMATS and o.encoding is None:
        head = _encoding.head_of(path)
        wide = _encoding.sniff(head[:4096])
        cr_only = fmt == "csv" and b"\r" in head and b"\n" not in head
        if wide == "binary":
            raise _encoding.binary_error(path)
        if wide or cr_only:
            return _read_utf8_copy(con, path, fmt, name, o, wide or _encoding.detect(path), cr_only)
    if fmt == "csv":
        return _read_delimited(con, path, name, o)
    if fmt == "sql":
        return sqldump.read_dump(con, path, name, strict=o.strict, limits=o.limits, table=o.table,
                                 encoding=o.encoding)
    if fmt in ("jsonl", "json"):
        t = jsondoc.read_json(con, path, name, fmt, o.limits, o.strict)
        t.encoding = o.encoding or "utf-8"
        return t
    skipped: list[Skipped] = []
    has_header = True
    if fmt == "parquet":
        cols, rows = tabular.read_parquet(con, path, name, o.limits)
    elif fmt == "xlsx":
        cols, rows, skipped, has_header = tabular.read_xlsx(con, path, name, o.limits, o.strict, o.header)
    else:
        raise InputError(f"unsupported format {fmt}", path=path)
    if rows == 0:
        raise InputError("the file has no data rows", path=path)
    return Table(name=name, columns=cols, rows=rows, format=fmt, source=str(path), header=has_header, skipped=skipped)


def _read_utf8_copy(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, name: str, o: _Options, codec: str,
                    cr_only: bool) -> Table:
    """UTF-16/32 text and CR-only line ends, read through a UTF-8, LF copy: every reader (DuckDB's
    CSV and JSON, the dump scanner, Python's csv) then sees the same lines, numbered as in the file."""
    copy = _encoding.transcode(path, codec, cr_lines=cr_only)
    try:
        t = _read_file(con, copy, fmt, name, replace(o, encoding="utf-8"))
    except InputError as exc:
        raise InputError(exc.reason, path=path, line=exc.line, column=exc.column) from None
    finally:
        copy.unlink(missing_ok=True)
    t.source, t.encoding = str(path), codec
    return t


def _read_delimited(con: duckdb.DuckDBPyConnection, path: Path, name: str, o: _Options) -> Table:
    sample = encoding.peek_text(path)
    delim = delimited.sniff_delimiter(sample)
    rows = header_mod.sample_rows(sample, delim)
    delimited.check_width(path, delim, o.limits.max_columns)
    has_header = o.header if o.header is not None else header_mod.first_row_is_header(rows)
    if o.strict:
        return delimited.read_csv(con, path, name, strict=True, forced_encoding=o.encoding, header=has_header)
    above = header_mod.lines_above_table(sample, delim) if o.header is None else 0
    if above:
        return _read_below(con, path, name, o, above)
    width = len(rows[0]) if rows else 1
    checked = screen.screen(path, o.limits.max_line, placeholder=delim.encode().join([b"-"] * (width + 2)))
    try:
        t = delimited.read_csv(con, checked.path, name, strict=False, header=has_header, lines=checked.lines,
                               forced_encoding=o.encoding or ("utf-8" if checked.utf8 else None))
    except InputError as exc:
        if not checked.copied:
            raise
        raise InputError(exc.reason, path=path, line=exc.line, column=exc.column) from None
    finally:
        if checked.copied:
            checked.path.unlink(missing_ok=True)
    t.source = str(path)
    # DuckDB reports a bad line once per problem (each missing column...): a line is skipped once.
    seen: set[int] = set()
    skipped = []
    for s in t.skipped:
        if s.line is None:
            skipped.append(s)
        elif s.line not in seen:
            seen.add(s.line)
            skipped.append(Skipped(s.line, checked.bad.get(s.line, s.reason)))
    t.skipped = skipped
    return t


def _read_below(con: duckdb.DuckDBPyConnection, path: Path, name: str, o: _Options, above: int) -> Table:
    """A leak with a title or notes above its header: read from the header on, numbered as in the file."""
    with path.open("rb") as src, tempfile.NamedTemporaryFile(prefix="jejak-below-", suffix=".csv",
                                                             dir=scratch.directory(), delete=False) as dst:
        for _ in range(above):
            src.readline()
        shutil.copyfileobj(src, dst, 1 << 22)
    copy = Path(dst.name)
    try:
        t = _read_delimited(con, copy, name, o)
    except InputError as exc:
        raise InputError(exc.reason, path=path, line=exc.line and exc.line + above, column=exc.column) from None
    finally:
        copy.unlink(missing_ok=True)
    con.execute(f"UPDATE {name} SET _line = _line + {above}")
    t.skipped = [Skipped(s.line + above if s.line is not None else None, s.reason) for s in t.skipped]
    t.source = str(path)
    t.note = "; ".join(filter(None, [f"the first {above} line(s), above the header (a title or notes), "
                                     "were not read", t.note]))
    return t


def _read_archive(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, name: str, o: _Options) -> Table:
    tmp = Path(tempfile.mkdtemp(prefix="jejak-unpack-", dir=scratch.directory()))
    try:
        unpacked = archive.unpack(path, fmt, tmp, o.limits)
        if o.strict and any(u.truncated for u in unpacked.files):
            raise InputError("the archive is truncated or damaged", path=path)
        return _read_members(con, path, unpacked.kind, name, o, unpacked)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_members(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, name: str, o: _Options, unpacked: archive.Unpacking,
) -> Table:
    readable = []
    for u in unpacked.files:
        inner = detect_format(u.path) if u.path.stat().st_size else "empty"
        if inner in ("csv", "sql", "parquet", "xlsx", "jsonl", "json"):  # not "binary" or "empty"
            readable.append((u, inner))
    if not readable:
        raise InputError("the archive holds no readable table (every member is empty or of another kind)",
                         path=path)
    readable.sort(key=lambda x: -x[0].path.stat().st_size)
    main, main_fmt = readable[0]
    group = [(main, main_fmt)]
    if main_fmt == "csv":
        first = _first_line(main.path)
        group += [(u, f) for u, f in readable[1:] if f == "csv" and _first_line(u.path) == first]
    tables: list[Table] = []
    for i, (u, f) in enumerate(group):
        try:
            t = _read_file(con, u.path, f, f"_jj_member{i}" if len(group) > 1 else name, o)
        except InputError as exc:
            raise InputError(exc.reason, path=f"{path}!{u.name}", line=exc.line, column=exc.column) from None
        t.source = f"{path}!{u.name}"
        if u.dropped_line is not None:
            t.skipped.append(Skipped(u.dropped_line, "the archive is truncated here; the incomplete last line "
                                                     "was dropped and anything after it is missing"))
        elif u.truncated:
            t.skipped.append(Skipped(None, "the archive is truncated; this member may be incomplete"))
        tables.append(t)
    notes = list(unpacked.notes)
    others = [u.name for u, _ in readable if all(u is not g for g, _ in group)]
    if others:
        notes.append(f"read {len(group)} of {len(readable)} tabular members (the largest"
                     + (" and those with the same header" if len(group) > 1 else "") + "); not read: "
                     + ", ".join(others[:10]) + ("..." if len(others) > 10 else ""))
    result = tables[0]
    if len(tables) > 1:
        result = _concatenate(con, name, tables)
    if result.note:
        notes.insert(0, result.note)
    result.note = "; ".join(notes) or None
    result.archive = fmt
    result.members = [t.source for t in tables]
    return result


def _concatenate(con: duckdb.DuckDBPyConnection, name: str, tables: list[Table]) -> Table:
    """Members sharing one header become one table; ``_member`` says which member a row is from."""
    parts = " UNION ALL BY NAME ".join(f"SELECT *, {i} AS _member FROM {t.name}" for i, t in enumerate(tables))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {parts}")
    for t in tables:
        con.execute(f"DROP TABLE IF EXISTS {t.name}")
    first = tables[0]
    skipped = [Skipped(s.line, f"{t.source.split('!', 1)[1]}: {s.reason}") for t in tables for s in t.skipped]
    return Table(
        name=name, columns=first.columns, rows=sum(t.rows for t in tables), format=first.format,
        encoding=first.encoding, delimiter=first.delimiter, header=first.header, skipped=skipped,
        source=first.source.split("!", 1)[0] + "!" + ",".join(t.source.split("!", 1)[1] for t in tables),
    )


def _first_line(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.readline(1 << 16).lstrip(b"\xef\xbb\xbf").rstrip(b"\r\n")
