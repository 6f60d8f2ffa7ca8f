"""Format channel: the letter case of an e-mail address's domain (which mail ignores).

The local part is never touched. Styles: ``gmail.com``, ``GMAIL.COM``, ``Gmail.com``,
``gmail.COM``. Lower-casing the addresses flattens the channel, which the reader detects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jejak.channel.base import Channel
from jejak.roles import Role

if TYPE_CHECKING:
    from jejak.channel.base import Policy

STYLES = 4


def _local(v: str) -> str:
    return f"split_part({v}, '@', 1)"


def _domain(v: str) -> str:
    return f"lower(split_part({v}, '@', 2))"


class EmailCase(Channel):
    name = "email_case"
    robust = False
    roles = frozenset({Role.EMAIL})

    def markable_sql(self, v: str, policy: Policy) -> str:
        return (f"CASE WHEN jj_email_norm({v}) IS NOT NULL AND {v} = trim({v}) "
                f"AND regexp_full_match({_domain(v)}, '[a-z][a-z0-9-]*(\\.[a-z0-9-]+)*\\.[a-z]{{2,}}') "
                f"THEN {STYLES} ELSE 0 END")

    def render_sql(self, v: str, s: str, policy: Policy) -> str:
        d = _domain(v)
        tld = f"regexp_extract({d}, '\\.[a-z]+$')"
        styled = (f"CASE ({s}) WHEN 0 THEN {d} WHEN 1 THEN upper({d}) "
                  f"WHEN 2 THEN upper(substr({d}, 1, 1)) || substr({d}, 2) "
                  f"ELSE substr({d}, 1, length({d}) - length({tld})) || upper({tld}) END")
        return f"{_local(v)} || '@' || {styled}"

    def observe_sql(self, leaked: str, v: str, policy: Policy) -> str:
        x = f"trim({leaked})"
        d = f"split_part({x}, '@', 2)"
        low = f"lower({d})"
        tld = f"regexp_extract({low}, '\\.[a-z]+$')"
        return (f"CASE WHEN {_local(x)} <> {_local(v)} OR {low} <> {_domain(v)} THEN NULL "
                f"WHEN {d} = {low} THEN 0 WHEN {d} = upper({low}) THEN 1 "
                f"WHEN {d} = upper(substr({low}, 1, 1)) || substr({low}, 2) THEN 2 "
                f"WHEN {d} = substr({low}, 1, length({low}) - length({tld})) || upper({tld}) THEN 3 END")
