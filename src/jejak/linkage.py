"""Probabilistic record linkage for leaked rows that carry no surviving identifier.

A leaked row whose NIK, card number, e-mail and phone are gone (or re-typed beyond recognition)
can still be someone in the registry: the same name, birth date, sex, address and region. This
module links such rows with splink (Fellegi-Sunter with m/u probabilities learned from the data)
running on the investigation's own DuckDB connection, so nothing is copied out of DuckDB.

How it works (docs/investigation.md has the reasoning):

1. **Features.** Both sides are reduced to the same normalised feature columns in SQL: names
   upper-cased without punctuation, dates parsed from several formats, addresses in the shared
   normal form (``jj_addr_norm``), sex from a column whose values are a
   sex vocabulary (else from the NIK), region (regency code from the NIK when the leak has one,
   else the regency named after ``KAB``/``KOTA`` in the address), phone and e-mail normalised,
   other identifiers stripped of punctuation, a few categorical columns. Which registry columns
   are compared is decided from the roles and the values (cardinality), never from header names.
2. **Registry side: all versions.** A leak may be old; its address can match a version that has
   since been replaced. So every version is a candidate, de-duplicated on the compared features
   (versions that differ only in uncompared columns collapse), and the best version per key wins.
3. **Training.** u probabilities by random sampling of pairs; m probabilities by EM on blocking
   rules (date+region, name+region, name+date), on a leak sample sized so that each EM session
   scores at most ``EM_PAIR_BUDGET`` pairs. The prior that a random pair matches is 1/N for N
   registry keys: every leaked row given to this function is taken to be at most one person.
4. **Prediction.** Blocking rules that are tight at national scale (date of birth + region, name +
   region, name + date, date + first or last name word, name + address) keep the pair count near
   linear in the leak size. The best key per leaked line above ``threshold`` is returned.

The only tuned number is the match-probability cut-off ``threshold`` (default 0.9): a row is
linked when splink's posterior that the pair is the same person is at least 0.9.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb

from jejak.errors import JejakError
from jejak.registry import DatasetInfo, quote
from jejak.roles import Role

log = logging.getLogger(__name__)

#: EM sessions score at most this many pairs; the leak is sampled for training to stay below it.
EM_PAIR_BUDGET = 4_000_000
#: Pairs drawn at random to estimate the u probabilities: 100 per leaked row, within these bounds.
U_MIN_PAIRS = 100_000
U_MAX_PAIRS = 1_000_000
#: Registry rows read to judge a column's cardinality (names vs birthplaces, ids vs branch codes).
PROFILE_ROWS = 50_000
#: A prediction blocking rule may admit at most this many pairs per leaked row; wider rules are
#: tightened with the fields in TIGHTENERS, in order, or dropped.
#: Fewer unlinked rows than this are not linked probabilistically (too few to train on).
MIN_LEAK_ROWS = 20
#: Fields a leaked row must offer to be linked by probability (a name alone identifies no one).
MIN_FEATURES = 2
PAIRS_PER_ROW = 50
TIGHTENERS = ("sex", "region", "c1", "c2", "n1_first", "d1")
#: A feature is compared only when at least this share of the leaked rows has it.
MIN_PRESENT = 0.05
OUTPUT = "_jj_prob_links"
#: A name-role column less than this share as varied as the most varied one is a category (birthplace).
NAME_SHARE = 0.3

_SEX_MALE = ("L", "LK", "LAKI", "LAKI-LAKI", "LAKI LAKI", "PRIA", "M", "MALE")
_SEX_FEMALE = ("P", "PR", "PEREMPUAN", "WANITA", "W", "F", "FEMALE")

@dataclass
class Plan:
    """Which features are compared: SQL over the raw registry-named columns, or over other features."""

    features: dict[str, str] = field(default_factory=dict)  # feature -> SQL over raw columns
    derived: dict[str, str] = field(default_factory=dict)  # feature -> SQL over base features
    kinds: dict[str, str] = field(default_factory=dict)  # feature -> name|date|address|exact|id|helper

    def add(self, name: str, kind: str, sql: str, *, derived: bool = False) -> None:
        (self.derived if derived else self.features)[name] = sql
        self.kinds[name] = kind

    def has(self, name: str) -> bool:
        return name in self.kinds

    def drop(self, name: str) -> None:
        for d in (self.features, self.derived, self.kinds):
            d.pop(name, None)


@dataclass(frozen=True)
class LinkageStats:
    """What a run did, for benchmarks and the verdict's explanation (no personal data)."""

    features: dict[str, str]
    leak_rows: int
    registry_rows: int
    pairs_above_threshold: int
    pairs_blocked: int  # sum over prediction rules of the pairs each admits (an upper bound: rules overlap)
    linked: int
    seconds: float
    prior: float
    blocking_rules: list[str]


