"""Ctrl-C and SIGTERM: stop at once, leave the workspace as it was, and say so in one line.

SIGTERM is turned into the same exception as Ctrl-C, so a query DuckDB is running is
interrupted the same way (DuckDB polls Python's signal state and raises its own
``InterruptException``), and every ``finally`` on the way out removes its temporary files.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_received: list[int] = []
_deferring: list[int] = [0]
_saved: list[str] = []


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Python was when it arrived."""


def install() -> None:
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    first = not _received
    _received.append(signum)
    if first and not _deferring[0]:  # a second Ctrl-C while cleaning up must not cut the cleanup short
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextmanager
def held() -> Iterator[None]:
    """Hold a signal back while the block runs; it is raised when the block ends."""
    already = bool(_received)  # an interruption being cleaned up after was raised once; not again
    _deferring[0] += 1
    try:
        yield
    finally:
        _deferring[0] -= 1
    if _received and not already and not _deferring[0]:  # the signal held back: stop now
        raise Terminated() if _received[0] == signal.SIGTERM else KeyboardInterrupt()


@contextmanager
def committing(what: str) -> Iterator[None]:
    """Hold a signal back while a commit runs, so that it lands either before it (nothing changed)
    or after it (``what`` was saved, and the interruption says so) — never inside it."""
    with held():
        yield
        _saved.append(what)


def saved() -> list[str]:
    """What was committed before an interruption arrived."""
    return list(_saved)


def received() -> bool:
    return bool(_received)


def is_interruption(exc: BaseException) -> bool:
    """Ctrl-C or SIGTERM, whether Python or DuckDB raised it."""
    import duckdb

    if isinstance(exc, KeyboardInterrupt | duckdb.InterruptException):
        return True
    return isinstance(exc, RuntimeError) and "interrupted" in str(exc).lower()


def ignore_more() -> None:
    """Ignore any further Ctrl-C or SIGTERM: the run is cleaned up and exiting. Python restores the
    default action of a signal it handled while it shuts down, so one arriving then would kill the
    process by that signal instead of the exit status that says what happened; an ignored one
    stays ignored to the end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def exit_status() -> int:
    """128 + the signal's number, as shells report it: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + (_received[0] if _received else signal.SIGINT)
