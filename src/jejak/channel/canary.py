"""Robust channel: canary records — synthetic persons that exist in exactly one release.

A canary looks like every other participant (valid NIK consistent with region, sex and birth
date; name; address in that region; phone; card number in sequence) but was never in the
registry and is given to one recipient only. A leaked canary therefore names its release with
no statistics at all: it survives any normalisation, because matching uses the identifiers.
Canaries are drawn deterministically from the release secret, so a reproduced release holds
the same canaries at the same places.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from jejak import keys
from jejak.channel.base import q
from jejak.roles import Role

RATE = 1 / 2000  # one canary per 2,000 rows: invisible in use, and a 500-row leak still holds one
MINIMUM = 3
_LEDGER_FIELDS = {Role.NIK: "nik", Role.PHONE: "phone", Role.EMAIL: "email", Role.NAME: "name", Role.DATE: "birth_date"}


def count_for(rows: int) -> int:
    return max(MINIMUM, round(rows * RATE))


def add_canaries(
    con: duckdb.DuckDBPyConnection, table: str, *, versions_table: str, key_column: str, columns: list[str],
    roles: dict[str, Role], as_of: date, release_secret: bytes, dataset: str, rows: int,
) -> list[dict[str, Any]]:
    """Insert canaries into ``table`` (``_rid``/``_pos`` continue the real rows); return ledger rows.

    Canaries need the participant layout (their values come from the synthetic generator); for
    another layout none are added and the caller records zero.
    """
    from jejak.synth import PARTICIPANT_COLUMNS, make_people

    if key_column not in PARTICIPANT_COLUMNS:
        return []
    seed = int.from_bytes(keys.channel_key(release_secret, "canary", "rows")[:8], "big")
    rng = np.random.default_rng(seed)
    nik_cols = [c for c, r in roles.items() if r == Role.NIK and c in PARTICIPANT_COLUMNS]
    exclude_nik = _column(con, versions_table, nik_cols[0]) if nik_cols else None
    n = count_for(rows)
    people = make_people(n, rng, as_of=as_of, exclude_nik=exclude_nik,
                         exclude_noka=_column(con, versions_table, key_column))
    positions = np.sort(rng.integers(0, rows + 1, n))
    shared = [c for c in columns if c in people.column_names]
    data = {c: people.column(c) for c in shared}
    data["_key"] = people.column(key_column)
    data["_rid"] = pa.array(np.arange(rows, rows + n, dtype=np.int64))
    data["_pos"] = pa.array(2 * positions.astype(np.int64) + 1)  # between real rows, whose _pos is even
    con.register("_jj_canaries", pa.table(data))
    try:
        cols = ", ".join(q(c) for c in shared)
        con.execute(
            f"INSERT INTO {table} (_rid, _key, _digest, _pos, {cols}) "
            f"SELECT _rid, _key, {keys.digest_sql(dataset, '_key')}, _pos, {cols} FROM _jj_canaries"
        )
    finally:
        con.unregister("_jj_canaries")
    return [_ledger_row(people, i, key_column, roles, shared) for i in range(n)]


def _column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> pa.Array:
    return con.sql(f"SELECT DISTINCT {q(column)} FROM {table} WHERE {q(column)} IS NOT NULL").to_arrow_table().column(0)


def _ledger_row(people: pa.Table, i: int, key: str, roles: dict[str, Role], shared: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"canary_key": people.column(key)[i].as_py()}
    if roles.get(key) == Role.CARD:
        row["noka"] = row["canary_key"]
    for c in shared:
        field = _LEDGER_FIELDS.get(roles.get(c, Role.TEXT))
        if field and field not in row:
            row[field] = people.column(c)[i].as_py()
    return row