#: Statistics of the last run in this process (the benchmark and the verdict's explanation read them).
last_stats: LinkageStats | None = None


def link_probabilistic(
    con: duckdb.DuckDBPyConnection,
    *,
    leak: str,
    dataset: DatasetInfo,
    registry_sql: str,
    threshold: float = 0.9,
) -> str:
    """Link leaked rows to registry keys by name, birth date, sex, address and region.

    ``leak`` is a TEMP table with ``_line`` and registry-named VARCHAR columns holding the leaked
    raw text; ``registry_sql`` selects ``_key`` plus registry columns (pass every version, e.g.
    ``SELECT * EXCLUDE (_valid_from, _valid_to, _hash) FROM rows_<dataset>``, so outdated leaks
    link too). Returns the name of a TEMP table ``(_line BIGINT, _key VARCHAR, _match_p DOUBLE)``
    with the best key per line whose match probability is at least ``threshold``; statistics of
    the run are in :data:`last_stats`.
    """
    global last_stats
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be a probability strictly between 0 and 1")
    started = time.perf_counter()
    from jejak.validators import sql as vsql

    vsql.install(con)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {OUTPUT} (_line BIGINT, _key VARCHAR, _match_p DOUBLE)")
    leak_cols = {r[0] for r in con.execute(f"DESCRIBE {leak}").fetchall()}
    plan = plan_features(con, leak=leak, leak_columns=leak_cols, dataset=dataset, registry_sql=registry_sql)
    if not (plan.has("n1") or plan.has("d1")):
        log.info("probabilistic linkage skipped: the leak has neither a name nor a date column")
        return OUTPUT
    try:
        last_stats = _link(con, plan, leak=leak, registry_sql=registry_sql, threshold=threshold, started=started)
    finally:
        for t in ("_jj_lk_leak", "_jj_lk_reg", "_jj_lk_keys", "_jj_lk_sample"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    return OUTPUT


def _link(
    con: duckdb.DuckDBPyConnection, plan: Plan, *, leak: str, registry_sql: str, threshold: float, started: float
) -> LinkageStats | None:
    _build_features(con, plan, leak=leak, registry_sql=registry_sql)
    if not (plan.has("n1") or plan.has("d1")):
        log.info("probabilistic linkage skipped: (almost) no leaked row has a name or a date")
        return None
    compared = [f for f, kind in plan.kinds.items() if kind != "helper"]
    if len(compared) < MIN_FEATURES:
        # One field (a list of names) cannot tell two people of that name apart, and EM cannot
        # estimate a comparison it must also block on: such rows stay unlinked and are counted so.
        log.info("probabilistic linkage skipped: the leak has only one field to compare (%s)", ", ".join(compared))
        return None
    n_leak, n_reg, n_keys = con.execute(
        "SELECT (SELECT count(*) FROM _jj_lk_leak), (SELECT count(*) FROM _jj_lk_reg), "
        "(SELECT count(DISTINCT _key) FROM _jj_lk_keys)"
    ).fetchall()[0]
    if n_leak < MIN_LEAK_ROWS or n_reg == 0:
        # EM cannot estimate m-probabilities from a handful of rows (splink then writes SQL with
        # empty terms); such rows stay unlinked and are counted so.
        log.info("probabilistic linkage skipped: %d unlinked rows are too few to train a model", n_leak)
        return None
    prior = 1.0 / max(n_keys, 2)
    predict_rules, blocked = _tighten(con, plan, _prediction_rules(plan), budget=PAIRS_PER_ROW * n_leak)
    u_pairs = min(U_MAX_PAIRS, max(U_MIN_PAIRS, 100 * n_leak))
    try:
        pairs = _run_splink(con, plan, prior=prior, threshold=threshold, predict_rules=predict_rules,
                            u_pairs=u_pairs)
    except Exception as exc:  # splink's messages quote its SQL, which can hold leaked values
        raise JejakError(f"probabilistic linkage failed inside splink ({type(exc).__name__})") from None
    linked = con.execute(f"SELECT count(*) FROM {OUTPUT}").fetchall()[0][0]
    log.info("probabilistic linkage: %d of %d rows linked (%d pairs above the threshold)", linked, n_leak, pairs)
    return LinkageStats(
        features=dict(plan.kinds), leak_rows=n_leak, registry_rows=n_reg, pairs_above_threshold=pairs,
        pairs_blocked=blocked, linked=linked, seconds=time.perf_counter() - started, prior=prior,
        blocking_rules=predict_rules,
    )


# -- which features ------------------------------------------------------------------------------


def _name_sql(v: str) -> str:
    return (
        f"nullif(trim(regexp_replace(regexp_replace(regexp_replace(upper(strip_accents({v})), "
        r"'[''`]', '', 'g'), '[^A-Z0-9 ]', ' ', 'g'), '\s+', ' ', 'g')), '')"
    )


def date_sql(v: str) -> str:
    """A DATE from text in yyyy-mm-dd, dd/mm/yyyy, dd-mm-yyyy, dd.mm.yyyy or yyyymmdd (time part ignored).

    Day-first is assumed for d?/m?/yyyy because that is how Indonesian records are written.
    """
    t = f"trim({v})"
    ymd = r"'^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})'"
    dmy = r"'^([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]([0-9]{4})'"
    compact = r"'^([0-9]{4})([0-9]{2})([0-9]{2})$'"

    def mk(rx: str, y: int, m: int, d: int) -> str:
        return (
            f"try(make_date(regexp_extract({t}, {rx}, {y})::INTEGER, "
            f"regexp_extract({t}, {rx}, {m})::INTEGER, regexp_extract({t}, {rx}, {d})::INTEGER))"
        )

    return f"coalesce({mk(ymd, 1, 2, 3)}, {mk(dmy, 3, 2, 1)}, {mk(compact, 1, 2, 3)})"


def address_sql(v: str) -> str:
    """Normalised address text: the shared ``jj_addr_norm`` macro (``validators.sql.install``)."""
    return f"nullif(jj_addr_norm({v}), '')"


def _region_from_address(addr: str) -> str:
    return rf"nullif(regexp_extract({addr}, '\b(KAB|KOTA) ([A-Z ]+?)( [0-9]{{5}})?$', 2), '')"


def _sex_sql(v: str) -> str:
    male = ", ".join(f"'{s}'" for s in _SEX_MALE)
    female = ", ".join(f"'{s}'" for s in _SEX_FEMALE)
    u = f"upper(trim({v}))"
    return f"CASE WHEN {u} IN ({male}) THEN 'L' WHEN {u} IN ({female}) THEN 'P' END"


def _nik_sex_sql(v: str) -> str:
    d = f"TRY_CAST(substr({v}, 7, 2) AS INTEGER)"
    return f"CASE WHEN regexp_full_match({v}, '[0-9]{{16}}') THEN CASE WHEN {d} > 40 THEN 'P' ELSE 'L' END END"


def _profile(con: duckdb.DuckDBPyConnection, registry_sql: str, columns: list[str]) -> dict[str, tuple[float, float]]:
    """Per column: distinct share and sex-vocabulary share among non-empty values of a registry sample."""
    if not columns:
        return {}
    vocab = ", ".join(f"'{s}'" for s in _SEX_MALE + _SEX_FEMALE)
    parts = []
    for c in columns:
        q = quote(c)
        parts.append(
            f"count(DISTINCT {q}) / greatest(count({q}), 1), "
            f"avg(CASE WHEN {q} IS NULL OR trim({q}) = '' THEN NULL WHEN upper(trim({q})) IN ({vocab}) "
            "THEN 1.0 ELSE 0.0 END)"
        )
    row = con.execute(f"SELECT {', '.join(parts)} FROM ({registry_sql} LIMIT {PROFILE_ROWS})").fetchall()[0]
    return {c: (float(row[2 * i] or 0), float(row[2 * i + 1] or 0)) for i, c in enumerate(columns)}


def plan_features(
    con: duckdb.DuckDBPyConnection,
    *,
    leak: str,
    leak_columns: set[str],
    dataset: DatasetInfo,
    registry_sql: str,
) -> Plan:
    """Choose the compared features from the roles and the registry's values."""
    cols = [c for c in dataset.columns if c in leak_columns and c != "_line"]
    role = {c: dataset.roles.get(c, Role.TEXT) for c in cols}
    prof = _profile(con, registry_sql, [c for c in cols if role[c] in
                                         (Role.NAME, Role.CATEGORY, Role.IDENTIFIER, Role.CARD)])
    plan = Plan()
    # Person names are the most varied name-role columns; one far less varied (a birthplace) is a
    # category. Relative, because a distinct share depends on how many rows were profiled.
    top = max((prof[c][0] for c in cols if role[c] == Role.NAME), default=0.0)
    names = sorted((c for c in cols if role[c] == Role.NAME and prof[c][0] >= NAME_SHARE * top),
                   key=lambda c: -prof[c][0])
    for i, c in enumerate(names[:2], start=1):
        plan.add(f"n{i}", "name", _name_sql(quote(c)))
    if names:
        plan.add("n1_first", "helper", "split_part(n1, ' ', 1)", derived=True)
        plan.add("n1_last", "helper", "string_split(n1, ' ')[-1]", derived=True)
    dates = [c for c in cols if role[c] == Role.DATE]
    for i, c in enumerate(dates[:2], start=1):
        plan.add(f"d{i}", "date", date_sql(quote(c)))
    nik = next((c for c in cols if role[c] == Role.NIK), None)
    sex = next((c for c in cols if role[c] == Role.CATEGORY and prof[c][1] >= 0.95), None)
    if sex:
        plan.add("sex", "exact", _sex_sql(quote(sex)))
    elif nik:
        plan.add("sex", "exact", _nik_sex_sql(quote(nik)))
    addr = next((c for c in cols if role[c] == Role.ADDRESS), None)
    if addr:
        plan.add("addr", "address", address_sql(quote(addr)))
    if nik:
        plan.add("region", "exact", f"CASE WHEN regexp_full_match({quote(nik)}, '[0-9]{{16}}') "
                                    f"THEN substr({quote(nik)}, 1, 4) END")
    elif addr:
        plan.add("region", "exact", _region_from_address("addr"), derived=True)
    phone = next((c for c in cols if role[c] == Role.PHONE), None)
    if phone:
        plan.add("phone", "exact", f"jj_phone_norm({quote(phone)})")
    email = next((c for c in cols if role[c] == Role.EMAIL), None)
    if email:
        plan.add("email", "exact", f"jj_email_norm({quote(email)})")
    ids = [c for c in cols if role[c] in (Role.NIK, Role.NPWP)
           or role[c] in (Role.CARD, Role.IDENTIFIER) and prof[c][0] >= 0.5]
    for i, c in enumerate(ids[:2], start=1):
        plan.add(f"id{i}", "id", f"nullif(regexp_replace(upper({quote(c)}), '[^A-Z0-9]', '', 'g'), '')")
    # Low-cardinality columns (sex aside): birthplace, branch office, religion, status ... compared
    # exactly; EM decides how much each is worth. The most varied four are enough.
    cats = [c for c in cols if c != sex and (
        role[c] == Role.CATEGORY or role[c] == Role.NAME and c not in names
        or role[c] in (Role.IDENTIFIER, Role.CARD) and prof[c][0] < 0.5)]
    cats.sort(key=lambda c: -prof[c][0])
    for i, c in enumerate(cats[:4], start=1):
        plan.add(f"c{i}", "exact", f"nullif(upper(trim({quote(c)})), '')")
    return plan


def _build_features(con: duckdb.DuckDBPyConnection, plan: Plan, *, leak: str, registry_sql: str) -> None:
    """Feature tables for both sides; features (almost) no leaked row has are dropped from ``plan``.

    Derived features (name words, region from the address) are computed from the normalised
    columns in an outer SELECT, so each expensive normalisation runs once per row.
    """
    base = ", ".join(f"{sql} AS {name}" for name, sql in plan.features.items())
    der = "".join(f", {sql} AS {name}" for name, sql in plan.derived.items())
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _jj_lk_leak AS SELECT *{der} FROM "
        f"(SELECT _line AS unique_id, {base} FROM {leak})"
    )
    names = list(plan.kinds)
    shares = con.execute(
        "SELECT " + ", ".join(f"avg(CASE WHEN {f} IS NULL THEN 0.0 ELSE 1.0 END)" for f in names)
        + " FROM _jj_lk_leak"
    ).fetchall()[0]
    for f, share in zip(names, shares, strict=True):
        if share is None or share < MIN_PRESENT:  # they would only add noise to EM
            plan.drop(f)
    if not plan.has("n1"):
        plan.drop("n1_first")
        plan.drop("n1_last")
    kept = ", ".join(plan.kinds)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_lk_leak AS SELECT unique_id, {kept} FROM _jj_lk_leak")
    # Every version, collapsed to distinct feature tuples per key; unique_id indexes _jj_lk_keys.
    # (A kept derived feature's base is kept too: it is non-empty only where its base is.)
    base = ", ".join(f"{sql} AS {name}" for name, sql in plan.features.items())
    der = "".join(f", {sql} AS {name}" for name, sql in plan.derived.items())
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_lk_keys AS
            SELECT row_number() OVER () AS unique_id, * FROM
            (SELECT DISTINCT _key, {kept} FROM
             (SELECT *{der} FROM (SELECT _key, {base} FROM ({registry_sql}) r)))"""
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_lk_reg AS SELECT unique_id, {kept} FROM _jj_lk_keys")


# -- splink ----------------------------------------------------------------------------------------


def _comparisons(plan: Plan) -> list[Any]:
    import splink.comparison_library as cl

    out: list[Any] = []
    for name, kind in plan.kinds.items():
        if kind == "name" and name == "n1":
            out.append(_main_name_comparison(plan))
        elif kind == "name":
            out.append(cl.NameComparison(name))
        elif kind == "date":
            out.append(cl.DateOfBirthComparison(name, input_is_string=False))
        elif kind == "address":
            out.append(cl.JaroWinklerAtThresholds(name, [0.95, 0.88, 0.75]))
        elif kind == "id":
            out.append(cl.LevenshteinAtThresholds(name, [1, 2]))
        elif kind == "exact":
            out.append(cl.ExactMatch(name))
    return out


def _main_name_comparison(plan: Plan) -> Any:
    """The main name: exact (weighted by how common the name is), same words in another order,
    swapped with the second name column (given name typed as surname), then Jaro-Winkler bands."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    levels: list[Any] = [
        cll.NullLevel("n1"),
        cll.ExactMatchLevel("n1", term_frequency_adjustments=True),
        cll.CustomLevel(
            "list_sort(string_split(n1_l, ' ')) = list_sort(string_split(n1_r, ' '))", "same words, other order"
        ),
    ]
    if plan.has("n2"):
        levels.append(cll.ColumnsReversedLevel("n1", "n2", symmetrical=True))
    levels += [cll.JaroWinklerLevel("n1", t) for t in (0.92, 0.88, 0.7)]
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name="n1")


