"""Wide files (issue 14): the SQL of an investigation and of an import does not grow with the columns.

Wall time on a shared machine is a poor guard, so these tests look at the statements DuckDB is
given: a UNION ALL of one SELECT per column, or a count(DISTINCT) per column in one SELECT, made
1,000 columns cost a minute or all the memory. Below the column limit every statement must have
the same shape whatever the width; ``benchmarks/wide.py`` prints the timings.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import jejak.registry
from jejak.investigate import investigate
from jejak.registry import Registry
from jejak.workspace import Workspace


class _Recorder:
    """A DuckDB connection that keeps the text of every statement it is given."""

    def __init__(self, con: duckdb.DuckDBPyConnection, log: list[str]) -> None:
        self._con, self._log = con, log

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._log.append(sql)
        return self._con.execute(sql, *args, **kwargs)

    def sql(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._log.append(sql)
        return self._con.sql(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement run on a registry connection opened in the test."""
    log: list[str] = []
    connect = duckdb.connect
    monkeypatch.setattr(jejak.registry.duckdb, "connect", lambda *a, **k: _Recorder(connect(*a, **k), log))
    yield log


def widen(table: pa.Table, columns: int, rows: int) -> pa.Table:
    """``rows`` rows of ``table`` with its columns repeated under new names up to ``columns``."""
    table = table.slice(0, rows)
    extra = {f"x{i:04d}": table.column(i % table.num_columns) for i in range(columns - table.num_columns)}
    return pa.table({**{c: table.column(c) for c in table.column_names}, **extra})


def _size(sql: str) -> int:
    """Clauses that a per-column statement repeats: SELECTs (subqueries, UNION ALL arms) and DISTINCTs."""
    return len(re.findall(r"\bSELECT\b|\bDISTINCT\b", sql, flags=re.IGNORECASE))


def _shape(log: list[str]) -> tuple[int, int]:
    """(statements, the largest statement's size)."""
    return len(log), max(map(_size, log))


def _investigate_wide(investigation_registry: Any, tmp_path: Path, columns: int, log: list[str]) -> dict[str, Any]:
    home = tmp_path / f"ws{columns}"
    shutil.copytree(investigation_registry.home, home)
    leak = tmp_path / f"wide{columns}.csv"
    pacsv.write_csv(widen(investigation_registry.snapshots[2].participants, columns, 2), leak)
    log.clear()
    return investigate(Workspace.open(home), leak).to_json()


def test_investigating_a_wider_leak_runs_the_same_statements(investigation_registry: Any, tmp_path: Path,
                                                               statements: list[str]) -> None:
    narrow = _investigate_wide(investigation_registry, tmp_path, 40, statements)
    narrow_shape = _shape(statements)
    start = time.perf_counter()
    wide = _investigate_wide(investigation_registry, tmp_path, 400, statements)
    seconds = time.perf_counter() - start
    assert _shape(statements) == narrow_shape
    # The verdict does not change: the two rows are ours, and the real columns still map to themselves.
    for v in (narrow, wide):
        assert v["verification"]["matched"] == 2
        assert v["evidence"]["mapping"]["NIK"]["column"] == "NIK"
        assert v["evidence"]["mapping"]["NOKA"]["column"] == "NOKA"
    assert seconds < 60  # a catastrophe guard only; was 2.7 s at 500 columns, 43 s at 2,000 before


def test_importing_a_wider_snapshot_runs_the_same_statements(investigation_registry: Any, tmp_path: Path,
                                                             statements: list[str]) -> None:
    shapes = []
    for width in (40, 400):
        path = tmp_path / f"snap{width}.csv"
        pacsv.write_csv(widen(investigation_registry.snapshots[0].participants, width, 30), path)
        with Registry(tmp_path / f"reg{width}.duckdb") as reg:
            statements.clear()
            result = reg.import_snapshot(path, "wide", "NOKA", investigation_registry.snapshots[0].as_of)
        assert result.rows == 30 and result.roles["NIK"] == "nik"
        shapes.append(_shape(statements))
    assert shapes[0] == shapes[1]

def test_a_dataset_with_more_mapped_columns_than_value_bits_is_measured_from_the_text(
        investigation_registry: Any, tmp_path: Path) -> None:
    # _lval has one bit per mapped column up to 62; beyond, impact once named columns that the
    # narrow linked table does not have, and the investigation failed with a binder error.
    snapshot = investigation_registry.snapshots[0]
    ws = Workspace.init(tmp_path / "ws")
    pacsv.write_csv(widen(snapshot.participants, 70, 30), tmp_path / "snap.csv")
    with Registry(ws.registry_path) as reg:
        reg.import_snapshot(tmp_path / "snap.csv", "peserta", "NOKA", snapshot.as_of)
    pacsv.write_csv(widen(snapshot.participants, 70, 2), tmp_path / "leak.csv")
    v = investigate(ws, tmp_path / "leak.csv").to_json()
    assert len([m for m in v["evidence"]["mapping"].values() if m["column"]]) > 62
    assert v["verification"]["matched"] == 2 and v["impact"]["people"] == 2
    assert v["impact"]["categories"]["identity"]["people"] == 2
