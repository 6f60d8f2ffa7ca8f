"""Impact counts people, not rows: by data category, region, branch office, and the deceased."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from jejak.impact import measure
from jejak.registry import Registry
from jejak.roles import Role
from jejak.validators import nik as niks


@pytest.fixture
def ro(synth_registry: Path) -> Iterator[Registry]:
    reg = Registry(synth_registry, read_only=True)
    yield reg
    reg.close()


def build_linked(reg: Registry, *, people: int, seed: int) -> None:
    """``_jj_linked``: ``people`` persons (some rows repeated and marked ``_dup``, as the contract
    says; deceased ones always included), with the phone blanked on a third of rows, plus
    fabricated and unlinked rows that must not count."""
    reg.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_linked AS
            WITH chosen AS (
                SELECT _key, _valid_from, _valid_to, NIK, NAMA, NOHP, ALAMAT FROM rows_peserta
                WHERE _valid_to IS NULL ORDER BY KDSTATUSPST <> 'MENINGGAL', hash(_key, {seed}) LIMIT {people}),
            rows AS (
                SELECT *, false AS _dup FROM chosen
                UNION ALL SELECT *, true FROM chosen WHERE hash(_key, {seed}) % 5 = 0)
            SELECT row_number() OVER () AS _line, _key, 'nik' AS _via, 1.0 AS _match_p,
                   CASE WHEN _valid_to IS NULL THEN 'current' ELSE 'outdated' END AS _class,
                   _dup, _valid_from AS _from, _valid_to AS _to,
                   NIK, NAMA, CASE WHEN hash(_key, {seed}, 'p') % 3 = 0 THEN '' ELSE NOHP END AS NOHP, ALAMAT
            FROM rows
            UNION ALL
            SELECT 100000 + i, NULL, NULL, 0.0, CASE WHEN i % 2 = 0 THEN 'fabricated' ELSE 'unlinked' END, false,
                   NULL, NULL, '3273014101900001', 'ORANG LAIN', '081200000000', 'JL. ENTAH'
            FROM range(20) t(i)"""
    )


