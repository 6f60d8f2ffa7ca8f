"""Cases in the service: a leaked file uploaded as a stream, investigated as a job, read as the
verdict page and its files; who may read a case (IDOR), sharing it, the notification pack; hostile
uploads (path-traversal names, oversized bodies, forged forms, zip bombs); jobs that survive a
restart and never run twice. The flows that touch the database run on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import os
import select
import socket
import stat
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.livekit import assert_not_blank, chrome, live_server, sign_in, wait_for
from tests.servicekit import BASE, Browser, browser, make_service, run_jobs

from jejak.browser import find_chromium
from jejak.intake import archive
from jejak.investigate import STAGES, investigate
from jejak.report import render_html, verdict_paragraph
from jejak.service import auth
from jejak.service.cases import safe_name
from jejak.service.core import Service, Settings
from jejak.service.db import case_access, cases, jobs
from jejak.service.jobs import JobQueue
from jejak.workspace import Workspace

PASSWORD = "correct horse battery staple"
BOUNDARY = "jejakTestBoundary7MA4YWxk"
CASE_ROUTES = ("", "/progress", "/report.html", "/report.pdf", "/verdict.json")
COUNTS = ("rows", "matched", "current", "outdated", "fabricated", "invalid", "unlinked", "canary", "duplicates",
          "status")


@dataclass
class Served:
    service: Service
    app: FastAPI
    ws: Workspace


def _serve(ws: Workspace, settings: Settings | None = None) -> Served:
    service, app = make_service(ws.home, settings)
    return Served(service, app, ws)


@pytest.fixture
def served(investigation_ws: Workspace, ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The service over a workspace with a `peserta` registry, its tables on SQLite or PostgreSQL."""
    monkeypatch.setenv("JEJAK_DATABASE_URL", ledger_url)
    s = _serve(investigation_ws)
    yield s
    s.service.close()


@pytest.fixture
def local(investigation_ws: Workspace) -> Iterator[Served]:
    """The same on the workspace's own SQLite ledger, for what does not depend on the database."""
    s = _serve(investigation_ws)
    yield s
    s.service.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Browser]]:
    """One service and one investigator for the hostile uploads (their jobs never run, so no registry)."""
    ws = Workspace.init(tmp_path_factory.mktemp("hostile") / "ws")
    s = _serve(ws)
    yield s, browser(s.app, s.service, "alice", "investigator")
    s.service.close()


def upload(b: Browser, content: bytes, name: str = "leak.csv", title: str = "Sample offered on a forum",
           **fields: str) -> Any:
    """What the browser's upload form sends: the CSRF token first, then the title, then the file."""
    return b.client.post("/cases", data={"csrf": b.csrf or "", "title": title, **fields},
                         files={"file": (name, content, "text/csv")}, follow_redirects=False)


def case_of(response: Any) -> str:
    assert response.status_code == 303, response.text
    return str(response.headers["location"].rsplit("/", 1)[1])


def multipart(*parts: tuple[str, bytes | None, bytes]) -> bytes:
    """A hand-made multipart body (name, raw file name or None, value): hostile names go in as bytes."""
    out = b""
    for name, filename, value in parts:
        disp = f'form-data; name="{name}"'.encode() + (b'; filename="' + filename + b'"' if filename is not None
                                                       else b"")
        out += b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: " + disp + b"\r\n\r\n" + value + b"\r\n"
    return out + b"--" + BOUNDARY.encode() + b"--\r\n"


def post_raw(b: Browser, body: Any, **headers: str) -> Any:
    return b.client.post("/cases", content=body, follow_redirects=False,
                         headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}", **headers})


def case_row(s: Served, cid: str) -> Any:
    with s.service.db.connect() as conn:
        return conn.execute(sa.select(cases).where(cases.c.id == cid)).one()


def audit_actions(s: Served, target: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e.actor, e.action, e.detail) for e in s.service.audit_log.entries() if e.target == target]


def left_behind(s: Served) -> list[Path]:
    """Temporary files and folders of the workspace still there (all are removed when a request ends)."""
    return list(s.ws.tmp_root.rglob("*")) + list(s.ws.cases_dir.glob(".tmp-*"))


