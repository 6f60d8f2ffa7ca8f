"""The attack simulator: what each attack does, and that every leak format reads back."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
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
