"""Roles come from values: renaming and reordering columns changes nothing."""

from __future__ import annotations

import random
from datetime import date

import duckdb
import pytest

from jejak.errors import JejakError
from jejak.roles import Role, infer_roles, parse_role_overrides
from jejak.validators import nik

EXPECTED = {
    "NOKA": Role.CARD, "NIK": Role.NIK, "NAMA": Role.NAME, "NOHP": Role.PHONE, "EMAIL": Role.EMAIL,
    "ALAMAT": Role.ADDRESS, "TGLLHR": Role.DATE, "TSUPDATE": Role.TIMESTAMP, "GAJI": Role.AMOUNT,
    "KDSTATUSPST": Role.CATEGORY, "DIAGNOSA": Role.MEDICAL, "HASIL_COVID": Role.MEDICAL, "NPWP": Role.NPWP,
}
FIRST = ["BUDI", "SITI", "AGUS", "DEWI", "RINA", "ANDI", "YUSUF", "MAYA", "EKO", "SRI", "JOKO", "TUTI"]
LAST = ["SANTOSO", "LESTARI", "WIJAYA", "SARAGIH", "NASUTION", "HIDAYAT", "PUTRI", "KUSUMA", "SETIAWAN"]


def make_rows(n: int) -> list[dict[str, str]]:
    rnd = random.Random(1)
    rows = []
    for i in range(n):
        born = date(1950 + rnd.randrange(60), rnd.randrange(1, 13), rnd.randrange(1, 28))
        name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
        rows.append({
            "NOKA": f"{i + 1:013d}",
            "NIK": nik.make("317101", born, rnd.choice("MF"), i + 1),
            "NAMA": name,
            "NOHP": rnd.choice(["0812", "+62 813-", "62857"]) + f"{rnd.randrange(10**7, 10**8)}",
            "EMAIL": name.lower().replace(" ", ".") + f"{i}@gmail.com",
            "ALAMAT": f"Jl. Merdeka No. {i % 90 + 1} RT 00{i % 9 + 1}/RW 00{i % 5 + 1}, Kel. Gambir",
            "TGLLHR": born.isoformat(),
            "TSUPDATE": f"2024-0{i % 9 + 1}-1{i % 9} 1{i % 9}:2{i % 9}:3{i % 9}",
            "GAJI": str(rnd.randrange(2_000_000, 20_000_000)),
            "KDSTATUSPST": rnd.choice(["AKTIF", "NONAKTIF", "MENINGGAL"]),
            "DIAGNOSA": rnd.choice(["U07.1", "J18.9", "A09", "I10", "E11.9", "J06.9"]) if i % 2 else "J18.9",
            "HASIL_COVID": rnd.choice(["POSITIF", "NEGATIF"]),
            "NPWP": f"{rnd.randrange(10):02d}.{rnd.randrange(1000):03d}.{rnd.randrange(1000):03d}.1-{i % 1000:03d}.000",
        })
    return rows


def load(con: duckdb.DuckDBPyConnection, rows: list[dict[str, str]], rename: dict[str, str]) -> list[str]:
    import pyarrow as pa

    cols = list(rows[0])
    random.Random(2).shuffle(cols)
    t = pa.table({rename.get(c, c): [r[c] for r in rows] for c in cols})
    con.register("src", t)
    con.execute("CREATE OR REPLACE TABLE leak AS SELECT * FROM src")
    return [rename.get(c, c) for c in cols]


def test_roles_are_inferred_from_values() -> None:
    con = duckdb.connect()
    cols = load(con, make_rows(600), {})
    roles = {c: g.role for c, g in infer_roles(con, "leak", cols).items()}
    assert roles == EXPECTED


def test_renamed_and_shuffled_headers_give_the_same_roles() -> None:
    con = duckdb.connect()
    rename = {c: f"col{i}" for i, c in enumerate(EXPECTED)}
    cols = load(con, make_rows(600), rename)
    roles = {c: g.role for c, g in infer_roles(con, "leak", cols).items()}
    assert roles == {rename[c]: r for c, r in EXPECTED.items()}


def test_role_overrides_parse_and_unknown_roles_are_refused() -> None:
    assert parse_role_overrides(["KDKANTOR=category", "X=y=amount"]) == {"KDKANTOR": Role.CATEGORY, "X=y": Role.AMOUNT}
    with pytest.raises(JejakError, match="roles are: nik"):
        parse_role_overrides(["A=colour"])
    with pytest.raises(JejakError, match="COLUMN=ROLE"):
        parse_role_overrides(["nothing"])