def stored_state(s: Served) -> tuple[list[Path], int, int]:
    """What an upload leaves: files under uploads/, cases and jobs."""
    with s.service.db.connect() as conn:
        return (sorted(s.service.uploads_dir.rglob("*")),
                conn.scalar(sa.select(sa.func.count()).select_from(cases)) or 0,
                conn.scalar(sa.select(sa.func.count()).select_from(jobs)) or 0)


# -- the whole flow: upload, job, verdict page ---------------------------------------------------------


def test_an_uploaded_leak_gets_the_verdict_the_library_gives_for_the_same_file(served: Served,
                                                                                tmp_path: Path) -> None:
    from jejak.ledger import Ledger
    from jejak.release import ReleaseRequest, create_release

    s = served
    with Ledger.open(s.ws.ledger_url) as ledger:
        ledger.add_recipient("PT Vendor Data", "vendor")
    leak = tmp_path / "vendor.csv"
    rec = create_release(s.ws, ReleaseRequest("peserta", "PT Vendor Data", leak))
    content = leak.read_bytes()
    alice = browser(s.app, s.service, "alice", "investigator")

    cid = case_of(upload(alice, content, "vendor.csv", title="Vendor sample"))
    row = case_row(s, cid)
    stored = s.ws.home / row.upload_path
    # Stored read-only under the case id, hashed while it arrived, the client's name only shown.
    assert stored == s.service.uploads_dir / cid / f"{cid}.csv"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o400
    assert row.upload_sha256 == hashlib.sha256(content).hexdigest() == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert (row.upload_name, row.upload_size, row.state) == ("vendor.csv", len(content), "queued")

    page = alice.get(f"/cases/{cid}")
    assert page.status_code == 200 and '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page.text
    assert '<progress value="0" max="8">' in page.text and '<script src="/static/progress.js" defer>' in page.text
    assert all(stage in page.text for stage in STAGES)
    assert alice.get(f"/cases/{cid}/progress").json() == {"state": "queued", "stage": None, "done": 0,
                                                          "total": len(STAGES)}
    assert alice.get(f"/cases/{cid}/report.html").status_code == 409  # not finished yet

    assert run_jobs(s.app) == 1
    assert alice.get(f"/cases/{cid}/progress").json() == {"state": "done", "stage": "done", "done": 8, "total": 8}
    got = alice.get(f"/cases/{cid}/verdict.json").json()
    # One copy of the leak on the server: the case's evidence copy, the same bytes; the upload is gone.
    evidence = s.ws.cases_dir / cid / got["evidence"]["copy"]
    assert hashlib.sha256(evidence.read_bytes()).hexdigest() == row.upload_sha256
    assert not stored.exists() and not stored.parent.exists()
    library = investigate(s.ws, leak).to_json()
    assert got["case_id"] == cid and got["evidence"]["sha256"] == row.upload_sha256
    assert got["evidence"]["path"] == "vendor.csv"  # the report names the file as the investigator did
    assert got["attribution"]["verdict"] == library["attribution"]["verdict"] == "release"
    assert got["attribution"]["suspects"] == library["attribution"]["suspects"] == [rec.release_id]
    assert {k: got["verification"][k] for k in COUNTS} == {k: library["verification"][k] for k in COUNTS}
    assert got["impact"]["people"] == library["impact"]["people"] and got["dataset"] == library["dataset"]
    assert case_row(s, cid).headline == got["summary"][1]

    page = alice.get(f"/cases/{cid}")
    assert "http-equiv" not in page.text and verdict_paragraph(got, "id") in page.text
    assert rec.release_id in page.text and 'href="/cases/' + cid + '/report.pdf?lang=id"' in page.text
    assert verdict_paragraph(got, "en") in alice.get(f"/cases/{cid}?lang=en").text
    r = alice.get(f"/cases/{cid}/report.html?lang=en")
    assert r.text == render_html(got, "en") and r.headers["content-disposition"].startswith("attachment")
    assert "script-src" not in r.headers["content-security-policy"]  # the report runs no script at all
    assert cid in alice.get("/cases").text
    acts = audit_actions(s, cid)
    assert acts[0] == ("web:alice", "case.upload", {"file": "vendor.csv", "sha256": row.upload_sha256,
                                                    "size": len(content)})
    assert acts[1] == ("web:alice", "investigate", {"file": "vendor.csv", "sha256": row.upload_sha256,
                                                    "rows": got["evidence"]["rows"], "dataset": "peserta"})
    assert [a[2]["what"] for a in acts[2:]] == ["verdict.json", "verdict page", "verdict page", "report.html"]


