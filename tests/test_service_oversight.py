"""The auditor's and the admin's pages: the audit log with its verification, the ledger and the
requests — and no personal data on any of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from tests.servicekit import browser, make_service

from jejak.ledger import Ledger
from jejak.release import ReleaseRequest, create_release
from jejak.service.db import now, requests

NIK = "3171234567890001"  # a person's key, as a requester might type it into a filter


@pytest.fixture
def served(investigation_ws: Any, ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    monkeypatch.setenv("JEJAK_DATABASE_URL", ledger_url)
    with Ledger.open(ledger_url) as ledger:
        ledger.add_recipient("Vendor Satu", "vendor")
    service, app = make_service(investigation_ws.home)
    yield service, app
    service.close()


def test_the_auditor_sees_the_log_ledger_and_requests_without_personal_data(served: tuple[Any, Any],
                                                                            tmp_path: Any) -> None:
    service, app = served
    create_release(service.ws, ReleaseRequest(dataset="peserta", recipient="Vendor Satu",
                                              out=tmp_path / "r.csv", where=f"NIK <> '{NIK}'", purpose="audit test"))
    requester = browser(app, service, "rina", "requester")
    with service.db.begin() as conn:
        conn.execute(sa.insert(requests).values(
            id="RQ-TEST000001", requester_id=1, dataset="peserta", columns=None, filter=f"NIK = '{NIK}'",
            recipient="Vendor Satu", purpose="p", format="csv", state="pending", created_at=now()))
    auditor = browser(app, service, "audrey", "auditor")
    pages = {url: auditor.get(url) for url in ("/audit", "/audit?verify=true", "/audit/ledger", "/audit/requests")}
    secret = service.master.hex()
    for url, page in pages.items():
        assert page.status_code == 200, url
        assert NIK not in page.text, f"{url} shows a person's key"
        assert secret not in page.text.lower(), f"{url} shows the master secret"
    assert "RQ-TEST000001" in pages["/audit/requests"].text
    assert "Vendor Satu" in pages["/audit/ledger"].text
    assert "auth.signin" in pages["/audit"].text and "intact" in pages["/audit?verify=true"].text.lower()
    assert requester.get("/audit").status_code == 403


def test_the_audit_page_names_a_tampered_entry(served: tuple[Any, Any]) -> None:
    service, app = served
    auditor = browser(app, service, "audrey", "auditor")
    for _ in range(3):
        auditor.get("/audit")
    from tests.test_audit import tamper

    tamper(service.audit_log, "UPDATE audit_log SET actor = 'web:someone-else' WHERE seq = 2")
    page = auditor.get("/audit?verify=true")
    assert 'class="error" id="verification"' in page.text
    assert "2" in page.text.split('id="verification">')[1].split("<")[0]


def test_the_audit_log_pages_back(served: tuple[Any, Any]) -> None:
    service, app = served
    from jejak.service import oversight

    auditor = browser(app, service, "audrey", "auditor")
    for _ in range(oversight.PAGE + 5):
        service.record("script", "case.read", "C-20260101-000000-AAAA")
    first = auditor.get("/audit").text
    assert first.count("<tr>") == oversight.PAGE + 1
    older = first.split('href="/audit?before=')[1].split('"')[0]
    assert auditor.get(f"/audit?before={older}").status_code == 200


def test_the_admin_adds_recipients_and_accounts_and_sees_a_password_once(served: tuple[Any, Any]) -> None:
    service, app = served
    admin = browser(app, service, "root", "admin")
    assert admin.post_form("/admin/recipients", {"name": "Rumah Sakit Dua", "kind": "hospital"}).status_code == 303
    assert "Rumah Sakit Dua" in admin.get("/admin/recipients").text
    bad = admin.post_form("/admin/recipients", {"name": "Rumah Sakit Dua", "kind": "hospital"})
    assert bad.status_code == 400
    made = admin.post_form("/admin/users", {"name": "ina", "role": "investigator"})
    assert made.status_code == 200 and 'id="password"' in made.text
    assert 'id="password"' not in admin.get("/admin/users").text
