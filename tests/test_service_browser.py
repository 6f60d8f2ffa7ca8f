"""The service in a real browser: headless Chromium (the system's, driven by Selenium) against a
live server on loopback, with screenshots checked not to be blank."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.livekit import assert_not_blank, chrome, live_server, sign_in, wait_for

from jejak.service import auth
from jejak.workspace import Workspace

PASSWORD = "correct horse battery staple"


@pytest.fixture
def driver(chromium: str, tmp_path: Path) -> Iterator[Any]:
    d = chrome(chromium, tmp_path / "downloads")
    try:
        yield d
    finally:
        d.quit()


def test_sign_in_in_a_browser_and_the_pages_are_drawn(driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    Workspace.init(tmp_path / "ws")
    with live_server(tmp_path / "ws") as (base, service):
        auth.add_user(service.db, "alice", "auditor", PASSWORD)
        driver.get(f"{base}/audit")
        assert "/login" in driver.current_url  # sent to sign in first
        assert_not_blank(driver.get_screenshot_as_png(), tmp_path / "login.png")
        driver.find_element(By.ID, "name").send_keys("alice")
        driver.find_element(By.ID, "password").send_keys("wrong password!!")
        driver.find_element(By.ID, "signin").click()
        wait_for(lambda: driver.find_elements(By.ID, "error"), 20)
        sign_in(driver, base, "alice", PASSWORD)
        cookie = driver.get_cookie("jejak_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        driver.get(f"{base}/audit")
        driver.find_element(By.ID, "verify").click()
        wait_for(lambda: driver.find_elements(By.ID, "verification"), 20)
        assert "auth.signin_failed" in driver.page_source and "auth.signin" in driver.page_source
        assert_not_blank(driver.get_screenshot_as_png(), tmp_path / "audit.png")
        # The session cookie is not readable by a script on the page.
        assert "jejak_session" not in driver.execute_script("return document.cookie")


def test_request_approve_and_download_a_release_in_a_browser(chromium: str, investigation_ws: Workspace,
                                                            tmp_path: Path) -> None:
    import hashlib

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from jejak.ledger import Ledger

    with Ledger.open(investigation_ws.ledger_url) as ledger:
        ledger.add_recipient("PT Vendor Data", "vendor")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    requester_driver = chrome(chromium, downloads)
    approver_driver = chrome(chromium, tmp_path / "approver-downloads")
    try:
        with live_server(investigation_ws.home) as (base, service):
            auth.add_user(service.db, "rina", "requester", PASSWORD)
            auth.add_user(service.db, "budi", "approver", PASSWORD)
            d = requester_driver
            sign_in(d, base, "rina", PASSWORD)
            d.get(f"{base}/requests/new")
            Select(d.find_element(By.ID, "dataset")).select_by_value("peserta")
            d.find_element(By.ID, "columns").send_keys("NOKA,NIK,NAMA")
            d.find_element(By.ID, "filter").send_keys("KDKANTOR IN ('0901', '0907')")
            Select(d.find_element(By.ID, "recipient")).select_by_visible_text("PT Vendor Data")
            d.find_element(By.ID, "purpose").send_keys("verifikasi kepesertaan")
            assert_not_blank(d.get_screenshot_as_png(), tmp_path / "request-form.png")
            d.find_element(By.ID, "submit").click()
            wait_for(lambda: d.find_elements(By.ID, "state"), 20)
            assert d.find_element(By.ID, "state").text == "pending"
            request_url = d.current_url

            a = approver_driver
            sign_in(a, base, "budi", PASSWORD)
            a.get(request_url)
            assert_not_blank(a.get_screenshot_as_png(), tmp_path / "approve.png")
            a.find_element(By.ID, "approve").click()

            def ready() -> bool:
                d.get(request_url)
                return d.find_element(By.ID, "state").text == "ready"

            wait_for(ready, 120, every=1)
            d.find_element(By.ID, "download").click()
            got = wait_for(lambda: [p for p in downloads.iterdir() if not p.name.endswith(".crdownload")], 60)
            rid = request_url.rsplit("/", 1)[1]
            release_id = d.find_element(By.ID, "release").text if d.find_elements(By.ID, "release") else None
            rec = service.ledger.release(release_id) if release_id else service.ledger.releases()[-1]
            assert hashlib.sha256(got[0].read_bytes()).hexdigest() == rec.file_sha256
            d.get(request_url)
            wait_for(lambda: d.find_element(By.ID, "state").text == "downloaded", 20)
            assert not d.find_elements(By.ID, "download")  # once
            assert_not_blank(d.get_screenshot_as_png(), tmp_path / f"downloaded-{rid}.png")
    finally:
        requester_driver.quit()
        approver_driver.quit()
