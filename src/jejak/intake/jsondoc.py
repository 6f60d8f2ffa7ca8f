"""JSON leaks: arrays of records, JSON lines, and records wrapped in an object.

DuckDB reads a clean array or clean JSON lines fast, and that is tried first. Everything else is
read here, in Python, so that nothing is misread:

* a document that is one object wrapping the rows (``{"data": [...]}``, ``{"result": {"records":
  [...]}, "status": "ok"}``): the single list of records found by descending through objects is
  the table; two such lists are ambiguous and refused, rather than guessed;
* JSON lines with junk among them (an HTML error page, a cut line): each line that is not a JSON
  object is skipped and listed with its line number, never read as a one-column table;
* nesting too deep for the parser (``[[[[...``) is a clean error, not a RecursionError.

Values are kept as text: strings as they are, numbers and booleans as written in JSON, nested
objects and lists as compact JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from jejak.errors import InputError
from jejak.intake import encoding as enc
from jejak.intake.header import first_row_is_header
from jejak.intake.names import column_names, numbered
from jejak.intake.tabular import as_text, lit, load_arrow

if TYPE_CHECKING:
    from jejak.intake import Limits, Table

# Beyond this the Python reader would hold too much in memory; DuckDB's reader is the only option.
MAX_PYTHON_BYTES = 512 << 20


def read_json(con: duckdb.DuckDBPyConnection, path: Path, name: str, fmt: str, limits: Limits,
              strict: bool) -> Table:
    from jejak.intake import Skipped, Table

    _check_first_line(path, limits)
    fast = _duckdb(con, path, name, fmt, limits)
    if fast is not None:
        cols, rows = fast
        t = Table(name=name, columns=cols, rows=rows, format=fmt, source=str(path))
        if fmt == "json" and not _ends_with(path, b"]"):
            # DuckDB reads the complete records of a cut array; say that the rest is missing.
            t.skipped.append(Skipped(None, "the JSON array is truncated (it does not end with ']'); "
                                           "records after the cut are missing"))
        return t
    if path.stat().st_size > MAX_PYTHON_BYTES:
        raise InputError("invalid JSON (or JSON too irregular to read at this size)", path=path)
    text = _text(path)
    try:
        doc = json.loads(text)
    except RecursionError:
        raise InputError("the JSON is nested too deeply to be a table", path=path) from None
    except ValueError:
        return _lines(con, path, name, text, limits, strict)
    records = _records(doc, path)
    return _load(con, path, name, records, list(range(1, len(records) + 1)), [], "json", limits)


def _duckdb(con: duckdb.DuckDBPyConnection, path: Path, name: str, fmt: str,
            limits: Limits) -> tuple[list[str], int] | None:
    """DuckDB's reading, when it is certainly right: two or more records of a UTF-8 file."""
    if enc.sniff(enc.head_of(path, 4096)) is not None:
        return None
    layout = "newline_delimited" if fmt == "jsonl" else "array"
    src = (f"read_json('{lit(path)}', format = '{layout}', sample_size = -1, "
           f"maximum_object_size = {max(limits.max_cell, 1 << 20)})")
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
        if len(described) > limits.max_columns:
            raise _too_wide(path, len(described), limits)
        if len(described) == 1 and (str(described[0][1]).startswith(("MAP", "JSON", "STRUCT"))
                                    or str(described[0][1]).endswith("]")):
            # Arrays of arrays, or records too wide or irregular for DuckDB's schema: not one column.
            return None
        cols, rows = as_text(con, src, name)
    except duckdb.Error:
        return None
    if rows < 2:  # one "row" may be a wrapper object around the real rows
        con.execute(f"DROP TABLE IF EXISTS {name}")
        return None
    return cols, rows


def _check_first_line(path: Path, limits: Limits) -> None:
    """Refuse a record wider than the limit at once, before any reader builds a schema for it."""
    with path.open("rb") as f:
        line = f.readline(limits.max_cell).strip().lstrip(b"\xef\xbb\xbf[")
    if line.count(b'":') <= limits.max_columns:
        return
    try:
        first = json.loads(line.rstrip(b",]"))
    except (ValueError, RecursionError):
        return
    if isinstance(first, dict) and len(first) > limits.max_columns:
        raise _too_wide(path, len(first), limits)


def _ends_with(path: Path, end: bytes) -> bool:
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 4096))
        return f.read().rstrip().endswith(end)


def _text(path: Path) -> str:
    head = enc.head_of(path, 4096)
    codec = enc.sniff(head)
    if codec == "binary":
        raise enc.binary_error(path)
    return path.read_bytes().decode(codec or "utf-8", errors="replace").lstrip("\ufeff")


