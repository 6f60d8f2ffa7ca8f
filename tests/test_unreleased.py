"""The restoration bound behind ``unreleased``: no leaker holding release copies beats it.

``jejak.unreleased.restoration_chance`` bounds the chance that a leaker holding ``c`` copies of a
cell (each moved by an independent secret shift) puts back the registry's exact value, when he
knows how the registry's low-order units are distributed. These tests play the best possible
leaker — the Bayes-optimal guess from all his copies and the true distribution — and check that
he never does better than the bound, and that the bound's tail is super-uniform.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from jejak import unreleased
from jejak.attribution import fisher
from jejak.tail import log10_tail


def _best_leaker(jitter: int, copies: int, weights: np.ndarray, n: int, rng: np.random.Generator) -> float:
    """Success rate of the Bayes-optimal restoration of non-round values (residue weights ``weights``)."""
    modulus = len(weights)
    trial = np.array([r % unreleased.ROUND_STEP != 0 for r in range(modulus)])
    p = weights * trial
    v = rng.choice(modulus, size=n, p=p / p.sum()) + modulus * rng.integers(10, 1000, n)
    shifts = np.concatenate([np.arange(-jitter, 0), np.arange(1, jitter + 1)])
    d = rng.choice(shifts, size=(n, copies))
    e = np.arange(-2 * jitter, 2 * jitter + 1)  # offsets of candidate values from the truth
    ok = np.all((np.abs(d[:, :, None] - e[None, None, :]) <= jitter) & (d[:, :, None] != e[None, None, :]), axis=1)
    # The leaker knows only the copies: v + d. He scores candidate x = (copy - d') by its prior; the
    # posterior over e is the prior of (v + e) on the candidates his copies allow.
    post = np.where(ok, weights[(v[:, None] + e[None, :]) % modulus], 0.0)
    noise = rng.random(post.shape) * 1e-9  # ties broken at random
    guess = e[np.argmax(post + noise * (post > 0), axis=1)]
    return float(np.mean(guess == 0))


@pytest.mark.parametrize(("jitter", "copies"), [(30, 1), (30, 2), (30, 3), (9, 1), (9, 3), (120, 2), (120, 5)])
@pytest.mark.parametrize("skew", [False, True])
def test_the_best_possible_leaker_never_restores_more_often_than_the_bound(jitter: int, copies: int,
                                                                          skew: bool) -> None:
    rng = np.random.default_rng(jitter * 10 + copies + skew)
    modulus = 60 if jitter >= 30 else 10
    weights = np.ones(modulus)
    if skew:  # a registry whose low digits are far from uniform: some residues three times as common
        weights = 1.0 + 2.0 * (np.arange(modulus) % 3 == 0)
        weights[::unreleased.ROUND_STEP] = 30.0  # and round values very common
    counts = tuple(int(round(w * 1000)) for w in weights)
    q = unreleased.restoration_chance(jitter, copies, unreleased.Prior(modulus, counts))
    n = 40_000
    rate = _best_leaker(jitter, copies, weights, n, rng)
    assert rate <= q + 4 * math.sqrt(q * (1 - q) / n), (rate, q)
    assert q < 1.0


def test_round_values_are_not_trials_and_an_unseen_residue_is_not_counted() -> None:
    prior = unreleased.Prior(10, (50, 5, 5, 0, 5, 40, 5, 5, 5, 5))
    assert prior.non_round == [1, 2, 4, 6, 7, 8, 9] and prior.rho == 1.0
    assert unreleased.restoration_chance(9, 1, unreleased.Prior(10, (9,) + (0,) * 9)) == 1.0  # only round values


def test_more_pooled_copies_restore_more_and_a_wider_jitter_less() -> None:
    prior = unreleased.Prior(60, (1,) * 60)
    chances = [unreleased.restoration_chance(30, c, prior) for c in range(1, 8)]
    assert chances == sorted(chances)
    assert unreleased.restoration_chance(1800, 3, prior) < unreleased.restoration_chance(30, 3, prior) / 50


def test_the_bound_of_a_restored_count_is_super_uniform_under_the_best_leaker() -> None:
    # Leaks made from 3 pooled copies by the best leaker: the bound P[X >= restored] stays calibrated.
    rng = np.random.default_rng(3)
    prior = unreleased.Prior(60, (1,) * 60)
    q = unreleased.restoration_chance(30, 3, prior)
    per_leak, leaks = 60, 400
    wins = np.array([_best_leaker(30, 3, np.ones(60), per_leak, rng) * per_leak for _ in range(leaks)])
    bounds = np.array([10 ** log10_tail({q: per_leak}, int(round(w))) for w in wins])
    for a in (0.5, 0.1, 0.02):
        assert np.mean(bounds <= a) <= a + 3 * math.sqrt(a / leaks), a


def test_fishers_combination_of_independent_uniform_p_values_is_calibrated() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((20_000, 2))
    combined = np.array([10 ** fisher([math.log10(a), math.log10(b)]) for a, b in p])
    for a in (0.5, 0.1, 0.01):
        assert abs(np.mean(combined <= a) - a) <= 4 * math.sqrt(a / len(p)), a
    assert fisher([-3.0]) == -3.0 and fisher([-400.0, -500.0]) < -895
