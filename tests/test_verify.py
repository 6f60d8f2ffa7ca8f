"""Linking's shortcuts give exactly the answer of the general comparison.

A leak carrying every registry column lets verification settle byte-identical rows by one hash
(``_best_versions`` path 1) and joins the leaked text to the linked rows positionally. Both are
checked here against the general path on a leak built to hit every branch: identical rows,
outdated rows, re-formatted and changed cells, empty-string cells, repeats, rows linked only by
NIK, fabricated rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow.csv as pacsv
import pytest

from jejak import verify
from jejak.intake import read_table
from jejak.mapping import map_columns
from jejak.registry import Registry, table_name


def _leak(investigation_registry: Any, path: Path) -> None:
    snaps = investigation_registry.snapshots
    con = duckdb.connect()
    con.register("s2", snaps[1].participants)
    con.register("s3", snaps[2].participants)
    cols = ", ".join(snaps[1].participants.column_names)
    con.execute(
        """CREATE TABLE leak AS
            SELECT * FROM (SELECT * FROM s3 ORDER BY hash(NOKA) LIMIT 300)                       -- identical, current
            UNION ALL SELECT * FROM (SELECT * FROM s2 ORDER BY hash(NOKA, 1) LIMIT 300)          -- some outdated
            UNION ALL SELECT * REPLACE (lower(NAMA) AS NAMA) FROM (SELECT * FROM s3 ORDER BY hash(NOKA, 2) LIMIT 100)
            UNION ALL SELECT * REPLACE ('' AS EMAIL) FROM (SELECT * FROM s3 ORDER BY hash(NOKA, 3) LIMIT 50)
            UNION ALL SELECT * REPLACE ('JL. LAIN NO. 9' AS ALAMAT)
                      FROM (SELECT * FROM s3 ORDER BY hash(NOKA, 4) LIMIT 50)
            UNION ALL SELECT * REPLACE ('' AS NOKA) FROM (SELECT * FROM s3 ORDER BY hash(NOKA, 5) LIMIT 50)  -- NIK only
            UNION ALL SELECT * REPLACE ('9' || substr(NOKA, 2) AS NOKA, '3273010101900001' AS NIK)
                      FROM (SELECT * FROM s3 ORDER BY hash(NOKA, 6) LIMIT 20)                     -- fabricated
            UNION ALL SELECT * FROM (SELECT * FROM s3 ORDER BY hash(NOKA) LIMIT 30)              -- repeats"""
    )
    assert con.execute("SELECT count(*) FROM leak").fetchall()[0][0] == 900
    pacsv.write_csv(con.sql(f"SELECT {cols} FROM leak").to_arrow_table(), path)


def _link(reg: Registry, path: Path) -> list[tuple[Any, ...]]:
    con = reg.con
    leak = read_table(con, path, name="_jj_leak", strict=False)
    info = reg.dataset("peserta")
    versions = table_name(info.name)
    mapping = map_columns(con, leak, info, versions)
    verify.link(con, leak=leak, dataset=info, mapping=mapping, versions_table=versions)
    return con.execute(f"SELECT * FROM {verify.LINKED} ORDER BY _line").fetchall()


def _release_every_row(ws: Any, out: Path) -> Path:
    """A marked release of every person of ``ws``'s registry to a new recipient, written to ``out``."""
    from jejak.ledger import Ledger
    from jejak.release import ReleaseRequest, create_release

    with Ledger.open(ws.ledger_url) as ledger:
        ledger.add_recipient("PT Vendor", "vendor")
    create_release(ws, ReleaseRequest("peserta", "PT Vendor", out))
    return out


def _fast_and_general(ws: Any, path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[Any]]:
    """The linked rows of ``path`` as linking gives them, then with marked rows never settled early."""
    with Registry(ws.registry_path, read_only=True) as reg:
        fast = _link(reg, path)
    monkeypatch.setattr(verify, "_settle_marked", lambda *a: None)
    monkeypatch.setattr(verify, "_stored_open", lambda *a: None)  # nor in the key step (_open_links)
    with Registry(ws.registry_path, read_only=True) as reg:
        return fast, _link(reg, path)


