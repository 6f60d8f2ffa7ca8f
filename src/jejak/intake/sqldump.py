"""SQL dumps (mysqldump, pg_dump, SQLite ``.dump``) read as tables, without executing any SQL.

A dump is evidence, not a script: running it would let the file choose what our engine does.
So we *scan* it. The scanner reads the file in large chunks and recognises three statements:
``CREATE TABLE`` (for column names), ``INSERT INTO ... VALUES (...),(...);`` and PostgreSQL
``COPY tbl (cols) FROM stdin;`` data blocks ending in ``\\.``. Everything else is skipped.

Speed comes from never touching a value in Python. One compiled regular expression matches a
whole INSERT statement (strings included); its value list is turned into CSV text by splitting on
the quote character, so the even pieces are exactly the text *outside* strings, where deleting
whitespace and turning ``),(`` into a line break are safe; ``bytes`` methods do that in C. DuckDB
then parses the CSV. Every record starts with the line of its statement, which becomes ``_line``
and survives DuckDB skipping a bad record. COPY data is already tab-separated text: each line is
prefixed with its line number and the backslash escapes are undone afterwards in SQL.

Dialects: MySQL strings use backslash escapes (``\\'``, ``\\n``, ``\\\\``) and ``_binary``
prefixes; PostgreSQL/SQLite strings are standard (``''`` doubles a quote, a backslash is a
backslash) except ``E'...'`` strings. The dialect is chosen once per file from its head
(backquoted identifiers or a MySQL/MariaDB banner mean MySQL).
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import duckdb
import numpy as np

from jejak.errors import InputError
from jejak.intake import scratch
from jejak.intake.names import column_names
from jejak.sqltext import quote

if TYPE_CHECKING:
    from jejak.intake import Limits, Table

CHUNK = 32 << 20
BATCH = 16 << 20  # bytes of VALUES text converted at once
_WS = b" \t\r\n"
_SENTINEL = b"\x00"  # stands for an escaped backslash while the other escapes are replaced
_SEP = b"\x00"  # outside strings a dump has no NUL byte

_IDENT = rb'(?:`[^`]+`|"[^"]+"|\[[^\]]+\]|[\w$]+)(?:\s*\.\s*(?:`[^`]+`|"[^"]+"|\[[^\]]+\]|[\w$]+))*'
_START = re.compile(rb"^[ \t]*(?:INSERT|REPLACE|CREATE|COPY)\b", re.I | re.M)
_HEAD = (
    rb"(?:INSERT|REPLACE)\s+(?:(?:IGNORE|LOW_PRIORITY|DELAYED|HIGH_PRIORITY|OR\s+\w+)\s+)*INTO\s+("
    + _IDENT
    + rb")\s*(?:\(([^)]*)\))?\s*VALUES\s*"
)
_INSERT_HEAD = re.compile(_HEAD, re.I)
# A statement ends at a semicolon that ends a line and is outside strings (an even number of
# quotes before it, once escapes are normalised to doubled quotes).
_END = re.compile(rb";[ \t]*(?:\r?\n|\Z)")
_CREATE = re.compile(
    rb"CREATE\s+(?:(?:TEMPORARY|TEMP|UNLOGGED|GLOBAL|LOCAL)\s+)*TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?("
    + _IDENT
    + rb")\s*\(((?:[^'();]|'[^']*'|\((?:[^()']|'[^']*'|\([^()]*\))*\))*)\)[^;]*;",
    re.I | re.S,
)
_COPY = re.compile(
    rb"COPY\s+(" + _IDENT + rb")\s*(?:\(([^)]*)\))?\s+FROM\s+stdin\b[^;\n]*;[^\n]*\n", re.I
)
_E_STRING = re.compile(rb"(?<![\w'])E'((?:[^'\\]|\\.|'')*)'(?!')", re.S)
_NOT_COLUMN = re.compile(
    rb"\s*(?:PRIMARY|KEY|UNIQUE|CONSTRAINT|INDEX|FOREIGN|CHECK|FULLTEXT|SPATIAL|EXCLUDE|PERIOD)\b", re.I
)


@dataclass
class _Sink:
    """One table's rows, converted to an intermediate delimited file as they are found."""

    table: str
    kind: str  # "values" (quoted CSV) or "copy" (tab separated, backslash escapes)
    columns: list[str] | None
    path: Path
    handle: BinaryIO
    size: int = 0
    first_line: int = 0
    pending: list[tuple[int, bytes]] = field(default_factory=list)
    pending_size: int = 0


