"""The role matrix, walked cell by cell: every route × every role, and the documentation's copy of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from tests.servicekit import BASE, Browser, browser, make_service

from jejak.service import access
from jejak.workspace import Workspace

PUBLIC = {("GET", "/login"), ("POST", "/login")}
# Ids that exist nowhere: an allowed role gets past the matrix and is then told "not found" (404)
# or that the form is incomplete (400); a refused role is stopped by the matrix first (403).
DUMMY = {"rid": "RQ-0000000000", "cid": "C-20260101-000000-AAAA", "uid": "999999", "token": "x" * 20}


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Browser]]]:
    home = tmp_path_factory.mktemp("matrix") / "ws"
    Workspace.init(home)
    service, app = make_service(home)
    browsers = {role: browser(app, service, f"user-{role}", role) for role in access.ROLES}
    yield app, browsers
    service.close()


def _url(path: str) -> str:
    return path.format(**DUMMY)


def _call(b: Browser | None, app: Any, method: str, path: str) -> int:
    if b is None:
        client = TestClient(app, base_url=BASE)
        return client.request(method, _url(path), follow_redirects=False).status_code
    if method == "GET":
        return int(b.get(_url(path), follow_redirects=False).status_code)
    return int(b.post_form(_url(path)).status_code)


CELLS = [(name, role) for name in access.ROUTES for role in access.ROLES]


@pytest.mark.parametrize(("route", "role"), CELLS, ids=[f"{n}-{r}" for n, r in CELLS])
def test_every_cell_of_the_matrix(walked: tuple[Any, dict[str, Browser]], route: str, role: str) -> None:
    app, browsers = walked
    method, path, roles, _what = access.ROUTES[route]
    if route == "signout":
        pytest.skip("signing out ends the shared session; tests/test_service_auth.py covers it")
    status = _call(browsers[role], app, method, path)
    if role in roles:
        assert status != 403, f"{role} is allowed {method} {path} by the matrix but was refused"
        assert status < 500
    else:
        assert status == 403, f"{role} may not {method} {path}, got {status}"


@pytest.mark.parametrize("route", list(access.ROUTES))
def test_without_a_session_every_route_asks_to_sign_in(walked: tuple[Any, dict[str, Browser]], route: str) -> None:
    app, _ = walked
    method, path, _roles, _what = access.ROUTES[route]
    status = _call(None, app, method, path)
    assert status in ((303,) if method == "GET" else (401, 403))


def test_every_route_of_the_app_is_in_the_matrix(walked: tuple[Any, dict[str, Browser]]) -> None:
    app, _ = walked
    served = {(m, r.path) for r in _routes(app.routes) for m in r.methods if m != "HEAD"}
    listed = {(m, p) for m, p, _r, _w in access.ROUTES.values()}
    assert served - PUBLIC == listed


def _routes(routes: list[Any]) -> list[APIRoute]:
    """The app's API routes, also inside included routers (which this FastAPI keeps wrapped)."""
    found: list[APIRoute] = []
    for r in routes:
        if isinstance(r, APIRoute):
            found.append(r)
        elif hasattr(r, "original_router"):
            found += _routes(r.original_router.routes)
    return found


def test_an_admin_can_neither_approve_nor_read_cases() -> None:
    for route in ("requests.approve", "requests.show", "cases.show", "cases.report", "cases.notify"):
        assert not access.allowed(route, access.ADMIN)


def test_the_documented_matrix_is_the_one_enforced() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "service.md").read_text()
    assert access.matrix_markdown() in doc


def test_the_library_never_imports_the_service() -> None:
    """Only the command line (a shell, like the service) may import jejak.service."""
    import ast

    src = Path(__file__).parent.parent / "src" / "jejak"
    offenders = []
    for path in src.rglob("*.py"):
        if "service" in path.relative_to(src).parts or path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "jejak.service" or n.startswith("jejak.service.") for n in names):
                offenders.append(str(path.relative_to(src)))
    assert offenders == []
