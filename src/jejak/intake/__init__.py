"""Reading tabular files into DuckDB, with every value kept exactly as text.

``read_table`` turns a CSV/TSV (any delimiter, UTF-8/UTF-16/legacy encodings), JSON lines,
Parquet or XLSX file into a DuckDB TEMP table whose data columns are all VARCHAR (so leading
zeros of NIK and card numbers survive) plus ``_line``, the line of the file the row came from.
Errors name the file, line and column but never quote a value: values are personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from jejak.errors import InputError
from jejak.intake import delimited, encoding, tabular


@dataclass
class Skipped:
    line: int | None
    reason: str


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


def detect_format(path: Path) -> str:
    """From the first bytes, not the name: leaks arrive renamed."""
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") or _is_xlsx(path) else "zip"
    stripped = encoding.peek_text(path).lstrip("\ufeff \r\n\t")
    if stripped.startswith("{"):
        return "jsonl"
    if stripped.startswith("["):
        return "json"
    return "csv"


def _is_xlsx(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return "xl/workbook.xml" in z.namelist()
    except zipfile.BadZipFile:
        return False


def read_table(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    name: str = "intake",
    strict: bool = True,
    encoding: str | None = None,
    header: bool | None = None,
) -> Table:
    """Read ``path`` into the TEMP table ``name``; see the module docstring."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    if path.stat().st_size == 0:
        raise InputError("the file is empty", path=path)
    fmt = detect_format(path)
    if fmt == "zip":
        raise InputError("archives are not accepted here; unpack the file first", path=path)
    if fmt == "parquet":
        cols, rows = tabular.read_parquet(con, path, name)
    elif fmt == "xlsx":
        cols, rows = tabular.read_xlsx(con, path, name)
    elif fmt in ("jsonl", "json"):
        cols, rows = tabular.read_json(con, path, name, fmt)
    else:
        return delimited.read_csv(con, path, name, strict=strict, forced_encoding=encoding, header=header)
    if rows == 0:
        raise InputError("the file has no data rows", path=path)
    return Table(name=name, columns=cols, rows=rows, format=fmt, source=str(path))