@dataclass
class _Scan:
    dialect: str
    limits: Limits
    want: str | None
    tmp: Path
    path: Path
    creates: dict[str, list[str]] = field(default_factory=dict)
    sinks: dict[tuple[str, str, tuple[str, ...] | None], _Sink] = field(default_factory=dict)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def looks_like_dump(text: str) -> bool:
    """True when a text sample is SQL statements rather than delimited data."""
    body = re.sub(r"(?m)^[ \t]*(?:--|#)[^\n]*$|/\*.*?\*/", "", text, flags=re.S).lstrip("; \t\r\n")
    if not re.match(r"(?i)(CREATE|INSERT|REPLACE|COPY|SET|DROP|LOCK|BEGIN|START|USE|ALTER|SELECT|PRAGMA)\b", body):
        return False
    return bool(re.search(r"(?im)^\s*(CREATE\s+TABLE|INSERT\s+INTO|COPY\s+\S+.*FROM\s+stdin)", text))


def read_dump(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, *, strict: bool, limits: Limits,
    table: str | None = None, encoding: str | None = None,
) -> Table:
    """Read the largest table of the dump (or ``table``) into the TEMP table ``name``."""
    tmp = Path(tempfile.mkdtemp(prefix="jejak-sql-", dir=scratch.directory()))
    try:
        codec = encoding or _codec(path)
        scan = _Scan(_dialect(path), limits, table.lower() if table else None, tmp, path)
        _scan_file(path, scan, strict, codec)
        for sink in scan.sinks.values():
            _flush(scan, sink)
            sink.handle.close()
        return _load(con, path, name, scan, strict, codec)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- scanning --------------------------------------------------------------------------------------


