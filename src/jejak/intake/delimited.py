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
from jejak.sqltext import quote, unique_names

if TYPE_CHECKING:
    from jejak.intake import Table

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
    row = next(csv.reader(io.StringIO(sample.lstrip("\ufeff")), delimiter=delim), [])
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
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
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
    if not first_row_is_header(sample_rows(sample, delim)):
        return None  # read_table names the columns column1.. (never after values in the first row)
    names = unique_names([c or f"column{i + 1}" for i, c in enumerate(parse_header(sample, delim))])
    return Scan(sql=_read_csv_sql(path, names, delim, True, "utf-8", rejects=False), columns=names, delimiter=delim)


def read_csv(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, *, strict: bool,
    forced_encoding: str | None, header: bool | None, lines: int | None = None,
) -> Table:
    """Read ``path`` into table ``name``; ``lines`` is the file's physical line count if known."""
    from jejak.intake import Skipped, Table

    codec = forced_encoding or enc.detect(path)
    source = path
    tmp: Path | None = None
    if codec.lower().replace("_", "-") not in ("utf-8", "utf8", "utf-16", "utf16", "latin-1", "latin1"):
        tmp = source = enc.transcode(path, codec)
    try:
        sample = enc.peek_text(source) if codec != "utf-16" else _utf16_sample(source, path)
        if "\n" not in sample and source.stat().st_size > MAX_LINE:
            raise InputError("the first line is longer than 16 MiB; this is not a delimited file", path=path, line=1)
        delim = sniff_delimiter(sample)
        has_header = True if header is None else header
        first = parse_header(sample, delim)
        if has_header:
            names = unique_names([c or f"column{i + 1}" for i, c in enumerate(first)])
        else:
            names = [f"column{i + 1}" for i in range(len(first))]
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
    codec_opt = "utf-16" if codec.startswith("utf-16") else ("latin-1" if codec.startswith("latin") else "utf-8")
    reader = _read_csv_sql(source, names, delim, header, codec_opt, rejects=True)
    try:
        # Record numbers from the row id, not row_number() OVER (): the window serialises the
        # parallel reader and cost 40% of reading 10M rows. Insertion order (DuckDB's default,
        # set here so nothing can turn it off) makes row id i the file's (i+1)-th record.
        con.execute("SET preserve_insertion_order = true")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {reader}")
        con.execute(f"ALTER TABLE {name} ADD COLUMN _line BIGINT")
        con.execute(f"UPDATE {name} SET _line = rowid + {2 if header else 1}")
    except duckdb.Error as exc:
        # DuckDB's message quotes the offending line; keep only its first sentence-free gist.
        raise InputError("the file cannot be read as delimited text (" + type(exc).__name__ + ")", path=path) from None


def _read_csv_sql(source: Path, names: list[str], delim: str, header: bool, codec: str, *, rejects: bool) -> str:
    cols = "{" + ", ".join(f"'{_lit(n)}': 'VARCHAR'" for n in names) + "}"
    # Without rejects DuckDB raises at the first malformed row or undecodable byte (the fast path);
    # with them it skips such rows and lists them, which read_csv turns into located errors.
    on_error = (
        ", store_rejects = true, ignore_errors = true, rejects_table = '_jj_rejects', rejects_scan = '_jj_rejects_scan'"
        if rejects else ""
    )
    return (
        f"read_csv('{_lit(str(source))}', delim = '{_lit(delim)}', quote = '\"', escape = '\"', "
        f"header = {str(header).lower()}, auto_detect = false, columns = {cols}, strict_mode = true, "
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
    for (_pos, kind, column, message), line in zip(found, lines, strict=True):
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
        for i, _row in enumerate(reader):
            if i >= offset and line not in rejected:
                starts.append(line)
            line = reader.line_num + 1
    import pyarrow as pa

    lines = pa.table({"_rec": pa.array(range(1, len(starts) + 1)), "_phys": pa.array(starts)})
    con.register("_jj_lines", lines)
    con.execute(f"UPDATE {name} SET _line = l._phys FROM _jj_lines l WHERE {name}._line - {offset} = l._rec")
    con.unregister("_jj_lines")


def _lit(s: str) -> str:
    return s.replace("'", "''")


def _utf16_sample(source: Path, path: Path) -> str:
    """The first 64 KiB of a UTF-16 file as text, without reading the whole file."""
    with source.open("rb") as f:
        head = f.read(1 << 17)
    if len(head) % 2:  # a cut in the middle of a code unit: keep whole units only
        head = head[:-1]
    try:
        return head.decode("utf-16", errors="strict")[:65536]
    except UnicodeDecodeError as exc:
        # Near the end of the sample a surrogate pair may be cut; anything earlier is a broken file.
        if exc.start >= len(head) - 4:
            return head[: exc.start].decode("utf-16")[:65536]
        raise InputError("the file starts like UTF-16 but is not valid UTF-16", path=path,
                         line=None) from None
