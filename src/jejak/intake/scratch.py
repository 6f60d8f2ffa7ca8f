"""Where intake writes its temporary copies (transcoded text, unpacked members, screened rows).

Those copies hold personal data, so a caller with a workspace passes ``read_table(scratch=...)``:
a private folder inside the workspace that is swept if the process dies. The folder is carried in
a context variable rather than threaded through every reader, so that a reader deep in an archive
or an encoding fallback cannot forget it. Without one (library use outside a workspace) Python's
default temporary folder is used, with owner-only files as ``tempfile`` always makes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

_DIR: ContextVar[Path | None] = ContextVar("jejak_intake_scratch", default=None)


@contextmanager
def within(path: Path | None) -> Iterator[None]:
    """Make ``path`` the folder for intake's temporary files inside the block (``None``: leave as is)."""
    if path is None:
        yield
        return
    token = _DIR.set(Path(path))
    try:
        yield
    finally:
        _DIR.reset(token)


def directory() -> str | None:
    """The folder for a temporary file now, for ``tempfile``'s ``dir=`` argument."""
    current = _DIR.get()
    return str(current) if current is not None else None
