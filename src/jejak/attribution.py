"""Attribution: which release(s) a leak came from, each with a proven false-accusation bound.

For every release of the dataset in the ledger, the marks it *would* have put into the leaked rows
are recomputed from the master secret and compared with what the leak shows:

* rows in common: linked registry keys that are in the release's row set (its as-of date and
  filter, evaluated on the registry);
* per channel and marked column: the release's symbol ``PRF(channel key, row digest) mod m`` (``m``
  from the registry value at the release's as-of date) against the symbol the leaked text shows
  (``channel.observe_sql``). A cell is *read* when the leak shows some symbol, and *agrees* when
  it is the release's.

Under innocence (the leak was made without the release's file) the release's symbols are
pseudo-random and independent of the leak, so each read cell agrees with probability exactly
``1/m``, independently; the number of agreements is a sum of binomials and its exact upper tail
(``jejak.tail``) times the number of releases tested (Bonferroni) is the false-accusation bound.
Canary records name their release when their own bound (``jejak.channel.canary``, corrected for
the releases tested) is within the threshold. Everything is decided from public facts and the leak
before any release's symbols are looked at (which rows are sampled, which channels are
flattened, which releases are tested), so none of those choices can bias the bound.

See ``docs/attribution.md`` for the statistics in full.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from jejak import keys
from jejak.channel import ts_jitter
from jejak.channel.base import Channel, MarkPlan, Policy, channels, q
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
_SAMPLE = "_jj_attr_sample"
_GROUP = "_jj_attr_group"
_VERSIONS = "_jj_attr_versions"
_HASH_MUL = 2654435761  # Knuth's multiplicative hash: a documented, reproducible row sample


@dataclass
class ChannelScore:
    read: int = 0
    agree: int = 0
    weight: float = 0.0  # sum of m over read cells (for the mean alphabet)
    flattened: bool = False
    columns: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"read": self.read, "agree": self.agree,
                "alphabet_mean": round(self.weight / self.read, 2) if self.read else None,
                "flattened": self.flattened, "columns": self.columns}


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
    canary_hits: int = 0
    log10_bound: float | None = None
    log10_p: float | None = None  # the tail before the multiple-testing correction
    suspect: bool = False
    named_by: list[str] = field(default_factory=list)
    reads_by_m: dict[int, int] = field(default_factory=dict)
    agrees: int = 0

    @property
    def bound(self) -> float | None:
        return None if self.log10_bound is None else 10.0 ** self.log10_bound

    @property
    def rank(self) -> float:
        outside = 0.5 if self.window_consistent is False else 1.0
        return self.containment * self.column_coverage * (self.time_consistency or 1.0) * outside

    def to_json(self) -> dict[str, Any]:
        lb = self.log10_bound
        return {
            "release_id": self.release_id, "recipient": self.recipient, "kind": self.kind,
            "as_of": self.as_of.isoformat(), "created_at": self.created_at.isoformat(),
            "rows_in_common": self.rows_in_common, "rows_in_common_estimated": self.rows_in_common_estimated,
            "rows_scored": self.rows_scored, "containment": round(self.containment, 4),
            "column_coverage": round(self.column_coverage, 4),
            "time_consistency": None if self.time_consistency is None else round(self.time_consistency, 4),
            "window_consistent": self.window_consistent,
            "channels": {k: v.to_json() for k, v in self.channels.items()},
            "canary_hits": self.canary_hits,
            "log10_bound": None if lb is None else (round(lb, 3) if math.isfinite(lb) else -1e308),
            "log10_p": None if self.log10_p is None else (
                round(self.log10_p, 3) if math.isfinite(self.log10_p) else -1e308),
            "bound": self.bound, "suspect": self.suspect, "named_by": self.named_by,
        }


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

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict, "threshold": self.threshold, "tested": self.tested,
            "suspects": self.suspects, "releases": [r.to_json() for r in self.releases],
            "flattened_channels": self.flattened_channels, "explanation": self.explanation,
            "missing": self.missing, "sample": self.sample,
        }


# -- the entry point ---------------------------------------------------------------------------------


def attribute(
    con: duckdb.DuckDBPyConnection, *, registry: Registry, ledger: Ledger, master: bytes, dataset: DatasetInfo,
    linked: str = "_jj_linked", window: Any = None, threshold: float = 1e-6, say: Say = lambda _m: None,
    mapping: Any = None, releases: list[ReleaseRecord] | None = None, sample_rows: int = SAMPLE_ROWS,
    text: str | None = None,
) -> Attribution:
    """Score every release of ``dataset`` against the leak in ``linked``; see the module docstring.

    ``releases`` replaces the ledger's list (the evaluation harness scores simulated innocent
    releases this way); ``mapping`` is accepted for the investigation's call and not needed.
    ``text`` names a relation with ``_line`` and the leaked columns when ``linked`` is the narrow
    ``_jj_lk`` (the investigation's ``_jj_text``): the text of the few rows that need it is then
    joined by ``_line``.
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
        # Adapter until attribution reports CanaryEvidence itself: a release is named by its canaries
        # when their bound, corrected for the releases tested, is within the threshold.
        hits = {r: e.canaries for r, e in evidence.items() if e.log10_bound <= math.log10(threshold)}
        scorer.prefetch(recs)
        scores = [s for r in recs if (s := scorer.score(r, keep=r.release_id in hits)) is not None]
        tested = sum(1 for s in scores if s.kind == "marked")
        for s in scores:
            s.canary_hits = hits.get(s.release_id, 0)
            if s.kind == "marked" and s.reads_by_m:
                raw = _tail(tuple(sorted(s.reads_by_m.items())), s.agrees)
                s.log10_p = raw
                s.log10_bound = min(0.0, raw + math.log10(tested)) if math.isfinite(raw) else -math.inf
            elif s.kind == "marked":
                s.log10_bound = s.log10_p = 0.0
            if s.kind == "marked" and s.log10_bound is not None and s.log10_bound <= math.log10(threshold):
                s.named_by.append("marks")
            if s.canary_hits:
                s.named_by.append("canary")
            s.suspect = bool(s.named_by)
        scorer.exact_rows(s for s in scores if s.suspect)
        _in_window(scorer, scores, window)
        scores.sort(key=_order)
        return _verdict(scorer, scores, tested, threshold, window, hits)
    finally:
        scorer.close()


def _install_macros(con: duckdb.DuckDBPyConnection) -> None:
    found = con.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'jj_phone_norm'").fetchall()
    if not found[0][0]:
        vsql.install(con)


@lru_cache(maxsize=4096)
def _filter_sql(where: str, columns: tuple[str, ...]) -> str:
    return compile_filter(where, list(columns))


@lru_cache(maxsize=1 << 16)
def _tail(reads: tuple[tuple[int, int], ...], agrees: int) -> float:
    """log10 P[X >= agrees]; innocent releases scored on the same rows share their reads, so cached."""
    return log10_tail({1.0 / m: n for m, n in reads}, agrees)


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
    """One marked column's read cells among a release's scored rows."""

    channel: str
    column: str
    flattened: bool
    mark: int  # index in the release's MarkPlan (its symbols are ``_s{mark}``)
    rows: np.ndarray  # positions of the read cells among the scored rows
    m: np.ndarray  # alphabet per read cell
    obs: np.ndarray  # the symbol the leak shows
    reads_by_m: dict[int, int]
    weight: float


@dataclass
class _Group:
    """The registry at one snapshot, for the sampled rows: row presence, filters, cells."""

    snapshot: date
    table: str
    present: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    masks: dict[str | None, np.ndarray] = field(default_factory=dict)
    cells: dict[tuple[str, str, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    unshifted: dict[tuple[str, str, int], int] = field(default_factory=dict)


class Scorer:
    """Holds the sampled matched rows of a leak and scores releases against them."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, registry: Registry, dataset: DatasetInfo, linked: str,
                 master: bytes, sample_rows: int = SAMPLE_ROWS, text: str | None = None) -> None:
        self.con, self.registry, self.dataset, self.linked, self.master = con, registry, dataset, linked, master
        self.text = text or linked
        have = {r[0] for r in con.execute(f"DESCRIBE {linked}").fetchall()}
        #: ``linked`` with the leaked text (a relation to select from).
        self.rows_with_text = linked
        if text:
            own = set(have)
            have |= {r[0] for r in con.execute(f"DESCRIBE {text}").fetchall()}
            shown = "".join(f", t.{q(c)}" for c in dataset.columns if c in have and c not in own)
            self.rows_with_text = f"(SELECT k.*{shown} FROM {linked} k JOIN {text} t USING (_line))"
        self.leak_columns = [c for c in dataset.columns if c in have]
        self._leak_set = set(self.leak_columns)
        self._has_dup = "_dup" in have
        self.has_versions = "_from" in have and "_to" in have
        self._overview(have)
        self._sample(sample_rows)
        self.groups: dict[date, _Group] = {}
        self._plans: dict[tuple[Any, ...], tuple[MarkPlan, pa.Table, np.ndarray, list[_Cells]]] = {}
        self._versions = False
        self._facts: dict[tuple[Any, ...], tuple[MarkPlan, pa.Table]] = {}
        self.flattened: dict[tuple[str, str], bool] = {}
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
                       count(*) FILTER (WHERE _class IN ({matched}) AND {agree})
                FROM {self.linked}"""
        ).fetchall()[0]
        self.rows, self.matched, self.canary_rows, approx, self.agreeing = (int(x or 0) for x in row)
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
        cols = "".join(f", t.{q(c)}" for c in self.leak_columns)
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
                self.con.execute(
                    f"""CREATE OR REPLACE TEMP TABLE {_VERSIONS} AS SELECT * FROM {table_name(self.dataset.name)}
                        WHERE _key IN (SELECT _key FROM {_SAMPLE})""")
                self._versions = True
            d = f"DATE '{snapshot.isoformat()}'"
            reg = f"SELECT * FROM {_VERSIONS} WHERE _valid_from <= {d} AND (_valid_to IS NULL OR _valid_to > {d})"
            regcols = ", ".join(f"r.{q(c)}" for c in self.dataset.columns)
            leaked = "".join(f", s.{q(c)} AS {q('_l_' + c)}" for c in self.leak_columns)
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
        """(m, observed) for every sampled row: m < 2 unmarked, observed -1 when unreadable."""
        k = (ch.name, column, policy.jitter_seconds)
        if k not in g.cells:
            v, leaked = q(column), q("_l_" + column)
            eq = _unshifted_sql(ch.name, leaked, v) or "false"
            # One query for the three columns: each query over the sample costs a scan.
            markable, observed = ch.markable_sql(v, policy), ch.observe_sql(leaked, v, policy)
            got = self.con.sql(
                f"""SELECT coalesce(({markable}), 0), coalesce(({observed}), -1), coalesce(({eq}), false)
                    FROM {g.table} ORDER BY _i"""
            ).to_arrow_table()
            m, obs, same = (np.asarray(c.combine_chunks().to_numpy(zero_copy_only=False)) for c in got.columns)
            m = np.where(g.present, m.astype(np.int64), 0)
            g.cells[k] = (m, obs.astype(np.int64))
            g.unshifted[k] = int(np.sum(same.astype(bool) & (m >= 2)))
        return g.cells[k]

    # flattened channels ------------------------------------------------------------------------------

    def _decide_flattened(self) -> None:
        """A channel is flattened when the leak shows no symbols, or only one: decided from the leak alone.

        The decision uses the registry at the newest snapshot and the leaked text, never a release's
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
                m, obs = self.cells(g, ch, col, policy)
                markable = int(np.sum(m >= 2))
                reads = obs[(m >= 2) & (obs >= 0)]
                top = int(np.bincount(reads).max()) if len(reads) else 0
                flat = markable >= 8 and (len(reads) < 0.5 * markable or (len(reads) >= 8 and top >= 0.9 * len(reads)))
                self.flattened[(ch.name, col)] = bool(flat and not ch.robust) or bool(
                    ch.robust and markable >= 8 and len(reads) < 0.05 * markable)
        self.reference = g

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
        """Expected symbols from the release's own MarkPlan (the code that marked it), compared with the leak.

        Joint timestamp groups (policy 2) carry one symbol: one observation per group and row.
        """
        plan, facts, digests, cells = self._plan(rec, g, idx, cols)
        symbols = plan.symbols(facts, digests, _release_secret(self.master, rec.release_id))
        for p in cells:
            cs = s.channels.setdefault(p.channel, ChannelScore())
            cs.columns.append(p.column)
            cs.flattened = cs.flattened or p.flattened
            if not len(p.m):
                continue
            sym = symbols[f"_s{p.mark}"][p.rows]
            agree = int(np.count_nonzero(sym == p.obs))
            cs.read += len(p.m)
            cs.agree += agree
            cs.weight += p.weight
            if p.flattened:
                continue  # shown, never counted as evidence
            s.agrees += agree
            for mv, n in p.reads_by_m.items():
                s.reads_by_m[mv] = s.reads_by_m.get(mv, 0) + n

    def _plan(self, rec: ReleaseRecord, g: _Group, idx: np.ndarray,
              cols: list[str]) -> tuple[MarkPlan, pa.Table, np.ndarray, list[_Cells]]:
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
        joint = self._joint(plan, facts, policy)
        seen: dict[str, np.ndarray] = {}
        cells: list[_Cells] = []
        for i, (ch, col) in enumerate(plan.marks):
            if col not in cols:
                continue
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
            mv, counts = np.unique(m[read], return_counts=True)
            cells.append(_Cells(ch.name, col, self.flattened.get((ch.name, col), False), i, rows, m[read], obs[read],
                                {int(a): int(b) for a, b in zip(mv, counts, strict=True)}, float(m[read].sum())))
        self._plans[key] = (plan, facts, digests, cells)
        return self._plans[key]

    @staticmethod
    def _joint(plan: MarkPlan, facts: pa.Table, policy: Policy) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """For joint timestamp jitter: mark index -> (leader's mark index per row, cell marked?)."""
        marks = [i for i, (ch, _) in enumerate(plan.marks) if ch.name == "ts_jitter"]
        if policy.version < ts_jitter.JOINT_FROM_VERSION or len(marks) < 2:
            return {}
        label, ok = ts_jitter.joint([plan.cells_of(facts, i) for i in marks], policy)
        index = np.array(marks)
        return {i: (index[label[j]], ok[j]) for j, i in enumerate(marks)}

    def exact_rows(self, scores: Any) -> None:
        """Exact rows in common for the named releases when the leak was sampled (one query each)."""
        if not self.sampled:
            return
        for s in scores:
            reg = self.registry.as_of_sql(self.dataset.name, s.as_of)
            cond = f"AND ({_filter_sql(s.filter, tuple(self.dataset.columns))})" if s.filter else ""
            matched = ", ".join(f"'{c}'" for c in MATCHED)
            # First occurrences (not _dup) count each person once without a DISTINCT over millions.
            first, n = ("AND NOT l._dup", "count(*)") if self._has_dup else ("", "count(DISTINCT l._key)")
            rows = f"(SELECT * FROM ({reg}) r WHERE true {cond})"
            s.rows_in_common = int(self.con.execute(
                f"""SELECT {n} FROM {self.linked} l JOIN {rows} r ON r._key = l._key
                    WHERE l._class IN ({matched}) {first}""").fetchall()[0][0])
            s.rows_in_common_estimated = False


def _day(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _unshifted_sql(channel: str, leaked: str, v: str) -> str | None:
    """The leaked value equals the registry's exactly (an unmarked copy), for the robust channels."""
    if channel == "ts_jitter":
        fmt = "'%Y-%m-%d %H:%M:%S'"
        parsed = (f"coalesce(try_strptime(trim({leaked}), {fmt}), try_strptime(trim({leaked}), '%Y-%m-%dT%H:%M:%S'),"
                  f" try_strptime(trim({leaked}), '%d/%m/%Y %H:%M:%S'))")
        return f"{parsed} = try_strptime({v}, {fmt})"
    if channel == "amount_digits":
        bare = f"regexp_replace({leaked}, '^\\s*(Rp\\.?\\s*)?', '')"
        num = f"TRY_CAST(regexp_replace({bare}, '[.,\\s]', '', 'g') AS BIGINT)"
        return f"{num} = TRY_CAST({v} AS BIGINT)"
    return None


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


def _verdict(sc: Scorer, scores: list[ReleaseScore], tested: int, threshold: float, window: Any,
             hits: dict[str, int]) -> Attribution:
    suspects = [s for s in scores if s.suspect]
    flat = sc.flattened_channels()
    sample = {"matched_rows": sc.matched, "agreeing_rows": sc.agreeing, "matched_people": sc.genuine,
              "scored_rows": sc.n, "sampled": sc.sampled,
              "rows": sc.rows, "canary_rows": sc.canary_rows, "rows_per_release": ROWS_PER_RELEASE,
              "method": "one row per key; rows ordered by ((line mod 2^32) * 2654435761) mod 2^32"}
    base: dict[str, Any] = {"threshold": threshold, "tested": tested, "releases": scores,
                            "flattened_channels": flat, "sample": sample}
    registered_note = ("Registered releases carry no marks: they are ranked by rows, columns and time, "
                       "never named by a bound.")
    if suspects:
        lines = []
        for s in suspects:
            why = []
            if "canary" in s.named_by:
                why.append(f"{s.canary_hits} of its canary records (synthetic persons that exist only in that "
                           "release) are in the leak")
            if "marks" in s.named_by:
                why.append(f"{s.agrees:,} of {sum(s.reads_by_m.values()):,} readable marks agree with it; "
                           f"an innocent release would do as well with probability at most 10^{s.log10_bound:.1f} "
                           f"(corrected for {tested:,} releases tested)")
            lines.append(f"{s.release_id} to {s.recipient}: " + "; ".join(why) + ".")
        return Attribution(verdict="release", suspects=[s.release_id for s in suspects],
                           explanation=" ".join(lines) + (" " + _flat_note(flat) if flat else ""), missing=None,
                           **base)
    if sc.agreeing == 0 or sc.agreeing < 0.01 * sc.rows:
        return Attribution(verdict="not-ours", suspects=[], missing=None, explanation=(
            f"Only {sc.agreeing:,} of {sc.rows:,} leaked rows match people in the registry with agreeing "
            "details: no more than identifiers shared by chance. The file does not come from this dataset."),
            **base)
    when = _window_text(window)
    registered = [s for s in scores if s.kind == "registered" and s.containment >= 0.9
                  and s.column_coverage >= 0.999 and (s.time_consistency or 1.0) >= 0.9]
    covered = _covered(sc, scores)
    marked = [s for s in scores if s.kind == "marked"]
    unmarked, robust_cells = _unmarked(sc)
    if registered:
        names = ", ".join(f"{s.release_id} ({s.recipient})" for s in registered[:3])
        return Attribution(verdict="inconclusive", suspects=[], explanation=(
            f"The data is ours ({sc.genuine:,} people) and fits registered release(s) {names}: same rows, "
            f"columns and time. {registered_note}"),
            missing="marks: registered releases were made before jejak; only other evidence (access logs, "
                    "the recipient's copy) can confirm them", **base)
    if covered < 0.5 or unmarked:
        reason = (f"{round((1 - covered) * sc.genuine):,} of its {sc.genuine:,} people are in no release's rows"
                  if covered < 0.5 else
                  f"{robust_cells['unshifted']:,} of {robust_cells['markable']:,} timestamps/amounts are exactly the "
                  "registry's, while every marked release shifts all of them")
        return Attribution(verdict="unreleased", suspects=[], missing=None, explanation=(
            f"The data is ours but no release explains it: {reason}. It was taken from the registry itself or an "
            f"unlogged export{when}."), **base)
    powered = [s for s in marked if s.reads_by_m and _if_guilty(s, tested) <= math.log10(threshold)]
    if marked and len(powered) == len(marked):
        return Attribution(verdict="unreleased", suspects=[], missing=None, explanation=(
            f"The data is ours ({sc.genuine:,} people) and every release holding these rows would have been "
            f"recognised by its marks, but none agrees beyond chance: the data was taken from the registry "
            f"itself or an unlogged export{when}."), **base)
    need = _rows_needed(sc, marked, tested, threshold)
    return Attribution(verdict="inconclusive", suspects=[], explanation=(
        f"The data is ours ({sc.genuine:,} people) but no release is named at {threshold:g}. "
        + (_flat_note(flat) + " " if flat else "") + (registered_note if any(s.kind == "registered"
                                                                              for s in scores) else "")).strip(),
        missing=need, **base)


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


def _unmarked(sc: Scorer) -> tuple[bool, dict[str, int]]:
    """True when the robust cells of the leak are exactly the registry's (no release shifted them)."""
    g = getattr(sc, "reference", None)
    if g is None:
        return False, {"markable": 0, "unshifted": 0}
    markable = unshifted = 0
    for (name, col, j), (m, _obs) in g.cells.items():
        if channels()[name].robust and j == Policy().jitter_seconds:
            markable += int(np.sum(m >= 2))
            unshifted += g.unshifted.get((name, col, j), 0)
    return markable >= 20 and unshifted >= 0.9 * markable, {"markable": markable, "unshifted": unshifted}


def _if_guilty(s: ReleaseScore, tested: int) -> float:
    """log10 bound the release would get if every readable mark agreed with it."""
    return _tail(tuple(sorted(s.reads_by_m.items())), sum(s.reads_by_m.values())) + math.log10(max(tested, 1))


def _rows_needed(sc: Scorer, marked: list[ReleaseScore], tested: int, threshold: float) -> str:
    best = max(marked, key=lambda s: s.rows_scored, default=None)
    if best is None or not best.reads_by_m or best.rows_scored == 0:
        return ("no readable marks in the leak (every marked channel was flattened or dropped) and no canary: "
                "a release carries one canary per 2,000 rows, so a larger part of the leak may still name it")
    per_row = sum(n * math.log10(m) for m, n in best.reads_by_m.items()) / best.rows_scored
    rows = math.ceil((math.log10(max(tested, 1)) - math.log10(threshold)) / per_row)
    share = max(sc.genuine / max(sc.rows, 1), 1e-9) * max(best.containment, 1e-9)
    return (f"about {math.ceil(rows / share):,} leaked rows (now {sc.rows:,}): each matched row of "
            f"{best.release_id} carries {per_row:.2f} decimal digits of evidence")
