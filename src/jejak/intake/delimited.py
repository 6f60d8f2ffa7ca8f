"""CSV/TSV through DuckDB's reader, with our own dialect detection and line-exact errors.

DuckDB parses at millions of rows per second; we only decide the dialect (delimiter from a
sample, header from the caller) and turn DuckDB's rejected rows into errors that name the
physical line, without ever showing its content.

``read_csv`` stages the whole file with a ``_line`` column. ``scan`` is the fast path for bulk
loads (registry import): the bare ``read_csv(...)`` SQL for a UTF-8 file, with no line numbers
and no staging, which DuckDB reads strictly (a ragged row or an undecodable byte raises). A
caller that meets an error there falls back to ``read_csv``, whose error names the line.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from jejak.errors import InputError
from jejak.intake import encoding as enc
from jejak.intake.header import first_row_is_header, sample_rows
from jejak.intake.names import column_names, numbered
from jejak.sqltext import quote

if TYPE_CHECKING:
    from jejak.intake import Limits, Table

DELIMITERS = ",;|\t"
MAX_LINE = 16 << 20  # a longer "line" is not a record: refuse instead of buffering gigabytes


def sniff_delimiter(sample: str) -> str:
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        # Fall back to the candidate that splits the first line into the most fields consistently.
        counts = {d: lines[0].count(d) for d in DELIMITERS}
        return max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","


def parse_header(sample: str, delim: str) -> list[str]:
    # newline="": a stray CR ends a line as csv expects, instead of raising "new-line character seen".
    try:
        row = next(csv.reader(io.StringIO(sample.lstrip("\ufeff"), newline=""), delimiter=delim), [])
    except csv.Error:
        row = sample.lstrip("\ufeff").splitlines()[0].split(delim) if sample.strip() else []
    return [c.strip() for c in row]


@dataclass(frozen=True)
class Scan:
    """A delimited UTF-8 file with a header that DuckDB can read as it stands."""

    sql: str  # a table function call: every column VARCHAR, rows in file order, no ``_line``
    columns: list[str]
    delimiter: str


def scan(path: Path) -> Scan | None:
    """The direct DuckDB scan of ``path``, or None when only ``read_csv`` can read it (or when
    the first row does not look like a header: ``read_table`` then decides).

    Only the first 64 KiB are looked at here (dialect and header, exactly as ``read_csv`` decides
    them); DuckDB validates UTF-8 in every value while it reads, so a legacy or mixed encoding
    further down surfaces as a DuckDB error and the caller falls back to ``read_csv``.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        return None
    with path.open("rb") as f:
        head = f.read(65536)
    if enc.sniff(head[:4096]) is not None:  # UTF-16/32 (with or without BOM) or binary
        return None
    try:
        # final=False: a multi-byte character cut by the 64 KiB boundary is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    sample = enc.peek_text(path)
    if "\n" not in sample and path.stat().st_size > MAX_LINE:
        return None
    delim = sniff_delimiter(sample)
    if b"\r" in head and b"\n" not in head or not first_row_is_header(sample_rows(sample, delim)):
        return None  # read_table names the columns column1.. (never after values in the first row)
    if first_line_width(path, delim) > _limits().max_columns:
        return None  # read_table refuses it with the reason
    names = column_names(parse_header(sample, delim))
    return Scan(sql=_read_csv_sql(path, names, delim, True, "utf-8", rejects=False), columns=names, delimiter=delim)


def _limits() -> Limits:
    from jejak.intake import Limits

    return Limits()


def first_line_width(path: Path, delim: str) -> int:
    """Fields in the first line of a UTF-8/8-bit file, read up to ``MAX_LINE`` bytes, counted cheaply:
    a 100,000-column file is refused here in milliseconds, before DuckDB plans 100,000 columns."""
    with path.open("rb") as f:
        line = f.readline(MAX_LINE)
    d = delim.encode()
    if line.count(d) < 100:
        return line.count(d) + 1
    try:  # quoted fields may hold the delimiter: count properly
        return len(next(csv.reader([line.decode("utf-8", errors="replace").rstrip("\r\n")], delimiter=delim)))
    except (csv.Error, StopIteration):
        return line.count(d) + 1


