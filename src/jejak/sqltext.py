"""Pieces of SQL text shared by every module that builds DuckDB statements."""

from __future__ import annotations


def quote(identifier: str) -> str:
    """Quote a column name for DuckDB; leaked and imported headers can contain anything."""
    return '"' + identifier.replace('"', '""') + '"'


def unique_names(names: list[str]) -> list[str]:
    """Column names made unique in order: a repeated ``X`` becomes ``X_2``, ``X_3`` ..."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}_{k + 1}")
    return out
