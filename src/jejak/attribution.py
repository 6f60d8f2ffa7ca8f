"""Attribution: which release(s) a leak came from, each with a proven false-accusation bound.

For every release of the dataset in the ledger, the marks it *would* have put into the leaked rows
are recomputed from the master secret and compared with what the leak shows:

* rows in common: linked registry keys that are in the release's row set (its as-of date and
  filter, evaluated on the registry);
* per channel and marked column: the release's symbol ``PRF(channel key, row digest) mod m`` (``m``
  from the registry value at the release's as-of date). A format channel's cell *agrees* when the
  leak shows that rendering. A robust channel's cell is read by its *offset* — how far the leaked
  value lies from the registry's — and agrees at reading level ``k`` when the offset lies within
  the level's tolerance of the release's shift (``channel.base.LEVELS``: exact, within seconds,
  within a minute, within minutes), so a leaker who adds noise, randomises seconds or rounds to
  minutes does not erase the evidence, he only moves it to a coarser level.

Under innocence (the leak was made without the release's file) the release's symbols are
pseudo-random and independent of the leak, so a read cell agrees with probability exactly
``c/m`` (``c`` of its ``m`` allowed shifts fall in the window the leak shows), independently;
the number of agreements at each level has an exact upper tail (``jejak.tail``). The release's
p-value is the smallest over the levels times their number (Bonferroni), combined with its canary
evidence (Fisher), and times the number of releases tested is the false-accusation bound.
Everything that decides what is counted — the sample, the flattened format channels, the levels'
windows, which releases are tested — is a function of the leak, the registry and the ledger
alone, chosen before any release's symbols are looked at, so none of it can bias the bound.

See ``docs/attribution.md`` for the statistics in full.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from jejak import keys, unreleased
from jejak.channel import ts_jitter
from jejak.channel.base import LEVELS, NULL_INT, Channel, MarkPlan, Policy, Prepared, channels, q
from jejak.channel.canary import CanaryEvidence
from jejak.channel.canary import find as find_canaries
from jejak.ledger import Ledger, ReleaseRecord
from jejak.registry import DatasetInfo, Registry, table_name
from jejak.roles import Role
from jejak.tail import log10_tail
from jejak.validators import sql as vsql
from jejak.where import compile_filter

log = logging.getLogger(__name__)
Say = Callable[[str], None]

SAMPLE_ROWS = 50_000  # matched rows scored at most (a uniform sample beyond that)
ROWS_PER_RELEASE = 2_000  # rows in common used per release: ample power (thousands of digits), bounded cost
MATCHED = ("current", "outdated")
MIN_CARRIER_CELLS = 20  # readable robust cells below which the file says nothing about how it was altered
_SAMPLE = "_jj_attr_sample"
_GROUP = "_jj_attr_group"
_VERSIONS = "_jj_attr_versions"
_HASH_MUL = 2654435761  # Knuth's multiplicative hash: a documented, reproducible row sample
_GONE = NULL_INT  # an offset the leak does not show


@dataclass
class ChannelScore:
    read: int = 0
    agree: int = 0
    chance: float = 0.0  # agreements an innocent release would show on average (the sum of c/m)
    weight: float = 0.0  # sum of m over read cells (for the mean alphabet)
    flattened: bool = False
    columns: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"read": self.read, "agree": self.agree, "chance": round(self.chance, 2),
                "alphabet_mean": round(self.weight / self.read, 2) if self.read else None,
                "flattened": self.flattened, "columns": self.columns}


@dataclass
class LevelScore:
    """One reading level of a release: cells read (informative), agreeing, expected by chance, tail."""

    level: str
    read: int
    agree: int
    chance: float
    log10_p: float
    digits: float = 0.0  # -log10 of the chance that every read cell agrees: the most this level can show

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "read": self.read, "agree": self.agree, "chance": round(self.chance, 2),
                "log10_p": _rounded(self.log10_p), "digits_if_all_agree": round(self.digits, 2)}


@dataclass
class ReleaseScore:
    release_id: str
    recipient: str
    kind: str
    as_of: date
    created_at: datetime
    filter: str | None
    rows_in_common: int
    rows_in_common_estimated: bool
    rows_scored: int
    containment: float  # share of the leak's matched rows the release holds
    column_coverage: float  # share of the leak's mapped columns the release has
    time_consistency: float | None  # share of rows in common whose leaked values match the as-of version
    window_consistent: bool | None = None  # the as-of date's registry state lies in the dating window
    channels: dict[str, ChannelScore] = field(default_factory=dict)
    levels: list[LevelScore] = field(default_factory=list)
    level: str | None = None  # the reading level whose tail is the marks' evidence
    levels_tested: int = 0  # distinct reading levels (the marks' Bonferroni factor)
    canary_hits: int = 0
    canary_log10_p: float | None = None  # chance an innocent release's canaries occur as they do
    canary: dict[str, Any] | None = None  # the canary evidence (jejak.channel.canary.CanaryEvidence)
    log10_marks: float | None = None  # the marks' p-value, corrected for the levels tested
    log10_bound: float | None = None
    log10_p: float | None = None  # marks and canaries combined, before the multiple-testing correction
    suspect: bool = False
    named_by: list[str] = field(default_factory=list)
    reads_by_m: dict[int, int] = field(default_factory=dict)  # informative cells per alphabet, best level
    agrees: int = 0  # agreements at the best level

    @property
    def bound(self) -> float | None:
        return None if self.log10_bound is None else 10.0 ** self.log10_bound

    @property
    def rank(self) -> float:
        outside = 0.5 if self.window_consistent is False else 1.0
        return self.containment * self.column_coverage * (self.time_consistency or 1.0) * outside

    @property
    def covers(self) -> bool:
        """Its rows, columns and date cover the leak: it could have been the source."""
        return (self.containment >= 0.9 and self.column_coverage >= 0.999
                and (self.time_consistency is None or self.time_consistency >= 0.9)
                and self.window_consistent is not False)

    def coverage_json(self) -> dict[str, Any]:
        return {"release_id": self.release_id, "recipient": self.recipient, "kind": self.kind,
                "as_of": self.as_of.isoformat(), "containment": round(self.containment, 4),
                "column_coverage": round(self.column_coverage, 4),
                "time_consistency": None if self.time_consistency is None else round(self.time_consistency, 4),
                "window_consistent": self.window_consistent}

    def to_json(self) -> dict[str, Any]:
        return {
            "release_id": self.release_id, "recipient": self.recipient, "kind": self.kind,
            "as_of": self.as_of.isoformat(), "created_at": self.created_at.isoformat(),
            "rows_in_common": self.rows_in_common, "rows_in_common_estimated": self.rows_in_common_estimated,
            "rows_scored": self.rows_scored, "containment": round(self.containment, 4),
            "column_coverage": round(self.column_coverage, 4),
            "time_consistency": None if self.time_consistency is None else round(self.time_consistency, 4),
            "window_consistent": self.window_consistent,
            "channels": {k: v.to_json() for k, v in self.channels.items()},
            "level": self.level, "levels_tested": self.levels_tested,
            "levels": [lv.to_json() for lv in self.levels],
            "canary_hits": self.canary_hits, "canary_log10_p": _rounded(self.canary_log10_p),
            "canary": self.canary,
            "log10_marks": _rounded(self.log10_marks), "log10_bound": _rounded(self.log10_bound),
            "log10_p": _rounded(self.log10_p), "bound": self.bound, "suspect": self.suspect,
            "named_by": self.named_by,
        }


def _rounded(x: float | None) -> float | None:
    if x is None:
        return None
    return round(x, 3) if math.isfinite(x) else -1e308


@dataclass
class Attribution:
    verdict: str
    threshold: float
    tested: int
    suspects: list[str]
    releases: list[ReleaseScore]
    flattened_channels: list[str]
    explanation: str
    missing: str | None
    sample: dict[str, Any] = field(default_factory=dict)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    carriers: dict[str, Any] = field(default_factory=dict)
    unmarked: dict[str, Any] = field(default_factory=dict)  # the restoration bound (jejak.unreleased)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict, "threshold": self.threshold, "tested": self.tested,
            "suspects": self.suspects, "releases": [r.to_json() for r in self.releases],
            "flattened_channels": self.flattened_channels, "explanation": self.explanation,
            "missing": self.missing, "sample": self.sample, "candidates": self.candidates,
            "carriers": self.carriers, "unmarked": self.unmarked, "levels": list(LEVELS),
        }


# -- the entry point ---------------------------------------------------------------------------------


def attribute(
    con: duckdb.DuckDBPyConnection, *, registry: Registry, ledger: Ledger, master: bytes, dataset: DatasetInfo,
    linked: str = "_jj_linked", window: Any = None, threshold: float = 1e-6, say: Say = lambda _m: None,
    mapping: Any = None, releases: list[ReleaseRecord] | None = None, sample_rows: int = SAMPLE_ROWS,
    text: str | None = None, read_poorly: str | None = None,
) -> Attribution:
    """Score every release of ``dataset`` against the leak in ``linked``; see the module docstring.

    ``releases`` replaces the ledger's list (the evaluation harness scores simulated innocent
    releases this way); ``mapping`` is accepted for the investigation's call and not needed.
    ``text`` names a relation with ``_line`` and the leaked columns when ``linked`` is the narrow
    ``_jj_lk`` (the investigation's ``_jj_text``): the text of the few rows that need it is then
    joined by ``_line``. ``read_poorly`` says why the evidence could not be read well (most lines
    skipped, one column…): the verdict then never says the data is not ours.
    """
    del mapping
    _install_macros(con)
    recs = releases if releases is not None else ledger.releases(dataset=dataset.name)
    say(f"attribution: {len(recs):,} releases of {dataset.name} in the ledger")
    scorer = Scorer(con, registry=registry, dataset=dataset, linked=linked, master=master, sample_rows=sample_rows,
                    text=text)
    try:
        evidence = canary_hits(con, ledger, dataset, scorer.rows_with_text, scorer.leak_columns,
                               index_key=keys.canary_index_key(master)) if releases is None else {}
        scorer.prefetch(recs)
        scores = [s for r in recs if (s := scorer.score(r, keep=r.release_id in evidence)) is not None]
        # Every release whose canaries were looked for is a test too (none of them might be scored).
        searched = max((e.tested for e in evidence.values()), default=0)
        tested = max(sum(1 for s in scores if s.kind == "marked"), searched)
        for s in scores:
            _name(s, evidence.get(s.release_id), tested, threshold)
        scorer.exact_rows(s for s in scores if s.suspect)
        _in_window(scorer, scores, window)
        scores.sort(key=_order)
        restored = scorer.restoration({r.release_id: r for r in recs}, scores, threshold)
        return _verdict(scorer, scores, tested, threshold, window, restored, read_poorly)
    finally:
        scorer.close()


def _name(s: ReleaseScore, canaries: CanaryEvidence | None, tested: int, threshold: float) -> None:
    """The release's p-value — its marks and its canaries combined (Fisher: independent under
    innocence, from separate branches of the release secret) — and bound; a suspect when the bound
    is within the threshold. ``named_by`` says which evidence alone would have sufficed."""
    s.canary_hits = canaries.canaries if canaries else 0
    s.canary = canaries.to_json() if canaries else None
    if s.kind != "marked":
        return
    s.canary_log10_p = canaries.log10_p if canaries else None
    parts = [p for p in (s.log10_marks, s.canary_log10_p) if p is not None]
    s.log10_p = fisher(parts) if parts else 0.0
    correction, limit = math.log10(max(tested, 1)), math.log10(threshold)
    s.log10_bound = min(0.0, s.log10_p + correction) if math.isfinite(s.log10_p) else -math.inf
    if s.log10_marks is not None and s.log10_marks + correction <= limit:
        s.named_by.append("marks")
    if s.canary_log10_p is not None and s.canary_log10_p + correction <= limit:
        s.named_by.append("canary")
    if not s.named_by and s.log10_bound <= limit:
        s.named_by.append("marks and canaries")
    s.suspect = bool(s.named_by)


def fisher(log10_ps: list[float]) -> float:
    """log10 of Fisher's combination of independent p-values (exact for two or more; valid for
    super-uniform ones, which ours are): P[chi2(2k) >= -2 sum ln p]."""
    if len(log10_ps) == 1:
        return log10_ps[0]
    x = -2.0 * math.log(10) * sum(log10_ps)  # -2 sum ln p
    if not math.isfinite(x):
        return -math.inf
    k = len(log10_ps)
    # P[chi2(2k) >= x] = exp(-x/2) * sum_{i<k} (x/2)^i / i!, in logs
    terms = [i * math.log(x / 2) - math.lgamma(i + 1) if x > 0 else (0.0 if i == 0 else -math.inf)
             for i in range(k)]
    top = max(terms)
    log_p = -x / 2 + top + math.log(sum(math.exp(t - top) for t in terms))
    return min(0.0, log_p / math.log(10))


def _install_macros(con: duckdb.DuckDBPyConnection) -> None:
    found = con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'jj_phone_norm'").fetchall()
    if not found[0][0]:
        vsql.install(con)


@lru_cache(maxsize=4096)
def _filter_sql(where: str, columns: tuple[str, ...]) -> str:
    return compile_filter(where, list(columns))


@lru_cache(maxsize=1 << 16)
def _tail(reads: tuple[tuple[tuple[int, int], int], ...], agrees: int) -> float:
    """log10 P[X >= agrees] for cells read with chance c/m each; releases scored on the same cells share
    their reads, so cached."""
    groups: dict[float, int] = {}
    for (c, m), n in reads:
        groups[c / m] = groups.get(c / m, 0) + n
    return log10_tail(groups, agrees)


def _order(s: ReleaseScore) -> tuple[float, ...]:
    """Suspects (strongest first), then registered releases by fit (they could not be tested), then
    the other marked releases: tested, and not agreeing beyond chance."""
    if s.suspect:
        return (0.0, -s.canary_hits, s.log10_bound if s.log10_bound is not None else 0.0, -s.rank)
    if s.kind == "registered":
        return (1.0, -s.rank, 0.0, 0.0)
    return (2.0, s.log10_bound if s.log10_bound is not None else 0.0, -s.rank, 0.0)


# -- scoring -----------------------------------------------------------------------------------------


@lru_cache(maxsize=1 << 14)
def _release_secret(master: bytes, release_id: str) -> bytes:
    return keys.release_secret(master, release_id)


@dataclass
class _Cells:
    """One marked column's read cells among a release's scored rows, and at each level what an innocent
    release's agreements there are made of (all of it free of any secret, shared by every release
    scored on the same rows)."""

    channel: Channel
    column: str
    flattened: bool
    mark: int  # index in the release's MarkPlan (its symbols are ``_s{mark}``)
    rows: np.ndarray  # positions of the read cells among the scored rows
    m: np.ndarray  # alphabet per read cell
    obs: np.ndarray | None = None  # format channels: the rendering the leak shows
    off_lo: np.ndarray | None = None  # robust channels: the offsets the leak shows, [off_lo, off_hi]
    off_hi: np.ndarray | None = None
    lo: np.ndarray | None = None  # robust channels: the lowest allowed shift (for ``Channel.shift``)
    null: list[np.ndarray] = field(default_factory=list)  # per level: allowed shifts inside the window
    inf: list[np.ndarray] = field(default_factory=list)  # per level: cells that can agree and need not
    per_m: list[dict[int, int]] = field(default_factory=list)  # per level: informative cells per alphabet
    chance: list[float] = field(default_factory=list)  # per level: the sum of c/m over informative cells
    weight: list[float] = field(default_factory=list)  # per level: the sum of m over informative cells

    def summarise(self) -> None:
        for k in range(len(LEVELS)):
            if self.off_lo is None:
                inf, c = np.ones(len(self.rows), dtype=bool), np.ones(len(self.rows), dtype=np.int64)
            else:
                inf, c = (self.null[k] > 0) & (self.null[k] < self.m), self.null[k]
            self.inf.append(inf)
            mv, counts = np.unique(self.m[inf], return_counts=True)
            self.per_m.append({int(a): int(b) for a, b in zip(mv, counts, strict=True)})
            self.chance.append(float((c[inf] / self.m[inf]).sum()))
            self.weight.append(float(self.m[inf].sum()))


@dataclass
class _Plan:
    """A release's read cells and, per level, what an innocent release's agreements are made of."""

    plan: MarkPlan
    prepared: Prepared
    digests: np.ndarray
    cells: list[_Cells]
    reads: list[tuple[tuple[tuple[int, int], int], ...]]  # per level: ((c, m), cells) of counted cells
    distinct: list[int]  # the levels that are distinct tests (same cells and windows count once)
    levels: dict[int, tuple[int, float, float]] = field(default_factory=dict)  # read, chance, digits


@dataclass
class _Group:
    """The registry at one snapshot, for the sampled rows: row presence, filters, cells."""

    snapshot: date
    table: str
    present: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    masks: dict[str | None, np.ndarray] = field(default_factory=dict)
    cells: dict[tuple[str, str, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    offsets: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """A relation's column names by their case-folded form: DuckDB resolves names without case, and a
    view keeps a source column's own spelling when it is renamed only in case (``nik AS NIK``)."""
    return {r[0].casefold(): r[0] for r in con.execute(f"DESCRIBE {relation}").fetchall()}


