"""Writing snapshot tables to CSV or Parquet, deterministically.

CSV goes through DuckDB, which quotes a value only when it must (as the leaked CSVs do) and keeps
row order; a missing value is an empty field. Files are written under a temporary name and
renamed, so a half-written snapshot never looks finished.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from jejak.errors import JejakError

FORMATS = ("csv", "parquet")


def write_table(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt not in FORMATS:
        raise JejakError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    tmp = path.with_name(path.name + ".part")
    if fmt == "parquet":
        pq.write_table(table, tmp, compression="zstd")
    else:
        con = duckdb.connect()
        try:
            con.register("snapshot", table)
            target = str(tmp).replace("'", "''")
            con.execute(f"COPY snapshot TO '{target}' (FORMAT csv, HEADER, DELIMITER ',')")
        finally:
            con.close()
    tmp.replace(path)
