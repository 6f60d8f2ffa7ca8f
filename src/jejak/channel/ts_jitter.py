"""Robust channel: second-level jitter of timestamps, never changing the date.

Allowed shifts are the non-zero seconds in [-J, J] that keep the same calendar day; ``m`` is
their count (2J except near midnight). Zero is excluded so an unmarked copy (the data centre's
own) agrees with no release. Survives re-formatting: the shift is read as the difference between
the leaked instant and the registry's, whatever the leaked text looks like.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jejak.channel.base import Channel
from jejak.roles import Role

if TYPE_CHECKING:
    from jejak.channel.base import Policy

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

    def observe_sql(self, leaked: str, v: str, policy: Policy) -> str:
        j = policy.jitter_seconds
        parsed = (f"coalesce(try_strptime(trim({leaked}), '{FMT}'), try_strptime(trim({leaked}), '%Y-%m-%dT%H:%M:%S'),"
                  f" try_strptime(trim({leaked}), '%d/%m/%Y %H:%M:%S'))")
        delta = f"(epoch({parsed})::BIGINT - epoch(try_strptime({v}, '{FMT}'))::BIGINT)"
        return (f"CASE WHEN {delta} BETWEEN -{j} AND {j} AND {delta} <> 0 THEN "
                f"CASE WHEN {delta} < 0 THEN {delta} - {_lo(v, j)} ELSE {delta} - {_lo(v, j)} - 1 END END")