def _rule(*cols: str) -> str:
    return " AND ".join(f"l.{c} = r.{c}" for c in cols)


def _prediction_rules(plan: Plan) -> list[str]:
    """Blocking rules: each pair of strong features, so one typo in any field still leaves a rule."""
    has = plan.has
    rules: list[str] = []
    candidates = [
        ("d1", "region"), ("n1", "region"), ("n1", "d1"), ("d1", "n1_first"), ("d1", "n1_last"),
        ("n1", "addr"), ("d1", "addr"), ("d1", "c1"), ("n1", "c1"), ("n1", "n2"), ("d1", "n2"),
        ("phone",), ("email",), ("id1",),
    ]
    for cols in candidates:
        if all(has(c) for c in cols):
            rules.append(_rule(*cols))
    # Swapped name parts: given name typed where the surname goes, or words in another order.
    if has("d1") and has("n2"):
        rules.append("l.d1 = r.d1 AND l.n1 = r.n2")
    if has("d1") and has("n1_first"):
        rules.append("l.d1 = r.d1 AND l.n1_first = r.n1_last")
    if not rules:  # a leak with only a name, or only a date, and nothing else
        rules.append(_rule("n1") if has("n1") else _rule("d1"))
    return rules


def _tighten(con: duckdb.DuckDBPyConnection, plan: Plan, rules: list[str], *, budget: int) -> tuple[list[str], int]:
    """Keep every rule within ``budget`` pairs: add equalities on further fields while it admits
    more (at national scale a date of birth is shared by ~7,600 people, and a popular first name
    by hundreds of them), and drop a rule that stays too wide. Returns the rules and their pairs.
    """
    out: list[tuple[str, int]] = []
    narrowest: tuple[str, int] | None = None
    for rule in rules:
        n = _pairs(con, rule, "_jj_lk_leak")
        extra = [f for f in TIGHTENERS if plan.has(f) and f"l.{f} = " not in rule]
        while n > budget and extra:
            rule = f"{rule} AND l.{extra[0]} = r.{extra[0]}"
            extra = extra[1:]
            n = _pairs(con, rule, "_jj_lk_leak")
        if n <= budget:
            out.append((rule, n))
        else:
            log.info("a blocking rule admits %d pairs even when tightened; dropped", n)
        if narrowest is None or n < narrowest[1]:
            narrowest = (rule, n)
    if not out and narrowest is not None:  # never leave linkage without a rule
        out.append(narrowest)
    return [r for r, _ in out], sum(n for _, n in out)