# -- who may read a case ---------------------------------------------------------------------------------


def test_a_case_is_read_only_by_its_owner_assignees_grantees_until_their_date_and_approvers(
        served: Served, derived_leak: Any) -> None:
    s = served
    alice = browser(s.app, s.service, "alice", "investigator")
    bob = browser(s.app, s.service, "bob", "investigator")
    erin = browser(s.app, s.service, "erin", "external")
    carol = browser(s.app, s.service, "carol", "approver")
    cid = case_of(upload(alice, derived_leak.path.read_bytes(), "dijual.csv"))
    run_jobs(s.app)
    urls = [f"/cases/{cid}{r}" for r in CASE_ROUTES]

    def status(b: Browser, skip_pdf: bool = True) -> dict[str, int]:
        return {u: b.get(u).status_code for u in urls if not (skip_pdf and u.endswith(".pdf"))}

    nowhere = {u: 404 for u in urls}
    # Another investigator and an external without a grant: every page and file of the case is 404,
    # answered exactly as for an id that was never used.
    for b in (bob, erin):
        assert status(b, skip_pdf=False) == nowhere
        assert b.get(urls[4]).json() == b.get("/cases/C-20260101-000000-AAAA/verdict.json").json()
        assert cid not in b.get("/cases").text
    assert bob.post_form(f"/cases/{cid}/assign", {"user": "bob"}).status_code == 404
    assert bob.post_form(f"/cases/{cid}/grant", {"user": "erin", "until": "2099-01-01"}).status_code == 404
    assert set(status(carol).values()) == {200}  # the approver reads every case

    # Assigned to a colleague: bob reads it, but only its owner shares it further.
    assert alice.post_form(f"/cases/{cid}/assign", {"user": "erin"}).status_code == 400  # not an investigator
    assert alice.post_form(f"/cases/{cid}/assign", {"user": "bob"}).status_code == 303
    assert set(status(bob).values()) == {200} and cid in bob.get("/cases").text
    assert bob.post_form(f"/cases/{cid}/grant", {"user": "erin", "until": "2099-01-01"}).status_code == 403

    # Granted to an external until a date: refused for anyone but an external, a past or far date.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    for bad in ({"user": "bob", "until": tomorrow.isoformat()},
                {"user": "erin", "until": (tomorrow - timedelta(days=2)).isoformat()},
                {"user": "erin", "until": (tomorrow + timedelta(days=180)).isoformat()},
                {"user": "erin", "until": "soon"}):
        assert alice.post_form(f"/cases/{cid}/grant", bad).status_code == 400, bad
    assert alice.post_form(f"/cases/{cid}/grant", {"user": "erin", "until": tomorrow.isoformat()}).status_code == 303
    assert set(status(erin).values()) == {200} and cid in erin.get("/cases").text
    assert 'id="access"' not in erin.get(urls[0]).text  # who else reads it is the organisation's business
    with s.service.db.begin() as conn:  # the date has passed
        conn.execute(sa.update(case_access).where(case_access.c.case_id == cid, case_access.c.kind == "granted")
                     .values(until=datetime.now(UTC) - timedelta(minutes=1)))
    assert status(erin) == {u: 404 for u in urls if not u.endswith(".pdf")}
    assert cid not in erin.get("/cases").text

    # Revoked before its date: only the owner revokes, and the next request is refused at once.
    assert alice.post_form(f"/cases/{cid}/grant", {"user": "erin", "until": tomorrow.isoformat()}).status_code == 303
    assert set(status(erin).values()) == {200}
    page = alice.get(urls[0]).text
    assert f'action="/cases/{cid}/revoke"' in page and 'value="erin"' in page
    assert f'action="/cases/{cid}/revoke"' not in bob.get(urls[0]).text  # an assignee does not share further
    assert bob.post_form(f"/cases/{cid}/revoke", {"user": "erin"}).status_code == 403
    assert erin.post_form(f"/cases/{cid}/revoke", {"user": "erin"}).status_code == 403  # not an investigator's route
    assert alice.post_form(f"/cases/{cid}/revoke", {"user": "erin"}).status_code == 303
    assert status(erin) == {u: 404 for u in urls if not u.endswith(".pdf")}
    assert alice.post_form(f"/cases/{cid}/revoke", {"user": "erin"}).status_code == 400  # nothing left to revoke
    assert alice.post_form(f"/cases/{cid}/revoke", {"user": "nobody"}).status_code == 400
    assert alice.post_form(f"/cases/{cid}/revoke", {"user": "bob"}).status_code == 303
    assert set(status(bob).values()) == {404} and cid not in bob.get("/cases").text

    acts = audit_actions(s, cid)
    assert ("web:alice", "case.assign", {"user": "bob"}) in acts
    assert ("web:alice", "case.grant", {"user": "erin", "until": tomorrow.isoformat()}) in acts
    assert ("web:alice", "case.revoke", {"user": "erin", "was": "granted"}) in acts
    assert ("web:alice", "case.revoke", {"user": "bob", "was": "assigned"}) in acts
    assert [a for a in acts if a[1] == "case.revoke" and a[0] != "web:alice"] == []
    readers = {a[0] for a in acts if a[1] == "case.read"}
    assert readers == {"web:carol", "web:bob", "web:erin", "web:alice"}


