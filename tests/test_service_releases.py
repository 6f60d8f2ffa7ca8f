"""Release requests in the service — request, four-eyes approval, the job, the one-time download —
on SQLite and PostgreSQL, against a real registry, ledger and audit log."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html as html_lib
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.servicekit import BASE, Browser, browser, make_service, run_jobs
from typer.testing import CliRunner

from jejak import audit
from jejak.cli import app as cli
from jejak.files import private_dir
from jejak.ledger import Ledger
from jejak.release import ReleaseRequest, audit_detail, create_release
from jejak.service import auth, releases
from jejak.service.core import Service
from jejak.service.db import jobs, now, requests
from jejak.workspace import Workspace

RECIPIENT = "PT Vendor Data"
COLUMNS = ["NOKA", "NIK", "NAMA", "NOHP", "TSUPDATE"]
NIK = "5301051607740001"  # a participant's NIK in the synthetic registry, quoted by the filter
FILTER = f"KDKANTOR IN ('0901', '0907') AND NIK <> '{NIK}'"
AS_OF = "2025-07-02"  # the middle snapshot
PURPOSE = "verifikasi kepesertaan"


@dataclass
class Served:
    service: Service
    app: FastAPI
    ws: Workspace


@pytest.fixture(autouse=True)
def quick_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id at its lightest: signing in is tested in test_service_auth, and a dozen accounts at
    the real cost (a third of a second each, twice) would be most of this file's time."""
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=256, parallelism=1))


