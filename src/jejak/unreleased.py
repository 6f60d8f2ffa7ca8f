"""Positive evidence that a leak is an unmarked copy of the registry, with a bound of its own.

Every marked release moves each markable timestamp and amount by a non-zero secret shift (zero is
never a shift). A leak that shows the registry's *exact* values in cells that every release
holding those rows moved did not come from those releases — unless the leaker put the registry's
values back. This module bounds how likely that restoration is, so that the verdict
``unreleased`` (an accusation of the data holder's own systems or staff) rests on a probability
and never on "no release matched".

**The restoration bound** (docs/attribution.md §8). Assume the leak was made from the copies of at
most ``C`` of the releases covering a cell, by people without the master secret. Each copy shows
``w_i = v + d_i`` with ``d_i`` uniform on the release's allowed shifts ``D = [-W, W] minus 0``,
independent across releases and cells (a PRF of independent keys). The leaker knows how the
registry's low-order units are distributed (seconds of the minute; the last digit of amounts) —
we give him the exact distribution measured on the registry — but not the values. Then the
registry value is one of the candidates ``E = [max d - W, min d + W]`` (relative to ``v``) minus
the copies' own shifts, and any guess is right with probability at most the largest posterior,
``rho / |E ∩ S|``: ``S`` the non-round residues, ``rho`` the ratio of the most to the least
frequent of them. Averaging over the spread of the ``C`` shifts gives ``q``, the chance that one
cell is restored. Only cells whose registry value is *not round* (seconds not a multiple of 5,
amounts not a multiple of 5) are trials: a round value is restored by rounding, which is no
evidence. Trials are chosen from the registry and the ledger alone, before the leak is looked
at, and a trial whose leaked cell is unreadable counts as not restored.

Given all copies, the cells' posteriors are independent (the prior is a product, the shifts
independent), so the number of restored cells is dominated by a sum of independent
Bernoulli(``q``) variables, and its exact tail (``jejak.tail``) is the bound.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from jejak.tail import log10_tail

if TYPE_CHECKING:
    from jejak.roles import Role

#: Coalition sizes the verdict is stated for: at least ``COALITION`` recipients pooling their
#: copies must be excluded before the data holder is accused; the largest excluded is reported.
COALITION = 3
MAX_COALITION = 10
ROUND_STEP = 5  # values that are multiples of 5 units (seconds, rupiah) are not trials


@dataclass(frozen=True)
class Prior:
    """The registry's distribution of one column's low-order unit (residue modulo ``modulus``)."""

    modulus: int  # 60 for seconds of the minute, 10 for the last digit of an amount
    counts: tuple[int, ...]  # occurrences of each residue among the column's markable values

    @property
    def non_round(self) -> list[int]:
        """Residues of values that are trials: not multiples of ROUND_STEP, and seen in the registry."""
        return [r for r in range(self.modulus) if r % ROUND_STEP and self.counts[r] > 0]

    @property
    def rho(self) -> float:
        seen = [self.counts[r] for r in self.non_round]
        return max(seen) / min(seen) if seen else math.inf


@dataclass(frozen=True)
class PriorSpec:
    """How one column's :class:`Prior` is counted over the registry: ``sql`` is one select-list
    item, a DuckDB ``histogram`` of the residues of the column's markable values."""

    channel: str
    column: str
    modulus: int
    sql: str

    @property
    def digest(self) -> str:
        """What a stored count was made by: a count stored under another digest (the channel's
        SQL changed since the import) is not this one."""
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def prior(self, histogram: dict[Any, int] | None) -> Prior:
        counts = [0] * self.modulus
        for r, n in (histogram or {}).items():
            if 0 <= int(r) < self.modulus:
                counts[int(r)] = int(n)
        return Prior(self.modulus, tuple(counts))


def prior_specs(roles: Mapping[str, Role], columns: Iterable[str]) -> list[PriorSpec]:
    """The priors the restoration bound may ask for: each robust channel × each of ``columns``
    of its roles. The registry counts them for all its columns at import (``Registry.priors``)."""
    from jejak.channel.base import Policy, channels
    from jejak.sqltext import quote

    out = []
    for col in columns:
        for ch in channels().values():
            residue = ch.residue_sql(quote(col))
            if ch.robust and roles.get(col) in ch.roles and residue is not None:
                sql = (f"histogram(CASE WHEN coalesce(({ch.markable_sql(quote(col), Policy())}), 0) >= 2 "
                       f"THEN ({residue}) END)")
                out.append(PriorSpec(ch.name, col, 60 if ch.name == "ts_jitter" else 10, sql))
    return out