def expected(reg: Registry) -> dict[str, object]:
    """The same numbers the slow, obvious way: Python over the few hundred linked rows."""
    rows = reg.con.execute(
        """SELECT l._key, l.NOHP, l.ALAMAT, v.NIK, v.KDKANTOR, v.KDSTATUSPST
           FROM _jj_linked l JOIN rows_peserta v ON v._key = l._key AND v._valid_to IS NULL
           WHERE l._class IN ('current', 'outdated')"""
    ).fetchall()
    per_key = {r[0]: r for r in rows}
    contact = {r[0] for r in rows if (r[1] or "").strip() or (r[2] or "").strip()}
    ref = reg.dataset("peserta").snapshots[-1]
    provinces: Counter[str] = Counter()
    children = 0
    regencies: Counter[str] = Counter()
    for _key, *_, nik, _kantor, _status in per_key.values():
        info = niks.parse(nik)
        assert info is not None
        provinces[info.province_code] += 1
        regencies[info.regency_code] += 1
        born = niks.birth_date(nik, ref)
        assert born is not None
        children += born > ref.replace(year=ref.year - 18)
    return {
        "people": len(per_key),
        "contact": len(contact),
        "provinces": provinces,
        "regencies": regencies,
        "branches": Counter(r[4] for r in per_key.values()),
        "deceased": sum(r[5] == "MENINGGAL" for r in per_key.values()),
        "children": children,
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_impact_counts_distinct_people_by_category_region_branch_and_death(ro: Registry, seed: int) -> None:
    build_linked(ro, people=300, seed=seed)
    want = expected(ro)
    imp = measure(ro.con, linked="_jj_linked", dataset=ro.dataset("peserta"), versions_table="rows_peserta")
    assert imp.people == want["people"] == 300
    assert imp.categories["identity"].people == 300
    assert imp.categories["identity"].columns == ["NIK", "NAMA"]
    assert imp.categories["contact"].people == want["contact"]
    assert imp.categories["contact"].columns == ["NOHP", "ALAMAT"]
    assert imp.categories["health"].people == imp.categories["financial"].people == 0
    assert imp.children == want["children"] > 0
    assert imp.to_json()["specific_data"]  # children's data is specific personal data
    assert Counter({p["code"]: p["people"] for p in imp.provinces}) == want["provinces"]
    assert Counter({p["code"]: p["people"] for p in imp.regencies}) == want["regencies"]
    assert all(p["name"] for p in imp.provinces + imp.regencies)
    assert imp.branch_column == "KDKANTOR"
    assert Counter({b["code"]: b["people"] for b in imp.branches}) == want["branches"]
    assert imp.deceased == want["deceased"] > 0
    assert imp.status_column == "KDSTATUSPST"


def test_a_leaked_medical_column_flags_specific_personal_data(ro: Registry) -> None:
    build_linked(ro, people=40, seed=4)
    ro.con.execute("CREATE OR REPLACE TEMP TABLE _jj_linked2 AS SELECT *, CASE WHEN _line % 2 = 0 "
                   "THEN 'PCR SARS-CoV-2 POSITIF' END AS HASIL FROM _jj_linked")
    info = ro.dataset("peserta")
    info = dataclasses.replace(info, columns=[*info.columns, "HASIL"], roles={**info.roles, "HASIL": Role.MEDICAL})
    imp = measure(ro.con, linked="_jj_linked2", dataset=info, versions_table="rows_peserta")
    per_key_even = ro.con.execute(
        "SELECT count(DISTINCT _key) FROM _jj_linked2 WHERE HASIL IS NOT NULL AND _key IS NOT NULL"
    ).fetchall()[0][0]
    assert imp.categories["health"].people == per_key_even > 0
    assert imp.categories["health"].specific and imp.to_json()["specific_data"]


def test_a_leak_that_links_nobody_has_no_impact(ro: Registry) -> None:
    build_linked(ro, people=0, seed=5)
    imp = measure(ro.con, linked="_jj_linked", dataset=ro.dataset("peserta"), versions_table="rows_peserta")
    j = imp.to_json()
    assert (j["people"], j["provinces"], j["branches"], j["deceased"], j["children"]) == (0, [], [], 0, 0)
    assert j["specific_data"] is False
    assert all(c["people"] == 0 for c in j["categories"].values())


def test_people_seen_only_in_outdated_rows_are_placed_by_their_newest_version(ro: Registry) -> None:
    """Where someone lives and whether they died comes from their newest version, even when the
    leak carried only an old one, or they have since left the registry (every version closed)."""
    ro.con.execute(
        """CREATE OR REPLACE TEMP TABLE _jj_linked AS
           WITH multi AS (SELECT _key, min(_valid_from) AS first FROM rows_peserta GROUP BY _key
                          HAVING count(*) > 1 OR count(_valid_to) = count(*)
                          ORDER BY count(_valid_to) = count(*) AND hash(_key) % 4 = 0 DESC, hash(_key) LIMIT 60),
                old AS (SELECT v.* FROM rows_peserta v JOIN multi m ON v._key = m._key AND v._valid_from = m.first),
                rows AS (SELECT _key, _valid_from, _valid_to, NIK, NAMA, false AS _dup FROM old
                         UNION ALL  -- a third of them also appear with their current version, later
                         SELECT v._key, v._valid_from, v._valid_to, v.NIK, v.NAMA, true FROM rows_peserta v
                         JOIN multi m USING (_key) WHERE v._valid_to IS NULL AND hash(v._key) % 3 = 0)
           SELECT row_number() OVER () AS _line, _key, 'key' AS _via, 1.0 AS _match_p,
                  CASE WHEN _valid_to IS NULL THEN 'current' ELSE 'outdated' END AS _class, _dup,
                  _valid_from AS _from, _valid_to AS _to, NIK, NAMA FROM rows"""
    )
    newest = {k: (kantor, status) for k, kantor, status in ro.con.execute(
        """SELECT _key, arg_max(KDKANTOR, _valid_from), arg_max(KDSTATUSPST, _valid_from) FROM rows_peserta
           WHERE _key IN (SELECT _key FROM _jj_linked) GROUP BY _key"""
    ).fetchall()}
    closed = ro.con.execute(
        "SELECT count(DISTINCT _key) FROM rows_peserta WHERE _key IN (SELECT _key FROM _jj_linked) "
        "AND _key NOT IN (SELECT _key FROM rows_peserta WHERE _valid_to IS NULL)"
    ).fetchall()[0][0]
    imp = measure(ro.con, linked="_jj_linked", dataset=ro.dataset("peserta"), versions_table="rows_peserta")
    assert imp.people == len(newest) == 60
    assert closed > 0  # the synthetic history removes people too: that path is exercised
    assert Counter({b["code"]: b["people"] for b in imp.branches}) == Counter(v[0] for v in newest.values())
    assert imp.deceased == sum(v[1] == "MENINGGAL" for v in newest.values())


@pytest.mark.parametrize("deceased", [7, 0])
def test_the_deceased_are_found_in_a_column_not_named_or_worded_as_a_status(tmp_path: Path, deceased: int) -> None:
    """A registry whose status words verification does not know: the first category column in which an
    affected person is marked deceased counts them. A column saying so only of someone unaffected
    (``catatan``) is passed over, and a registry saying it of nobody has no status column at all."""
    import duckdb

    from jejak.registry import DatasetInfo

    con = duckdb.connect(str(tmp_path / "reg.duckdb"))  # stored, as a registry's tables are
    con.execute(
        f"""CREATE TABLE versions AS
            SELECT 'K' || i AS _key, DATE '2025-01-01' AS _valid_from, NULL::DATE AS _valid_to,
                   ['BANDUNG', 'MEDAN', 'AMBON'][i % 3 + 1] AS kota,
                   CASE WHEN i = 200 THEN 'Wafat' ELSE 'BIASA' END AS catatan,
                   CASE WHEN i <= {deceased} THEN ' meninggal ' ELSE 'PINDAH' END AS ket
            FROM range(1, 201) t(i)"""
    )
    con.execute("""CREATE TEMP TABLE _jj_linked AS
                   SELECT i AS _line, 'K' || i AS _key, 'current' AS _class, false AS _dup,
                          DATE '2025-01-01' AS _from, NULL::DATE AS _to, 'BANDUNG' AS kota
                   FROM range(1, 101) t(i)""")
    cols = ["kota", "catatan", "ket"]
    info = DatasetInfo("x", "kota", cols, {c: Role.CATEGORY for c in cols}, [], 200, 200)
    imp = measure(con, linked="_jj_linked", dataset=info, versions_table="versions")
    assert imp.people == 100
    assert (imp.status_column, imp.deceased) == (("ket", deceased) if deceased else (None, 0))
