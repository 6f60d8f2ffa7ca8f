"""Writing release files: the SHA-256 taken on the way through the pipe is the file's own."""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from jejak import export
from jejak.errors import JejakError
from jejak.export import FORMATS, write_table

CREATED = datetime(2025, 1, 1, 12, 0, 0)


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # Enough rows to fill the pipe many times over, with cells that need quoting and formula safety.
    con.execute("CREATE TABLE t AS SELECT i::VARCHAR AS a, "
                "CASE WHEN i % 7 = 0 THEN '=1+1' ELSE 'Jl. A, ' || i END AS b, "
                "CASE WHEN i % 5 = 0 THEN NULL ELSE '+62 812-' || i END AS c FROM range(200000) r(i)")
    return con


def _within(seconds: float, work: object) -> object:
    """Run ``work`` in a thread and fail the test if it has not returned in time: a pipe can hang."""
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = work()  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "writing did not finish: the pipe was left waiting"
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_returned_digest_is_the_sha256_of_the_written_file(con: duckdb.DuckDBPyConnection, tmp_path: Path,
                                                                fmt: str) -> None:
    path = tmp_path / f"out.{fmt}"
    digest = _within(60, lambda: write_table(con, "t", ["a", "b", "c"], path, fmt, CREATED))
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.stat().st_size > (1 << 16) or fmt in ("parquet", "xlsx")  # more than one pipe's worth


def test_csv_written_through_the_pipe_equals_duckdbs_own_copy(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_table(con, "t", ["a", "c"], path, "csv", CREATED)
    con.execute(f"COPY (SELECT a, c FROM t) TO '{tmp_path / 'direct.csv'}' (FORMAT csv, HEADER true)")
    assert path.read_bytes() == (tmp_path / "direct.csv").read_bytes()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_failing_query_raises_and_leaves_no_pipe_behind(con: duckdb.DuckDBPyConnection, tmp_path: Path,
                                                          fmt: str) -> None:
    # The error comes late, after many rows went through the pipe.
    con.execute("CREATE VIEW bad AS SELECT CAST(CASE WHEN i = 199999 THEN 'x' ELSE i::VARCHAR END AS INTEGER)::VARCHAR "
                "AS a FROM range(200000) r(i)")
    with pytest.raises(duckdb.ConversionException):
        _within(60, lambda: write_table(con, "bad", ["a"], tmp_path / f"out.{fmt}", fmt, CREATED))
    # The pipe's private folder is made beside the output (never in $TMPDIR) and removed.
    assert not list(tmp_path.glob(".jejak-*"))


def test_a_file_that_cannot_be_written_is_a_clear_error_not_a_hang(con: duckdb.DuckDBPyConnection,
                                                                   tmp_path: Path) -> None:
    missing = tmp_path / "no-such-directory" / "out.csv"
    with pytest.raises(JejakError, match="could not write out.csv"):
        _within(60, lambda: write_table(con, "t", ["a"], missing, "csv", CREATED))


def test_a_writer_that_keeps_the_pipe_open_is_an_error_not_a_hang(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    leaked: list[int] = []

    class Stuck:  # a writer that writes, returns, and never closes its end of the pipe
        def execute(self, sql: str) -> None:
            pipe = sql.split(" TO '")[1].split("'")[0]
            leaked.append(os.open(pipe, os.O_WRONLY))
            os.write(leaked[-1], b"a,b\n")

    monkeypatch.setattr(export, "_DRAIN_SECONDS", 0.2)
    try:
        with pytest.raises(JejakError, match="was not closed after it was written"):
            _within(30, lambda: export._copy_hashed(Stuck(), "SELECT 1", "FORMAT csv", tmp_path / "out.csv"))  # type: ignore[arg-type]
    finally:
        for fd in leaked:
            os.close(fd)
