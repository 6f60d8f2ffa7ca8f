"""The service's state: one workspace, its ledger database, the audit log and the job queue.

The master secret is read here, once, by the server process; no page, log or error shows it.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jejak.audit import AuditLog
from jejak.files import private_dir
from jejak.ledger import Ledger
from jejak.service.db import Database
from jejak.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class Settings:
    max_upload: int = 2 * 1024**3  # bytes; a larger body is refused while it arrives
    link_minutes: int = 15  # how long a one-time download link lives
    workers: int = 2  # job threads in this process
    lease_seconds: int = 60  # a running job whose worker stops renewing this is taken over
    secure_cookies: bool | None = None  # None: Secure unless the client is on loopback over http
    poll_seconds: float = 0.5


@dataclass
class Service:
    ws: Workspace
    settings: Settings = field(default_factory=Settings)

    def __post_init__(self) -> None:
        self.ws.sweep_stale()  # a job killed with the last server left its folders; nothing else did
        self.master = self.ws.master_secret()  # refused at start, not at the first release
        self.ledger = Ledger.open(self.ws.ledger_url)
        self.db = Database(self.ledger.engine)
        self.audit_log = AuditLog(self.ledger, self.ws.home)
        self.worker_id = f"{socket.gethostname()[:40]}:{os.getpid()}"
        for d in (self.releases_dir, self.uploads_dir):
            private_dir(d, parents=True)

    @property
    def releases_dir(self) -> Path:
        return self.ws.home / "service" / "releases"

    @property
    def uploads_dir(self) -> Path:
        return self.ws.home / "service" / "uploads"

    def record(self, actor: str, action: str, target: str | None = None,
               detail: dict[str, Any] | None = None) -> None:
        """Append to the workspace's audit log (the CLI's log) as ``web:<user>``."""
        self.audit_log.append(action, target, detail, actor=f"web:{actor}", master=self.master)

    def close(self) -> None:
        self.ledger.close()
