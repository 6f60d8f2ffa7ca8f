"""Attribution: the leaker is named with an exact bound, innocents follow their null distribution."""

from __future__ import annotations

import math
import secrets
from dataclasses import replace
from fractions import Fraction
from functools import partial
from math import comb
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from jejak import attack, keys
from jejak.attribution import Attribution
from jejak.channel import canary
from jejak.ledger import Ledger, ReleaseRecord
from jejak.registry import Registry
from jejak.synth import generate_tables
from jejak.tail import log10_tail
from worlds import World, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("attr"))


def suspects(result: Attribution, world: World) -> set[str]:
    names = {r.release_id: k for k, r in world.releases.items()}
    return {names.get(s, s) for s in result.suspects}


# -- the exact tail -------------------------------------------------------------------------------


def _exact_log10_tail(groups: dict[int, int], k: int) -> float:
    dist = {0: Fraction(1)}
    for m, n in groups.items():
        p = Fraction(1, m)
        step = {x: comb(n, x) * p**x * (1 - p) ** (n - x) for x in range(n + 1)}
        new: dict[int, Fraction] = {}
        for a, va in dist.items():
            for x, vb in step.items():
                new[a + x] = new.get(a + x, Fraction(0)) + va * vb
        dist = new
    tail = sum((v for x, v in dist.items() if x >= k), Fraction(0))
    return math.log10(tail.numerator) - math.log10(tail.denominator)


@pytest.mark.parametrize(("groups", "k"), [
    ({60: 40}, 1), ({60: 40}, 5), ({60: 40}, 40), ({4: 30, 18: 7, 60: 25}, 12), ({4: 30, 18: 7, 60: 25}, 40),
    ({4: 50}, 13), ({2: 9, 37: 3}, 4), ({60: 120, 4: 10}, 90),
])
def test_the_tail_equals_exact_rational_arithmetic(groups: dict[int, int], k: int) -> None:
    got = log10_tail({1 / m: n for m, n in groups.items()}, k)
    want = _exact_log10_tail(groups, k)
    assert abs(got - want) <= 1e-9 * max(1.0, abs(want))


def test_the_tail_reaches_far_below_double_precision() -> None:
    assert log10_tail({1 / 60: 10_000}, 10_000) == pytest.approx(-10_000 * math.log10(60))
    assert log10_tail({1 / 60: 10_000, 1 / 4: 2_000}, 9_000) < -10_000


# -- the null distribution ------------------------------------------------------------------------


def _decoys(world: World, n: int) -> list[ReleaseRecord]:
    a = world.releases["A"]
    policy = {**a.policy, "channels": [c for c in a.policy["channels"] if c != "canary"]}
    return [replace(a, release_id=f"R-NULL-{i:05d}-{secrets.token_hex(4)}", policy=policy) for i in range(n)]


def test_innocent_releases_follow_their_null_distribution_and_none_is_accused(world: World) -> None:
    # Two leaks of release A (as extracted, and fully normalised), each scored against 1,000 innocent
    # releases with the same rows and columns: every decoy's key is a fresh, independent seed.
    pvalues: list[float] = []
    levels: dict[str, list[float]] = {}
    accused = 0
    for attacks, rows in (([], 300), (["normalise", "shuffle"], 600)):
        leak = world.attacked(["A"], attacks, rows, seed=rows)
        result = world.leak(leak.table, leak.origin, releases=_decoys(world, 1_000))
        assert result.tested == 1_000
        pvalues += [10 ** s.log10_p for s in result.releases if s.log10_p is not None]
        for s in result.releases:
            for lv in s.levels:
                levels.setdefault(lv.level, []).append(10 ** lv.log10_p)
        accused += sum(s.suspect for s in result.releases)
    p = np.array(pvalues)
    assert len(p) == 2_000 and accused == 0
    for sample in [p, *map(np.array, levels.values())]:
        for a in (0.5, 0.2, 0.05, 0.01):
            # super-uniform: P[p <= a] <= a, with a 4-sigma allowance for sampling
            assert np.mean(sample <= a) <= a + 4 * math.sqrt(a * (1 - a) / len(sample)), a
    # Each level's exact tail is close to uniform (not trivially conservative); the release's p-value,
    # the smallest of them times their number, is more conservative by design.
    assert set(levels) == {"exact", "near", "minute", "coarse"}
    assert all(np.mean(np.array(v) <= 0.5) > 0.3 for v in levels.values())


