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

from typing import TYPE_CHECKING, Any

import numpy as np

from jejak.channel.base import NULL_INT, Cells, Channel
from jejak.normalise import TS_MINUTE_FORMATS, TS_SECOND_FORMATS
from jejak.roles import Role

if TYPE_CHECKING:
    from jejak.channel.base import Policy

JOINT_FROM_VERSION = 2  # releases made before joint jitter (policy version 1) are reproduced as they were

FMT = "%Y-%m-%d %H:%M:%S"
_SHAPE = r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"


def _secs(v: str) -> str:
    # Seconds since midnight from the clock fields: epoch arithmetic goes wrong before 1970. The
    # value is parsed once (the lambda), not once per field: parsing is most of this channel's SQL.
    return f"list_transform([try_strptime({v}, '{FMT}')], lambda jj_c: {_clock('jj_c')})[1]"


def _clock(t: str) -> str:
    return f"(hour({t}) * 3600 + minute({t}) * 60 + second({t}))"


def _lo(v: str, j: int) -> str:
    return f"greatest(-{j}, -{_secs(v)})"


def _hi(v: str, j: int) -> str:
    return f"least({j}, 86399 - {_secs(v)})"


# Leaked renderings read to the second, and those that keep only the minute (rounded or cut).
_SECOND_FORMATS, _MINUTE_FORMATS = TS_SECOND_FORMATS, TS_MINUTE_FORMATS  # as verification reads them


