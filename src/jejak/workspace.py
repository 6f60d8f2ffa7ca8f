"""The workspace: one directory that holds a registry, a ledger and a master secret.

Two workspaces never share state: every path jejak writes is inside ``home`` (the ledger may
instead live in PostgreSQL when ``JEJAK_DATABASE_URL`` is set — then the database is the
workspace's ledger and must not be shared with another workspace).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jejak.errors import WorkspaceError

if TYPE_CHECKING:
    from jejak.ledger import Ledger

MARKER = "jejak.json"
SECRET_ENV = "JEJAK_MASTER_SECRET"
HOME_ENV = "JEJAK_HOME"
DATABASE_ENV = "JEJAK_DATABASE_URL"
FORMAT_VERSION = 1


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

    @classmethod
    def init(cls, home: Path) -> Workspace:
        """Create a new workspace with a fresh master secret; refuse an existing one."""
        home = home.expanduser().resolve()
        if (home / MARKER).exists():
            raise WorkspaceError(f"{home} is already a jejak workspace")
        if home.exists() and any(home.iterdir()):
            raise WorkspaceError(f"{home} exists and is not empty; choose a new directory")
        ws = cls(home)
        home.mkdir(parents=True, exist_ok=True)
        for d in (ws.evidence_dir, ws.cases_dir):
            d.mkdir(exist_ok=True)
        if not os.environ.get(SECRET_ENV):
            ws._write_secret(secrets.token_bytes(32))
        # The marker is written last so a half-created directory is never taken for a workspace.
        (home / MARKER).write_text(json.dumps({"format": FORMAT_VERSION}) + "\n")
        return ws

    @classmethod
    def open(cls, home: Path) -> Workspace:
        home = home.expanduser().resolve()
        if not (home / MARKER).exists():
            raise WorkspaceError(f"{home} is not a jejak workspace; create it with 'jejak --home {home} init'")
        return cls(home)

    def _write_secret(self, secret: bytes) -> None:
        self.secret_path.parent.mkdir(mode=0o700, exist_ok=True)
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


def resolve_home(home: Path | None) -> Path:
    """``--home`` wins over ``JEJAK_HOME``; one of them is required."""
    if home is not None:
        return home
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env)
    raise WorkspaceError(f"no workspace given: pass --home DIR or set {HOME_ENV}")
