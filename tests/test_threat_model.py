"""One test per line of the threat model (docs/attribution.md, "Threat model").

The leaker knows the algorithm and the code, not the master secret. Each test plays one thing he
may do and checks that the verdict stays right: the leaker named, or at worst candidates listed —
never an innocent named and never the data holder accused (``unreleased``) by a leak that came
from a release. Leaks are made by ``jejak.attack`` from the release files themselves.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from jejak import attack, keys
from jejak.channel.base import MarkPlan, Policy
from jejak.ledger import Ledger
from worlds import World, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("threat"))


# -- column names never decide evidence --------------------------------------------------------------


def test_an_export_with_lower_cased_headers_is_attributed_through_the_whole_investigation(
        world: World, tmp_path: Path) -> None:
    # A PostgreSQL export writes nik, tsupdate, gaji: the same names as the registry's but for case.
    leak = world.attacked(["B"], ["lower-headers", "shuffle"], 400, seed=11)
    assert "tsupdate" in leak.table.column_names
    att = world.investigate(leak.table, tmp_path / "export.csv")["attribution"]
    assert att["verdict"] == "release" and world.names(att["suspects"]) == {"B"}
    top = att["releases"][0]
    assert top["channels"]["ts_jitter"]["read"] > 0 and top["channels"]["amount_digits"]["read"] > 0
    assert top["channels"]["email_case"]["read"] > 0  # the e-mail channel is read under an 'email' header


def test_an_unmarked_registry_dump_with_lower_cased_headers_is_unreleased_and_dated(
        world: World, tmp_path: Path) -> None:
    table = world.registry_copy()
    table = table.rename_columns([c.lower() for c in table.column_names])
    verdict = world.investigate(table, tmp_path / "dump.csv")
    att = verdict["attribution"]
    assert att["verdict"] == "unreleased", att["explanation"]
    assert att["unmarked"]["log10_bound"] <= -6 and att["unmarked"]["exact"] == att["unmarked"]["trials"] > 100
    # Dated: after the changes it shows, and (one snapshot only) up to now.
    assert verdict["snapshot"]["from"] is not None


# -- re-formatting, renaming, converting, sampling, duplicating, padding ----------------------------------


@pytest.mark.parametrize(("attacks", "fmt"), [
    (["normalise", "rename", "reorder", "shuffle"], "parquet"),
    (["reformat", "drop-columns", "pad"], "jsonl"),
    (["normalise", "pad", "lower-headers"], "xlsx"),
])
def test_a_re_formatted_renamed_converted_and_padded_extract_names_its_release(
        world: World, tmp_path: Path, attacks: list[str], fmt: str) -> None:
    leak = world.attacked(["A"], attacks, 300, seed=12)
    att = world.investigate(leak.table, tmp_path / f"leak.{fmt}", fmt)["attribution"]
    assert att["verdict"] == "release" and world.names(att["suspects"]) == {"A"}


def test_duplicated_rows_count_once_and_still_name_the_release(world: World) -> None:
    leak = world.attacked(["A"], ["shuffle"], 150, seed=13)
    twice = pa.concat_tables([leak.table, leak.table])
    result = world.leak(twice)
    assert world.names(result.suspects) == {"A"}
    assert result.sample["scored_rows"] == result.sample["matched_people"] <= 150 < result.sample["matched_rows"]


# -- noise on the values: the soft decoder ---------------------------------------------------------------


def _never_blames_the_registry_or_an_innocent(world: World, attacks: list[str], truth: set[str],
                                              seeds: range, rows: int = 400) -> list[str]:
    verdicts = []
    for seed in seeds:
        leak = world.attacked(sorted(truth), attacks, rows, seed=seed)
        result = world.leak(leak.table, leak.origin)
        assert result.verdict != "unreleased", (attacks, seed, result.explanation)
        assert world.names(result.suspects) <= truth, (attacks, seed)
        if result.verdict == "altered":
            assert truth <= world.names([c["release_id"] for c in result.candidates])
        verdicts.append(result.verdict)
    return verdicts


def test_seconds_and_rupiah_of_noise_on_a_normalised_extract_still_name_the_leaker(world: World) -> None:
    # The failure this replaces: exact matching read 0 agreements and the data centre was blamed.
    verdicts = _never_blames_the_registry_or_an_innocent(
        world, ["normalise", "rejitter-3", "amounts-jitter"], {"B"}, range(5))
    assert verdicts == ["release"] * 5
    leak = world.attacked(["B"], ["normalise", "rejitter-3", "amounts-jitter"], 400, seed=1)
    top = world.leak(leak.table).releases[0]
    assert top.level == "near" and top.log10_bound is not None and top.log10_bound < -9


@pytest.mark.parametrize("attacks", [
    ["seconds-random", "amounts-random2"],
    ["round-minutes", "amounts-round"],
    ["truncate-minutes", "normalise"],
    ["rejitter-minutes"],
])
def test_randomised_or_rounded_carriers_move_the_evidence_to_a_coarser_level_never_to_the_registry(
        world: World, attacks: list[str]) -> None:
    verdicts = _never_blames_the_registry_or_an_innocent(world, attacks, {"A"}, range(4))
    assert verdicts.count("release") >= 3, verdicts
    leak = world.attacked(["A"], attacks, 400, seed=0)
    top = world.leak(leak.table).releases[0]
    assert top.release_id == world.releases["A"].release_id and top.log10_bound is not None
    assert top.log10_bound < -6


def test_round_registry_values_put_back_by_rounding_are_no_evidence_against_the_data_holder(world: World) -> None:
    # Most salaries are whole thousands: rounding a release's amounts restores them exactly. Only values
    # that are not round are trials of the restoration bound, so this leak cannot read as unreleased.
    leak = world.attacked(["A"], ["amounts-round", "round-minutes", "drop-columns"], 600, seed=5)
    table = leak.table.drop_columns([c for c in leak.table.column_names if c in ("TSINPUT", "TSUPDATE")])
    result = world.leak(table)
    assert result.verdict != "unreleased"
    assert result.unmarked["exact"] <= result.unmarked["trials"] // 2


# -- collusion beyond the marking assumption -------------------------------------------------------------


@pytest.mark.parametrize(("names", "attacks"), [
    (["A", "B"], ["merge-cells", "normalise"]),
    (["A", "B"], ["intersect", "normalise"]),  # rows common to both copies: no canary survives
    (["A", "B", "C"], ["intersect"]),
    (["A", "B", "C"], ["majority", "lower-headers"]),
    (["A", "B", "C"], ["merge-rows", "rejitter-3"]),
])
def test_colluders_merging_their_copies_are_each_named(world: World, names: list[str], attacks: list[str]) -> None:
    leak = world.attacked(names, attacks, 900, seed=21)
    result = world.leak(leak.table, leak.origin)
    assert world.names(result.suspects) == set(names), (attacks, result.explanation)
    assert all("canary" not in s.named_by for s in result.releases) or "intersect" not in attacks
    assert all(s.log10_bound is not None and s.log10_bound < -6 for s in result.releases if s.suspect)


# -- framing --------------------------------------------------------------------------------------------


def test_a_recipient_framing_another_with_his_re_marked_copy_names_no_one_innocent(world: World) -> None:
    # A cuts his copy to C's rows (the active participants), overwrites his own marks with fresh random
    # shifts and re-renders phones and e-mails: C's rows and columns now fit, C's marks do not.
    victim = world.registry_copy("KDSTATUSPST = 'AKTIF'").select(["NOKA"])
    for seed in range(4):
        rng = __import__("numpy").random.default_rng(seed)
        leak = attack.apply([attack.start(world.tables["A"], world.roles)], ["frame", "normalise"], 500, rng,
                            key="NOKA", victim_rows=victim)
        result = world.leak(leak.table, leak.origin)
        assert "C" not in world.names(result.suspects) and result.verdict != "unreleased"
        if result.verdict == "altered":
            assert {"A", "C"} <= world.names([c["release_id"] for c in result.candidates])


def test_an_insider_who_reads_the_ledger_cannot_make_a_leak_that_names_a_release(world: World) -> None:
    # Everything the ledger holds about release B (id, date, columns, filter, policy) and the registry
    # itself are not enough: marks need B's secret, derived from the master secret, which the ledger
    # never holds. His best guess of a key gives marks that agree with B only by chance.
    b = world.releases["B"]
    ledger_text = " ".join(str(v) for r in Ledger.open(world.ws.ledger_url).releases() for v in vars(r).values())
    assert world.ws.master_secret().hex() not in ledger_text
    guess = keys.release_secret(b.release_id.encode().ljust(32, b"\0"), b.release_id)
    table = world.registry_copy()
    plan = MarkPlan.of({c: r for c, r in world.roles.items() if c in table.column_names}, Policy.from_dict(b.policy))
    forged = _marked_with(table, plan, guess)
    result = world.leak(forged)
    assert "B" not in world.names(result.suspects) and result.verdict != "release"


def _marked_with(table: pa.Table, plan: MarkPlan, secret: bytes) -> pa.Table:
    """``table`` marked by ``plan`` under ``secret`` (the forger's guess), through the release code path."""
    import duckdb

    from jejak.channel.base import embed_release
    from jejak.validators import sql as vsql

    con = duckdb.connect()
    vsql.install(con)
    con.register("_t", table)
    con.execute(f"CREATE TABLE t AS SELECT *, row_number() OVER () - 1 AS _rid, "
                f"{keys.digest_sql('peserta', 'NOKA')} AS _digest FROM _t")
    embed_release(con, "t", roles={c: r for c, r in plan_roles(plan).items()}, release_secret=secret,
                  policy=plan.policy)
    cols = ", ".join(f'"{c}"' for c in table.column_names)
    return con.sql(f"SELECT {cols} FROM t ORDER BY _rid").to_arrow_table()


def plan_roles(plan: MarkPlan) -> dict[str, object]:
    return {col: next(iter(ch.roles)) for ch, col in plan.marks}


# -- registry feedback ---------------------------------------------------------------------------------


def test_a_released_file_fed_back_into_the_registry_is_refused_naming_the_release(tmp_path: Path) -> None:
    from datetime import date

    from jejak.errors import RegistryError
    from jejak.feedback import screen
    from jejak.registry import Registry
    from jejak.release import ReleaseRequest, create_release
    from jejak.synth import generate
    from jejak.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    first, second = generate(tmp_path / "d", participants=600, snapshots=2, seed=9, patients=False)
    with Registry(ws.registry_path) as reg:
        reg.import_snapshot(first.path, "peserta", "NOKA", first.as_of)
    with Ledger.open(ws.ledger_url) as ledger:
        ledger.add_recipient("PT Vendor", "vendor")
    rec = create_release(ws, ReleaseRequest("peserta", "PT Vendor", tmp_path / "vendor.csv", policy=Policy(
        channels=tuple(c for c in Policy().channels if c != "canary"))))
    with Registry(ws.registry_path) as reg:
        before = reg.dataset("peserta")
        with pytest.raises(RegistryError, match=rec.release_id) as err:
            reg.import_snapshot(tmp_path / "vendor.csv", "peserta", "NOKA", date(2025, 9, 1),
                                screen=screen(ws, reg, "peserta"))
        assert "must not be imported" in str(err.value)
        after = reg.dataset("peserta")
        assert (after.snapshots, after.versions) == (before.snapshots, before.versions)  # nothing changed
        # The source system's own next export goes in as usual.
        result = reg.import_snapshot(second.path, "peserta", "NOKA", second.as_of, screen=screen(ws, reg, "peserta"))
        assert result.changed > 0


# -- what a leaker can put back, and what he cannot ---------------------------------------------------


@pytest.fixture(scope="module")
def batch_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object, object]:
    """A registry where a nightly batch stamped one TSUPDATE on 300 rows, and 40 rows were entered and
    updated late in the evening (their joint timestamp group is left unmarked near midnight)."""
    import duckdb

    from jejak.registry import Registry
    from jejak.release import ReleaseRequest, create_release
    from jejak.synth import generate
    from jejak.workspace import Workspace

    base = tmp_path_factory.mktemp("batch")
    (snap,) = generate(base / "d", participants=800, snapshots=1, seed=13, patients=False)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{snap.path}', all_varchar=true)")
    con.execute("UPDATE t SET TSUPDATE = '2024-11-30 02:17:43' "
                "WHERE NOKA IN (SELECT NOKA FROM t ORDER BY NOKA LIMIT 300)")
    # 40 late rows, each its own instants: input 22:40-23:01, update 50 minutes later, within 30 of midnight.
    con.execute("""CREATE TABLE late AS SELECT NOKA, TIMESTAMP '2024-10-01 22:40:07' + to_seconds(31 * r) AS t
                   FROM (SELECT NOKA, row_number() OVER (ORDER BY NOKA DESC) AS r FROM t) WHERE r <= 40""")
    con.execute("""UPDATE t SET TSINPUT = strftime(late.t, '%Y-%m-%d %H:%M:%S'),
                   TSUPDATE = strftime(late.t + INTERVAL 50 MINUTE, '%Y-%m-%d %H:%M:%S') FROM late
                   WHERE t.NOKA = late.NOKA""")
    path = base / "peserta.csv"
    con.execute(f"COPY t TO '{path}' (HEADER)")
    ws = Workspace.init(base / "ws")
    with Registry(ws.registry_path) as reg:
        reg.import_snapshot(path, "peserta", "NOKA", snap.as_of)
    with Ledger.open(ws.ledger_url) as ledger:
        ledger.add_recipient("PT Vendor", "vendor")
    rec = create_release(ws, ReleaseRequest("peserta", "PT Vendor", base / "vendor.csv"))
    return ws, rec, attack.read_release(base / "vendor.csv")