def _dialect(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(1 << 20)
    if b"`" in head or re.search(rb"(?i)(MySQL|MariaDB) dump|/\*!\d{5}", head):
        return "mysql"
    return "postgres"


def _codec(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(4 << 20)
    cut = head.rfind(b"\n") + 1 or len(head)
    try:
        head[:cut].decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # Valid multi-byte UTF-8 before the bad byte means a mixed file: its bad lines are skipped.
        return "utf-8" if not head[: exc.start].isascii() else "cp1252"


class _Buffer:
    """The file as a sliding window of decoded bytes, with line numbers counted incrementally."""

    def __init__(self, f: BinaryIO, codec: str) -> None:
        self.f, self.codec = f, codec
        self.buf, self.pos, self.eof = b"", 0, False
        self.mark, self.mark_line = 0, 1

    def line_at(self, p: int) -> int:
        """Line of byte ``p``; positions must be asked in increasing order (O(total) overall)."""
        self.mark_line += self.buf.count(b"\n", self.mark, p)
        self.mark = p
        return self.mark_line

    def more(self) -> bool:
        """Drop what is before ``pos`` and append one chunk; False at the end of the file."""
        if self.eof:
            return False
        self.line_at(max(self.pos, self.mark))
        self.mark -= self.pos
        self.buf, self.pos = self.buf[self.pos :], 0
        chunk = self.f.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf += _decode(chunk, self.codec)
        return True


def _scan_file(path: Path, scan: _Scan, strict: bool, codec: str) -> None:
    matchers = {b"IN": _INSERT_HEAD, b"RE": _INSERT_HEAD, b"CR": _CREATE, b"CO": _COPY}
    copy: _Sink | None = None  # inside a COPY data block
    skipping = False  # inside an over-long line
    with path.open("rb") as f:
        b = _Buffer(f, codec)
        while True:
            buf = b.buf
            if skipping:
                nl = buf.find(b"\n", b.pos)
                if nl >= 0:
                    b.pos, skipping = nl + 1, False
                    continue
                b.pos = len(buf)
                if not b.more():
                    break
                continue
            if copy is not None:
                state = _copy_data(scan, copy, b)
                if state is None:
                    skipping = True
                elif state:
                    copy = None
                elif not b.more():
                    if b.pos < len(b.buf):
                        _copy_data(scan, copy, b)
                    _skip(scan, strict, b.line_at(b.pos), "COPY data block without its end marker (\\.); "
                          "the dump is truncated")
                    break
                continue
            m = _START.search(buf, b.pos)
            if m is None:
                b.pos = max(b.pos, buf.rfind(b"\n") + 1)  # keep a possibly incomplete last line
                if len(buf) - b.pos > scan.limits.max_line:
                    _skip(scan, strict, b.line_at(b.pos), "a line longer than the limit; skipped")
                    skipping = True
                    continue
                if not b.more():
                    break
                continue
            kw_at = m.end() - len(m.group(0).lstrip())
            kw = buf[kw_at : kw_at + 2].upper()
            here = b.line_at(kw_at)
            sm = matchers[kw].match(buf, kw_at)
            values: tuple[bytes, int] | None = None
            if sm is not None and kw in (b"IN", b"RE"):
                values = _values(scan, buf, sm.end())
            if sm is None or (kw in (b"IN", b"RE") and values is None):
                incomplete = (kw in (b"IN", b"RE") and (sm is not None or buf.find(b"\n", kw_at) < 0)) or \
                    buf.find(b";" if kw == b"CR" else b"\n", kw_at) < 0
                if incomplete and not b.eof and len(buf) - kw_at <= scan.limits.max_statement:
                    b.pos = kw_at
                    b.more()
                    continue
                if kw in (b"IN", b"RE"):
                    why = ("an INSERT statement longer than the limit" if len(buf) - kw_at > scan.limits.max_statement
                           else "an incomplete INSERT statement at the end (truncated dump?)" if b.eof
                           else "a malformed INSERT statement")
                    _skip(scan, strict, here, why + "; skipped")
                    skipping = len(buf) - kw_at > scan.limits.max_statement  # not buffered any further
                b.pos = m.end()
                continue
            b.pos = sm.end()
            if values is not None:
                b.pos = values[1]
                _insert(scan, sm.group(1), sm.group(2), values[0], here)
            elif kw == b"CR":
                scan.creates[_table_key(sm.group(1))] = _create_columns(sm.group(2))
            else:
                copy = _sink(scan, _table_key(sm.group(1)), "copy", _columns(sm.group(2)), here) or _SKIP_SINK


def _values(scan: _Scan, buf: bytes, start: int) -> tuple[bytes, int] | None:
    """The statement's VALUES text from ``start`` with escapes normalised, and where it ends."""
    p = start
    while True:
        m = _END.search(buf, p)
        if m is None or m.start() - start > scan.limits.max_statement:
            return None
        text = buf[start : m.start()]
        if scan.dialect == "mysql":
            text = _mysql_escapes(text)
        elif b"E'" in text:
            text = _E_STRING.sub(_e_string, text)
        if text.count(b"'") % 2 == 0:
            return text, m.end()
        p = m.end()


def _decode(chunk: bytes, codec: str) -> bytes:
    if codec in ("utf-8", "utf8"):
        return chunk
    try:
        return chunk.decode(codec).encode("utf-8")
    except UnicodeDecodeError:
        return chunk.decode("latin-1").encode("utf-8")


def _skip(scan: _Scan, strict: bool, line: int, why: str) -> None:
    if strict:
        raise InputError(why, path=scan.path, line=line)
    scan.skipped.append((line, why))


def _table_key(raw: bytes) -> str:
    last = re.split(rb"\s*\.\s*(?=[`\"\[\w$])", raw.strip())[-1]
    return _unquote(last)


def _unquote(raw: bytes) -> str:
    s = raw.strip().decode("utf-8", errors="replace")
    if len(s) >= 2 and s[0] + s[-1] in ("``", '""', "[]"):
        s = s[1:-1]
    return s


def _columns(raw: bytes | None) -> list[str] | None:
    if raw is None or not raw.strip():
        return None
    return [_unquote(c) for c in raw.split(b",")]


def _create_columns(body: bytes) -> list[str]:
    items, depth, start, quote = [], 0, 0, False
    for i, ch in enumerate(body):  # one CREATE statement: a few hundred bytes
        if ch == 0x27:
            quote = not quote
        elif not quote and ch == 0x28:
            depth += 1
        elif not quote and ch == 0x29:
            depth -= 1
        elif not quote and depth == 0 and ch == 0x2C:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    cols = []
    for item in items:
        if not item.strip() or _NOT_COLUMN.match(item):
            continue
        m = re.match(rb'\s*(`[^`]+`|"[^"]+"|\[[^\]]+\]|[^\s,]+)', item)
        if m:
            cols.append(_unquote(m.group(1)))
    return cols


def _sink(scan: _Scan, table: str, kind: str, columns: list[str] | None, line: int) -> _Sink | None:
    if scan.want is not None and table.lower() != scan.want:
        return None
    key = (table, kind, tuple(columns) if columns else None)
    sink = scan.sinks.get(key)
    if sink is None:
        path = scan.tmp / f"t{len(scan.sinks)}.{kind}"
        sink = _Sink(table, kind, columns, path, path.open("wb"), first_line=line)
        scan.sinks[key] = sink
    return sink


def _insert(scan: _Scan, table: bytes, columns: bytes | None, values: bytes, line: int) -> None:
    sink = _sink(scan, _table_key(table), "values", _columns(columns), line)
    if sink is None:
        return
    sink.pending.append((line, values))
    sink.pending_size += len(values)
    if sink.pending_size >= BATCH:
        _flush(scan, sink)


def _flush(scan: _Scan, sink: _Sink) -> None:
    if sink.kind != "values" or not sink.pending:
        return
    out = [_tuples(scan, line, values) for line, values in sink.pending]
    data = b"".join(o for o in out if o)
    sink.handle.write(data)
    sink.size += len(data)
    sink.pending, sink.pending_size = [], 0


def _tuples(scan: _Scan, line: int, values: bytes) -> bytes:
    """``(a,'b'),(c,'d')`` -> ``line,a,'b'\\nline,c,'d'\\n`` (CSV with ' quotes, '' escapes).

    ``values`` has its escapes normalised already: every quote outside a string delimits one.
    """
    tag = str(line).encode()
    if len(values) >= _PLAIN_MIN and _plain(values):
        text = values.replace(b"),(", b"\n" + tag + b",")
        if not (text.startswith(b"(") and text.endswith(b")")):
            scan.skipped.append((line, "malformed VALUES list; statement skipped"))
            return b""
        return tag + b"," + text[1:-1] + b"\n"
    pieces = values.split(b"'")
    # All text outside strings, joined by a byte that cannot occur there, edited in a few C calls.
    outside = _SEP.join(pieces[0::2]).translate(None, _WS).replace(b"),(", b"\n" + tag + b",")
    if scan.dialect == "mysql":
        outside = outside.replace(b"_binary", b"")
    parts = outside.split(_SEP)
    if len(parts) != (len(pieces) + 1) // 2:  # a NUL byte outside strings: not a dump we understand
        scan.skipped.append((line, "malformed VALUES list; statement skipped"))
        return b""
    pieces[0::2] = parts
    text = b"'".join(pieces)
    if not (text.startswith(b"(") and text.endswith(b")")):
        scan.skipped.append((line, "malformed VALUES list; statement skipped"))
        return b""
    return tag + b"," + text[1:-1] + b"\n"


_PLAIN_MIN = 1 << 16  # below this, numpy's per-call cost exceeds what it saves


def _plain(values: bytes) -> bool:
    """True when the only edit needed outside strings is ``),(`` -> line break (mysqldump's shape).

    A byte is inside a string when an odd number of quotes precede it (doubled quotes toggle
    twice), so numpy finds, without a Python object per value, whether any whitespace lies
    outside strings or any ``),(`` inside one.
    """
    if b"_binary" in values:
        return False
    a = np.frombuffer(values, dtype=np.uint8)
    quotes = np.flatnonzero(a == 0x27)
    ws = np.flatnonzero((a == 0x20) | (a == 0x0A) | (a == 0x0D) | (a == 0x09))
    if ws.size and (np.searchsorted(quotes, ws) % 2 == 0).any():
        return False
    sep = np.flatnonzero((a[:-2] == 0x29) & (a[1:-1] == 0x2C) & (a[2:] == 0x28))
    return not (sep.size and (np.searchsorted(quotes, sep) % 2 == 1).any())


def _mysql_escapes(values: bytes) -> bytes:
    if b"\\" not in values:
        return values
    if _SENTINEL in values:
        return re.sub(rb"\\(.)", _mysql_escape, values, flags=re.S)
    v = values.replace(b"\\\\", _SENTINEL) if b"\\\\" in values else values
    for esc, raw in ((b"\\'", b"''"), (b'\\"', b'"'), (b"\\n", b"\n"), (b"\\r", b"\r"), (b"\\t", b"\t"),
                     (b"\\Z", b"\x1a"), (b"\\0", _SENTINEL + b"0")):
        if esc in v:  # a search is cheaper than a copy, and most escapes never occur
            v = v.replace(esc, raw)
    return v.replace(_SENTINEL, b"\\") if _SENTINEL in v else v


_MY_ESC = {b"'": b"''", b'"': b'"', b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a", b"\\": b"\\"}


def _mysql_escape(m: re.Match[bytes]) -> bytes:
    return _MY_ESC.get(m.group(1), b"\\" + m.group(1))


def _e_string(m: re.Match[bytes]) -> bytes:
    body = re.sub(rb"\\(.)", lambda e: _PG_ESC.get(e.group(1), e.group(1)), m.group(1).replace(b"''", b"'"), flags=re.S)
    return b"'" + body.replace(b"'", b"''") + b"'"


_PG_ESC = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"v": b"\v"}


_SKIP_SINK = _Sink("", "skip", None, Path(), io.BytesIO())  # COPY data of a table we were not asked for


def _find_copy_end(buf: bytes, start: int = 0) -> int:
    if buf.startswith(b"\\.\n", start) or buf.startswith(b"\\.\r\n", start):
        return start
    i = buf.find(b"\n\\.\n", start)
    j = buf.find(b"\n\\.\r\n", start)
    ends = [x for x in (i, j) if x >= 0]
    return min(ends) + 1 if ends else -1


def _copy_data(scan: _Scan, sink: _Sink, b: _Buffer) -> bool | None:
    """Consume complete COPY data lines from the buffer.

    True when the block's end was reached, False when more data is needed, None when the line at
    the buffer's position is too long and must be skipped.
    """
    buf, pos = b.buf, b.pos
    end = _find_copy_end(buf, pos)
    stop = end if end >= 0 else (len(buf) if b.eof else buf.rfind(b"\n", pos) + 1)
    if stop <= pos and end < 0:
        if len(buf) - pos > scan.limits.max_line:
            _skip(scan, False, b.line_at(pos), "a COPY data line longer than the limit; skipped")
            return None  # the caller skips to the end of this line without buffering it
        return False
    first = b.line_at(pos)
    block = buf[pos:stop]
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if sink.kind == "copy" and lines:
        lengths = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
        numbers = np.arange(first, first + len(lines), dtype=np.int64)
        long = lengths > scan.limits.max_line
        if long.any():
            for n in numbers[long].tolist():
                scan.skipped.append((n, "a COPY data line longer than the limit; skipped"))
            lines = [lines[i] for i in np.flatnonzero(~long).tolist()]
            numbers = numbers[~long]
        tags = numbers.astype(bytes).tolist()
        data = b"\n".join(map(b"\t".join, zip(tags, lines, strict=True))) + b"\n"
        sink.handle.write(data)
        sink.size += len(data)
    if end >= 0:
        nl = buf.find(b"\n", end)
        b.pos = len(buf) if nl < 0 else nl + 1
        return True
    b.pos = stop
    return False


# -- loading ---------------------------------------------------------------------------------------


def _load(con: duckdb.DuckDBPyConnection, path: Path, name: str, scan: _Scan, strict: bool, codec: str) -> Table:
    from jejak.intake import Skipped, Table

    sinks = [s for s in scan.sinks.values() if s.size > 0]
    if not sinks:
        what = f"no data for table {scan.want!r}" if scan.want else "no table data (INSERT or COPY)"
        raise InputError(f"the SQL dump holds {what}", path=path)
    sizes: dict[str, int] = {}
    for s in sinks:
        sizes[s.table] = sizes.get(s.table, 0) + s.size
    chosen = max(sizes, key=lambda t: sizes[t])
    others = sorted(t for t in sizes if t != chosen)
    note = None
    if others:
        note = f"the dump holds data for {len(others) + 1} tables; read the largest, {chosen!r} (others: " + \
            ", ".join(repr(o) for o in others[:10]) + ("..." if len(others) > 10 else "") + ")"
    # A table's rows may come from several statements kinds or column orders: one part each.
    parts = [s for s in sinks if s.table == chosen]
    names: list[str] = []
    skipped = list(scan.skipped)
    for i, sink in enumerate(parts):
        cols = column_names(sink.columns or scan.creates.get(sink.table) or _count_columns(sink))
        if len(cols) > scan.limits.max_columns:
            raise InputError(f"the table has {len(cols):,} columns, more than the limit of "
                             f"{scan.limits.max_columns:,}; refused", path=path)
        names += [c for c in cols if c not in names]
        skipped += _load_part(con, path, name if len(parts) == 1 else f"_jj_sql{i}", sink, cols, scan.limits, strict)
    if len(parts) > 1:
        union = " UNION ALL BY NAME ".join(f"SELECT * FROM _jj_sql{i}" for i in range(len(parts)))
        select = ", ".join(quote(n) for n in names)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {select}, _line FROM ({union}) ORDER BY _line")
        for i in range(len(parts)):
            con.execute(f"DROP TABLE IF EXISTS _jj_sql{i}")
    rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    if rows == 0:
        raise InputError("the SQL dump has no readable data rows", path=path)
    skipped.sort(key=lambda s: (s[0] is None, s[0] or 0))
    return Table(
        name=name, columns=names, rows=rows, format="sql", encoding=codec, delimiter=None, header=True,
        skipped=[Skipped(line, why) for line, why in skipped], source=str(path), note=note,
    )


def _load_part(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, sink: _Sink, names: list[str], limits: Limits,
    strict: bool,
) -> list[tuple[int, str]]:
    cols = "{'_l': 'VARCHAR', " + ", ".join(f"'{_lit(n)}': 'VARCHAR'" for n in names) + "}"
    if sink.kind == "values":
        opts = "delim = ',', quote = '''', escape = '''', nullstr = 'NULL', allow_quoted_nulls = false"
        select = ", ".join(quote(n) for n in names)
    else:
        opts = "delim = '\t', quote = '', escape = '', nullstr = '\\N'"
        select = ", ".join(f"{_copy_unescape(quote(n))} AS {quote(n)}" for n in names)
    con.execute("DROP TABLE IF EXISTS _jj_rejects; DROP TABLE IF EXISTS _jj_rejects_scan")
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {name} AS
                SELECT {select}, CAST(_l AS BIGINT) AS _line FROM read_csv('{_lit(str(sink.path))}',
                    {opts}, header = false, auto_detect = false, columns = {cols}, strict_mode = true,
                    encoding = 'utf-8', max_line_size = {max(limits.max_statement, 1 << 20)},
                    store_rejects = true, ignore_errors = true,
                    rejects_table = '_jj_rejects', rejects_scan = '_jj_rejects_scan')"""
        )
    except duckdb.Error as exc:
        raise InputError(f"the SQL dump's values cannot be read ({type(exc).__name__})", path=path) from None
    rejected = con.execute(
        "SELECT DISTINCT TRY_CAST(regexp_extract(csv_line, '^[0-9]+') AS BIGINT) AS l, error_type "
        "FROM _jj_rejects ORDER BY l"
    ).fetchall()
    out = []
    for line, kind in rejected:
        why = {"INVALID ENCODING": "bytes that are not valid UTF-8"}.get(kind, f"{str(kind).lower()} in a row")
        if strict:
            raise InputError(f"malformed row ({why})", path=path, line=line)
        out.append((line, why + "; row skipped"))
    return out


def _count_columns(sink: _Sink) -> list[str]:
    with sink.path.open("rb") as f:
        first = f.readline().decode("utf-8", errors="replace")
    if sink.kind == "values":
        row = next(csv.reader(io.StringIO(first), delimiter=",", quotechar="'", doublequote=True), [])
    else:
        row = first.rstrip("\n").split("\t")
    return [f"column{i + 1}" for i in range(max(len(row) - 1, 1))]


def _copy_unescape(col: str) -> str:
    # Escaped backslashes are parked on a private-use character so "\\n" stays a backslash + n.
    expr = f"replace({col}, '\\\\', chr(57344))"
    for esc, code in (("t", 9), ("n", 10), ("r", 13), ("b", 8), ("f", 12), ("v", 11)):
        expr = f"replace({expr}, '\\{esc}', chr({code}))"
    expr = f"replace({expr}, chr(57344), '\\')"
    return f"CASE WHEN contains({col}, '\\') THEN {expr} ELSE {col} END"


def _lit(s: str) -> str:
    return s.replace("'", "''")