def _training_rules(plan: Plan) -> list[str]:
    """EM sessions; between them every comparison is estimated at least once."""
    has = plan.has
    rules: list[str] = []
    region = ("region",) if has("region") else ()
    if has("d1"):
        rules.append(_rule("d1", *region))
    if has("n1"):
        rules.append(_rule("n1", *region) if region or not has("n2") else _rule("n1", "n2"))
    if has("n1") and has("d1") and (region or has("n2")):
        rules.append(_rule("n1", "d1"))
    return rules


def _pairs(con: duckdb.DuckDBPyConnection, rule: str, left: str) -> int:
    """How many pairs an equality blocking rule produces (sum over blocks of left × right)."""
    sides = [part.split(" = ") for part in rule.split(" AND ")]
    lcols, rcols = [a[2:] for a, _ in sides], [b[2:] for _, b in sides]
    keys = [f"k{i}" for i in range(len(sides))]

    def blocks(table: str, cols: list[str]) -> str:
        sel = ", ".join(f"{c} AS {k}" for c, k in zip(cols, keys, strict=True))
        nonnull = " AND ".join(f"{c} IS NOT NULL" for c in cols)
        return f"(SELECT {sel}, count(*) AS n FROM {table} WHERE {nonnull} GROUP BY ALL)"

    q = (f"SELECT coalesce(sum(a.n * b.n), 0) FROM {blocks(left, lcols)} a "
         f"JOIN {blocks('_jj_lk_reg', rcols)} b USING ({', '.join(keys)})")
    return int(con.execute(q).fetchall()[0][0])


