"""Column names as jejak stores them: never empty, never one of jejak's own, unique ignoring case.

Downstream code adds its own columns (``_line``, ``_key``, ``_valid_from``, ``_member``, ...) next
to the data and compares names case-blind (``NIK`` and ``nik`` are one column to the mapper), so a
file's header is made safe once, here, for every format: an empty name becomes ``columnN``, a
name starting with ``_`` (our namespace) or DuckDB's ``rowid`` gets a ``col_`` prefix, and a
repeated name, in any case, gets ``_2``, ``_3``... (``NIK,nik,Nik`` -> ``NIK,nik_2,Nik_3``).
"""

from __future__ import annotations

from collections.abc import Sequence

PREFIX = "col_"
_DUCKDB_OWN = {"rowid"}  # a column named rowid would hide DuckDB's row id, which numbers our lines


def column_names(raw: Sequence[object]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for i, value in enumerate(raw):
        name = str(value).strip() if value is not None else ""
        if not name:
            name = f"column{i + 1}"
        if name.startswith("_") or name.lower() in _DUCKDB_OWN:
            name = PREFIX + name
        base, k = name, 1
        while name.lower() in seen:
            k += 1
            name = f"{base}_{k}"
        seen.add(name.lower())
        out.append(name)
    return out


def numbered(n: int) -> list[str]:
    """Names for a file without a header row: column1..columnN (never the first row's values)."""
    return [f"column{i + 1}" for i in range(n)]
