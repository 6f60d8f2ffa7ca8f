"""Which leaked column is which registry column — decided from the values, never the headers.

Leakers rename, reorder, lower-case, drop and add columns, so a header says nothing. The mapping
is found in three steps on a sample of the leak:

1. **Roles** of the leaked columns from their values (:func:`jejak.roles.infer_roles`).
2. **Link column.** Each leaked identifier column (NIK, card, other codes; else e-mail, phone)
   is joined against the registry's values of every registry column of a compatible role, over
   all versions. The pair with the largest share of sampled values found links the sample rows
   to registry rows.
3. **Row-aligned agreement.** For the linked sample rows, every leaked column is compared with
   every registry column of the same person (all versions; tolerant of re-formatting and of the
   fingerprint perturbations, see :mod:`jejak.normalise`). Columns are paired greedily by the
   share of rows that agree, one-to-one. Two timestamp columns (``TSINPUT``/``TSUPDATE``) or two
   date columns are told apart because they agree on *different rows*, whatever their names.

When no identifier survives (the probabilistic path), step 3 falls back to value overlap: the
share of a leaked column's distinct sampled values found among the registry column's values,
only between columns of compatible roles. Header names are used for one thing only: to break an
exact tie between registry columns whose values are indistinguishable in the leak (e.g. ``NAMA``
and ``NMCETAK`` when every name was typed in capitals), where either choice fits the values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import duckdb

from jejak.intake import Table
from jejak.normalise import TS_NEAR, install, norm_sql
from jejak.registry import DatasetInfo, quote
from jejak.roles import Role, RoleGuess, infer_roles
from jejak.sqltext import unpivot

log = logging.getLogger(__name__)

SAMPLE = 2_000
MIN_ROWS_AGREE = 0.5  # a column is mapped when it agrees on at least half of the linked sample rows
MIN_VALUES_OVERLAP = 0.1  # value-overlap fallback
MIN_LINK_OVERLAP = 0.05

_CODE_ROLES = frozenset({Role.NIK, Role.CARD, Role.NPWP, Role.IDENTIFIER})
_FAMILIES: list[frozenset[Role]] = [
    _CODE_ROLES,
    frozenset({Role.PHONE}),
    frozenset({Role.EMAIL}),
    frozenset({Role.NAME, Role.TEXT, Role.CATEGORY}),
    frozenset({Role.DATE, Role.TIMESTAMP}),
    frozenset({Role.ADDRESS, Role.TEXT}),
    frozenset({Role.AMOUNT, Role.CATEGORY}),
    frozenset({Role.MEDICAL, Role.TEXT, Role.CATEGORY}),
]


def compatible(a: Role, b: Role) -> bool:
    return a == b or any(a in f and b in f for f in _FAMILIES)


@dataclass(frozen=True)
class ColumnMatch:
    column: str | None  # the registry column, or None when unmapped
    role: Role  # the registry column's role when mapped, else the role inferred from the values
    confidence: float  # share of linked sample rows (or of sampled values) that agree
    method: str  # "rows" (row-aligned agreement), "values" (value overlap), "role" (by role alone) or "none"

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "role": str(self.role), "confidence": round(self.confidence, 3),
                "method": self.method}


@dataclass(frozen=True)
class ColumnMapping:
    dataset: str
    columns: dict[str, ColumnMatch]  # every leaked column, in file order
    link: tuple[str, str] | None  # (leaked, registry) identifier pair that aligned the sample
    link_overlap: float  # share of sampled link values found in the registry
    linked_sample: int  # sample rows aligned with a registry row
    sample: int

    @property
    def mapped(self) -> dict[str, str]:
        """Leaked column -> registry column, mapped columns only."""
        return {k: m.column for k, m in self.columns.items() if m.column is not None}

    @property
    def score(self) -> float:
        """How well the leak fits the dataset: used to pick the dataset when none is given."""
        return self.link_overlap + sum(m.confidence for m in self.columns.values() if m.column)

    def to_json(self) -> dict[str, Any]:
        return {k: m.to_json() for k, m in self.columns.items()}


def map_columns(
    con: duckdb.DuckDBPyConnection, leak: Table, dataset: DatasetInfo, versions_table: str, *,
    sample: int = SAMPLE, guesses: dict[str, RoleGuess] | None = None,
) -> ColumnMapping:
    """Map ``leak``'s columns to ``dataset``'s, whose every version is a row of ``versions_table``
    (``_key`` and the data columns, e.g. ``rows_peserta``)."""
    install(con)
    registry_sql = f"SELECT * FROM {versions_table}"
    guesses = guesses or infer_roles(con, leak.name, leak.columns)
    cols = [c for c in leak.columns if c in guesses]
    # The sample's lines are chosen on the narrow _line column first: sorting whole rows to keep
    # 2,000 of them took seconds at 10M rows.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_map_s AS SELECT * FROM {leak.name} WHERE _line IN (
                SELECT _line FROM {leak.name} ORDER BY hash(_line), _line LIMIT {int(sample)})"""
    )
    try:
        _sample_long(con, cols)
        link, overlap = _find_link(con, cols, guesses, dataset, registry_sql)
        matches: dict[str, ColumnMatch] = {}
        linked = 0
        if link is not None:
            linked, rates = _row_agreement(con, cols, dataset, versions_table, link)
            matches = _assign(rates, guesses, dataset, "rows", MIN_ROWS_AGREE)
        if not matches:
            rates = _value_overlap(con, cols, guesses, dataset, registry_sql)
            matches = _assign(rates, guesses, dataset, "values", MIN_VALUES_OVERLAP)
        _by_role(matches, cols, guesses, dataset)
    finally:
        con.execute("DROP TABLE IF EXISTS _jj_map_s; DROP TABLE IF EXISTS _jj_map_long")
    out = {
        c: matches.get(c) or ColumnMatch(None, guesses[c].role, 0.0, "none")
        for c in leak.columns if c in guesses
    }
    n = con.execute(f"SELECT least(count(*), {int(sample)}) FROM {leak.name}").fetchall()[0][0]
    log.info("mapped %d of %d leaked columns to %s (link overlap %.2f)", len(matches), len(cols), dataset.name,
             overlap)
    return ColumnMapping(dataset.name, out, link, overlap, linked, n)


