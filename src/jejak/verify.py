"""Verification: which leaked rows are ours, current or outdated, fabricated, invalid, repeated.

:func:`link` builds the linked table ``_jj_linked`` (one row per leaked row; the columns are
specified in ``docs/investigation.md``) as the narrow table ``_jj_lk`` joined to ``_jj_text``, a
view of the leaked text, so the leak is never copied:

1. **Identifier links**, strongest first: the dataset key, NIK, other card numbers, e-mail
   (lower-cased), phone (E.164). Each step only sees rows no earlier step linked, and is joined
   against *every version* of the registry, so an old phone number still links.
2. **Canaries**: unlinked rows that hit a canary of a release in the ledger (its card number or
   NIK and an independent field, compared as keyed tags: :func:`jejak.channel.canary.hits`).
3. **Probabilistic links** (:func:`jejak.linkage.link_probabilistic`, when installed) for rows
   without any identifier value.
4. **Best version**: every candidate row version is compared with the leaked row column by
   column (:mod:`jejak.normalise`); the version agreeing on most non-identifier cells wins, the
   newest on a tie — so a row is ``outdated`` only when an older version fits it strictly better.
   A row byte-identical to its key's open version is settled by one hash, and one equal to it up to
   a release's marks by one hash of its other cells and its carriers' numbers (:func:`_best_versions`).
5. **Classes and repeats**: ``current``/``outdated`` for linked rows; otherwise ``canary``, then
   ``invalid`` (an impossible NIK, or without a NIK an impossible card number), ``fabricated`` (a
   well-formed identifier the registry never held), ``unlinked`` (no identifier at all). ``_dup``
   marks rows repeating the identity of an earlier line.

:func:`verification` counts the classes by the rules in ``docs/investigation.md``. Everything is
set-based SQL over the whole leak.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb

from jejak.intake import Table
from jejak.mapping import ColumnMapping, registry_norm_sql
from jejak.normalise import (
    CARRIER_ROLES,
    IDENTIFIER_ROLES,
    agree_sql,
    carrier_agree_sql,
    carrier_key_sql,
    install,
    macro_source,
    norm_sql,
)
from jejak.registry import DatasetInfo, quote, stored_open_numbers, table_name
from jejak.roles import Role
from jejak.sqltext import unpivot

log = logging.getLogger(__name__)

LINKED = "_jj_linked"
#: The linked table's own columns, without the leaked text (a real table, one row per ``_line``).
NARROW = "_jj_lk"
#: The leaked text under registry column names, with ``_line`` (a view over the leak table).
TEXT = "_jj_text"
CLASSES = ("current", "outdated", "canary", "fabricated", "invalid", "unlinked")

#: Status words of a membership-status column (the synthetic KDSTATUSPST: AKTIF/NONAKTIF/MENINGGAL).
STATUS_WORDS = {
    "active": ("AKTIF", "ACTIVE"),
    "inactive": ("NONAKTIF", "NON AKTIF", "NON-AKTIF", "TIDAK AKTIF", "INACTIVE", "PASIF", "SUSPEND"),
    "deceased": ("MENINGGAL", "MENINGGAL DUNIA", "WAFAT", "MATI", "DECEASED", "DEAD"),
}

Say = Callable[[str], None]


#: Columns compared per row at most: their agreement bits are one BIGINT (``_lval`` and the masks).
MAX_BITS = 62


@dataclass(frozen=True)
class LinkPlan:
    """What the leak offers for linkage, derived from the column mapping."""

    columns: dict[str, str]  # registry column -> leaked column (mapped columns)
    roles: dict[str, Role]  # registry column -> role
    steps: list[tuple[str, str]]  # (via, registry column), strongest identifier first
    nik: str | None  # registry column whose NIK decides "invalid"
    card: str | None  # registry column whose card number decides "invalid" without a NIK
    bits: list[str]  # registry columns in agreement-bit order

    @classmethod
    def of(cls, mapping: ColumnMapping, dataset: DatasetInfo) -> LinkPlan:
        columns = {rc: lc for lc, rc in mapping.mapped.items()}
        roles = {rc: dataset.roles.get(rc, mapping.columns[lc].role) for rc, lc in columns.items()}
        order = [rc for rc in dataset.columns if rc in columns]
        steps: list[tuple[str, str]] = []
        if dataset.key in columns:
            steps.append(("card" if roles[dataset.key] == Role.CARD else "key", dataset.key))
        for via, role in (("nik", Role.NIK), ("card", Role.CARD), ("email", Role.EMAIL), ("phone", Role.PHONE)):
            steps += [(via, rc) for rc in order if roles[rc] == role and rc != dataset.key]
        nik = next((rc for rc in order if roles[rc] == Role.NIK), None)
        card = dataset.key if roles.get(dataset.key) == Role.CARD else next(
            (rc for rc in order if roles[rc] == Role.CARD), None)
        return cls(columns, roles, steps, nik, card, order[:MAX_BITS])

    @property
    def hard(self) -> list[str]:
        return [c for c in (self.nik, self.card) if c]


def link(
    con: duckdb.DuckDBPyConnection, *, leak: Table, dataset: DatasetInfo, mapping: ColumnMapping,
    versions_table: str, canaries: list[dict[str, Any]] | None = None, threshold: float = 0.9,
    say: Say | None = None, index_key: bytes | None = None,
) -> str:
    """Build ``_jj_linked`` for ``leak`` against every version in ``versions_table``; returns its name.

    ``canaries`` are the ledger's (tags), read with ``index_key`` (``keys.canary_index_key``).
    """
    if canaries and index_key is None:
        raise ValueError("canaries are kept as tags: link() needs the canary index key to read them")
    say = say or (lambda _m: None)
    install(con)
    plan = LinkPlan.of(mapping, dataset)
    registry_sql = f"SELECT * FROM {versions_table}"
    try:
        status = status_column(con, dataset, versions_table)  # samples rows: before order is let go
        say("normalising identifiers")
        exact = plan.bits == list(dataset.columns)
        carried = _carry_carriers(con, leak, plan, dataset, versions_table, exact)
        with _unordered(con):
            _ids(con, leak, plan, exact, carried, dataset.key)
        say("linking on identifiers")
        opened = _stored_open(con, plan, dataset, versions_table, status)
        # (these sample registry rows to see whether its identifiers need normalising)
        _identifier_links(con, leak, plan, versions_table, dataset.key, status, carried, opened)
        _canary_hits(con, leak, plan, dataset, canaries or [], index_key)
        _probabilistic(con, leak, plan, dataset, registry_sql, threshold, say)  # splink samples rows
        say("comparing with every registry version")
        with _unordered(con):
            _best_versions(con, leak, plan, versions_table, status, carried, opened)
            say("classifying rows")
            _linked_table(con, leak, plan)
    finally:
        scratch = ("_jj_rest", "_jj_ids", "_jj_cand", "_jj_best", "_jj_slow_cand", "_jj_lh", "_jj_pairs",
                   "_jj_canary_hits", "_jj_canary_rows", "_jj_prob_in", "_jj_prob_lines",
                   "_jj_first", "_jj_other", "_jj_keyhit", "_jj_soft")
        con.execute("DROP VIEW IF EXISTS _jj_unlinked; DROP VIEW IF EXISTS _jj_canary_in; "
                    + "".join(f"DROP TABLE IF EXISTS {t}; " for t in scratch))
    return LINKED


@contextmanager
def _unordered(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Let DuckDB write tables in whatever order its threads finish (10% faster linking at 10M rows).

    Only for statements whose result is keyed by ``_line`` and sampled by nothing: a ``LIMIT``
    without ``ORDER BY`` would then pick different rows from run to run.
    """
    before = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if before else 'false'}")


