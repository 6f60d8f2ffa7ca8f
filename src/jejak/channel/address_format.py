"""Format channel: equivalent writings of the parts of an Indonesian address.

An address has up to six parts that are written several equivalent ways; the first occurrence of
each part present in the registry value is rewritten in one of its styles:

    street  ``Jl.`` / ``Jln.`` / ``Jalan``             gang  ``Gg.`` / ``Gang``
    RT/RW   ``RT 007/RW 008`` / ``RT.07 RW.08`` / ``RT 7 RW 8``
    village ``Kel.`` / ``Kelurahan``   district ``Kec.`` / ``Kecamatan``   regency ``Kab.`` / ``Kabupaten``

``m`` is the product of the style counts of the parts present (up to 3*2*3*2*2*2 = 144, about
7 bits per address) and the symbol is read in mixed radix, street first. Every writing has the
registry value's normal form (``jj_addr_norm``), so a leaker who normalises addresses flattens
the channel, which the reader detects; the case of the value (all capitals or not) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jejak.channel.base import Channel
from jejak.roles import Role

if TYPE_CHECKING:
    from jejak.channel.base import Policy


@dataclass(frozen=True)
class Part:
    name: str
    pattern: str  # RE2, case-insensitive; matches the part's first occurrence
    styles: tuple[str, ...]  # SQL expressions of the writings, over the RT and RW numbers for rtrw


def _word(alternatives: str) -> str:
    # The word must be followed by a space (after an optional dot) so a rewriting never glues it
    # to the next word: "Jl.Merdeka" is left alone.
    return rf"(?i)\b({alternatives})\.? "


# ``RT 007/RW 008``, ``RT.07 RW.08``, ``Rt 7 Rw 8``, ``RT003 RW001``, ``RT 01, RW 02`` and ``RT/RW 012/006``;
# each number must end at a word boundary, as ``jj_addr_norm`` needs to read it the same way.
_RTRW = (r"(?i)\b(RT[ .]?([0-9]{1,3})\b[ ,/]*RW[ .]?([0-9]{1,3})|RT ?/ ?RW[ .]([0-9]{1,3}) ?/ ?([0-9]{1,3}))\b")

PARTS: tuple[Part, ...] = (
    Part("street", _word("JALAN|JLN|JL"), ("'Jl. '", "'Jln. '", "'Jalan '")),
    Part("gang", _word("GANG|GG"), ("'Gg. '", "'Gang '")),
    Part("rtrw", _RTRW, ("printf('RT %03d/RW %03d', {rt}, {rw})", "printf('RT.%02d RW.%02d', {rt}, {rw})",
                         "printf('RT %d RW %d', {rt}, {rw})")),
    Part("village", _word("KELURAHAN|KEL"), ("'Kel. '", "'Kelurahan '")),
    Part("district", _word("KECAMATAN|KEC"), ("'Kec. '", "'Kecamatan '")),
    Part("regency", _word("KABUPATEN|KAB"), ("'Kab. '", "'Kabupaten '")),
)


def _count(v: str, part: Part) -> str:
    return f"(CASE WHEN regexp_matches({v}, '{part.pattern}') THEN {len(part.styles)} ELSE 1 END)"


def _numbers(v: str) -> tuple[str, str]:
    def group(a: int, b: int) -> str:
        # TRY_CAST: a leaked RT/RW written in none of our styles (``Rt. 007``) has no numbers here;
        # it then matches no writing and is unreadable, as it should be, instead of an error.
        return (f"TRY_CAST(coalesce(nullif(regexp_extract({v}, '{_RTRW}', {a}), ''), "
                f"regexp_extract({v}, '{_RTRW}', {b})) AS BIGINT)")

    return group(2, 4), group(3, 5)


def _styled(expr: str, upper: str) -> str:
    return f"CASE WHEN {upper} THEN upper({expr}) ELSE {expr} END"


class AddressFormat(Channel):
    name = "address_format"
    robust = False
    roles = frozenset({Role.ADDRESS})

    def markable_sql(self, v: str, policy: Policy) -> str:
        product = " * ".join(_count(v, p) for p in PARTS)
        return f"CASE WHEN {v} IS NULL THEN 0 ELSE {product} END"

    def render_sql(self, v: str, s: str, policy: Policy) -> str:
        upper = f"({v} = upper({v}))"
        rt, rw = _numbers(v)
        x = v
        radix = "1"
        for part in PARTS:
            digit = f"((({s}) // ({radix})) % {_count(v, part)})"
            writing = " ".join(f"WHEN {i} THEN {_styled(st.format(rt=rt, rw=rw), upper)}"
                               for i, st in enumerate(part.styles))
            x = (f"CASE WHEN regexp_matches({v}, '{part.pattern}') "
                 f"THEN regexp_replace({x}, '{part.pattern}', CASE {digit} {writing} END) ELSE {x} END")
            radix = f"{radix} * {_count(v, part)}"
        return x

    def observe_sql(self, leaked: str, v: str, policy: Policy) -> str:
        x = f"trim({leaked})"
        total = "0"
        radix = "1"
        readable = []
        for part in PARTS:
            found = f"upper(regexp_extract({x}, '{part.pattern}', 0))"
            rt, rw = _numbers(x)
            cases = " ".join(f"WHEN {found} = upper({st.format(rt=rt, rw=rw)}) THEN {i}"
                             for i, st in enumerate(part.styles))
            style = f"(CASE {cases} END)"
            present = f"regexp_matches({v}, '{part.pattern}')"
            readable.append(f"(NOT {present} OR {style} IS NOT NULL)")
            total = f"{total} + CASE WHEN {present} THEN {style} * ({radix}) ELSE 0 END"
            radix = f"{radix} * {_count(v, part)}"
        # The normal form costs twelve regular expressions a side; a cell equal to the registry's
        # (most of a leak) has it without them.
        return (f"CASE WHEN {x} IS DISTINCT FROM {v} AND jj_addr_norm({x}) IS DISTINCT FROM jj_addr_norm({v}) "
                "THEN NULL "
                f"WHEN {' AND '.join(readable)} THEN {total} END")