class Scorer:
    """Holds the sampled matched rows of a leak and scores releases against them."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, registry: Registry, dataset: DatasetInfo, linked: str,
                 master: bytes, sample_rows: int = SAMPLE_ROWS, text: str | None = None) -> None:
        self.con, self.registry, self.dataset, self.linked, self.master = con, registry, dataset, linked, master
        self.text = text or linked
        own = _columns(con, linked)
        have = dict(own)
        #: ``linked`` with the leaked text (a relation to select from).
        self.rows_with_text = linked
        if text:
            have |= {k: v for k, v in _columns(con, text).items() if k not in own}
            shown = "".join(f", t.{q(c)}" for c in dataset.columns if c.casefold() in have and c.casefold() not in own)
            self.rows_with_text = f"(SELECT k.*{shown} FROM {linked} k JOIN {text} t USING (_line))"
        # Column names never decide whether evidence is read: compared as DuckDB compares them.
        self.leak_columns = [c for c in dataset.columns if c.casefold() in have]
        self._leak_set = set(self.leak_columns)
        # The leaked cells a channel reads (``_l_*`` of a group): the sample carries no others.
        marked_roles = {r for ch in channels().values() for r in ch.roles}
        self._read_columns = [c for c in self.leak_columns if dataset.roles.get(c) in marked_roles]
        self._has_dup = "_dup" in have
        self.has_versions = "_from" in have and "_to" in have
        self._overview(set(have))
        self._sample(sample_rows)
        self.groups: dict[date, _Group] = {}
        self._plans: dict[tuple[Any, ...], _Plan] = {}
        self._versions = False
        self._facts: dict[tuple[Any, ...], tuple[MarkPlan, pa.Table]] = {}
        self.flattened: dict[tuple[str, str], bool] = {}
        self.carriers: dict[str, Any] = {}
        self._priors: dict[tuple[str, str], unreleased.Prior] | None = None
        self._decide_flattened()

    def close(self) -> None:
        for g in self.groups.values():
            self.con.execute(f"DROP TABLE IF EXISTS {g.table}")
        self.con.execute(f"DROP TABLE IF EXISTS {_SAMPLE}; DROP TABLE IF EXISTS {_VERSIONS}")

    # the leak --------------------------------------------------------------------------------------

    def _overview(self, have: set[str]) -> None:
        """Row counts; ``agreeing``: matched rows whose other cells mostly agree with the registry
        (a fabricated row that hits a real NIK by chance does not)."""
        matched = ", ".join(f"'{c}'" for c in MATCHED)
        agree = "(_compared = 0 OR 2 * _agree >= _compared)" if {"_agree", "_compared"} <= have else "true"
        row = self.con.execute(
            f"""SELECT count(*), count(*) FILTER (WHERE _class IN ({matched}) AND _key IS NOT NULL),
                       count(*) FILTER (WHERE _class = 'canary'), 0,
                       count(*) FILTER (WHERE _class IN ({matched}) AND {agree}),
                       count(*) FILTER (WHERE _class = 'fabricated'), count(*) FILTER (WHERE _class = 'unlinked')
                FROM {self.linked}"""
        ).fetchall()[0]
        self.rows, self.matched, self.canary_rows, approx, self.agreeing, self.foreign, self.unlinked = (
            int(x or 0) for x in row)
        if self.matched <= 1_000_000:
            approx = self.con.execute(
                f"SELECT count(DISTINCT _key) FROM {self.linked} WHERE _class IN ({matched})").fetchall()[0][0]
        elif "_dup" in have:  # a repeat of an earlier row's identity: first occurrences count people
            approx = self.con.execute(
                f"SELECT count(*) FROM {self.linked} WHERE _class IN ({matched}) AND NOT _dup").fetchall()[0][0]
        self.genuine = int(approx or 0)

    def _sample(self, size: int) -> None:
        """A uniform, reproducible sample of matched rows, one per key (repeats would not be independent).

        Rows are ordered by ``(_line mod 2^32) * 2654435761 mod 2^32``, a function of the line number
        alone, so the sample is fixed by the leak and independent of every release secret.
        """
        matched = ", ".join(f"'{c}'" for c in MATCHED)
        cut = 1 << 32 if self.matched <= size else min(1 << 32, int((1 << 32) * 2.0 * size / self.matched) + 1)
        h = f"((_line % 4294967296)::UBIGINT * {_HASH_MUL}) % 4294967296"
        # Only the columns a channel reads: the sampled lines' text is joined from the leak table,
        # which at ten million rows has spilled, and DuckDB reads every column it is asked for
        # of every row to probe the join (25 columns took 10 s where the 6 read take a third).
        cols = "".join(f", t.{q(c)} AS {q(c)}" for c in self._read_columns)
        vers = ", _from, _to" if self.has_versions else ", NULL::DATE AS _from, NULL::DATE AS _to"
        # The sample is chosen on narrow columns; only its rows' text is then read (by _line).
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_SAMPLE} AS
                WITH c AS (SELECT _line, _key{vers}, {h} AS _h FROM {self.linked}
                           WHERE _key IS NOT NULL AND _class IN ({matched}) AND {h} < {cut}),
                     d AS (SELECT *, row_number() OVER (PARTITION BY _key ORDER BY _h) AS _r FROM c),
                     s AS (SELECT row_number() OVER (ORDER BY _h, _key) - 1 AS _i, _line, _key, _from, _to, _h
                           FROM d WHERE _r = 1 ORDER BY _h, _key LIMIT {int(size)})
                SELECT s._i, s._key, s._from, s._to{cols}, {keys.digest_sql(self.dataset.name, 's._key')} AS _digest
                FROM s JOIN {self.text} t ON t._line = s._line ORDER BY s._i"""
        )
        col = self.con.sql(f"SELECT _digest FROM {_SAMPLE} ORDER BY _i").to_arrow_table().column(0)
        col = col.combine_chunks()
        self.n = len(col)
        raw = np.frombuffer(col.buffers()[2], dtype=np.uint8) if self.n else np.zeros(0, np.uint8)
        self.digests = raw[: self.n * keys.DIGEST_BYTES].reshape(self.n, keys.DIGEST_BYTES)
        self.sampled = self.n < self.genuine
        f, t = self.con.sql(f"SELECT _from, _to FROM {_SAMPLE} ORDER BY _i").to_arrow_table().columns
        self.v_from = np.asarray(f.cast(pa.int32()).fill_null(-(2**31)).to_numpy(), dtype=np.int64)
        self.v_to = np.asarray(t.cast(pa.int32()).fill_null(2**31 - 1).to_numpy(), dtype=np.int64)
        self.v_known = np.asarray(f.is_valid().to_numpy(zero_copy_only=False), dtype=bool)

    # the registry at a release's date ------------------------------------------------------------------

    def snapshot_of(self, as_of: date) -> date | None:
        used = [d for d in self.dataset.snapshots if d <= as_of]
        return used[-1] if used else None

    def group(self, snapshot: date) -> _Group:
        g = self.groups.get(snapshot)
        if g is None:
            if not self._versions:
                # Every version of the sampled keys, once: each snapshot then reads this small table
                # instead of scanning the registry again.
                # Found by their row ids: the semi-join reads only the key column of every version,
                # and DuckDB then fetches the few rows whole (reading every column of every version
                # to probe the join took three times as long at ten million people).
                t = table_name(self.dataset.name)
                self.con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE {_VERSIONS} AS SELECT * FROM {t} WHERE rowid IN (
                            SELECT rowid FROM {t} WHERE _key IN (SELECT _key FROM {_SAMPLE}))""")
                self._versions = True
            d = f"DATE '{snapshot.isoformat()}'"
            reg = f"SELECT * FROM {_VERSIONS} WHERE _valid_from <= {d} AND (_valid_to IS NULL OR _valid_to > {d})"
            regcols = ", ".join(f"r.{q(c)}" for c in self.dataset.columns)
            leaked = "".join(f", s.{q(c)} AS {q('_l_' + c)}" for c in self._read_columns)
            g = _Group(snapshot, f"{_GROUP}_{snapshot:%Y%m%d}")
            self.con.execute(
                f"""CREATE OR REPLACE TEMP TABLE {g.table} AS
                    SELECT s._i, r._key IS NOT NULL AS _present, {regcols}{leaked}
                    FROM {_SAMPLE} s LEFT JOIN ({reg}) r ON r._key = s._key ORDER BY s._i"""
            )
            self.groups[snapshot] = g
            g.present = self._column(g, "_present").astype(bool)
        return g

    def _column(self, g: _Group, expr: str) -> np.ndarray:
        arr = self.con.sql(f"SELECT {expr} FROM {g.table} ORDER BY _i").to_arrow_table().column(0)
        return np.asarray(arr.combine_chunks().to_numpy(zero_copy_only=False))

    def mask(self, g: _Group, where: str | None) -> np.ndarray:
        if where not in g.masks:
            if where is None:
                g.masks[where] = g.present
            else:
                cond = _filter_sql(where, tuple(self.dataset.columns))
                g.masks[where] = g.present & self._column(g, f"coalesce(({cond}), false)").astype(bool)
        return g.masks[where]

    def prefetch(self, recs: list[ReleaseRecord]) -> None:
        """Every release filter's row mask, a few hundred filters per query (one query each is slow)."""
        wanted: dict[date, set[str]] = {}
        for r in recs:
            snap = self.snapshot_of(r.as_of)
            if snap is not None and r.filter:
                wanted.setdefault(snap, set()).add(r.filter)
        for snap, filters in wanted.items():
            g = self.group(snap)
            todo = sorted(f for f in filters if f not in g.masks)
            for i in range(0, len(todo), 200):
                chunk = todo[i:i + 200]
                exprs = ", ".join(f"coalesce(({_filter_sql(f, tuple(self.dataset.columns))}), false) AS f{j}"
                                  for j, f in enumerate(chunk))
                got = self.con.sql(f"SELECT {exprs} FROM {g.table} ORDER BY _i").to_arrow_table()
                for j, f in enumerate(chunk):
                    col = np.asarray(got.column(j).to_numpy(zero_copy_only=False), dtype=bool)
                    g.masks[f] = g.present & col

    def cells(self, g: _Group, ch: Channel, column: str, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
        """A format channel's (m, observed rendering) for every sampled row: observed -1 when unreadable."""
        k = (ch.name, column, policy.jitter_seconds)
        if k not in g.cells:
            v, leaked = q(column), q("_l_" + column)
            markable, observed = ch.markable_sql(v, policy), ch.observe_sql(leaked, v, policy)
            got = self.con.sql(
                f"SELECT coalesce(({markable}), 0), coalesce(({observed}), -1) FROM {g.table} ORDER BY _i"
            ).to_arrow_table()
            m, obs = (np.asarray(c.combine_chunks().to_numpy(zero_copy_only=False)) for c in got.columns)
            g.cells[k] = (np.where(g.present, m.astype(np.int64), 0), obs.astype(np.int64))
        return g.cells[k]

    def offsets(self, g: _Group, ch: Channel, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A robust channel's offset interval ``[lo, hi]`` for every sampled row (``_GONE`` when the leak
        does not show it) and the registry value's residue (seconds, last digit; -1 when none)."""
        k = (ch.name, column)
        if k not in g.offsets:
            v, leaked = q(column), q("_l_" + column)
            sql = ch.offset_sql(leaked, v)
            assert sql is not None
            residue = ch.residue_sql(v) or "NULL"
            got = self.con.sql(
                f"SELECT coalesce(({sql[0]}), {_GONE}), coalesce(({sql[1]}), {_GONE}), coalesce(({residue}), -1) "
                f"FROM {g.table} ORDER BY _i"
            ).to_arrow_table()
            lo, hi, res = (np.asarray(c.combine_chunks().to_numpy(zero_copy_only=False), dtype=np.int64)
                           for c in got.columns)
            gone = ~g.present
            g.offsets[k] = (np.where(gone, _GONE, lo), np.where(gone, _GONE, hi), res)
        return g.offsets[k]

    # flattened format channels, and what the carriers show --------------------------------------------

    def _decide_flattened(self) -> None:
        """A format channel is flattened when the leak shows no renderings, or only one: decided from the
        leak alone. Robust channels are never excluded — noise only moves their evidence to a coarser
        level — but how the leak's values relate to the registry's is summarised (``carriers``).

        The decisions use the registry at the newest snapshot and the leaked text, never a release's
        symbols, so excluding a flattened channel cannot change any release's null distribution.
        """
        if not self.dataset.snapshots or self.n == 0:
            return
        g = self.group(self.dataset.snapshots[-1])
        policy = Policy()
        for ch in channels().values():
            for col in self.leak_columns:
                if self.dataset.roles.get(col) not in ch.roles:
                    continue
                if ch.robust:
                    self._carrier(g, ch, col, policy)
                    continue
                m, obs = self.cells(g, ch, col, policy)
                markable = int(np.sum(m >= 2))
                reads = obs[(m >= 2) & (obs >= 0)]
                top = int(np.bincount(reads).max()) if len(reads) else 0
                self.flattened[(ch.name, col)] = markable >= 8 and (
                    len(reads) < 0.5 * markable or (len(reads) >= 8 and top >= 0.9 * len(reads)))
        self.reference = g

    def _carrier(self, g: _Group, ch: Channel, col: str, policy: Policy) -> None:
        m = self._column(g, f"coalesce(({ch.markable_sql(q(col), policy)}), 0)").astype(np.int64)
        lo, hi, _ = self.offsets(g, ch, col)
        markable = g.present & (m >= 2)
        readable = markable & (lo != _GONE)
        exact = readable & (lo == 0) & (hi == 0)
        d = self.carriers.setdefault(ch.name, {"columns": [], "markable": 0, "readable": 0, "exact": 0,
                                               "moved": 0, "minute_only": 0, "unit": ch.unit})
        d["columns"].append(col)
        d["markable"] += int(markable.sum())
        d["readable"] += int(readable.sum())
        d["exact"] += int(exact.sum())
        d["moved"] += int((readable & ~exact).sum())
        d["minute_only"] += int((readable & (hi > lo)).sum())

    def flattened_channels(self) -> list[str]:
        return sorted({c for (c, _), f in self.flattened.items() if f})

    # one release ----------------------------------------------------------------------------------------

    def score(self, rec: ReleaseRecord, *, keep: bool = False) -> ReleaseScore | None:
        """Score one release; None when it shares no rows or no columns with the leak (pruned),
        unless ``keep`` (a release whose canaries are in the leak is always reported)."""
        common_cols = [c for c in rec.columns if c in self._leak_set]
        snap = self.snapshot_of(rec.as_of)
        g = self.group(snap) if snap is not None and self.n else None
        mask = self.mask(g, rec.filter) if g is not None and common_cols else np.zeros(self.n, dtype=bool)
        in_common = int(mask.sum())
        if in_common == 0 or g is None:
            if not keep:
                return None
            return ReleaseScore(
                release_id=rec.release_id, recipient=rec.recipient, kind=rec.kind, as_of=rec.as_of,
                created_at=rec.created_at, filter=rec.filter, rows_in_common=0, rows_in_common_estimated=False,
                rows_scored=0, containment=0.0, column_coverage=len(common_cols) / max(len(self.leak_columns), 1),
                time_consistency=None)
        idx = np.flatnonzero(mask)[:ROWS_PER_RELEASE]
        est = round(in_common * self.genuine / self.n) if self.sampled else in_common
        as_of = _day(rec.as_of)
        known = self.v_known[idx]
        consistent = (self.v_from[idx] <= as_of) & (as_of < self.v_to[idx])
        s = ReleaseScore(
            release_id=rec.release_id, recipient=rec.recipient, kind=rec.kind, as_of=rec.as_of,
            created_at=rec.created_at, filter=rec.filter, rows_in_common=est, rows_in_common_estimated=self.sampled,
            rows_scored=len(idx) if rec.kind == "marked" else 0, containment=in_common / self.n,
            column_coverage=len(common_cols) / len(self.leak_columns),
            time_consistency=float(consistent[known].mean()) if known.any() else None,
        )
        if rec.kind == "marked":
            self._marks(s, rec, g, idx, common_cols)
        return s

    def _marks(self, s: ReleaseScore, rec: ReleaseRecord, g: _Group, idx: np.ndarray, cols: list[str]) -> None:
        """Expected symbols from the release's own MarkPlan (the code that marked it), compared with the leak
        at every reading level; the smallest tail, corrected for the distinct levels, is the marks' p-value.

        Joint timestamp groups (policy 2 and later) carry one symbol: one observation per group and row.
        Only the symbols depend on the release's secret; everything else comes from the shared plan.
        """
        p = self._plan(rec, g, idx, cols)
        symbols = p.plan.symbols_prepared(p.prepared, p.digests, _release_secret(self.master, rec.release_id))
        agree = np.zeros((len(LEVELS), len(p.cells)), dtype=np.int64)
        for j, c in enumerate(p.cells):
            sym = symbols[f"_s{c.mark}"][c.rows]
            if c.off_lo is None:
                agree[:, j] = np.count_nonzero(sym == c.obs)
                continue
            assert c.off_hi is not None and c.lo is not None
            d = c.channel.shift(sym, c.lo)
            for k, tol in enumerate(c.channel.tolerances):
                agree[k, j] = np.count_nonzero(c.inf[k] & (c.off_lo - tol <= d) & (d <= c.off_hi + tol))
        counted = np.array([not c.flattened for c in p.cells], dtype=bool)
        totals = (agree * counted).sum(axis=1) if len(p.cells) else np.zeros(len(LEVELS), dtype=np.int64)
        tails = {k: _tail(p.reads[k], int(totals[k])) for k in p.distinct}
        best = min(p.distinct, key=lambda k: (tails[k], k)) if p.distinct else 0
        s.levels = [LevelScore(LEVELS[k], p.levels[k][0], int(totals[k]), p.levels[k][1], tails[k], p.levels[k][2])
                    for k in p.distinct]
        s.levels_tested = len(p.distinct)
        if p.distinct:
            s.level = LEVELS[best]
            s.log10_marks = min(0.0, tails[best] + math.log10(len(p.distinct)))
            s.agrees = int(totals[best])
        for j, c in enumerate(p.cells):
            cs = s.channels.setdefault(c.channel.name, ChannelScore())
            cs.columns.append(c.column)
            cs.flattened = cs.flattened or c.flattened
            cs.read += int(sum(c.per_m[best].values()))
            cs.agree += int(agree[best, j])
            cs.chance += c.chance[best]
            cs.weight += c.weight[best]
            if not c.flattened:
                for a, b in c.per_m[best].items():
                    s.reads_by_m[a] = s.reads_by_m.get(a, 0) + b

    def _plan(self, rec: ReleaseRecord, g: _Group, idx: np.ndarray, cols: list[str]) -> _Plan:
        """The read cells of a release, shared by every release with the same rows, columns and policy."""
        policy = Policy.from_dict(rec.policy)
        key = (g.snapshot, rec.filter, tuple(rec.columns), json.dumps(rec.policy, sort_keys=True))
        cached = self._plans.get(key)
        if cached is not None:
            return cached
        fkey = (g.snapshot, tuple(rec.columns), key[3])
        if fkey not in self._facts:  # the registry facts of every sampled row, once per column set
            roles = {c: r for c, r in self.dataset.roles.items() if c in rec.columns}
            plan = MarkPlan.of(roles, policy)
            sel = ", ".join(plan.facts_sql()) or "NULL AS _none"
            self._facts[fkey] = (plan, self.con.sql(f"SELECT {sel} FROM {g.table} ORDER BY _i").to_arrow_table())
        plan, every = self._facts[fkey]
        facts = every.take(pa.array(idx))
        digests = np.ascontiguousarray(self.digests[idx])
        prepared = plan.prepare(facts)
        joint = self._joint(plan, prepared, policy)
        seen: dict[str, np.ndarray] = {}
        cells: list[_Cells] = []
        for i, (ch, col) in enumerate(plan.marks):
            if col not in cols:
                continue
            cells_i = prepared.cells[i]
            m = cells_i.m
            if ch.robust:
                off_lo, off_hi, _ = (a[idx] for a in self.offsets(g, ch, col))
                read = (m >= 2) & (off_lo != _GONE)
            else:
                m_all, obs_all = self.cells(g, ch, col, policy)
                m, obs = m_all[idx], obs_all[idx]
                read = (m >= 2) & (obs >= 0)
            if i in joint:  # one observation per joint group and row: its first member that was read
                leader, ok = joint[i]
                read &= ok
                taken = seen.setdefault(ch.name, np.zeros((len(idx), len(plan.marks)), dtype=bool))
                rows_ = np.arange(len(idx))
                read &= ~taken[rows_, leader]
                taken[rows_[read], leader[read]] = True
            rows = np.flatnonzero(read)
            c = _Cells(ch, col, self.flattened.get((ch.name, col), False), i, rows, m[read])
            if ch.robust:
                lo, hi = ch.shift_range(cells_i, policy)
                c.off_lo, c.off_hi, c.lo = off_lo[read], off_hi[read], lo[read]
                c.null = [_inside(lo[read], hi[read], c.off_lo - t, c.off_hi + t) for t in ch.tolerances]
            else:
                c.obs = obs[read]
            c.summarise()
            cells.append(c)
        reads, signatures = [], []
        for k in range(len(LEVELS)):
            pairs: dict[tuple[int, int], int] = {}
            for c in cells:
                if c.flattened:
                    continue
                inf = c.inf[k]
                num = c.null[k][inf] if c.off_lo is not None else np.ones(int(inf.sum()), dtype=np.int64)
                for (a, b), n in _pair_counts(num, c.m[inf]).items():
                    pairs[(a, b)] = pairs.get((a, b), 0) + n
            reads.append(tuple(sorted(pairs.items())))
            signatures.append((reads[-1], tuple(c.channel.tolerances[k] if c.off_lo is not None else -1
                                                 for c in cells if not c.flattened and c.inf[k].any())))
        distinct = [k for k in range(len(LEVELS)) if reads[k] and signatures[k] not in signatures[:k]]
        levels = {k: (sum(n for _, n in reads[k]), sum(n * a / b for (a, b), n in reads[k]),
                      -sum(n * math.log10(a / b) for (a, b), n in reads[k])) for k in distinct}
        self._plans[key] = _Plan(plan, prepared, digests, cells, reads, distinct, levels)
        return self._plans[key]

    @staticmethod
    def _joint(plan: MarkPlan, prepared: Prepared, policy: Policy) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """For joint timestamp jitter: mark index -> (leader's mark index per row, cell marked?)."""
        marks = [i for i, (ch, _) in enumerate(plan.marks) if ch.name == "ts_jitter"]
        if policy.version < ts_jitter.JOINT_FROM_VERSION or len(marks) < 2:
            return {}
        label, ok = prepared.extra["ts_jitter"]
        index = np.array(marks)
        return {i: (index[label[j]], ok[j]) for j, i in enumerate(marks)}

    def exact_rows(self, scores: Iterable[ReleaseScore]) -> None:
        """Exact rows in common for the named releases when the leak was sampled (one query each)."""
        if not self.sampled:
            return
        for s in scores:
            s.rows_in_common = self._in_common(s)
            s.rows_in_common_estimated = False

    def _in_common(self, s: ReleaseScore, *, by_version: bool = True) -> int:
        """The matched people of the leak whose key the release's snapshot held (and its filter kept).

        ``by_version``: count the rows whose chosen version was valid on the snapshot's date without
        a lookup (when the linked relation has versions and repeats marked, and there is no filter).
        """
        reg = self.registry.as_of_sql(self.dataset.name, s.as_of)
        cond = f"AND ({_filter_sql(s.filter, tuple(self.dataset.columns))})" if s.filter else ""
        matched = ", ".join(f"'{c}'" for c in MATCHED)
        rows = f"(SELECT * FROM ({reg}) r WHERE true {cond})"
        if not (by_version and self._has_dup and self.has_versions and not s.filter):
            # First occurrences (not _dup) count each person once without a DISTINCT over millions.
            first, n = ("AND NOT l._dup", "count(*)") if self._has_dup else ("", "count(DISTINCT l._key)")
            return int(self.con.execute(
                f"""SELECT {n} FROM {self.linked} l JOIN {rows} r ON r._key = l._key
                    WHERE l._class IN ({matched}) {first}""").fetchall()[0][0])
        # A row whose chosen version was valid on the snapshot's date had its person in that
        # snapshot; only the others (outdated rows, people changed since) are looked up. Joining
        # every row with the snapshot cost 1.1 s at ten million rows.
        d = f"DATE '{s.as_of.isoformat()}'"
        valid = f"(l._from <= {d} AND (l._to IS NULL OR l._to > {d}))"
        first = f"{self.linked} l WHERE l._class IN ({matched}) AND NOT l._dup"
        return int(self.con.execute(
            f"""SELECT (SELECT count(*) FROM {first} AND {valid})
                     + (SELECT count(*) FROM (SELECT l._key FROM {first} AND NOT {valid}) l
                        JOIN {rows} r ON r._key = l._key)""").fetchall()[0][0])

    # the restoration bound (jejak.unreleased) -------------------------------------------------------------

    def restoration(self, recs: dict[str, ReleaseRecord], scores: list[ReleaseScore],
                    threshold: float) -> unreleased.Evidence:
        """Trials of the restoration bound: robust cells that every release holding their row moved.

        A sampled row counts when at least one marked release holds it and no registered one does
        (an unmarked extract shows the registry's values); its cell counts when every such release
        marked that column with the same registry value, the value is not round and not near
        midnight, and the channel has a measured prior. One timestamp per row (tied timestamps share
        a shift). Decided from the registry and the ledger alone; the leak decides only which trials
        are exact (an unreadable cell is not).
        """
        if self.n == 0 or not self.dataset.snapshots:
            return unreleased.Evidence()
        holders: list[tuple[ReleaseRecord, _Group, np.ndarray]] = []
        registered = np.zeros(self.n, dtype=bool)
        for s in scores:
            rec, snap = recs.get(s.release_id), self.snapshot_of(s.as_of)
            if rec is None or snap is None or s.rows_in_common == 0:
                continue
            g = self.group(snap)
            mask = self.mask(g, rec.filter)
            if rec.kind == "registered":
                registered |= mask
            else:
                holders.append((rec, g, mask))
        trials: list[tuple[unreleased.Trials, int, unreleased.Prior]] = []
        ts_done = np.zeros(self.n, dtype=bool)
        for col in self.leak_columns:
            for ch in channels().values():
                if ch.robust and self.dataset.roles.get(col) in ch.roles:
                    trials += self._trials(ch, col, holders, registered, ts_done)
        return unreleased.evidence(trials, threshold)

    def _trials(self, ch: Channel, col: str, holders: list[tuple[ReleaseRecord, _Group, np.ndarray]],
                registered: np.ndarray, ts_done: np.ndarray) -> list[tuple[unreleased.Trials, int, unreleased.Prior]]:
        covered = np.zeros(self.n, dtype=bool)
        jitter = np.full(self.n, np.iinfo(np.int64).max, dtype=np.int64)
        widest = np.zeros(self.n, dtype=np.int64)
        value: np.ndarray | None = None
        same = np.ones(self.n, dtype=bool)
        offset: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        first: _Group | None = None
        for rec, g, mask in holders:
            policy = Policy.from_dict(rec.policy)
            if col in rec.columns and ch.name in policy.channels:
                w = policy.jitter_seconds if ch.name == "ts_jitter" else 9
                jitter = np.where(mask, np.minimum(jitter, w), jitter)
                widest = np.where(mask, np.maximum(widest, w), widest)
            else:
                same &= ~mask  # a holder that did not move this column explains an exact value
            v = self._values(g, col)
            if value is None:
                value, offset, first = v, self.offsets(g, ch, col), g
            same &= ~mask | (v == value)
            covered |= mask
        if value is None or offset is None or first is None:
            return []
        lo, hi, residue = offset
        eligible = covered & same & ~registered & (residue >= 0) & (residue % unreleased.ROUND_STEP != 0)
        eligible &= (jitter < np.iinfo(np.int64).max) & self._markable(first, ch, col) & self._unique(first, col)
        if ch.name == "ts_jitter":
            # Every timestamp of the row away from midnight: a joint group with a member near midnight is
            # left unmarked by the release, and an unmarked cell is no trial.
            for other in self.leak_columns + [c for c in self.dataset.columns if c not in self._leak_set]:
                if self.dataset.roles.get(other) in ch.roles:
                    eligible &= self._full_range(first, other, widest)
            eligible &= ~ts_done
            ts_done |= eligible
        prior = self._prior(ch, col)
        exact = (lo == 0) & (hi == 0)
        out = []
        for w in np.unique(jitter[eligible]):
            pick = eligible & (jitter == w)
            trials = unreleased.Trials(ch.name, [col], exact[pick])
            out.append((trials, int(w), prior))
        return out

    def _markable(self, g: _Group, ch: Channel, col: str) -> np.ndarray:
        return self._column(g, f"coalesce(({ch.markable_sql(q(col), Policy())}), 0)").astype(np.int64) >= 2

    def _unique(self, g: _Group, col: str) -> np.ndarray:
        """Rows whose value of ``col`` no other registry row holds at that snapshot. A value many rows share
        (a nightly batch's timestamp, a minimum wage) reaches a leaker as that many independently shifted
        copies, or from a public table: its restoration is no evidence."""
        reg = self.registry.as_of_sql(self.dataset.name, g.snapshot)
        shared = f"""(SELECT {q(col)} FROM ({reg}) WHERE {q(col)} IN (SELECT {q(col)} FROM {g.table})
                      GROUP BY 1 HAVING count(*) > 1)"""
        # In SQL rather than numpy.isin on text, which took a second per column at a million rows.
        return self._column(g, f"coalesce({q(col)} NOT IN {shared}, true)").astype(bool)

    def _values(self, g: _Group, col: str) -> np.ndarray:
        """The registry values of a column at a snapshot for the sampled rows (cached: many releases share one)."""
        if col not in g.values:
            g.values[col] = self._column(g, f"{q(col)}::VARCHAR")
        return g.values[col]

    def _full_range(self, g: _Group, col: str, widest: np.ndarray) -> np.ndarray:
        """Timestamps whose allowed shifts are the whole [-W, W] for the widest W used (not near midnight);
        a value that is no timestamp passes (it is in no joint group)."""
        t = f"epoch(try_strptime({q(col)}, '{ts_jitter.FMT}'))::BIGINT"
        secs = self._column(g, f"coalesce(({t} % 86400 + 86400) % 86400, 43200)").astype(np.int64)
        return (secs >= widest) & (secs <= 86_399 - widest)

    def _prior(self, ch: Channel, col: str) -> unreleased.Prior:
        """The registry's distribution of the column's low-order unit, over its markable values."""
        if self._priors is None:
            self._priors = self._all_priors()
        return self._priors[(ch.name, col)]

    def _all_priors(self) -> dict[tuple[str, str], unreleased.Prior]:
        """Every prior :meth:`restoration` may ask for (robust channels × the leak's columns of their
        roles): counted by the registry when the snapshot was imported, else by one scan of it now."""
        return self.registry.priors(self.dataset.name, unreleased.prior_specs(self.dataset.roles, self.leak_columns))


def _inside(lo: np.ndarray, hi: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many allowed shifts (the integers of [lo, hi] but zero) lie in [a, b]."""
    x, y = np.maximum(lo, a), np.minimum(hi, b)
    n = np.maximum(0, y - x + 1)
    return n - ((x <= 0) & (y >= 0)).astype(np.int64)


def _pair_counts(c: np.ndarray, m: np.ndarray) -> dict[tuple[int, int], int]:
    if not len(c):
        return {}
    pairs, counts = np.unique(np.stack([c.astype(np.int64), m.astype(np.int64)], axis=1), axis=0, return_counts=True)
    return {(int(a), int(b)): int(n) for (a, b), n in zip(pairs, counts, strict=True)}


def _day(d: date) -> int:
    return (d - date(1970, 1, 1)).days


# -- canaries -----------------------------------------------------------------------------------------


def canary_hits(con: duckdb.DuckDBPyConnection, ledger: Ledger, dataset: DatasetInfo, linked: str,
                leak_columns: list[str], *, index_key: bytes) -> dict[str, CanaryEvidence]:
    """Releases whose canary persons are in the leak, each with its evidence and bound.

    Delegates to :func:`jejak.channel.canary.find` (the ledger holds tags under ``index_key``;
    the hit rule and the bound are documented there and in docs/attribution.md §5).
    """
    rows = ledger.canaries(dataset=dataset.name)
    if not rows:
        return {}
    columns: dict[Role, list[str]] = {}
    for c in leak_columns:
        columns.setdefault(dataset.roles.get(c, Role.TEXT), []).append(c)
    key = dataset.key if dataset.key in leak_columns else None
    return find_canaries(con, canaries=rows, relation=linked, columns=columns, index_key=index_key, key=key)


# -- the verdict ----------------------------------------------------------------------------------------
#
# Every outcome rests on positive evidence with its own bound (docs/attribution.md §8); none is
# reached because another could not be: a release's marks or canaries name it; the registry's
# exact values where every release would have moved them, or people no release held, say
# `unreleased`; moved values that match no release say `altered`; otherwise the verdict says what
# it could not establish and what would settle it.


def _verdict(sc: Scorer, scores: list[ReleaseScore], tested: int, threshold: float, window: Any,
             restored: unreleased.Evidence, read_poorly: str | None = None) -> Attribution:
    suspects = [s for s in scores if s.suspect]
    flat = sc.flattened_channels()
    sample = {"matched_rows": sc.matched, "agreeing_rows": sc.agreeing, "matched_people": sc.genuine,
              "scored_rows": sc.n, "sampled": sc.sampled,
              "rows": sc.rows, "canary_rows": sc.canary_rows, "rows_per_release": ROWS_PER_RELEASE,
              "method": "one row per key; rows ordered by ((line mod 2^32) * 2654435761) mod 2^32"}
    covering = [s for s in scores if s.covers and not s.suspect]
    listed = covering or sorted((s for s in scores if not s.suspect and s.containment > 0), key=lambda s: -s.rank)[:5]
    base: dict[str, Any] = {"threshold": threshold, "tested": tested, "releases": scores,
                            "flattened_channels": flat, "sample": sample,
                            "candidates": [s.coverage_json() for s in listed], "carriers": sc.carriers,
                            "unmarked": restored.to_json()}
    if suspects:
        return Attribution(verdict="release", suspects=[s.release_id for s in suspects], missing=None,
                           explanation=_named(suspects, tested, flat), **base)
    if sc.agreeing < MIN_FOREIGN_ROWS and sc.agreeing < 0.01 * sc.rows:
        # A few of our people among many others' is still our data: a dump that mixes a million
        # foreign rows with a thousand of ours is a leak of those thousand.
        return _not_ours(sc, read_poorly, base)
    when = _window_text(window)
    registered = [s for s in scores if s.kind == "registered" and s.covers]
    if registered:
        names = ", ".join(f"{s.release_id} ({s.recipient})" for s in registered[:3])
        return Attribution(verdict="inconclusive", suspects=[], explanation=(
            f"The data is ours ({sc.genuine:,} people) and fits registered release(s) {names}: same rows, "
            f"columns and time. {_REGISTERED}"),
            missing="marks: registered releases were made before jejak; only other evidence (access logs, "
                    "the recipient's copy) can confirm them", **base)
    covered = _covered(sc, scores)
    if covered < 0.5:
        return Attribution(verdict="unreleased", suspects=[], missing=None, explanation=(
            f"The data is ours but no release explains it: {round((1 - covered) * sc.genuine):,} of its "
            f"{sc.genuine:,} people are in no release's rows, and a release cannot give rows it never held. "
            f"It was taken from the registry itself or an unlogged export{when}."), **base)
    if restored.holds(threshold):
        return Attribution(verdict="unreleased", suspects=[], missing=None,
                           explanation=_restored_text(restored, when), **base)
    readable, moved = (sum(int(d[k]) for d in sc.carriers.values()) for k in ("readable", "moved"))
    if readable >= MIN_CARRIER_CELLS and moved >= 0.5 * readable:
        return Attribution(verdict="altered", suspects=[], explanation=_altered_text(sc, listed, covering, readable,
                                                                                     moved, flat),
                           missing=_altered_missing(listed), **base)
    marked = [s for s in scores if s.kind == "marked"]
    return Attribution(verdict="inconclusive", suspects=[], explanation=(
        f"The data is ours ({sc.genuine:,} people) but no release is named at {threshold:g}. "
        + (_flat_note(flat) + " " if flat else "")
        + (_REGISTERED if any(s.kind == "registered" for s in scores) else "")).strip(),
        missing=_missing(sc, marked, tested, threshold, restored, readable), **base)


#: "Not ours" needs this many rows with well-formed identifiers the registry never held, and at
#: least half of the rows that carry an identifier at all.
MIN_FOREIGN_ROWS = 20


def _not_ours(sc: Scorer, read_poorly: str | None, base: dict[str, Any]) -> Attribution:
    """``not-ours`` only on positive evidence — many well-formed identifiers we never held, in a file that
    was read well; otherwise ``inconclusive``, saying what is missing. Dismissing a real leak as not
    ours is the most dangerous answer there is."""
    with_ids = sc.rows - sc.unlinked
    matched = f"{sc.agreeing:,} of {sc.rows:,} leaked rows match people in the registry with agreeing details"
    if read_poorly:
        return Attribution(verdict="inconclusive", suspects=[], explanation=(
            f"The file could not be read well enough to say whose data it is: {read_poorly}. {matched}."),
            missing="a readable copy of the file (the original as offered, another format, the whole archive)",
            **base)
    if sc.foreign >= MIN_FOREIGN_ROWS and sc.foreign >= 0.5 * with_ids:
        return Attribution(verdict="not-ours", suspects=[], missing=None, explanation=(
            f"Only {matched}, while {sc.foreign:,} carry well-formed NIKs or card numbers that the registry never "
            "held in any version: identifiers shared by chance only. The file does not come from this dataset."),
            **base)
    why = ("no column of the file holds an identifier the registry knows (NIK, card number, e-mail, phone)"
           if with_ids == 0 else f"only {sc.foreign:,} rows carry well-formed identifiers the registry never held")
    return Attribution(verdict="inconclusive", suspects=[], explanation=(
        f"{matched.capitalize()}, but that is no proof the data is not ours: {why}."),
        missing=f"identifiers to compare: at least {MIN_FOREIGN_ROWS} rows with a NIK or card number", **base)


_REGISTERED = "Registered releases carry no marks: they are ranked by rows, columns and time, never named by a bound."


def _named(suspects: list[ReleaseScore], tested: int, flat: list[str]) -> str:
    lines = []
    for s in suspects:
        why = []
        if s.canary_hits:
            why.append(f"{s.canary_hits} of its canary records (synthetic persons that exist only in that "
                       "release) are in the leak")
        if s.level is not None and s.log10_marks is not None and "marks" in s.named_by:
            lv = next(x for x in s.levels if x.level == s.level)
            why.append(f"{lv.agree:,} of {lv.read:,} readable marks agree with it at the '{lv.level}' reading "
                       f"level where chance would give {lv.chance:,.1f}")
        bound = s.log10_bound if s.log10_bound is not None else 0.0
        why.append(f"an innocent release would do as well with probability {strength(bound)} (corrected for "
                   f"{tested:,} releases tested)")
        lines.append(f"{s.release_id} to {s.recipient}: " + "; ".join(why) + ".")
    return " ".join(lines) + (" " + _flat_note(flat) if flat else "")


def strength(log10_p: float) -> str:
    """A probability in words, rounded in the safe direction, down to 'below 1 in 10^12': the smallest
    figure stated in words (the exact exponent is in ``log10_bound``)."""
    if not math.isfinite(log10_p) or log10_p <= -12:
        return "below 1 in 10^12"
    k = math.floor(-log10_p + 1e-9)
    if k >= 3:
        scale = max(s for s in (3, 6, 9) if s <= k)
        return f"below 1 in a {dict([(3, 'thousand'), (6, 'million'), (9, 'billion')])[scale]}"
    return f"about {10 ** min(0.0, log10_p):.2g}"


def _restored_text(r: unreleased.Evidence, when: str) -> str:
    what = " and ".join(f"{d['exact']:,} of {d['trials']:,} {_UNIT_WORDS.get(name, name)}"
                        for name, d in r.by_channel.items())
    return (f"The data is ours and is an unmarked copy of the registry: {what} show the registry's exact "
            f"values, although every release holding those rows moved each of them by a secret shift. Putting "
            f"them back without the registry is improbable: even if {r.coalition} recipients pooled their "
            f"copies, the chance is {strength(r.log10_bound)} (it still holds for up to "
            f"{r.largest_coalition_excluded} pooled copies). It was taken from the registry itself or an "
            f"unlogged export{when}.")


_UNIT_WORDS = {"ts_jitter": "timestamps", "amount_digits": "amounts"}


def _altered_text(sc: Scorer, listed: list[ReleaseScore], covering: list[ReleaseScore], readable: int,
                  moved: int, flat: list[str]) -> str:
    names = "; ".join(f"{s.release_id} to {s.recipient} (holds {s.containment:.0%} of the rows, "
                      f"{s.column_coverage:.0%} of the columns)" for s in listed[:5])
    more = f" and {len(covering) - 5:,} more" if len(covering) > 5 else ""
    cover = (f"{len(covering):,} release(s) hold its rows, columns and date and are candidates: {names}{more}."
             if covering else f"No release holds all of it; the closest: {names}.")
    return (f"The data is ours ({sc.genuine:,} people), but its marks were altered: {moved:,} of {readable:,} "
            f"readable timestamps and amounts differ from the registry's values, so it is not an unmarked copy "
            f"of the registry, and at no reading level (exact, within seconds, within a minute, within minutes) "
            f"do they agree with any release beyond chance — they were re-jittered or randomised. {cover} "
            + (_flat_note(flat) if flat else "")).strip()


def _altered_missing(listed: list[ReleaseScore]) -> str:
    return ("evidence that survived the alteration: a canary record of a candidate (one per 2,000 rows of a "
            "release; a larger part of the dump may hold one), the file as first offered before it was altered, "
            "or the candidates' own copies and access logs" + (" to compare with" if listed else ""))


def _missing(sc: Scorer, marked: list[ReleaseScore], tested: int, threshold: float, restored: unreleased.Evidence,
             readable: int) -> str:
    parts = []
    gaps = _gaps(sc)
    if gaps:
        parts.append("carriers missing: " + "; ".join(gaps))
    if restored.trials and restored.exact >= 0.5 * restored.trials:
        parts.append(f"{restored.exact:,} of {restored.trials:,} timestamps/amounts are the registry's exact values "
                     f"(pointing at an unmarked copy) but that is {strength(restored.log10_bound)} by chance for "
                     f"{restored.coalition} pooled copies: more rows would settle it")
    parts.append(_rows_needed(sc, marked, tested, threshold))
    return "; ".join(parts)


def _gaps(sc: Scorer) -> list[str]:
    """What the leak lacks for attribution: marked roles absent, format channels flattened."""
    roles = {sc.dataset.roles.get(c) for c in sc.leak_columns}
    out = []
    for ch in channels().values():
        if not ch.robust:
            continue
        present = any(r in ch.roles for r in roles)
        has = any(sc.dataset.roles.get(c) in ch.roles for c in sc.dataset.columns)
        if has and not present:
            out.append(f"no {_UNIT_WORDS.get(ch.name, ch.name)} column in the leak")
    out += [f"{c} flattened by normalisation" for c in sc.flattened_channels()]
    if sc.carriers and sum(int(d["readable"]) for d in sc.carriers.values()) < MIN_CARRIER_CELLS:
        out.append("too few readable timestamps and amounts")
    return out


def _in_window(sc: Scorer, scores: list[ReleaseScore], window: Any) -> None:
    """Whether the registry state at each release's as-of date lies within the dating window."""
    lo, hi = _window_dates(window)
    try:
        first, last = date.fromisoformat(str(lo)[:10]), date.fromisoformat(str(hi)[:10])
    except ValueError:
        return
    a, b = sc.snapshot_of(first) or first, sc.snapshot_of(last) or last
    for s in scores:
        snap = sc.snapshot_of(s.as_of)
        s.window_consistent = snap is not None and a <= snap <= b


def _flat_note(flat: list[str]) -> str:
    return f"Channel(s) {', '.join(flat)} were flattened by re-formatting and are not used as evidence."


def _window_text(window: Any) -> str:
    lo, hi = _window_dates(window)
    if lo and hi:
        return f", between {lo} and {hi}"
    return ""


def _window_dates(window: Any) -> tuple[str | None, str | None]:
    if window is None:
        return None, None
    if isinstance(window, dict):
        return window.get("from"), window.get("to")
    if isinstance(window, tuple | list) and len(window) == 2:
        return str(window[0]), str(window[1])
    if hasattr(window, "to_json"):
        j = window.to_json()
        return j.get("from"), j.get("to")
    for a, b in (("start", "end"), ("from_", "to"), ("lo", "hi")):
        if hasattr(window, a) and hasattr(window, b):
            return str(getattr(window, a)), str(getattr(window, b))
    return None, None


def _covered(sc: Scorer, scores: list[ReleaseScore]) -> float:
    """Share of sampled rows that are in at least one scored release's row set."""
    if sc.n == 0:
        return 0.0
    any_rows = np.zeros(sc.n, dtype=bool)
    for s in scores:
        snap = sc.snapshot_of(s.as_of)
        if snap is None:
            continue
        any_rows |= sc.mask(sc.group(snap), s.filter)
    return float(any_rows.mean())


def _rows_needed(sc: Scorer, marked: list[ReleaseScore], tested: int, threshold: float) -> str:
    best = max(marked, key=lambda s: s.rows_scored, default=None)
    exact = next((lv for lv in best.levels if lv.level == LEVELS[0]), None) if best else None
    if best is None or exact is None or best.rows_scored == 0 or not exact.read:
        return ("no readable marks in the leak (every marked channel was flattened or dropped) and no canary: "
                "a release carries one canary per 2,000 rows, so a larger part of the leak may still name it")
    # Digits of evidence per row if the marks were intact: every informative cell agreeing gives -log10(c/m).
    per_row = exact.digits / best.rows_scored
    rows = math.ceil((math.log10(max(tested, 1)) + math.log10(max(best.levels_tested, 1)) - math.log10(threshold))
                     / max(per_row, 1e-9))
    share = max(sc.genuine / max(sc.rows, 1), 1e-9) * max(best.containment, 1e-9)
    return (f"about {math.ceil(rows / share):,} leaked rows (now {sc.rows:,}) if its marks are intact: each "
            f"matched row of {best.release_id} carries {per_row:.2f} decimal digits of evidence")

