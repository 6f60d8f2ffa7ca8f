"""Pieces of SQL text shared by every module that builds DuckDB statements."""

from __future__ import annotations


def quote(identifier: str) -> str:
    """Quote a column name for DuckDB; leaked and imported headers can contain anything."""
    return '"' + identifier.replace('"', '""') + '"'


def unpivot(source: str, columns: list[str], *, keep: str = "", name: str = "col") -> str:
    """A FROM item with a row (``keep`` columns, ``name``, ``raw``) per non-NULL cell of ``columns``.

    Per-column work on a wide file goes through this: one UNPIVOT is planned in time linear in the
    columns, where a UNION ALL of one SELECT per column took 3 s to plan at 1,000 columns and 12 s
    at 2,000 (issue 14). ``columns`` must be non-empty and share one type (jejak's are VARCHAR).
    """
    cols = ", ".join(quote(c) for c in columns)
    kept = f"{keep}, " if keep else ""
    return f"(UNPIVOT (SELECT {kept}{cols} FROM {source}) ON {cols} INTO NAME {name} VALUE raw)"
