"""Signing in to the service: passwords, sessions, CSRF, lock-out, API tokens — on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.servicekit import BASE, browser, make_service

from jejak import audit
from jejak.service import auth
from jejak.service.db import sessions, users
from jejak.workspace import Workspace

PASSWORD = "correct horse battery staple"


@pytest.fixture
def served(tmp_path: Path, ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    monkeypatch.setenv("JEJAK_DATABASE_URL", ledger_url)
    Workspace.init(tmp_path / "ws")
    service, app = make_service(tmp_path / "ws")
    yield service, app
    service.close()


def _login_form(client: TestClient) -> str:
    page = client.get("/login")
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m
    return m.group(1)


def _sign_in(client: TestClient, name: str, password: str) -> Any:
    pre = _login_form(client)
    return client.post("/login", data={"csrf": pre, "name": name, "password": password, "next": "/"},
                       follow_redirects=False)


def test_passwords_are_argon2id_and_never_stored_plain(served: tuple[Any, Any]) -> None:
    service, _app = served
    auth.add_user(service.db, "alice", "requester", PASSWORD)
    with service.db.connect() as conn:
        stored = conn.scalar(sa.select(users.c.password_hash).where(users.c.name == "alice"))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_a_page_needs_a_session_and_sign_in_sets_a_strict_httponly_secure_cookie(served: tuple[Any, Any]) -> None:
    service, app = served
    auth.add_user(service.db, "alice", "requester", PASSWORD)
    client = TestClient(app, base_url=BASE)
    r = client.get("/account", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = _sign_in(client, "alice", PASSWORD)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    assert client.get("/").status_code == 200
    # The database holds the token's hash, not the token.
    token = client.cookies.get("jejak_session")
    with service.db.connect() as conn:
        hashes = conn.execute(sa.select(sessions.c.token_hash)).scalars().all()
    assert token not in hashes and auth.digest(token) in hashes


def test_wrong_password_unknown_name_and_lockout_look_the_same_and_are_audited(served: tuple[Any, Any]) -> None:
    service, app = served
    auth.add_user(service.db, "alice", "requester", PASSWORD)
    client = TestClient(app, base_url=BASE)
    unknown = _sign_in(client, "nobody", PASSWORD)
    wrong = _sign_in(client, "alice", "not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert _error(unknown.text) == _error(wrong.text)
    for _ in range(auth.MAX_FAILURES - 1):
        _sign_in(client, "alice", "still wrong")
    assert auth.locked(service.db, "alice") is not None
    # Locked: even the right password is refused, with the same message.
    locked = _sign_in(client, "alice", PASSWORD)
    assert locked.status_code == 401 and _error(locked.text) == _error(wrong.text)
    actions = [(e.action, e.target, e.detail.get("locked")) for e in audit.entries(service.ws)]
    assert ("auth.signin_failed", None, False) in actions  # an unknown name is not written down
    assert ("auth.signin_failed", "alice", True) in actions
    assert not any("still wrong" in str(e.to_json()) or PASSWORD in str(e.to_json())
                   for e in audit.entries(service.ws))


def test_the_lockout_ends_and_an_admin_can_lift_it(served: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    service, app = served
    user, _ = auth.add_user(service.db, "alice", "requester", PASSWORD)
    client = TestClient(app, base_url=BASE)
    for _ in range(auth.MAX_FAILURES):
        _sign_in(client, "alice", "wrong")
    assert _sign_in(client, "alice", PASSWORD).status_code == 401
    later = auth.now() + auth.LOCKOUT + timedelta(seconds=1)
    monkeypatch.setattr(auth, "now", lambda: later)
    assert _sign_in(client, "alice", PASSWORD).status_code == 303
    monkeypatch.undo()
    for _ in range(auth.MAX_FAILURES):
        _sign_in(client, "alice", "wrong")
    auth.set_active(service.db, user.id, True)  # what the admin page's "Unlock" does
    assert _sign_in(client, "alice", PASSWORD).status_code == 303


def test_session_fixation_a_cookie_planted_before_sign_in_is_never_honoured(served: tuple[Any, Any]) -> None:
    service, app = served
    auth.add_user(service.db, "alice", "requester", PASSWORD)
    client = TestClient(app, base_url=BASE)
    planted = "attacker-chosen-session-id-0123456789"
    client.cookies.set("jejak_session", planted)
    r = _sign_in(client, "alice", PASSWORD)
    issued = re.search(r"jejak_session=([^;]+)", r.headers["set-cookie"]).group(1)  # type: ignore[union-attr]
    assert issued != planted
    attacker = TestClient(app, base_url=BASE, cookies={"jejak_session": planted})
    assert attacker.get("/", follow_redirects=False).status_code == 303
    victim = TestClient(app, base_url=BASE, cookies={"jejak_session": issued})
    assert victim.get("/", follow_redirects=False).status_code == 200


def test_an_old_session_ends_at_sign_in_and_sign_out(served: tuple[Any, Any]) -> None:
    service, app = served
    alice = browser(app, service, "alice", "requester")
    old = alice.client.cookies.get("jejak_session")
    alice.sign_in()  # signing in again with the old cookie ends the old session
    stolen = TestClient(app, base_url=BASE, cookies={"jejak_session": old})
    assert stolen.get("/", follow_redirects=False).status_code == 303
    current = alice.client.cookies.get("jejak_session")
    assert alice.post_form("/signout").status_code == 303
    replay = TestClient(app, base_url=BASE, cookies={"jejak_session": current})
    assert replay.get("/", follow_redirects=False).status_code == 303


def test_sessions_expire_when_idle_and_after_the_absolute_limit(served: tuple[Any, Any],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    service, app = served
    alice = browser(app, service, "alice", "requester")
    start = auth.now()
    monkeypatch.setattr(auth, "now", lambda: start + auth.IDLE - timedelta(seconds=5))
    assert alice.get("/", follow_redirects=False).status_code == 200
    monkeypatch.setattr(auth, "now", lambda: start + auth.IDLE + auth.IDLE - timedelta(seconds=10))
    assert alice.get("/", follow_redirects=False).status_code == 200  # kept alive by use
    alice2 = browser(app, service, "alice", "requester")
    monkeypatch.setattr(auth, "now", lambda: start + auth.IDLE * 3)
    assert alice2.get("/", follow_redirects=False).status_code == 303  # idle too long
    bob = browser(app, service, "bob", "requester")
    t = auth.now()
    for step in range(1, 40):  # used every 20 minutes, still ended after 12 hours
        monkeypatch.setattr(auth, "now", lambda step=step: t + timedelta(minutes=20 * step))
        status = bob.get("/", follow_redirects=False).status_code
        if timedelta(minutes=20 * step) > auth.ABSOLUTE:
            assert status == 303
            break
        assert status == 200


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_every_form_needs_the_sessions_csrf_token(served: tuple[Any, Any], token: str | None) -> None:
    service, app = served
    admin = browser(app, service, "root", "admin")
    data = {"name": "mallory", "role": "admin"}
    if token is not None:
        data["csrf"] = token
    r = admin.client.post("/admin/users", data=data, follow_redirects=False)
    assert r.status_code == 403
    assert auth.user_by_name(service.db, "mallory") is None
    # With the token it works; from another site's Origin it does not, token or not.
    assert admin.post_form("/admin/users", {"name": "carol", "role": "auditor"}).status_code == 200
    r = admin.post_form("/admin/users", {"name": "dave", "role": "auditor"}, headers={"origin": "https://evil.example"})
    assert r.status_code == 403 and auth.user_by_name(service.db, "dave") is None


def test_the_sign_in_form_has_its_own_csrf_token(served: tuple[Any, Any]) -> None:
    service, app = served
    auth.add_user(service.db, "alice", "requester", PASSWORD)
    client = TestClient(app, base_url=BASE)
    r = client.post("/login", data={"name": "alice", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403  # login CSRF: a site cannot sign a victim into the attacker's account
    assert "jejak_session" not in client.cookies


def test_api_tokens_are_shown_once_stored_hashed_and_need_no_csrf(served: tuple[Any, Any]) -> None:
    service, app = served
    alice = browser(app, service, "alice", "auditor")
    page = alice.post_form("/account/tokens", {"label": "nightly"})
    token = re.search(r'<pre id="token">([^<]+)</pre>', page.text).group(1)  # type: ignore[union-attr]
    assert token.startswith("jjk_")
    assert token not in alice.get("/account").text  # shown once
    script = TestClient(app, base_url=BASE)
    assert script.get("/audit", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert script.get("/audit", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    assert script.get("/admin/users", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    from jejak.service.db import tokens

    with service.db.connect() as conn:
        assert token.split("_", 2)[2] not in str(conn.execute(sa.select(tokens)).all())


def test_a_role_change_or_disabling_ends_the_users_sessions(served: tuple[Any, Any]) -> None:
    service, app = served
    admin = browser(app, service, "root", "admin")
    alice = browser(app, service, "alice", "approver")
    uid = auth.user_by_name(service.db, "alice").id  # type: ignore[union-attr]
    assert admin.post_form(f"/admin/users/{uid}/role", {"role": "requester"}).status_code == 303
    assert alice.get("/", follow_redirects=False).status_code == 303
    alice.sign_in()
    assert "requester" in alice.get("/").text
    assert admin.post_form(f"/admin/users/{uid}/active", {"active": "0"}).status_code == 303
    assert alice.get("/", follow_redirects=False).status_code == 303
    with pytest.raises(AssertionError):
        alice.sign_in()
    roles = [(e.action, e.target) for e in audit.entries(service.ws)]
    assert ("user.role", "alice") in roles and ("user.disable", "alice") in roles


def test_an_admin_cannot_change_their_own_role(served: tuple[Any, Any]) -> None:
    service, app = served
    admin = browser(app, service, "root", "admin")
    uid = auth.user_by_name(service.db, "root").id  # type: ignore[union-attr]
    assert admin.post_form(f"/admin/users/{uid}/role", {"role": "approver"}).status_code == 409


def test_security_headers_on_every_page(served: tuple[Any, Any]) -> None:
    _service, app = served
    r = TestClient(app, base_url=BASE).get("/login")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"


def test_user_names_and_roles_are_checked(served: tuple[Any, Any]) -> None:
    service, _app = served
    from jejak.errors import JejakError

    for bad in ("A", "x", "../root", "al ice", "a" * 40):
        with pytest.raises(JejakError):
            auth.add_user(service.db, bad, "requester", PASSWORD)
    with pytest.raises(JejakError, match="unknown role"):
        auth.add_user(service.db, "alice", "superuser", PASSWORD)
    with pytest.raises(JejakError, match="at least"):
        auth.add_user(service.db, "alice", "requester", "short")


def _error(html: str) -> str:
    m = re.search(r'id="error">([^<]*)<', html)
    assert m
    return m.group(1)


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example", "/ok?x=//e"])
def test_sign_in_never_sends_anyone_to_another_site(served: tuple[Any, Any], target: str) -> None:
    service, app = served
    auth.add_user(service.db, "alice", "requester", PASSWORD)
    client = TestClient(app, base_url=BASE)
    pre = _login_form(client)
    r = client.post("/login", data={"csrf": pre, "name": "alice", "password": PASSWORD, "next": target},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