def _find_link(
    con: duckdb.DuckDBPyConnection, cols: list[str], guesses: dict[str, RoleGuess], dataset: DatasetInfo,
    registry_sql: str,
) -> tuple[tuple[str, str] | None, float]:
    """The (leaked, registry) identifier pair whose sampled values are found most often.

    Codes (NIK, cards) are tried first: they are cheap to compare and unique to a person. E-mail and
    phone are tried only when no code links, because a family often shares one phone.
    """
    best: tuple[tuple[str, str] | None, float] = (None, 0.0)
    for family in (_CODE_ROLES, frozenset({Role.EMAIL}), frozenset({Role.PHONE})):
        pairs = [
            (lc, rc) for lc in cols if guesses[lc].role in family
            for rc in dataset.columns if dataset.roles.get(rc) in family
            and compatible(guesses[lc].role, dataset.roles[rc])
        ]
        for rc in dict.fromkeys(rc for _, rc in pairs):
            leaked = [lc for lc, r in pairs if r == rc]
            for lc, share in _overlap_with_registry(con, leaked, rc, dataset.roles[rc], registry_sql).items():
                # Prefer the dataset's key on a tie: it names exactly one row.
                rank = (share, rc == dataset.key)
                if rank > (best[1], best[0] is not None and best[0][1] == dataset.key):
                    best = ((lc, rc), share)
        if best[0] is not None and best[1] >= MIN_LINK_OVERLAP:
            return best
    return (None, best[1])


def _overlap_with_registry(
    con: duckdb.DuckDBPyConnection, leaked: list[str], rc: str, role: Role, registry_sql: str
) -> dict[str, float]:
    """Share of each leaked column's distinct sampled values present in registry column ``rc``."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_map_v AS SELECT DISTINCT lc AS col, v FROM (
                SELECT lc, {norm_sql(role, 'raw')} AS v FROM _jj_map_long WHERE list_contains(?, lc))
            WHERE v IS NOT NULL""",
        [leaked],
    )
    reg = registry_norm_sql(con, rc, role, registry_sql)
    # The tiny sample is the join's build side; the registry column is scanned once.
    rows = con.execute(
        f"""SELECT s.col, count(DISTINCT s.v) FROM ({reg}) r JOIN _jj_map_v s ON r.v = s.v GROUP BY s.col"""
    ).fetchall()
    totals = dict(con.execute("SELECT col, count(*) FROM _jj_map_v GROUP BY col").fetchall())
    con.execute("DROP TABLE IF EXISTS _jj_map_v")
    found = dict(rows)
    return {lc: found.get(lc, 0) / totals[lc] for lc in leaked if totals.get(lc)}


