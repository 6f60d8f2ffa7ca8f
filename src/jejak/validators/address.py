"""Indonesian addresses: one normal form for the many equivalent ways of writing them.

``Jl. Merdeka No. 5, RT 007/RW 008, Kel. Sukapura`` and ``JALAN MERDEKA NO 5 RT.07 RW.08
KELURAHAN SUKAPURA`` are the same address. ``normalise`` maps both to
``JL MERDEKA NO 5 RT 7 RW 8 KEL SUKAPURA``: ASCII letters upper-cased, ``, . /`` and whitespace
turned into single spaces, the usual words shortened to one abbreviation (``Jalan``/``Jln`` ->
``JL``, ``Gang`` -> ``GG``, ``Kelurahan`` -> ``KEL``, ``Kecamatan`` -> ``KEC``, ``Kabupaten`` ->
``KAB``, ``Desa`` -> ``DS``, ``Dusun`` -> ``DSN``, ``Nomor`` -> ``NO``) and the RT/RW numbers
written without leading zeros.

The DuckDB macro ``jj_addr_norm`` (installed by ``jejak.validators.sql.install``) computes the
same function on whole columns; the two are tested to agree on arbitrary text. To make that
possible everything here is deliberately ASCII-only: only ``a``-``z`` are upper-cased (Python's
and DuckDB's Unicode case tables differ) and the regular expressions use ASCII classes, which
Python (``re.ASCII``) and RE2 define identically.
"""

from __future__ import annotations

import re

# (pattern, replacement) applied in order; the same list generates the SQL macro.
SEPARATORS = r"[ \t\n\r\f\v,./]+"
WORDS: tuple[tuple[str, str], ...] = (
    ("JALAN|JLN|JL", "JL"),
    ("GANG|GG", "GG"),
    ("KELURAHAN|KEL", "KEL"),
    ("KECAMATAN|KEC", "KEC"),
    ("KABUPATEN|KAB", "KAB"),
    ("DESA|DS", "DS"),
    ("DUSUN|DSN", "DSN"),
    ("NOMOR|NO", "NO"),
)
# ``RT/RW 012/006`` (after separators became spaces: ``RT RW 012 006``) -> ``RT 012 RW 006``.
RTRW_JOINT = (r"\bRT ?RW ?([0-9]+) ([0-9]+)\b", r"RT \1 RW \2")
RT_RW = (
    (r"\bRT ?0*([0-9]+)\b", r"RT \1"),
    (r"\bRW ?0*([0-9]+)\b", r"RW \1"),
)

_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SEP = re.compile(SEPARATORS, re.ASCII)
_WORDS = [(re.compile(rf"\b({p})\b", re.ASCII), r) for p, r in WORDS]
_JOINT = re.compile(RTRW_JOINT[0], re.ASCII)
_RT_RW = [(re.compile(p, re.ASCII), r) for p, r in RT_RW]


def normalise(s: str) -> str:
    """The normal form of an address (see the module docstring); idempotent."""
    x = _SEP.sub(" ", s.translate(_UPPER)).strip(" ")
    for pattern, repl in _WORDS:
        x = pattern.sub(repl, x)
    x = _JOINT.sub(RTRW_JOINT[1], x)
    for pattern, repl in _RT_RW:
        x = pattern.sub(repl, x)
    return x


def macro_sql() -> str:
    """``jj_addr_norm(x)``: the same function as ``normalise``, as a DuckDB macro (NULL stays NULL)."""
    x = (f"trim(regexp_replace(translate(x, 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), "
         f"'{SEPARATORS}', ' ', 'g'), ' ')")
    for p, r in WORDS:
        x = f"regexp_replace({x}, '\\b({p})\\b', '{r}', 'g')"
    x = f"regexp_replace({x}, '{RTRW_JOINT[0]}', '{RTRW_JOINT[1]}', 'g')"
    for p, r in RT_RW:
        x = f"regexp_replace({x}, '{p}', '{r}', 'g')"
    return f"CREATE OR REPLACE TEMP MACRO jj_addr_norm(x) AS {x};"
