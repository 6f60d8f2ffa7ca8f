"""The channel abstraction and the release-marking driver."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from jejak import keys
from jejak.roles import Role


def q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


class Channel:
    """One way of carrying marks. Subclasses give three SQL expressions over a cell.

    ``markable_sql(v)``: the number of renderings ``m`` the registry value ``v`` allows (< 2: none).
    ``render_sql(v, s)``: rendering number ``s`` (0 <= s < m) of ``v``.
    ``observe_sql(leaked, v)``: the rendering number a leaked value shows, or NULL if unreadable.
    """

    name: str = ""
    robust: bool = True
    roles: frozenset[Role] = frozenset()

    def markable_sql(self, v: str, policy: Policy) -> str:
        raise NotImplementedError

    def render_sql(self, v: str, s: str, policy: Policy) -> str:
        raise NotImplementedError

    def observe_sql(self, leaked: str, v: str, policy: Policy) -> str:
        raise NotImplementedError

    def embed(self, con: duckdb.DuckDBPyConnection, table: str, column: str, key: bytes,
              digests: np.ndarray, policy: Policy) -> int:
        """Rewrite ``column`` of ``table`` in place; returns the number of cells marked."""
        words = keys.prf_words(key, digests)
        con.register("_jj_words", pa.table({"_rid": np.arange(len(words), dtype=np.int64), "_w": words}))
        c = q(column)
        m = self.markable_sql(c, policy)
        try:
            marked = con.execute(
                f"SELECT count(*) FROM {table} WHERE ({m}) >= 2"
            ).fetchall()[0][0]
            con.execute(
                f"""UPDATE {table} SET {c} = ({self.render_sql(c, f'CAST(w._w % CAST(({m}) AS UBIGINT) AS BIGINT)',
                                                               policy)})
                    FROM _jj_words w WHERE {table}._rid = w._rid AND ({m}) >= 2"""
            )
        finally:
            con.unregister("_jj_words")
        return int(marked)


@dataclass(frozen=True)
class Policy:
    """Which channels a release uses, and their settings; stored in the ledger with the release."""

    channels: tuple[str, ...] = ("ts_jitter", "amount_digits", "phone_format", "email_case", "canary")
    jitter_seconds: int = 30
    version: int = 1
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
    from jejak.channel import amount_digits, email_case, phone_format, ts_jitter

    chans: list[Channel] = [ts_jitter.TsJitter(), amount_digits.AmountDigits(), phone_format.PhoneFormat(),
                            email_case.EmailCase()]
    return {c.name: c for c in chans}


CHANNELS: dict[str, Channel] = {}


def channels() -> dict[str, Channel]:
    if not CHANNELS:
        CHANNELS.update(_registry())
    return CHANNELS


def digests_of(con: duckdb.DuckDBPyConnection, table: str) -> np.ndarray:
    col = con.sql(f"SELECT _digest FROM {table} ORDER BY _rid").to_arrow_table().column(0).combine_chunks()
    n = len(col)
    return np.frombuffer(col.buffers()[2], dtype=np.uint8)[: n * keys.DIGEST_BYTES].reshape(n, keys.DIGEST_BYTES)


def embed_release(con: duckdb.DuckDBPyConnection, table: str, *, roles: dict[str, Role], release_secret: bytes,
                  policy: Policy) -> MarkResult:
    """Mark every applicable column of ``table`` (which has ``_rid`` 0..n-1 and ``_digest``)."""
    digests = digests_of(con, table)
    cells: dict[str, int] = {}
    for name in policy.channels:
        if name == "canary":  # rows, not cells: added by jejak.channel.canary before marking
            continue
        ch = channels().get(name)
        if ch is None:
            raise ValueError(f"unknown channel {name!r}")
        for column, role in roles.items():
            if role in ch.roles:
                key = keys.channel_key(release_secret, ch.name, column)
                cells[ch.name] = cells.get(ch.name, 0) + ch.embed(con, table, column, key, digests, policy)
    return MarkResult(cells=cells, canaries=[])
