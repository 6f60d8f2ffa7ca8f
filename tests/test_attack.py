"""The attack simulator: what each attack does, and that every leak format reads back."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq
import pytest

from jejak import attack
from jejak.intake import read_table
from jejak.roles import Role
from jejak.synth import generate_tables
from jejak.validators import nik


@pytest.fixture(scope="module")
def source() -> attack.Leak:
    table = generate_tables(participants=300, snapshots=1, seed=3, patients=False)[0].participants
    return attack.start(table)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_roles_are_inferred_from_values(source: attack.Leak) -> None:
    assert source.roles["NIK"] == Role.NIK and source.roles["NOHP"] == Role.PHONE
    assert source.roles["TSUPDATE"] == Role.TIMESTAMP and source.roles["EMAIL"] == Role.EMAIL


def test_normalising_puts_every_field_in_one_form_and_is_idempotent(source: attack.Leak) -> None:
    once = attack.normalise(source)
    twice = attack.normalise(once)
    assert once.table.equals(twice.table)
    phones = [p for p in once.table.column("NOHP").to_pylist() if p]
    assert phones and all(p.startswith("+62") and p[1:].isdigit() for p in phones)
    mails = [m for m in once.table.column("EMAIL").to_pylist() if m]
    assert all(m == m.lower() for m in mails)
    assert all("T" in t for t in once.table.column("TSUPDATE").to_pylist() if t)
    assert once.table.column("NIK").equals(source.table.column("NIK"))  # identifiers untouched


def test_reformatting_changes_renderings_but_not_identity(source: attack.Leak) -> None:
    out = attack.reformat(source, rng())
    before, after = source.table.column("NOHP").to_pylist(), out.table.column("NOHP").to_pylist()
    assert sum(a != b for a, b in zip(before, after, strict=True)) > 0.3 * sum(b is not None for b in before)
    assert out.table.column("NOKA").equals(source.table.column("NOKA"))


def test_truncation_cuts_timestamps(source: attack.Leak) -> None:
    minutes = attack.truncate(source, "minutes").table.column("TSINPUT").to_pylist()
    dates = attack.truncate(source, "dates").table.column("TSINPUT").to_pylist()
    assert all(len(t) == 16 for t in minutes if t) and all(len(t) == 10 for t in dates if t)


def test_noise_touches_a_small_share_of_cells_and_no_identifier(source: attack.Leak) -> None:
    out = attack.noise(source, rng(), share=0.05)
    changed = total = 0
    for c in source.table.column_names:
        a, b = source.table.column(c).to_pylist(), out.table.column(c).to_pylist()
        diff = sum(x != y for x, y in zip(a, b, strict=True))
        if source.roles[c] in attack.ID_ROLES:
            assert diff == 0, c
        changed += diff
        total += sum(x is not None for x in a)
    assert 0.01 < changed / total < 0.1


def test_padding_adds_valid_people_we_never_had(source: attack.Leak) -> None:
    known = source.table.column("NIK").to_pylist()
    out = attack.pad(source, 0.25, rng(), exclude_nik=known, exclude_noka=source.table.column("NOKA").to_pylist())
    new = set(out.table.column("NIK").to_pylist()) - set(known)
    assert len(new) == round(0.25 * source.table.num_rows)
    assert all(nik.is_valid(n) for n in new)


def test_columns_are_dropped_renamed_and_reordered_with_their_origin_kept(source: attack.Leak) -> None:
    out = attack.reorder(attack.rename(attack.drop_columns(source, rng()), rng(1)), rng(2))
    assert out.table.num_columns < source.table.num_columns
    assert "NIK" in out.origin.values() and "NOKA" in out.origin.values()  # identifiers are never dropped
    for leaked, original in out.origin.items():
        assert out.table.column(leaked).equals(source.table.column(original))


def test_merging_copies_takes_each_cell_or_row_from_one_of_them(source: attack.Leak) -> None:
    other = attack.reformat(source, rng(5))
    cells = attack.merge_cells([source, other], 100, rng(), "NOKA")
    a = {r["NOKA"]: r for r in source.table.to_pylist()}
    b = {r["NOKA"]: r for r in other.table.to_pylist()}
    mixed = set()
    for row in cells.table.to_pylist():
        for c, v in row.items():
            assert v in (a[row["NOKA"]][c], b[row["NOKA"]][c])
            if a[row["NOKA"]][c] != b[row["NOKA"]][c]:
                mixed.add(v == a[row["NOKA"]][c])
    assert mixed == {True, False}
    rows = attack.merge_rows([source, other], 100, rng(), "NOKA")
    assert rows.table.num_rows == 100 and len(set(rows.table.column("NOKA").to_pylist())) == 100


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "xlsx"])
def test_every_leak_format_reads_back_through_intake(source: attack.Leak, tmp_path: Path, fmt: str) -> None:
    leak = attack.apply([source], ["normalise", "shuffle"], 50, rng())
    path = tmp_path / f"leak.{fmt}"
    attack.write(leak.table, path, fmt)
    con = duckdb.connect()
    t = read_table(con, path, name="x", strict=False)
    assert t.rows == 50 and set(t.columns) == set(leak.table.column_names)
    got = con.sql("SELECT NIK FROM x ORDER BY _line").to_arrow_table().column(0)
    assert got.to_pylist() == leak.table.column("NIK").to_pylist()


def test_sql_dumps_are_insert_statements(source: attack.Leak, tmp_path: Path) -> None:
    path = tmp_path / "leak.sql"
    attack.write(attack.subset(source, 5, rng()).table, path, "sql")
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("INSERT")]
    assert len(lines) == 5 and all(ln.endswith(");") for ln in lines)


def test_simulate_leak_is_one_call_from_files_to_a_leak(source: attack.Leak, tmp_path: Path) -> None:
    src = tmp_path / "release.csv"
    attack.write(source.table, src, "csv")
    out = attack.simulate_leak([src, src], ["merge-rows", "normalise"], 40, 1, tmp_path / "leak.parquet", "parquet")
    table = pq.read_table(out)
    assert table.num_rows == 40
    again = attack.simulate_leak([src, src], ["merge-rows", "normalise"], 40, 1, tmp_path / "again.parquet",
                                 "parquet")
    assert pq.read_table(again).equals(table)  # seeded


def test_unknown_attacks_are_refused(source: attack.Leak) -> None:
    with pytest.raises(ValueError, match="unknown attack"):
        attack.apply([source], ["teleport"], 5, rng())


# -- value noise, header case, collusion and framing ---------------------------------------------------

TS_COLUMNS = ("TSINPUT", "TSUPDATE")


def _parse_ts(v: str) -> tuple[datetime, str] | None:
    for f in attack.TS_FORMATS:
        try:
            return datetime.strptime(v, f), f
        except ValueError:
            pass
    return None


def _ts_pairs(before: attack.Leak, after: attack.Leak) -> list[tuple[datetime, datetime]]:
    """(before, after) for every parsed timestamp cell, asserting the format was kept."""
    pairs = []
    for c in TS_COLUMNS:
        for a, b in zip(before.table.column(c).to_pylist(), after.table.column(c).to_pylist(), strict=True):
            if a is None:
                assert b is None
                continue
            pa_, pb = _parse_ts(a), _parse_ts(b)
            assert pa_ is not None and pb is not None and pa_[1] == pb[1], (a, b)
            pairs.append((pa_[0], pb[0]))
    return pairs


def _only_changed(before: attack.Leak, after: attack.Leak, columns: set[str]) -> None:
    for c in before.table.column_names:
        if c not in columns:
            assert after.table.column(c).equals(before.table.column(c)), c


@pytest.fixture(scope="module")
def mixed(source: attack.Leak) -> attack.Leak:
    """The source re-typed: timestamps in all three formats, amounts as ``Rp 4.500.000`` and the like."""
    return attack.reformat(source, rng(4))


@pytest.mark.parametrize(("k", "unit"), [(3, 1), (5, 1), (5, 60)])
def test_rejitter_moves_every_timestamp_by_a_non_zero_shift_in_its_own_format(
        mixed: attack.Leak, k: int, unit: int) -> None:
    out = attack.rejitter(mixed, rng(), k, unit=unit)
    shifts = [(b - a).total_seconds() for a, b in _ts_pairs(mixed, out)]
    assert len(shifts) > 400
    assert {s / unit for s in shifts} == {*range(-k, 0), *range(1, k + 1)}  # every non-zero shift, no other
    formats = [_parse_ts(v) for v in out.table.column("TSINPUT").to_pylist() if v]
    assert len({p[1] for p in formats if p}) == 3  # all three input formats survive
    _only_changed(mixed, out, set(TS_COLUMNS))


def test_random_seconds_keep_the_minute_and_redraw_the_seconds(mixed: attack.Leak) -> None:
    out = attack.seconds_random(mixed, rng())
    pairs = _ts_pairs(mixed, out)
    assert all(b.replace(second=0) == a.replace(second=0) for a, b in pairs)
    assert {b.second for _, b in pairs} == set(range(60))
    assert sum(a.second == b.second for a, b in pairs) < len(pairs) / 20
    _only_changed(mixed, out, set(TS_COLUMNS))


def test_rounding_to_minutes_takes_the_nearest_minute_and_keeps_a_seconds_field(source: attack.Leak,
                                                                                mixed: attack.Leak) -> None:
    pairs = _ts_pairs(mixed, attack.round_minutes(mixed))
    assert all(b == (a + timedelta(seconds=30)).replace(second=0) for a, b in pairs)
    assert any(b > a for a, b in pairs) and any(b < a for a, b in pairs)  # up and down, not a cut
    plain = attack.round_minutes(source).table.column("TSUPDATE").to_pylist()
    assert all(len(v) == 19 and v.endswith(":00") for v in plain if v)


def _amount_pairs(before: attack.Leak, after: attack.Leak) -> list[tuple[int, int]]:
    pairs = []
    for a, b in zip(before.table.column("GAJI").to_pylist(), after.table.column("GAJI").to_pylist(), strict=True):
        if a is not None:
            assert b.isdigit(), b  # plain digits, whatever the input looked like
            pairs.append((int("".join(ch for ch in a if ch.isdigit())), int(b)))
    return pairs


def test_amounts_are_jittered_rounded_or_their_last_digits_redrawn(mixed: attack.Leak) -> None:
    assert any("." in v for v in mixed.table.column("GAJI").to_pylist() if v)  # separators really parsed
    jittered = _amount_pairs(mixed, attack.amounts_jitter(mixed, rng()))
    assert len(jittered) > 30 and all(1 <= abs(b - a) <= 9 for a, b in jittered)
    assert {b > a for a, b in jittered} == {True, False}
    rounded = _amount_pairs(mixed, attack.amounts_round(attack.amounts_jitter(mixed, rng(1))))
    assert all(b % 1000 == 0 and abs(b - a) <= 500 for a, b in rounded)
    redrawn = _amount_pairs(mixed, attack.amounts_random(mixed, rng()))
    assert all(b // 100 == a // 100 for a, b in redrawn)
    assert len({b % 100 for _, b in redrawn}) > 20  # the source's amounts all end in 00
    _only_changed(mixed, attack.amounts_random(mixed, rng()), {"GAJI"})


def test_lower_headers_lower_cases_every_name_and_keeps_the_origin(source: attack.Leak) -> None:
    out = attack.lower_headers(attack.reorder(source, rng()))
    assert out.table.column_names == [c.lower() for c in out.table.column_names] and "nik" in out.table.column_names
    for leaked, original in out.origin.items():
        assert out.table.column(leaked).equals(source.table.column(original))


def _by_key(leak: attack.Leak) -> dict[str, dict[str, str | None]]:
    return {r["NOKA"]: r for r in leak.table.to_pylist()}


def test_intersection_keeps_only_rows_in_every_copy_each_whole_from_one(source: attack.Leak,
                                                                         mixed: attack.Leak) -> None:
    a = attack.subset(source, 220, rng(1))
    b = attack.pad(attack.subset(mixed, 220, rng(2)), 0.1, rng(3))  # b alone holds its fabricated rows
    out = attack.intersect([a, b], 10_000, rng(), "NOKA")
    ra, rb = _by_key(a), _by_key(b)
    assert set(_by_key(out)) == set(ra) & set(rb) and out.table.num_rows == len(set(ra) & set(rb))
    whole = [(row == ra[row["NOKA"]], row == rb[row["NOKA"]]) for row in out.table.to_pylist()]
    assert all(x or y for x, y in whole)
    assert any(x and not y for x, y in whole) and any(y and not x for x, y in whole)  # both copies used
    assert attack.intersect([a, b], 40, rng(), "NOKA").table.num_rows == 40


def test_majority_takes_the_value_most_copies_hold_else_a_random_copys(source: attack.Leak) -> None:
    copies = [attack.noise(source, rng(i), share=0.2) for i in (1, 2, 3)]
    out = attack.majority(copies, 10_000, rng(), "NOKA")
    assert out.table.num_rows == source.table.num_rows
    rows = [_by_key(c) for c in copies]
    fallback = {0: 0, 1: 0, 2: 0}
    for row in out.table.to_pylist():
        for c, v in row.items():
            held = [r[row["NOKA"]][c] for r in rows]
            winner = next((h for h in held if held.count(h) >= 2), None)
            if winner is not None or held.count(held[0]) == 3:
                assert v == winner, (c, held, v)
            else:
                assert v in held
                fallback[held.index(v)] += 1
    assert min(fallback.values()) > 0  # with no majority every copy gets picked
    wrong = sum(a != b for c in source.table.column_names
                for a, b in zip(_column(out, c, source), source.table.column(c).to_pylist(), strict=True))
    wrong_one = sum(a != b for c in source.table.column_names
                    for a, b in zip(copies[0].table.column(c).to_pylist(), source.table.column(c).to_pylist(),
                                    strict=True))
    # Cells two copies altered differently have no majority (about a third here); a merge cell by cell
    # would be as wrong as one copy.
    assert wrong < wrong_one / 2


def _column(leak: attack.Leak, c: str, order: attack.Leak) -> list[str | None]:
    by = _by_key(leak)
    return [by[k][c] for k in order.table.column("NOKA").to_pylist()]


def test_framing_redraws_marks_on_the_victims_rows_and_leaves_identity_alone(source: attack.Leak,
                                                                            mixed: attack.Leak) -> None:
    victim = source.table.select(["NOKA"]).slice(0, 120)
    out = attack.frame(mixed, victim, rng(), "NOKA")
    assert set(out.table.column("NOKA").to_pylist()) == set(victim.column(0).to_pylist())
    own = attack.Leak(mixed.table.filter(pa.compute.is_in(mixed.table.column("NOKA"), value_set=victim.column(0))),
                      mixed.origin, mixed.roles)
    for c in ("NOKA", "NIK", "NAMA", "TGLLHR", "ALAMAT"):  # identifiers, names, birth dates untouched
        assert out.table.column(c).equals(own.table.column(c)), c
    pairs = _ts_pairs(own, out)
    assert all(0 < abs((b - a).total_seconds()) <= 1800 and a.date() == b.date() for a, b in pairs)
    assert max(abs((b - a).total_seconds()) for a, b in pairs) > 1000
    assert all(1 <= abs(b - a) <= 9 for a, b in _amount_pairs(own, out))
    phones = list(zip(own.table.column("NOHP").to_pylist(), out.table.column("NOHP").to_pylist(), strict=True))
    digits = [("".join(ch for ch in a if ch.isdigit())[-9:], "".join(ch for ch in b if ch.isdigit())[-9:])
              for a, b in phones if a]
    assert all(x == y for x, y in digits) and sum(a != b for a, b in phones) > len(digits) / 3


def test_apply_runs_the_new_attacks_and_intersects_instead_of_merging(source: attack.Leak,
                                                                     mixed: attack.Leak) -> None:
    a, b = attack.subset(source, 200, rng(1)), attack.subset(mixed, 200, rng(2))
    common = set(_by_key(a)) & set(_by_key(b))
    out = attack.apply([a, b], ["intersect", "rejitter-5", "amounts-round", "lower-headers"], 10_000, rng())
    assert set(out.table.column("noka").to_pylist()) == common
    assert all(v.endswith("000") for v in out.table.column("gaji").to_pylist() if v)
    again = attack.apply([a, b], ["intersect", "rejitter-5", "amounts-round", "lower-headers"], 10_000, rng())
    assert again.table.equals(out.table)  # seeded
    victim = source.table.select(["NOKA"]).slice(0, 80)
    framed = attack.apply([source], ["frame"], 50, rng(), victim_rows=victim)
    assert framed.table.num_rows == 50 and set(framed.table.column("NOKA").to_pylist()) <= set(
        victim.column(0).to_pylist())
    with pytest.raises(ValueError, match="frame"):
        attack.apply([source], ["subset"], 50, rng(), victim_rows=victim)
