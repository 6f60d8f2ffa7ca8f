"""Probabilistic linkage finds the people behind leaked rows that lost every identifier."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from jejak import linkage
from jejak.linkage_eval import febrl4_case, score, synth_case
from jejak.registry import Registry
from jejak.validators.sql import install


@pytest.fixture
def ro(synth_registry: Path) -> Iterator[Registry]:
    reg = Registry(synth_registry, read_only=True)  # as the investigation opens it
    yield reg
    reg.close()


def test_a_synthetic_leak_without_identifiers_links_with_f1_above_095(ro: Registry) -> None:
    info = ro.dataset("peserta")
    registry_sql = synth_case(ro.con, info, leak_rows=900, fake_share=0.1, seed=3, typo_rate=0.1)
    out = linkage.link_probabilistic(ro.con, leak="synth_leak", dataset=info, registry_sql=registry_sql)
    q = score(ro.con, out, "synth_truth")
    assert q["f1"] > 0.95, q
    fakes_linked = ro.con.execute(
        f"SELECT count(*) FROM synth_truth t JOIN {out} o USING (_line) WHERE t._true_key IS NULL"
    ).fetchall()[0][0]
    assert fakes_linked <= 2  # 90 people we never had: at most a chance look-alike or two
    assert ro.con.execute(f"SELECT min(_match_p) >= 0.9, count(*) = count(DISTINCT _line) FROM {out}").fetchall() \
        == [(True, True)]
    # splink's work tables went to a scratch catalog, and the search path is as it was.
    assert ro.con.execute("SELECT current_setting('search_path')").fetchall()[0][0] == ""
    assert ro.con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = 'jj_splink'").fetchall() \
        == [(0,)]


def test_a_febrl4_subset_links_with_f1_above_095() -> None:
    con = duckdb.connect()
    info = febrl4_case(con, limit=500)
    out = linkage.link_probabilistic(
        con, leak="febrl_leak", dataset=info, registry_sql="SELECT * FROM febrl_registry"
    )
    q = score(con, out, "febrl_truth")
    assert q["genuine"] > 400 and q["f1"] > 0.95, q


def test_a_leak_with_neither_name_nor_date_links_nothing(ro: Registry) -> None:
    info = ro.dataset("peserta")
    ro.con.execute("CREATE TEMP TABLE only_codes AS SELECT 1::BIGINT AS _line, 'ISLAM' AS AGAMA")
    out = linkage.link_probabilistic(ro.con, leak="only_codes", dataset=info, registry_sql="SELECT * FROM rows_peserta")
    assert ro.con.execute(f"SELECT count(*) FROM {out}").fetchall() == [(0,)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1996-04-17", date(1996, 4, 17)),
        ("17/04/1996", date(1996, 4, 17)),
        ("17-04-1996", date(1996, 4, 17)),
        ("7.4.1996", date(1996, 4, 7)),
        ("19960417", date(1996, 4, 17)),
        (" 1996-04-17 10:11:12", date(1996, 4, 17)),
        ("31/02/1996", None),
        ("kemarin", None),
        (None, None),
    ],
)
def test_leaked_dates_are_read_in_the_formats_they_arrive_in(text: str | None, expected: date | None) -> None:
    assert _one(linkage.date_sql("v"), text) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Jl. Mawar No. 18C, RT 003/RW 008, Kel. Dawung", "JALAN MAWAR NO 18C RT 3 RW 8 KELURAHAN DAWUNG"),
        ("JLN. IMAM BONJOL NO.5, RT/RW 004/004, KAB. GARUT", "jalan imam bonjol no 5 rt.04 rw.04 kabupaten garut"),
    ],
)
def test_equivalent_addresses_normalise_to_one_spelling(a: str, b: str) -> None:
    sql = linkage.address_sql("v")
    assert _one(sql, a) == _one(sql, b) is not None


def _one(sql: str, value: str | None) -> object:
    """Evaluate an SQL expression over ``v`` for one value."""
    con = duckdb.connect()
    install(con)
    return con.execute(f"SELECT {sql} FROM (SELECT ?::VARCHAR AS v)", [value]).fetchall()[0][0]


def test_blocking_rules_wider_than_the_pair_budget_are_tightened_or_dropped(ro: Registry) -> None:
    info = ro.dataset("peserta")
    registry_sql = synth_case(ro.con, info, leak_rows=400, fake_share=0.0, seed=9)
    install(ro.con)
    cols = {r[0] for r in ro.con.execute("DESCRIBE synth_leak").fetchall()}
    plan = linkage.plan_features(ro.con, leak="synth_leak", leak_columns=cols, dataset=info,
                                 registry_sql=registry_sql)
    linkage._build_features(ro.con, plan, leak="synth_leak", registry_sql=registry_sql)
    rules = linkage._prediction_rules(plan)
    wide = {r: linkage._pairs(ro.con, r, "_jj_lk_leak") for r in rules}
    budget = sorted(wide.values())[len(wide) // 2]  # half the rules are too wide
    kept, total = linkage._tighten(ro.con, plan, rules, budget=budget)
    assert kept and all(linkage._pairs(ro.con, r, "_jj_lk_leak") <= budget for r in kept)
    assert total == sum(linkage._pairs(ro.con, r, "_jj_lk_leak") for r in kept)
    assert any(r not in rules for r in kept)  # some rule was narrowed by an extra equality
    assert all(any(k.startswith(r) for k in kept) for r, n in wide.items() if n <= budget)