_SOFT = (Role.EMAIL, Role.PHONE)


#: Leading lines of the leak that :func:`_carry_carriers` compares with the registry.
PROBE_ROWS = 2_000


def _carry_carriers(con: duckdb.DuckDBPyConnection, leak: Table, plan: LinkPlan, dataset: DatasetInfo,
                    versions_table: str, exact: bool) -> bool:
    """Whether the leak's first scan should also reduce its carrier cells to numbers for
    :func:`_settle_marked`: when most rows linked by the key will differ from their open version.

    Rows of a marked release do (their carriers moved), and so does every row of a leak without
    all the registry's columns (it is never byte-identical); rows of an unmarked copy do not, and
    for those the numbers would be work for nothing. Decided on the first :data:`PROBE_ROWS` lines,
    which fixes only the cost: the settled rows and their masks are the same either way (the
    leak's carrier text is then read again for the rows that need it).
    """
    carriers, _ = _split(plan)
    if not carriers or dataset.key not in plan.columns:
        return False
    if not exact:
        return True
    key = norm_sql(plan.roles[dataset.key], quote(plan.columns[dataset.key]))
    same, linked = con.execute(
        f"""SELECT count(*) FILTER (WHERE v._hash = s._rh), count(*) FROM (
                SELECT {key} AS _k, {_row_hash(plan)} AS _rh FROM {leak.name} ORDER BY _line LIMIT {PROBE_ROWS}) s
            JOIN {versions_table} v ON v._key = s._k AND v._valid_to IS NULL"""
    ).fetchall()[0]
    return bool(linked) and 2 * same < linked


def _row_hash(plan: LinkPlan) -> str:
    """SQL hash of a leaked row as the registry computes ``_hash`` (meaningful when the leak has
    every registry column, in the registry's order: ``plan.bits``)."""
    return f"hash({', '.join(quote(plan.columns[rc]) for rc in plan.bits)})"


def _carrier_numbers(plan: LinkPlan) -> str:
    """SQL list ``, hash(l.c) AS _chI, <number> AS _ckI`` of the leak ``l``'s carrier cells (``carrier_key_sql``)."""
    carriers, _ = _split(plan)
    out = ""
    for i in carriers:
        # Qualified: a leaked column named like a lambda's parameter (jj_t, jj_a) would be read as it.
        c = f"l.{quote(plan.columns[plan.bits[i]])}"
        out += f", hash({c}) AS _ch{i}, {carrier_key_sql(plan.roles[plan.bits[i]], c)} AS _ck{i}"
    return out


def _carrier_ddl(plan: LinkPlan) -> str:
    """Column definitions of :func:`_carrier_numbers` (a timestamp or amount is a BIGINT, a phone or
    e-mail a hash)."""
    carriers, _ = _split(plan)
    big = (Role.TIMESTAMP, Role.AMOUNT)
    return "".join(f", _ch{i} UBIGINT, _ck{i} {'BIGINT' if plan.roles[plan.bits[i]] in big else 'UBIGINT'}"
                   for i in carriers)


