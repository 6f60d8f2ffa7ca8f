"""Helpers for the service's tests: a service over a workspace, and browsers signed in by role.

``Browser`` is a TestClient with its own cookie jar and the session's CSRF token at hand, so a
test reads as what a person does: ``alice.post_form("/requests", {...})``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from jejak.service import auth
from jejak.service.app import create_app
from jejak.service.core import Service, Settings
from jejak.workspace import Workspace

BASE = "https://testserver"  # https: the session cookie is Secure, and httpx honours that


def make_service(home: Path, settings: Settings | None = None) -> tuple[Service, FastAPI]:
    """A service over the workspace at ``home`` whose jobs run only when a test says so."""
    service = Service(Workspace.open(home), settings or Settings())
    return service, create_app(service, workers=False)


def run_jobs(app: FastAPI) -> int:
    """Run queued jobs until none is left; returns how many ran."""
    n = 0
    while app.state.queue.run_one() is not None:
        n += 1
    return n


@dataclass
class Browser:
    client: TestClient
    name: str
    password: str
    csrf: str | None = None

    def sign_in(self) -> Browser:
        page = self.client.get("/login")
        pre = _field(page.text, "csrf")
        r = self.client.post("/login", data={"csrf": pre, "name": self.name, "password": self.password,
                                             "next": "/"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        self.csrf = _field(self.client.get("/account").text, "csrf")
        return self

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post_form(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        body = {"csrf": self.csrf or "", **(data or {})}
        kw.setdefault("follow_redirects", False)
        return self.client.post(url, data=body, **kw)


def browser(app: FastAPI, service: Service, name: str, role: str, *, sign_in: bool = True) -> Browser:
    """A new account with ``role`` and a browser of its own, signed in."""
    existing = auth.user_by_name(service.db, name)
    password = "correct horse battery staple"
    if existing is None:
        auth.add_user(service.db, name, role, password)
    b = Browser(TestClient(app, base_url=BASE), name, password)
    return b.sign_in() if sign_in else b


def _field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no {name} field on the page"
    return m.group(1)
