"""How much of the machine jejak's DuckDB work may take: memory and threads.

A registry of 222 million people and a dump of 279 million rows do not fit in memory, and jejak
runs on servers it shares. Every DuckDB connection jejak opens gets the same two settings:

* memory: ``--memory-limit`` on a heavy command, else ``$JEJAK_MEMORY_LIMIT``, else the smaller of
  3 GiB and half the machine's memory — DuckDB's share of a process that stays under 4 GB with
  Python, pyarrow and splink beside it. Beyond it DuckDB spills to the workspace (never ``/tmp``);
  the memory a run needs therefore does not grow with the dump (docs/scale.md has the figures).
* threads: ``$JEJAK_THREADS``, else every core.
"""

from __future__ import annotations

import os
import re

import duckdb

from jejak.errors import JejakError

MEMORY_ENV = "JEJAK_MEMORY_LIMIT"
THREADS_ENV = "JEJAK_THREADS"
DEFAULT_CAP = 3 * 2**30

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
_chosen: list[str] = []  # the command's --memory-limit, when it gave one


class ResourceError(JejakError):
    """A memory limit or thread count that cannot be used."""


def parse_size(text: str, *, what: str = "memory limit") -> int:
    """Bytes in ``text`` such as ``4GB``, ``512MiB`` or ``1.5 GiB``."""
    m = _SIZE.match(text)
    if not m:
        raise ResourceError(f"{what} {text!r} is not a size; write it as e.g. 4GB, 512MiB or 1.5GiB")
    size = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if size < 64 * 2**20:
        raise ResourceError(f"{what} {text!r} is below 64 MiB, too little for DuckDB to work in")
    return size


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_memory_limit() -> int:
    """3 GiB, or half the machine when that is less: a 1M-row leak never spills, the whole process
    stays under 4 GB, and it is safe beside other work on a shared server. A larger limit is faster
    at 50M rows and beyond (docs/scale.md)."""
    total = physical_memory()
    return DEFAULT_CAP if total is None else min(DEFAULT_CAP, total // 2)


def use_memory_limit(text: str | None) -> None:
    """Make ``text`` (a command's ``--memory-limit``) the limit of every connection opened after."""
    _chosen.clear()
    if text:
        parse_size(text)
        _chosen.append(text)


def memory_limit() -> int:
    """The limit in bytes: the command's choice, else the environment's, else the default."""
    if _chosen:
        return parse_size(_chosen[0])
    env = os.environ.get(MEMORY_ENV, "").strip()
    if env:
        return parse_size(env, what=f"${MEMORY_ENV}")
    return default_memory_limit()


def threads() -> int | None:
    env = os.environ.get(THREADS_ENV, "").strip()
    if not env:
        return None
    if not env.isdigit() or int(env) < 1:
        raise ResourceError(f"${THREADS_ENV} must be a whole number of threads (1 or more)")
    return int(env)


def configure(con: duckdb.DuckDBPyConnection, limit: str | None = None) -> None:
    """Apply the memory limit (``limit``, else :func:`memory_limit`) and thread count to ``con``."""
    con.execute(f"SET memory_limit = '{(parse_size(limit) if limit else memory_limit()) // 2**20}MiB'")
    n = threads()
    if n is not None:
        con.execute(f"SET threads = {n}")