def in_window(n: np.ndarray, prior: Prior) -> np.ndarray:
    """The fewest non-round residues any run of ``n`` consecutive integers holds (whole cycles hold
    every residue; the rest of a run misses at most ``modulus - rest`` of them)."""
    s, m = len(prior.non_round), prior.modulus
    return (n // m) * s + np.maximum(0, s - (m - n % m))


@lru_cache(maxsize=1024)
def restoration_chance(jitter: int, coalition: int, prior: Prior) -> float:
    """``q``: the chance that ``coalition`` copies, each shifted uniformly on [-jitter, jitter] minus 0,
    let a leaker restore one non-round registry value exactly (see the module docstring).

    The copies' shifts matter only through their spread; over the ``m = 2W`` shifts in index order,
    the lowest at index ``i`` and the highest at ``i + k`` has probability
    ``((k+1)^c - 2k^c + (k-1)^c) / m^c`` (``1/m^c`` for ``k = 0``), and the spread in seconds is
    ``k``, or ``k + 1`` when the two lie on either side of zero.
    """
    w, c = int(jitter), int(coalition)
    m = 2 * w
    if w < 1 or c < 1 or math.isinf(prior.rho):
        return 1.0
    k = np.arange(m, dtype=np.float64)
    # The c-th powers are computed as ((k+1)/m)^c, which stays in range for any c.
    p_pair = ((k + 1) / m) ** c - 2 * (k / m) ** c + (np.maximum(k - 1, 0) / m) ** c
    kk = np.arange(m)
    pairs = m - kk  # (i, i + k) pairs in range
    crossing = np.clip(np.minimum(w - 1, m - 1 - kk) - np.maximum(0, w - kk) + 1, 0, None)
    total = 0.0
    for spread, count in ((kk, pairs - crossing), (kk + 1, crossing)):
        n = 2 * w + 1 - spread
        cand = in_window(n, prior) - c
        chance = np.minimum(1.0, prior.rho / np.maximum(cand, 1))
        total += float(np.sum(count * p_pair * chance))
    return min(1.0, total)


@dataclass
class Trials:
    """One channel's trial cells (of one column and jitter) and whether the leak shows each exactly."""

    channel: str
    columns: list[str]
    exact: np.ndarray  # bool per trial: the leak shows the registry's value


@dataclass
class Evidence:
    """The restoration bound for a coalition of ``coalition`` copies, and the largest coalition excluded."""

    trials: int = 0
    exact: int = 0
    coalition: int = COALITION
    log10_bound: float = 0.0
    largest_coalition_excluded: int = 0
    by_channel: dict[str, dict[str, Any]] = field(default_factory=dict)

    def holds(self, threshold: float) -> bool:
        return self.trials > 0 and self.log10_bound <= math.log10(threshold)

    def to_json(self) -> dict[str, Any]:
        lb = self.log10_bound
        return {"trials": self.trials, "exact": self.exact, "coalition": self.coalition,
                "log10_bound": round(lb, 3) if math.isfinite(lb) else -1e308,
                "largest_coalition_excluded": self.largest_coalition_excluded, "by_channel": self.by_channel}


def evidence(trials: list[tuple[Trials, int, Prior]], threshold: float) -> Evidence:
    """The bound from ``(trials, jitter, prior)`` per channel and column, at ``COALITION`` copies,
    and the largest coalition (up to ``MAX_COALITION``) it still excludes at ``threshold``."""
    out = Evidence(trials=sum(len(t.exact) for t, _, _ in trials),
                   exact=sum(int(t.exact.sum()) for t, _, _ in trials))
    for t, _, _ in trials:
        d = out.by_channel.setdefault(t.channel, {"trials": 0, "exact": 0, "columns": []})
        d["trials"] += len(t.exact)
        d["exact"] += int(t.exact.sum())
        d["columns"] += [c for c in t.columns if c not in d["columns"]]
    if not out.trials:
        return out
    out.log10_bound = _bound(trials, COALITION)
    for c in range(1, MAX_COALITION + 1):
        if _bound(trials, c) > math.log10(threshold):
            break
        out.largest_coalition_excluded = c
    return out


def _bound(trials: list[tuple[Trials, int, Prior]], coalition: int) -> float:
    groups: dict[float, int] = {}
    for t, jitter, prior in trials:
        q = restoration_chance(jitter, coalition, prior)
        groups[q] = groups.get(q, 0) + len(t.exact)
    exact = sum(int(t.exact.sum()) for t, _, _ in trials)
    if any(q >= 1.0 for q in groups):  # cells anyone could restore are certain successes: drop them
        exact -= sum(int(t.exact.sum()) for t, j, p in trials if restoration_chance(j, coalition, p) >= 1.0)
        groups = {q: n for q, n in groups.items() if q < 1.0}
    return log10_tail(groups, exact) if groups else 0.0
