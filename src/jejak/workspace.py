"""The workspace: one directory that holds a registry, a ledger and a master secret.

Two workspaces never share state: every path jejak writes is inside ``home`` (the ledger may
instead live in PostgreSQL when ``JEJAK_DATABASE_URL`` is set — then the database is the
workspace's ledger and must not be shared with another workspace).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jejak.errors import WorkspaceError
from jejak.files import OWNER_FILE, TMP_PREFIX, owned_tempdir, private_dir, remove_owned_dir, write_private

if TYPE_CHECKING:
    from jejak.ledger import Ledger

MARKER = "jejak.json"
SECRET_ENV = "JEJAK_MASTER_SECRET"
HOME_ENV = "JEJAK_HOME"
DATABASE_ENV = "JEJAK_DATABASE_URL"
FORMAT_VERSION = 1
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workspace:
    home: Path

    @property
    def registry_path(self) -> Path:
        return self.home / "registry.duckdb"

    @property
    def ledger_url(self) -> str:
        return os.environ.get(DATABASE_ENV) or f"sqlite:///{self.home / 'ledger.sqlite'}"

    @property
    def secret_path(self) -> Path:
        return self.home / "secret" / "master.key"

    @property
    def evidence_dir(self) -> Path:
        return self.home / "evidence"

    @property
    def cases_dir(self) -> Path:
        return self.home / "cases"

    @property
    def tmp_root(self) -> Path:
        """Where temporary files go: inside the workspace, never ``$TMPDIR``. A shared ``/tmp``
        outlives the run, is often world-listable, and a killed run's copy of the registry there
        would hold every person's NIK and name."""
        return self.home / "tmp"

    @contextlib.contextmanager
    def tmpdir(self, prefix: str, parent: Path | None = None) -> Iterator[Path]:
        """A fresh owner-only directory, removed on every way out of the block.

        It lives in ``parent`` (default: :attr:`tmp_root`) and records this process's id, so that
        a run killed before it could clean up is swept by the next one (:meth:`sweep_stale`).
        ``parent`` lets a case be built beside its final place and renamed into it."""
        path = owned_tempdir(parent or self.tmp_root, prefix)
        try:
            yield path
        finally:
            remove_owned_dir(path)

    def sweep_stale(self) -> list[Path]:
        """Remove temporary directories whose owner process is dead; return what was removed.

        Called at the start of every command. A directory without a readable owner (killed
        between creating it and writing the id) is only removed once it is an hour old, so a
        run starting at the same moment is never robbed of its folder."""
        removed = []
        # Temporary folders live in tmp/, beside a case being built, and beside a notification
        # pack being prepared in its case.
        patterns = [(self.tmp_root, f"{TMP_PREFIX}*"), (self.cases_dir, f"{TMP_PREFIX}*"),
                    (self.cases_dir, f"*/{TMP_PREFIX}*")]
        for base, pattern in patterns:
            if not base.is_dir():
                continue
            for path in base.glob(pattern):
                if path.is_dir() and _stale(path):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
        if removed:
            log.info("removed %d temporary folder(s) left by interrupted runs", len(removed))
        return removed

    @classmethod
    def init(cls, home: Path) -> Workspace:
        """Create a new workspace with a fresh master secret; refuse an existing one."""
        home = home.expanduser().resolve()
        if (home / MARKER).exists():
            raise WorkspaceError(f"{home} is already a jejak workspace")
        if home.exists() and any(home.iterdir()):
            raise WorkspaceError(f"{home} exists and is not empty; choose a new directory")
        ws = cls(home)
        private_dir(home, parents=True)
        for d in (ws.evidence_dir, ws.cases_dir, ws.tmp_root):
            private_dir(d)
        if not os.environ.get(SECRET_ENV):
            ws._write_secret(secrets.token_bytes(32))
        # The marker is written last so a half-created directory is never taken for a workspace.
        write_private(home / MARKER, json.dumps({"format": FORMAT_VERSION}) + "\n")
        return ws

    @classmethod
    def open(cls, home: Path) -> Workspace:
        home = home.expanduser().resolve()
        if not (home / MARKER).exists():
            raise WorkspaceError(f"{home} is not a jejak workspace; create it with 'jejak --home {home} init'")
        return cls(home)

    def _write_secret(self, secret: bytes) -> None:
        private_dir(self.secret_path.parent)
        fd = os.open(self.secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret.hex() + "\n")

    def master_secret(self) -> bytes:
        """The master secret, from ``JEJAK_MASTER_SECRET`` (hex) or the workspace's key file."""
        env = os.environ.get(SECRET_ENV)
        text = env if env else None
        if text is None:
            try:
                text = self.secret_path.read_text()
            except FileNotFoundError:
                raise WorkspaceError(
                    f"no master secret: set {SECRET_ENV} or restore {self.secret_path} from backup"
                ) from None
        try:
            secret = bytes.fromhex(text.strip())
        except ValueError:
            raise WorkspaceError("the master secret is not valid hex") from None
        if len(secret) < 16:
            raise WorkspaceError("the master secret is shorter than 16 bytes")
        return secret

    def ledger(self) -> Ledger:
        """The workspace's ledger, migrated, with every canary sealed: for commands that hold the secret.

        Ledgers written before canary tags hold canaries in plaintext; this is the one place that
        turns them into tags (``Ledger.seal_canaries``) — release create and reproduce,
        investigate, the demo and the evaluation all open the ledger here. Commands without
        the secret use ``Ledger.open``.
        """
        from jejak.keys import canary_index_key
        from jejak.ledger import Ledger

        secret = self.master_secret()  # before the ledger: a missing secret leaves nothing open
        ledger = Ledger.open(self.ledger_url)
        try:
            ledger.seal_canaries(canary_index_key(secret))
        except BaseException:
            ledger.close()
            raise
        return ledger


def _stale(path: Path) -> bool:
    try:
        pid = int((path / OWNER_FILE).read_text().strip())
    except (OSError, ValueError):
        import time

        try:
            return time.time() - path.stat().st_mtime > 3600
        except OSError:
            return False
    return not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def resolve_home(home: Path | None) -> Path:
    """``--home`` wins over ``JEJAK_HOME``; one of them is required."""
    if home is not None:
        return home
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env)
    raise WorkspaceError(f"no workspace given: pass --home DIR or set {HOME_ENV}")