def _ids(con: duckdb.DuckDBPyConnection, leak: Table, plan: LinkPlan, exact: bool, carried: bool = False,
         key: str | None = None) -> None:
    """The leak's identifiers: NIK and cards normalised; e-mail and phone (unless the ``key``) not at
    all: they are read for the few rows that reach their link step (:func:`_with_soft`), and kept
    here they were 550 MB of text at ten million rows, in memory the key join needed.

    In the same scan: which cells hold a value (``_lval``: non-empty, ``_lnn``: non-NULL, one bit
    per column of ``plan.bits``); when the leak has every registry column (``exact``) and its
    carriers are not ``carried``, the row's hash computed as the registry computes ``_hash``, so a
    byte-identical row is found by comparing one number (see :func:`_best_versions`); and
    ``_oh``, one hash of every cell but the carriers, which :func:`_settle_marked` compares with
    the open version's. It costs one more hash of cells
    this scan reads anyway; computed later, it was a second read of the leak's text for every
    marked leak, and at ten million rows that text had spilled to disk. With ``carried`` (see
    :func:`_carry_carriers`), each carrier cell's hash and number too.
    """
    cols = [rc for rc in dict.fromkeys([rc for _, rc in plan.steps] + plan.hard) if rc not in _soft_ids(plan, key)]
    sel = "".join(
        f", {quote(plan.columns[rc]) if plan.roles[rc] in _SOFT else norm_sql(plan.roles[rc], quote(plan.columns[rc]))}"
        f" AS {quote('i_' + rc)}" for rc in cols
    )
    lcol = [quote(plan.columns[rc]) for rc in plan.bits]
    val = _mask(f"{c} IS NOT NULL AND {c} <> ''" for c in lcol)
    nn = _mask(f"{c} IS NOT NULL" for c in lcol)
    # A marked leak's rows are settled with their carriers (_settle_marked), identical ones too, with
    # the masks the row hash would give them: its hash of every cell (1.1 s at 10M rows) buys nothing.
    rh = _row_hash(plan) if exact and not carried else "NULL::UBIGINT"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_ids AS
            SELECT _line{sel}, {val} AS _lval, {nn} AS _lnn, {rh} AS _rh, {_others_hash(plan, 'l')} AS _oh
                   {_carrier_numbers(plan) if carried else ''}
            FROM {leak.name} l"""
    )


def _soft_ids(plan: LinkPlan, key: str | None) -> list[str]:
    """The e-mail and phone identifier columns of ``plan`` other than the dataset's ``key``: left out
    of ``_jj_ids`` and read by :func:`_with_soft` for the lines that need them."""
    return [rc for _, rc in plan.steps if plan.roles[rc] in _SOFT and rc != key]


def _with_soft(con: duckdb.DuckDBPyConnection, leak: Table, plan: LinkPlan, key: str, source: str) -> str:
    """``_jj_soft``: the rows of ``source`` with their raw e-mail and phone identifiers (``i_<column>``)
    read from the leak, for the lines no stronger identifier linked (usually few)."""
    sel = "".join(f", l.{quote(plan.columns[rc])} AS {quote('i_' + rc)}" for rc in _soft_ids(plan, key))
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_soft AS SELECT s.*{sel} FROM {source} s "
                f"JOIN {leak.name} l USING (_line)")
    return "_jj_soft"


def _others_hash(plan: LinkPlan, alias: str, leaked: bool = True) -> str:
    """SQL hash of the cells of every non-carrier column of ``plan.bits``, in that order, of the leaked
    row (``leaked``) or registry version ``alias``; equal on both sides when every such cell is."""
    _, others = _split(plan)
    cols = [quote(plan.columns[plan.bits[i]] if leaked else plan.bits[i]) for i in others]
    return f"hash({', '.join(f'{alias}.{c}' for c in cols) or 'NULL'})"


def _nonid(plan: LinkPlan) -> int:
    """Bits of the columns of ``plan.bits`` that are not identifiers (the cells a version is chosen by)."""
    return sum(1 << i for i, rc in enumerate(plan.bits) if plan.roles[rc] not in IDENTIFIER_ROLES)


def _split(plan: LinkPlan) -> tuple[list[int], list[int]]:
    """Bits of the carrier columns (those a release marks: compared up to a mark) and of the others."""
    carriers = [i for i, rc in enumerate(plan.bits) if plan.roles[rc] in CARRIER_ROLES]
    return carriers, [i for i in range(len(plan.bits)) if i not in carriers]


def _mask(conditions: Iterable[str]) -> str:
    """SQL BIGINT with bit *i* set where the *i*-th condition holds (the plan's column order)."""
    return _mask_at(dict(enumerate(conditions)))


def _mask_at(conditions: dict[int, str]) -> str:
    """SQL BIGINT with bit *i* set where condition ``conditions[i]`` holds."""
    return "(" + (" + ".join(f"(({c})::BIGINT << {i})" for i, c in conditions.items()) or "0") + ")::BIGINT"


def _id(plan: LinkPlan, rc: str, alias: str = "i") -> str:
    """SQL of the normalised identifier ``rc`` of a ``_jj_ids`` row."""
    col = f"{alias}.{quote('i_' + rc)}"
    return norm_sql(plan.roles[rc], col) if plan.roles[rc] in _SOFT else col


def _identifier_links(
    con: duckdb.DuckDBPyConnection, leak: Table, plan: LinkPlan, versions_table: str, key: str,
    status: str | None, carried: bool = False, opened: str | None = None,
) -> None:
    """Candidates ``(_line, _key, _via)`` from identifier joins, strongest identifier first: the key
    step's in ``_jj_keyhit``, the others' in ``_jj_cand``; the ``_jj_ids`` rows of the lines left
    in the view ``_jj_unlinked``.

    After each step only the rows still unlinked (``_jj_rest``) go on, so a leak that links on its
    first identifier pays for one join, not five. The later steps (canaries, probabilistic
    linkage, the rows no candidate names) start from ``_jj_unlinked``, usually a few rows, rather
    than each subtracting ten million linked lines from ten million again (4 s at 10M rows).

    The key step also keeps, in ``_jj_keyhit``, each
    line's open version of its key and whether the line is byte-identical to it (``_exact``, see
    :func:`_best_versions`), with the line's ``_oh`` and (``carried``) carrier numbers. Given the
    registry's stored open versions (``opened``, :func:`_stored_open`), it joins those instead of
    every version, and with ``carried`` settles marked rows in the same join (as ``_exact``: see
    :func:`_open_links`).
    """
    registry_sql = f"SELECT * FROM {versions_table}"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _jj_cand (_line BIGINT, _key VARCHAR, _via VARCHAR, _match_p DOUBLE)"
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _jj_keyhit (_line BIGINT, _key VARCHAR, _via VARCHAR, _valid_from DATE,
           _valid_to DATE, _status VARCHAR, _lnn BIGINT, _lval BIGINT, _exact BOOLEAN, _oh UBIGINT"""
        + (_carrier_ddl(plan) if carried and not opened else "") + ")"
    )
    source = "_jj_ids"
    lazy = _soft_ids(plan, key)
    soft = bool(lazy)  # still to be read
    for via, rc in plan.steps:
        if soft and rc in lazy:
            source, soft = _with_soft(con, leak, plan, key, source), False
        col = _id(plan, rc)
        cond = f"{col} IS NOT NULL"
        if via in ("email", "phone"):
            # A row whose NIK or card number we never had is fabricated, even if its e-mail or phone
            # (shared in families, easily guessed) belongs to someone of ours.
            cond += f" AND {_no_identifier(plan)}"
        if rc == key:
            if opened:
                _open_links(con, plan, source, col, cond, via, opened, carried)
            else:
                extra = "".join(f", i._ch{i}, i._ck{i}" for i in _split(plan)[0]) if carried else ""
                _key_links(con, source, col, cond, via, versions_table, status, extra)
            _removed_keys(con, source, col, cond, via, versions_table, unmatched_kept=bool(opened))
            source = "_jj_rest"
            continue
        reg = registry_norm_sql(con, rc, plan.roles[rc], registry_sql, with_key=True)
        con.execute(
            f"""INSERT INTO _jj_cand
                SELECT DISTINCT i._line, r._key, '{via}', 1.0
                FROM {source} i JOIN ({reg}) r ON r.v = {col} WHERE {cond}"""
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _jj_rest AS SELECT * FROM {source} "
            "WHERE _line NOT IN (SELECT _line FROM _jj_cand)"
        )
        source = "_jj_rest"
        if not con.execute("SELECT count(*) FROM _jj_rest").fetchall()[0][0]:
            break
    if soft:  # every line linked before the e-mail and phone steps: the columns, for no rows
        source = _with_soft(con, leak, plan, key, source)
    con.execute(f"CREATE OR REPLACE TEMP VIEW _jj_unlinked AS SELECT * FROM {source}")


def _status_sql(status: str | None) -> str:
    """The membership status of registry version ``v`` (NULL when the dataset has no status column)."""
    return f"v.{quote(status)}" if status else "NULL::VARCHAR"


def _key_links(
    con: duckdb.DuckDBPyConnection, source: str, col: str, cond: str, via: str, versions_table: str,
    status: str | None, extra: str = "",
) -> None:
    """The key names one row: a join with the open versions in ``versions_table``.
    ``extra``: more of the line's columns for ``_jj_keyhit`` (``, i.col…``)."""
    status_sql = _status_sql(status)
    con.execute(
        f"""INSERT INTO _jj_keyhit
            SELECT i._line, {col}, '{via}', v._valid_from, v._valid_to, {status_sql}, i._lnn, i._lval,
                   coalesce(i._rh = v._hash AND i._lval = i._lnn, false), i._oh{extra}
            FROM {source} i JOIN {versions_table} v ON v._key = {col} AND v._valid_to IS NULL WHERE {cond}"""
    )


def _open_links(
    con: duckdb.DuckDBPyConnection, plan: LinkPlan, source: str, col: str, cond: str, via: str, opened: str,
    carried: bool,
) -> None:
    """:func:`_key_links` by a join with the registry's stored open versions (``opened``), which hold
    each open version's status and numbers beside its key. With ``carried``, a line equal to its
    open version up to the marks is settled in the same join, without :func:`_settle_marked`'s
    second join of every marked line with every open version: it agrees with that version on
    every cell holding a value, and on no other, so its masks are its non-NULL cells (``_lnn``),
    as an identical line's are, and it is marked ``_exact`` like one.

    A left join: the lines it does not link are kept with ``_key`` NULL, for :func:`_removed_keys`
    to take out. A marked release's canaries link to no one, and finding those few lines by
    subtracting ten million linked lines from ten million cost 1.4 s.
    """
    exact = "coalesce(i._rh = v._hash AND i._lval = i._lnn, false)"
    cols = (f"i._line, v._key AS _key, '{via}' AS _via, v._valid_from, NULL::DATE AS _valid_to, v._status, "
            f"i._lnn, {exact} AS _exact, i._oh")
    joined = f"{source} i LEFT JOIN {opened} v ON v._key = {col} AND {cond}"
    if not carried:
        con.execute(f"INSERT INTO _jj_keyhit BY NAME SELECT {cols}, i._lval FROM {joined}")
        return
    carriers, others = _split(plan)
    rest = sum(1 << i for i in others)
    cells = {i: _Cell(f"i._ch{i}", f"v.r{i}", f"v.n{i}", plan.roles[plan.bits[i]], f"i._ck{i}", f"v.q{i}")
             for i in carriers}
    pairs = _cell_masks(f"{cols}, v._oh AS _roh", joined, lval="i._lval", lnn="i._lnn", cells=cells)
    # _settle_marked's condition. It admits no empty-string cell and no cell empty on one side only
    # (undecided), so the masks it would give are the line's non-NULL cells.
    settled = f"(_lval & {rest}) = (_lnn & {rest}) AND _oh = _roh AND {_agrees_everywhere(plan)}"
    con.execute(
        f"""INSERT INTO _jj_keyhit BY NAME
            SELECT _line, _key, _via, _valid_from, _valid_to, _status, _lnn, _lval, _oh,
                   _exact OR coalesce({settled}, false) AS _exact
            FROM ({_widened(pairs, plan)})"""
    )


def _removed_keys(con: duckdb.DuckDBPyConnection, source: str, col: str, cond: str, via: str,
                  versions_table: str, *, unmatched_kept: bool = False) -> None:
    """After the key step: the lines left go to ``_jj_rest``, and a semi-join with the keys of
    people since removed (all versions closed) names some of them. ``unmatched_kept``: the key
    step wrote the lines it did not link to ``_jj_keyhit`` with ``_key`` NULL (:func:`_open_links`)."""
    if unmatched_kept:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _jj_rest AS SELECT * FROM {source}
                        WHERE _line IN (SELECT _line FROM _jj_keyhit WHERE _key IS NULL)""")
        con.execute("DELETE FROM _jj_keyhit WHERE _key IS NULL")
    else:
        linked = con.execute("SELECT count(*) FROM _jj_keyhit").fetchall()[0][0]
        # A key has one open version, so a line is linked at most once: when as many lines were
        # linked as there are, none is left, and the anti-join (1.3 s at 10M rows) can be skipped.
        everyone = linked == con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _jj_rest AS SELECT * FROM {source} "
            + ("LIMIT 0" if everyone else "WHERE _line NOT IN (SELECT _line FROM _jj_keyhit)")
        )
    con.execute(
        f"""INSERT INTO _jj_cand SELECT i._line, {col}, '{via}', 1.0 FROM _jj_rest i
            WHERE {cond} AND {col} IN (SELECT _key FROM {versions_table} WHERE _valid_to IS NOT NULL)"""
    )
    con.execute("DELETE FROM _jj_rest WHERE _line IN (SELECT _line FROM _jj_cand)")


def _canary_hits(con: duckdb.DuckDBPyConnection, leak: Table, plan: LinkPlan, dataset: DatasetInfo,
                 canaries: list[dict[str, Any]], index_key: bytes | None) -> None:
    """Unlinked rows that hit a canary: recorded with the canary's key tag (an opaque id, never a value)."""
    from jejak.channel import canary

    con.execute("CREATE OR REPLACE TEMP TABLE _jj_canary_hits (_line BIGINT, _key VARCHAR)")
    if not canaries or not plan.hard or index_key is None:
        return
    raw = "".join(f", l.{quote(lc)} AS {quote(rc)}" for rc, lc in plan.columns.items())
    # Only rows no identifier linked (canaries were never in the registry): few rows, few hashes.
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _jj_canary_in AS SELECT l._line, NULL::VARCHAR AS _class{raw}
            FROM {leak.name} l WHERE l._line IN (SELECT _line FROM _jj_unlinked)"""
    )
    columns: dict[Role, list[str]] = {}
    for rc in plan.columns:
        columns.setdefault(plan.roles[rc], []).append(rc)
    key = dataset.key if dataset.key in plan.columns else None
    canary.hits(con, canaries=canaries, relation="_jj_canary_in", columns=columns, index_key=index_key, key=key,
                table="_jj_canary_rows")
    con.execute("INSERT INTO _jj_canary_hits SELECT _line, min(canary) FROM _jj_canary_rows GROUP BY _line")


def _no_identifier(plan: LinkPlan) -> str:
    """SQL (over ``_jj_ids i``) true when the row carries no NIK or card value at all."""
    if not plan.hard:
        return "true"
    return " AND ".join(f"i.{quote('i_' + rc)} IS NULL" for rc in plan.hard)


def _probabilistic(
    con: duckdb.DuckDBPyConnection, leak: Table, plan: LinkPlan, dataset: DatasetInfo, registry_sql: str,
    threshold: float, say: Say,
) -> None:
    """Rows with no identifier value go to the probabilistic linker (splink).

    The lines are chosen on the narrow ``_jj_ids`` first and the leak's text is read only for
    them: when the leak has no NIK or card column every unlinked line qualifies, and joining the
    whole leak's text to find none cost 4 s at ten million linked rows."""
    from jejak import linkage

    n = con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_prob_lines AS SELECT _line FROM _jj_unlinked i
            WHERE {_no_identifier(plan)}"""
    ).fetchall()[0][0]
    if not n:
        return
    cols = ", ".join(f"l.{quote(lc)} AS {quote(rc)}" for rc, lc in plan.columns.items())
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_prob_in AS
            SELECT l._line{', ' + cols if cols else ''} FROM {leak.name} l
            WHERE l._line IN (SELECT _line FROM _jj_prob_lines) ORDER BY l._line"""
    )
    say(f"probabilistic linkage of {n:,} rows without identifiers")
    every_version = f"SELECT * EXCLUDE (_valid_from, _valid_to, _hash) FROM ({registry_sql})"
    out = linkage.link_probabilistic(con, leak="_jj_prob_in", dataset=dataset, registry_sql=every_version,
                                     threshold=threshold)
    con.execute(
        f"""INSERT INTO _jj_cand SELECT _line, _key, 'probabilistic', _match_p FROM {out}
            WHERE _key IS NOT NULL AND _match_p >= {float(threshold)}"""
    )


def _best_versions(
    con: duckdb.DuckDBPyConnection, leak: Table, plan: LinkPlan, versions_table: str,
    status: str | None, carried: bool = False, opened: str | None = None,
) -> None:
    """For each linked row, the candidate version agreeing on most non-identifier cells (and that
    version's membership status, which for a current row is the person's status now).

    Most rows of a leak are byte-identical to a registry version, or to one up to a release's marks,
    so four paths, cheapest first:

    1. **Identical rows**, found by the key step (``_jj_keyhit._exact``, only when the leak has
       every registry column): the row's hash, computed as the registry computes ``_hash``,
       equals its key's open version's, and no cell is the empty string. It agrees on every cell
       holding a value; no other version can agree on more, and on a tie the open (newest) one
       wins anyway. Its masks are its non-NULL cells.
    1′. **Marked rows** (:func:`_settle_marked`): a key-linked row equal to its open version up to
       the marks, settled against that version alone for the same reason.
    2. **Cell hashes**: the other rows' cells are reduced to 64-bit hashes, candidate versions are
       compared hash against hash; a cell of a carrier role (timestamp, amount, phone, e-mail),
       which a release moves or re-formats, also to a number that decides "equal up to a mark"
       (``normalise.carrier_key_sql``), so a marked leak needs no more than this step; and
    3. only the (row, version) pairs where some cell with a value differs and no number decided
       it — re-formatted or changed — are compared again on the text, normalised by role.

    A false agreement would need a hash collision between a leaked row or cell and the registry's
    for the same person. DuckDB's ``hash`` is not collision-resistant (docs/investigation.md,
    step 4): negligible by chance, but not proof against a leaker searching for one.
    """
    status_sql = _status_sql(status)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _jj_best AS
           SELECT _line, _key, _via, 1.0::DOUBLE AS _match_p, _valid_from AS _from, _valid_to AS _to,
                  _lnn AS _amask, _lnn AS _cmask, _status, _lval
           FROM _jj_keyhit WHERE _exact"""
    )
    _settle_marked(con, leak, plan, versions_table, status, carried, opened)
    # _jj_best holds key-linked lines only, once each: as many as _jj_keyhit means all of them.
    settled, hit = con.execute(
        "SELECT (SELECT count(*) FROM _jj_best), (SELECT count(*) FROM _jj_keyhit)").fetchall()[0]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _jj_slow_cand AS "
        + ("" if settled == hit else
           """SELECT _line, _key, _via, 1.0::DOUBLE AS _match_p FROM _jj_keyhit
              WHERE NOT _exact AND _line NOT IN (SELECT _line FROM _jj_best) UNION ALL """)
        + "SELECT * FROM _jj_cand"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_lh AS SELECT i._line{_cell_hashes(plan)}, i._lval, i._lnn
            FROM {leak.name} l JOIN _jj_ids i USING (_line) WHERE i._line IN (SELECT _line FROM _jj_slow_cand)"""
    )
    pairs = _cell_masks(
        f"c._line, c._key, c._via, c._match_p, v._valid_from, v._valid_to, {status_sql} AS _status",
        f"_jj_slow_cand c JOIN {versions_table} v ON v._key = c._key JOIN _jj_lh h ON h._line = c._line",
        lval="h._lval", lnn="h._lnn", cells=_text_cells(plan))
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_pairs AS {pairs}")
    con.execute("DROP TABLE IF EXISTS _jj_lh; DROP TABLE IF EXISTS _jj_slow_cand")
    # Only the columns where some pair's cells differ undecided are compared as text; in every
    # other column the bits already are the answer (equal with a value, or decided by a number:
    # agree; NULL on both sides: not compared). A marked release differs in its carrier columns,
    # which the numbers decide, so its text is never fetched again.
    differ = int(con.execute("SELECT coalesce(bit_or(_h & ~_e & ~_n), 0) FROM _jj_pairs").fetchall()[0][0])
    lcol = [quote(plan.columns[rc]) for rc in plan.bits]
    rcol = [f"v.{quote(rc)}" for rc in plan.bits]
    same = (1 << len(plan.bits)) - 1 & ~differ
    agree = {i: agree_sql(plan.roles[rc], f"l.{lcol[i]}", rcol[i])
             for i, rc in enumerate(plan.bits) if differ >> i & 1}
    amask = " + ".join([f"(p._e & {same})"] + [f"CASE WHEN {a} THEN {1 << i} ELSE 0 END" for i, a in agree.items()])
    cmask = " + ".join([f"(p._h & {same})"]
                       + [f"CASE WHEN ({a}) IS NOT NULL THEN {1 << i} ELSE 0 END" for i, a in agree.items()])
    nonid = _nonid(plan)
    con.execute(
        f"""INSERT INTO _jj_best
            WITH slow AS (
                SELECT p._line, p._key, p._valid_from, ({amask})::BIGINT AS _amask, ({cmask})::BIGINT AS _cmask
                FROM (SELECT * FROM _jj_pairs WHERE _h & ~_e & ~_n <> 0) p
                JOIN {versions_table} v ON v._key = p._key AND v._valid_from = p._valid_from
                JOIN {leak.name} l ON l._line = p._line),
            masked AS (
                SELECT p._line, p._key, p._via, p._match_p, p._valid_from, p._valid_to, p._status, p._lval,
                       coalesce(s._amask, p._e) AS _amask, coalesce(s._cmask, p._h) AS _cmask
                FROM _jj_pairs p LEFT JOIN slow s
                     ON s._line = p._line AND s._key = p._key AND s._valid_from = p._valid_from)
            SELECT _line, unnest(arg_max(
                {{'_key': _key, '_via': _via, '_match_p': _match_p, '_from': _valid_from, '_to': _valid_to,
                  '_amask': _amask, '_cmask': _cmask, '_status': _status, '_lval': _lval}},
                bit_count(_amask & {nonid})::BIGINT * 100000000 + (_valid_from - DATE '1900-01-01')))
            FROM masked GROUP BY _line"""
    )
    con.execute("DROP TABLE IF EXISTS _jj_pairs")


