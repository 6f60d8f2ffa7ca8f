"""Headless Chromium for turning reports into PDF and for testing pages in a real browser.

Chromium is an operating-system package (``apt-get install chromium``), not a Python
dependency; it is looked up on ``PATH`` (or ``JEJAK_CHROMIUM``) only when a PDF is asked for, and
its absence is a clear error rather than a traceback. Every run gets a throw-away profile and
the flags that stop Chromium from phoning home (component updates, sync, background
networking), so rendering a report never touches the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from jejak.errors import JejakError

CHROMIUM_ENV = "JEJAK_CHROMIUM"
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_QUIET = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--metrics-recording-only",
    "--hide-scrollbars",
)


class BrowserError(JejakError):
    """Chromium is missing or failed to render."""


def find_chromium() -> str | None:
    """The Chromium executable, or None when none is installed."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return configured if Path(configured).exists() else shutil.which(configured)
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    exe = find_chromium()
    if exe is None:
        raise BrowserError(
            "a PDF needs headless Chromium, which is not installed: install it with "
            f"'apt-get install -y chromium' (or set {CHROMIUM_ENV} to the browser's path); "
            "the HTML report works without it"
        )
    return exe


def run_chromium(page: Path, *flags: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on a local file with a throw-away profile; raise on failure."""
    exe = require_chromium()
    # The profile goes in a private folder beside the page, never in the shared $TMPDIR: the page is
    # a report or a notice about real people. (Pointing Chromium's own TMPDIR there made its zygote
    # crash on Debian's build: its sockets and shared memory stay where Chromium puts them.)
    with tempfile.TemporaryDirectory(prefix=".jejak-chromium-", dir=page.resolve().parent) as profile:
        cmd = [exe, *_QUIET, f"--user-data-dir={profile}", *flags, page.resolve().as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"Chromium did not finish rendering {page.name} within {timeout:.0f} s") from None
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise BrowserError(f"Chromium failed on {page.name} (exit {proc.returncode}): {tail[0]}")
    return proc


def print_to_pdf(html_path: Path, pdf_path: Path, *, timeout: float = 120) -> Path:
    """Print a local HTML file to PDF (its print stylesheet applies), atomically."""
    pdf_path = pdf_path.expanduser().resolve()
    tmp = pdf_path.with_name(f".{pdf_path.name}.partial")
    tmp.unlink(missing_ok=True)
    try:
        run_chromium(html_path, f"--print-to-pdf={tmp}", "--no-pdf-header-footer", timeout=timeout)
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise BrowserError(f"Chromium wrote no PDF for {html_path.name}")
        tmp.replace(pdf_path)
    finally:
        tmp.unlink(missing_ok=True)
    return pdf_path


def screenshot(html_path: Path, png_path: Path, *, width: int = 1100, height: int = 1600) -> Path:
    """A PNG of the top of the page as a screen shows it."""
    run_chromium(html_path, f"--screenshot={png_path.resolve()}", f"--window-size={width},{height}")
    if not png_path.exists():
        raise BrowserError(f"Chromium wrote no screenshot for {html_path.name}")
    return png_path


def dump_dom(html_path: Path, *, budget_ms: int = 3000) -> str:
    """The page's DOM after its scripts ran (used by tests to read what a page recorded)."""
    return run_chromium(html_path, "--dump-dom", f"--virtual-time-budget={budget_ms}").stdout