def _list(formats: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{f}'" for f in formats) + "]"


class TsJitter(Channel):
    name = "ts_jitter"
    robust = True
    roles = frozenset({Role.TIMESTAMP})
    markable_from_facts = True
    # exact; re-jittered by seconds; seconds randomised, rounded or cut to the minute; minutes of noise
    tolerances = (0, 5, 60, 300)
    unit = "s"

    def offset_sql(self, leaked: str, v: str) -> tuple[str, str]:
        # A value read to the second gives one offset; one that keeps only the minute gives the 60
        # offsets of that minute. More than a day away is no mark (marks never leave the day).
        x = f"trim({leaked})"
        reg = f"epoch(try_strptime({v}, '{FMT}'))::BIGINT"
        sec = f"(epoch(try_strptime({x}, {_list(_SECOND_FORMATS)}))::BIGINT - {reg})"
        minute = f"(epoch(try_strptime({x}, {_list(_MINUTE_FORMATS)}))::BIGINT - {reg})"
        lo = f"coalesce({sec}, {minute})"
        width = f"CASE WHEN {sec} IS NULL THEN 59 ELSE 0 END"
        ok = f"abs({lo}) <= 86400"
        return f"CASE WHEN {ok} THEN {lo} END", f"CASE WHEN {ok} THEN {lo} + {width} END"

    def shift_range(self, cells: Cells, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
        lo = cells.facts["lo"] if "lo" in cells.facts else allowed(cells.facts["t"], policy.jitter_seconds)[0]
        return lo, lo + cells.m

    def shift(self, symbols: np.ndarray, lo: np.ndarray) -> np.ndarray:
        d = lo + symbols  # render_sql: shift lo + s, stepping over zero
        return np.where(d < 0, d, d + 1)

    def residue_sql(self, v: str) -> str:
        return f"second(try_strptime({v}, '{FMT}'))"

    def markable_sql(self, v: str, policy: Policy) -> str:
        # -_lo + _hi, the value parsed once (a registry-wide prior evaluates this on every row).
        j, secs = policy.jitter_seconds, _clock("jj_m")
        return (f"list_transform([try_strptime({v}, '{FMT}')], lambda jj_m: CASE WHEN jj_m IS NOT NULL "
                f"AND regexp_full_match({v}, '{_SHAPE}') THEN least({j}, {secs}) + least({j}, 86399 - {secs}) "
                "ELSE 0 END)[1]")

    def _delta(self, v: str, s: str, j: int) -> str:
        return f"CASE WHEN {_lo(v, j)} + ({s}) < 0 THEN {_lo(v, j)} + ({s}) ELSE {_lo(v, j)} + ({s}) + 1 END"

    def render_sql(self, v: str, s: str, policy: Policy) -> str:
        d = self._delta(v, s, policy.jitter_seconds)
        return f"strftime(try_strptime({v}, '{FMT}') + to_seconds({d}), '{FMT}')"

    def released_sql(self, v: str, s: str, policy: Policy) -> str:
        # The rendering is NULL exactly where the symbol is (and never fails), so coalesce does what
        # the CASE does: DuckDB runs strptime and strftime under a CASE nearly three times slower.
        return f"coalesce({self.render_sql(v, s, policy)}, {v})"

    def facts_sql(self, v: str, policy: Policy) -> dict[str, str]:
        # The instant of a value of the shape (NULL otherwise): m, the allowed shifts and the ties
        # follow from it in numpy, which costs a fifth of computing them per cell in SQL.
        return {"t": f"CASE WHEN regexp_full_match({v}, '{_SHAPE}') THEN epoch(try_strptime({v}, '{FMT}'))::BIGINT END"}

    def markable(self, facts: dict[str, np.ndarray], policy: Policy) -> np.ndarray:
        """``markable_sql`` from the instant: the count of allowed shifts (tested equal).

        Keeps the lowest allowed shift as the fact ``lo``, which ``joint`` needs.
        """
        t = facts["t"]
        lo, hi = allowed(t, policy.jitter_seconds)
        facts["lo"] = lo
        return np.where(t != NULL_INT, hi - lo, 0)

    def prepare(self, cells: list[Cells], policy: Policy) -> tuple[np.ndarray, np.ndarray] | None:
        if policy.version < JOINT_FROM_VERSION or len(cells) < 2:
            return None
        return joint(cells, policy)

    def symbols(self, cells: list[Cells], policy: Policy, prepared: Any = None) -> list[np.ndarray]:
        if policy.version < JOINT_FROM_VERSION or len(cells) < 2:
            return super().symbols(cells, policy)
        leader, ok = prepared if prepared is not None else joint(cells, policy)
        lead_words = _pick([c.words for c in cells], leader)
        return [np.where(ok[i], (lead_words[i] % np.maximum(c.m, 1).astype(np.uint64)).astype(np.int64), -1)
                for i, c in enumerate(cells)]

    def observe_sql(self, leaked: str, v: str, policy: Policy) -> str:
        j = policy.jitter_seconds
        parsed = (f"coalesce(try_strptime(trim({leaked}), '{FMT}'), try_strptime(trim({leaked}), '%Y-%m-%dT%H:%M:%S'),"
                  f" try_strptime(trim({leaked}), '%d/%m/%Y %H:%M:%S'))")
        delta = f"(epoch({parsed})::BIGINT - epoch(try_strptime({v}, '{FMT}'))::BIGINT)"
        return (f"CASE WHEN {delta} BETWEEN -{j} AND {j} AND {delta} <> 0 THEN "
                f"CASE WHEN {delta} < 0 THEN {delta} - {_lo(v, j)} ELSE {delta} - {_lo(v, j)} - 1 END END")


def allowed(t: np.ndarray, jitter: int) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest allowed shift of instants ``t`` (epoch seconds): ``_lo`` and ``_hi``."""
    secs = t - (t // 86_400) * 86_400  # seconds since midnight (floor division: right before 1970 too)
    return np.maximum(-jitter, -secs), np.minimum(jitter, 86_399 - secs)


def joint(cells: list[Cells], policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """``joint_leaders`` of a row's timestamp cells from their facts."""
    return joint_leaders([c.facts["t"] for c in cells], [c.m for c in cells], [c.facts["lo"] for c in cells],
                         policy.jitter_seconds)


def joint_leaders(t: list[np.ndarray], m: list[np.ndarray], lo: list[np.ndarray],
                  jitter: int) -> tuple[np.ndarray, np.ndarray]:
    """For each cell: its leader's column index, and whether it is marked; (k columns, n rows) arrays.

    Given one array per timestamp column (k of them, n rows each): ``t`` the registry instants in
    seconds, ``m`` the markable counts, ``lo`` the lowest allowed shifts (``allowed``). Cells with
    ``m >= 2`` that are at most 2J seconds apart are tied; groups are the connected components of
    that relation and lead by their first column. A group is marked only if all its members have
    the same (m, lo), so one shift suits them all. Whole-column operations only, which at a
    million rows is several times faster than indexing an (n, k) array per cell.
    """
    k, n = len(t), len(t[0])
    valid = [mi >= 2 for mi in m]
    label = np.repeat(np.arange(k, dtype=np.int64)[:, None], n, axis=1)
    for _ in range(k - 1):  # label propagation: after k-1 rounds every cell holds its group's first column
        for i in range(k):
            for j in range(k):
                if i != j:
                    tied = valid[i] & valid[j] & (np.abs(t[i] - t[j]) <= 2 * jitter)
                    label[i] = np.where(tied, np.minimum(label[i], label[j]), label[i])
    lead_m, lead_lo = _pick(m, label), _pick(lo, label)
    group_ok = np.ones((k, n), dtype=bool)
    for i in range(k):  # a group is spoiled by any member whose range differs from its leader's
        bad = (lead_m[i] != m[i]) | (lead_lo[i] != lo[i])
        for c in range(k):
            group_ok[c] &= ~(bad & (label[i] == c))
    ok = np.stack(valid) & _pick(list(group_ok), label)
    return label, ok


def _pick(columns: list[np.ndarray], label: np.ndarray) -> np.ndarray:
    """``out[i, r] = columns[label[i, r]][r]``: each cell's value in its leader's column."""
    out = np.empty((len(label), len(columns[0])), dtype=columns[0].dtype)
    for i in range(len(label)):
        out[i] = columns[i]
        for c in range(len(columns)):
            if c != i:
                np.copyto(out[i], columns[c], where=label[i] == c)
    return out
