"""Canaries as tags: Python and SQL agree, a leak is read with the tags, and the bound holds."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jejak import keys
from jejak.channel import canary
from jejak.channel.canary import (
    Maxima,
    compute_maxima,
    find,
    generator_maxima,
    log10_bound,
    normalise,
    normalise_sql,
    tag,
    tag_row,
    tag_sql,
)
from jejak.roles import Role

KEY = bytes(range(32))
FIELDS = ("key", "nik", "noka", "name", "phone", "email", "birth_date")


_CON = duckdb.connect()


def in_sql(fields: Sequence[str], values: Sequence[str | None]) -> dict[str, tuple[list[Any], list[Any]]]:
    """normalise_sql and tag_sql of ``values`` (a parameter, in order) for each field, in one query."""
    with canary.index_variable(_CON, KEY) as k:
        sel = ", ".join(f"{normalise_sql(f, 'x')}, {tag_sql(k, f, 'x')}" for f in fields)
        got = _CON.execute(f"SELECT {sel} FROM (SELECT unnest($v) AS x, generate_subscripts($v, 1) AS i) ORDER BY i",
                           {"v": list(values)}).fetchall()
    return {f: ([r[2 * j] for r in got], [r[2 * j + 1] for r in got]) for j, f in enumerate(fields)}


# -- tags -----------------------------------------------------------------------------------------------


def test_a_tag_is_the_nested_keyed_hash_of_the_normalised_value() -> None:
    k = KEY.hex()
    inner = hashlib.sha256(f"{k}:nik:3201010101900001".encode()).hexdigest()
    assert tag(KEY, "nik", " 3201-0101-0190-0001 ") == hashlib.sha256(f"{k}:{inner}".encode()).hexdigest()
    assert tag(KEY, "nik", "") is None and tag(KEY, "phone", "12") is None and tag(KEY, "email", None) is None
    assert tag(KEY, "key", "0001234567890") != tag(KEY, "noka", "0001234567890")  # the field is hashed too
    assert tag(bytes(32), "nik", "3201010101900001") != tag(KEY, "nik", "3201010101900001")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=25))
def test_python_and_duckdb_agree_on_any_text(values: list[str | None]) -> None:
    for field, (norm, tags) in in_sql(FIELDS, values).items():
        assert norm == [normalise(field, v) for v in values], field
        assert tags == [tag(KEY, field, v) for v in values], field


_DIGITS = st.text("0123456789", min_size=1, max_size=18)
_MESSY = st.text("0123456789 -.'\t\xa0", min_size=1, max_size=22)
_PHONES = st.builds(lambda pre, rest, style: style.format(pre=pre, rest=rest),
                    st.sampled_from(["811", "812", "857", "895", "700", "81"]), st.text("0123456789", max_size=11),
                    st.sampled_from(["0{pre}{rest}", "62{pre}{rest}", "+62 {pre}-{rest}", "(+62) {pre}{rest}",
                                     "0{pre} {rest}", "+62{pre}{rest}"]))
_EMAILS = st.builds(lambda a, b, c, pad: f"{pad}{a}@{b}.{c}{pad}", st.text("abcXYZ09._-'", min_size=0, max_size=8),
                    st.text("abcQ-9", min_size=0, max_size=6), st.text("comCOMid", min_size=0, max_size=4),
                    st.sampled_from(["", " ", "\t", "\xa0"]))
_DATES = st.builds(lambda y, m, d, fmt: fmt.format(y=y, m=m, d=d), st.integers(0, 9999).map(lambda y: f"{y:04d}"),
                   st.integers(0, 13).map(lambda m: f"{m:02d}"), st.integers(0, 32).map(lambda d: f"{d:02d}"),
                   st.sampled_from(["{y}-{m}-{d}", "{d}/{m}/{y}", "{d}-{m}-{y}", " {y}-{m}-{d} ", "{d}/{m}-{y}",
                                    "{y}/{m}/{d}", "{d}{m}{y}"]))
_NAMES = st.text("abcSITIaminah .\t\n\xa0'-", max_size=30)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_DIGITS | _MESSY, min_size=1, max_size=10), st.lists(_PHONES, min_size=1, max_size=10),
       st.lists(_EMAILS, min_size=1, max_size=10), st.lists(_DATES, min_size=1, max_size=10),
       st.lists(_NAMES, min_size=1, max_size=10))
def test_python_and_duckdb_agree_on_values_shaped_like_the_fields(
    codes: list[str], phones: list[str], emails: list[str], dates: list[str], names: list[str]
) -> None:
    values = codes + phones + emails + dates + names  # every field over every shape, in one query
    for field, (norm, tags) in in_sql(FIELDS, values).items():
        assert norm == [normalise(field, v) for v in values], field
        assert tags == [tag(KEY, field, v) for v in values], field


def test_the_phone_form_is_jj_phone_norm() -> None:
    from jejak.synth.people import PHONE_STYLE_P, new_phones, render_phone
    from jejak.validators import sql

    rng = np.random.default_rng(1)
    nsn = new_phones(rng, 2000)
    shown = render_phone(nsn, rng.integers(0, len(PHONE_STYLE_P), 2000)).to_pylist() + ["0812", "x", "", "62 21 555"]
    con = duckdb.connect()
    sql.install(con, nik_macros=False)
    con.execute("CREATE TEMP TABLE p AS SELECT unnest($v) AS x, generate_subscripts($v, 1) AS i", {"v": shown})
    ours, theirs = zip(*con.execute(f"SELECT {normalise_sql('phone', 'x')}, jj_phone_norm(x) FROM p ORDER BY i")
                       .fetchall(), strict=True)
    assert ours == theirs
    assert list(ours[:2000]) == [f"+62{n}" for n in nsn.tolist()]  # every generated phone has one form


def test_a_value_written_another_way_keeps_its_tag() -> None:
    same = {
        "nik": ["3201010101900001", " 3201 0101 0190 0001", "'3201010101900001", "3201-0101-0190-0001\xa0"],
        "name": ["SITI AMINAH", "siti  aminah", " Siti\tAminah ", "Siti\xa0Aminah"],
        "phone": ["081234567890", "6281234567890", "+62 812-3456-7890", "(+62) 81234567890", "0812 3456 7890"],
        "email": ["siti.aminah@gmail.com", " Siti.Aminah@GMAIL.com", "SITI.AMINAH@GMAIL.COM\t"],
        "birth_date": ["1990-01-02", "02/01/1990", "02-01-1990", " 1990-01-02 "],
    }
    for field, values in same.items():
        assert len({tag(KEY, field, v) for v in values}) == 1, field
    assert tag(KEY, "birth_date", "1990-02-30") is None and tag(KEY, "birth_date", "02/01-1990") is None
    assert tag(KEY, "nik", "0012345678901234") != tag(KEY, "nik", "12345678901234")  # leading zeros count


def test_the_index_key_is_derived_from_the_master_secret_and_stays_out_of_errors() -> None:
    master = bytes(range(100, 132))
    index = keys.canary_index_key(master)
    assert len(index) == 32 and index != keys.release_secret(master, "jejak/canary-index/v1")
    assert index == keys.canary_index_key(master) != keys.canary_index_key(bytes(32))
    con = duckdb.connect()
    con.execute("CREATE TABLE leak AS SELECT 1::BIGINT AS _line, NULL::VARCHAR AS _class, '1' AS NOKA")
    rows = [{"release_id": "R1", "family": 0, **tag_row({"canary_key": "0001234567890"}, index)}]
    with pytest.raises(duckdb.Error) as err:  # a column that is not there: DuckDB quotes the query
        find(con, canaries=rows, relation="leak", columns={Role.CARD: ["NOHP"]}, index_key=index, key="NOHP")
    assert index.hex() not in str(err.value)
    assert con.execute("SELECT getvariable('jj_canary_index')").fetchall() == [(None,)]  # not left behind


# -- reading a leak ------------------------------------------------------------------------------------

COLUMNS = {Role.CARD: ["NOKA"], Role.NIK: ["NIK"], Role.NAME: ["NAMA"], Role.PHONE: ["NOHP"],
           Role.EMAIL: ["EMAIL"], Role.DATE: ["TGLLHR"]}


@pytest.fixture(scope="module")
def people() -> pa.Table:
    from jejak.synth import make_people

    return make_people(12, np.random.default_rng(7), families=True)


def ledger_rows(people: pa.Table, release_id: str, key: bytes = KEY) -> list[dict[str, Any]]:
    """``people`` as the ledger keeps canaries: tags only."""
    out = []
    for p in people.to_pylist():
        plain = {"canary_key": p["NOKA"], "noka": p["NOKA"], "nik": p["NIK"], "name": p["NAMA"], "phone": p["NOHP"],
                 "email": p["EMAIL"], "birth_date": p["TGLLHR"], "family": p["_family"]}
        out.append({"release_id": release_id, "dataset": "peserta", **tag_row(plain, key)})
    return out


def leak_table(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], name: str = "leak") -> str:
    cols = ["NOKA", "NIK", "NAMA", "NOHP", "EMAIL", "TGLLHR"]
    data = {c: pa.array([r.get(c) for r in rows], pa.string()) for c in cols}
    con.register("_src", pa.table({"_line": pa.array(range(1, len(rows) + 1), pa.int64()),
                                   "_class": pa.array([r.get("_class") for r in rows], pa.string()), **data}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _src")
    con.unregister("_src")
    return name


def test_canaries_are_found_however_the_leak_rewrites_them(people: pa.Table) -> None:
    rows = ledger_rows(people, "R-A")
    leaked = []
    for p in people.to_pylist():
        d = date.fromisoformat(p["TGLLHR"])
        leaked.append({"NOKA": f"'{p['NOKA']}", "NIK": " ".join([p["NIK"][:6], p["NIK"][6:12], p["NIK"][12:]]),
                       "NAMA": p["NAMA"].lower(), "NOHP": p["NOHP"] and "+" + normalise("phone", p["NOHP"])[1:],
                       "EMAIL": p["EMAIL"] and p["EMAIL"].upper(), "TGLLHR": d.strftime("%d/%m/%Y")})
    con = duckdb.connect()
    found = find(con, canaries=rows, relation=leak_table(con, leaked), columns=COLUMNS, index_key=KEY, key="NOKA")
    ev = found["R-A"]
    assert (ev.canaries, ev.planted, ev.rows, ev.tested) == (12, 12, 12, 1)
    assert ev.families == len(set(people.column("_family").to_pylist()))
    for h in ev.hits:
        assert {"noka", "nik", "name", "birth_date"} <= set(h.fields)  # the key is the card number here
        assert h.counted[0] == "name" and "identifiers" in h.counted
        assert len(h.canary) == 64
    assert ev.log10_p < -12
    assert sorted(h.line for h in ev.hits) == list(range(1, 13))


def test_a_hit_needs_an_independent_field_beside_the_identifier(people: pa.Table) -> None:
    rows = ledger_rows(people, "R-A")
    p = people.to_pylist()[0]
    leaked = [
        {"NOKA": p["NOKA"], "NAMA": "SOMEONE ELSE", "TGLLHR": p["TGLLHR"]},  # card and birth date only
        {"NIK": p["NIK"], "TGLLHR": p["TGLLHR"]},  # the NIK encodes the birth date: no second field
        {"NOKA": p["NOKA"], "NIK": p["NIK"], "_class": "current"},  # linked to a registry person: not examined
        {"NAMA": p["NAMA"], "NOHP": p["NOHP"], "EMAIL": p["EMAIL"]},  # nothing locates the row
    ]
    con = duckdb.connect()
    assert find(con, canaries=rows, relation=leak_table(con, leaked), columns=COLUMNS, index_key=KEY, key="NOKA") == {}
    assert canary.hits(con, canaries=rows, relation="leak", columns=COLUMNS, index_key=KEY, key="NOKA") == 2
    two_ids = [{"NOKA": p["NOKA"], "NIK": p["NIK"]}]
    found = find(con, canaries=rows, relation=leak_table(con, two_ids), columns=COLUMNS, index_key=KEY, key="NOKA")
    assert found["R-A"].hits[0].counted == ("identifiers",)


def test_the_bound_is_recomputed_from_what_find_reports(people: pa.Table) -> None:
    rows = ledger_rows(people, "R-A") + ledger_rows(people.slice(0, 3), "R-B", key=bytes(32))
    p = people.to_pylist()
    leaked = [{"NOKA": p[0]["NOKA"], "NAMA": p[0]["NAMA"]}, {"NIK": p[1]["NIK"], "NOHP": "081299990000"},
              {"NOKA": "0009999999999", "NAMA": "X"}]  # row 3 is examined but hits nothing
    con = duckdb.connect()
    m = generator_maxima()
    found = find(con, canaries=rows, relation=leak_table(con, leaked), columns=COLUMNS, index_key=KEY, key="NOKA")
    ev = found["R-A"]
    assert (ev.canaries, ev.rows, ev.planted, ev.tested, ev.levels) == (1, 3, 12, 2, 11)
    hit = ev.hits[0]
    assert hit.counted == ("name",) and hit.log10_beta == pytest.approx(math.log10(m.name))
    everything = [math.log10(x) for x in (m.name, m.email)]
    sets = canary.levels({"name": everything[0], "email": everything[1], "phone": math.log10(m.phone),
                          "identifiers": math.log10(m.nik)})
    assert ev.log10_p == log10_bound(planted=12, rows=3, hits=[(0, hit.log10_beta)], levels=sets)
    # one canary, name only: C(12, 1) * 3 rows * (the name and every stronger set) * 11 levels > 1
    assert ev.log10_p == 0.0 and ev.log10_bound == 0.0


# -- the bound ---------------------------------------------------------------------------------------------


def test_the_generator_maxima_come_from_its_pools_and_shares() -> None:
    from jejak.synth import names as nm
    from jejak.synth import people as pp
    from jejak.synth.regions import geography

    m = generator_maxima()
    P = nm.pools()
    assert m.name == pytest.approx(max(P.female_p.max(), P.male_p.max()), rel=1e-5)
    assert m.phone == pytest.approx(max(pp.MOBILE_SHARES.values()) / sum(pp.MOBILE_SHARES.values()) * 0.15e-7, rel=1e-5)
    assert m.nik == pytest.approx(geography().weight.max(), rel=1e-5)
    # The Balinese pools are tiny: an e-mail built from one of their given names proves little.
    bali = 1 / len(nm.BALI_MALE)
    assert m.email >= 0.72 / 0.99 * 0.72 * bali
    assert (m.name, m.email, m.phone, m.nik) == pytest.approx((0.010563, 0.058192, 1.9266e-9, 9.129e-4), rel=1e-4)


def _tiny_pools() -> Any:
    from jejak.synth import names as nm

    real = nm.pools()
    return dataclasses.replace(real, male=real.male[:3], male_p=np.array([0.55, 0.30, 0.15]),
                               female=real.female[:2], female_p=np.array([0.5, 0.5]),
                               bali_given=(real.bali_given[0][:2], real.bali_given[1][:3]))


def test_the_name_maximum_holds_against_the_generator_with_a_tiny_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    # The bound is the chance of the likeliest name given everything else about the person. A
    # guesser who knows all of it but the draw, and guesses the likeliest given name, attains it.
    from jejak.synth import names as nm

    tiny = _tiny_pools()
    monkeypatch.setattr(nm, "pools", lambda: tiny)
    bound = compute_maxima(pools=tiny, district_weight=np.array([1.0])).name
    assert bound == pytest.approx(0.55)
    rng = np.random.default_rng(3)
    n = 30_000
    sex = rng.integers(0, 2, n)
    province = rng.choice(np.array([12, 31, 51, 71]), n)
    tok = nm.make_names(sex, province, rng.random(n) < 0.4, rng)
    bali = np.isin(tok[:, nm.PREFIX], np.r_[tiny.bali_order[0], tiny.bali_order[1]])
    guess = tok.copy()
    guess[:, nm.GIVEN] = np.where(sex == 0, tiny.male[0], tiny.female[0])
    guess[bali, nm.GIVEN] = np.where(sex[bali] == 0, tiny.bali_given[0][0], tiny.bali_given[1][0])
    guess[bali, nm.PREFIX] = np.where(sex[bali] == 0, tiny.bali_order[0][0], tiny.bali_order[1][0])
    none = np.full(n, -1)
    shown = [normalise("name", v) for v in nm.render_names(tok, none, none, np.ones(n, np.int8))[0].to_pylist()]
    guessed = [normalise("name", v) for v in nm.render_names(guess, none, none, np.ones(n, np.int8))[0].to_pylist()]
    hit = np.array([a == b for a, b in zip(shown, guessed, strict=True)])
    for ctx in (~bali & (sex == 0), ~bali & (sex == 1), bali):
        rate, k = hit[ctx].mean(), ctx.sum()
        assert rate <= bound + 4 * math.sqrt(bound * (1 - bound) / k)
    assert hit[~bali & (sex == 0)].mean() > 0.5  # the bound is attained: a wrong maximum would fail here


def _simulate(trials: int, *, canaries: int, rows_each: int, pool: int, shared_phone: bool,
              families: bool, seed: int) -> list[float]:
    """log10_p for innocent leaks, one per trial: each trial a release whose canaries the leak
    locates by card number (the worst case: the identifier is given probability 1) and whose other
    field the leak draws at random from the pool the canaries were drawn from.

    All trials' rows go through one ``hits`` query; each trial is then summarised by ``evidence``
    (what ``find`` does) with its own rows examined.
    """
    rng = np.random.default_rng(seed)
    m = Maxima(name=1 / pool, email=1.0, phone=1 / pool, nik=1.0)
    field, col, role = ("phone", "NOHP", Role.PHONE) if shared_phone else ("name", "NAMA", Role.NAME)
    values = [f"08120000{i:04d}" for i in range(pool)] if shared_phone else [f"NAMA {i}" for i in range(pool)]
    ledger: list[dict[str, Any]] = []
    cards: list[str] = []
    shown: list[str] = []
    for t in range(trials):
        own = rng.integers(0, pool, canaries)
        drawn = rng.integers(0, pool, canaries * rows_each)
        if shared_phone:  # one family carrying the head's phone; a leak repeating one random phone
            own[:] = own[0]
            drawn[:] = drawn[0]
        for j in range(canaries):
            card = f"{t:06d}{j:07d}"
            ledger.append({"release_id": f"R{t}", "family": 0 if shared_phone and families else j,
                           **tag_row({"canary_key": card, "noka": card, field: values[own[j]]}, KEY)})
        cards += [f"{t:06d}{j // rows_each:07d}" for j in range(canaries * rows_each)]
        shown += [values[d] for d in drawn]
    con = duckdb.connect()
    con.register("leak", pa.table({"_line": pa.array(range(1, len(cards) + 1), pa.int64()),
                                   "_class": pa.nulls(len(cards), pa.string()), "NOKA": cards, col: shown}))
    columns = {Role.CARD: ["NOKA"], role: [col]}
    canary.hits(con, canaries=ledger, relation="leak", columns=columns, index_key=KEY, key="NOKA", table="sim")
    by_trial: dict[int, list[tuple[int, int, int]]] = {}
    for i, mask, line in con.execute("SELECT _i, _fields, min(_line) FROM sim GROUP BY _i, _fields").fetchall():
        by_trial.setdefault(i // canaries, []).append((i % canaries, mask, line))  # index within the trial
    out = []
    for t in range(trials):
        ev = canary.evidence(by_trial.get(t, []), canaries=ledger[t * canaries:(t + 1) * canaries],
                             rows=canaries * rows_each, columns=columns, key="NOKA", maxima=m)
        out.append(ev[f"R{t}"].log10_p if ev else 0.0)
    return out


def _calibrated(log10_p: list[float]) -> list[tuple[float, float, float]]:
    """(alpha, P[p <= alpha], allowed) at every attained p-value: allowed is alpha plus 4 standard errors."""
    p = 10.0 ** np.asarray(log10_p)
    n = len(p)
    out = []
    for a in sorted(set(np.round(p, 12).tolist())):
        if a < 1:
            out.append((a, float(np.mean(p <= a * (1 + 1e-9))), a + 4 * math.sqrt(a * (1 - a) / n) + 1 / n))
    return out


def test_the_bound_holds_against_simulation_when_only_names_from_a_tiny_pool_agree() -> None:
    # One canary, five leaked rows carrying its card number and names drawn from a pool of 20:
    # P[hit] = 1 - (19/20)^5 = 0.226 against a bound of 5 * 1/20 = 0.25. Forgetting the rows (0.05)
    # or the number of canaries would be caught.
    one = _simulate(4000, canaries=1, rows_each=5, pool=20, shared_phone=False, families=True, seed=1)
    assert 0.15 < np.mean(np.asarray(one) < 0) < 0.3
    for alpha, seen, allowed in _calibrated(one):
        assert seen <= allowed, (alpha, seen)
    three = _simulate(4000, canaries=3, rows_each=2, pool=20, shared_phone=False, families=True, seed=2)
    assert min(three) < math.log10(0.3)  # two canaries hit: the bound falls with k
    for alpha, seen, allowed in _calibrated(three):
        assert seen <= allowed, (alpha, seen)


def test_hits_are_counted_by_family_because_family_members_share_a_phone() -> None:
    # Two canaries of one family carry the head's phone; a leak repeating one random phone hits
    # both at once with probability 1/20. Counted as one family the bound is 2 * 2 rows / 20 = 0.2;
    # counted as two independent canaries it would claim 0.01 — and be wrong five times out of a hundred.
    right = _simulate(4000, canaries=2, rows_each=1, pool=20, shared_phone=True, families=True, seed=3)
    for alpha, seen, allowed in _calibrated(right):
        assert seen <= allowed, (alpha, seen)
    wrong = _simulate(4000, canaries=2, rows_each=1, pool=20, shared_phone=True, families=False, seed=3)
    assert any(seen > allowed for _, seen, allowed in _calibrated(wrong))


def test_the_bound_is_exact_where_it_is_tight() -> None:
    # P[at least k of K independent canaries hit] <= C(K, k) (N w)^k, in closed form.
    for K, rows, p in ((1, 5, 0.01), (3, 6, 0.01), (10, 50, 1e-4), (4, 1, 0.2)):
        q = 1 - (1 - p) ** rows  # a canary is hit by one of N rows
        for k in range(1, K + 1):
            truth = sum(math.comb(K, j) * q**j * (1 - q) ** (K - j) for j in range(k, K + 1))
            got = 10 ** log10_bound(planted=K, rows=rows, hits=[(j, math.log10(p)) for j in range(k)],
                                    levels=[math.log10(p)])
            assert truth <= got * (1 + 1e-9)


# -- an insider -----------------------------------------------------------------------------------------


def test_an_insider_who_reads_the_whole_ledger_has_nothing_to_copy(investigation_ws: Any, tmp_path: Path) -> None:
    import csv

    import sqlalchemy as sa

    from jejak.ledger import Ledger
    from jejak.registry import Registry
    from jejak.release import ReleaseRequest, create_release
    from jejak.synth import make_people

    with Ledger.open(investigation_ws.ledger_url) as ledger:
        ledger.add_recipient("PT Vendor", "vendor")
    rec = create_release(investigation_ws, ReleaseRequest("peserta", "PT Vendor", tmp_path / "r.csv"))
    index = keys.canary_index_key(investigation_ws.master_secret())
    with Ledger.open(investigation_ws.ledger_url) as ledger, ledger.engine.connect() as conn:
        rows = ledger.canaries("peserta")
        seen = sorted({str(v) for t in sa.inspect(conn).get_table_names()
                       for r in conn.execute(sa.text(f'SELECT * FROM "{t}"')) for v in r if v is not None})
    assert len(rows) == rec.canaries >= 3
    # Every value the ledger holds, in every column, alone and beside every other; and people drawn
    # from the generator itself, as a forger would draw them.
    leaked = [{c: v for c in ("NOKA", "NIK", "NAMA", "NOHP", "EMAIL", "TGLLHR")} for v in seen]
    leaked += [{"NOKA": a, "NIK": b, "NAMA": b, "NOHP": b, "EMAIL": b} for a in seen for b in seen[:50]]
    leaked += make_people(3000, np.random.default_rng(1)).select(["NOKA", "NIK", "NAMA", "NOHP", "EMAIL", "TGLLHR"]
                                                                  ).to_pylist()
    with Registry(investigation_ws.registry_path, read_only=True) as reg:  # and everyone in the registry
        leaked += reg.con.sql("SELECT NOKA, NIK, NAMA, NOHP, EMAIL, TGLLHR FROM rows_peserta").to_arrow_table(
        ).to_pylist()
    con = duckdb.connect()
    assert find(con, canaries=rows, relation=leak_table(con, leaked), columns=COLUMNS, index_key=index,
                key="NOKA") == {}
    with (tmp_path / "r.csv").open(newline="", encoding="utf-8") as f:  # the release itself does hit
        released = list(csv.DictReader(f))
    found = find(con, canaries=rows, relation=leak_table(con, released), columns=COLUMNS, index_key=index,
                 key="NOKA")
    assert found[rec.release_id].canaries == rec.canaries