def test_the_notification_pack_is_for_approvers_and_the_pdf_needs_chromium(
        local: Served, derived_leak: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    s = local
    alice = browser(s.app, s.service, "alice", "investigator")
    carol = browser(s.app, s.service, "carol", "approver")
    cid = case_of(upload(alice, derived_leak.path.read_bytes()))
    run_jobs(s.app)
    form = {"discovered": "2026-11-23T08:00", "controller": "BPJS Kesehatan", "lang": "en"}
    assert alice.post_form(f"/cases/{cid}/notify", form).status_code == 403
    assert 'action="/cases/' + cid + '/notify"' not in alice.get(f"/cases/{cid}").text
    assert 'action="/cases/' + cid + '/notify"' in carol.get(f"/cases/{cid}").text

    r = carol.post_form(f"/cases/{cid}/notify", form)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        names = {n.split("/", 1)[1] for n in z.namelist()}
        manifest = json.loads(z.read(f"notify_{cid}/manifest.json"))
    assert {"manifest.json", "subjects.csv", "authority_notice.md", "authority_notice.html"} <= names
    assert manifest["case_id"] == cid and manifest["subjects"] == derived_leak.truth["people"]
    actor, action, detail = audit_actions(s, cid)[-1]
    assert (actor, action, detail["subjects"]) == ("web:carol", "notify", manifest["subjects"])
    assert left_behind(s) == []
    # A discovery in the future is refused, as on the command line.
    assert carol.post_form(f"/cases/{cid}/notify", {**form, "discovered": "2099-01-01T08:00"}).status_code == 400

    pdf = carol.get(f"/cases/{cid}/report.pdf?lang=en")
    if find_chromium() is None:
        assert pdf.status_code == 503
    else:
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and left_behind(s) == []
        assert pdf.headers["content-disposition"] == f'attachment; filename="report_{cid}_en.pdf"'
    monkeypatch.setenv("JEJAK_CHROMIUM", str(s.ws.home / "no-such-browser"))
    r = carol.get(f"/cases/{cid}/report.pdf", headers={"accept": "text/html"})
    assert r.status_code == 503 and "Chromium, which is not installed" in r.text


# -- hostile uploads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "shown"), [
    (b"../../etc/passwd.csv", "passwd.csv"),
    (b"..\\..\\x.csv", "x.csv"),
    (b"..\\\\..\\\\y.csv", "y.csv"),  # the quoted-string escape of a backslash
    (b"C:\\Users\\budi\\dump.csv", "dump.csv"),
    (b"a\x00b.csv", "ab.csv"),
    (b"new\nline.csv", "newline.csv"),
    ("\u202egpj.csv".encode(), "gpj.csv"),  # a right-to-left override would show "vsc.jpg"
    (b"....csv", "upload.csv"),
    (b"..", "upload"),
])
def test_a_hostile_file_name_is_cleaned_for_show_and_never_used_as_a_path(hostile: tuple[Served, Browser],
                                                                           raw: bytes, shown: str) -> None:
    s, alice = hostile
    body = multipart(("csrf", None, (alice.csrf or "").encode()), ("title", None, b"hostile"),
                     ("file", raw, b"NIK,NAMA\n1,x\n"))
    cid = case_of(post_raw(alice, body))
    row = case_row(s, cid)
    assert row.upload_name == shown
    stored = (s.ws.home / row.upload_path).resolve()
    assert stored.parent == (s.service.uploads_dir / cid).resolve() and stored.name.startswith(cid)
    assert [p.name for p in (s.service.uploads_dir / cid).iterdir()] == [stored.name]
    assert not any(p.name in ("passwd.csv", "x.csv", "y.csv") for p in s.ws.home.parent.rglob("*"))
    assert left_behind(s) == []