def check_width(path: Path, delim: str, max_columns: int, *, named: Path | None = None) -> None:
    """Refuse a first line wider than ``max_columns`` fields; ``named`` is the file the user gave,
    when ``path`` is a transcoded copy of it."""
    width = first_line_width(path, delim)
    if width > max_columns:
        raise InputError(f"the first line has {width:,} fields, more than the limit of {max_columns:,} columns; "
                         "refused", path=named or path, line=1)


def read_csv(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, *, strict: bool,
    forced_encoding: str | None, header: bool | None, lines: int | None = None,
) -> Table:
    """Read ``path`` into table ``name``; ``lines`` is the file's physical line count if known."""
    from jejak.intake import Skipped, Table

    codec = forced_encoding or enc.detect(path)
    source = path
    tmp: Path | None = None
    # DuckDB reads UTF-8 and latin-1 itself; anything else (UTF-16/32, cp1252) through a UTF-8 copy.
    if codec.lower().replace("_", "-") not in ("utf-8", "utf8", "latin-1", "latin1"):
        tmp = source = enc.transcode(path, codec)
    try:
        sample = enc.peek_text(source)
        if "\n" not in sample and source.stat().st_size > MAX_LINE:
            raise InputError("the first line is longer than 16 MiB; this is not a delimited file", path=path, line=1)
        delim = sniff_delimiter(sample)
        has_header = True if header is None else header
        check_width(source, delim, _limits().max_columns, named=path)
        first = parse_header(sample, delim)
        names = column_names(first) if has_header else numbered(len(first))
        _load(con, source, path, name, names, delim, has_header, codec)
        skipped = _rejects(con, source, path, strict)
        rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        if rows == 0:
            raise InputError("the file has no data rows", path=path)
        one_per_line = not skipped and lines == rows + has_header  # then no record spans lines
        if not one_per_line:
            _fix_lines(con, source, name, delim, has_header, names, {line for line, _ in skipped})
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return Table(
        name=name, columns=names, rows=rows, format="tsv" if delim == "\t" else "csv", encoding=codec,
        delimiter=delim, header=has_header, skipped=[Skipped(line, why) for line, why in skipped], source=str(path),
    )


def _load(
    con: duckdb.DuckDBPyConnection, source: Path, path: Path, name: str, names: list[str], delim: str,
    header: bool, codec: str,
) -> None:
    con.execute("DROP TABLE IF EXISTS _jj_rejects; DROP TABLE IF EXISTS _jj_rejects_scan")
    codec_opt = "latin-1" if codec.startswith("latin") else "utf-8"
    # Record numbers from the row id, not row_number() OVER (): the window serialises the
    # parallel reader and cost 40% of reading 10M rows. Insertion order (DuckDB's default,
    # set here so nothing can turn it off) makes row id i the file's (i+1)-th record.
    con.execute("SET preserve_insertion_order = true")
    # Strict RFC 4180 parsing first; a file that mixes CRLF and LF line ends (concatenated exports)
    # fails it as a whole, and is read again with DuckDB's lenient parser, which accepts both.
    for strict_mode in (True, False):
        con.execute("DROP TABLE IF EXISTS _jj_rejects; DROP TABLE IF EXISTS _jj_rejects_scan")
        reader = _read_csv_sql(source, names, delim, header, codec_opt, rejects=True, strict_mode=strict_mode)
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {reader}")
            break
        except duckdb.Error as exc:
            if not strict_mode:
                # DuckDB's message quotes the offending line; keep only the kind of error.
                raise InputError("the file cannot be read as delimited text (" + type(exc).__name__ + ")",
                                 path=path) from None
    con.execute(f"ALTER TABLE {name} ADD COLUMN _line BIGINT")
    con.execute(f"UPDATE {name} SET _line = rowid + {2 if header else 1}")