@pytest.fixture
def served(investigation_ws: Workspace, ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("JEJAK_DATABASE_URL", ledger_url)
    with Ledger.open(investigation_ws.ledger_url) as ledger:
        ledger.add_recipient(RECIPIENT, "vendor", contact="dpo@vendor.example")
        ledger.add_recipient("KC Bandung", "branch")
    service, app = make_service(investigation_ws.home)
    yield Served(service, app, investigation_ws)
    service.close()


def submit(b: Browser, **fields: Any) -> Any:
    data: dict[str, Any] = {"dataset": "peserta", "cols_peserta": COLUMNS, "filter": FILTER, "recipient": RECIPIENT,
                            "purpose": PURPOSE, "as_of": AS_OF, "format": "csv"}
    data.update(fields)
    return b.post_form("/requests", data)


def rid_of(response: Any) -> str:
    assert response.status_code == 303, response.text
    return str(response.headers["location"].rsplit("/", 1)[1])


def row(s: Served, rid: str) -> Any:
    with s.service.db.connect() as conn:
        return conn.execute(sa.select(requests).where(requests.c.id == rid)).one()


def approved(s: Served, requester: Browser, approver: Browser, **fields: Any) -> str:
    rid = rid_of(submit(requester, **fields))
    assert approver.post_form(f"/requests/{rid}/approve").status_code == 303
    return rid


def made(s: Served) -> tuple[Browser, str]:
    """alice's request, approved by bob and made: ready to download."""
    alice = browser(s.app, s.service, "alice", "requester")
    rid = approved(s, alice, browser(s.app, s.service, "bob", "approver"))
    run_jobs(s.app)
    return alice, rid


def link(b: Browser, rid: str) -> str:
    r = b.post_form(f"/requests/{rid}/link")
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def errors(html: str) -> str:
    m = re.search(r'<ul class="error" id="errors">(.*?)</ul>', html, re.S)
    assert m, "no error list on the page"
    return html_lib.unescape(m.group(1))


def audit_entries(s: Served, action: str) -> list[audit.AuditEntry]:
    return [e for e in s.service.audit_log.entries() if e.action == action]


# -- the whole way: request, approval, job, link, download --------------------------------------------


def test_request_approve_make_and_download_once_as_the_cli_would(served: Served, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s = served
    alice = browser(s.app, s.service, "alice", "requester")
    bob = browser(s.app, s.service, "bob", "approver")

    form = alice.get("/requests/new")
    assert form.status_code == 200 and "peserta" in form.text and RECIPIENT in form.text
    assert 'name="csrf"' in form.text
    rid = rid_of(submit(alice))
    assert row(s, rid).state == "pending"
    assert rid in bob.get("/requests").text
    page = bob.get(f"/requests/{rid}").text
    assert 'id="approve"' in page and NIK in page  # the approver sees the filter they decide on

    assert bob.post_form(f"/requests/{rid}/approve").status_code == 303
    assert row(s, rid).state == "approved"
    assert run_jobs(s.app) == 1
    done = row(s, rid)
    assert done.state == "ready" and done.release_id and done.error is None
    out = s.ws.home / done.file
    assert out == releases.release_path(s.service, rid, "peserta", "csv")
    assert out.stat().st_mode & 0o777 == 0o600 and out.parent.stat().st_mode & 0o777 == 0o700
    assert 'id="download"' in alice.get(f"/requests/{rid}").text

    got = alice.get(link(alice, rid))
    assert got.status_code == 200
    assert got.headers["content-disposition"] == f'attachment; filename="{out.name}"'
    assert got.headers["content-type"].startswith("text/csv")
    rec = s.service.ledger.release(done.release_id)
    assert hashlib.sha256(got.content).hexdigest() == rec.file_sha256
    assert not out.exists()  # the server copy is gone
    after = row(s, rid)
    assert after.state == "downloaded" and after.downloaded_from == "testclient" and after.link_hash is None

    # The ledger entry is the one `jejak release create` writes for the same request.
    direct = create_release(s.ws, ReleaseRequest(
        dataset="peserta", recipient=RECIPIENT, out=tmp_path / "direct.csv", columns=COLUMNS, where=FILTER,
        as_of=date.fromisoformat(AS_OF), purpose=PURPOSE, fmt="csv"))
    for f in ("recipient", "dataset", "as_of", "registry_version", "columns", "filter", "rows", "purpose",
              "policy", "kind", "file_format"):
        assert getattr(rec, f) == getattr(direct, f), f
    assert rec.operator == f"web:{bob.name}"  # the ledger names the approving account
    assert set(rec.channels) == set(direct.channels) and rec.file_name == out.name
    # ... and `jejak release reproduce` rebuilds the downloaded file byte for byte.
    again = tmp_path / "again.csv"
    result = CliRunner().invoke(cli, ["--home", str(s.ws.home), "release", "reproduce", rec.release_id,
                                      "--out", str(again)])
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == got.content

    # The audit log: who asked, who approved, the release as the CLI records it, who downloaded.
    [created] = audit_entries(s, "request.create")
    assert created.actor == "web:alice" and created.target == rid
    assert created.detail == {"dataset": "peserta", "recipient": RECIPIENT, "columns": len(COLUMNS),
                              "filtered": True, "format": "csv", "as_of": AS_OF}
    [approval] = audit_entries(s, "request.approve")
    assert approval.actor == "web:bob" and approval.detail["requester"] == "alice"
    # One release.create each, written in the ledger's transaction: the service's names the request.
    made, cli_entry = sorted(audit_entries(s, "release.create"), key=lambda e: e.target != rec.release_id)
    assert made.actor == "web:bob" and made.target == rec.release_id and made.detail["request"] == rid
    assert {k: v for k, v in made.detail.items() if k != "request"} == audit_detail(rec)
    assert cli_entry.target == direct.release_id and cli_entry.detail == audit_detail(direct)
    assert cli_entry.actor == direct.operator
    [fetched] = audit_entries(s, "release.download")
    assert fetched.actor == "web:alice" and fetched.target == rec.release_id
    assert fetched.detail["from"] == "testclient" and fetched.detail["sha256"] == rec.file_sha256
    for e in s.service.audit_log.entries():
        text = f"{e.target} {e.detail}"
        assert NIK not in text and FILTER not in text and PURPOSE not in text
    assert NIK not in caplog.text
    assert s.service.audit_log.verify().intact


def test_the_whole_dataset_must_be_asked_for_explicitly(served: Served) -> None:
    alice = browser(served.app, served.service, "alice", "requester")
    refused = submit(alice, cols_peserta=[], filter="")
    assert refused.status_code == 400 and "every row and column" in errors(refused.text)
    rid = rid_of(submit(alice, cols_peserta=[], filter="", all="1"))
    r = row(served, rid)
    assert r.columns is None and r.filter is None
    assert audit_entries(served, "request.create")[-1].detail["columns"] == 25  # every column of peserta


# -- four eyes, decided once ------------------------------------------------------------------------


def test_no_one_approves_their_own_request_and_a_request_is_decided_once(served: Served) -> None:
    s = served
    alice = browser(s.app, s.service, "alice", "requester")
    bob = browser(s.app, s.service, "bob", "approver")
    dave = browser(s.app, s.service, "dave", "requester")
    mine = rid_of(submit(dave))
    assert dave.post_form(f"/requests/{mine}/approve").status_code == 403  # the role matrix

    # dave becomes an approver: his own request is still not his to decide.
    user = auth.user_by_name(s.service.db, "dave")
    assert user is not None
    auth.set_role(s.service.db, user.id, "approver")
    dave = browser(s.app, s.service, "dave", "approver")
    assert 'id="own"' in dave.get(f"/requests/{mine}").text
    for action in ("approve", "reject"):
        r = dave.post_form(f"/requests/{mine}/{action}", headers={"accept": "text/html"})
        assert r.status_code == 403 and "four eyes" in r.text
    assert row(s, mine).state == "pending"

    rid = rid_of(submit(alice))
    assert alice.post_form(f"/requests/{rid}/approve").status_code == 403
    assert bob.post_form(f"/requests/{rid}/approve").status_code == 303
    assert bob.post_form(f"/requests/{rid}/approve").status_code == 409
    assert dave.post_form(f"/requests/{rid}/reject").status_code == 409
    with s.service.db.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(jobs).where(jobs.c.ref == rid)) == 1

    # Rejected: the reason is shown to the requester, never logged, and nothing can be downloaded.
    no = rid_of(submit(alice))
    assert bob.post_form(f"/requests/{no}/reject", {"note": "tujuan tidak jelas"}).status_code == 303
    assert row(s, no).state == "rejected" and "tujuan tidak jelas" in alice.get(f"/requests/{no}").text
    assert alice.post_form(f"/requests/{no}/link").status_code == 409
    [rejection] = audit_entries(s, "request.reject")
    assert rejection.detail == {"requester": "alice", "note": True}
    with s.service.db.connect() as conn:  # the approval's job only
        assert conn.execute(sa.select(jobs.c.ref)).scalars().all() == [rid]


def test_a_requester_sees_their_own_requests_and_an_approver_all_pending_first(served: Served) -> None:
    s = served
    alice = browser(s.app, s.service, "alice", "requester")
    carol = browser(s.app, s.service, "carol", "requester")
    bob = browser(s.app, s.service, "bob", "approver")
    first = approved(s, alice, bob)
    second = rid_of(submit(alice))
    theirs = rid_of(submit(carol))
    own = alice.get("/requests").text
    assert first in own and second in own and theirs not in own
    listing = bob.get("/requests").text
    assert listing.index(second) < listing.index(first) and listing.index(theirs) < listing.index(first)
    assert listing.count("<tr>") == 4  # a header and three requests


# -- object-level access (IDOR) ---------------------------------------------------------------------


def test_another_requester_can_neither_see_nor_link_nor_download_a_request(served: Served) -> None:
    s = served
    alice = browser(s.app, s.service, "alice", "requester")
    eve = browser(s.app, s.service, "eve", "requester")
    bob = browser(s.app, s.service, "bob", "approver")
    rid = approved(s, alice, bob)
    run_jobs(s.app)
    missing = eve.get("/requests/Q-20250101-0000000000")
    assert missing.status_code == 404
    for r in (eve.get(f"/requests/{rid}"), eve.post_form(f"/requests/{rid}/link")):
        assert r.status_code == 404 and r.json() == missing.json()  # the same answer as for no request
    url = link(alice, rid)
    assert eve.get(url).status_code == 404
    assert FILTER not in eve.get("/requests").text
    assert alice.get(url).status_code == 200  # eve's attempts spent nothing


# -- the one-time link ------------------------------------------------------------------------------


def test_a_link_works_once_and_a_wrong_token_never(served: Served) -> None:
    s = served
    alice = browser(s.app, s.service, "alice", "requester")
    bob = browser(s.app, s.service, "bob", "approver")
    rid = approved(s, alice, bob)
    assert alice.post_form(f"/requests/{rid}/link").status_code == 409  # not made yet
    run_jobs(s.app)
    url = link(alice, rid)
    assert alice.get(f"/requests/{rid}/download/{'x' * 43}").status_code == 404
    assert alice.get(url).status_code == 200
    again = alice.get(url, headers={"accept": "text/html"})
    assert again.status_code == 410 and "downloaded once" in again.text
    assert alice.post_form(f"/requests/{rid}/link").status_code == 410
    assert len(audit_entries(s, "release.download")) == 1


def test_two_downloads_at_once_only_one_succeeds(served: Served) -> None:
    s = served
    alice, rid = made(s)
    url = link(alice, rid)
    clients = [TestClient(s.app, base_url=BASE, cookies=dict(alice.client.cookies)) for _ in range(4)]
    codes: list[int] = []
    start = threading.Barrier(len(clients))

    def fetch(c: TestClient) -> None:
        start.wait()
        codes.append(c.get(url).status_code)

    threads = [threading.Thread(target=fetch, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 410, 410, 410]


def _drop_after_first_piece(app: FastAPI, b: Browser, url: str, *, on_send: Any = None, leave: bool = True,
                            after: Any = None) -> list[dict[str, Any]]:
    """GET ``url`` as ``b`` straight through ASGI; with ``leave``, the client goes away after the
    first piece of body. ``on_send`` sees every message the server sends; ``after`` runs as soon
    as the server has answered, before the event loop ends (which would close what it left open)."""
    cookie = "; ".join(f"{k}={v}" for k, v in b.client.cookies.items())
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "https", "path": url, "raw_path": url.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
             "client": ("testclient", 50000), "server": ("testserver", 443)}
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        piece = asyncio.Event()
        asked = []

        async def receive() -> dict[str, Any]:
            asked.append(1)
            if len(asked) == 1:
                return {"type": "http.request", "body": b"", "more_body": False}
            if not leave:
                await asyncio.Event().wait()  # never leaves
            await piece.wait()
            return {"type": "http.disconnect"}

        async def send(msg: dict[str, Any]) -> None:
            sent.append(msg)
            if on_send is not None:
                on_send(msg)
            if msg["type"] == "http.response.body" and msg.get("body"):
                piece.set()
                await asyncio.sleep(0.05)  # the client leaves while the server still has bytes to send

        with contextlib.suppress(Exception):  # a stopped stream ends the response abruptly, as it should
            await app(scope, receive, send)
        if after is not None:
            after()

    asyncio.run(run())
    return sent


@pytest.mark.parametrize("piece", [64, releases.CHUNK], ids=["many pieces", "one piece"])
def test_a_dropped_download_leaves_the_release_for_a_new_link(served: Served, monkeypatch: pytest.MonkeyPatch,
                                                              piece: int) -> None:
    s = served
    alice, rid = made(s)
    ready = row(s, rid)
    out = s.ws.home / ready.file
    size = out.stat().st_size
    assert size < releases.CHUNK  # one piece by default: the client leaves before its last byte
    monkeypatch.setattr(releases, "CHUNK", piece)
    seen: list[Any] = []
    sent = _drop_after_first_piece(s.app, alice, link(alice, rid), after=lambda: seen.extend(
        [row(s, rid).downloaded_at, len(audit_entries(s, "release.download.dropped"))]))
    assert seen == [None, 1]  # ended when the response ended, not when the garbage collector found it
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    got = b"".join(m.get("body", b"") for m in sent[1:])
    assert 0 < len(got) < size
    # The release is not used up: still ready, its file still there, the attempt audited with what left.
    after = row(s, rid)
    assert after.state == "ready" and after.downloaded_at is None and after.link_hash is None and out.exists()
    [dropped] = audit_entries(s, "release.download.dropped")
    assert dropped.actor == "web:alice" and dropped.detail["bytes"] == size
    assert dropped.detail["bytes_sent"] < size  # the pieces whose sending completed
    # A new link delivers the same file whole; then it is downloaded and gone.
    whole = alice.get(link(alice, rid))
    assert whole.status_code == 200 and whole.content.startswith(got) and len(whole.content) == size
    assert hashlib.sha256(whole.content).hexdigest() == s.service.ledger.release(ready.release_id).file_sha256
    assert row(s, rid).state == "downloaded" and not out.exists()
    assert len(audit_entries(s, "release.download")) == 2
    assert len(audit_entries(s, "release.download.dropped")) == 1


def test_no_second_link_while_a_download_holds_the_request_unless_its_hold_lapsed(served: Served) -> None:
    s = served
    alice, rid = made(s)
    with s.service.db.begin() as conn:  # a download started a minute ago and holds the request
        conn.execute(sa.update(requests).where(requests.c.id == rid).values(
            downloaded_at=now() - timedelta(minutes=1), link_hash=None, link_expires=now() + timedelta(minutes=4)))
    refused = alice.post_form(f"/requests/{rid}/link", headers={"accept": "text/html"})
    assert refused.status_code == 409 and "under way" in refused.text
    with s.service.db.begin() as conn:  # ... its server died: the hold lapsed
        conn.execute(sa.update(requests).where(requests.c.id == rid)
                     .values(link_expires=now() - timedelta(seconds=1)))
    assert alice.get(link(alice, rid)).status_code == 200
    assert row(s, rid).state == "downloaded"


def test_a_download_whose_hold_was_taken_stops_before_its_end(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """A download slower than its hold, whose request another download then took, sends no more:
    two downloads never both run to the end, and the file goes with the one that finished."""
    s = served
    alice, rid = made(s)
    out = s.ws.home / row(s, rid).file
    monkeypatch.setattr(releases, "CHUNK", 64)
    monkeypatch.setattr(releases, "DOWNLOAD_LEASE", timedelta(0))  # every piece renews the hold
    url = link(alice, rid)
    took: list[int] = []

    def taken_meanwhile(msg: dict[str, Any]) -> None:  # after the first piece, another download takes over
        if msg["type"] == "http.response.body" and msg.get("body") and not took:
            with s.service.db.begin() as conn:
                took.append(conn.execute(sa.update(requests).where(requests.c.id == rid)
                                         .values(downloaded_at=now())).rowcount)

    sent = _drop_after_first_piece(s.app, alice, url, on_send=taken_meanwhile, leave=False)
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert took == [1] and 0 < len(body) < out.stat().st_size
    assert row(s, rid).state == "ready" and out.exists()  # the other download's, not this one's


def test_an_expired_link_is_refused_and_a_new_one_works(served: Served) -> None:
    s = served
    alice, rid = made(s)
    s.service.settings.link_minutes = 0
    old = alice.get(link(alice, rid), headers={"accept": "text/html"})
    assert old.status_code == 410 and "expired" in old.text
    assert row(s, rid).state == "ready"
    s.service.settings.link_minutes = 15
    url = link(alice, rid)
    with s.service.db.begin() as conn:  # time passes
        conn.execute(sa.update(requests).where(requests.c.id == rid)
                     .values(link_expires=now() - timedelta(seconds=1)))
    assert alice.get(url).status_code == 410
    assert alice.get(link(alice, rid)).status_code == 200


# -- CSRF -------------------------------------------------------------------------------------------


def test_every_post_needs_the_sessions_csrf_token(served: Served) -> None:
    s = served
    alice = browser(s.app, s.service, "alice", "requester")
    bob = browser(s.app, s.service, "bob", "approver")
    rid = rid_of(submit(alice))
    posts = [(alice, "/requests"), (bob, f"/requests/{rid}/approve"), (bob, f"/requests/{rid}/reject"),
             (alice, f"/requests/{rid}/link")]
    for who, url in posts:
        for token in (None, "forged-" + "0" * 36):
            data = {"purpose": PURPOSE} if token is None else {"csrf": token, "purpose": PURPOSE}
            r = who.client.post(url, data=data, follow_redirects=False)
            assert r.status_code == 403, (url, token)
    assert row(s, rid).state == "pending"
    with s.service.db.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(requests)) == 1


# -- what is refused at submission, and how it is said -----------------------------------------------


INVALID = [
    ({"filter": f"NIK = '{NIK}' AND"}, "not a valid expression"),
    ({"filter": f"NIK = '{NIK}"}, "a quote or bracket is not closed"),
    ({"filter": f'NIK = "{NIK}"'}, "does not have"),  # double quotes make an identifier
    ({"filter": f"md5(NIK) = '{NIK}'"}, "may not use"),
    ({"filter": f"NIK = '{NIK}'; DROP TABLE x"}, "must be a condition"),
    ({"cols_peserta": [], "columns": "NOKA, NOPE"}, "has no column 'NOPE'"),
    ({"recipient": "Nobody Ltd"}, "Choose a recipient"),
    ({"purpose": "   "}, "purpose is required"),
    ({"as_of": "2024-12-31"}, "before the first snapshot"),
    ({"as_of": "2026-01-01"}, "after the newest snapshot"),
    ({"as_of": "02/07/2025"}, "YYYY-MM-DD"),
    ({"dataset": "pasien"}, "Choose a dataset"),
    ({"format": "exe"}, "Choose a format"),
]


def test_invalid_requests_are_refused_with_a_clear_message_that_quotes_no_value(served: Served) -> None:
    s = served
    alice = browser(s.app, s.service, "alice", "requester")
    for fields, expected in INVALID:
        r = submit(alice, **fields)
        assert r.status_code == 400, fields
        said = errors(r.text)
        assert expected in said, (fields, said)
        assert NIK not in said and "Traceback" not in r.text
        if "filter" in fields:  # shown back to its author, in the form
            assert NIK in r.text
    with s.service.db.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(requests)) == 0
    assert not audit_entries(s, "request.create")