def test_a_name_is_cut_to_255_bytes_keeping_its_extension() -> None:
    name = safe_name("ü" * 300 + ".csv.gz")
    assert len(name.encode()) <= 255 and name.endswith(".csv.gz") and name.startswith("ü")


def test_an_oversized_body_is_refused_while_it_arrives_and_leaves_nothing(hostile: tuple[Served, Browser],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    s, alice = hostile
    monkeypatch.setattr(s.service.settings, "max_upload", 100_000)
    before = stored_state(s)
    big = b"NIK,NAMA\n" + b"3273015203850001,SITI\n" * 20_000
    # Announced by Content-Length: refused before a byte is read.
    assert upload(alice, big).status_code == 413
    assert stored_state(s) == before and left_behind(s) == []
    # Sent in chunks without a length: refused when the body outgrows the limit, mid-stream.
    body = multipart(("csrf", None, (alice.csrf or "").encode()), ("title", None, b"big"), ("file", b"big.csv", big))
    r = post_raw(alice, (body[i:i + 16_384] for i in range(0, len(body), 16_384)))
    assert r.status_code == 413 and "larger than this service accepts" in r.json()["error"]
    assert stored_state(s) == before and left_behind(s) == []
    assert upload(alice, big[:50_000]).status_code == 303  # within the limit


@pytest.mark.parametrize("how", ["missing", "wrong", "after the file", "only as a field of another name"])
def test_a_forged_upload_form_is_refused_before_anything_is_written(hostile: tuple[Served, Browser],
                                                                    how: str) -> None:
    s, alice = hostile
    before = stored_state(s)
    token = (alice.csrf or "").encode()
    file = ("file", b"leak.csv", b"NIK,NAMA\n1,x\n")
    parts = {"missing": [("title", None, b"t"), file],
             "wrong": [("csrf", None, b"x" * len(token)), ("title", None, b"t"), file],
             "after the file": [("title", None, b"t"), file, ("csrf", None, token)],
             "only as a field of another name": [("csrf_token", None, token), file]}[how]
    r = post_raw(alice, multipart(*parts))
    assert r.status_code == 403, r.text
    assert stored_state(s) == before and left_behind(s) == []


@pytest.mark.parametrize(("fields", "file", "message"), [
    ({"title": ""}, ("leak.csv", b"NIK\n1\n"), "title"),
    ({"title": "x" * 201}, ("leak.csv", b"NIK\n1\n"), "title"),
    ({"title": "t", "dataset": "../peserta"}, ("leak.csv", b"NIK\n1\n"), "dataset"),
    ({"title": "t"}, ("leak.csv", b""), "choose a file"),
    ({"title": "t"}, None, "choose a file"),
    ({"title": "t", "note": "n" * 5000}, ("leak.csv", b"NIK\n1\n"), "too long"),
])
def test_an_incomplete_upload_form_is_refused_and_leaves_nothing(hostile: tuple[Served, Browser],
                                                                 fields: dict[str, str], file: Any,
                                                                 message: str) -> None:
    s, alice = hostile
    before = stored_state(s)
    parts = [("csrf", None, (alice.csrf or "").encode())] + [(k, None, v.encode()) for k, v in fields.items()]
    if file is not None:
        parts.append(("file", file[0].encode(), file[1]))
    r = post_raw(alice, multipart(*parts))
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert stored_state(s) == before and left_behind(s) == []


def test_an_upload_that_is_not_multipart_is_refused(hostile: tuple[Served, Browser]) -> None:
    s, alice = hostile
    r = alice.post_form("/cases", {"title": "t", "file": "NIK\n1\n"})
    assert r.status_code == 400 and "multipart/form-data" in r.json()["error"]


def test_a_script_with_an_api_token_uploads_without_a_csrf_token(hostile: tuple[Served, Browser]) -> None:
    s, _ = hostile
    user, _ = auth.add_user(s.service.db, "robot", "investigator", "correct horse battery staple")
    token = auth.new_token(s.service.db, user.id, "script")
    client = TestClient(s.app, base_url=BASE)
    r = client.post("/cases", data={"title": "from a script"}, files={"file": ("leak.csv", b"NIK\n1\n")},
                    headers={"authorization": f"Bearer {token}", "accept": "application/json"})
    assert r.status_code == 201 and r.json()["sha256"] == hashlib.sha256(b"NIK\n1\n").hexdigest()
    progress = client.get(f"/cases/{r.json()['case_id']}/progress", headers={"authorization": f"Bearer {token}"})
    assert progress.json()["state"] == "queued"


def _zeros(mib: int) -> tuple[bytes, int, int]:
    """Raw deflate of ``mib`` MiB of zeros at ~1 KiB per MiB, with its CRC-32 and size: one MiB is
    compressed once and repeated (a full flush makes each copy stand alone), so a gigabyte takes
    half a second to build instead of seven."""
    block = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    return one * mib + b"\x03\x00", crc, mib << 20  # 03 00: an empty final block


def _bomb(kind: str, path: Path) -> bytes:
    data, crc, size = _zeros(1000)  # 1000 MiB of zeros, just under the old 1 GiB floor of the bomb check
    if kind == "gz":
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + data + struct.pack("<II", crc, size & 0xFFFFFFFF)
    name = b"data.csv"
    local_header = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size,
                               len(name), 0) + name
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                          len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local_header) + len(data), 0)
    return local_header + data + central + end


