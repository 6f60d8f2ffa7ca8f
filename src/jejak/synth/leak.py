"""A leak that lost its identifiers: what probabilistic linkage has to cope with, with ground truth.

Given registry rows (a table with ``_key`` and participant columns), keep only the columns a
stripped-down dump carries (name, sex, birthplace, birth date, address and a few codes), drop
every identifier (NIK, card numbers, phone, e-mail, NPWP), re-format what is left the way a leaker
or another system would (case, spacing, date formats, address abbreviations, sex spelled out) and
add typing mistakes at a given rate. All in DuckDB SQL, seeded through ``hash`` so the same seed
gives the same leak.
"""

from __future__ import annotations

import duckdb

#: Columns the leak keeps (when the source has them).
KEPT = ("NAMA", "JENKEL", "TMPLHR", "TGLLHR", "ALAMAT", "AGAMA", "KDHUBKEL", "KDSTATUSPST")


def _h(seed: int, salt: str) -> str:
    return f"hash(_src_row, {seed}, '{salt}')"


def _typo(v: str, seed: int, salt: str) -> str:
    """One deletion, substitution or transposition at a pseudo-random position of ``v``."""
    h = _h(seed, salt)
    p = f"(({h} // 7) % greatest(length({v}) - 1, 1) + 1)::BIGINT"
    letter = f"chr(65 + (({h} // 131) % 26)::INTEGER)"
    return f"""CASE ({h} % 3)
        WHEN 0 THEN substr({v}, 1, {p} - 1) || substr({v}, {p} + 1)
        WHEN 1 THEN substr({v}, 1, {p} - 1) || {letter} || substr({v}, {p} + 1)
        ELSE substr({v}, 1, {p} - 1) || substr({v}, {p} + 1, 1) || substr({v}, {p}, 1) || substr({v}, {p} + 2)
    END"""


def _maybe(v: str, changed: str, rate: float, seed: int, salt: str) -> str:
    return f"CASE WHEN {v} IS NOT NULL AND ({_h(seed, salt)} % 1000000) < {int(rate * 1_000_000)} " \
           f"THEN {changed} ELSE {v} END"


def make_unidentified_leak(
    con: duckdb.DuckDBPyConnection,
    source: str,
    *,
    out: str,
    seed: int = 0,
    typo_rate: float = 0.05,
) -> None:
    """Create TEMP table ``out`` (``_line``, ``_true_key``, kept columns) from ``source`` rows.

    ``source`` needs ``_key`` and the participant columns; rows are taken in a seeded random
    order. ``typo_rate`` is the share of names and of addresses with one typing mistake (dates
    get a third of it).
    """
    cols = {r[0] for r in con.execute(f"DESCRIBE {source}").fetchall()}
    kept = [c for c in KEPT if c in cols]
    exprs: dict[str, str] = {}
    r = typo_rate
    if "NAMA" in kept:
        name = f"CASE {_h(seed, 'nc')} % 3 WHEN 0 THEN lower(NAMA) WHEN 1 THEN upper(NAMA) " \
               "ELSE replace(upper(NAMA), ' ', '  ') END"
        exprs["NAMA"] = _maybe(name, _typo(name, seed, "nt"), r, seed, "nr")
    if "JENKEL" in kept:
        exprs["JENKEL"] = f"CASE WHEN {_h(seed, 'jk')} % 2 = 0 THEN JENKEL " \
                          "WHEN JENKEL = 'L' THEN 'LAKI-LAKI' WHEN JENKEL = 'P' THEN 'PEREMPUAN' ELSE JENKEL END"
    if "TGLLHR" in kept:
        d = "TRY_CAST(TGLLHR AS DATE)"
        fmt = f"CASE {_h(seed, 'df')} % 3 WHEN 0 THEN strftime({d}, '%d/%m/%Y') " \
              f"WHEN 1 THEN strftime({d}, '%d-%m-%Y') ELSE strftime({d}, '%Y-%m-%d') END"
        shifted = f"strftime({d} + INTERVAL (1 + {_h(seed, 'dd')} % 9) DAY, '%d/%m/%Y')"
        exprs["TGLLHR"] = _maybe(fmt, shifted, r / 3, seed, "dr")
    if "ALAMAT" in kept:
        a = "upper(ALAMAT)"
        for pat, rep in (("\\bJL\\.? ", "JALAN "), ("\\bJLN\\.? ", "JALAN "), ("\\bGG\\. ", "GANG "),
                         ("\\bKEL\\. ", "KELURAHAN "), ("\\bKEC\\.? ", "KECAMATAN "), ("\\bKAB\\. ", "KABUPATEN "),
                         (",", "")):
            a = f"regexp_replace({a}, '{pat}', '{rep}', 'g')"
        addr = f"CASE WHEN {_h(seed, 'ac')} % 2 = 0 THEN {a} ELSE lower(ALAMAT) END"
        exprs["ALAMAT"] = _maybe(addr, _typo(addr, seed, "at"), r, seed, "ar")
    select = ", ".join(f"{exprs.get(c, c)} AS {c}" for c in kept)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {out} AS
            SELECT row_number() OVER (ORDER BY hash(_src_row, {seed}, 'order')) AS _line, _key AS _true_key, {select}
            FROM (SELECT row_number() OVER () AS _src_row, * FROM {source})"""
    )
