"""Robust channel: canary records — synthetic persons that exist in exactly one release.

**Embedding.** A canary looks like every other participant (valid NIK consistent with region, sex
and birth date; name; address in that region; phone; card number in sequence) but was never in
the registry and is given to one recipient only. It survives any normalisation, because it is
matched by its values. Canaries are drawn deterministically from the release secret, so a
reproduced release holds the same canaries at the same places.

**Tags, never values.** The ledger keeps a canary only as *tags*: for a field ``f`` and its
normalised value ``v``, under the canary index key ``K`` (``keys.canary_index_key``, hex ``Kx``)::

    tag = hex SHA-256( Kx ":" hex SHA-256( Kx ":" f ":" v ) )

A nested keyed hash (no length extension), computed identically by :func:`tag` in Python and by
:func:`tag_sql` in DuckDB. Whoever reads the ledger without the master secret has nothing to copy
into a forged leak: without ``K`` a tag cannot be matched to a value, not even by trying every
phone number. Normalisation (:func:`normalise`, :func:`normalise_sql`) is the same in both: codes
(card number, NIK, key) as ``jj_norm_code`` leaves them (digits as given, leading zeros kept;
spaces, dashes, dots and an Excel apostrophe removed), names upper-cased (ASCII letters) with
whitespace collapsed, phones in E.164 exactly as ``jj_phone_norm``, e-mails lower-cased (ASCII)
when well-formed, birth dates as ISO ``YYYY-MM-DD`` from ``YYYY-MM-DD``, ``DD/MM/YYYY`` or
``DD-MM-YYYY``. Case mapping is restricted to ASCII because DuckDB and Python map other letters
differently (``ß``); canary values are ASCII, so no hit is lost.

**Reading** (:func:`find`). A leaked row *hits* canary ``c`` when its card number/key or NIK has
``c``'s tag (the row is *located*) **and** at least one independent further field agrees: the
name or the e-mail (both derived from the one name, so they count once), the phone, or the second
identifier (the card number when the NIK located the row, or the other way round). A birth date
is reported when it agrees but never counts: the NIK encodes it, and the generator puts large
point masses on single dates (ages are clipped), so it proves little. Only rows not linked to a
registry person are examined (canaries were never in the registry): a 10M-row leak costs a few
thousand hashes, not ten million.

**The bound.** Under innocence of release ``R`` (the leak was made without ``R``'s file), ``R``'s
canaries are random draws of the generator, independent of the leak. For a leaked row and a
canary, the chance that they agree on a set ``S`` of independent fields is at most
``beta(S) = prod_{f in S} m_f * p_f``: ``p_f`` the largest conditional probability the generator
gives any single value of ``f`` (:func:`compute_maxima`, from ``jejak.synth``'s own pools and
weights), ``m_f`` the number of leaked columns holding ``f``; the identifier that located the row
gets probability 1. With ``N`` examined rows and ``K`` canaries in ``R``, and ``k`` distinct
*families* of ``R``'s canaries hit at level ``<= b`` (canaries are drawn in families, which share
a phone now and then and their region, so only families are independent)::

    P[k families hit at level <= b] <= C(K, k) * (N * w(b))^k,   w(b) = sum_{S: beta(S) <= b} beta(S)

and ``log10_p`` is the smallest such value over the observed levels ``b`` (and ``j <= k``), times
the number of possible levels. ``docs/attribution.md`` §5 gives the derivation in full.
"""

from __future__ import annotations

import hashlib
import math
import re
import string
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import product
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jejak import keys
from jejak.channel.base import q
from jejak.roles import Role

RATE = 1 / 2000  # one canary per 2,000 rows: invisible in use, and a 500-row leak still holds one
MINIMUM = 3
_LEDGER_FIELDS = {Role.NIK: "nik", Role.PHONE: "phone", Role.EMAIL: "email", Role.NAME: "name", Role.DATE: "birth_date"}

#: The fields of a canary the ledger keeps as tags, in ledger order.
TAG_FIELDS = ("key", "nik", "noka", "name", "phone", "email", "birth_date")
#: Which plaintext field (``make_canaries``' ledger row, the pre-tag ledger) each tag comes from.
_PLAIN = {"key": "canary_key", "nik": "nik", "noka": "noka", "name": "name", "phone": "phone",
          "email": "email", "birth_date": "birth_date"}
_KIND = {"key": "code", "nik": "code", "noka": "code", "name": "name", "phone": "phone", "email": "email",
         "birth_date": "date"}
_VARIABLE = "jj_canary_index"


def count_for(rows: int) -> int:
    return max(MINIMUM, round(rows * RATE))


# -- tags -------------------------------------------------------------------------------------------------

