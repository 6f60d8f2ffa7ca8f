"""Channels beyond the basics: address writings, joint timestamp jitter, and exact canary exclusion."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jejak import keys
from jejak.channel.base import NULL_INT, Policy, channels, digests_of, embed_release
from jejak.channel.canary import _people
from jejak.channel.ts_jitter import allowed, joint_leaders
from jejak.roles import Role
from jejak.synth import make_people
from jejak.validators import sql

FMT = "%Y-%m-%d %H:%M:%S"


def table_of(values: dict[str, list[str | None]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    sql.install(con, nik_macros=False)
    n = len(next(iter(values.values())))
    data = {"_rid": np.arange(n, dtype=np.int64), "_k": [str(i) for i in range(n)], **values}
    con.register("src", pa.table(data))
    con.execute(f"CREATE TABLE orig AS SELECT _rid, {keys.digest_sql('d', '_k')} AS _digest, * EXCLUDE (_rid, _k) "
                "FROM src")
    con.unregister("src")
    con.execute("CREATE TABLE rel AS SELECT * FROM orig")
    return con


# -- address_format ----------------------------------------------------------------------------------

PARTS = st.tuples(
    st.sampled_from(["Jl. ", "JLN. ", "Jalan ", "jl ", "", "Gg. ", "Gang "]),
    st.sampled_from(["Merdeka", "A. Yani", "MAWAR"]),
    st.sampled_from([" No. 5", " NO.17", " 12", ""]),
    st.sampled_from([", RT 007/RW 008", " RT.07 RW.08", ", RT 7 RW 8", " RT/RW 012/006", ", Rt 12 Rw 06",
                     " RT003 RW001", " RT 5RW 6", ""]),
    st.sampled_from([", Kel. Sukapura", " KELURAHAN SUKAPURA", ", Kel Botoran", ", Ds. Kameme", ""]),
    st.sampled_from([", Kec. Kiaracondong", " KECAMATAN BIME", ""]),
    st.sampled_from([", Kab. Bangkalan", " KABUPATEN CIREBON", ", Kota Bandung", ""]),
).map("".join)
ADDRESSES = st.one_of(PARTS, PARTS.map(str.upper), st.text(max_size=30))


# Few examples of many values each: the cost is in compiling the long SQL, not in the rows.
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(ADDRESSES, min_size=5, max_size=60), secret=st.binary(min_size=32, max_size=32))
def test_address_format_reads_back_its_symbol_and_keeps_the_normal_form(values: list[str], secret: bytes) -> None:
    con = table_of({"v": values})
    policy = Policy(channels=("address_format",))
    embed_release(con, "rel", roles={"v": Role.ADDRESS}, release_secret=secret, policy=policy)
    ch = channels()["address_format"]
    rows = con.execute(
        f"""SELECT {ch.markable_sql('o.v', policy)}, {ch.observe_sql('r.v', 'o.v', policy)}, o.v, r.v,
                   jj_addr_norm(o.v) = jj_addr_norm(r.v)
            FROM rel r JOIN orig o USING (_rid) ORDER BY _rid"""
    ).fetchall()
    words = keys.prf_words(keys.channel_key(secret, "address_format", "v"), digests_of(con, "orig"))
    for (m, observed, before, after, same_norm), w in zip(rows, words, strict=True):
        assert same_norm
        if m >= 2:
            assert observed == int(w) % m, (before, after)
        else:
            assert after == before


def test_address_format_marks_real_addresses_in_many_ways() -> None:
    addresses = make_people(300, np.random.default_rng(5)).column("ALAMAT").to_pylist()
    con = table_of({"v": addresses})
    ch = channels()["address_format"]
    policy = Policy(channels=("address_format",))
    ms = [r[0] for r in con.execute(f"SELECT {ch.markable_sql('v', policy)} FROM orig").fetchall()]
    assert np.mean(np.array(ms) >= 2) > 0.9 and max(ms) >= 24  # most addresses carry several parts
    res = embed_release(con, "rel", roles={"v": Role.ADDRESS}, release_secret=b"k" * 32, policy=policy)
    assert res.cells["address_format"] == sum(m >= 2 for m in ms)
    changed = con.execute("SELECT count(*) FROM rel r JOIN orig o USING (_rid) WHERE r.v <> o.v").fetchall()[0][0]
    assert changed > 0.5 * len(addresses)


def test_a_normalised_leak_flattens_the_address_channel() -> None:
    con = table_of({"v": ["Jl. Merdeka No. 5, RT 007/RW 008, Kel. Sukapura"]})
    ch = channels()["address_format"]
    policy = Policy(channels=("address_format",))
    flat = con.execute(f"SELECT {ch.observe_sql('jj_addr_norm(v)', 'v', policy)} FROM orig").fetchall()[0][0]
    assert flat is None


def test_an_rt_rw_written_in_no_style_of_ours_is_unreadable_not_an_error() -> None:
    """``Rt. 007/RW 008`` has the registry value's normal form but is none of the channel's writings:
    reading it used to cast an empty RT number and abort the whole investigation."""
    v = "Jl. Merdeka No. 5, RT 007/RW 008, Kel. Sukapura"
    leaked = ["Jl. Merdeka No. 5, Rt. 007/RW 008, Kel. Sukapura", "JL MERDEKA NO 5 RT 7 RW 8 KEL SUKAPURA", v]
    con = table_of({"v": [v] * 3, "l": leaked})
    ch = channels()["address_format"]
    policy = Policy(channels=("address_format",))
    got = [r[0] for r in con.execute(f"SELECT {ch.observe_sql('l', 'v', policy)} FROM orig ORDER BY _rid").fetchall()]
    assert got[0] is None and got[1] is None and got[2] is not None


# -- joint timestamp jitter ----------------------------------------------------------------------------

CLOCKS = st.one_of(
    st.datetimes(), st.datetimes().map(lambda d: d.replace(hour=23, minute=59)),
    st.datetimes().map(lambda d: d.replace(hour=0, minute=0)),
)


@st.composite
def timestamp_rows(draw: st.DrawFn) -> tuple[str, str]:
    t_in = draw(CLOCKS).replace(microsecond=0)
    gap = draw(st.sampled_from([0, 0, 1, 7, 59, 60, 61, 3600, 86400 * 3]))
    t_up = t_in + np.timedelta64(gap, "s").astype(object)
    return t_in.strftime(FMT), t_up.strftime(FMT)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(timestamp_rows(), min_size=1, max_size=60), secret=st.binary(min_size=32, max_size=32),
       jitter=st.sampled_from([30, 1800]))  # policy 2 and policy 3
def test_joint_jitter_keeps_the_order_of_a_rows_timestamps_and_follows_the_leader_rule(
    rows: list[tuple[str, str]], secret: bytes, jitter: int
) -> None:
    con = table_of({"TSINPUT": [r[0] for r in rows], "TSUPDATE": [r[1] for r in rows]})
    policy = Policy(channels=("ts_jitter",), jitter_seconds=jitter, version=2 if jitter == 30 else 3)
    embed_release(con, "rel", roles={"TSINPUT": Role.TIMESTAMP, "TSUPDATE": Role.TIMESTAMP},
                  release_secret=secret, policy=policy)
    ch = channels()["ts_jitter"]
    got = con.execute(
        f"""SELECT o.TSINPUT, o.TSUPDATE, r.TSINPUT, r.TSUPDATE,
                   {ch.markable_sql('o.TSINPUT', policy)}, {ch.markable_sql('o.TSUPDATE', policy)},
                   {ch.observe_sql('r.TSINPUT', 'o.TSINPUT', policy)},
                   {ch.observe_sql('r.TSUPDATE', 'o.TSUPDATE', policy)},
                   epoch(strptime(o.TSINPUT, '{FMT}'))::BIGINT, epoch(strptime(o.TSUPDATE, '{FMT}'))::BIGINT
            FROM rel r JOIN orig o USING (_rid) ORDER BY _rid"""
    ).fetchall()
    digests = digests_of(con, "orig")
    w = np.stack([keys.prf_words(keys.channel_key(secret, "ts_jitter", c), digests) for c in ("TSINPUT", "TSUPDATE")],
                 axis=1)
    m = np.array([[g[4], g[5]] for g in got])
    t = np.array([[g[8], g[9]] for g in got])
    label, marked = joint_leaders(list(t.T), list(m.T), list(allowed(t, jitter)[0].T), jitter)
    leader, ok = label.T, marked.T  # (row, column), as the assertions index them
    for i, (o_in, o_up, r_in, r_up, *_rest) in enumerate(got):
        assert r_in <= r_up and (r_in == r_up) == (o_in == o_up)  # order and equality kept
        assert r_in[:10] == o_in[:10] and r_up[:10] == o_up[:10]  # no date changes
        for j, observed in enumerate(got[i][6:8]):
            if ok[i, j]:
                assert observed == int(w[i, leader[i, j]]) % int(m[i, j])
            else:
                assert observed is None  # left alone: the registry value itself
    tied = (np.abs(np.array([g[9] - g[8] for g in got])) <= 2 * jitter)
    assert (leader[:, 1] == 0)[tied & ok[:, 1]].all() and (leader[:, 1] == 1)[~tied & ok[:, 1]].all()


TS_TEXT = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1)).map(lambda d: d.replace(microsecond=0).isoformat(" ")),  # 0001-…
    CLOCKS.map(lambda d: d.strftime(FMT)),
    st.sampled_from(["", "2024-02-30 10:00:00", "2024-01-01 24:00:00", "2024-01-01 23:59:60", "2024-1-01 10:00:00",
                     "0000-01-01 10:00:00", "2024-01-01T10:00:00", " 2024-01-01 10:00:00", "2024-01-01 10:00"]),
    st.text(alphabet="0123456789-: ", min_size=17, max_size=21),
)


@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.one_of(st.none(), TS_TEXT), min_size=1, max_size=40),
       jitter=st.sampled_from([1, 30, 600]))
def test_timestamp_markable_counts_from_the_instant_equal_the_sql_rule(values: list[str | None], jitter: int) -> None:
    # Releases compute m in numpy from one fact; the reader (attribution) computes it in SQL.
    con = table_of({"v": values})
    policy = Policy(channels=("ts_jitter",), jitter_seconds=jitter)
    ch = channels()["ts_jitter"]
    facts = con.sql(f"SELECT {ch.facts_sql('v', policy)['t']} AS t FROM orig ORDER BY _rid").to_arrow_table()
    t = np.asarray(facts.column(0).fill_null(NULL_INT).to_numpy(zero_copy_only=False), dtype=np.int64)
    want = [r[0] for r in con.execute(f"SELECT {ch.markable_sql('v', policy)} FROM orig ORDER BY _rid").fetchall()]
    assert ch.markable({"t": t}, policy).tolist() == want


def test_policy_version_1_jitters_each_timestamp_on_its_own() -> None:
    con = table_of({"TSINPUT": ["2024-05-01 10:00:00"] * 200, "TSUPDATE": ["2024-05-01 10:00:00"] * 200})
    embed_release(con, "rel", roles={"TSINPUT": Role.TIMESTAMP, "TSUPDATE": Role.TIMESTAMP},
                  release_secret=b"s" * 32, policy=Policy(channels=("ts_jitter",), version=1))
    inverted = con.execute("SELECT count(*) FROM rel WHERE TSUPDATE < TSINPUT").fetchall()[0][0]
    assert 50 < inverted < 150  # the old rule, kept so that old releases reproduce


def test_innocent_joint_symbols_agree_with_a_leak_as_often_as_chance_says() -> None:
    # A leak from release A; 300 innocent releases. Each tied pair is one observation (its leader):
    # agreements with an innocent release must follow Binomial(n, 1/m), m = 60.
    n = 400
    con = table_of({"TSINPUT": ["2024-05-01 10:00:00"] * n, "TSUPDATE": ["2024-05-01 10:00:20"] * n})
    roles = {"TSINPUT": Role.TIMESTAMP, "TSUPDATE": Role.TIMESTAMP}
    policy = Policy(channels=("ts_jitter",), version=2, jitter_seconds=30)
    embed_release(con, "rel", roles=roles, release_secret=b"A" * 32, policy=policy)
    ch = channels()["ts_jitter"]
    obs = np.array([r[0] for r in con.execute(
        f"SELECT {ch.observe_sql('r.TSUPDATE', 'o.TSUPDATE', policy)} FROM rel r JOIN orig o USING (_rid) ORDER BY _rid"
    ).fetchall()])
    digests = digests_of(con, "orig")
    own = keys.prf_words(keys.channel_key(b"A" * 32, "ts_jitter", "TSINPUT"), digests) % np.uint64(60)
    assert (obs == own).all()  # the follower shows its leader's symbol
    agree = np.array([np.sum(obs == keys.prf_words(keys.channel_key(s.to_bytes(32, "big"), "ts_jitter", "TSINPUT"),
                                                   digests) % np.uint64(60)) for s in range(300)])
    mean, sd = n / 60, np.sqrt(n * (1 / 60) * (59 / 60))
    assert abs(agree.mean() - mean) < 4 * sd / np.sqrt(300)
    assert 0.5 < agree.var() / sd**2 < 1.6
    assert agree.max() < mean + 6 * sd


# -- canaries: exact exclusion without loading every identifier ---------------------------------------


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_canaries_avoid_the_registry_exactly_as_with_every_identifier_excluded(seed: int) -> None:
    n, as_of = 40, date(2025, 1, 1)
    probe = make_people(n, np.random.default_rng(seed), as_of=as_of)
    noka = np.array([int(x) for x in probe.column("NOKA").to_pylist()])
    # A registry crowded exactly where the canaries want to go: long runs of taken card numbers
    # after each wanted one, and the wanted NIKs themselves, so every search has to move.
    crowded = np.unique((noka[:, None] + np.arange(0, 8 * 300, 3)[None, :]).ravel())
    niks = probe.column("NIK").to_pylist()
    con = duckdb.connect()
    con.register("src", pa.table({
        "NOKA": [f"{x:013d}" for x in crowded],
        "NIK": (niks * (len(crowded) // len(niks) + 1))[: len(crowded)],
    }))
    con.execute("CREATE TABLE versions AS SELECT NOKA AS _key, * FROM src")
    rng, fast = _people(con, "versions", "NIK", "NOKA", n, seed, as_of)
    rng2 = np.random.default_rng(seed)
    full = make_people(n, rng2, as_of=as_of, exclude_nik=niks, exclude_noka=[f"{x:013d}" for x in crowded],
                       families=True)
    assert fast.equals(full)
    assert rng.integers(0, 2**62) == rng2.integers(0, 2**62)  # the positions drawn next agree too
    assert not set(fast.column("NOKA").to_pylist()) & {f"{x:013d}" for x in crowded}


def test_symbols_computed_in_blocks_equal_symbols_computed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # MarkPlan.symbols works a block of rows at a time; every row's symbols must not depend on
    # where the blocks fall (joint timestamps included).
    from jejak.channel import base

    rng = np.random.default_rng(5)
    n = 100
    stamps = [f"2024-0{1 + i % 9}-1{i % 10} {i % 24:02d}:{(7 * i) % 60:02d}:{(13 * i) % 60:02d}" for i in range(n)]
    con = table_of({
        "TSINPUT": stamps,
        "TSUPDATE": [s if i % 3 else s[:-2] + "59" for i, s in enumerate(stamps)],
        "GAJI": [str(int(v)) for v in rng.integers(500, 9_000_000, n)],
        "NOHP": [f"08{int(v)}" for v in rng.integers(10**9, 10**10, n)],
        "EMAIL": [f"u{i}@mail.co.id" for i in range(n)],
    })
    roles = {"TSINPUT": Role.TIMESTAMP, "TSUPDATE": Role.TIMESTAMP, "GAJI": Role.AMOUNT, "NOHP": Role.PHONE,
             "EMAIL": Role.EMAIL}
    plan = base.MarkPlan.of(roles, Policy())
    facts = con.sql(f"SELECT {', '.join(plan.facts_sql())} FROM orig ORDER BY _rid").to_arrow_table()
    digests = digests_of(con, "orig")
    whole = plan.symbols(facts, digests, b"k" * 32)
    monkeypatch.setattr(base, "SYMBOL_BLOCK", 7)
    blocks = plan.symbols(facts, digests, b"k" * 32)
    assert whole.keys() == blocks.keys() and all((whole[k] == blocks[k]).all() for k in whole)
    assert all((whole[k] >= 0).sum() > n // 4 for k in whole)  # the channels really marked these rows