#: :func:`_settle_marked` filters the open versions by its candidates' keys when these are fewer
#: than this share of them.
FILTER_SHARE = 0.5


def _settle_marked(con: duckdb.DuckDBPyConnection, leak: Table, plan: LinkPlan, versions_table: str,
                   status: str | None, carried: bool = False, opened: str | None = None) -> None:
    """Key-linked rows that agree with their key's open version on every cell holding a value, a
    carrier cell up to its mark, go straight to ``_jj_best`` with that version.

    This is a marked release's row: its carriers moved by a few seconds or rupiah, every other cell
    as the registry holds it. Like an identical row it needs no other version: no version can agree
    on more cells than all those with a value (a blank cell never agrees), and on a tie the open,
    newest version wins. Its masks are what :func:`_best_versions` would give the open version, so
    the verdict is the same as by the general path, which a marked leak otherwise paid for with a
    join against every version and a choice per row. A row with any cell undecided by hash or
    number, or disagreeing, takes the general path.

    Every cell but the carriers is compared at once, by one hash of them all on each side (the
    leak's, ``_oh``, made when its identifiers were read): equal, with no empty-string cell (which
    never agrees), means each agrees where it holds a value and is NULL on both sides where it does
    not. Only the carriers are compared cell by cell. The registry side is reduced to numbers
    first, so the one join on the key carries no text; the registry keeps those numbers from its
    imports (:func:`open_numbers_sql`), and they are computed here only when it has not. The leak's
    carrier numbers are in ``_jj_keyhit`` when ``carried`` (:func:`_carry_carriers`); otherwise its
    carrier columns (and no others) are read again for the lines that matched, joined by line
    number. At ten million rows a join carrying the text of both sides spilled most of its input
    under the default memory limit. When the key step joined the stored numbers (``opened``) and
    the leak's were carried, it settled the rows itself (:func:`_open_links`), and
    :func:`_best_versions` took them with the identical rows: the second join of ten million
    marked lines with ten million open versions cost 7 s at 10M rows on 2 cores.
    """
    if carried and opened:  # settled by the key step (_open_links): already in _jj_best as _exact
        return
    carriers, others = _split(plan)
    rest = sum(1 << i for i in others)
    cand = f"NOT p._exact AND (p._lval & {rest}) = (p._lnn & {rest})"  # over _jj_keyhit p
    n = con.execute(f"SELECT count(*) FROM _jj_keyhit p WHERE {cand}").fetchall()[0][0]
    if not n:
        return
    role = {i: plan.roles[plan.bits[i]] for i in carriers}
    # Filtering the open versions by the candidates' keys pays for a hash table of those keys;
    # worth it only when they are few (a sample of the registry), not when they are most of it.
    people = con.execute(f"SELECT count(*) FROM {versions_table} WHERE _valid_to IS NULL").fetchall()[0][0]
    only = f"v._key IN (SELECT _key FROM _jj_keyhit p WHERE {cand})" if n < FILTER_SHARE * people else ""
    cols = "p._line, p._key, p._via, p._valid_from, p._valid_to, p._status, p._lnn"
    try:
        numbers = _open_numbers(con, plan, versions_table, status, opened, only)
        # The candidates whose other cells all match their open version's, with its carriers' numbers.
        matched = f"_jj_keyhit p JOIN {numbers} v ON v._key = p._key AND v._oh = p._oh WHERE {cand}"
        if carried:
            source = matched
            cells = {i: _Cell(f"p._ch{i}", f"v.r{i}", f"v.n{i}", role[i], f"p._ck{i}", f"v.q{i}") for i in carriers}
        else:
            carry = "".join(f", v.r{i}, v.n{i}, v.q{i}" for i in carriers)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_mk AS SELECT {cols}, p._lval{carry} FROM {matched}")
            con.execute("DROP TABLE IF EXISTS _jj_mr")
            # The leak's carrier numbers as the first scan would have made them, for these lines only.
            source = f"_jj_mk p JOIN (SELECT l._line{_carrier_numbers(plan)} FROM {leak.name} l) l ON l._line = p._line"
            cells = {i: _Cell(f"l._ch{i}", f"p.r{i}", f"p.n{i}", role[i], f"l._ck{i}", f"p.q{i}") for i in carriers}
        # The open version's status is already in _jj_keyhit (_status), read there by the key step.
        pairs = _cell_masks(cols, source, lval="p._lval", lnn="p._lnn", cells=cells)
        con.execute(
            f"""INSERT INTO _jj_best
                SELECT _line, _key, _via, 1.0::DOUBLE, _valid_from, _valid_to, _e, _h, _status, _lval
                FROM ({_widened(pairs, plan)}) WHERE {_agrees_everywhere(plan)}"""
        )
    finally:
        con.execute("DROP TABLE IF EXISTS _jj_mk; DROP TABLE IF EXISTS _jj_mr")