def _settings(plan: Plan, prior: float, rules: list[str]) -> dict[str, Any]:
    return {
        "link_type": "link_only",
        "unique_id_column_name": "unique_id",
        "probability_two_random_records_match": prior,
        "comparisons": [c.get_comparison("duckdb").as_dict() for c in _comparisons(plan)],
        "blocking_rules_to_generate_predictions": rules,
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "additional_columns_to_retain": [],
    }


class _SplinkSpace:
    """splink writes its work tables into an attached in-memory database, not the registry file.

    The investigation's connection is read-only on the registry; splink creates ordinary tables,
    so the search path is pointed at a scratch catalog for the duration and restored afterwards.
    """

    CATALOG = "jj_splink"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.saved = ""

    def __enter__(self) -> _SplinkSpace:
        con = self.con
        self.saved = str(con.execute("SELECT current_setting('search_path')").fetchall()[0][0])
        default = str(con.execute("SELECT current_database()").fetchall()[0][0])
        con.execute(f"DETACH DATABASE IF EXISTS {self.CATALOG}")
        con.execute(f"ATTACH ':memory:' AS {self.CATALOG} (READ_WRITE)")
        path = [f"{self.CATALOG}.main", "temp.main", f'"{default}".main']
        con.execute(f"SET search_path = '{','.join(path)}'")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved:
            self.con.execute("SET search_path = ?", [self.saved])
        else:
            self.con.execute("RESET search_path")
        self.con.execute(f"DETACH DATABASE IF EXISTS {self.CATALOG}")


