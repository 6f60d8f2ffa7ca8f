"""Every format we claim to read, read from real files, with values kept exactly."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jejak.errors import InputError
from jejak.intake import read_table

ROWS = [("0001234567890", "081234567890", "Señor Dürr"), ("0000000000012", "+62 812-3456-7890", "SITI; AMINAH")]


def values(con: duckdb.DuckDBPyConnection) -> list[tuple[str, ...]]:
    return [tuple(r) for r in con.execute("SELECT NOKA, NOHP, NAMA FROM intake ORDER BY _line").fetchall()]


def csv_text(delim: str) -> str:
    def q(v: str) -> str:
        return f'"{v}"' if delim in v else v

    return "\n".join([delim.join(["NOKA", "NOHP", "NAMA"]), *(delim.join(q(v) for v in r) for r in ROWS)]) + "\n"


@pytest.mark.parametrize(
    ("delim", "codec"),
    [(",", "utf-8"), (";", "utf-8"), ("\t", "utf-8"), ("|", "utf-8"), (";", "cp1252"), (",", "utf-8-sig"),
     (",", "utf-16")],
)
def test_delimited_files_in_any_delimiter_and_encoding(tmp_path: Path, delim: str, codec: str) -> None:
    f = tmp_path / "data.csv"
    f.write_bytes(csv_text(delim).encode(codec))
    con = duckdb.connect()
    t = read_table(con, f)
    assert t.columns == ["NOKA", "NOHP", "NAMA"] and t.rows == 2 and t.delimiter == delim
    assert values(con) == ROWS


def test_quoted_line_breaks_keep_physical_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "multi.csv"
    f.write_text('NOKA,NOHP,NAMA\n0000000000001,0812,"two\nlines"\n0000000000002,0813,X\n')
    con = duckdb.connect()
    read_table(con, f)
    assert con.execute("SELECT _line FROM intake ORDER BY _line").fetchall() == [(2,), (4,)]


def test_ragged_row_names_its_line_and_never_its_content(tmp_path: Path) -> None:
    f = tmp_path / "ragged.csv"
    f.write_text("NOKA,NOHP,NAMA\n0000000000001,0812,A\n0000000000002,SECRETVALUE\n0000000000003,0813,B\n")
    with pytest.raises(InputError) as info:
        read_table(duckdb.connect(), f)
    assert info.value.line == 3 and "SECRETVALUE" not in str(info.value)
    con = duckdb.connect()
    t = read_table(con, f, strict=False)
    assert [s.line for s in t.skipped] == [3]
    assert con.execute("SELECT _line FROM intake ORDER BY _line").fetchall() == [(2,), (4,)]


def test_mixed_encoding_names_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "mixed.csv"
    f.write_bytes("NOKA,NAMA\n0000000000001,Dürr\n".encode() + b"0000000000002,D\xfcrr\n")
    with pytest.raises(InputError, match="mixes UTF-8") as info:
        read_table(duckdb.connect(), f)
    assert (info.value.line, info.value.column) == (3, 16)


def test_empty_and_header_only_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("NOKA,NAMA\n")
    for name in ("empty.csv", "header.csv"):
        with pytest.raises(InputError, match="empty|no data rows"):
            read_table(duckdb.connect(), tmp_path / name)


def test_file_without_header(tmp_path: Path) -> None:
    f = tmp_path / "nohead.csv"
    f.write_text("0000000000001,0812\n0000000000002,0813\n")
    con = duckdb.connect()
    t = read_table(con, f, header=False)
    assert t.columns == ["column1", "column2"] and t.rows == 2


def test_json_lines_and_json_array(tmp_path: Path) -> None:
    recs = [dict(zip(["NOKA", "NOHP", "NAMA"], r, strict=True)) for r in ROWS]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    (tmp_path / "b.json").write_text(json.dumps(recs))
    for name, fmt in (("a.jsonl", "jsonl"), ("b.json", "json")):
        con = duckdb.connect()
        assert read_table(con, tmp_path / name).format == fmt
        assert values(con) == ROWS


def test_bad_json_line_is_named(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('{"NOKA": "1"}\n{"NOKA": "2"}\n{"NOKA": \n')
    with pytest.raises(InputError) as info:
        read_table(duckdb.connect(), f)
    assert info.value.line == 3


def test_parquet_values_become_text(tmp_path: Path) -> None:
    f = tmp_path / "d.bin"  # the name lies; the content decides
    pq.write_table(pa.table({"NOKA": [r[0] for r in ROWS], "NOHP": [r[1] for r in ROWS],
                             "NAMA": [r[2] for r in ROWS], "GAJI": [4500000, 12]}), f)
    con = duckdb.connect()
    t = read_table(con, f)
    assert t.format == "parquet" and values(con) == ROWS
    assert con.execute("SELECT GAJI FROM intake ORDER BY _line").fetchall() == [("4500000",), ("12",)]


def test_xlsx_with_dates_and_leading_zero_text(tmp_path: Path) -> None:
    from datetime import date

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["NOKA", "NOHP", "NAMA", "TGLLHR", "GAJI"])
    for r in ROWS:
        ws.append([*r, date(1990, 1, 5), 4500000])
    wb.save(tmp_path / "d.xlsx")
    con = duckdb.connect()
    t = read_table(con, tmp_path / "d.xlsx")
    assert t.format == "xlsx" and values(con) == ROWS
    assert con.execute("SELECT TGLLHR, GAJI, _line FROM intake ORDER BY _line LIMIT 1").fetchall() == [
        ("1990-01-05", "4500000", 2)
    ]


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00\x00garbage", b"\xff\xfe\x00\xd8\x41\x00\x0a\x00\x42\x00"],
                         ids=["odd-length", "broken-surrogate"])
def test_a_broken_utf16_file_is_a_clear_input_error_not_a_traceback(tmp_path: Path, raw: bytes) -> None:
    f = tmp_path / "leak.csv"
    f.write_bytes(raw)
    with pytest.raises(InputError) as info:
        read_table(duckdb.connect(), f, strict=False)
    assert str(f) in str(info.value)


def test_the_quick_screen_passes_clean_files_and_leaves_everything_else_to_the_precise_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jejak.intake import scratch, screen

    monkeypatch.setattr(screen, "CHUNK", 64)  # many chunks, so multi-byte characters straddle them
    clean = tmp_path / "clean.csv"
    clean.write_bytes(("nama,kota\n" + "".join(f"Siti Müller {i},Bogor\n" for i in range(50))).encode())
    assert screen._quick_scan(clean, max_line=100) == 51
    assert screen.screen(clean, 100, b"-,-").lines == 51
    unterminated = tmp_path / "unterminated.csv"
    unterminated.write_bytes(clean.read_bytes() + b"Ani,Depok")
    assert screen._quick_scan(unterminated, max_line=100) == 52
    long_line = tmp_path / "long.csv"
    long_line.write_bytes(b"a,b\n" + b"x" * 300 + b",1\n1,2\n")
    assert screen._quick_scan(long_line, max_line=100) is None
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(clean.read_bytes() + b"Ani,Cikarang\n" + "José,Bogor\n".encode("cp1252"))
    assert screen._quick_scan(mixed, max_line=100) is None
    scratch_dir = tmp_path / "scratch"
    scratch_dir.mkdir()
    with scratch.within(scratch_dir):  # the screened copies are the caller's to remove: kept out of /tmp
        assert set(screen.screen(long_line, 100, b"-,-").bad) == {2}
        assert set(screen.screen(mixed, 100, b"-,-").bad) == {53}
    assert len(list(scratch_dir.iterdir())) == 2
