"""Writing a release table to a file: CSV, JSON lines, Parquet or XLSX.

Outputs are deterministic (same table, same bytes) so that a release can be reproduced
byte-for-byte, and safe to open in a spreadsheet: a text cell that a spreadsheet would run as a
formula is written with a leading apostrophe in CSV, and XLSX cells are always typed as strings.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb

from jejak import signals
from jejak.errors import JejakError
from jejak.files import FILE_MODE, private_file
from jejak.intake import file_sha256
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
    *, parquet_required: bool = False, scratch: Path | None = None,
) -> str:
    """Write ``columns`` of ``table`` to ``path`` in the table's own row order; return the file's SHA-256.

    ``scratch`` is a private folder for the writer's temporary files (the release passes one in
    the workspace); by default one is made beside ``path``. Never ``$TMPDIR``: what passes
    through these files is every released person's data.

    ``table`` must scan in a fixed order (an Arrow table, or a view over one without joins):
    DuckDB keeps insertion order when nothing asks it to reorder, so no sort is needed here.
    """
    if fmt not in FORMATS:
        raise JejakError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    with _scratch(path, scratch) as private:
        return _write(con, table, columns, path, fmt, created, parquet_required, private)


@contextlib.contextmanager
def _scratch(path: Path, given: Path | None) -> Iterator[Path]:
    if given is not None:
        yield given
        return
    if not path.parent.is_dir():
        raise JejakError(f"could not write {path.name}: the directory {path.parent} does not exist")
    with tempfile.TemporaryDirectory(prefix=".jejak-", dir=path.parent) as private:  # mode 0700
        yield Path(private)


def _write(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], path: Path, fmt: str, created: datetime,
    parquet_required: bool, private: Path,
) -> str:
    if fmt == "xlsx":
        _write_xlsx(con, table, columns, path, created, private)
        private_file(path)
        return file_sha256(path)
    if fmt == "csv":
        select = ", ".join(formula_safe_sql(c) for c in columns)
        options = "FORMAT csv, HEADER true, DELIMITER ','"
    else:
        select = ", ".join(quote(c) for c in columns)
        options = "FORMAT json" if fmt == "jsonl" else "FORMAT parquet, COMPRESSION zstd"
    con.execute("SET preserve_insertion_order = true")  # the default; a release's bytes depend on it
    if fmt != "parquet" or not parquet_required:
        return _copy_hashed(con, f"SELECT {select} FROM {table}", options, path, private)
    # Releases of policy version 1 were written from a table, and Parquet marks a column REQUIRED
    # when the table's statistics show no NULL: materialise first so they reproduce byte-for-byte.
    # (Newer releases skip this copy; all their Parquet columns are OPTIONAL.)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_export AS SELECT {select} FROM {table}")
    try:
        return _copy_hashed(con, "FROM _jj_export", options, path, private)
    finally:
        con.execute("DROP TABLE IF EXISTS _jj_export")


def _copy_hashed(con: duckdb.DuckDBPyConnection, query: str, options: str, path: Path,
                 scratch: Path | None = None) -> str:
    """``COPY (query) TO path``, hashing the bytes on their way to the file; return the SHA-256.

    DuckDB writes into a named pipe and a thread copies what arrives into ``path`` and the hash,
    so the hash costs no second read of a file of hundreds of MB: it runs while DuckDB formats
    the next rows. The pipe lives in a fresh directory only this user can enter (inside
    ``scratch``, else beside ``path``), because what flows through it is personal data. A writer
    that seeks could not use a pipe: DuckDB's CSV,
    JSON and Parquet writers only append, and if one ever did seek, the COPY fails loudly.
    """
    with tempfile.TemporaryDirectory(prefix=".jejak-", dir=scratch or path.parent) as private:  # mode 0700
        pipe = os.path.join(private, "release")
        os.mkfifo(pipe, 0o600)
        # Both ends are opened here, without blocking: the pump reads until every writer has
        # closed, and holding our own write end means that cannot happen before DuckDB has
        # opened the pipe, nor hang if the COPY fails before it does.
        read_end = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
        keep_open = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        fcntl.fcntl(read_end, fcntl.F_SETFL, fcntl.fcntl(read_end, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        # The file is made here, not by the pump: were the pump to make it after an interruption
        # had already sent the caller to remove it, a file of personal data would outlive the run.
        try:
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        except OSError as exc:
            os.close(read_end)
            os.close(keep_open)
            raise JejakError(f"could not write {path.name}: {exc.strerror}") from exc
        pump = _Pump(read_end, out, path)
        # Ctrl-C or SIGTERM is held back until the COPY and the pump are done, then raised. DuckDB
        # 2.0 can hang for ever when a COPY to a file is interrupted (its writer's abort waits for a
        # write task that waits for it); a release's rows come from a stream that ends at the first
        # batch after the signal (release._Marking), so the COPY still stops within a batch. And a
        # pump left running would write into the file while the caller removes it.
        with signals.held():
            try:
                target = pipe.replace("'", "''")
                # USE_TMP_FILE false: DuckDB must write into the pipe, not beside it and rename.
                con.execute(f"COPY ({query}) TO '{target}' ({options}, USE_TMP_FILE false)")
            finally:
                os.close(keep_open)
                # Once the COPY has returned, at most one pipe's worth (64 KiB) is left to copy. A pump
                # still running long after means DuckDB kept the pipe open: an error, never a hang.
                pump.join(_DRAIN_SECONDS)
    if pump.is_alive():
        raise JejakError(f"{path.name} was not closed after it was written; try again")
    return pump.digest()


_DRAIN_SECONDS = 60.0


class _Pump(threading.Thread):
    """Copy a pipe into a file and a SHA-256 until the pipe's last writer closes it."""

    def __init__(self, read_end: int, out: int, path: Path) -> None:
        super().__init__(name="jejak-release-hash", daemon=True)
        self._fd, self._out, self._path = read_end, out, path
        self._sha = hashlib.sha256()
        self._error: OSError | None = None
        self.start()

    def run(self) -> None:
        with os.fdopen(self._fd, "rb", buffering=0) as src:
            try:
                with os.fdopen(self._out, "wb") as dst:
                    while block := src.read(1 << 20):
                        self._sha.update(block)
                        dst.write(block)
            except OSError as exc:  # a full disk, say: keep draining, or DuckDB would wait forever
                self._error = exc
                while src.read(1 << 20):
                    pass

    def digest(self) -> str:
        if self._error is not None:
            raise JejakError(f"could not write {self._path.name}: {self._error.strerror}") from self._error
        return self._sha.hexdigest()


def _write_xlsx(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[str], path: Path, created: datetime, scratch: Path
) -> None:
    import xlsxwriter  # only this format needs it

    n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    if n > XLSX_MAX_ROWS:
        raise JejakError(f"{n:,} rows do not fit in one XLSX sheet ({XLSX_MAX_ROWS:,} at most); use csv or parquet")
    # constant_memory streams rows to disk; a fixed creation time keeps the bytes reproducible.
    # Its temporary files (every row) go to our private scratch folder, not xlsxwriter's $TMPDIR.
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "tmpdir": str(scratch),
                                         "strings_to_formulas": False, "strings_to_numbers": False,
                                         "strings_to_urls": False})
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
