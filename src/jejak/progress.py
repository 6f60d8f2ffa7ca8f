"""How far the query DuckDB is running has got, for a progress bar on a terminal.

A registry import, a release or an investigation spends most of its time inside a few large DuckDB
statements, where Python cannot count rows. DuckDB can: while a statement runs, another thread may
ask the connection how far it is (``query_progress``, a percentage of the rows its scans have read).
A command that draws a bar registers a listener with :func:`listen`; every registry connection
opened after that is watched by a thread until it is closed. Where the library knows how many rows
a stage handles, it says so with :func:`rows`, and the listener can show rows instead of a percentage.

Nothing is watched unless a listener is registered, so scripts and pipes pay nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import duckdb

#: ``(percent of the running statement, rows the current stage handles or None)``
Listener = Callable[[float, int | None], None]

_listeners: list[Listener] = []
_rows: list[int | None] = [None]
POLL_SECONDS = 0.2


def listen(listener: Listener | None) -> None:
    """Report the progress of every registry connection opened from now on to ``listener``
    (``None`` stops reporting for connections opened later)."""
    _listeners.clear()
    if listener is not None:
        _listeners.append(listener)


def set_rows(total: int | None) -> None:
    """From now on the running statements handle about ``total`` rows (None: unknown)."""
    _rows[0] = total


@contextmanager
def rows(total: int | None) -> Iterator[None]:
    """Within the block, the running statements handle about ``total`` rows."""
    before = _rows[0]
    _rows[0] = total
    try:
        yield
    finally:
        _rows[0] = before


class Watch:
    """A thread asking ``con`` how far its statement has got, until :meth:`stop`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, listener: Listener) -> None:
        self._con, self._listener = con, listener
        self._stop = threading.Event()
        con.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
        self._thread = threading.Thread(target=self._run, name="jejak-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                pct = self._con.query_progress()
            except duckdb.Error:  # the connection is closing: nothing more to report
                return
            if pct >= 0:
                self._listener(min(float(pct), 100.0), _rows[0])

    def stop(self) -> None:
        """Stop asking; returns when the thread has ended, so the connection may be closed."""
        self._stop.set()
        self._thread.join()


def watch(con: duckdb.DuckDBPyConnection) -> Watch | None:
    """Start watching ``con`` when a listener is registered."""
    return Watch(con, _listeners[0]) if _listeners else None
