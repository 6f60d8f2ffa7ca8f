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
import pyarrow.compute as pc

from jejak import keys
from jejak.channel.base import q
from jejak.roles import Role

RATE = 1 / 2000  # one canary per 2,000 rows: invisible in use, and a 500-row leak still holds one
MINIMUM = 3
_LEDGER_FIELDS = {Role.NIK: "nik", Role.PHONE: "phone", Role.EMAIL: "email", Role.NAME: "name", Role.DATE: "birth_date"}


def count_for(rows: int) -> int:
    return max(MINIMUM, round(rows * RATE))


def make_canaries(
    con: duckdb.DuckDBPyConnection, *, versions_table: str, key_column: str, columns: list[str],
    roles: dict[str, Role], as_of: date, release_secret: bytes, rows: int,
) -> tuple[pa.Table | None, list[dict[str, Any]]]:
    """The release's canaries as a table (its columns, ``_key`` and an odd ``_pos``) and their ledger rows.

    Real rows have ``_pos`` 0, 2, 4, ... in key order; a canary's odd ``_pos`` puts it between two
    of them. Canaries need the participant layout (their values come from the synthetic
    generator); for another layout there are none (``None, []``) and the caller records zero.
    """
    from jejak.synth import PARTICIPANT_COLUMNS

    if key_column not in PARTICIPANT_COLUMNS:
        return None, []
    seed = int.from_bytes(keys.channel_key(release_secret, "canary", "rows")[:8], "big")
    nik_cols = [c for c, r in roles.items() if r == Role.NIK and c in PARTICIPANT_COLUMNS]
    n = count_for(rows)
    rng, people = _people(con, versions_table, nik_cols[0] if nik_cols else None, key_column, n, seed, as_of)
    positions = np.sort(rng.integers(0, rows + 1, n))
    shared = [c for c in columns if c in people.column_names]
    data = {c: people.column(c) for c in shared}
    data["_key"] = people.column(key_column)
    data["_pos"] = pa.array(2 * positions.astype(np.int64) + 1)  # between real rows, whose _pos is even
    return pa.table(data), [_ledger_row(people, i, key_column, roles, shared) for i in range(n)]


def _people(
    con: duckdb.DuckDBPyConnection, table: str, nik_col: str | None, key_col: str, n: int, seed: int, as_of: date,
) -> tuple[np.random.Generator, pa.Table]:
    """``make_people`` avoiding every NIK and card number the registry ever held, without loading them all.

    A first draw without exclusions shows where the canaries' NIKs fall: their bases (district
    and birth date; a NIK only ever moves within its base when it clashes). A second, with those
    NIKs excluded, shows where each card-number slot search starts (a clash only moves a slot up). Only registry
    values in those places can matter; the real draw, from the
    same seed, gives exactly what it would with every registry value excluded.
    """
    from jejak.synth import make_people
    from jejak.synth.people import NOKA_BASE, NOKA_PER_SLOT

    probe = make_people(n, np.random.default_rng(seed), as_of=as_of)
    taken_nik = None
    if nik_col is not None:
        bases = np.unique(_ints(probe.column(nik_col)) // 10_000)
        con.register("_jj_nik_bases", pa.table({"b": bases}))
        try:
            taken_nik = con.sql(
                f"SELECT TRY_CAST({q(nik_col)} AS BIGINT) FROM {table} "  # repeats: make_people takes a set
                f"WHERE regexp_full_match({q(nik_col)}, '[0-9]{{1,18}}') "
                f"AND TRY_CAST({q(nik_col)} AS BIGINT) // 10000 IN (SELECT b FROM _jj_nik_bases)"
            ).to_arrow_table().column(0)
        finally:
            con.unregister("_jj_nik_bases")
    # With the NIKs excluded (which draws the same random numbers as the real draw) but no card
    # numbers, the slots are where every search starts (clashes only move a slot up).
    if taken_nik is not None:
        probe = make_people(n, np.random.default_rng(seed), as_of=as_of, exclude_nik=taken_nik)
    start = np.unique((_ints(probe.column(key_col)) - NOKA_BASE) // NOKA_PER_SLOT)
    k = q(key_col)
    taken = con.sql(  # every card number ever held, as sorted integers; repeats (one per version) do no harm
        f"SELECT TRY_CAST({k} AS BIGINT) AS v FROM {table} "
        f"WHERE regexp_full_match({k}, '[0-9]{{1,18}}') ORDER BY v"
    ).fetchnumpy()["v"].astype(np.int64)
    slot_of = (taken - NOKA_BASE) // NOKA_PER_SLOT  # sorted, with repeats
    used = slot_of[np.r_[True, slot_of[1:] != slot_of[:-1]]] if len(slot_of) else slot_of
    # A search from s passes only taken slots and the slots of the other n-1 canaries, so it ends
    # at or before the n-th free slot from s. With D = used - index (non-decreasing), the free
    # slots in [s, used[i]) number D[i] - (s - i0), which finds that slot by binary search.
    i0 = np.searchsorted(used, start)
    d = used - np.arange(len(used))
    i1 = np.searchsorted(d, start - i0 + n, side="left")
    end = start + n + (i1 - i0)  # one past the n-th free slot at or after s
    lo = np.searchsorted(taken, NOKA_BASE + start * NOKA_PER_SLOT)
    hi = np.searchsorted(taken, NOKA_BASE + end * NOKA_PER_SLOT)
    cover = np.zeros(len(taken) + 1, dtype=np.int64)
    np.add.at(cover, lo, 1)
    np.add.at(cover, hi, -1)
    near = taken[np.cumsum(cover)[:-1] > 0]
    rng = np.random.default_rng(seed)
    people = make_people(n, rng, as_of=as_of, exclude_nik=taken_nik, exclude_noka=pa.array(near, pa.int64()))
    return rng, people


def _ints(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.cast(col, pa.int64()).to_numpy(), dtype=np.int64)


def _ledger_row(people: pa.Table, i: int, key: str, roles: dict[str, Role], shared: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"canary_key": people.column(key)[i].as_py()}
    if roles.get(key) == Role.CARD:
        row["noka"] = row["canary_key"]
    for c in shared:
        field = _LEDGER_FIELDS.get(roles.get(c, Role.TEXT))
        if field and field not in row:
            row[field] = people.column(c)[i].as_py()
    return row
