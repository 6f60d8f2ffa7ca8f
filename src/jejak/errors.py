"""Errors that jejak reports to its users.

Messages name the file, line and column of the problem but never quote the offending value:
the value may be personal data, and error messages end up in logs, tickets and screenshots.
"""

from __future__ import annotations

from pathlib import Path


class JejakError(Exception):
    """Base of every error meant for a user; the CLI prints it without a traceback."""


class InputError(JejakError):
    """A problem with an input file, located as precisely as the format allows."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        column: int | str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.column = column
        self.reason = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
                if isinstance(self.column, int):
                    where += f":{self.column}"
            where += ": "
        col = f" (column {self.column})" if isinstance(self.column, str) else ""
        return f"{where}{self.reason}{col}"


class WorkspaceError(JejakError):
    """The workspace is missing, incomplete or in use by something incompatible."""


class RegistryError(JejakError):
    """A registry operation was refused (unknown dataset, out-of-order snapshot, ...)."""