# Whitespace is spelled out (DuckDB's trim() and Python's strip() disagree about which characters
# it is): ASCII whitespace and the no-break space spreadsheets love, in both languages alike.
_SPACE = r"[\t\n\f\r \xa0]"
_STRIP = "\t\n\f\r \xa0"
_CODE_JUNK = r"[\t\n\f\r \xa0.-]"
_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_SQL_UPPER = f"'{string.ascii_lowercase}', '{string.ascii_uppercase}'"
_SQL_LOWER = f"'{string.ascii_uppercase}', '{string.ascii_lowercase}'"
_CODE = re.compile(r"[0-9A-Z]+")
_PHONE = re.compile(r"(0|62)8[1-9][0-9]{6,10}")
_EMAIL = re.compile(r"[a-z0-9._%+'-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}")
_ISO = re.compile(r"([1-9][0-9]{3})-([0-9]{2})-([0-9]{2})")
_DMY = re.compile(r"([0-9]{2})([/-])([0-9]{2})\2([1-9][0-9]{3})")


def normalise(field: str, value: str | None) -> str | None:
    """A canary field's value in the form its tag is taken of (None: no value). Same as :func:`normalise_sql`."""
    if value is None:
        return None
    kind = _KIND[field]
    if kind == "code":  # jj_norm_code's equivalences (and tabs, no-break spaces), ASCII upper-casing
        if _CODE.fullmatch(value):
            return value
        return re.sub(_CODE_JUNK, "", value).lstrip("'").translate(_UPPER) or None
    if kind == "name":
        return re.sub(_SPACE + "+", " ", value.translate(_UPPER)).strip(" ") or None
    if kind == "phone":  # jj_phone_norm
        digits = re.sub(r"[^0-9]", "", value)
        return "+62" + re.sub(r"^(0|62)", "", digits, count=1) if _PHONE.fullmatch(digits) else None
    if kind == "email":
        mail = value.strip(_STRIP).translate(_LOWER)
        return mail if _EMAIL.fullmatch(mail) else None
    text = value.strip(_STRIP)
    if m := _ISO.fullmatch(text):
        y, mo, d = m.groups()
    elif m := _DMY.fullmatch(text):
        d, _, mo, y = m.groups()
    else:
        return None
    try:
        return date(int(y), int(mo), int(d)).isoformat()
    except ValueError:
        return None


def normalise_sql(field: str, expr: str) -> str:
    """DuckDB SQL of :func:`normalise` over ``expr`` (NULL: no value)."""
    x = f"({expr})"
    kind = _KIND[field]
    strip = f"regexp_replace({x}, '^{_SPACE}+|{_SPACE}+$', '', 'g')"
    if kind == "code":
        bare = f"ltrim(regexp_replace({x}, '{_CODE_JUNK}', '', 'g'), {_sql_text(chr(39))})"
        return (f"CASE WHEN regexp_full_match({x}, '[0-9A-Z]+') THEN {x} "
                f"ELSE nullif(translate({bare}, {_SQL_UPPER}), '') END")
    if kind == "name":
        collapsed = f"regexp_replace(translate({x}, {_SQL_UPPER}), '{_SPACE}+', ' ', 'g')"
        return f"nullif(regexp_replace({collapsed}, '^ | $', '', 'g'), '')"
    if kind == "phone":
        digits = f"regexp_replace({x}, '[^0-9]', '', 'g')"
        return (f"CASE WHEN regexp_full_match({digits}, '{_PHONE.pattern}') "
                f"THEN '+62' || regexp_replace({digits}, '^(0|62)', '') END")
    if kind == "email":
        mail = f"translate({strip}, {_SQL_LOWER})"
        return f"CASE WHEN regexp_full_match({mail}, {_sql_text(_EMAIL.pattern)}) THEN {mail} END"
    iso = (f"CASE WHEN regexp_full_match({strip}, '{_ISO.pattern}') THEN {strip} "
           f"WHEN regexp_full_match({strip}, '[0-9]{{2}}/[0-9]{{2}}/[1-9][0-9]{{3}}') "
           f"OR regexp_full_match({strip}, '[0-9]{{2}}-[0-9]{{2}}-[1-9][0-9]{{3}}') "
           f"THEN substr({strip}, 7, 4) || '-' || substr({strip}, 4, 2) || '-' || substr({strip}, 1, 2) END")
    return f"CASE WHEN TRY_CAST(({iso}) AS DATE) IS NOT NULL THEN ({iso}) END"


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def tag(key: bytes, field: str, value: str | None) -> str | None:
    """The tag of ``value`` as canary field ``field`` under the index key (None: no value)."""
    v = normalise(field, value)
    if v is None:
        return None
    k = key.hex()
    inner = hashlib.sha256(f"{k}:{field}:{v}".encode()).hexdigest()
    return hashlib.sha256(f"{k}:{inner}".encode()).hexdigest()


def tag_sql(key: bytes | str, field: str, sql_expr: str) -> str:
    """DuckDB SQL of :func:`tag` over ``sql_expr``.

    ``key`` is the index key, or the SQL of its hex (e.g. the variable of :func:`index_variable`).
    With bytes the key is written into the SQL text, and DuckDB quotes a query's text in its error
    messages: never run such SQL where an error could reach a log. :func:`find` uses the variable.
    """
    k = f"'{key.hex()}'" if isinstance(key, bytes) else key
    if field not in _KIND:
        raise ValueError(f"unknown canary field {field!r}")
    return f"sha256({k} || ':' || sha256({k} || ':{field}:' || ({normalise_sql(field, sql_expr)})))"


