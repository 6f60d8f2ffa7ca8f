"""Robust channel: second-level jitter of timestamps, never changing the date or the order.

Allowed shifts are the non-zero seconds in [-J, J] that keep the same calendar day; ``m`` is
their count (2J except near midnight). Zero is excluded so an unmarked copy (the data centre's
own) agrees with no release. Survives re-formatting: the shift is read as the difference between
the leaked instant and the registry's, whatever the leaked text looks like.

Joint jitter (policy version 2): the timestamps of one row keep their order. Two timestamps of a
row more than 2J apart can never swap, whatever their shifts; closer ones (an update in the same
minute as the input, or equal to it) are *tied* and move by one shift. A row's markable
timestamp columns fall into groups (connected components of "at most 2J apart"); each group's
*leader* is its first column in dataset order, and every member carries the leader's symbol:

    symbol(cell c) = AES(key(release, "ts_jitter", leader(c)), digest) mod m(c)

A group whose members allow different shift ranges (near midnight) is left unmarked. See
``joint_leaders`` and docs/releases.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from jejak.channel.base import Cells, Channel
from jejak.roles import Role

if TYPE_CHECKING:
    from jejak.channel.base import Policy

JOINT_FROM_VERSION = 2  # releases made before joint jitter (policy version 1) are reproduced as they were

FMT = "%Y-%m-%d %H:%M:%S"
_SHAPE = r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"


def _secs(v: str) -> str:
    # Seconds since midnight from the clock fields: epoch arithmetic goes wrong before 1970.
    t = f"try_strptime({v}, '{FMT}')"
    return f"(hour({t}) * 3600 + minute({t}) * 60 + second({t}))"


def _lo(v: str, j: int) -> str:
    return f"greatest(-{j}, -{_secs(v)})"


def _hi(v: str, j: int) -> str:
    return f"least({j}, 86399 - {_secs(v)})"


class TsJitter(Channel):
    name = "ts_jitter"
    robust = True
    roles = frozenset({Role.TIMESTAMP})

    def markable_sql(self, v: str, policy: Policy) -> str:
        j = policy.jitter_seconds
        return (f"CASE WHEN regexp_full_match({v}, '{_SHAPE}') AND try_strptime({v}, '{FMT}') IS NOT NULL "
                f"THEN -{_lo(v, j)} + {_hi(v, j)} ELSE 0 END")

    def _delta(self, v: str, s: str, j: int) -> str:
        return f"CASE WHEN {_lo(v, j)} + ({s}) < 0 THEN {_lo(v, j)} + ({s}) ELSE {_lo(v, j)} + ({s}) + 1 END"

    def render_sql(self, v: str, s: str, policy: Policy) -> str:
        d = self._delta(v, s, policy.jitter_seconds)
        return f"strftime(try_strptime({v}, '{FMT}') + to_seconds({d}), '{FMT}')"

    def facts_sql(self, v: str, policy: Policy) -> dict[str, str]:
        # The instant (for ties) and the lowest allowed shift (groups need equal ranges).
        return {"t": f"epoch(try_strptime({v}, '{FMT}'))::BIGINT", "lo": _lo(v, policy.jitter_seconds)}

    def symbols(self, cells: list[Cells], policy: Policy) -> list[np.ndarray]:
        if policy.version < JOINT_FROM_VERSION or len(cells) < 2:
            return super().symbols(cells, policy)
        m = np.stack([c.m for c in cells], axis=1)
        leader, ok = joint_leaders(np.stack([c.facts["t"] for c in cells], axis=1), m,
                                   np.stack([c.facts["lo"] for c in cells], axis=1), policy.jitter_seconds)
        words = np.stack([c.words for c in cells], axis=1)
        lead_words = np.take_along_axis(words, leader, axis=1)
        sym = np.where(ok, (lead_words % np.maximum(m, 1).astype(np.uint64)).astype(np.int64), -1)
        return [sym[:, i] for i in range(len(cells))]

    def observe_sql(self, leaked: str, v: str, policy: Policy) -> str:
        j = policy.jitter_seconds
        parsed = (f"coalesce(try_strptime(trim({leaked}), '{FMT}'), try_strptime(trim({leaked}), '%Y-%m-%dT%H:%M:%S'),"
                  f" try_strptime(trim({leaked}), '%d/%m/%Y %H:%M:%S'))")
        delta = f"(epoch({parsed})::BIGINT - epoch(try_strptime({v}, '{FMT}'))::BIGINT)"
        return (f"CASE WHEN {delta} BETWEEN -{j} AND {j} AND {delta} <> 0 THEN "
                f"CASE WHEN {delta} < 0 THEN {delta} - {_lo(v, j)} ELSE {delta} - {_lo(v, j)} - 1 END END")


def joint_leaders(t: np.ndarray, m: np.ndarray, lo: np.ndarray, jitter: int) -> tuple[np.ndarray, np.ndarray]:
    """For each cell of (n rows, k timestamp columns): its leader's column index, and whether it is marked.

    ``t`` are the registry instants in seconds, ``m`` the markable counts, ``lo`` the lowest allowed
    shifts (``facts_sql``). Cells with ``m >= 2`` that are at most 2J seconds apart are tied;
    groups are the connected components of that relation and lead by their first column. A group
    is marked only if all its members have the same (m, lo), so one shift suits them all.
    """
    n, k = t.shape
    valid = m >= 2
    label = np.broadcast_to(np.arange(k), (n, k)).copy()
    for _ in range(k - 1):  # label propagation: after k-1 rounds every cell holds its group's first column
        for i in range(k):
            for j in range(k):
                if i != j:
                    tied = valid[:, i] & valid[:, j] & (np.abs(t[:, i] - t[:, j]) <= 2 * jitter)
                    label[:, i] = np.where(tied, np.minimum(label[:, i], label[:, j]), label[:, i])
    same = (np.take_along_axis(m, label, axis=1) == m) & (np.take_along_axis(lo, label, axis=1) == lo)
    group_ok = np.ones((n, k), dtype=bool)
    for i in range(k):  # a group is spoiled by any member whose range differs from its leader's
        bad = ~same[:, i]
        rows = np.nonzero(bad)[0]
        group_ok[rows, label[rows, i]] = False
    ok = valid & np.take_along_axis(group_ok, label, axis=1)
    return label, ok