def test_identical_rows_shortcut_and_positional_text_match_the_general_path(
    investigation_registry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jejak.workspace import Workspace

    path = tmp_path / "leak.csv"
    _leak(investigation_registry, path)
    registry = Workspace.open(investigation_registry.home).registry_path
    shortcut: list[bool] = []
    ids = verify._ids

    def spy(con: Any, leak: Any, plan: Any, exact: bool, *rest: Any) -> None:
        shortcut.append(exact)
        ids(con, leak, plan, exact, *rest)

    monkeypatch.setattr(verify, "_ids", spy)
    settled: list[int] = []
    best = verify._best_versions

    def count_identical(con: Any, *args: Any) -> None:
        settled.append(con.execute("SELECT count(*) FROM _jj_keyhit WHERE _exact").fetchall()[0][0])
        best(con, *args)

    monkeypatch.setattr(verify, "_best_versions", count_identical)
    with Registry(registry, read_only=True) as reg:
        fast = _link(reg, path)
        cols = ", ".join(f'l."{c}"' for c in reg.dataset("peserta").columns)
        shortcut_rows = reg.con.execute(
            f"SELECT count(*) FROM _jj_leak l JOIN rows_peserta v ON v._key = l.NOKA AND v._valid_to IS NULL "
            f"WHERE v._hash = hash({cols})"
        ).fetchall()[0][0]
    monkeypatch.setattr(verify, "_ids", lambda con, leak, plan, exact, *rest: ids(con, leak, plan, False, *rest))
    with Registry(registry, read_only=True) as reg:
        general = _link(reg, path)
    assert shortcut == [True]  # the leak has every column: the shortcut was taken
    assert len(fast) == len(general) == 900
    assert settled[0] == shortcut_rows > 500 and settled[1] == 0  # identical rows, by the registry's own hash
    assert fast == general
    # The text beside each line is that line's: the leak's own NAMA at line 2 is the first row's.
    first = pacsv.read_csv(path).slice(0, 1).to_pylist()[0]
    assert fast[0][0] == 2 and first["NAMA"] in fast[0]


@pytest.mark.parametrize("marked", [False, True], ids=["mixed-leak", "marked-release"])
def test_the_key_join_on_the_stored_open_versions_matches_the_versions_table(
    investigation_registry: Any, investigation_ws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    marked: bool,
) -> None:
    """The key step reads the import's ``open_<name>`` (validity, row hash, status, numbers) and, for
    a marked leak, settles its rows in that join; with the stored table made by other SQL it joins
    the versions table. Both give the same linked rows, status included."""
    path = tmp_path / "leak.csv"
    if marked:
        _release_every_row(investigation_ws, path)
    else:
        _leak(investigation_registry, path)
    opened: list[bool] = []
    open_links = verify._open_links

    def spy(*args: Any) -> None:
        opened.append(args[-1])  # carried: settled in the join
        open_links(*args)

    monkeypatch.setattr(verify, "_open_links", spy)
    with Registry(investigation_ws.registry_path, read_only=True) as reg:
        stored = _link(reg, path)
        status_at = [d[0] for d in reg.con.execute(f"SELECT * FROM {verify.LINKED} LIMIT 0").description].index(
            "_status")
    assert opened == [marked]
    with Registry(investigation_ws.registry_path) as reg:
        reg.con.execute("UPDATE jj_open SET digest = 'other'")
    with Registry(investigation_ws.registry_path, read_only=True) as reg:
        computed = _link(reg, path)
    assert opened == [marked]  # not called again
    assert stored == computed and len(stored) >= 900
    assert {r[status_at] for r in stored} >= {"AKTIF"}  # the registry's status column, read from open_peserta


def test_the_linked_view_pairs_each_line_with_its_own_text_whatever_the_table_order(investigation_registry: Any,
                                                                  tmp_path: Path) -> None:
    from jejak.workspace import Workspace

    path = tmp_path / "leak.csv"
    _leak(investigation_registry, path)
    with Registry(Workspace.open(investigation_registry.home).registry_path, read_only=True) as reg:
        con = reg.con
        leak = read_table(con, path, name="_jj_leak", strict=False)
        con.execute("CREATE OR REPLACE TEMP TABLE _jj_leak AS SELECT * FROM _jj_leak ORDER BY hash(_line)")
        info = reg.dataset("peserta")
        mapping = map_columns(con, leak, info, "rows_peserta")
        verify.link(con, leak=leak, dataset=info, mapping=mapping, versions_table="rows_peserta")
        wrong = con.execute(
            f"SELECT count(*) FROM {verify.LINKED} k JOIN _jj_leak l USING (_line) WHERE k.NAMA IS DISTINCT FROM l.NAMA"
        ).fetchall()[0][0]
        assert wrong == 0


def test_a_canary_row_is_classed_canary_with_its_key_tag_as_an_opaque_key(investigation_ws: Any,
                                                                          tmp_path: Path) -> None:
    import csv

    from jejak.keys import canary_index_key
    from jejak.ledger import Ledger
    from jejak.release import ReleaseRequest, create_release

    with Ledger.open(investigation_ws.ledger_url) as ledger:
        ledger.add_recipient("PT Vendor", "vendor")
    out = tmp_path / "r.csv"
    rec = create_release(investigation_ws, ReleaseRequest("peserta", "PT Vendor", out))
    with investigation_ws.ledger() as ledger:
        canaries = ledger.canaries("peserta")
    with out.open(newline="", encoding="utf-8") as f:
        values = {v for row in csv.DictReader(f) for v in row.values() if v}
    with Registry(investigation_ws.registry_path, read_only=True) as reg:
        con = reg.con
        leak = read_table(con, out, name="_jj_leak", strict=False)
        info = reg.dataset("peserta")
        mapping = map_columns(con, leak, info, "rows_peserta")
        with pytest.raises(ValueError, match="index key"):
            verify.link(con, leak=leak, dataset=info, mapping=mapping, versions_table="rows_peserta",
                        canaries=canaries)
        verify.link(con, leak=leak, dataset=info, mapping=mapping, versions_table="rows_peserta",
                    canaries=canaries, index_key=canary_index_key(investigation_ws.master_secret()))
        got = con.execute(f"SELECT _key, _via FROM {verify.NARROW} WHERE _class = 'canary'").fetchall()
    assert len(got) == rec.canaries
    assert {k for k, _ in got} == {c["key"] for c in canaries} and {v for _, v in got} == {"canary"}
    assert not {k for k, _ in got} & values  # an opaque id: no value of the file


@pytest.mark.parametrize(("filtered", "carried", "stored"),
                         [(True, True, True), (True, False, True), (False, True, True), (False, False, True),
                          (True, True, False), (False, False, False)],
                         ids=["filtered-carried", "filtered-read-again", "every-open-version-carried",
                              "every-open-version-read-again", "filtered-carried-computed",
                              "every-open-version-read-again-computed"])
def test_marked_rows_settled_in_the_key_step_match_the_general_path(
    investigation_ws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filtered: bool, carried: bool,
    stored: bool,
) -> None:
    """A marked release's rows agree with their open version up to the marks and are settled without
    the per-version comparison; rows that differ anywhere else must still get the general answer.
    Either way of filtering the open versions, of getting the leak's carrier numbers (in its first
    scan, or read again) and of getting the open versions' (stored by the import, or computed
    now), gives that answer."""
    monkeypatch.setattr(verify, "FILTER_SHARE", 1e9 if filtered else 0.0)
    monkeypatch.setattr(verify, "_carry_carriers", lambda *_a: carried)
    if not stored:  # as if made by other SQL: they must not be used
        with Registry(investigation_ws.registry_path) as reg:
            reg.con.execute("UPDATE jj_open SET digest = 'other'")
    used: list[str] = []
    numbers = verify._open_numbers

    def spy_numbers(*args: Any) -> str:
        used.append(numbers(*args))
        return used[-1]

    monkeypatch.setattr(verify, "_open_numbers", spy_numbers)
    out = _release_every_row(investigation_ws, tmp_path / "r.csv")
    con = duckdb.connect()
    con.execute(f"CREATE TABLE r AS SELECT * FROM read_csv('{out}', all_varchar=true)")
    cols = ", ".join(f'"{c}"' for c in con.execute("SELECT * FROM r LIMIT 0").fetchnumpy())
    con.execute(
        """CREATE TABLE leak AS
           SELECT * FROM (SELECT * FROM r ORDER BY hash(NOKA) LIMIT 400)                          -- marked
           UNION ALL SELECT * REPLACE ('' AS EMAIL) FROM (SELECT * FROM r ORDER BY hash(NOKA, 1) LIMIT 40)
           UNION ALL SELECT * REPLACE ('   ' AS NAMA) FROM (SELECT * FROM r ORDER BY hash(NOKA, 2) LIMIT 40)
           UNION ALL SELECT * REPLACE ('JL. LAIN NO. 9' AS ALAMAT)
                     FROM (SELECT * FROM r ORDER BY hash(NOKA, 3) LIMIT 40)
           UNION ALL SELECT * REPLACE (strftime(TSUPDATE::TIMESTAMP - INTERVAL 3 DAY, '%Y-%m-%d %H:%M:%S') AS TSUPDATE)
                     FROM (SELECT * FROM r WHERE TSUPDATE IS NOT NULL ORDER BY hash(NOKA, 4) LIMIT 40)
           UNION ALL SELECT * REPLACE ((GAJI::BIGINT + 500000)::VARCHAR AS GAJI)
                     FROM (SELECT * FROM r WHERE GAJI IS NOT NULL ORDER BY hash(NOKA, 5) LIMIT 40)
           UNION ALL SELECT * REPLACE (NULL AS NOHP) FROM (SELECT * FROM r ORDER BY hash(NOKA, 6) LIMIT 40)"""
    )
    # Older versions of people who changed: as they were, and with the release's marked carriers.
    with Registry(investigation_ws.registry_path, read_only=True) as reg:
        old = reg.con.sql(f"SELECT {cols} FROM rows_peserta WHERE _valid_to IS NOT NULL ORDER BY _key LIMIT 80")
        con.register("old", old.to_arrow_table())
    carriers = "TSINPUT, TSUPDATE, GAJI, NOHP, EMAIL"
    con.execute(f"""INSERT INTO leak SELECT * FROM (SELECT * FROM old LIMIT 40)
                    UNION ALL SELECT o.* REPLACE ({', '.join(f'r.{c} AS {c}' for c in carriers.split(', '))})
                    FROM (SELECT * FROM old OFFSET 40) o JOIN r USING (NOKA)""")
    path = tmp_path / "leak.csv"
    pacsv.write_csv(con.sql(f"SELECT {cols} FROM leak ORDER BY hash(NOKA, NAMA, EMAIL)").to_arrow_table(), path)

    settled: list[int] = []
    settle = verify._settle_marked

    def spy(con: Any, *args: Any) -> None:  # rows settled without the general path (in the key step or here)
        settle(con, *args)
        settled.append(con.execute("SELECT count(*) FROM _jj_best").fetchall()[0][0])

    monkeypatch.setattr(verify, "_settle_marked", spy)
    fast, general = _fast_and_general(investigation_ws, path, monkeypatch)
    assert len(fast) == len(general) > 680
    assert settled[0] >= 380  # the marked rows took the shortcut (canaries and changed rows did not)
    assert sum(r[4] == "outdated" for r in general) > 20  # and older versions still won where they fit
    assert fast == general
    if carried and stored:  # settled in the key step's join with the stored numbers: no second join
        assert not used
    else:
        assert len(used) == 1 and ("open_peserta" in used[0]) == stored and ("_jj_mr" in used[0]) != stored


def test_the_first_scan_carries_carrier_numbers_when_most_rows_will_differ(
    investigation_ws: Any, tmp_path: Path
) -> None:
    """Only a cost decision (the test above shows the answer is the same either way), but it must
    not cost an unmarked leak the numbers, and must give them to a marked one."""
    marked = _release_every_row(investigation_ws, tmp_path / "marked.csv")
    unmarked, narrow = tmp_path / "unmarked.csv", tmp_path / "narrow.csv"
    with Registry(investigation_ws.registry_path, read_only=True) as reg:
        cols = ", ".join(f'"{c}"' for c in reg.dataset("peserta").columns)
        table = reg.con.sql(f"SELECT {cols} FROM ({reg.as_of_sql('peserta')}) ORDER BY hash(_key)").to_arrow_table()
        pacsv.write_csv(table, unmarked)
        pacsv.write_csv(table.drop_columns(["ALAMAT"]), narrow)  # never byte-identical: no shortcut
    decided = {}
    with Registry(investigation_ws.registry_path, read_only=True) as reg:
        info = reg.dataset("peserta")
        for name, path in (("marked", marked), ("unmarked", unmarked), ("narrow", narrow)):
            leak = read_table(reg.con, path, name=f"_jj_{name}", strict=False)
            plan = verify.LinkPlan.of(map_columns(reg.con, leak, info, "rows_peserta"), info)
            decided[name] = verify._carry_carriers(reg.con, leak, plan, info, "rows_peserta",
                                                   plan.bits == list(info.columns))
    assert decided == {"marked": True, "unmarked": False, "narrow": True}


@pytest.mark.parametrize("carried", [True, False], ids=["carried", "read-again"])
def test_leaked_headers_named_like_sql_lambda_parameters_change_nothing(
    investigation_ws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, carried: bool
) -> None:
    """The leaker names the columns: a timestamp called jj_t or an amount called jj_a (the names of
    the carrier numbers' SQL lambda parameters) must be read as the columns, not as the parameters —
    an unqualified reference once crashed every carried leak (jj_t) or rounded amounts (jj_a)."""
    out = _release_every_row(investigation_ws, tmp_path / "r.csv")
    con = duckdb.connect()
    con.execute(f"CREATE TABLE r AS SELECT * FROM read_csv('{out}', all_varchar=true)")
    # Amounts with a fraction too: TRY_CAST would round '1000.4' to 1000, which the general path does not.
    con.execute("""UPDATE r SET GAJI = GAJI || '.4' WHERE GAJI IS NOT NULL AND hash(NOKA) % 5 = 0""")
    path = tmp_path / "leak.csv"
    pacsv.write_csv(con.sql('SELECT * RENAME (TSUPDATE AS "JJ_T", GAJI AS jj_a) FROM r').to_arrow_table(), path)
    monkeypatch.setattr(verify, "_carry_carriers", lambda *_a: carried)
    fast, general = _fast_and_general(investigation_ws, path, monkeypatch)
    assert len(fast) == len(general) > 400
    assert fast == general


def test_rows_without_nik_or_card_link_by_email_and_phone_read_for_those_lines_only(
    investigation_registry: Any, tmp_path: Path
) -> None:
    """E-mail and phone are not kept for every line (``_ids``): the lines no key or NIK linked get
    them from the leak, and still link through them to the right person; a line keeping its card
    number is never linked by its e-mail."""
    s3 = investigation_registry.snapshots[2].participants
    con = duckdb.connect()
    con.register("s3", s3)
    cols = ", ".join(s3.column_names)
    con.execute(
        """CREATE TABLE leak AS
           SELECT *, NULL AS truth FROM (SELECT * FROM s3 ORDER BY hash(NOKA) LIMIT 200)
           UNION ALL SELECT * REPLACE ('' AS NOKA, '' AS NIK, '' AS NOHP), NOKA AS truth
                     FROM (SELECT * FROM s3 WHERE EMAIL <> '' ORDER BY hash(NOKA, 1) LIMIT 20)
           UNION ALL SELECT * REPLACE ('' AS NOKA, '' AS NIK, '' AS EMAIL), NOKA AS truth
                     FROM (SELECT * FROM s3 WHERE NOHP <> '' ORDER BY hash(NOKA, 2) LIMIT 20)"""
    )
    truth = dict(con.execute(
        "SELECT coalesce(nullif(EMAIL, ''), NOHP), truth FROM leak WHERE truth IS NOT NULL").fetchall())
    path = tmp_path / "leak.csv"
    pacsv.write_csv(con.sql(f"SELECT {cols} FROM leak").to_arrow_table(), path)
    with Registry(Path(investigation_registry.home) / "registry.duckdb", read_only=True) as reg:
        _link(reg, path)
        rows = reg.con.execute(
            f"""SELECT l._via, l._key, coalesce(nullif(t.EMAIL, ''), t.NOHP) FROM {verify.NARROW} l
                JOIN {verify.TEXT} t USING (_line) WHERE l._via IN ('email', 'phone')""").fetchall()
    vias = [v for v, _, _ in rows]
    # (a few shared or unusable e-mails and phones go on to probabilistic linkage, as before)
    assert vias.count("email") >= 15 and vias.count("phone") >= 15 and len(rows) <= 40
    assert all(truth[ident] == key for _, key, ident in rows)