def _widened(pairs: str, plan: LinkPlan) -> str:
    """``pairs`` (:func:`_cell_masks` over the carriers alone) with every other cell holding a value
    counted as agreeing and compared: those were compared all at once, by one hash a side (``_oh``)."""
    rest = sum(1 << i for i in _split(plan)[1])
    return f"SELECT * REPLACE (_e | (_lval & {rest}) AS _e, _h | (_lnn & {rest}) AS _h) FROM ({pairs})"


def _agrees_everywhere(plan: LinkPlan) -> str:
    """Over a :func:`_widened` row: no cell is undecided, and every non-identifier cell with a value
    agrees, so no other version can agree on more (the rule that settles a marked row)."""
    nonid = _nonid(plan)
    return f"(_h & ~_e & ~_n) = 0 AND (_e & {nonid}) = (_lval & {nonid})"


def _stored_open(con: duckdb.DuckDBPyConnection, plan: LinkPlan, dataset: DatasetInfo, versions_table: str,
                 status: str | None) -> str | None:
    """The registry's stored table of :func:`open_numbers_sql` for ``plan`` and ``status`` when it
    was made by the same SQL over the same versions (the dataset's own table, not a table derived
    from it), else None."""
    if versions_table != table_name(dataset.name):
        return None
    return stored_open_numbers(con, dataset.name, open_numbers_digest(plan, status))