def _records(doc: Any, path: Path) -> list[Any]:
    """The rows of a parsed document: the array itself, or the one collection of records it wraps.

    A collection is a list of objects (or of arrays), or an object of two or more objects keyed by
    an id (Firebase-style exports: ``{"users": {"-Mx1": {...}, "-Mx2": {...}}}``), whose keys
    become the column ``key``. Object keys are never quoted in a message: they may be NIKs.
    """
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict):
        raise InputError("the JSON document is a single value, not records", path=path)
    lists: list[list[Any]] = []
    keyed: list[dict[str, Any]] = []
    stack: list[dict[str, Any]] = [doc]
    while stack:
        obj = stack.pop()
        if _keyed(obj):
            keyed.append(obj)
            continue
        for value in obj.values():
            if isinstance(value, list) and value and all(isinstance(v, (dict, list)) for v in value):
                lists.append(value)
            elif isinstance(value, dict):
                stack.append(value)
    if len(lists) + len(keyed) > 1:
        raise InputError(f"the JSON document holds {len(lists) + len(keyed)} collections of records; "
                         "extract the one to investigate first", path=path)
    if lists:
        return lists[0]
    if keyed:
        return [{"key": k, **{c: x for c, x in v.items() if c != "key"}} for k, v in keyed[0].items()]
    if doc and not any(isinstance(v, (dict, list)) for v in doc.values()):
        return [doc]  # one flat object is one record
    raise InputError("the JSON document holds no list of records", path=path)


def _keyed(obj: dict[str, Any]) -> bool:
    """Objects keyed by id: two or more object values, most of them with the same fields (which
    ``{"meta": {...}, "data": {...}}`` does not have)."""
    values = list(obj.values())
    if len(values) < 2 or not all(isinstance(v, dict) and v for v in values):
        return False
    shapes = [frozenset(v) for v in values]
    return max(shapes.count(s) for s in set(shapes)) >= max(2, len(shapes) // 2)


def _lines(con: duckdb.DuckDBPyConnection, path: Path, name: str, text: str, limits: Limits,
           strict: bool) -> Table:
    from jejak.intake import Skipped

    records, lines, skipped = [], [], []
    first_bad: int | None = None
    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        why = None
        if len(line) > limits.max_line:
            why = f"a line longer than the limit ({limits.max_line:,} bytes)"
        else:
            try:
                obj = json.loads(line)
                why = None if isinstance(obj, dict) else "not a JSON object"
            except RecursionError:
                why = "JSON nested too deeply"
            except ValueError:
                why = "not valid JSON"
        if why is None:
            records.append(obj)
            lines.append(n)
            continue
        first_bad = first_bad or n
        if strict:
            raise InputError(f"invalid JSON line ({why})", path=path, line=n)
        skipped.append(Skipped(n, why + "; line skipped"))
    if not records:
        raise InputError("invalid JSON: no line holds a JSON object", path=path, line=first_bad)
    return _load(con, path, name, records, lines, skipped, "jsonl", limits)


def _load(con: duckdb.DuckDBPyConnection, path: Path, name: str, records: list[Any], lines: list[int],
          skipped: list[Any], fmt: str, limits: Limits) -> Table:
    from jejak.intake import Table

    if not records:
        raise InputError("the file has no data rows", path=path)
    if all(isinstance(r, list) for r in records):
        rows = [[_cell(v) for v in r] for r in records]
        width = max(len(r) for r in rows)
        if width > limits.max_columns:
            raise _too_wide(path, width, limits)
        header = first_row_is_header([[v or "" for v in r] for r in rows[:50]])
        cols = column_names(rows[0]) if header else numbered(width)
        if header:
            rows, lines = rows[1:], lines[1:]
        data = {c: [r[j] if j < len(r) else None for r in rows] for j, c in enumerate(cols)}
    else:
        keys: dict[str, None] = {}
        for r in records:
            if isinstance(r, dict):
                keys.update(dict.fromkeys(map(str, r)))
                if len(keys) > limits.max_columns:
                    raise _too_wide(path, len(keys), limits)
        raw = list(keys) or ["value"]
        cols = column_names(raw)
        data = {c: [_cell(r.get(k)) if isinstance(r, dict) else (_cell(r) if not keys else None)
                    for r in records] for c, k in zip(cols, raw, strict=True)}
    if not lines:
        raise InputError("the file has no data rows", path=path)
    load_arrow(con, name, data, lines)
    return Table(name=name, columns=cols, rows=len(lines), format=fmt, source=str(path), skipped=skipped)


def _cell(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _too_wide(path: Path, width: int, limits: Limits) -> InputError:
    return InputError(f"the records have {width:,} fields, more than the limit of {limits.max_columns:,} columns; "
                      "refused", path=path)
