"""The channel abstraction and the release-marking driver."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from jejak import keys
from jejak.roles import Role
from jejak.sqltext import quote as q

#: The reading levels of robust channels, strictest first: a leaked cell agrees with a release at
#: level k when its offset lies within the channel's ``tolerances[k]`` of the release's shift.
LEVELS = ("exact", "near", "minute", "coarse")


class Channel:
    """One way of carrying marks. Subclasses give three SQL expressions over a cell.

    ``markable_sql(v)``: the number of renderings ``m`` the registry value ``v`` allows (< 2: none).
    ``render_sql(v, s)``: rendering number ``s`` (0 <= s < m) of ``v``.
    ``observe_sql(leaked, v)``: the rendering number a leaked value shows, or NULL if unreadable.

    A cell's symbol is ``PRF word mod m`` (``symbols``); a channel whose cells of one row must
    move together (``ts_jitter``) overrides ``symbols`` and documents the rule.
    """

    name: str = ""
    robust: bool = True
    roles: frozenset[Role] = frozenset()
    #: ``m`` follows from ``facts_sql`` by ``markable`` in numpy, instead of ``markable_sql`` in the
    #: query (cheaper when the facts are needed anyway); both must give the same number.
    markable_from_facts: bool = False
    #: Robust channels are read by *offset* (leaked value minus registry value, in the channel's
    #: unit) at several reading levels, each tolerating that much noise around the release's shift
    #: (``LEVELS``); format channels by the exact rendering at every level.
    tolerances: tuple[int, ...] = ()
    #: ``unit``: what one step of the offset is, for explanations ("s", "Rp").
    unit: str = ""

    def markable_sql(self, v: str, policy: Policy) -> str:
        raise NotImplementedError

    def render_sql(self, v: str, s: str, policy: Policy) -> str:
        raise NotImplementedError

    def observe_sql(self, leaked: str, v: str, policy: Policy) -> str:
        raise NotImplementedError

    def released_sql(self, v: str, s: str, policy: Policy) -> str:
        """The released value: rendering ``s`` where the cell is marked (``s`` not NULL), else ``v``."""
        return f"CASE WHEN {s} IS NULL THEN {v} ELSE {self.render_sql(v, s, policy)} END"

    # -- the robust channels' offset reading (docs/attribution.md §1) ----------------------------------

    def offset_sql(self, leaked: str, v: str) -> tuple[str, str] | None:
        """SQL of the interval ``[lo, hi]`` of offsets (leaked minus registry) the leaked text allows,
        both NULL when unreadable; None for a channel not read by offset. No policy enters: the
        offset is a fact of the leak and the registry."""
        return None

    def shift_range(self, cells: Cells, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
        """The allowed shifts ``[lo, hi]`` minus zero of each cell under ``policy`` (m = hi - lo)."""
        raise NotImplementedError

    def shift(self, symbols: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """The shift a release applied for each symbol (the inverse of ``render_sql``'s numbering)."""
        raise NotImplementedError

    def residue_sql(self, v: str) -> str | None:
        """The registry value's low-order unit (seconds of the minute, last digit) for the
        restoration bound of ``jejak.unreleased``; None when the channel has none."""
        return None

    def facts_sql(self, v: str, policy: Policy) -> dict[str, str]:
        """Per-cell facts (beyond ``m``) that ``symbols`` needs, as named SQL expressions."""
        return {}

    def markable(self, facts: dict[str, np.ndarray], policy: Policy) -> np.ndarray:
        """``m`` of every cell from its facts (only for ``markable_from_facts`` channels)."""
        raise NotImplementedError

    def prepare(self, cells: list[Cells], policy: Policy) -> Any:
        """What ``symbols`` needs beyond the words that no secret enters (e.g. joint timestamp groups):
        computed once when many releases are scored on the same cells."""
        return None

    def symbols(self, cells: list[Cells], policy: Policy, prepared: Any = None) -> list[np.ndarray]:
        """The symbol of every cell of each of this channel's columns; -1 where the cell is left alone."""
        return [np.where(c.m >= 2, (c.words % np.maximum(c.m, 1).astype(np.uint64)).astype(np.int64), -1)
                for c in cells]


@dataclass
class Cells:
    """One column's cells as the marking driver sees them, in row order."""

    column: str
    words: np.ndarray  # uint64 PRF words of the column's channel key
    m: np.ndarray  # int64 markable counts of the registry values
    facts: dict[str, np.ndarray]  # the channel's facts_sql columns (nullable, as float or int arrays)


@dataclass(frozen=True)
class Prepared:
    """``MarkPlan.prepare``: the secret-free part of marking a set of rows."""

    cells: list[Cells]
    by_channel: dict[str, list[int]]
    extra: dict[str, Any]


@dataclass(frozen=True)
class Policy:
    """Which channels a release uses, and their settings; stored in the ledger with the release."""

    channels: tuple[str, ...] = ("ts_jitter", "amount_digits", "phone_format", "email_case", "canary")
    #: Timestamps move by 1..J seconds either way. Since version 3, J = 30 minutes: a mark a leaker
    #: cannot remove by re-jittering seconds, randomising them or rounding to minutes (see
    #: docs/releases.md); version 2 used 30 seconds and its releases keep it.
    jitter_seconds: int = 1800
    #: 3: timestamps within 30 minutes; 2: joint timestamp jitter (jejak.channel.ts_jitter) within
    #: 30 seconds; 1: independent jitter. Each is reproduced as it was made.
    version: int = 3
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Policy:
        return cls(channels=tuple(d.get("channels", ())), jitter_seconds=int(d.get("jitter_seconds", 30)),
                   version=int(d.get("version", 1)), extra=dict(d.get("extra", {})))


@dataclass(frozen=True)
class MarkResult:
    cells: dict[str, int]
    canaries: list[dict[str, Any]]


def _registry() -> dict[str, Channel]:
    from jejak.channel import address_format, amount_digits, email_case, phone_format, ts_jitter

    chans: list[Channel] = [ts_jitter.TsJitter(), amount_digits.AmountDigits(), phone_format.PhoneFormat(),
                            email_case.EmailCase(), address_format.AddressFormat()]
    return {c.name: c for c in chans}


CHANNELS: dict[str, Channel] = {}


def channels() -> dict[str, Channel]:
    if not CHANNELS:
        CHANNELS.update(_registry())
    return CHANNELS


# -- the marking driver ----------------------------------------------------------------------------
#
# Marking is one read of the registry values and one write of the file: ``MarkPlan.facts_sql``
# gives the select-list that computes every (channel, column)'s markable count and facts in one
# pass; ``MarkPlan.symbols`` turns them and the row digests into symbols with numpy and AES (one
# library call per column); ``MarkPlan.rendered_sql`` renders every marked column from its symbol
# column in the SELECT that writes the file. No UPDATE, no per-row Python.


@dataclass(frozen=True)
class MarkPlan:
    """Which channel marks which column of a release, in policy order then column order."""

    marks: tuple[tuple[Channel, str], ...]
    policy: Policy

    @classmethod
    def of(cls, roles: dict[str, Role], policy: Policy) -> MarkPlan:
        marks: list[tuple[Channel, str]] = []
        taken: set[str] = set()
        for name in policy.channels:
            if name == "canary":  # rows, not cells: added by jejak.channel.canary
                continue
            ch = channels().get(name)
            if ch is None:
                raise ValueError(f"unknown channel {name!r}")
            for column, role in roles.items():
                if role in ch.roles and column not in taken:  # one channel per column
                    marks.append((ch, column))
                    taken.add(column)
        return cls(tuple(marks), policy)

    def facts_sql(self) -> list[str]:
        """Select-list items over the registry columns: ``_m{i}`` and the channels' facts."""
        items = []
        for i, (ch, column) in enumerate(self.marks):
            v = q(column)
            if not ch.markable_from_facts:
                items.append(f"coalesce(({ch.markable_sql(v, self.policy)}), 0)::BIGINT AS _m{i}")
            items += [f"({expr}) AS _f{i}_{name}" for name, expr in ch.facts_sql(v, self.policy).items()]
        return items

    def symbols(self, facts: pa.Table, digests: np.ndarray, release_secret: bytes) -> dict[str, np.ndarray]:
        """Symbol column ``_s{i}`` (int64, -1: left alone) for every mark, from facts and digests."""
        n = facts.num_rows
        out = {f"_s{i}": np.empty(n, dtype=np.int64) for i in range(len(self.marks))}
        # A block at a time: symbols are a function of each row, and a million-row block's dozens of
        # temporary arrays, each faulted in fresh, took twice as long as the same work in blocks.
        for start in range(0, n, SYMBOL_BLOCK):
            part, d = facts.slice(start, SYMBOL_BLOCK), digests[start:start + SYMBOL_BLOCK]
            for name, sym in self.symbols_prepared(self.prepare(part), d, release_secret).items():
                out[name][start:start + len(sym)] = sym
        return out

    def prepare(self, facts: pa.Table) -> Prepared:
        """The cells of every mark and what their channels precompute, for rows ``facts``: everything
        about the symbols that no secret enters (attribution scores many releases on the same rows)."""
        cells = [self.cells_of(facts, i) for i in range(len(self.marks))]
        by_channel: dict[str, list[int]] = {}
        for i, (ch, _) in enumerate(self.marks):
            by_channel.setdefault(ch.name, []).append(i)
        extra = {name: self.marks[idx[0]][0].prepare([cells[i] for i in idx], self.policy)
                 for name, idx in by_channel.items()}
        return Prepared(cells, by_channel, extra)

    def symbols_prepared(self, prepared: Prepared, digests: np.ndarray, release_secret: bytes) -> dict[str, np.ndarray]:
        """``symbols`` of the prepared rows under one release's secret: one AES call per mark."""
        out: dict[str, np.ndarray] = {}
        for name, idx in prepared.by_channel.items():
            ch = self.marks[idx[0]][0]
            cells = [replace(prepared.cells[i], words=keys.prf_words(
                keys.channel_key(release_secret, ch.name, self.marks[i][1]), digests)) for i in idx]
            for i, sym in zip(idx, ch.symbols(cells, self.policy, prepared.extra[name]), strict=True):
                out[f"_s{i}"] = sym
        return out

    def cells_of(self, facts: pa.Table, i: int, words: np.ndarray | None = None) -> Cells:
        """Mark ``i``'s cells from the ``facts_sql`` columns (``words`` empty unless given)."""
        ch, column = self.marks[i]
        prefix = f"_f{i}_"
        own = {n[len(prefix):]: _ints(facts.column(n)) for n in facts.column_names if n.startswith(prefix)}
        m = ch.markable(own, self.policy) if ch.markable_from_facts else _ints(facts.column(f"_m{i}"))
        return Cells(column=column, words=np.zeros(0, np.uint64) if words is None else words, m=m, facts=own)

    def cells(self, symbols: dict[str, np.ndarray]) -> dict[str, int]:
        """Cells each channel marked."""
        counts: dict[str, int] = {}
        for i, (ch, _) in enumerate(self.marks):
            counts[ch.name] = counts.get(ch.name, 0) + int(np.count_nonzero(symbols[f"_s{i}"] >= 0))
        return counts

    def rendered_sql(self, columns: list[str], symbols_alias: str = "") -> dict[str, str]:
        """Column -> SQL of its released value, reading symbols from ``_s{i}`` (NULL: left alone)."""
        out = {c: q(c) for c in columns}
        a = f"{symbols_alias}." if symbols_alias else ""
        for i, (ch, column) in enumerate(self.marks):
            if column in out:
                v = q(column)
                s = f"{a}_s{i}"
                out[column] = ch.released_sql(v, s, self.policy)
        return out

    @staticmethod
    def symbols_table(symbols: dict[str, np.ndarray], **extra: Any) -> pa.Table:
        """An Arrow table of the symbol columns (-1 becomes NULL) and ``extra`` columns."""
        cols: dict[str, Any] = dict(extra)
        for name, sym in symbols.items():
            cols[name] = pa.array(sym, mask=sym < 0)
        return pa.table(cols)


def _ints(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A nullable integer Arrow column as int64 numpy, NULL as a huge negative sentinel."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return np.asarray(arr.fill_null(NULL_INT).to_numpy(zero_copy_only=False), dtype=np.int64)


NULL_INT = -(2**62)
SYMBOL_BLOCK = 1 << 17  # rows per block in MarkPlan.symbols


def digests_array(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An Arrow BLOB column of 16-byte digests as an (n, 16) uint8 array."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    if n == 0:
        return np.zeros((0, keys.DIGEST_BYTES), dtype=np.uint8)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset: arr.offset + n + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    if np.all(np.diff(offsets) == keys.DIGEST_BYTES):
        return data[offsets[0]: offsets[0] + n * keys.DIGEST_BYTES].reshape(n, keys.DIGEST_BYTES)
    raise ValueError("row digests must be 16 bytes each")


def digests_of(con: duckdb.DuckDBPyConnection, table: str) -> np.ndarray:
    return digests_array(con.sql(f"SELECT _digest FROM {table} ORDER BY _rid").to_arrow_table().column(0))


def embed_release(con: duckdb.DuckDBPyConnection, table: str, *, roles: dict[str, Role], release_secret: bytes,
                  policy: Policy) -> MarkResult:
    """Mark every applicable column of ``table`` (which has ``_rid`` 0..n-1 and ``_digest``) in place.

    ``jejak.release`` marks while writing the file instead; this is the same computation for a
    table (tests, tools), in one UPDATE.
    """
    plan = MarkPlan.of(roles, policy)
    if not plan.marks:
        return MarkResult(cells={}, canaries=[])
    facts = con.sql(f"SELECT _digest, {', '.join(plan.facts_sql())} FROM {table} ORDER BY _rid").to_arrow_table()
    symbols = plan.symbols(facts, digests_array(facts.column("_digest")), release_secret)
    con.register("_jj_symbols", plan.symbols_table(symbols, _rid=np.arange(facts.num_rows, dtype=np.int64)))
    try:
        rendered = plan.rendered_sql([c for _, c in plan.marks], "s")
        sets = ", ".join(f"{q(c)} = {expr}" for c, expr in rendered.items())
        con.execute(f"UPDATE {table} SET {sets} FROM _jj_symbols s WHERE {table}._rid = s._rid")
    finally:
        con.unregister("_jj_symbols")
    return MarkResult(cells=plan.cells(symbols), canaries=[])