@contextmanager
def index_variable(con: duckdb.DuckDBPyConnection, key: bytes) -> Iterator[str]:
    """The index key as a DuckDB variable while the block runs; yields the SQL that reads it.

    A query parameter is never quoted in an error message, so the key stays out of errors and logs.
    """
    con.execute(f"SET VARIABLE {_VARIABLE} = ?", [key.hex()])
    try:
        yield f"getvariable('{_VARIABLE}')"
    finally:
        con.execute(f"RESET VARIABLE {_VARIABLE}")


def tag_row(row: Mapping[str, Any], index_key: bytes) -> dict[str, Any]:
    """A plaintext canary row (``make_canaries``' or an old ledger's) as the ledger keeps it: tags only.

    ``family`` (the family the canary was drawn in) is kept when given; a date becomes ISO text.
    """
    out: dict[str, Any] = {}
    for name in TAG_FIELDS:
        value = row.get(_PLAIN[name])
        if isinstance(value, date):
            value = value.isoformat()
        out[name] = tag(index_key, name, value)
    if row.get("family") is not None:
        out["family"] = int(row["family"])
    return out


# -- embedding ------------------------------------------------------------------------------------------


def make_canaries(
    con: duckdb.DuckDBPyConnection, *, versions_table: str, key_column: str, columns: list[str],
    roles: dict[str, Role], as_of: date, release_secret: bytes, rows: int, index_key: bytes,
    where_sql: str | None = None, blend: bool = False,
) -> tuple[pa.Table | None, list[dict[str, Any]]]:
    """The release's canaries as a table (its columns, ``_key`` and an odd ``_pos``) and their ledger rows.

    Real rows have ``_pos`` 0, 2, 4, ... in key order; a canary's odd ``_pos`` puts it between two
    of them. Canaries need the participant layout (their values come from the synthetic
    generator); for another layout there are none (``None, []``) and the caller records zero.
    The ledger rows hold tags under ``index_key`` only (:func:`tag_row`): no value leaves here
    for the ledger.

    ``blend`` (policy 3): a canary must not stand out of its release. It satisfies the release's
    filter ``where_sql`` (a branch office's extract gets canaries of that office) and the caller
    places it where its key sorts (``_pos`` is then 1 for all, and ignored): a canary spliced at a
    random place broke the key order, which showed every one of them to anyone who sorted.
    """
    from jejak.synth import PARTICIPANT_COLUMNS

    if key_column not in PARTICIPANT_COLUMNS:
        return None, []
    seed = int.from_bytes(keys.channel_key(release_secret, "canary", "rows")[:8], "big")
    nik_cols = [c for c, r in roles.items() if r == Role.NIK and c in PARTICIPANT_COLUMNS]
    n = count_for(rows)
    nik_col = nik_cols[0] if nik_cols else None
    if blend:
        people = _passing(con, versions_table, nik_col, key_column, n, seed, as_of, where_sql)
        n = people.num_rows
        positions = np.zeros(n, dtype=np.int64)
    else:
        rng, people = _people(con, versions_table, nik_col, key_column, n, seed, as_of)
        positions = np.sort(rng.integers(0, rows + 1, n))
    shared = [c for c in columns if c in people.column_names]
    data = {c: people.column(c) for c in shared}
    data["_key"] = people.column(key_column)
    data["_pos"] = pa.array(2 * positions.astype(np.int64) + 1)  # between real rows, whose _pos is even
    return pa.table(data), [tag_row(_ledger_row(people, i, key_column, roles, shared), index_key) for i in range(n)]


#: Draws tried for canaries that pass a release's filter: n times each factor in turn, at most
#: MAX_DRAW people; a filter so narrow that fewer pass gets fewer canaries (the ledger says how many).
_DRAW_FACTORS = (4, 64, 1024)
_MAX_DRAW = 200_000


def _passing(con: duckdb.DuckDBPyConnection, table: str, nik_col: str | None, key_col: str, n: int, seed: int,
             as_of: date, where_sql: str | None) -> pa.Table:
    """``n`` canaries that satisfy ``where_sql``, in key order: the first that pass in ever larger draws."""
    for factor in _DRAW_FACTORS if where_sql else (1,):
        draw = min(_MAX_DRAW, max(n, n * factor))
        _, people = _people(con, table, nik_col, key_col, draw, seed, as_of)
        if where_sql:
            con.register("_jj_canary_draw", people)
            try:
                mask = con.sql(f"SELECT coalesce(({where_sql}), false) FROM _jj_canary_draw").fetchnumpy()
            except duckdb.Error:  # the filter names a column canaries do not have: none can pass
                return people.slice(0, 0)
            finally:
                con.unregister("_jj_canary_draw")
            people = people.filter(pa.array(next(iter(mask.values())), pa.bool_()))
        if people.num_rows >= n or draw == _MAX_DRAW:
            break
    people = people.slice(0, n)
    return people.take(pc.sort_indices(people.column(key_col)))


