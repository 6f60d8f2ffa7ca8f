"""Leaked files in the shapes they arrive in: SQL dumps, archives, headerless and broken files.

Every file is written here, for real, from synthetic participants (plus a few rows with the
characters that break naive parsers), and read back value for value.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import zipfile
from pathlib import Path

import duckdb
import pytest

from jejak.errors import InputError
from jejak.intake import Limits, evidence, read_table

COLS = ["NOKA", "NIK", "NAMA", "NOHP", "ALAMAT", "TGLLHR", "GAJI"]
NASTY = [
    ["0009999999901", "3171014501900001", "O'Brien \\ Dürr", None, "Jl. A, RT 01),(RW 02);\nKel. B", "1990-01-05",
     "12"],
    ["0009999999902", "3171014501900002", "SITI; 'AMINAH'", "0812", "tab\there", "1990-01-06", None],
    ["0009999999903", "3171014501900003", "NULL", "", "\\N", "1990-01-07", "0"],
]

Row = tuple[str | None, ...]


@pytest.fixture(scope="module")
def rows() -> list[list[str | None]]:
    from jejak.synth import generate_tables

    t = generate_tables(participants=120, snapshots=1, patients=False, seed=11)[0].participants.select(COLS)
    return [list(r.values()) for r in t.to_pylist()] + [list(r) for r in NASTY]


def read(con: duckdb.DuckDBPyConnection, table: str = "intake", cols: list[str] = COLS) -> list[Row]:
    sel = ", ".join(f'"{c}"' for c in cols)
    return sorted((tuple(r) for r in con.execute(f"SELECT {sel} FROM {table}").fetchall()), key=str)


def expected(rows: list[list[str | None]]) -> list[Row]:
    return sorted((tuple(r) for r in rows), key=str)


# -- writers: the dump formats as the real tools write them ----------------------------------------


def mysql_literal(v: str | None) -> str:
    if v is None:
        return "NULL"
    esc = v.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t")
    return "'" + esc + "'"


def write_mysqldump(path: Path, rows: list[list[str | None]], per_statement: int = 50) -> None:
    out = ["-- MySQL dump 10.13  Distrib 8.0.36", "/*!40101 SET NAMES utf8mb4 */;",
           "DROP TABLE IF EXISTS `peserta`;", "CREATE TABLE `peserta` ("]
    out += [f"  `{c}` varchar(255) DEFAULT NULL," for c in COLS]
    out += ["  PRIMARY KEY (`NOKA`),", "  KEY `nik` (`NIK`,`NAMA`)", ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;",
            "LOCK TABLES `peserta` WRITE;"]
    for i in range(0, len(rows), per_statement):
        tuples = ",".join("(" + ",".join(mysql_literal(v) for v in r) + ")" for r in rows[i:i + per_statement])
        out.append(f"INSERT INTO `peserta` VALUES {tuples};")
    out += ["UNLOCK TABLES;", "CREATE TABLE `kantor` (`KD` char(4), `NAMA` varchar(50));",
            "INSERT INTO `kantor` VALUES ('0610','KC Magelang'),('0901',_binary 'KC Bandung');", ""]
    path.write_text("\n".join(out), encoding="utf-8")


def copy_text(v: str | None) -> str:
    if v is None:
        return "\\N"
    return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def pg_literal(v: str | None) -> str:
    return "NULL" if v is None else "'" + v.replace("'", "''") + "'"


def write_pg_dump(path: Path, rows: list[list[str | None]], style: str = "copy") -> None:
    cols = ", ".join(f'"{c}"' for c in COLS)
    out = ["--", "-- PostgreSQL database dump", "--", "SET standard_conforming_strings = on;",
           "CREATE TABLE public.peserta (" + ", ".join(f'"{c}" text' for c in COLS) + ");",
           "CREATE TABLE public.kantor (kd text, nama text);",
           "INSERT INTO public.kantor VALUES ('0610', 'KC Magelang');"]
    if style == "copy":
        out.append(f"COPY public.peserta ({cols}) FROM stdin;")
        out += ["\t".join(copy_text(v) for v in r) for r in rows]
        out.append("\\.")
    else:
        out += [f"INSERT INTO public.peserta ({cols}) VALUES (" + ", ".join(pg_literal(v) for v in r) + ");"
                for r in rows]
    out += ["CREATE INDEX peserta_nik ON public.peserta USING btree (\"NIK\");", ""]
    path.write_text("\n".join(out), encoding="utf-8")


def write_csv(path: Path, rows: list[list[str | None]], delim: str = ",", codec: str = "utf-8",
              header: bool = True) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator="\n")
    if header:
        w.writerow(COLS)
    w.writerows([["" if v is None else v for v in r] for r in rows])
    path.write_bytes(buf.getvalue().encode(codec))


def csv_rows(rows: list[list[str | None]]) -> list[Row]:
    """What a CSV round trip gives: empty fields are NULL."""
    return expected([[None if v in (None, "") else v for v in r] for r in rows])


# -- SQL dumps --------------------------------------------------------------------------------------


@pytest.mark.parametrize("plain_min", [0, 1 << 16])  # 0: every statement tries the numpy fast path
def test_a_mysqldump_is_read_value_for_value_with_its_escapes(
    tmp_path: Path, rows: list, monkeypatch: pytest.MonkeyPatch, plain_min: int,
) -> None:
    from jejak.intake import sqldump

    monkeypatch.setattr(sqldump, "_PLAIN_MIN", plain_min)
    f = tmp_path / "leak.sql"
    write_mysqldump(f, rows)
    con = duckdb.connect()
    t = read_table(con, f, strict=False)
    assert (t.format, t.columns, t.rows, t.skipped) == ("sql", COLS, len(rows), [])
    assert read(con) == expected(rows)
    assert "peserta" in (t.note or "") and "kantor" in (t.note or "")


def test_every_tuple_carries_the_line_of_its_insert_statement(tmp_path: Path, rows: list) -> None:
    f = tmp_path / "leak.sql"
    write_mysqldump(f, rows, per_statement=50)
    con = duckdb.connect()
    read_table(con, f, strict=False)
    lines = f.read_text(encoding="utf-8").split("\n")
    inserts = [i + 1 for i, text in enumerate(lines) if text.startswith("INSERT INTO `peserta`")]
    found = con.execute("SELECT _line, count(*) FROM intake GROUP BY _line ORDER BY _line").fetchall()
    assert [line for line, _ in found] == inserts
    assert [n for _, n in found] == [min(50, len(rows) - 50 * i) for i in range(len(inserts))]


def test_a_pg_dump_with_copy_is_read_value_for_value(tmp_path: Path, rows: list) -> None:
    f = tmp_path / "pg.sql"
    write_pg_dump(f, rows, "copy")
    con = duckdb.connect()
    t = read_table(con, f, strict=False)
    assert (t.columns, t.rows, t.skipped) == (COLS, len(rows), [])
    assert read(con) == expected(rows)
    lines = f.read_text(encoding="utf-8").split("\n")
    first = next(i for i, text in enumerate(lines) if text.startswith("COPY public.peserta")) + 2
    assert con.execute("SELECT min(_line), max(_line) FROM intake").fetchone() == (first, first + len(rows) - 1)


@pytest.mark.parametrize("chunk", [97, 4096])
@pytest.mark.parametrize("style", ["mysql", "copy", "insert"])
def test_statements_and_copy_blocks_cut_by_chunk_boundaries_read_the_same(
    tmp_path: Path, rows: list, monkeypatch: pytest.MonkeyPatch, chunk: int, style: str,
) -> None:
    from jejak.intake import sqldump

    f = tmp_path / "leak.sql"
    monkeypatch.setattr(sqldump, "_PLAIN_MIN", 0)
    if style == "mysql":
        write_mysqldump(f, rows, per_statement=7)
    else:
        write_pg_dump(f, rows, style)
    con = duckdb.connect()
    whole = read_table(con, f, strict=False, table="peserta")
    lines = con.execute("SELECT _line FROM intake ORDER BY _line").fetchall()
    monkeypatch.setattr(sqldump, "CHUNK", chunk)
    t = read_table(con, f, strict=False, table="peserta")
    assert (t.rows, t.skipped, whole.skipped) == (len(rows), [], [])
    assert read(con) == expected(rows)
    assert con.execute("SELECT _line FROM intake ORDER BY _line").fetchall() == lines


def test_pg_inserts_with_doubled_quotes_and_escape_strings(tmp_path: Path, rows: list) -> None:
    f = tmp_path / "pg_inserts.sql"
    write_pg_dump(f, rows, "insert")
    with f.open("a", encoding="utf-8") as out:
        out.write(f"INSERT INTO public.peserta ({', '.join(COLS)}) VALUES "
                  "('0009999999904', '1', E'it\\'s\\na test', NULL, 'C:\\\\x', NULL, NULL);\n")
    con = duckdb.connect()
    t = read_table(con, f, strict=False, table="peserta")
    assert t.rows == len(rows) + 1
    assert read(con)[: len(rows)] != [] and set(expected(rows)) <= set(read(con))
    assert con.execute("SELECT NAMA, ALAMAT FROM intake WHERE NOKA = '0009999999904'").fetchall() == [
        ("it's\na test", "C:\\\\x")]


def test_the_table_asked_for_is_read_instead_of_the_largest(tmp_path: Path, rows: list) -> None:
    f = tmp_path / "leak.sql"
    write_mysqldump(f, rows)
    con = duckdb.connect()
    t = read_table(con, f, strict=False, table="kantor")
    assert (t.columns, t.rows) == (["KD", "NAMA"], 2)
    assert read(con, cols=["KD", "NAMA"]) == [("0610", "KC Magelang"), ("0901", "KC Bandung")]
    with pytest.raises(InputError, match="no data for table"):
        read_table(con, f, strict=False, table="nope")


def test_inserts_without_create_table_get_numbered_columns(tmp_path: Path) -> None:
    f = tmp_path / "bare.sql"
    f.write_text("INSERT INTO t VALUES ('a', 1), ('b', NULL);\nINSERT INTO t VALUES ('c', 3);\n")
    con = duckdb.connect()
    t = read_table(con, f, strict=False)
    assert t.columns == ["column1", "column2"]
    assert read(con, cols=t.columns) == [("a", "1"), ("b", None), ("c", "3")]


def test_a_truncated_dump_keeps_the_complete_statements_and_says_what_was_lost(tmp_path: Path, rows: list) -> None:
    f = tmp_path / "leak.sql"
    write_mysqldump(f, rows, per_statement=50)
    text = f.read_bytes()
    cut = text.index(b"INSERT INTO `peserta`", text.index(b"INSERT INTO `peserta`") + 1) + 200
    f.write_bytes(text[:cut])
    con = duckdb.connect()
    t = read_table(con, f, strict=False)
    assert t.rows == 50
    second = text[:cut].count(b"\n") + 1
    assert [s.line for s in t.skipped] == [second] and "incomplete" in t.skipped[0].reason
    with pytest.raises(InputError) as info:
        read_table(duckdb.connect(), f, strict=True)
    assert info.value.line == second


def test_a_ragged_tuple_is_skipped_with_its_line_and_refused_in_strict_mode(tmp_path: Path) -> None:
    f = tmp_path / "ragged.sql"
    f.write_text("CREATE TABLE t (a text, b text);\nINSERT INTO t VALUES ('1','x');\n"
                 "INSERT INTO t VALUES ('2');\nINSERT INTO t VALUES ('3','SECRET');\n")
    con = duckdb.connect()
    t = read_table(con, f, strict=False)
    assert t.rows == 2 and [s.line for s in t.skipped] == [3]
    with pytest.raises(InputError) as info:
        read_table(duckdb.connect(), f)
    assert info.value.line == 3 and "SECRET" not in str(info.value)


def test_an_overlong_copy_line_is_skipped_without_buffering_it(tmp_path: Path) -> None:
    f = tmp_path / "long.sql"
    f.write_text("COPY t (a, b) FROM stdin;\n1\tx\n2\t" + "y" * 5000 + "\n3\tz\n\\.\n")
    con = duckdb.connect()
    t = read_table(con, f, strict=False, limits=Limits(max_line=1000))
    assert read(con, cols=["a", "b"]) == [("1", "x"), ("3", "z")]
    assert [s.line for s in t.skipped] == [3] and "longer than the limit" in t.skipped[0].reason


# -- archives ---------------------------------------------------------------------------------------


def make_archive(kind: str, tmp_path: Path, members: dict[str, bytes]) -> Path:
    if kind == "zip":
        p = tmp_path / "leak.zip"
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members.items():
                z.writestr(name, data)
    elif kind == "gz":
        ((name, data),) = members.items()
        p = tmp_path / "leak.gz"
        with p.open("wb") as raw, gzip.GzipFile(filename=name, mode="wb", fileobj=raw) as g:
            g.write(data)
    else:
        p = tmp_path / ("leak.tar" if kind == "tar" else "leak.tgz")
        with tarfile.open(p, "w" if kind == "tar" else "w:gz") as tf:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return p


@pytest.mark.parametrize("kind", ["zip", "gz", "tar", "tar.gz"])
def test_a_table_inside_an_archive_is_read_and_named_by_its_inner_path(tmp_path: Path, rows: list, kind: str) -> None:
    src = tmp_path / "src.csv"
    write_csv(src, rows, delim=";")
    inner = "data.csv" if kind == "gz" else "dump/data.csv"
    members = {inner: src.read_bytes()}
    if kind != "gz":
        members |= {"README.md": b"# leaked by x\n", "__MACOSX/._data.csv": b"\x00\x05\x16\x07"}
    p = make_archive(kind, tmp_path, members)
    con = duckdb.connect()
    t = read_table(con, p, strict=False)
    assert t.source == f"{p}!{inner}" and t.archive == kind
    assert (t.columns, t.rows, t.delimiter) == (COLS, len(rows), ";")
    assert read(con) == csv_rows(rows)


def test_a_dump_inside_a_zip_inside_a_tar_is_read(tmp_path: Path, rows: list) -> None:
    dump = tmp_path / "leak.sql"
    write_mysqldump(dump, rows)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("db.sql", dump.read_bytes())
    p = make_archive("tar.gz", tmp_path, {"backup/db.zip": zipped.getvalue()})
    con = duckdb.connect()
    t = read_table(con, p, strict=False)
    assert t.source == f"{p}!backup/db.zip!db.sql" and t.format == "sql"
    assert read(con) == expected(rows)


def test_members_that_share_a_header_are_read_as_one_table(tmp_path: Path, rows: list) -> None:
    parts = {}
    for i, chunk in enumerate((rows[:40], rows[40:100], rows[100:])):
        f = tmp_path / f"p{i}.csv"
        write_csv(f, chunk)
        parts[f"part{i}.csv"] = f.read_bytes()
    other = tmp_path / "other.csv"
    other.write_text("KODE,NAMA\n0610,KC Magelang\n")
    parts["kantor.csv"] = other.read_bytes()
    p = make_archive("zip", tmp_path, parts)
    con = duckdb.connect()
    t = read_table(con, p, strict=False)
    assert t.rows == len(rows) and read(con) == csv_rows(rows)
    assert len(t.members) == 3 and "kantor.csv" in (t.note or "")
    per_member = con.execute("SELECT _member, min(_line), count(*) FROM intake GROUP BY 1 ORDER BY 1").fetchall()
    sizes = {t.members.index(f"{p}!part{i}.csv"): n for i, n in enumerate((40, 60, len(rows) - 100))}
    assert [(m, 2, sizes[m]) for m in range(3)] == per_member


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    p = make_archive("zip", tmp_path, {"bomb.csv": b"a,b\n" + b"0,0\n" * 500_000})
    assert p.stat().st_size < 20_000
    with pytest.raises(InputError, match="zip bomb"):
        read_table(duckdb.connect(), p, strict=False, limits=Limits(max_ratio=50, ratio_min_bytes=100_000))
    with pytest.raises(InputError, match="expands to more than"):
        read_table(duckdb.connect(), p, strict=False, limits=Limits(max_total_bytes=1_000_000))


def test_a_gzip_bomb_is_stopped_while_streaming(tmp_path: Path) -> None:
    p = make_archive("gz", tmp_path, {"bomb.csv": b"a,b\n" + b"0,0\n" * 500_000})
    with pytest.raises(InputError, match="zip bomb"):
        read_table(duckdb.connect(), p, strict=False, limits=Limits(max_ratio=50, ratio_min_bytes=100_000))


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    p = make_archive("zip", tmp_path, {f"f{i}.csv": b"a\n1\n" for i in range(30)})
    with pytest.raises(InputError, match="more than the limit"):
        read_table(duckdb.connect(), p, strict=False, limits=Limits(max_members=10))


@pytest.mark.parametrize("kind", ["gz", "tar.gz", "zip"])
def test_a_truncated_archive_gives_the_rows_before_the_break(tmp_path: Path, rows: list, kind: str) -> None:
    src = tmp_path / "src.csv"
    write_csv(src, rows * 20)
    p = make_archive(kind, tmp_path, {"data.csv": src.read_bytes()})
    data = p.read_bytes()
    p.write_bytes(data[: len(data) * 2 // 3])
    con = duckdb.connect()
    t = read_table(con, p, strict=False)
    assert 0 < t.rows < len(rows) * 20
    truncation = [s for s in t.skipped if "truncated" in s.reason]
    assert truncation, t.skipped
    good = set(csv_rows(rows))
    assert set(read(con)) <= good  # no half value was read
    if truncation[0].line is not None:
        assert con.execute("SELECT max(_line) FROM intake").fetchone()[0] < truncation[0].line
    with pytest.raises(InputError, match="truncated|damaged"):
        read_table(duckdb.connect(), p, strict=True)


def test_an_archive_with_only_an_empty_member_is_refused_clearly(tmp_path: Path) -> None:
    p = make_archive("zip", tmp_path, {"data.csv": b""})
    with pytest.raises(InputError, match="no readable table"):
        read_table(duckdb.connect(), p, strict=False)


def test_member_names_never_escape_the_temporary_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    p = make_archive("tar", tmp_path, {"../../escaped.csv": b"a,b\n1,2\n"})
    con = duckdb.connect()
    t = read_table(con, p, strict=False)
    assert t.rows == 1 and not (tmp_path / "escaped.csv").exists() and not Path("escaped.csv").exists()
    assert list(scratch.iterdir()) == []  # unpacked files are removed again


# -- headerless, encodings, broken lines ------------------------------------------------------------


def test_a_headerless_semicolon_cp1252_csv_is_recognised_as_data(tmp_path: Path, rows: list) -> None:
    plain = [[("" if v is None else v.replace("\n", " ").replace("\\", "/")) for v in r] for r in rows]
    plain[0][2] = "Señor Dürr"
    f = tmp_path / "nohead.txt"
    write_csv(f, plain, delim=";", codec="cp1252", header=False)
    con = duckdb.connect()
    t = read_table(con, f, strict=False)
    assert (t.header, t.delimiter, t.encoding, t.rows) == (False, ";", "cp1252", len(rows))
    assert t.columns == [f"column{i}" for i in range(1, len(COLS) + 1)]
    assert read(con, cols=t.columns) == csv_rows(plain)


@pytest.mark.parametrize(
    ("first", "is_header"),
    [("NOKA,NAMA,JENKEL", True), ("no_kartu,nama peserta,jk", True), ("0001234567890,BUDI,L", False),
     ("BUDI,SITI,P", False), ("ANI,budi@example.com,L", False), ("ANI,1990-01-05,L", False),
     ("NOKA,SITI,JK", True)],  # one column repeating its name as a value is a coincidence
)
def test_a_header_is_told_from_a_first_data_row(tmp_path: Path, first: str, is_header: bool) -> None:
    f = tmp_path / "d.csv"
    f.write_text(first + "\n0001234567891,SITI,P\n0001234567892,ANI,L\n")
    t = read_table(duckdb.connect(), f, strict=False)
    assert t.header is is_header and t.rows == (2 if is_header else 3)
    assert read_table(duckdb.connect(), f, header=True).rows == 2
    assert read_table(duckdb.connect(), f, header=False).rows == 3


def test_lines_in_another_encoding_are_skipped_and_listed_in_a_utf8_file(tmp_path: Path) -> None:
    f = tmp_path / "mixed.csv"
    f.write_bytes("NOKA,NAMA\n0000000000001,Dürr\n".encode() + b"0000000000002,D\xfcrr\n"
                  + "0000000000003,Ñandu\n".encode() + b"0000000000004,\xe9t\xe9\n0000000000005,ok\n")
    con = duckdb.connect()
    t = read_table(con, f, strict=False)
    assert [s.line for s in t.skipped] == [3, 5] and all("UTF-8" in s.reason for s in t.skipped)
    assert con.execute("SELECT NOKA, NAMA, _line FROM intake ORDER BY _line").fetchall() == [
        ("0000000000001", "Dürr", 2), ("0000000000003", "Ñandu", 4), ("0000000000005", "ok", 6)]
    with pytest.raises(InputError, match="mixes UTF-8"):
        read_table(duckdb.connect(), f, strict=True)


@pytest.mark.parametrize("codec", ["utf-16", "utf-8-sig", "cp1252"])
def test_whole_files_in_another_encoding_are_not_mistaken_for_mixed_ones(tmp_path: Path, codec: str) -> None:
    f = tmp_path / "enc.csv"
    f.write_bytes("NOKA;NAMA\n0000000000001;Señor Dürr\n0000000000002;Ñandu\n".encode(codec))
    con = duckdb.connect()
    t = read_table(con, f, strict=False)
    assert (t.rows, t.skipped) == (2, [])
    assert read(con, cols=["NAMA"]) == [("Señor Dürr",), ("Ñandu",)]


def test_an_enormous_line_is_skipped_by_streaming_not_buffering(tmp_path: Path) -> None:
    f = tmp_path / "long.csv"
    with f.open("w") as out:
        out.write("NOKA,NAMA\n0000000000001,A\n0000000000002,")
        out.write("x" * 3_000_000)  # stands in for a 2 GB line: the limit is lowered to match
        out.write("\n0000000000003,C\n")
    con = duckdb.connect()
    t = read_table(con, f, strict=False, limits=Limits(max_line=100_000))
    assert [(s.line, "longer than the limit" in s.reason) for s in t.skipped] == [(3, True)]
    assert con.execute("SELECT NOKA, _line FROM intake ORDER BY _line").fetchall() == [
        ("0000000000001", 2), ("0000000000003", 4)]


def test_an_enormous_first_line_is_refused_clearly(tmp_path: Path) -> None:
    f = tmp_path / "one.csv"
    f.write_bytes(b"x" * 300_000)
    with pytest.raises(InputError, match="first line"):
        read_table(duckdb.connect(), f, strict=False, limits=Limits(max_line=100_000))


# -- other formats from synthetic rows --------------------------------------------------------------


def test_a_json_array_and_an_xlsx_sheet_of_synthetic_rows(tmp_path: Path, rows: list) -> None:
    from openpyxl import Workbook

    (tmp_path / "a.json").write_text(json.dumps([dict(zip(COLS, r, strict=True)) for r in rows]))
    wb = Workbook()
    ws = wb.active
    ws.append(COLS)
    for r in rows:
        ws.append(r)
    wb.save(tmp_path / "b.xlsx")
    for name, fmt in (("a.json", "json"), ("b.xlsx", "xlsx")):
        con = duckdb.connect()
        t = read_table(con, tmp_path / name, strict=False)
        assert (t.format, t.rows) == (fmt, len(rows))
        assert read(con) == (expected(rows) if fmt == "json" else csv_rows(rows))  # a sheet has no empty text


# -- evidence ---------------------------------------------------------------------------------------


def test_evidence_is_hashed_by_streaming_and_never_modified(tmp_path: Path, rows: list) -> None:
    dump = tmp_path / "leak.sql"
    write_mysqldump(dump, rows)
    zipped = make_archive("zip", tmp_path, {"a/leak.sql": dump.read_bytes(), "notes.txt": b"x"})
    for f, fmt in ((dump, "sql"), (zipped, "zip")):
        before = (f.stat().st_mtime_ns, hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_size)
        ev = evidence(f)
        read_table(duckdb.connect(), f, strict=False)
        assert (ev.sha256, ev.size, ev.format) == (before[1], before[2], fmt)
        assert (f.stat().st_mtime_ns, hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_size) == before
    ev = evidence(zipped)
    assert sorted(m.name for m in ev.members) == ["a/leak.sql", "notes.txt"]
    assert json.loads(json.dumps(ev.to_json()))["members"][0]["size"] == dump.stat().st_size
    assert os.access(zipped, os.R_OK)


def test_thousands_of_ragged_rows_are_listed_in_one_pass(tmp_path: Path) -> None:
    f = tmp_path / "ragged.csv"
    body = "".join(f"{i:013d},A\n" if i % 2 else f"{i:013d},A,EXTRA\n" for i in range(20_000))
    f.write_text("NOKA,NAMA\n" + body)
    con = duckdb.connect()
    t = read_table(con, f, strict=False)
    assert t.rows == 10_000
    assert [s.line for s in t.skipped] == list(range(2, 20_002, 2))


def test_an_overlong_copy_line_cut_by_chunks_is_skipped_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jejak.intake import sqldump

    monkeypatch.setattr(sqldump, "CHUNK", 1000)
    f = tmp_path / "long.sql"
    f.write_text("COPY t (a, b) FROM stdin;\n1\tx\n2\t" + "y\\t" * 4000 + "\n3\tz\n\\.\n")
    con = duckdb.connect()
    t = read_table(con, f, strict=False, limits=Limits(max_line=2000))
    assert read(con, cols=["a", "b"]) == [("1", "x"), ("3", "z")]
    assert [s.line for s in t.skipped] == [3]


def test_an_insert_longer_than_the_statement_limit_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jejak.intake import sqldump

    monkeypatch.setattr(sqldump, "CHUNK", 1000)
    f = tmp_path / "long.sql"
    big = ",".join(f"('{i}','x')" for i in range(2000))
    f.write_text(f"INSERT INTO t VALUES ('a','1');\nINSERT INTO t VALUES {big};\nINSERT INTO t VALUES ('b','2');\n")
    con = duckdb.connect()
    t = read_table(con, f, strict=False, limits=Limits(max_statement=5000, max_line=5000))
    assert read(con, cols=["column1", "column2"]) == [("a", "1"), ("b", "2")]
    assert [s.line for s in t.skipped] == [2] and "longer than the limit" in t.skipped[0].reason


def test_7z_and_rar_archives_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    for name, magic in (("leak.7z", b"7z\xbc\xaf\x27\x1c"), ("leak.rar", b"Rar!\x1a\x07\x00")):
        f = tmp_path / name
        f.write_bytes(magic + b"\x00" * 64)
        with pytest.raises(InputError, match="not supported"):
            read_table(duckdb.connect(), f, strict=False)