def _read_csv_sql(source: Path, names: list[str], delim: str, header: bool, codec: str, *, rejects: bool,
                  strict_mode: bool = True) -> str:
    cols = "{" + ", ".join(f"'{_lit(n)}': 'VARCHAR'" for n in names) + "}"
    # Without rejects DuckDB raises at the first malformed row or undecodable byte (the fast path);
    # with them it skips such rows and lists them, which read_csv turns into located errors.
    on_error = (
        ", store_rejects = true, ignore_errors = true, rejects_table = '_jj_rejects', rejects_scan = '_jj_rejects_scan'"
        if rejects else ""
    )
    return (
        f"read_csv('{_lit(str(source))}', delim = '{_lit(delim)}', quote = '\"', escape = '\"', "
        f"header = {str(header).lower()}, auto_detect = false, columns = {cols}, "
        f"strict_mode = {str(strict_mode).lower()}, "
        f"encoding = '{codec}', max_line_size = {MAX_LINE}{on_error})"
    )


def _rejects(con: duckdb.DuckDBPyConnection, source: Path, path: Path, strict: bool) -> list[tuple[int, str]]:
    found = con.execute(
        "SELECT byte_position, error_type, column_name, error_message FROM _jj_rejects ORDER BY byte_position"
    ).fetchall()
    if not found:
        return []
    out = []
    # One pass over the file for all rejected rows (a call per row re-read the file: quadratic).
    lines = _physical_lines(source, [max(int(r[0] or 1) - 1, 0) for r in found])
    seen: set[int] = set()
    for (_pos, kind, column, message), line in zip(found, lines, strict=True):
        if line in seen:  # DuckDB reports a line once per problem (each missing column): count it once
            continue
        seen.add(line)
        why = str(message).split("\n")[0] if kind in ("MISSING COLUMNS", "TOO MANY COLUMNS") else str(kind).lower()
        out.append((line, f"{why}"))
        if strict:
            raise InputError(f"malformed row ({why})", path=path, line=line, column=column or None)
    return out


def _physical_lines(source: Path, positions: list[int]) -> list[int]:
    """Line numbers of ascending byte positions, in one pass over the file."""
    out, count, at = [], 1, 0
    with source.open("rb") as f:
        for pos in positions:
            while at < pos:
                chunk = f.read(min(pos - at, 1 << 22))
                if not chunk:
                    break
                count += chunk.count(b"\n")
                at += len(chunk)
            out.append(count)
    return out


def _fix_lines(
    con: duckdb.DuckDBPyConnection, source: Path, name: str, delim: str, header: bool, names: list[str],
    rejected: set[int],
) -> None:
    """Turn record numbers into physical line numbers.

    Without quoted line breaks or skipped rows the two differ only by the header; otherwise
    (rare) the start line of every record is taken from Python's csv reader.
    """
    offset = 1 if header else 0
    # _line already holds record number + header; only quoted line breaks or skipped rows shift it.
    multiline = " OR ".join(f"contains({quote(n)}, chr(10))" for n in names)
    has_multiline = con.execute(f"SELECT count(*) FROM {name} WHERE {multiline}").fetchall()[0][0]
    if not has_multiline and not rejected:
        return
    starts = []
    with source.open(newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f, delimiter=delim)
        line = 1
        try:
            for i, _row in enumerate(reader):
                if i >= offset and line not in rejected:
                    starts.append(line)
                line = reader.line_num + 1
        except csv.Error:
            # Only DuckDB's lenient parser read this file (stray CRs): record numbers stand as lines.
            return
    import pyarrow as pa

    lines = pa.table({"_rec": pa.array(range(1, len(starts) + 1)), "_phys": pa.array(starts)})
    con.register("_jj_lines", lines)
    con.execute(f"UPDATE {name} SET _line = l._phys FROM _jj_lines l WHERE {name}._line - {offset} = l._rec")
    con.unregister("_jj_lines")


def _lit(s: str) -> str:
    return s.replace("'", "''")