def test_scrub_keeps_column_names_and_hides_quoted_values() -> None:
    columns = ["NIK", "NAMA"]
    msg = releases.scrub("--where names column '3201010101010001', which the dataset does not have",
                         'NIK = "3201010101010001"', columns)
    assert msg == "The filter names column '…', which the dataset does not have."
    assert releases.scrub("--where names column 'NAMA'", "nama = 'BUDI SANTOSO'", columns) == \
        "The filter names column 'NAMA'."
    assert "BUDI" not in releases.scrub("--where may not use BUDI", "NAMA = 'BUDI'", columns)


# -- the job: crashes, failures ---------------------------------------------------------------------


def test_a_job_that_died_after_the_ledger_commit_is_adopted_not_made_twice(served: Served) -> None:
    s = served
    alice = browser(s.app, s.service, "alice", "requester")
    bob = browser(s.app, s.service, "bob", "approver")
    rid = approved(s, alice, bob)
    queue = s.app.state.queue
    assert queue.claim() is not None  # a worker takes the job ...
    out = releases.release_path(s.service, rid, "peserta", "csv")
    private_dir(out.parent, parents=True)
    made = create_release(s.ws, ReleaseRequest(  # ... makes the release and dies before saying so
        dataset="peserta", recipient=RECIPIENT, out=out, columns=COLUMNS, where=FILTER,
        as_of=date.fromisoformat(AS_OF), purpose=PURPOSE, fmt="csv"))
    with s.service.db.begin() as conn:  # its lease runs out
        conn.execute(sa.update(jobs).where(jobs.c.ref == rid).values(lease_until=now() - timedelta(seconds=1)))
    assert run_jobs(s.app) == 1
    r = row(s, rid)
    assert r.state == "ready" and r.release_id == made.release_id
    assert [x.release_id for x in s.service.ledger.releases()] == [made.release_id]
    assert [e.target for e in audit_entries(s, "release.create")] == [made.release_id]
    assert hashlib.sha256(alice.get(link(alice, rid)).content).hexdigest() == made.file_sha256


