"""A live ``jejak serve`` on a free loopback port, and headless Chromium (the system's) to drive it.

Selenium is pointed at Debian's ``chromium`` and ``chromedriver``; ``SE_OFFLINE`` stops Selenium
Manager from ever downloading a browser or driver of its own.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from jejak.service.app import create_app
from jejak.service.core import Service, Settings
from jejak.workspace import Workspace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(home: Path, settings: Settings | None = None) -> Iterator[tuple[str, Service]]:
    """The service on ``http://127.0.0.1:<port>`` in a thread, with its job workers running."""
    service = Service(Workspace.open(home), settings or Settings(poll_seconds=0.2))
    port = free_port()
    config = uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", service
    finally:
        server.should_exit = True
        thread.join(20)
        service.close()


def chrome(chromium: str, downloads: Path) -> Any:
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        reason = "chromedriver is not installed (apt-get install -y chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI=true: the browser tests must run)")
        pytest.skip(reason)
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--password-store=basic"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=DriverService(executable_path=driver_path), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(60)
    return driver


def assert_not_blank(png: bytes, where: Path) -> None:
    """The screenshot shows a page: many colours, and not one colour over nearly all of it."""
    from PIL import Image

    where.write_bytes(png)
    img = Image.open(io.BytesIO(png)).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 20, f"{where}: the page looks blank ({len(colours)} colours)"
    biggest = max(c for c, _ in colours)
    assert biggest < 0.97 * img.width * img.height, f"{where}: one colour covers the page"


def wait_for(predicate: Any, timeout: float = 60, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(every)


def sign_in(driver: Any, base: str, name: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "signin").click()
    wait_for(lambda: "Welcome" in driver.page_source, 20)