# -- naming the leaker ----------------------------------------------------------------------------


def test_a_leaker_is_named_from_a_small_unmodified_extract(world: World) -> None:
    leak = world.attacked(["B"], [], 50, seed=1)
    result = world.leak(leak.table)
    assert result.verdict == "release" and suspects(result, world) == {"B"}
    top = result.releases[0]
    assert top.release_id == world.releases["B"].release_id and top.log10_bound is not None
    assert top.log10_bound < -9 and "marks" in top.named_by
    # Joint jitter (policy 2): a tied group of timestamps is one observation, and it agrees.
    ts = top.channels["ts_jitter"]
    assert ts.read > 0 and ts.agree == ts.read
    assert top.channels["amount_digits"].agree == top.channels["amount_digits"].read
    assert result.to_json()["releases"][0]["suspect"] is True


def test_a_follower_timestamp_carries_its_groups_mark_when_the_leak_drops_the_leader(world: World) -> None:
    full = world.attacked(["B"], [], 200, seed=3).table
    both = world.leak(full).releases[0].channels["ts_jitter"]
    only_update = world.leak(full.drop_columns(["TSINPUT"]))
    top = only_update.releases[0]
    assert top.release_id == world.releases["B"].release_id
    ts = top.channels["ts_jitter"]
    assert ts.agree == ts.read > 0  # followers read with their leader's key
    # A group is one observation: the full leak counts no more cells than it has (row, group) pairs.
    assert ts.read <= both.read <= 2 * ts.read


def test_a_leaker_is_named_from_a_normalised_renamed_extract_and_flattened_channels_are_excluded(
    world: World,
) -> None:
    leak = world.attacked(["A"], ["normalise", "rename", "reorder", "shuffle"], 300, seed=2)
    result = world.leak(leak.table, leak.origin)
    assert suspects(result, world) == {"A"}
    assert {"phone_format", "email_case"} <= set(result.flattened_channels)
    top = result.releases[0]
    assert top.channels["phone_format"].flattened and 4 not in top.reads_by_m  # m = 4: the format channels
    assert top.log10_bound is not None and top.log10_bound < -9


def test_two_colluders_merging_their_copies_are_both_named(world: World) -> None:
    for attacks in (["merge-rows"], ["merge-cells", "normalise"]):
        leak = world.attacked(["A", "B"], attacks, 800, seed=3)
        result = world.leak(leak.table, leak.origin)
        assert suspects(result, world) == {"A", "B"}, attacks
        assert all(s.log10_bound is not None and s.log10_bound < -6 for s in result.releases if s.suspect)


def test_a_canary_names_its_release_even_without_readable_marks(world: World) -> None:
    rec = world.releases["B"]
    tags = {c["key"] for c in Ledger.open(world.ws.ledger_url).canaries(release_id=rec.release_id)}
    table = world.tables["B"]
    index = keys.canary_index_key(world.ws.master_secret())
    canaries = {k for k in table.column("NOKA").to_pylist() if canary.tag(index, "key", k) in tags}
    assert len(canaries) == rec.canaries
    mask = pa.compute.is_in(table.column("NOKA"), value_set=pa.array(sorted(canaries)))
    leak = attack.start(table.filter(mask), world.roles)
    genuine = world.attacked(["B"], [], 40, seed=4)
    both = attack.Leak(pa.concat_tables([leak.table, genuine.table]), leak.origin, leak.roles)
    flat = attack.truncate(attack.normalise(both), "dates")  # no marks left but the canaries
    result = world.leak(flat.table.drop_columns(["GAJI"]))
    top = next(r for r in result.to_json()["releases"] if r["release_id"] == rec.release_id)
    assert top["canary_hits"] == len(canaries)
    # The canaries name B exactly when their own bound says so. A release of 900 rows plants a few;
    # about one world in twenty-five (the secret is random) plants them all in one family, whose
    # members are not independent evidence, and then nobody is named (never another release).
    strong = top["canary"]["log10_bound"] <= -6
    assert result.verdict == ("release" if strong else "inconclusive")
    assert suspects(result, world) == ({"B"} if strong else set())
    assert top["named_by"] == (["canary"] if strong else [])
    only = world.leak(attack.normalise(leak).table)  # canaries alone: no genuine row in common
    assert suspects(only, world) == ({"B"} if strong else set()) and only.releases[0].rows_in_common == 0


# -- other verdicts --------------------------------------------------------------------------------