def _people(
    con: duckdb.DuckDBPyConnection, table: str, nik_col: str | None, key_col: str, n: int, seed: int, as_of: date,
) -> tuple[np.random.Generator, pa.Table]:
    """``make_people`` avoiding every NIK and card number the registry ever held, without loading them all.

    A first draw without exclusions shows where the canaries' NIKs fall: their bases (district
    and birth date; a NIK only ever moves within its base when it clashes). A second, with those
    NIKs excluded, shows where each card-number slot search starts (a clash only moves a slot up). Only registry
    values in those places can matter; the real draw, from the
    same seed, gives exactly what it would with every registry value excluded. The people carry
    ``_family`` (the bound counts families, see the module docstring).
    """
    from jejak.synth import make_people
    from jejak.synth.people import NOKA_BASE, NOKA_PER_SLOT

    probe = make_people(n, np.random.default_rng(seed), as_of=as_of)
    taken_nik = None
    if nik_col is not None:
        bases = np.unique(_ints(probe.column(nik_col)) // 10_000)
        con.register("_jj_nik_bases", pa.table({"b": bases}))
        try:
            taken_nik = con.sql(
                f"SELECT TRY_CAST({q(nik_col)} AS BIGINT) FROM {table} "  # repeats: make_people takes a set
                f"WHERE regexp_full_match({q(nik_col)}, '[0-9]{{1,18}}') "
                f"AND TRY_CAST({q(nik_col)} AS BIGINT) // 10000 IN (SELECT b FROM _jj_nik_bases)"
            ).to_arrow_table().column(0)
        finally:
            con.unregister("_jj_nik_bases")
    # With the NIKs excluded (which draws the same random numbers as the real draw) but no card
    # numbers, the slots are where every search starts (clashes only move a slot up).
    if taken_nik is not None:
        probe = make_people(n, np.random.default_rng(seed), as_of=as_of, exclude_nik=taken_nik)
    start = np.unique((_ints(probe.column(key_col)) - NOKA_BASE) // NOKA_PER_SLOT)
    k = q(key_col)
    taken = con.sql(  # every card number ever held, as sorted integers; repeats (one per version) do no harm
        f"SELECT TRY_CAST({k} AS BIGINT) AS v FROM {table} "
        f"WHERE regexp_full_match({k}, '[0-9]{{1,18}}') ORDER BY v"
    ).fetchnumpy()["v"].astype(np.int64)
    slot_of = (taken - NOKA_BASE) // NOKA_PER_SLOT  # sorted, with repeats
    used = slot_of[np.r_[True, slot_of[1:] != slot_of[:-1]]] if len(slot_of) else slot_of
    # A search from s passes only taken slots and the slots of the other n-1 canaries, so it ends
    # at or before the n-th free slot from s. With D = used - index (non-decreasing), the free
    # slots in [s, used[i]) number D[i] - (s - i0), which finds that slot by binary search.
    i0 = np.searchsorted(used, start)
    d = used - np.arange(len(used))
    i1 = np.searchsorted(d, start - i0 + n, side="left")
    end = start + n + (i1 - i0)  # one past the n-th free slot at or after s
    lo = np.searchsorted(taken, NOKA_BASE + start * NOKA_PER_SLOT)
    hi = np.searchsorted(taken, NOKA_BASE + end * NOKA_PER_SLOT)
    cover = np.zeros(len(taken) + 1, dtype=np.int64)
    np.add.at(cover, lo, 1)
    np.add.at(cover, hi, -1)
    near = taken[np.cumsum(cover)[:-1] > 0]
    rng = np.random.default_rng(seed)
    people = make_people(n, rng, as_of=as_of, exclude_nik=taken_nik, exclude_noka=pa.array(near, pa.int64()),
                         families=True)
    return rng, people


def _ints(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.cast(col, pa.int64()).to_numpy(), dtype=np.int64)


def _ledger_row(people: pa.Table, i: int, key: str, roles: dict[str, Role], shared: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"canary_key": people.column(key)[i].as_py()}
    if roles.get(key) == Role.CARD:
        row["noka"] = row["canary_key"]
    for c in shared:
        name = _LEDGER_FIELDS.get(roles.get(c, Role.TEXT))
        if name and name not in row:
            row[name] = people.column(c)[i].as_py()
    if "_family" in people.column_names:
        row["family"] = people.column("_family")[i].as_py()
    return row


# -- the generator's largest probabilities ------------------------------------------------------------------


@dataclass(frozen=True)
class Maxima:
    """For each counted field, an upper bound on the probability that a canary takes any one value.

    Each bound holds *conditionally*: given every other field of the canary and every other family
    of the release, which is what lets them multiply (docs/attribution.md §5).
    """

    name: float
    email: float
    phone: float
    nik: float


# Float sampling (searchsorted over a cumulative sum, a uniform scaled and truncated) can give a
# value slightly more than its nominal share; a relative 1e-6 covers that with room to spare.
_SLACK = 1 + 1e-6


def compute_maxima(pools: Any = None, district_weight: np.ndarray | None = None) -> Maxima:
    """The :class:`Maxima` of ``jejak.synth``'s generator, from its own pools, weights and shares.

    * **name** — given everything else about the person, the name varies only with the draw of the
      given name (from the sex's pool, by weight) or, in Bali, the birth-order prefix and the
      Balinese given name (uniform): the largest weight of one normalised given name (merged by
      normal form), or 1/(prefixes x names) in Bali.
    * **e-mail** — the local part is built from the given name in one of eight styles (one uses its
      initial only, one appends a number 1-998), at a domain drawn by share: summed over styles,
      share of the style x largest share of the given-name part it uses, times the largest domain
      share; for the Balinese pools too, whose few names make the e-mail weak.
    * **phone** — prefix by market share, length (11, 12 or 13 digits) and a uniform subscriber
      number: the largest prefix share x the largest (length share / subscriber numbers).
    * **NIK** — its district is drawn by population (or, for a spouse from elsewhere, uniformly in
      the family's province, whose average weight is at most the largest); birth date and serial
      are bounded by 1 (ages are clipped, which puts point masses on single dates, and serials
      depend on the registry): the largest district weight.

    ``pools`` and ``district_weight`` replace the generator's (tests use tiny ones).
    """
    from jejak.synth import names as nm
    from jejak.synth import people as pp

    P = pools if pools is not None else nm.pools()
    if district_weight is None:
        from jejak.synth.regions import geography

        district_weight = geography().weight
    tokens = P.tokens.to_pylist()
    lower = P.lower.to_pylist()
    given = [(P.male, P.male_p), (P.female, P.female_p)]
    bali = [(P.bali_given[s], np.full(len(P.bali_given[s]), 1.0 / len(P.bali_given[s])), len(P.bali_order[s]))
            for s in (0, 1)]

    def top(idx: np.ndarray, p: np.ndarray, form: Any) -> float:
        merged: dict[str, float] = {}
        for i, w in zip(idx.tolist(), np.asarray(p, dtype=float).tolist(), strict=True):
            merged[form(i)] = merged.get(form(i), 0.0) + w
        return max(merged.values())

    def bali_factor(idx: np.ndarray, orders: int) -> int:
        # The prefix and the given name are both drawn; the pair is read back from the name only
        # when given names hold no space (the given name is then the word after the prefix).
        return orders if not any(re.search(_SPACE, tokens[t]) for t in idx.tolist()) else 1

    name = max([top(i, p, lambda t: normalise("name", tokens[t]) or "") for i, p in given]
               + [top(i, p, lambda t: normalise("name", tokens[t]) or "") / bali_factor(i, orders)
                  for i, p, orders in bali])
    style = np.asarray(pp.EMAIL_STYLE_P, dtype=float)
    style = style / style.sum()
    alone = (style[0::2].sum(), style[1::2].sum())  # no second name: even styles give 3, odd give 5
    numbers = pp.EMAIL_NUMBER_STOP - 1
    email = 0.0
    for idx, p, *_ in given + bali:
        q_given = top(idx, p, lambda t: lower[t])
        q_initial = top(idx, p, lambda t: lower[t][:1])
        # Styles 0-2, 4, 5, 7 spell the given name out; 3 appends a number; 6 keeps its initial.
        with_other = style[[0, 1, 2, 4, 5, 7]].sum() * q_given + style[3] * q_given / numbers + style[6] * q_initial
        without = alone[0] * q_given / numbers + alone[1] * q_given
        email = max(email, with_other, without)
    domain = max(pp.EMAIL_DOMAIN_P) / sum(pp.EMAIL_DOMAIN_P)
    shares = np.asarray(list(pp.MOBILE_SHARES.values()), dtype=float)
    length_p = np.asarray(pp.PHONE_LENGTH_P, dtype=float) / sum(pp.PHONE_LENGTH_P)
    subscriber = [10.0 ** (n - 3) for n in pp.PHONE_LENGTHS]  # after a 3-digit prefix, uniform
    phone = shares.max() / shares.sum() * max(s / k for s, k in zip(length_p, subscriber, strict=True))
    return Maxima(name=float(name * _SLACK), email=float(email * domain * _SLACK), phone=float(phone * _SLACK),
                  nik=float(np.max(district_weight) * _SLACK))


@lru_cache(maxsize=1)
def generator_maxima() -> Maxima:
    """:func:`compute_maxima` of the generator, computed once (loading the map takes most of a second)."""
    return compute_maxima()


# -- reading --------------------------------------------------------------------------------------------

_MATCHED = ("current", "outdated")
#: Bits of a hit's ``fields`` mask.
FIELD_BITS = {"key": 0, "noka": 1, "nik": 2, "name": 3, "email": 4, "phone": 5, "birth_date": 6}
_ROLE_FIELD = {Role.CARD: "noka", Role.NIK: "nik", Role.NAME: "name", Role.EMAIL: "email", Role.PHONE: "phone",
               Role.DATE: "birth_date"}
_HITS = "_jj_canary_found"


@dataclass(frozen=True)
class CanaryHit:
    """The strongest hit of one canary: where, which fields agreed (never their values), how strong."""

    canary: str  # the canary's key tag: an opaque id
    line: int  # the first leaked line with this hit
    fields: tuple[str, ...]  # every field that agreed, locating identifiers and birth date included
    counted: tuple[str, ...]  # the independent fields the bound uses: name or email, phone, identifiers
    log10_beta: float  # log10 of the chance that an innocent row agrees on ``counted``

    def to_json(self) -> dict[str, Any]:
        return {"canary": self.canary, "line": self.line, "fields": list(self.fields),
                "counted": list(self.counted), "log10_beta": round(self.log10_beta, 3)}


@dataclass
class CanaryEvidence:
    """What a leak holds of one release's canaries, with the false-accusation bound."""

    release_id: str
    canaries: int  # distinct canaries hit
    families: int  # distinct families hit (canaries of unknown family count as one family)
    planted: int  # K: canaries the release holds
    rows: int  # N: leaked rows examined (not linked to a registry person, holding an identifier)
    levels: int  # evidence levels the bound was allowed to choose from
    log10_p: float  # log10 of the bound for this release alone
    tested: int  # releases whose canaries were looked for (for the multiple-testing correction)
    hits: list[CanaryHit] = field(default_factory=list)

    @property
    def log10_bound(self) -> float:
        """``log10_p`` corrected for every release tested (Bonferroni)."""
        return min(0.0, self.log10_p + math.log10(max(self.tested, 1)))

    def to_json(self) -> dict[str, Any]:
        p = self.log10_p if math.isfinite(self.log10_p) else -1e308
        return {"release_id": self.release_id, "canaries": self.canaries, "families": self.families,
                "planted": self.planted, "rows": self.rows, "levels": self.levels, "tested": self.tested,
                "log10_p": round(p, 3), "log10_bound": round(min(0.0, p + math.log10(max(self.tested, 1))), 3),
                "hits": [h.to_json() for h in self.hits]}


@dataclass(frozen=True)
class _Plan:
    """Which leaked columns hold which canary field."""

    ident: list[tuple[str, str]]  # (field, column) of the locating identifiers: key, card numbers, NIKs
    other: list[tuple[str, str]]  # (field, column) of name, e-mail, phone, birth date
    key_is: str | None  # "noka" or "nik" when the key column is a card number or a NIK

    @classmethod
    def of(cls, columns: Mapping[Role, Sequence[str]], key: str | None) -> _Plan:
        by = {f: list(dict.fromkeys(columns.get(r, []))) for r, f in _ROLE_FIELD.items()}
        # A key that is a card number or a NIK is matched as one (a canary's noka or NIK is its key
        # then): tagging it twice would double the hashing of every examined row for nothing.
        ident = [("key", key)] if key is not None and key not in by["noka"] + by["nik"] else []
        ident += [("noka", c) for c in by["noka"]] + [("nik", c) for c in by["nik"]]
        other = [(f, c) for f in ("name", "email", "phone", "birth_date") for c in by[f]]
        key_is = "noka" if key in by["noka"] else "nik" if key in by["nik"] else None
        return cls(ident, other, key_is)

    def count(self, name: str) -> int:
        return sum(1 for f, _ in self.ident + self.other if f == name)


def hits(
    con: duckdb.DuckDBPyConnection, *, canaries: Sequence[Mapping[str, Any]], relation: str,
    columns: Mapping[Role, Sequence[str]], index_key: bytes, key: str | None = None, table: str = "_jj_canary_hit",
) -> int:
    """Create TEMP ``table`` with one row per (leaked line, canary) hit; return the rows examined.

    ``relation`` has ``_line``, ``_class`` (rows ``current``/``outdated`` are linked to a registry
    person and skipped) and the leaked text under registry column names; ``columns`` says which
    of them hold which role and ``key`` which holds the dataset key. ``canaries`` are ledger rows
    (tags). The table has ``_line``, ``_i`` (index into ``canaries``), ``canary`` (its key tag)
    and ``_fields`` (a mask of :data:`FIELD_BITS`).
    """
    plan = _Plan.of(columns, key)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} (_line BIGINT, _i INTEGER, canary VARCHAR, _fields INTEGER)")
    if not canaries or not plan.ident:
        return 0
    con.register("_jj_cn_c", pa.table(
        {"_i": pa.array(range(len(canaries)), pa.int32()),
         **{f: pa.array([c.get(f) for c in canaries], pa.string()) for f in TAG_FIELDS}}))
    examined = f"(SELECT * FROM {relation} WHERE NOT coalesce(_class IN {_MATCHED}, false))"
    try:
        with index_variable(con, index_key) as k:
            ids = ", ".join(f"{tag_sql(k, f, q(c))} AS _t{j}" for j, (f, c) in enumerate(plan.ident))
            con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_cn_ids AS SELECT _line, {ids} FROM {examined}")
            n = con.execute("SELECT count(*) FROM _jj_cn_ids WHERE " + " OR ".join(
                f"_t{j} IS NOT NULL" for j in range(len(plan.ident)))).fetchall()[0][0]
            # One equi-join per identifier column with the (few) canaries: an OR in one join
            # condition would compare every examined row with every canary.
            pairs = " UNION ALL ".join(
                f"SELECT i._line, c._i FROM _jj_cn_ids i JOIN _jj_cn_c c ON i._t{j} = c.{f}"
                for j, (f, _) in enumerate(plan.ident))
            con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_cn_pairs AS SELECT DISTINCT _line, _i FROM ({pairs})")
            # The other fields' tags only for the located lines: a handful of hashes.
            others = "".join(f", {tag_sql(k, f, q(c))} AS _o{j}" for j, (f, c) in enumerate(plan.other))
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _jj_cn_other AS SELECT _line{others} FROM {relation}
                    WHERE _line IN (SELECT _line FROM _jj_cn_pairs)""")
        agree = {f: [f"i._t{j} = c.{f}" for j, (g, _) in enumerate(plan.ident) if g == f]
                 + [f"o._o{j} = c.{f}" for j, (g, _) in enumerate(plan.other) if g == f] for f in FIELD_BITS}
        mask = " + ".join(f"(coalesce({' OR '.join(agree[f])}, false)::INTEGER << {b})"
                          for f, b in FIELD_BITS.items() if agree[f])
        con.execute(
            f"""INSERT INTO {table}
                SELECT _line, _i, canary, _fields FROM (
                    SELECT p._line, p._i, c.key AS canary, ({mask})::INTEGER AS _fields
                    FROM _jj_cn_pairs p JOIN _jj_cn_ids i USING (_line) JOIN _jj_cn_c c USING (_i)
                    LEFT JOIN _jj_cn_other o USING (_line))
                WHERE {_hit_sql('_fields', plan.key_is)}""")
    finally:
        con.unregister("_jj_cn_c")
        con.execute("DROP TABLE IF EXISTS _jj_cn_ids; DROP TABLE IF EXISTS _jj_cn_pairs; "
                    "DROP TABLE IF EXISTS _jj_cn_other")
    return int(n)


def _card_nik(mask: int, key_is: str | None) -> tuple[bool, bool]:
    key = bool(mask >> FIELD_BITS["key"] & 1)
    card = bool(mask >> FIELD_BITS["noka"] & 1) or (key and key_is == "noka")
    nik = bool(mask >> FIELD_BITS["nik"] & 1) or (key and key_is == "nik")
    return card, nik


def _hit_sql(mask: str, key_is: str | None) -> str:
    """SQL: the mask is a hit (located, and an independent field agrees). Same rule as :func:`_counted`."""
    b = {f: f"({mask} >> {i} & 1) = 1" for f, i in FIELD_BITS.items()}
    card = f"({b['noka']} OR {b['key']})" if key_is == "noka" else b["noka"]
    nik = f"({b['nik']} OR {b['key']})" if key_is == "nik" else b["nik"]
    located = f"({b['key']} OR {b['noka']} OR {b['nik']})"
    return f"{located} AND ({b['name']} OR {b['email']} OR {b['phone']} OR ({card} AND {nik}))"


def _factors(plan: _Plan, m: Maxima) -> dict[str, float]:
    """log10 of each counted field's factor ``m_f * p_f`` (columns that could agree x largest probability)."""
    out = {}
    # Both identifiers agreeing is as likely as the NIK agreeing (the card number gets 1): a NIK
    # column is counted when there is also a card number to have located the row.
    nik = plan.count("nik") if plan.count("noka") else 0
    for name, p, cols in (("name", m.name, plan.count("name")), ("email", m.email, plan.count("email")),
                          ("phone", m.phone, plan.count("phone")), ("identifiers", m.nik, nik)):
        if cols:
            out[name] = min(0.0, math.log10(cols * p))
    return out


def _counted(mask: int, key_is: str | None, factors: Mapping[str, float]) -> tuple[tuple[str, ...], float]:
    """The independent fields a hit counts and log10 beta: name or e-mail (the smaller), phone, identifiers."""
    counted: list[str] = []
    names = [f for f in ("name", "email") if mask >> FIELD_BITS[f] & 1 and f in factors]
    if names:
        counted.append(min(names, key=lambda f: factors[f]))
    if mask >> FIELD_BITS["phone"] & 1 and "phone" in factors:
        counted.append("phone")
    card, nik = _card_nik(mask, key_is)
    if card and nik and "identifiers" in factors:
        counted.append("identifiers")
    return tuple(counted), sum(factors[f] for f in counted)


def levels(factors: Mapping[str, float]) -> list[float]:
    """log10 beta of every non-empty set of independent fields the leak's columns allow."""
    name_opts = [None] + [f for f in ("name", "email") if f in factors]
    out = []
    for nm, phone, ids in product(name_opts, (False, True), (False, True)):
        chosen = [f for f in (nm, "phone" if phone else None, "identifiers" if ids else None) if f]
        if chosen and all(f in factors for f in chosen):
            out.append(sum(factors[f] for f in chosen))
    return out


def log10_bound(*, planted: int, rows: int, hits: Sequence[tuple[Hashable, float]], levels: Sequence[float]) -> float:
    """log10 of the bound on P[a release's canaries are hit this well] when it is innocent.

    ``hits``: (family, log10 beta) of each canary hit (its strongest hit); ``levels``: log10 beta of
    every set of fields that could have counted. For each observed level ``b``, with ``k`` families
    hit at ``<= b``: ``min_{j<=k} C(planted, j) (rows * w(b))^j``, ``w(b)`` the summed beta of all
    sets at ``<= b``; the smallest over ``b``, times the number of distinct levels.
    """
    if not hits or rows <= 0 or not levels:
        return 0.0
    distinct = sorted(set(levels))
    best: dict[Hashable, float] = {}
    for fam, lb in hits:
        best[fam] = min(lb, best.get(fam, math.inf))
    out = 0.0
    for b in sorted(set(best.values())):
        inside = [v for v in distinct if v <= b + 1e-12]
        if not inside:  # cannot happen: an observed level is one of the levels
            continue
        top = max(inside)
        w = top + math.log10(sum(10.0 ** (v - top) for v in levels if v <= b + 1e-12))
        x = math.log10(rows) + w
        k = sum(1 for v in best.values() if v <= b + 1e-12)
        for j in range(1, min(k, planted) + 1):
            out = min(out, _log10_choose(planted, j) + j * x)
    return min(0.0, out + math.log10(len(distinct)))


def _log10_choose(n: int, k: int) -> float:
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(10)


def find(
    con: duckdb.DuckDBPyConnection, *, canaries: Sequence[Mapping[str, Any]], relation: str,
    columns: Mapping[Role, Sequence[str]], index_key: bytes, key: str | None = None,
    maxima: Maxima | None = None,
) -> dict[str, CanaryEvidence]:
    """Releases whose canaries the leak holds, each with its bound; see the module docstring.

    ``relation``, ``columns`` and ``key`` as for :func:`hits`; ``canaries`` are the ledger's rows
    (``Ledger.canaries``: ``release_id``, ``family`` and tags). ``maxima`` replaces the
    generator's largest probabilities (tests).
    """
    rows = hits(con, canaries=canaries, relation=relation, columns=columns, index_key=index_key, key=key,
                table=_HITS)
    try:
        found = con.execute(f"SELECT _i, _fields, min(_line) FROM {_HITS} GROUP BY _i, _fields").fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_HITS}")
    return evidence(found, canaries=canaries, rows=rows, columns=columns, key=key, maxima=maxima)


