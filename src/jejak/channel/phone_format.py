"""Format channel: four equivalent writings of an Indonesian phone number.

``0812345678901``, ``62812345678901``, ``+62 812-3456-78901`` and ``0812 3456 78901`` are one
number (``jj_phone_norm`` gives the same E.164 for each). A leaker who normalises phones
flattens this channel; the reader sees every cell in one writing and ignores it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jejak.channel.base import Channel
from jejak.roles import Role

if TYPE_CHECKING:
    from jejak.channel.base import Policy

STYLES = 4


class PhoneFormat(Channel):
    name = "phone_format"
    robust = False
    roles = frozenset({Role.PHONE})

    def markable_sql(self, v: str, policy: Policy) -> str:
        return f"CASE WHEN jj_phone_ok({v}) THEN {STYLES} ELSE 0 END"  # jj_phone_norm is not NULL

    def render_sql(self, v: str, s: str, policy: Policy) -> str:
        # Called for markable values only, so the digits after 0/62 are the number; the lambda
        # computes them once instead of once per use (halves the cost of marking phones).
        digits = f"regexp_replace(jj_phone_digits({v}), '^(0|62)', '')"
        styled = (f"CASE ({s}) WHEN 0 THEN '0' || r WHEN 1 THEN '62' || r "
                  "WHEN 2 THEN '+62 ' || substr(r, 1, 3) || '-' || substr(r, 4, 4) || '-' || substr(r, 8) "
                  "ELSE '0' || substr(r, 1, 3) || ' ' || substr(r, 4, 4) || ' ' || substr(r, 8) END")
        return f"list_transform([{digits}], lambda r: {styled})[1]"

    def observe_sql(self, leaked: str, v: str, policy: Policy) -> str:
        x = f"trim({leaked})"
        return (f"CASE WHEN jj_phone_norm({x}) IS DISTINCT FROM jj_phone_norm({v}) THEN NULL "
                f"WHEN regexp_full_match({x}, '0[0-9]+') THEN 0 WHEN regexp_full_match({x}, '62[0-9]+') THEN 1 "
                f"WHEN regexp_full_match({x}, '\\+62 [0-9]{{3}}-[0-9]{{4}}-[0-9]+') THEN 2 "
                f"WHEN regexp_full_match({x}, '0[0-9]{{3}} [0-9]{{4}} [0-9]+') THEN 3 END")
