"""Robust channel: the lowest digit of amounts moved by -9..-1 or +1..+9 rupiah.

Survives any re-formatting that keeps the number (thousand separators, ``Rp``): the shift is
read as the leaked number minus the registry's. Only whole amounts of at least 1,000 are marked,
so a shift is below 1% of the value and never makes it zero or negative.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from jejak.channel.base import Cells, Channel
from jejak.roles import Role

if TYPE_CHECKING:
    from jejak.channel.base import Policy


def _number(leaked: str) -> str:
    # Zero decimals (5.619.584,00 or 5619584.00) go before the thousand separators, which would
    # otherwise multiply the amount by a hundred; as jj_amount in jejak.normalise.
    bare = f"regexp_replace(regexp_replace({leaked}, '^\\s*(Rp\\.?\\s*|IDR\\s*)?', '', 'i'), '[.,]0{{1,2}}\\s*$', '')"
    # What is left with one or two digits after a separator has cents: not a whole amount.
    return (f"CASE WHEN NOT regexp_matches({bare}, '[.,][0-9]{{1,2}}\\s*$') "
            f"THEN TRY_CAST(regexp_replace({bare}, '[.,\\s]', '', 'g') AS BIGINT) END")


class AmountDigits(Channel):
    name = "amount_digits"
    robust = True
    roles = frozenset({Role.AMOUNT})
    tolerances = (0, 2, 9, 9)
    unit = "Rp"

    def offset_sql(self, leaked: str, v: str) -> tuple[str, str]:
        d = f"({_number(leaked)} - TRY_CAST({v} AS BIGINT))"
        return d, d

    def shift_range(self, cells: Cells, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
        n = len(cells.m)
        return np.full(n, -9, dtype=np.int64), np.full(n, 9, dtype=np.int64)

    def shift(self, symbols: np.ndarray, lo: np.ndarray) -> np.ndarray:
        return np.where(symbols < 9, symbols - 9, symbols - 8)  # render_sql's numbering

    def residue_sql(self, v: str) -> str:
        return f"TRY_CAST({v} AS BIGINT) % 10"

    def markable_sql(self, v: str, policy: Policy) -> str:
        return f"CASE WHEN regexp_full_match({v}, '[1-9][0-9]{{3,17}}') THEN 18 ELSE 0 END"

    def render_sql(self, v: str, s: str, policy: Policy) -> str:
        return f"CAST(CAST({v} AS BIGINT) + CASE WHEN ({s}) < 9 THEN ({s}) - 9 ELSE ({s}) - 8 END AS VARCHAR)"

    def observe_sql(self, leaked: str, v: str, policy: Policy) -> str:
        d = f"({_number(leaked)} - TRY_CAST({v} AS BIGINT))"
        return f"CASE WHEN {d} BETWEEN -9 AND -1 THEN {d} + 9 WHEN {d} BETWEEN 1 AND 9 THEN {d} + 8 END"