def registry_norm_sql(
    con: duckdb.DuckDBPyConnection, rc: str, role: Role, registry_sql: str, *, with_key: bool = False
) -> str:
    """SQL of the registry column's normalised values; raw when the stored values already are.

    Normalising every version of a 10M-row registry costs seconds; registry identifiers are usually
    stored clean, which a sample shows.
    """
    q = quote(rc)
    expr = norm_sql(role, q)
    dirty = con.execute(
        f"SELECT count(*) FROM (SELECT {q} AS x FROM ({registry_sql}) WHERE {q} IS NOT NULL LIMIT 10000) "
        f"WHERE {norm_sql(role, 'x')} IS DISTINCT FROM x"
    ).fetchall()[0][0]
    key = ", _key" if with_key else ""
    return f"SELECT {q if not dirty else expr} AS v{key} FROM ({registry_sql}) WHERE {q} IS NOT NULL"


def _row_agreement(
    con: duckdb.DuckDBPyConnection, cols: list[str], dataset: DatasetInfo, versions_table: str,
    link: tuple[str, str],
) -> tuple[int, dict[tuple[str, str], tuple[float, float]]]:
    """For sample rows linked through ``link``: per (leaked, registry) column, the share of rows whose
    values agree with some version of the linked row (normalised, and exact as a tie-breaker)."""
    lc, rc = link
    role = dataset.roles[rc]
    reg = registry_norm_sql(con, rc, role, f"SELECT * FROM {versions_table}", with_key=True)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_map_pairs AS
            SELECT DISTINCT s._line, r._key FROM _jj_map_s s
            JOIN ({reg}) r ON r.v = {norm_sql(role, 's.' + quote(lc))}"""
    )
    linked = con.execute("SELECT count(DISTINCT _line) FROM _jj_map_pairs").fetchall()[0][0]
    if not linked:
        return 0, {}
    # Long tables with every value's canonical form computed once; the pair comparison is then cheap.
    extra = "jj_norm_any(raw) AS v, jj_ts(raw) AS ts, jj_amount(raw) AS amt"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_map_l AS SELECT _line, lc, raw, {extra} FROM _jj_map_long
            WHERE NOT jj_blank(raw) AND _line IN (SELECT _line FROM _jj_map_pairs)"""
    )
    con.execute(
        # By row id: the semi-join reads the key column alone, then the few versions are fetched
        # whole (probing it with every column of every version took seconds at ten million).
        f"""CREATE OR REPLACE TEMP TABLE _jj_map_r AS SELECT *
            FROM {versions_table} WHERE rowid IN (
                SELECT rowid FROM {versions_table} WHERE _key IN (SELECT _key FROM _jj_map_pairs))"""
    )
    roles = [str(dataset.roles.get(c, Role.TEXT)) for c in dataset.columns]
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_map_rl AS SELECT _key, rc, raw, role, {extra}
            FROM {unpivot('_jj_map_r', dataset.columns, keep='_key', name='rc')}
            JOIN (SELECT unnest(?::VARCHAR[]) AS rc, unnest(?::VARCHAR[]) AS role) USING (rc)
            WHERE NOT jj_blank(raw)""",
        [dataset.columns, roles],
    )
    try:
        rows = con.execute(
            f"""WITH n AS (SELECT lc, count(DISTINCT _line) AS n FROM _jj_map_l GROUP BY lc),
                hits AS (
                    SELECT l.lc, r.rc, l._line,
                           bool_or(l.v = r.v
                                   OR (r.role = 'timestamp' AND CAST(l.ts AS DATE) = CAST(r.ts AS DATE)
                                       AND abs(epoch(l.ts) - epoch(r.ts)) <= {TS_NEAR})
                                   OR (r.role = 'amount' AND least(l.amt, r.amt) >= 991
                                       AND abs(l.amt - r.amt) <= 9)) AS norm,
                           bool_or(l.raw = r.raw) AS exact
                    FROM _jj_map_l l JOIN _jj_map_pairs p USING (_line) JOIN _jj_map_rl r ON r._key = p._key
                    GROUP BY l.lc, r.rc, l._line)
                SELECT hits.lc, rc, count(*) FILTER (WHERE norm) / any_value(n.n),
                       count(*) FILTER (WHERE exact) / any_value(n.n)
                FROM hits JOIN n USING (lc) GROUP BY hits.lc, rc"""
        ).fetchall()
    finally:
        con.execute(
            "DROP TABLE IF EXISTS _jj_map_r; DROP TABLE IF EXISTS _jj_map_pairs; DROP TABLE IF EXISTS _jj_map_l; "
            "DROP TABLE IF EXISTS _jj_map_rl"
        )
    return linked, {(lc_, rc_): (float(a), float(b)) for lc_, rc_, a, b in rows}


def _sample_long(con: duckdb.DuckDBPyConnection, cols: list[str]) -> None:
    """``_jj_map_long``: the sample's cells as (_line, lc, raw), non-NULL only, built once so that
    every later comparison is a filter on one long table, whatever the number of leaked columns."""
    if not cols:
        con.execute("CREATE OR REPLACE TEMP TABLE _jj_map_long (_line BIGINT, lc VARCHAR, raw VARCHAR)")
        return
    long = unpivot("_jj_map_s", cols, keep="_line", name="lc")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_map_long AS SELECT * FROM {long}")


def _value_overlap(
    con: duckdb.DuckDBPyConnection, cols: list[str], guesses: dict[str, RoleGuess], dataset: DatasetInfo,
    registry_sql: str,
) -> dict[tuple[str, str], tuple[float, float]]:
    """Fallback without a link column: share of distinct sampled values found in each compatible
    registry column (over every version)."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for rc in dataset.columns:
        role = dataset.roles.get(rc, Role.TEXT)
        leaked = [lc for lc in cols if compatible(guesses[lc].role, role)]
        if not leaked:
            continue
        for lc, share in _overlap_with_registry(con, leaked, rc, role, registry_sql).items():
            out[(lc, rc)] = (share, share)
    return out