def evidence(
    found: Sequence[tuple[int, int, int]], *, canaries: Sequence[Mapping[str, Any]], rows: int,
    columns: Mapping[Role, Sequence[str]], key: str | None = None, maxima: Maxima | None = None,
) -> dict[str, CanaryEvidence]:
    """:func:`find`'s summary of the hits: ``found`` holds (canary index, fields mask, first line) per
    canary and combination of agreeing fields, ``rows`` the leaked rows examined."""
    if not found:
        return {}
    plan = _Plan.of(columns, key)
    factors = _factors(plan, maxima or generator_maxima())
    every = levels(factors)
    strongest: dict[int, CanaryHit] = {}
    for i, mask, line in sorted(found):  # per canary and combination of fields: few rows
        counted, lb = _counted(int(mask), plan.key_is, factors)
        agreed = tuple(f for f, b in FIELD_BITS.items() if int(mask) >> b & 1)
        hit = CanaryHit(canaries[i]["key"], int(line), agreed, counted, lb)
        old = strongest.get(i)
        if old is None or (lb, line) < (old.log10_beta, old.line):
            strongest[i] = hit
    planted: dict[str, int] = {}
    for c in canaries:
        planted[c["release_id"]] = planted.get(c["release_id"], 0) + 1
    out: dict[str, CanaryEvidence] = {}
    for i, hit in sorted(strongest.items()):
        rid = canaries[i]["release_id"]
        ev = out.setdefault(rid, CanaryEvidence(rid, 0, 0, planted[rid], rows, len(set(every)), 0.0, len(planted)))
        ev.hits.append(hit)
    for rid, ev in out.items():
        fams = [(_family(canaries[i]), h.log10_beta) for i, h in strongest.items() if canaries[i]["release_id"] == rid]
        ev.canaries = len(ev.hits)
        ev.families = len({f for f, _ in fams})
        ev.log10_p = log10_bound(planted=ev.planted, rows=rows, hits=fams, levels=every)
    return out


def _family(canary: Mapping[str, Any]) -> Hashable:
    """A canary's family; canaries of unknown family (sealed from an old ledger) are one family."""
    fam = canary.get("family")
    return ("unknown",) if fam is None else ("family", int(fam))
