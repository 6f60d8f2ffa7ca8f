"""Parquet and XLSX into all-VARCHAR DuckDB tables with a ``_line`` column (JSON: ``jsondoc``)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from jejak.errors import InputError
from jejak.intake.header import first_row_is_header
from jejak.intake.names import column_names, numbered
from jejak.sqltext import quote

if TYPE_CHECKING:
    from jejak.intake import Limits, Skipped


def as_text(con: duckdb.DuckDBPyConnection, src: str, name: str) -> tuple[list[str], int]:
    """``src`` (a table function call) as table ``name``: every column VARCHAR under a safe name."""
    raw = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
    cols = column_names(raw)
    sel = ", ".join(f"CAST({quote(r)} AS VARCHAR) AS {quote(c)}" for r, c in zip(raw, cols, strict=True))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {sel}, row_number() OVER () + 0 AS _line FROM {src}")
    rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    return cols, rows


def load_arrow(con: duckdb.DuckDBPyConnection, name: str, data: dict[str, list[str | None]], lines: list[int]) -> None:
    import pyarrow as pa  # here, not at the top: importing it costs half a second on every CSV import

    arrow = pa.table({**{c: pa.array(v, pa.string()) for c, v in data.items()}, "_line": pa.array(lines, pa.int64())})
    con.register("_jj_arrow", arrow)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _jj_arrow")
    finally:
        con.unregister("_jj_arrow")


def read_parquet(con: duckdb.DuckDBPyConnection, path: Path, name: str, limits: Limits) -> tuple[list[str], int]:
    src = f"read_parquet('{lit(path)}')"
    try:
        width = len(con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall())  # the footer only: cheap
        if width > limits.max_columns:
            raise InputError(f"the file has {width:,} columns, more than the limit of {limits.max_columns:,}; "
                             "refused", path=path)
        return as_text(con, src, name)
    except duckdb.Error:
        raise InputError("the Parquet file is damaged or unreadable", path=path) from None


def read_xlsx(con: duckdb.DuckDBPyConnection, path: Path, name: str, limits: Limits, strict: bool,
              header: bool | None = None) -> tuple[list[str], int, list[Skipped], bool]:
    """(columns, rows, skipped rows, whether the first row was a header) of the first non-empty sheet.

    The header row is decided from the values, as for a delimited file: a sheet exported without
    one must not turn its first person into column names.
    """
    from openpyxl import load_workbook

    from jejak.intake import Skipped

    fh = path.open("rb")  # a file object: openpyxl refuses a path whose name does not end in .xlsx
    try:
        wb = load_workbook(fh, read_only=True, data_only=True)
    except Exception:  # openpyxl raises anything from KeyError to zlib errors on a damaged file
        fh.close()
        raise InputError("the XLSX file is damaged or unreadable", path=path) from None
    try:
        found = _first_rows(wb, path, limits)
        if found is None:
            raise InputError("the workbook has no sheet with data", path=path)
        ws, first = found
        width = len(first[0])
        has_header = header if header is not None else first_row_is_header(
            [[_cell(v) or "" for v in r] for r in first])
        cols = column_names(first[0]) if has_header else numbered(width)
        data: list[list[str | None]] = [[] for _ in cols]
        lines: list[int] = []
        skipped: list[Skipped] = []
        pending_header = has_header
        for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
            if all(v is None for v in row):
                continue
            if pending_header:
                pending_header = False
                continue
            if any(v is not None for v in row[len(cols):]):
                why = f"row has more cells than the {len(cols)} columns"
                if strict:
                    raise InputError(why, path=path, line=i)
                skipped.append(Skipped(i, why + "; skipped"))
                continue
            for j in range(len(cols)):
                data[j].append(_cell(row[j]) if j < len(row) else None)
            lines.append(i)
    except InputError:
        raise
    except Exception:
        raise InputError("the XLSX file is damaged or unreadable", path=path) from None
    finally:
        wb.close()
        fh.close()
    load_arrow(con, name, dict(zip(cols, data, strict=True)), lines)
    return cols, len(lines), skipped, has_header


def _first_rows(wb: Any, path: Path, limits: Limits) -> tuple[Any, list[tuple[Any, ...]]] | None:
    """The first sheet with a non-empty row, and its first (up to 50) non-empty rows, trimmed."""
    for ws in wb.worksheets:
        if (ws.max_column or 0) > limits.max_columns:  # the declared dimension: refuse before reading
            raise InputError(f"the sheet has {ws.max_column:,} columns, more than the limit of "
                             f"{limits.max_columns:,}; refused", path=path)
        rows = []
        for row in ws.iter_rows(values_only=True):
            if any(v is not None for v in row):
                rows.append(row)
            if len(rows) >= 50:
                break
        if rows:
            width = max(max((j + 1 for j, v in enumerate(r) if v is not None), default=0) for r in rows)
            if width > limits.max_columns:
                raise InputError(f"the sheet has {width:,} columns, more than the limit of "
                                 f"{limits.max_columns:,}; refused", path=path)
            return ws, [tuple(r[:width]) + (None,) * (width - len(r)) for r in rows]
    return None


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


def lit(p: Path | str) -> str:
    return str(p).replace("'", "''")
