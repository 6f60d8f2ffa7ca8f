"""The hostile-input corpus (tests/hostile.py): every case has the outcome it must have.

Asserted by class of outcome (read with the right shape, or a clean ``InputError``), never a
traceback or a hang, and no message, note, skipped reason or column name quoting a value. Then
the investigation-level guarantee: our own rows, hostilely re-encoded, are never "not ours".
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests import hostile

from jejak.errors import InputError
from jejak.intake import Limits, read_table

CASES = hostile.corpus()
# Known gaps, each tracked here until fixed (none today).
KNOWN_GAPS: set[str] = set()


def test_the_corpus_is_large_and_covers_every_kind_of_input() -> None:
    assert len(CASES) >= 200
    assert len({c.name for c in CASES}) == len(CASES)
    names = " ".join(c.name for c in CASES)
    for kind in ("utf16", "utf32", "cp1252", "eol_cr", "eol_mixed", "quote", "ragged", "blank", "huge_cell",
                 "wide_", "json_wrapper", "jsonl_junk", "xlsx_truncated", "xlsx_headerless", "parquet_truncated",
                 "sql_", "zip_truncated", "gz_", "tar_", "zip_bomb", "path_traversal", "empty", "random_",
                 "binary_", "unicode_file_name", "reserved_", "dup_headers"):
        assert kind in names, kind


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_hostile_input_is_read_right_or_refused_cleanly(case: hostile.Case, tmp_path: Path) -> None:
    if case.name in KNOWN_GAPS:
        pytest.xfail("known gap: " + case.name)
    outcome = hostile.run(case, tmp_path, budget=30)
    assert outcome.kind in ("right", "clear error"), f"{outcome.kind}: {outcome.detail}"


def _read(path: Path, **kw: Any) -> Any:
    return read_table(duckdb.connect(), path, name="t", strict=False, **kw)


def test_a_folder_or_a_fifo_is_refused_for_what_it_is_not_as_missing(tmp_path: Path) -> None:
    import os

    from jejak.intake import evidence

    fifo = tmp_path / "leak.csv"
    os.mkfifo(fifo)
    for path, what in ((tmp_path, "folder"), (fifo, "not a regular file"), (tmp_path / "nope.csv", "no such file")):
        for read in (_read, evidence):
            with pytest.raises(InputError, match=what):
                read(path)


def test_a_ragged_file_counts_each_skipped_line_once(tmp_path: Path) -> None:
    rows = hostile.people(500, 3)
    path = tmp_path / "ragged.csv"
    path.write_bytes(hostile.delimited(hostile.COLUMNS, [r if i % 10 else r[:3] for i, r in enumerate(rows)]))
    t = _read(path)
    assert (t.rows, len(t.skipped)) == (450, 50)
    assert [s.line for s in t.skipped] == [2 + i for i in range(0, 500, 10)]


def test_title_lines_above_the_header_are_left_out_and_lines_keep_their_numbers(tmp_path: Path) -> None:
    rows = hostile.people(100, 2)
    path = tmp_path / "report.csv"
    path.write_bytes(b"Laporan peserta aktif\n\nDicetak: 2021-05-01\n" + hostile.delimited(hostile.COLUMNS, rows))
    con = duckdb.connect()
    t = read_table(con, path, name="t", strict=False)
    assert (t.rows, t.columns) == (100, hostile.COLUMNS) and "first 3 line" in (t.note or "")
    assert con.execute("SELECT min(_line), max(_line) FROM t").fetchone() == (5, 104)


@pytest.mark.parametrize("encoding", ["utf16le_nobom.csv", "utf16be_bom.csv", "utf32.csv", "cr_only.csv",
                                      "crlf_mixed.csv"])
def test_re_encoded_files_keep_the_line_numbers_of_the_original(encoding: str, tmp_path: Path) -> None:
    path = tmp_path / encoding
    path.write_bytes(hostile.ENCODERS[encoding][1](hostile.COLUMNS, hostile.people(120, 5)))
    con = duckdb.connect()
    t = read_table(con, path, name="t", strict=True)
    assert (t.rows, t.columns) == (120, hostile.COLUMNS)
    assert con.execute("SELECT min(_line), max(_line), count(DISTINCT _line) FROM t").fetchone() == (2, 121, 120)


def test_junk_lines_among_json_lines_are_skipped_and_listed_by_line(tmp_path: Path) -> None:
    path = tmp_path / "leak.jsonl"
    path.write_bytes(hostile.ENCODERS["junk.jsonl"][1](hostile.COLUMNS, hostile.people(200, 2)))
    t = _read(path)
    assert t.rows == 200 and t.columns == hostile.COLUMNS
    assert [s.line for s in t.skipped] == [4, 51, 121]  # inserted at list positions 3, 50, 120


def test_a_wrapped_json_document_reads_the_one_list_of_records(tmp_path: Path) -> None:
    path = tmp_path / "leak.json"
    path.write_bytes(hostile.wrapped(["result", "records"], hostile.COLUMNS, hostile.people(30, 1), 2, extra=True))
    t = _read(path)
    assert (t.rows, t.columns) == (30, hostile.COLUMNS)


def test_a_truncated_xlsx_is_refused_as_damaged_not_read_as_its_parts(tmp_path: Path) -> None:
    path = tmp_path / "leak.xlsx"
    path.write_bytes(hostile.cut(hostile.xlsx(hostile.COLUMNS, hostile.people(500, 3)), 0.6))
    with pytest.raises(InputError, match="XLSX"):
        _read(path)


def test_a_file_wider_than_the_limit_is_refused_at_once(tmp_path: Path) -> None:
    import time

    path = tmp_path / "wide.csv"
    path.write_bytes(hostile.delimited([f"C{j}" for j in range(100_000)], [["1"] * 100_000]))
    start = time.monotonic()
    with pytest.raises(InputError, match="more than the limit of 2,000 columns") as exc:
        _read(path)
    assert time.monotonic() - start < 2 and exc.value.line == 1
    with pytest.raises(InputError, match="limit of 10 columns"):
        _read(path, limits=Limits(max_columns=10))


def test_random_bytes_are_refused_with_the_line_and_column_of_the_first_binary_byte(tmp_path: Path) -> None:
    import random

    path = tmp_path / "leak.csv"
    path.write_bytes(b"NIK,NAMA\n" + random.Random(5).randbytes(100_000))
    with pytest.raises(InputError, match="binary") as exc:
        _read(path)
    assert exc.value.line is not None and exc.value.column is not None


def test_a_snapshot_with_columns_named_like_jejaks_own_is_imported_under_safe_names(tmp_path: Path) -> None:
    from jejak.registry import Registry

    rows = hostile.people(20, 1)
    path = tmp_path / "snap.csv"
    path.write_bytes(hostile.delimited(["NIK", "_key", "_valid_from", "_line", "nama", "NAMA"],
                                       [r[:2] + r[:2] + r[1:3] for r in rows]))
    with Registry(tmp_path / "r.duckdb") as reg:
        reg.import_snapshot(path, "peserta", "NIK", date(2025, 1, 1))
        cols = reg.dataset("peserta").columns
    assert list(cols)[:6] == ["NIK", "col__key", "col__valid_from", "col__line", "nama", "NAMA_2"]


# -- the investigation-level guarantee ----------------------------------------------------------


@pytest.mark.parametrize("encoding", sorted(hostile.ENCODERS))
def test_our_own_rows_hostilely_re_encoded_are_never_called_not_ours(
    encoding: str, investigation_registry: Any, investigation_ws: Any, tmp_path: Path,
) -> None:
    from jejak.investigate import investigate

    people = investigation_registry.snapshots[-1].participants.slice(0, 300)
    cols = ["NOKA", "NIK", "NAMA", "TGLLHR", "NOHP"]
    rows = [[str(v) if v is not None else "" for v in r.values()] for r in people.select(cols).to_pylist()]
    path = tmp_path / f"leak_{encoding}"
    path.write_bytes(hostile.ENCODERS[encoding][1](cols, rows))
    v = investigate(investigation_ws, path).to_json()
    assert v["attribution"]["verdict"] != "not-ours"
    assert not any(line.startswith("Not ours") for line in v["summary"])
    assert v["verification"]["matched"] >= 250, v["verification"]