def _open_numbers(con: duckdb.DuckDBPyConnection, plan: LinkPlan, versions_table: str, status: str | None,
                  stored: str | None, only: str) -> str:
    """The relation of :func:`open_numbers_sql` for ``plan`` (restricted by the condition ``only``
    on ``v`` when given): the registry's ``stored`` table (:func:`_stored_open`), otherwise the
    temporary ``_jj_mr``, computed now."""
    where = f" AND {only}" if only else ""
    if stored is not None:
        return f"(SELECT * FROM {stored} v WHERE {only})" if only else stored
    con.execute(f"CREATE OR REPLACE TEMP TABLE _jj_mr AS {open_numbers_sql(plan, versions_table, status)}{where}")
    return "_jj_mr"


def open_numbers_sql(plan: LinkPlan, versions_table: str, status: str | None) -> str:
    """SQL of the open versions reduced to what the key step reads (:func:`_open_links`) and
    :func:`_settle_marked` compares a leaked row with: per key, its ``_valid_from``, ``_hash`` and
    ``_status`` (the value of the ``status`` column), one hash of every non-carrier cell of
    ``plan.bits`` (``_oh``) and, for each carrier cell *i*, its hash ``rI``, whether it holds a
    value ``nI`` and its number ``qI`` (``normalise.carrier_key_sql``). Ends in a ``WHERE``
    clause, which callers may extend.

    Computing it reads every open version's text, about a second per million people; the registry
    therefore stores it for a leak with every column (:func:`every_column_plan`), keyed by the
    SHA-256 of this SQL (:func:`open_numbers_digest`), so a change of roles or of the SQL itself is
    never served stale numbers.
    """
    carriers, _ = _split(plan)
    rkeys = ""
    for i in carriers:
        c = f"v.{quote(plan.bits[i])}"
        rkeys += f", hash({c}) AS r{i}, {c} IS NOT NULL AS n{i}, {carrier_key_sql(plan.roles[plan.bits[i]], c)} AS q{i}"
    return (f"SELECT v._key, v._valid_from, v._hash, {_status_sql(status)} AS _status, "
            f"{_others_hash(plan, 'v', leaked=False)} AS _oh{rkeys} "
            f"FROM {versions_table} v WHERE v._valid_to IS NULL")


def open_numbers_digest(plan: LinkPlan, status: str | None) -> str:
    """SHA-256 of :func:`open_numbers_sql` for ``plan`` and ``status`` (whatever the versions table
    is named) and of the macros it may call, whose names alone would not show that they changed."""
    return hashlib.sha256((open_numbers_sql(plan, "{versions}", status) + macro_source()).encode()).hexdigest()


def every_column_plan(dataset: DatasetInfo) -> LinkPlan | None:
    """The plan of a leak holding every column of ``dataset`` under its own name (a release of every
    column, or a copy of the registry), or None when a column has no role (a leak's mapping would
    give it one, so no stored table could serve it)."""
    if any(c not in dataset.roles for c in dataset.columns):
        return None
    return LinkPlan({c: c for c in dataset.columns}, dict(dataset.roles), [], None, None,
                    list(dataset.columns)[:MAX_BITS])


