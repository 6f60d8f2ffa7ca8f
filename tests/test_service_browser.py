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