def _assign(
    rates: dict[tuple[str, str], tuple[float, float]], guesses: dict[str, RoleGuess], dataset: DatasetInfo,
    method: str, minimum: float,
) -> dict[str, ColumnMatch]:
    """Greedy one-to-one pairing, best agreement first (exact agreement, then equal names, break ties)."""
    order = sorted(
        ((a, e, lc.lower() == rc.lower(), lc, rc) for (lc, rc), (a, e) in rates.items() if a >= minimum),
        key=lambda t: (t[0], t[1], t[2]), reverse=True,
    )
    taken: set[str] = set()
    out: dict[str, ColumnMatch] = {}
    for a, _e, _same, lc, rc in order:
        if lc in out or rc in taken:
            continue
        taken.add(rc)
        out[lc] = ColumnMatch(rc, dataset.roles.get(rc, guesses[lc].role), min(a, 1.0), method)
    return out


def _by_role(
    matches: dict[str, ColumnMatch], cols: list[str], guesses: dict[str, RoleGuess], dataset: DatasetInfo
) -> None:
    """Identifier columns whose values are not in the registry (a fabricated or foreign file) are
    still NIKs, card numbers, phones or e-mails: map them by role when exactly one free registry
    column has that role (for cards, the dataset's key first), so their rows can be judged."""
    taken = {m.column for m in matches.values()}
    for lc in cols:
        role = guesses[lc].role
        if lc in matches or role not in (Role.NIK, Role.CARD, Role.PHONE, Role.EMAIL):
            continue
        free = [rc for rc in dataset.columns if dataset.roles.get(rc) == role and rc not in taken]
        if role == Role.CARD and dataset.key in free:
            free = [dataset.key]
        if len(free) == 1:
            taken.add(free[0])
            matches[lc] = ColumnMatch(free[0], role, 0.0, "role")