def _attribute(ws: object, table: pa.Table) -> object:
    from jejak.attribution import attribute
    from jejak.linkbykey import link_by_key
    from jejak.registry import Registry

    with Registry(ws.registry_path, read_only=True) as reg:  # type: ignore[attr-defined]
        reg.con.register("_src", table)
        reg.con.execute("CREATE TEMP TABLE _leak AS SELECT *, row_number() OVER () + 1 AS _line FROM _src")
        info = reg.dataset("peserta")
        ledger = Ledger.open(ws.ledger_url)  # type: ignore[attr-defined]
        link_by_key(reg.con, "_leak", {c: c for c in table.column_names}, info, ledger,
                    index_key=keys.canary_index_key(ws.master_secret()))  # type: ignore[attr-defined]
        return attribute(reg.con, registry=reg, ledger=ledger, master=ws.master_secret(), dataset=info)  # type: ignore[attr-defined]


def test_a_timestamp_many_rows_share_is_put_back_by_intersecting_copies_and_is_no_trial(batch_world: tuple) -> None:
    # Three hundred rows of one copy show the batch's instant moved by 300 independent shifts: their
    # intersection pins it. The leaker writes it back; those cells are not evidence against us.
    ws, rec, table = batch_world
    import duckdb

    con = duckdb.connect()
    con.register("rel", table)
    leak = con.sql("""SELECT NOKA, NIK, NAMA, '2024-11-30 02:17:43' AS TSUPDATE FROM rel
                      WHERE TSUPDATE BETWEEN '2024-11-30 01:47:43' AND '2024-11-30 02:47:43'""").to_arrow_table()
    assert leak.num_rows >= 250
    result = _attribute(ws, leak)
    assert result.verdict != "unreleased", result.explanation  # type: ignore[attr-defined]
    assert result.unmarked["trials"] == 0  # type: ignore[attr-defined]