@pytest.mark.parametrize(("kind", "message"), [
    ("zip", "a zip bomb; refused"),  # its directory declares the size: refused before unpacking
    ("gz", "a zip bomb; refused"),  # no declared size: stopped while it streams
    ("binary", "binary"),
])
def test_a_zip_bomb_or_unreadable_file_ends_as_a_failed_case_with_bounded_disk_use(
        local: Served, kind: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = local
    content = os.urandom(200_000) if kind == "binary" else _bomb(kind, tmp_path)
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(content)) as z:  # a well-formed zip, as a leaker would send
            assert z.infolist()[0].file_size == 1000 << 20 and len(content) < 1_100_000
    peak = [0]
    spend = archive._Budget.spend

    def watched(self: Any, n: int) -> None:
        spend(self, n)
        peak[0] = max(peak[0], self.used)

    monkeypatch.setattr(archive._Budget, "spend", watched)
    alice = browser(s.app, s.service, "alice", "investigator")
    cid = case_of(upload(alice, content, f"dump.{kind if kind != 'binary' else 'csv'}"))
    assert run_jobs(s.app) == 1
    row = case_row(s, cid)
    assert row.state == "failed" and message in row.error and str(s.ws.home) not in row.error
    page = alice.get(f"/cases/{cid}")
    assert "The investigation failed" in page.text and "http-equiv" not in page.text
    assert alice.get(f"/cases/{cid}/progress").json()["state"] == "failed"
    assert alice.get(f"/cases/{cid}/verdict.json").status_code == 409
    # Unpacking stopped at the floor or at 200 times the file, never near the gigabyte.
    assert peak[0] <= max(64 << 20, 200 * len(content)) + (1 << 20)
    assert left_behind(s) == [] and not (s.ws.cases_dir / cid).exists()