def _cell_hashes(plan: LinkPlan) -> str:
    """SQL list ``, h0, h1, …, kI, …`` over a leaked row ``l``: each cell's hash, and each carrier
    cell's number (``normalise.carrier_key_sql``), as :func:`_text_cells` compares them."""
    lcol = [f"l.{quote(plan.columns[rc])}" for rc in plan.bits]
    return "".join(f", hash({c}) AS h{i}" for i, c in enumerate(lcol)) + "".join(
        f", {carrier_key_sql(plan.roles[rc], lcol[i])} AS k{i}"
        for i, rc in enumerate(plan.bits) if plan.roles[rc] in CARRIER_ROLES)


@dataclass(frozen=True)
class _Cell:
    """SQL of one cell's comparison: the leaked and registry hashes, whether the registry holds a
    value, and (carriers) both sides' numbers (``normalise.carrier_key_sql``)."""

    lhash: str
    rhash: str
    rnn: str
    role: Role | None = None  # a carrier's role, with its numbers:
    lkey: str | None = None
    rkey: str | None = None


def _text_cells(plan: LinkPlan) -> dict[int, _Cell]:
    """Every cell: the leaked row ``h`` (with :func:`_cell_hashes`) against the registry version ``v``'s text."""
    out = {}
    for i, rc in enumerate(plan.bits):
        r = f"v.{quote(rc)}"
        carrier = plan.roles[rc] in CARRIER_ROLES
        out[i] = _Cell(f"h.h{i}", f"hash({r})", f"{r} IS NOT NULL", *(
            (plan.roles[rc], f"h.k{i}", carrier_key_sql(plan.roles[rc], r)) if carrier else ()))
    return out


def _cell_masks(cols: str, source: str, *, lval: str, lnn: str, cells: dict[int, _Cell]) -> str:
    """``SELECT cols, _e, _n, _h, _lval FROM source``, comparing ``cells`` (bits of :attr:`LinkPlan.bits`).

    ``_e``: the cells that agree (equal with a value, or a carrier cell decided near by the
    numbers); ``_n``: the carrier cells decided by the numbers; ``_h``: the cells with a value on
    either side. Cells in ``_h & ~_e & ~_n`` are undecided: only their text can tell. Bits not in
    ``cells`` are 0. The registry's number is used only where the hashes differ.
    """
    carriers = {i: (c, c.role) for i, c in cells.items() if c.role is not None}
    eq = _mask_at({i: f"{c.lhash} = {c.rhash}" for i, c in cells.items()})
    rnn = _mask_at({i: c.rnn for i, c in cells.items()})
    numbers = "".join(f", {c.lkey} AS _a{i}, CASE WHEN {c.lhash} IS DISTINCT FROM {c.rhash} THEN {c.rkey} END AS _b{i}"
                      for i, (c, _) in carriers.items())
    # A cell is decided by the numbers only where both sides have one (_b is computed without _a).
    decided = " + ".join([f"(CASE WHEN _a{i} IS NOT NULL AND _b{i} IS NOT NULL THEN {1 << i} ELSE 0 END)"
                          for i in carriers] or ["0"])
    near = " + ".join([f"(CASE WHEN coalesce({carrier_agree_sql(role, f'_a{i}', f'_b{i}')}, false) "
                       f"THEN {1 << i} ELSE 0 END)" for i, (_, role) in carriers.items()] or ["0"])
    scratch = ", ".join(["_near", "_e", *(f"_a{i}, _b{i}" for i in carriers)])
    return f"""SELECT * EXCLUDE ({scratch}), _e | _near AS _e FROM (
        SELECT *, ({decided})::BIGINT AS _n, ({near})::BIGINT AS _near FROM (
        SELECT {cols}, {eq} & {lval} AS _e, {lnn} | {rnn} AS _h, {lval} AS _lval{numbers}
        FROM {source}))"""


def _linked_table(con: duckdb.DuckDBPyConnection, leak: Table, plan: LinkPlan) -> None:
    """Classify narrow rows first, find repeats by a group-by, then place the leaked text beside them."""
    nonid = _nonid(plan)
    nik = f"i.{quote('i_' + plan.nik)}" if plan.nik else "NULL"
    card = f"i.{quote('i_' + plan.card)}" if plan.card else "NULL"
    identity = ", ".join([_id(plan, rc) for _, rc in plan.steps] or ["NULL"])
    invalid = (
        f"({nik} IS NOT NULL AND NOT jj_nik_valid({nik})) "
        f"OR ({nik} IS NULL AND {card} IS NOT NULL AND NOT jj_card_valid({card}))"
    )
    # Linked lines take everything from _jj_best; only the others (usually few) are classified
    # here, so no join of every line with every best version. Every line with a candidate has a
    # best version, so the others are those no identifier linked and no probabilistic link took.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _jj_other AS
            SELECT i._line, h._key AS _key, CASE WHEN h._key IS NOT NULL THEN 'canary' END AS _via,
                   CASE WHEN h._key IS NOT NULL THEN 1.0::DOUBLE END AS _match_p,
                   CASE WHEN h._key IS NOT NULL THEN 'canary'
                        WHEN {invalid} THEN 'invalid'
                        WHEN {nik} IS NOT NULL OR {card} IS NOT NULL THEN 'fabricated'
                        ELSE 'unlinked' END AS _class,
                   coalesce(h._key, {nik}, {card}, {identity}) AS _identity, i._lval
            FROM _jj_unlinked i LEFT JOIN _jj_canary_hits h USING (_line)
            WHERE i._line NOT IN (SELECT _line FROM _jj_cand)"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _jj_first AS SELECT _identity, min(_line) AS _first FROM (
               SELECT _key AS _identity, _line FROM _jj_best
               UNION ALL SELECT _identity, _line FROM _jj_other WHERE _identity IS NOT NULL)
           GROUP BY _identity HAVING count(*) > 1"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {NARROW} AS
            WITH rows AS (
                SELECT _line, _key, _via, _match_p, CASE WHEN _to IS NULL THEN 'current' ELSE 'outdated' END AS _class,
                       _key AS _identity, _from, _to, bit_count(_amask & {nonid})::INTEGER AS _agree,
                       bit_count(_cmask & {nonid})::INTEGER AS _compared, _amask, _cmask, _status, _lval
                FROM _jj_best
                UNION ALL
                SELECT _line, _key, _via, _match_p, _class, _identity, NULL::DATE, NULL::DATE, 0, 0,
                       NULL::BIGINT, NULL::BIGINT, NULL::VARCHAR, _lval
                FROM _jj_other)
            SELECT r._line, r._key, r._via, r._match_p, r._class, coalesce(r._line > f._first, false) AS _dup,
                   r._from, r._to, r._agree, r._compared, r._amask, r._cmask, r._status, r._lval
            FROM rows r LEFT JOIN _jj_first f USING (_identity)"""
    )
    # Every line gets exactly one class: a line lost between the steps would silently shrink
    # every count of the verdict, so it is an error, not a smaller answer.
    got, lines = con.execute(f"SELECT (SELECT count(*) FROM {NARROW}), (SELECT count(*) FROM _jj_ids)").fetchall()[0]
    if got != lines:
        raise RuntimeError(f"linking classified {got:,} of the leak's {lines:,} lines; the verdict would be wrong")
    _attach_text(con, leak, plan)


def _attach_text(con: duckdb.DuckDBPyConnection, leak: Table, plan: LinkPlan) -> None:
    """``_jj_text`` (the leaked text under registry names) and ``_jj_linked`` (``_jj_lk`` joined to it).

    Copying ten million leaked rows into a new table cost more than linking them, so both are
    views over the leak table. Work on many rows reads the narrow ``_jj_lk`` and joins
    ``_jj_text`` on ``_line`` only for the rows whose text it needs (DuckDB then reads the leak
    for those lines alone); ``_jj_linked`` is the whole contract in one relation.
    """
    raw = "".join(f", {quote(lc)} AS {quote(rc)}" for rc, lc in plan.columns.items())
    text = "".join(f", t.{quote(rc)}" for rc in plan.columns)
    drop_relation(con, LINKED)
    drop_relation(con, TEXT)
    con.execute(f"CREATE TEMP VIEW {TEXT} AS SELECT _line{raw} FROM {leak.name}")
    con.execute(f"CREATE TEMP VIEW {LINKED} AS SELECT k.*{text} FROM {NARROW} k JOIN {TEXT} t USING (_line)")


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the temporary table or view ``name``, whichever it is."""
    kinds = con.execute(
        "SELECT 'VIEW' FROM duckdb_views() WHERE view_name = ? AND temporary "
        "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = ? AND temporary", [name, name]
    ).fetchall()
    for (kind,) in kinds:
        con.execute(f"DROP {kind} IF EXISTS {name}")


