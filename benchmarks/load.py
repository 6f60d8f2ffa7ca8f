"""A bounded load test of ``jejak serve`` on loopback: 50 signed-in users browse while two
investigations and one release run; then the jobs' results are compared with the CLI's.

    .venv/bin/python benchmarks/load.py                 # 50 users x 40 pages, demo registry of 200,000
    .venv/bin/python benchmarks/load.py --users 10 --pages 10 --rows 20000

Everything targets 127.0.0.1 only; the number of requests and the time are both bounded. It prints
requests/s, p50/p95/max latency for pages, errors, and whether the service's verdicts and release
equal what the command line makes of the same inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
JEJAK = str(Path(sys.executable).with_name("jejak"))
PASSWORD = "load test password 0001"
THINK = (1.0, 3.0)  # seconds between one person's clicks
ROLES = ["investigator"] * 20 + ["requester"] * 12 + ["approver"] * 10 + ["auditor"] * 8


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--pages", type=int, default=40, help="pages each user opens")
    p.add_argument("--rows", type=int, default=200_000, help="people in the demo registry (make demo's size)")
    p.add_argument("--limit", type=float, default=300, help="seconds the browsing may take at most")
    p.add_argument("--work", type=Path, help="scratch directory (default: a new one, removed after)")
    a = p.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="jejak-load-"))
    try:
        run(work, a.users, a.pages, a.rows, a.limit)
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, users: int, pages: int, rows: int, limit: float) -> None:
    home = work / "ws"
    if not (home / "jejak.json").exists():  # a --work directory of an earlier run is used again
        print(f"making the demo workspace ({rows:,} people) ...", flush=True)
        subprocess.run([JEJAK, "--home", str(home), "demo", "--rows", str(rows), "--fresh"], check=True,
                       stdout=subprocess.DEVNULL)
    leak = next((home / "leak").glob("*")) if (home / "leak").is_dir() else _find_leak(home)
    accounts = _accounts(home, users)
    port = _free_port()
    server = subprocess.Popen([JEJAK, "--home", str(home), "serve", "--port", str(port), "--workers", "2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base)
        clients = {name: _signed_in(base, name) for name, _role in accounts}
        by_role: dict[str, list[str]] = {}
        for name, role in accounts:
            by_role.setdefault(role, []).append(name)
        inv = by_role["investigator"]
        stop = threading.Event()
        watcher = threading.Thread(target=_watch_jobs, args=(home, stop), daemon=True)
        watcher.start()
        cases = [_upload(clients[inv[i]], leak, f"load test {i}") for i in range(2)]
        rid = _request_release(clients[by_role["requester"][0]], clients[by_role["approver"][0]])
        t0 = time.perf_counter()
        latencies, errors = _browse(clients, accounts, cases, rid, pages, limit)
        wall = time.perf_counter() - t0
        jobs_done = _wait_jobs(clients[inv[0]], clients[inv[1]], clients[by_role["requester"][0]], cases, rid)
        stop.set()
        _report(latencies, errors, wall, users, jobs_done)
        _compare(home, leak, clients, inv, cases, by_role["requester"][0], rid)
    finally:
        server.terminate()
        server.wait(30)


def _find_leak(home: Path) -> Path:
    found = sorted(home.rglob("dijual_*"))
    if not found:
        raise SystemExit("the demo made no leak file")
    return found[0]


def _accounts(home: Path, users: int) -> list[tuple[str, str]]:
    sys.path.insert(0, str(ROOT / "src"))
    from jejak.ledger import Ledger
    from jejak.service import auth
    from jejak.service.db import Database
    from jejak.workspace import Workspace

    ws = Workspace.open(home)
    with Ledger.open(ws.ledger_url) as ledger:
        db = Database(ledger.engine)
        made = []
        for i in range(users):
            role = ROLES[i % len(ROLES)]
            name = f"load-{role[:3]}-{i:02d}"
            if auth.user_by_name(db, name) is None:
                auth.add_user(db, name, role, PASSWORD)
            made.append((name, role))
    # Make sure every role the scenario needs exists even with few users.
    return made


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the service did not start")


def _field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    if not m:
        raise SystemExit(f"no {name} field on the page")
    return m.group(1)


class User:
    def __init__(self, base: str, name: str) -> None:
        self.name = name
        self.http = httpx.Client(base_url=base, timeout=60, headers={"accept": "text/html"})
        self.csrf = ""

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        origin = str(self.http.base_url).rstrip("/")
        return self.http.post(url, data={"csrf": self.csrf, **(data or {})}, headers={"origin": origin}, **kw)


def _signed_in(base: str, name: str) -> User:
    u = User(base, name)
    pre = _field(u.http.get("/login").text, "csrf")
    r = u.http.post("/login", data={"csrf": pre, "name": name, "password": PASSWORD, "next": "/"},
                    headers={"origin": base})
    if r.status_code != 303:
        raise SystemExit(f"{name} could not sign in ({r.status_code})")
    u.csrf = _field(u.http.get("/account").text, "csrf")
    return u


def _upload(u: User, leak: Path, title: str) -> str:
    with leak.open("rb") as f:
        r = u.http.post("/cases", files=[("csrf", (None, u.csrf)), ("title", (None, title)),
                                         ("file", (leak.name, f, "application/octet-stream"))],
                        headers={"origin": str(u.http.base_url).rstrip("/")})
    if r.status_code != 303:
        raise SystemExit(f"upload refused ({r.status_code}): {r.text[:300]}")
    return r.headers["location"].rsplit("/", 1)[1]


def _request_release(requester: User, approver: User) -> str:
    page = requester.http.get("/requests/new").text
    options = page.split('name="recipient"')[1].split("</select>")[0]
    recipient = html.unescape(re.findall(r"<option(?: selected)?>([^<]+)</option>", options)[0])
    r = requester.post("/requests", {"dataset": "peserta", "recipient": recipient, "purpose": "load test",
                                     "format": "csv", "all": "1"})
    if r.status_code != 303:
        errors = r.text.split('id="errors">')[-1].split("</ul>")[0]
        raise SystemExit(f"request refused ({r.status_code}): {re.sub('<[^>]+>', ' ', errors)[:500]}")
    rid = r.headers["location"].rsplit("/", 1)[1]
    r = approver.post(f"/requests/{rid}/approve")
    if r.status_code != 303:
        raise SystemExit(f"approval refused ({r.status_code})")
    return rid


def _pages(role: str, cases: list[str], rid: str, owner_of: dict[str, str], name: str) -> list[str]:
    if role == "investigator":
        own = [f"/cases/{c}" for c, o in owner_of.items() if o == name]
        return ["/", "/cases", "/account", "/cases/new", *own, *[f"{p}/progress" for p in own]]
    if role == "approver":
        return ["/", "/requests", f"/requests/{rid}", "/cases", *[f"/cases/{c}" for c in cases]]
    if role == "auditor":
        return ["/", "/audit", "/audit/requests", "/audit/ledger"]
    return ["/", "/requests", "/requests/new", "/account"]


def _browse(clients: dict[str, User], accounts: list[tuple[str, str]], cases: list[str], rid: str, pages: int,
            limit: float) -> tuple[list[float], list[str]]:
    owner_of = {cases[i]: [n for n, r in accounts if r == "investigator"][i] for i in range(len(cases))}
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    by_page = PAGES
    stop_at = time.monotonic() + limit

    def browse(name: str, role: str) -> None:
        rng = random.Random(name)
        urls = _pages(role, cases, rid, owner_of, name)
        if role == "requester" and name == accounts[[r for _n, r in accounts].index("requester")][0]:
            urls = [u for u in urls if u != f"/requests/{rid}"]
        for _ in range(pages):
            if time.monotonic() > stop_at:
                return
            url = rng.choice(urls)
            t = time.perf_counter()
            try:
                r = clients[name].http.get(url)
                ok = r.status_code == 200
                what = f"{r.status_code} {url}"
            except httpx.HTTPError as exc:
                ok, what = False, f"{type(exc).__name__} {url}"
            dt = time.perf_counter() - t
            with lock:
                latencies.append(dt)
                if BUSY.is_set():
                    during_jobs.append(dt)
                by_page.setdefault(_pattern(url, cases, rid), []).append(dt)
                if not ok:
                    errors.append(what)
            time.sleep(rng.uniform(*THINK))  # a person reads the page before the next click

    threads = [threading.Thread(target=browse, args=acc) for acc in accounts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


PAGES: dict[str, list[float]] = {}
BUSY = threading.Event()  # set while a job is queued or running
during_jobs: list[float] = []


def _watch_jobs(home: Path, stop: threading.Event) -> None:
    """Mark the time while any job is queued or running (read from the service's own table)."""
    import sqlalchemy as sa

    from jejak.ledger import Ledger
    from jejak.service.db import jobs
    from jejak.workspace import Workspace

    with Ledger.open(Workspace.open(home).ledger_url) as ledger:
        while not stop.is_set():
            with ledger.engine.connect() as conn:
                busy = conn.scalar(sa.select(sa.func.count()).select_from(jobs)
                                   .where(jobs.c.state.in_(("queued", "running"))))
            BUSY.set() if busy else BUSY.clear()
            stop.wait(0.5)


def _pattern(url: str, cases: list[str], rid: str) -> str:
    for c in cases:
        url = url.replace(c, "{cid}")
    return url.replace(rid, "{rid}")


def _wait_jobs(a: User, b: User, requester: User, cases: list[str], rid: str) -> float:
    t = time.perf_counter()
    deadline = time.monotonic() + 1800
    pending = {cases[0]: a, cases[1]: b}
    while pending and time.monotonic() < deadline:
        for cid, u in list(pending.items()):
            state = u.http.get(f"/cases/{cid}/progress", headers={"accept": "application/json"}).json()["state"]
            if state in ("done", "failed"):
                pending.pop(cid)
        time.sleep(1)
    while time.monotonic() < deadline and "ready" not in requester.http.get(f"/requests/{rid}").text.lower():
        time.sleep(1)
    return time.perf_counter() - t


def _report(latencies: list[float], errors: list[str], wall: float, users: int, jobs_wait: float) -> None:
    lat = sorted(latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
    print(json.dumps({
        "users": users, "requests": len(lat), "seconds": round(wall, 1), "requests_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1), "max_ms": round(lat[-1] * 1000, 1),
        "errors": len(errors), "error_kinds": sorted(set(errors))[:10],
        "while_jobs_ran": {"requests": len(during_jobs), "p50_ms": _ms(statistics.median(during_jobs or [0])),
                           "p95_ms": _ms(sorted(during_jobs or [0])[int(0.95 * (len(during_jobs or [0]) - 1))])},
        "jobs_finished_after_browsing_s": round(jobs_wait, 1),
        "by_page_p50_p95_ms": {k: [_ms(statistics.median(v)), _ms(sorted(v)[int(0.95 * (len(v) - 1))])]
                               for k, v in sorted(PAGES.items())},
    }, indent=2))


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _compare(home: Path, leak: Path, clients: dict[str, User], inv: list[str], cases: list[str], requester: str,
             rid: str) -> None:
    cli_json = home.parent / f"cli-verdict-{cases[0]}.json"
    subprocess.run([JEJAK, "--home", str(home), "investigate", str(leak), "--json", str(cli_json)], check=True,
                   stdout=subprocess.DEVNULL)
    cli = json.loads(cli_json.read_text())
    same = []
    for i, cid in enumerate(cases):
        web = clients[inv[i]].http.get(f"/cases/{cid}/verdict.json").json()
        same.append(_essence(web) == _essence(cli))
    u = clients[requester]
    link = u.post(f"/requests/{rid}/link", follow_redirects=False)
    got = u.http.get(link.headers["location"]) if link.status_code == 303 else None
    release_ok = None
    if got is not None and got.status_code == 200:
        page = u.http.get(f"/requests/{rid}").text
        release_id = re.search(r'id="release">([^<]+)<', page)
        again = home.parent / f"again-{rid}.csv"
        if release_id:
            subprocess.run([JEJAK, "--home", str(home), "release", "reproduce", release_id.group(1), "--out",
                            str(again)], check=True, stdout=subprocess.DEVNULL)
            release_ok = hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(got.content).hexdigest()
    print(json.dumps({"verdicts_equal_cli": same, "release_reproduces_byte_for_byte": release_ok}))


def _essence(v: dict[str, Any]) -> Any:
    """What must not differ between two investigations of one file: verdict, counts, suspects."""
    attr = v.get("attribution") or {}
    return (attr.get("verdict"), json.dumps(v.get("verification"), sort_keys=True, default=str),
            json.dumps(attr.get("suspects"), sort_keys=True, default=str))


if __name__ == "__main__":
    os.environ.setdefault("JEJAK_LOCK_TIMEOUT", "600")
    main()