def test_a_joint_group_left_unmarked_near_midnight_is_no_trial(batch_world: tuple) -> None:
    ws, rec, table = batch_world
    import duckdb

    con = duckdb.connect()
    con.register("rel", table)
    leak = con.sql("SELECT NOKA, NIK, NAMA, TSINPUT, TSUPDATE FROM rel "
                   "WHERE TSINPUT BETWEEN '2024-10-01 22:40:00' AND '2024-10-01 23:02:00'").to_arrow_table()
    assert leak.num_rows >= 35  # shown exactly as the registry holds them: the release could not mark them
    result = _attribute(ws, leak)
    assert result.verdict != "unreleased", result.explanation  # type: ignore[attr-defined]


def test_our_people_inside_a_large_foreign_file_are_still_ours(world: World) -> None:
    from jejak.synth import generate_tables

    ours = world.registry_copy().slice(0, 120)
    foreign = generate_tables(participants=12_000, snapshots=1, seed=77, patients=False)[0].participants
    foreign = foreign.select(ours.column_names).cast(ours.schema)
    result = world.leak(pa.concat_tables([foreign, ours]))
    assert result.verdict == "unreleased", result.explanation  # not "not-ours": 120 of 12,120 rows are ours


@pytest.mark.parametrize(("column", "render"), [
    ("TSUPDATE", "strftime(strptime(TSUPDATE, '%Y-%m-%d %H:%M:%S'), '%d-%b-%y %I.%M.%S.000000 %p')"),  # Oracle
    ("TSUPDATE", "strftime(strptime(TSUPDATE, '%Y-%m-%d %H:%M:%S'), '%d/%m/%Y %H.%M.%S')"),  # dotted clock
    ("GAJI", "'Rp ' || replace(format('{:,}', GAJI::BIGINT), ',', '.') || ',00'"),  # zero decimals
])
def test_timestamps_and_amounts_in_common_foreign_renderings_are_read(world: World, column: str, render: str) -> None:
    import duckdb

    leak = world.attacked(["B"], ["shuffle"], 400, seed=31)
    con = duckdb.connect()
    con.register("l", leak.table)
    keep = ["NOKA", "NIK", "NAMA", column]
    table = con.sql(f"SELECT NOKA, NIK, NAMA, CASE WHEN {column} IS NULL THEN NULL ELSE {render} END AS {column} "
                    f"FROM l").to_arrow_table().select(keep)
    result = world.leak(table)
    assert world.names(result.suspects) == {"B"}, result.explanation


# -- canaries do not stand out --------------------------------------------------------------------------


def test_canaries_keep_the_key_order_and_satisfy_the_release_filter(world: World) -> None:
    # A release is written in key order; a canary spliced anywhere else is found by sorting. And a
    # branch office's extract must not hold canaries of other offices.
    import duckdb

    for tag in ("A", "C"):
        keys_ = world.tables[tag].column("NOKA").to_pylist()
        assert keys_ == sorted(keys_), tag  # no canary breaks the order
    c = world.releases["C"]  # KDSTATUSPST = 'AKTIF'
    canaries = int(c.canaries)
    assert canaries >= 3
    con = duckdb.connect()
    con.register("c", world.tables["C"])
    assert con.execute("SELECT count(*) FROM c WHERE KDSTATUSPST IS DISTINCT FROM 'AKTIF'").fetchall()[0][0] == 0
    assert world.tables["C"].num_rows == c.rows + canaries