def test_a_registered_release_is_ranked_but_never_named_by_a_bound(world: World) -> None:
    result = world.leak(world.registry_copy("KDSTATUSPST = 'NONAKTIF'"))
    assert result.verdict == "inconclusive" and result.suspects == []
    top = result.releases[0]
    assert top.release_id == world.releases["R"].release_id and top.kind == "registered"
    assert top.containment == 1.0 and top.log10_bound is None and top.bound is None
    assert "registered" in (result.missing or "") and "no marks" in result.explanation
    assert top.window_consistent is None


def test_a_release_outside_the_dating_window_is_marked_inconsistent(world: World) -> None:
    table = world.registry_copy("KDSTATUSPST = 'NONAKTIF'")
    inside = world.leak(table, window={"from": "2025-01-01", "to": "2025-12-31"})
    before = world.leak(table, window=("2020-01-01", "2020-06-30"))
    rid = world.releases["R"].release_id
    assert next(s for s in inside.releases if s.release_id == rid).window_consistent is True
    assert next(s for s in before.releases if s.release_id == rid).window_consistent is False


def test_an_unmarked_copy_of_the_registry_is_unreleased(world: World) -> None:
    result = world.leak(world.registry_copy())
    assert result.verdict == "unreleased" and result.suspects == []
    assert "registry itself" in result.explanation


def test_a_foreign_file_is_not_ours(world: World) -> None:
    other = generate_tables(participants=300, snapshots=1, seed=99, patients=False)[0].participants
    result = world.leak(other)
    assert result.verdict == "not-ours" and result.tested == 0


def test_not_ours_needs_positive_evidence_and_a_file_read_well(world: World) -> None:
    other = generate_tables(participants=300, snapshots=1, seed=99, patients=False)[0].participants
    poorly = world.leak(other, read_poorly="4,000 of 4,300 records could not be read")
    assert poorly.verdict == "inconclusive" and "could not be read well" in poorly.explanation
    names_only = world.leak(other.select(["NAMA", "TGLLHR"]))  # nothing to compare identifiers with
    assert names_only.verdict == "inconclusive" and "identifier" in names_only.explanation


def test_a_release_sharing_no_rows_with_the_leak_is_not_tested(world: World) -> None:
    inactive = world.registry_copy("KDSTATUSPST = 'NONAKTIF'")
    keys = pa.compute.is_in(world.tables["A"].column("NOKA"), value_set=inactive.column("NOKA"))
    leak = world.tables["A"].filter(keys)
    result = world.leak(leak)
    scored = {s.release_id for s in result.releases}
    assert world.releases["C"].release_id not in scored  # C holds active participants only
    assert suspects(result, world) == {"A"} and result.tested == 2


def test_the_investigation_attributes_a_renamed_normalised_leak_file_end_to_end(world: World, tmp_path: Path) -> None:
    from jejak.investigate import investigate

    leak = world.attacked(["C"], ["normalise", "rename", "reorder", "pad"], 200, seed=6)
    path = tmp_path / "dijual.jsonl"
    attack.write(leak.table, path, "jsonl")
    verdict = investigate(world.ws, path)
    att = verdict.to_json()["attribution"]
    assert att["verdict"] == "release" and att["suspects"] == [world.releases["C"].release_id]
    assert att["releases"][0]["log10_bound"] < -9 and "phone_format" in att["flattened_channels"]


def test_three_genuine_rows_are_ours_though_too_few_to_name_anyone(world: World) -> None:
    leak = world.attacked(["A"], ["normalise", "truncate-dates"], 3, seed=8)
    result = world.leak(leak.table.drop_columns(["GAJI"]))
    assert result.verdict == "inconclusive" and result.suspects == []
    assert result.missing