# -- counting ----------------------------------------------------------------------------------------


@dataclass
class Verification:
    rows: int
    matched: int
    current: int
    outdated: int
    canary: int
    fabricated: int  # canaries included: to an outsider they are fabricated
    invalid: int
    unlinked: int
    duplicates: int
    registry_rows: int
    linked_by: dict[str, int] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    status_column: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "matched": self.matched, "current": self.current, "outdated": self.outdated,
            "canary": self.canary, "fabricated": self.fabricated, "invalid": self.invalid,
            "unlinked": self.unlinked, "duplicates": self.duplicates, "linked_by": self.linked_by,
            "status": self.status, "status_column": self.status_column, "columns": self.columns,
            "registry_rows": self.registry_rows,
        }


def verification(
    con: duckdb.DuckDBPyConnection, *, dataset: DatasetInfo, mapping: ColumnMapping, versions_table: str,
    linked: str = LINKED,
) -> Verification:
    """The verdict's ``verification`` section from the linked table."""
    plan = LinkPlan.of(mapping, dataset)
    counts = dict(con.execute(f"SELECT _class, count(*) FROM {linked} GROUP BY _class").fetchall())
    rows, dups = con.execute(f"SELECT count(*), count(*) FILTER (WHERE _dup) FROM {linked}").fetchall()[0]
    matched_sql = "_class IN ('current', 'outdated')"
    via = dict(con.execute(f"SELECT _via, count(*) FROM {linked} WHERE {matched_sql} GROUP BY _via").fetchall())
    per_col: dict[str, dict[str, Any]] = {}
    if plan.bits:
        sums = ", ".join(
            f"sum((_cmask >> {i}) & 1), sum((_amask >> {i}) & 1)" for i in range(len(plan.bits))
        )
        vals = con.execute(f"SELECT {sums} FROM {linked} WHERE {matched_sql}").fetchall()[0]
        for i, rc in enumerate(plan.bits):
            compared, agree = int(vals[2 * i] or 0), int(vals[2 * i + 1] or 0)
            per_col[rc] = {"compared": compared, "agree": agree,
                           "rate": round(agree / compared, 4) if compared else None}
    status_col = status_column(con, dataset, versions_table)
    status = _status_counts(con, linked, versions_table, status_col, matched_sql)
    canary = counts.get("canary", 0)
    return Verification(
        rows=rows, matched=counts.get("current", 0) + counts.get("outdated", 0), current=counts.get("current", 0),
        outdated=counts.get("outdated", 0), canary=canary, fabricated=counts.get("fabricated", 0) + canary,
        invalid=counts.get("invalid", 0), unlinked=counts.get("unlinked", 0), duplicates=dups,
        registry_rows=dataset.rows, linked_by={k: via[k] for k in sorted(via)}, status=status,
        columns=per_col, status_column=status_col,
    )


#: Rows of the registry, in table order, whose words :func:`status_column` reads.
STATUS_SAMPLE = 5_000


def status_column(con: duckdb.DuckDBPyConnection, dataset: DatasetInfo, versions_table: str) -> str | None:
    """The registry column holding membership status, recognised by its words (not its name): more
    than 90% of its values among the first :data:`STATUS_SAMPLE` rows are status words."""
    words = ", ".join(f"'{w}'" for ws in STATUS_WORDS.values() for w in ws)
    candidates = [rc for rc in dataset.columns if dataset.roles.get(rc) in (Role.CATEGORY, Role.TEXT, Role.NAME)]
    if not candidates:
        return None
    # One statement of one shape whatever the width (an import runs this too: tests/test_wide.py),
    # over the first rows in table order; the UNPIVOT leaves out the NULL cells.
    first = f"(SELECT * FROM {versions_table} LIMIT {STATUS_SAMPLE})"
    shares = dict(con.execute(
        f"""SELECT jj_col, avg(CASE WHEN upper(trim(raw)) IN ({words}) THEN 1.0 ELSE 0.0 END)
            FROM {unpivot(first, candidates, name='jj_col')} GROUP BY jj_col""").fetchall())
    best: tuple[float, str | None] = (0.0, None)
    for rc in candidates:  # the first column wins a tie, as before
        share = shares.get(rc)
        if share is not None and share > max(best[0], 0.9):
            best = (float(share), rc)
    return best[1]


def _status_counts(
    con: duckdb.DuckDBPyConnection, linked: str, versions_table: str, col: str | None, matched_sql: str
) -> dict[str, int]:
    """Status of matched rows' persons as the registry knows them now (their newest version).

    A current row's chosen version is the newest, so ``_status`` already holds it; only outdated
    rows look up their person's newest version.
    """
    out = {"active": 0, "inactive": 0, "deceased": 0, "unknown": 0}
    if col is None:
        out["unknown"] = con.execute(f"SELECT count(*) FROM {linked} WHERE {matched_sql}").fetchall()[0][0]
        return out
    cases = " ".join(
        f"WHEN upper(trim(s)) IN ({', '.join(repr(w) for w in ws)}) THEN '{k}'" for k, ws in STATUS_WORDS.items()
    )
    rows = con.execute(
        f"""WITH o AS (SELECT _key, count(*) AS n FROM {linked} WHERE _class = 'outdated' GROUP BY _key),
                now AS (SELECT v._key, arg_max(v.{quote(col)}, v._valid_from) AS s FROM {versions_table} v
                        WHERE v._key IN (SELECT _key FROM o) GROUP BY v._key),
                everyone AS (SELECT _status AS s, count(*) AS n FROM {linked} WHERE _class = 'current' GROUP BY _status
                             UNION ALL SELECT now.s, o.n FROM o LEFT JOIN now USING (_key))
            SELECT CASE {cases} ELSE 'unknown' END AS st, sum(n) FROM everyone GROUP BY st"""
    ).fetchall()
    for k, n in rows:
        out[k] = int(n)
    return out
