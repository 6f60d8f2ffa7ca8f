"""Writing a release table to a file: CSV, JSON lines, Parquet or XLSX.

Outputs are deterministic (same table, same bytes) so that a release can be reproduced
byte-for-byte, and safe to open in a spreadsheet: a text cell that a spreadsheet would run as a
formula is written with a leading apostrophe in CSV, and XLSX cells are always typed as strings.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from jejak.errors import JejakError
from jejak.registry import quote

FORMATS = ("csv", "jsonl", "parquet", "xlsx")
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header row

# A cell starting with = @ TAB or CR is a formula or a DDE trigger in Excel and LibreOffice. A
# leading + or - is one too, unless the rest is only digits, spaces and phone punctuation: phone
# numbers like +62 812-3456-7890 and negative amounts must reach the recipient unchanged.
_DANGEROUS = (61, 64, 9, 13)  # first character = @ TAB CR
_SIGNED = (43, 45)  # first character + -
_PLAIN_NUMBER = r"^[+-][0-9 ().-]*$"


def formula_safe_sql(column: str) -> str:
    # The first character's code is tested before any regular expression: three regular
    # expressions per cell made the CSV writer several times slower than DuckDB's own. Before
    # even that, one byte comparison lets through every value whose first byte is neither below
    # '0' nor in '='..'@', where all six dangerous characters are: digits and letters, most cells.
    c = quote(column)
    first = f"ascii({c})"
    return (
        f"CASE WHEN ({c} < '0' OR ({c} >= '=' AND {c} < 'A')) AND ({first} IN {_DANGEROUS} OR ({first} IN {_SIGNED} "
        f"AND NOT regexp_matches({c}, '{_PLAIN_NUMBER}'))) THEN '''' || {c} ELSE {c} END AS {c}"
    )


def write_table(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], path: Path, fmt: str, created: datetime,
    *, parquet_required: bool = False,
) -> None:
    """Write ``columns`` of ``table`` to ``path`` in the table's own row order.

    ``table`` must scan in a fixed order (an Arrow table, or a view over one without joins):
    DuckDB keeps insertion order when nothing asks it to reorder, so no sort is needed here.
    """
    if fmt not in FORMATS:
        raise JejakError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    target = str(path).replace("'", "''")
    if fmt == "xlsx":
        _write_xlsx(con, table, columns, path, created)
        return
    if fmt == "csv":
        select = ", ".join(formula_safe_sql(c) for c in columns)
        options = "FORMAT csv, HEADER true, DELIMITER ','"
    else:
        select = ", ".join(quote(c) for c in columns)
        options = "FORMAT json" if fmt == "jsonl" else "FORMAT parquet, COMPRESSION zstd"
    con.execute("SET preserve_insertion_order = true")  # the default; a release's bytes depend on it
    if fmt != "parquet" or not parquet_required:
        con.execute(f"COPY (SELECT {select} FROM {table}) TO '{target}' ({options})")
        return
    # Releases of policy version 1 were written from a table, and Parquet marks a column REQUIRED
    # when the table's statistics show no NULL: materialise first so they reproduce byte-for-byte.
    # (Newer releases skip this copy; all their Parquet columns are OPTIONAL.)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_export AS SELECT {select} FROM {table}")
    try:
        con.execute(f"COPY _jj_export TO '{target}' ({options})")
    finally:
        con.execute("DROP TABLE IF EXISTS _jj_export")


def _write_xlsx(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], path: Path, created: datetime
) -> None:
    import xlsxwriter  # only this format needs it

    n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    if n > XLSX_MAX_ROWS:
        raise JejakError(f"{n:,} rows do not fit in one XLSX sheet ({XLSX_MAX_ROWS:,} at most); use csv or parquet")
    # constant_memory streams rows to disk; a fixed creation time keeps the bytes reproducible.
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                         "strings_to_numbers": False, "strings_to_urls": False})
    wb.set_properties({"created": created.replace(tzinfo=None)})
    ws = wb.add_worksheet("release")
    for j, c in enumerate(columns):
        ws.write_string(0, j, c)
    cur = con.execute(f"SELECT {', '.join(quote(c) for c in columns)} FROM {table}")
    i = 1
    while batch := cur.fetchmany(10_000):
        for row in batch:
            for j, v in enumerate(row):
                if v is not None:
                    ws.write_string(i, j, v)
            i += 1
    wb.close()