def test_a_file_no_ledger_entry_owns_is_discarded_and_the_release_made(served: Served) -> None:
    s = served
    alice = browser(s.app, s.service, "alice", "requester")
    bob = browser(s.app, s.service, "bob", "approver")
    rid = approved(s, alice, bob, format="parquet")
    out = releases.release_path(s.service, rid, "peserta", "parquet")
    private_dir(out.parent, parents=True)
    out.write_bytes(b"moved into place, then the worker died before the ledger commit")
    (out.parent / f".{out.name}.R-x.partial").write_bytes(b"half")
    assert run_jobs(s.app) == 1
    r = row(s, rid)
    [rec] = s.service.ledger.releases()
    assert r.state == "ready" and r.release_id == rec.release_id and rec.file_format == "parquet"
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == rec.file_sha256


def test_a_release_the_library_refuses_marks_the_request_failed(served: Served) -> None:
    s = served
    alice = browser(s.app, s.service, "alice", "requester")
    bob = browser(s.app, s.service, "bob", "approver")
    rid = approved(s, alice, bob, filter="NIK = 'nobody'")
    assert run_jobs(s.app) == 1
    r = row(s, rid)
    assert r.state == "failed" and "selection is empty" in r.error
    assert queue_state(s, rid) == "failed"
    assert "selection is empty" in alice.get(f"/requests/{rid}").text
    assert alice.post_form(f"/requests/{rid}/link").status_code == 409
    assert not s.service.ledger.releases() and not audit_entries(s, "release.create")


def test_a_database_error_fails_the_request_without_showing_or_logging_row_values(
        served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s = served
    alice = browser(s.app, s.service, "alice", "requester")
    bob = browser(s.app, s.service, "bob", "approver")
    # Valid to the filter's checker, but DuckDB cannot cast a 16-digit NIK to INTEGER, and its
    # message quotes the value it could not cast.
    rid = approved(s, alice, bob, filter="CAST(NIK AS INTEGER) > 0")
    assert run_jobs(s.app) == 1
    r = row(s, rid)
    assert r.state == "failed" and r.error.startswith("internal error")
    assert not re.search(r"\d{16}", r.error + caplog.text)
    assert "release job for" in caplog.text  # the place is logged, for whoever debugs it


def queue_state(s: Served, rid: str) -> str:
    status = s.app.state.queue.status("release", rid)
    assert status is not None
    return str(status["state"])