def test_the_restoration_priors_of_one_scan_equal_each_columns_own_count(world: World) -> None:
    from jejak.attribution import Scorer
    from jejak.channel.base import Policy, channels
    from jejak.linkbykey import link_by_key
    from jejak.registry import Registry

    table = world.registry_copy()
    ledger = Ledger.open(world.ws.ledger_url)
    with Registry(world.ws.registry_path, read_only=True) as reg:
        reg.con.register("_src", table)
        reg.con.execute("CREATE TEMP TABLE _leak AS SELECT *, row_number() OVER () + 1 AS _line FROM _src")
        info = reg.dataset("peserta")
        linked = link_by_key(reg.con, "_leak", {c: c for c in table.column_names}, info, ledger,
                             index_key=keys.canary_index_key(world.ws.master_secret()))
        scorer = Scorer(reg.con, registry=reg, dataset=info, linked=linked, master=world.ws.master_secret())
        try:
            checked = 0
            for col in scorer.leak_columns:
                for ch in channels().values():
                    if not (ch.robust and info.roles.get(col) in ch.roles):
                        continue
                    residue, markable = ch.residue_sql(f'"{col}"'), ch.markable_sql(f'"{col}"', Policy())
                    rows = reg.con.execute(
                        f"SELECT ({residue}), count(*) FROM ({reg.as_of_sql('peserta')}) "
                        f"WHERE coalesce(({markable}), 0) >= 2 AND ({residue}) IS NOT NULL GROUP BY 1").fetchall()
                    prior = scorer._prior(ch, col)
                    assert dict(rows) == {r: n for r, n in enumerate(prior.counts) if n}
                    checked += 1
            assert checked >= 3  # timestamps and amounts of the synthetic registry
        finally:
            scorer.close()


def test_rows_in_common_counted_by_version_equal_the_snapshot_join(
    investigation_ws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sampled leak's named release gets its exact rows in common. Rows whose chosen version was
    valid on the release's date are counted without a lookup; the rest (outdated rows, people who
    changed or joined since) are looked up in the snapshot. Both give the join's count."""
    import duckdb
    import pyarrow.csv as pacsv

    import jejak.attribution as attribution
    from jejak.investigate import investigate
    from jejak.release import ReleaseRequest, create_release

    with Ledger.open(investigation_ws.ledger_url) as ledger:
        ledger.add_recipient("PT Vendor", "vendor")
    with Registry(investigation_ws.registry_path, read_only=True) as reg:
        snaps = reg.dataset("peserta").snapshots
    out = tmp_path / "r.csv"
    create_release(investigation_ws, ReleaseRequest("peserta", "PT Vendor", out, as_of=snaps[1]))
    con = duckdb.connect()
    with Registry(investigation_ws.registry_path, read_only=True) as reg:
        for i, d in enumerate(snaps):
            con.register(f"s{i}", reg.con.sql(reg.as_of_sql("peserta", d)).to_arrow_table())
    cols = ", ".join(f'"{c}"' for c in con.execute("SELECT * FROM s0 LIMIT 0").fetchnumpy() if c != "_key")
    con.execute(f"CREATE TABLE r AS SELECT * FROM read_csv('{out}', all_varchar=true)")
    con.execute(
        f"""CREATE TABLE leak AS
            SELECT {cols} FROM (SELECT * FROM r ORDER BY hash(NOKA) LIMIT 400)                    -- valid then
            UNION ALL SELECT {cols} FROM (SELECT * FROM r ORDER BY hash(NOKA) LIMIT 30)           -- repeats
            UNION ALL SELECT {cols} FROM (SELECT * FROM s2 WHERE _key NOT IN (SELECT _key FROM s1)
                                          ORDER BY _key LIMIT 40)                                  -- joined since
            UNION ALL SELECT {cols} FROM (SELECT * FROM s0 WHERE _key NOT IN (SELECT _key FROM s1)
                                          ORDER BY _key LIMIT 40)                                  -- gone by then
            UNION ALL SELECT {cols} FROM (SELECT s0.* FROM s0 JOIN s1 USING (_key)
                                          WHERE s0.NAMA <> s1.NAMA OR s0.ALAMAT <> s1.ALAMAT
                                                OR s0.NOHP <> s1.NOHP ORDER BY _key LIMIT 40)   -- changed"""
    )
    assert con.execute("SELECT count(*) FROM leak").fetchall()[0][0] > 500  # every kind of row is there
    path = tmp_path / "leak.csv"
    pacsv.write_csv(con.sql("SELECT * FROM leak ORDER BY hash(NOKA, NAMA)").to_arrow_table(), path)
    monkeypatch.setattr(attribution, "attribute", partial(attribution.attribute, sample_rows=100))

    def in_common() -> list[int]:
        v = investigate(investigation_ws, path).to_json()["attribution"]
        return [r["rows_in_common"] for r in v["releases"] if r["suspect"]]

    by_version = in_common()
    joined = attribution.Scorer._in_common
    monkeypatch.setattr(attribution.Scorer, "_in_common", lambda self, s: joined(self, s, by_version=False))
    assert by_version == in_common() and 400 < by_version[0] < 400 + 40 + 40 + 40