# -- jobs: restart, races, adoption ---------------------------------------------------------------------


def test_a_job_whose_worker_died_is_run_by_the_next_worker(served: Served, derived_leak: Any) -> None:
    s = served
    alice = browser(s.app, s.service, "alice", "investigator")
    cid = case_of(upload(alice, derived_leak.path.read_bytes()))
    dead = JobQueue(s.service.db, "crashed-host:1", timedelta(seconds=60))
    claimed = dead.claim()
    assert claimed is not None and claimed.ref == cid
    assert alice.get(f"/cases/{cid}/progress").json()["state"] == "running"
    assert s.app.state.queue.run_one() is None  # its lease still runs: nobody else takes it
    with s.service.db.begin() as conn:  # the worker died: its lease ran out
        conn.execute(sa.update(jobs).where(jobs.c.id == claimed.id)
                     .values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    job = s.app.state.queue.run_one()
    assert job is not None and (job.ref, job.attempts) == (cid, 2)
    assert case_row(s, cid).state == "done" and s.app.state.queue.status("investigate", cid)["state"] == "done"
    assert alice.get(f"/cases/{cid}/verdict.json").json()["verification"]["rows"] == derived_leak.truth["rows"]


def test_two_workers_racing_for_one_job_never_both_get_it(served: Served) -> None:
    s = served
    alice = browser(s.app, s.service, "alice", "investigator")
    for i in range(4):
        cid = case_of(upload(alice, b"NIK\n1\n", title=f"race {i}"))
        queues = [JobQueue(s.service.db, f"host-{w}:1") for w in range(2)]
        start = threading.Barrier(2)
        got: list[Any] = [None, None]

        def claim(w: int, queues: list[JobQueue] = queues, start: threading.Barrier = start,
                  got: list[Any] = got) -> None:
            start.wait()
            got[w] = queues[w].claim()

        threads = [threading.Thread(target=claim, args=(w,)) for w in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [w for w in range(2) if got[w] is not None]
        assert len(winners) == 1 and got[winners[0]].ref == cid, got
        status = s.app.state.queue.status("investigate", cid)
        assert (status["state"], status["attempts"], status["worker"]) == ("running", 1, f"host-{winners[0]}:1")


def test_a_case_made_by_a_worker_that_died_before_saying_so_is_adopted_not_run_again(
        local: Served, derived_leak: Any) -> None:
    s = local
    alice = browser(s.app, s.service, "alice", "investigator")
    cid = case_of(upload(alice, derived_leak.path.read_bytes()))
    # The dead worker recorded the case (the library's atomic rename) and stopped before the row said so.
    made = investigate(s.ws, s.ws.home / case_row(s, cid).upload_path, case_id=cid)
    before = (s.ws.cases_dir / cid / "verdict.json").stat().st_mtime_ns
    assert run_jobs(s.app) == 1
    assert (s.ws.cases_dir / cid / "verdict.json").stat().st_mtime_ns == before
    assert case_row(s, cid).state == "done" and case_row(s, cid).headline == made.summary[1]
    assert [d.get("adopted") for _a, action, d in audit_actions(s, cid) if action == "investigate"] == [True]
    assert list(s.service.uploads_dir.iterdir()) == []  # the adopted case's evidence copy is the one kept
    assert alice.get(f"/cases/{cid}/verdict.json").json()["case_id"] == cid


# -- a live server: the body as it arrives, and the page in a real browser -------------------------------


def test_an_oversized_upload_is_answered_413_before_its_body_has_all_arrived(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    with live_server(ws.home, Settings(workers=0, max_upload=1 << 20)) as (base, service):
        auth.add_user(service.db, "alice", "investigator", PASSWORD)
        sess = auth.sign_in(service.db, "alice", PASSWORD)
        head = multipart(("csrf", None, sess.csrf.encode()), ("title", None, b"big"),
                         ("file", b"big.csv", b""))[:-len(BOUNDARY) - 8]  # the body up to the file's first byte
        host = base.removeprefix("http://")
        with socket.create_connection(("127.0.0.1", int(host.rsplit(":", 1)[1])), timeout=20) as conn:
            conn.sendall(f"POST /cases HTTP/1.1\r\nHost: {host}\r\nCookie: jejak_session={sess.token}\r\n"
                         f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n".encode())

            def send(data: bytes) -> None:
                conn.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")

            send(head)
            sent = 0
            # A 100 MiB file is on its way; the answer must come once a little over 1 MiB has arrived.
            while sent < 100 << 20 and not select.select([conn], [], [], 0)[0]:
                send(b"x" * 65_536)
                sent += 65_536
                time.sleep(0.002)
            answer = conn.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413") and sent < 8 << 20, (answer[:40], sent)
        assert list(service.uploads_dir.iterdir()) == [] and list(ws.tmp_root.iterdir()) == []


def test_the_progress_page_follows_the_job_in_place_then_shows_the_verdict_in_chromium(
        investigation_ws: Workspace, derived_leak: Any, chromium: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    from jejak.service import cases as service_cases

    driver = chrome(chromium, tmp_path / "downloads")
    try:
        with live_server(investigation_ws.home, Settings(workers=0)) as (base, service):
            auth.add_user(service.db, "alice", "investigator", PASSWORD)
            sign_in(driver, base, "alice", PASSWORD)
            # The browser's own multipart form: the token field first, the file streamed behind it.
            driver.get(f"{base}/cases/new")
            driver.find_element(By.ID, "title").send_keys("Found on a forum")
            driver.find_element(By.ID, "file").send_keys(str(derived_leak.path))
            driver.find_element(By.ID, "submit").click()
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "[data-progress]"), 30)
            cid = driver.current_url.rsplit("/", 1)[1]
            with service.db.connect() as conn:
                sha = conn.scalar(sa.select(cases.c.upload_sha256).where(cases.c.id == cid))
            assert sha == hashlib.sha256(derived_leak.path.read_bytes()).hexdigest()
            assert_not_blank(driver.get_screenshot_as_png(), tmp_path / "progress.png")
            driver.execute_script("window.jejakSamePage = true;")
            with service.db.begin() as conn:  # a worker reports its stage
                conn.execute(sa.update(jobs).where(jobs.c.ref == cid).values(stage="linking rows", done=2, total=8))
            bar = driver.find_element(By.TAG_NAME, "progress")
            wait_for(lambda: bar.get_attribute("value") == "2", 30)
            assert driver.find_element(By.CSS_SELECTOR, "[data-stage]").text == "linking rows"
            assert driver.execute_script("return window.jejakSamePage === true;")  # updated in place
            done = driver.find_elements(By.CSS_SELECTOR, "ol.stages li.done")
            assert [li.text.rstrip(" ✓") for li in done] == list(STAGES[:2])
            queue = JobQueue(service.db, "test-worker:1")
            service_cases.register(queue, service)
            assert queue.run_one() is not None
            # The script sees the job end and loads the page again: now the verdict.
            wait_for(lambda: driver.find_elements(By.ID, "report"), 30)
            assert "report.pdf" in driver.page_source and not driver.find_elements(By.TAG_NAME, "progress")
            assert_not_blank(driver.get_screenshot_as_png(), tmp_path / "verdict.png")
            severe = [e["message"] for e in driver.get_log("browser")
                      if e.get("level") == "SEVERE" and "favicon.ico" not in e["message"]]
            assert severe == []  # no script refused by the Content-Security-Policy, no failed poll
    finally:
        driver.quit()