def _run_splink(
    con: duckdb.DuckDBPyConnection,
    plan: Plan,
    *,
    prior: float,
    threshold: float,
    predict_rules: list[str],
    u_pairs: int,
) -> int:
    from splink import DuckDBAPI, Linker

    # splink narrates every step at INFO and warns about its own defaults; keep that out of our logs.
    logging.getLogger("splink").setLevel(logging.ERROR)
    with _SplinkSpace(con):
        db = DuckDBAPI(con)
        # Train on a leak sample small enough that the widest EM session stays within budget.
        train = _training_rules(plan)
        widest = max((_pairs(con, r, "_jj_lk_leak") for r in train), default=0)
        share = min(1.0, EM_PAIR_BUDGET / max(widest, 1))
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _jj_lk_sample AS SELECT * FROM _jj_lk_leak "
            f"WHERE hash(unique_id) % 1000000 < {int(share * 1_000_000)}"
        )
        opts: dict[str, Any] = {"input_table_aliases": ["a_leak", "b_registry"], "set_up_basic_logging": False}
        trainer = Linker(["_jj_lk_sample", "_jj_lk_reg"], _settings(plan, prior, predict_rules), db, **opts)
        trainer.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=1)
        for rule in train:
            trainer.training.estimate_parameters_using_expectation_maximisation(rule)
        model = trainer.misc.save_model_to_json()
        model["probability_two_random_records_match"] = prior
        linker = Linker(["_jj_lk_leak", "_jj_lk_reg"], model, db, **opts)
        pred = linker.inference.predict(threshold_match_probability=threshold)
        # In link-only mode splink puts the first input on the left; check rather than assume.
        left_is_leak = con.execute(
            f"SELECT coalesce(bool_and(source_dataset_l = 'a_leak'), true) FROM {pred.physical_name}"
        ).fetchall()[0][0]
        line, uid = ("unique_id_l", "unique_id_r") if left_is_leak else ("unique_id_r", "unique_id_l")
        con.execute(
            f"""INSERT INTO {OUTPUT}
                SELECT _line, _key, _match_p FROM (
                    SELECT p.{line} AS _line, k._key, max(p.match_probability) AS _match_p
                    FROM {pred.physical_name} p JOIN _jj_lk_keys k ON k.unique_id = p.{uid}
                    GROUP BY ALL)
                QUALIFY row_number() OVER (PARTITION BY _line ORDER BY _match_p DESC, _key) = 1"""
        )
        pairs = int(con.execute(f"SELECT count(*) FROM {pred.physical_name}").fetchall()[0][0])
    return pairs
