"""The exact upper tail of a sum of independent Bernoulli variables, far below 1e-300.

Under innocence every read cell of a release agrees with the leak with probability exactly
``1/m`` (``m`` the cell's number of renderings), independently of every other cell. Grouping the
cells by ``m`` makes the number of agreements ``X`` a sum of binomials ``Bin(n_m, 1/m)``: a
Poisson-binomial distribution. Attribution needs ``P[X >= k]``, which for a guilty release is
like ``1e-20000``, so it is computed in logarithms.

Method (exact, no normal or Chernoff approximation): exponential tilting. For any ``t >= 0``

    P[X >= k] = M(t) * E_t[ exp(-t X) ; X >= k ],    M(t) = E[exp(t X)] = prod_m (1 - p_m + p_m e^t)^n_m

where under ``E_t`` every cell is Bernoulli with ``q_m = p_m e^t / (1 - p_m + p_m e^t)`` (still
a sum of binomials). Choosing ``t`` so that the tilted mean is ``k`` puts the mass of the tilted
distribution around ``k``, where double precision represents it well. The tilted binomial
probabilities are computed in log space from the mode outwards, truncated where they fall below
``e^-80`` of the mode (a relative loss below 1e-30), convolved exactly (``numpy.convolve``), and
the tilted tail sum is taken in log space. ``t = 0`` when ``k`` is at or below the mean.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

_CUT = 80.0  # natural-log units below a component's mode at which its pmf is truncated
LN10 = math.log(10)


def log10_tail(groups: dict[float, int], k: int) -> float:
    """log10 P[X >= k] for X = sum over ``groups`` {p: n} of Bin(n, p); 0.0 for k <= 0."""
    items = tuple(sorted((float(p), int(n)) for p, n in groups.items() if n > 0))
    if k <= 0:
        return 0.0
    total = sum(n for _, n in items)
    if k > total:
        return -math.inf
    ps = np.array([p for p, _ in items])
    ns = np.array([n for _, n in items], dtype=np.float64)
    if k == total:  # all agree: the product of the probabilities, exactly
        return float(np.sum(ns * np.log(ps))) / LN10
    # Most releases scored are innocent, with k near the mean: the untilted distribution (cached per
    # set of cells) gives their tail directly; it is used only where it is far above the truncation.
    lo, tail = _untilted(items)
    if k <= lo:
        return 0.0
    if k - lo < len(tail) and tail[k - lo] >= 1e-25:
        return min(0.0, math.log10(float(tail[k - lo])))
    mean = float(np.sum(ns * ps))
    t = 0.0 if k <= mean else _tilt(ps, ns, k)
    logit_p = np.log(ps) - np.log1p(-ps)
    log_m = float(np.sum(ns * np.logaddexp(np.log1p(-ps), np.log(ps) + t)))
    lo, pmf = 0, np.ones(1)
    for (_, n), lq in zip(items, logit_p + t, strict=True):
        c_lo, c_pmf = _binomial(n, float(lq))
        lo += c_lo
        pmf = np.convolve(pmf, c_pmf)
        pmf /= pmf.max()  # keep the numbers near 1; the absolute scale is recovered below
    # The tilted distribution has total mass one, so normalising by the sum recovers it (the
    # truncation dropped less than e^-80 of each component's mass).
    x = lo + np.arange(len(pmf), dtype=np.float64)
    keep = (x >= k) & (pmf > 0)
    if not keep.any():
        return -math.inf
    terms = np.log(pmf[keep]) - t * x[keep]
    top = float(terms.max())
    log_tail = log_m + top + math.log(float(np.exp(terms - top).sum())) - math.log(float(pmf.sum()))
    return min(0.0, log_tail / LN10)


@lru_cache(maxsize=4096)
def _untilted(items: tuple[tuple[float, int], ...]) -> tuple[int, np.ndarray]:
    """(first x, P[X >= x] for each x from there) of the untilted distribution, truncated at e^-80."""
    lo, pmf = 0, np.ones(1)
    for p, n in items:
        c_lo, c_pmf = _binomial(n, math.log(p) - math.log1p(-p))
        lo += c_lo
        pmf = np.convolve(pmf, c_pmf)
        pmf /= pmf.max()
    tail = np.cumsum(pmf[::-1])[::-1]  # summed from the smallest terms: accurate far into the tail
    return lo, tail / tail[0]


def _tilt(ps: np.ndarray, ns: np.ndarray, k: int) -> float:
    """The t >= 0 at which sum n * q(t) = k (monotone in t: bisection)."""
    logit_p = np.log(ps) - np.log1p(-ps)

    def mean(t: float) -> float:
        return float(np.sum(ns / (1.0 + np.exp(-(logit_p + t)))))

    lo, hi = 0.0, 1.0
    while mean(hi) < k:
        lo, hi = hi, hi * 2
    for _ in range(100):
        mid = (lo + hi) / 2
        if mean(mid) < k:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


def _binomial(n: int, logit_q: float) -> tuple[int, np.ndarray]:
    """Bin(n, q) as (first x, pmf relative to its mode), truncated at e^-80 of the mode."""
    log_q = -float(np.logaddexp(0.0, -logit_q))
    q = math.exp(log_q)
    x0 = min(n, max(0, math.floor((n + 1) * q)))
    # log pmf(x) - log pmf(x-1) = log(n - x + 1) - log(x) + logit(q); only a window around the
    # mode is computed, widened to the whole range if the pmf has not fallen by e^-80 at its edge.
    w = int(2 * math.sqrt(2 * _CUT * n * q * (1 - q)) + 2 * _CUT + 16)
    while True:
        right = np.arange(x0 + 1, min(n, x0 + w) + 1, dtype=np.float64)
        lr = np.cumsum(np.log(n - right + 1) - np.log(right) + logit_q)
        left = np.arange(x0, max(0, x0 - w), -1, dtype=np.float64)
        ll = -np.cumsum(np.log(n - left + 1) - np.log(left) + logit_q)
        short = (len(lr) and x0 + w < n and lr[-1] > -_CUT) or (len(ll) and x0 - w > 0 and ll[-1] > -_CUT)
        if not short:
            break
        w *= 4
    r_keep = int(np.searchsorted(-lr, _CUT, side="right")) if len(lr) else 0
    l_keep = int(np.searchsorted(-ll, _CUT, side="right")) if len(ll) else 0
    # lr and ll fall monotonically away from the mode, so -lr and -ll are sorted ascending.
    rel = np.concatenate([ll[:l_keep][::-1], [0.0], lr[:r_keep]])
    return x0 - l_keep, np.exp(rel)
