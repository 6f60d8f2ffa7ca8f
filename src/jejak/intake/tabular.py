"""Parquet, JSON and XLSX into all-VARCHAR DuckDB tables with a ``_line`` column."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from jejak.errors import InputError
from jejak.sqltext import quote


def _as_text(con: duckdb.DuckDBPyConnection, src: str, name: str) -> tuple[list[str], int]:
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
    sel = ", ".join(f"CAST({quote(c)} AS VARCHAR) AS {quote(c)}" for c in cols)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {sel}, row_number() OVER () + 0 AS _line FROM {src}")
    rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    return cols, rows


def read_parquet(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> tuple[list[str], int]:
    try:
        return _as_text(con, f"read_parquet('{_lit(path)}')", name)
    except duckdb.Error:
        raise InputError("the Parquet file is damaged or unreadable", path=path) from None


def read_json(con: duckdb.DuckDBPyConnection, path: Path, name: str, fmt: str) -> tuple[list[str], int]:
    layout = "newline_delimited" if fmt == "jsonl" else "array"
    try:
        return _as_text(con, f"read_json('{_lit(path)}', format = '{layout}', sample_size = -1)", name)
    except duckdb.Error:
        line = _first_bad_json_line(path) if fmt == "jsonl" else None
        raise InputError("invalid JSON", path=path, line=line) from None


def _first_bad_json_line(path: Path) -> int | None:
    with path.open(encoding="utf-8", errors="replace") as f:
        for i, text in enumerate(f, 1):
            if text.strip():
                try:
                    json.loads(text)
                except ValueError:
                    return i
    return None


def read_xlsx(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> tuple[list[str], int]:
    import pyarrow as pa  # here, not at the top: importing it costs half a second on every CSV import
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception:
        raise InputError("the XLSX file is damaged or unreadable", path=path) from None
    ws = next((s for s in wb.worksheets if s.max_row and s.max_row > 0), wb.worksheets[0])
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise InputError("the sheet is empty", path=path)
    cols = [str(h) if h is not None else f"column{i + 1}" for i, h in enumerate(header)]
    data: list[list[str | None]] = [[] for _ in cols]
    lines: list[int] = []
    for i, row in enumerate(rows, start=2):
        if all(v is None for v in row):
            continue
        if len(row) > len(cols):
            raise InputError(f"row has {len(row)} cells but the header has {len(cols)}", path=path, line=i)
        for j in range(len(cols)):
            data[j].append(_cell(row[j]) if j < len(row) else None)
        lines.append(i)
    wb.close()
    arrow = pa.table({**{c: pa.array(v, pa.string()) for c, v in zip(cols, data, strict=True)}, "_line": lines})
    con.register("_jj_xlsx", arrow)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _jj_xlsx")
    finally:
        con.unregister("_jj_xlsx")
    return cols, len(lines)


def _cell(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.isoformat(sep=" ") if (v.hour, v.minute, v.second) != (0, 0, 0) else v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _lit(p: Path) -> str:
    return str(p).replace("'", "''")
