"""Cases: a leaked file is uploaded, investigated in the background, and read as the verdict page.

The upload is parsed as a stream (``python_multipart``), never spooled by the framework: the
file's bytes go straight to an owner-only file in the workspace's ``tmp/`` while their SHA-256 is
computed, the body is refused (413) the moment it outgrows ``Settings.max_upload``, and the
session's CSRF token must arrive as a form field *before* the file, so a forged form writes
nothing. The stored file is named by the case id, never by the client's name (which is only
shown, cleaned). The case row and its job commit in one transaction; the job calls the library's
``investigate`` with the same case id, so the case folder, the verdict and the audit entries are
the CLI's.

Who may read a case (on top of the role matrix in ``access``): an approver every case; an
investigator the cases they own or are assigned to; an external the cases granted to them, until
the grant's date. Any other case is answered 404, as an id that does not exist.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import shutil
import zipfile
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from jejak import report
from jejak.errors import JejakError
from jejak.files import EVIDENCE_MODE, owned_tempdir, private_dir, remove_owned_dir, write_private
from jejak.investigate import STAGES, investigate, new_case_id
from jejak.service import auth, web
from jejak.service.access import APPROVER, EXTERNAL, INVESTIGATOR
from jejak.service.core import Service
from jejak.service.db import case_access, cases, jobs, now, users
from jejak.service.jobs import Job, JobQueue, Progress
from jejak.service.web import Caller, guard, redirect, render

log = logging.getLogger(__name__)
router = APIRouter()

KIND = "investigate"  # the job kind
_CASE_ID = re.compile(r"C-\d{8}-\d{6}-[0-9A-Z]{4}")
_DATASET = re.compile(r"[a-z][a-z0-9_]{0,62}")  # the registry's dataset names
FORM_OVERHEAD = 64 << 10  # the body beyond the file: the other fields and the multipart framing
FIELD_MAX = 1024  # bytes of any field other than the file
TITLE_MAX = 200
GRANT_MAX_DAYS = 180
NOT_FOUND = "no such case"
LANGS = report.LANGS
# Compound extensions first: "x.csv.gz" keeps ".csv.gz", so the evidence copy still says what it holds.
_EXTENSIONS = (".tar.gz", ".tar.bz2", ".tar.xz", ".csv.gz", ".tsv.gz", ".txt.gz", ".json.gz", ".jsonl.gz",
               ".ndjson.gz", ".sql.gz", ".csv", ".tsv", ".txt", ".psv", ".json", ".jsonl", ".ndjson", ".parquet",
               ".xlsx", ".sql", ".dump", ".zip", ".gz", ".tgz", ".tar", ".bz2", ".xz")


# -- who may read which case ------------------------------------------------------------------------


def _readable(caller: Caller, at: datetime) -> sa.ColumnElement[bool]:
    """The cases ``caller`` may read, as a condition on ``svc_cases``."""
    uid = caller.user.id
    if caller.role == APPROVER:
        return sa.true()
    if caller.role == INVESTIGATOR:
        assigned = sa.exists().where(case_access.c.case_id == cases.c.id, case_access.c.user_id == uid,
                                     case_access.c.kind == "assigned")
        return sa.or_(cases.c.owner_id == uid, assigned)
    if caller.role == EXTERNAL:
        return sa.exists().where(case_access.c.case_id == cases.c.id, case_access.c.user_id == uid,
                                 case_access.c.kind == "granted", case_access.c.until > at)
    return sa.false()


def _state(case_state: str, job_state: str | None) -> str:
    """What the case is doing: a job that stopped three times is failed though its case never heard."""
    if case_state in ("queued", "running") and job_state == "failed":
        return "failed"
    if case_state == "queued" and job_state == "running":
        return "running"
    return case_state


def _case(request: Request, caller: Caller, cid: str) -> sa.Row[Any]:
    """The case ``cid`` if ``caller`` may read it; otherwise 404, exactly as for an id never used."""
    if not _CASE_ID.fullmatch(cid):
        raise HTTPException(404, NOT_FOUND)
    with web.svc(request).db.connect() as conn:
        row = conn.execute(
            sa.select(cases, users.c.name.label("owner"), jobs.c.state.label("job_state"),
                      jobs.c.error.label("job_error"))
            .join(users, users.c.id == cases.c.owner_id)
            .outerjoin(jobs, sa.and_(jobs.c.kind == KIND, jobs.c.ref == cases.c.id))
            .where(cases.c.id == cid, _readable(caller, now()))).first()
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return row


def _verdict(service: Service, row: sa.Row[Any]) -> dict[str, Any]:
    if _state(row.state, row.job_state) != "done":
        raise HTTPException(409, "the investigation of this case has not finished")
    path = service.ws.cases_dir / row.id / "verdict.json"
    if not path.is_file():
        raise HTTPException(410, "this case's folder is no longer in the workspace")
    return report.load_verdict(path)


def _lang(lang: str) -> str:
    if lang not in LANGS:
        raise HTTPException(400, f"choose a language of {', '.join(LANGS)}")
    return lang


# -- the upload ----------------------------------------------------------------------------------------


def safe_name(raw: str) -> str:
    """The client's file name, fit to show and to write in the audit log (never used as a path):
    the last component under either separator, without control, format or separator characters,
    without a leading dot or runs of dots, at most 255 bytes with its extension kept."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable())
    name = re.sub(r"\.{2,}", ".", name).strip()
    if name.startswith("."):  # ".csv" or "..": a hidden file or a step up, never a name
        name = "upload" + name
    name = name.rstrip(" .") or "upload"
    if len(name.encode()) > 255:
        ext = extension(name)
        stem = name[: len(name) - len(ext)].encode()[: 255 - len(ext.encode())].decode("utf-8", "ignore")
        name = stem + ext
    return name


def extension(name: str) -> str:
    """The known extension of ``name`` (lower-cased), or ``""``; intake reads by content, not by name."""
    lower = name.lower()
    return next((ext for ext in _EXTENSIONS if lower.endswith(ext) and len(lower) > len(ext)), "")


class Refused(Exception):
    """An upload stopped while it streams: answered with ``status`` once the temporary file is gone."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class UploadForm:
    """The upload form as it streams past: small fields kept in memory, the file part written to
    ``target`` and hashed chunk by chunk. ``csrf`` (None for API tokens and for a browser that sent
    the token as a header) must have arrived as a field before the file part opens."""

    def __init__(self, target: Path, csrf: str | None, limit: int) -> None:
        self.target, self.csrf, self.limit = target, csrf, limit
        self.fields: dict[str, bytes] = {}
        self.filename: str | None = None
        self.size = 0
        self.complete = False  # the file part ended
        self.ended = False  # the closing boundary was seen
        self._sha = hashlib.sha256()
        self._file: Any = None  # open while the file part streams
        self._part: str | None = None  # the small field being read
        self._field, self._value, self._buffer = bytearray(), bytearray(), bytearray()
        self._headers: dict[str, bytes] = {}

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._data,
                "on_part_end": self._part_end, "on_end": self._end}

    def _begin(self) -> None:
        self._headers = {}
        self._part = None
        if self._file is not None:  # a part began before the file's ended: the parser never does that
            raise Refused(400, "the upload is not a well-formed multipart form")

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]  # the parser bounds a header line (4 KiB) and a part's headers (8)

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").strip().lower()] = bytes(self._value)
        self._field, self._value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _kind, params = parse_options_header(self._headers.get("content-disposition", b""))
        name = params.get(b"name", b"").decode("latin-1")
        if b"filename" not in params:
            if name in self.fields or name == "file":
                raise Refused(400, f"the form's field {name!r} is sent twice or is not a file")
            self._part, self._buffer = name, bytearray()
            return
        if name != "file" or self.filename is not None:
            raise Refused(400, "the form carries one file, in its field 'file'")
        if self.csrf is not None:
            sent = self.fields.get("csrf")
            if sent is None:
                raise Refused(403, "the form's security token must come before the file; reload the page and "
                                   "try again")
            if not hmac.compare_digest(sent, self.csrf.encode()):
                raise Refused(403, "the form's security token does not match; reload the page and try again")
        self.filename = params[b"filename"].decode("utf-8", errors="replace")
        fd = os.open(self.target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is not None:
            self.size += len(chunk)
            if self.size > self.limit:
                raise Refused(413, f"the file is larger than this service accepts ({self.limit:,} bytes)")
            self._sha.update(chunk)
            self._file.write(chunk)
        elif self._part is not None:
            self._buffer += chunk
            if len(self._buffer) > FIELD_MAX:
                raise Refused(400, f"the form's field {self._part!r} is too long")

    def _part_end(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())  # evidence: on disk before the case says it exists
            self._file.close()
            self._file = None
            self.complete = True
        elif self._part is not None:
            self.fields[self._part] = bytes(self._buffer)
        self._part = None

    def _end(self) -> None:
        self.ended = True

    def text(self, name: str) -> str:
        try:
            return self.fields.get(name, b"").decode("utf-8").strip()
        except UnicodeDecodeError:
            raise Refused(400, f"the form's field {name!r} is not UTF-8 text") from None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def _receive(request: Request, form: UploadForm, limit: int) -> None:
    """Feed the body to the parser as it arrives; the file's writes and hashing run off the event loop."""
    ctype, params = parse_options_header(request.headers.get("content-type"))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise Refused(400, "send the upload form as multipart/form-data")
    received = 0
    try:
        parser = MultipartParser(params[b"boundary"], form.callbacks())  # type: ignore[arg-type]
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise Refused(413, f"the upload is larger than this service accepts ({limit:,} bytes)")
            if chunk:
                await run_in_threadpool(parser.write, chunk)
        parser.finalize()
    except FormParserError:
        raise Refused(400, "the upload is not a well-formed multipart form") from None


def _store(service: Service, queue: JobQueue, caller: Caller, form: UploadForm, title: str,
           dataset: str | None) -> tuple[str, str]:
    """Move the received file into ``uploads/<case_id>/`` read-only; the case and its job commit
    together. Returns the case id and the file's name as shown."""
    name = safe_name(form.filename or "")
    with service.db.connect() as conn:
        for _ in range(20):  # ids carry the second and 20 random bits: a clash is rare, and retried
            cid = new_case_id()
            taken = conn.scalar(sa.select(sa.func.count()).select_from(cases).where(cases.c.id == cid))
            if not taken and not (service.ws.cases_dir / cid).exists() and not (service.uploads_dir / cid).exists():
                break
        else:
            raise HTTPException(503, "no free case id; try again in a second")
    folder = private_dir(service.uploads_dir / cid, exist_ok=False)
    stored = folder / f"{cid}{extension(name) or '.dat'}"
    form.target.chmod(EVIDENCE_MODE)
    os.replace(form.target, stored)
    try:
        with service.db.begin() as conn:
            conn.execute(sa.insert(cases).values(
                id=cid, title=title, owner_id=caller.user.id, dataset=dataset, upload_name=name,
                upload_sha256=form.sha256, upload_size=form.size,
                upload_path=str(stored.relative_to(service.ws.home)), state="queued", created_at=now()))
            queue.enqueue(conn, KIND, cid)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return cid, name


# -- the investigation job ------------------------------------------------------------------------------


def register(queue: JobQueue, service: Service) -> None:
    """Install this module's job handler on the queue."""

    def handle(job: Job, progress: Progress) -> None:
        run_case(service, job.ref, progress)

    queue.handlers[KIND] = handle


def run_case(service: Service, cid: str, progress: Progress | None = None) -> None:
    """Investigate case ``cid``'s upload, or adopt the verdict a worker that died already recorded."""
    with service.db.connect() as conn:
        row = conn.execute(sa.select(cases, users.c.name.label("owner"))
                           .join(users, users.c.id == cases.c.owner_id).where(cases.c.id == cid)).first()
    if row is None:
        raise JejakError(f"case {cid} is not in the service's tables")
    if row.state == "done":
        return
    recorded = service.ws.cases_dir / cid / "verdict.json"
    if recorded.is_file():  # made complete by a worker that died before it could say so
        _done(service, row, report.load_verdict(recorded), adopted=True)
        return
    _set(service, cid, state="running")
    upload = service.ws.home / row.upload_path
    try:
        if _stored_upload(service, row) is None:
            raise JejakError("the case's upload is not in the service's upload folder")
        verdict = investigate(service.ws, upload, dataset=row.dataset, progress=progress, case_id=cid,
                              source_name=row.upload_name)
    except JejakError as exc:
        message = _public(str(exc), service, upload, row.upload_name)
        _set(service, cid, state="failed", error=message)
        raise JejakError(message) from None
    except BaseException as exc:
        _set(service, cid, state="failed",
             error=f"internal error ({type(exc).__name__}); the server log has the details")
        raise
    _done(service, row, verdict.to_json(), adopted=False)


def _stored_upload(service: Service, row: sa.Row[Any]) -> Path | None:
    """The case's upload, if its path lies in the service's upload folder (the column is not trusted)."""
    upload = service.ws.home / row.upload_path
    return upload if upload.resolve().is_relative_to(service.uploads_dir.resolve()) else None


def _retire_upload(service: Service, row: sa.Row[Any], verdict: dict[str, Any]) -> None:
    """Delete the upload once the case holds its evidence copy: two copies of a leak on the server
    are one too many. Only when the copy's hash is the upload's, read when it arrived; otherwise
    the upload stays, and the log says so (without the file's name)."""
    ev = verdict.get("evidence") or {}
    copy = service.ws.cases_dir / row.id / str(ev.get("copy") or "")
    if not (ev.get("sha256") == row.upload_sha256 and ev.get("copy") and copy.is_file()):
        log.warning("case %s: the evidence copy does not match the upload; the upload is kept", row.id)
        return
    upload = _stored_upload(service, row)
    if upload is not None:
        upload.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            upload.parent.rmdir()


def _done(service: Service, row: sa.Row[Any], verdict: dict[str, Any], *, adopted: bool) -> None:
    ev = verdict.get("evidence") or {}
    detail: dict[str, Any] = {"file": row.upload_name, "sha256": ev.get("sha256"), "rows": ev.get("rows"),
                              "dataset": verdict.get("dataset")}
    if adopted:  # the worker that made it may or may not have recorded it: say which entry this is
        detail["adopted"] = True
    # The investigation is the uploader's act, done for them by the worker: recorded in their name.
    service.record(row.owner, "investigate", row.id, detail)
    # The summary's first line describes the file; the second says whether it is ours and how much.
    summary = verdict.get("summary") or [""]
    _set(service, row.id, state="done", headline=str(summary[1 if len(summary) > 1 else 0])[:2000], error=None)
    _retire_upload(service, row, verdict)


def _set(service: Service, cid: str, **values: Any) -> None:
    with service.db.begin() as conn:
        conn.execute(sa.update(cases).where(cases.c.id == cid).values(**values))


def _public(message: str, service: Service, upload: Path, name: str) -> str:
    """An error as a page may show it: the upload named as its uploader knows it, no server paths."""
    message = message.replace(str(upload), name)
    return message.replace(str(service.ws.home), "<workspace>")[:2000]


# -- pages ----------------------------------------------------------------------------------------------


@router.get("/cases", response_class=HTMLResponse)
def list_cases(request: Request, caller: Annotated[Caller, Depends(guard("cases.list"))]) -> Response:
    with web.svc(request).db.connect() as conn:
        rows = conn.execute(
            sa.select(cases.c.id, cases.c.title, cases.c.state, cases.c.headline, cases.c.created_at,
                      cases.c.upload_name, users.c.name.label("owner"), jobs.c.state.label("job_state"))
            .join(users, users.c.id == cases.c.owner_id)
            .outerjoin(jobs, sa.and_(jobs.c.kind == KIND, jobs.c.ref == cases.c.id))
            .where(_readable(caller, now())).order_by(cases.c.created_at.desc(), cases.c.id.desc())).all()
    return render(request, "cases/list.html", caller, rows=rows, state=_state)


@router.get("/cases/new", response_class=HTMLResponse)
def new_case(request: Request, caller: Annotated[Caller, Depends(guard("cases.new"))]) -> Response:
    return render(request, "cases/new.html", caller, max_upload=web.svc(request).settings.max_upload)


@router.post("/cases")
async def create_case(request: Request, caller: Annotated[Caller, Depends(guard("cases.create"))]) -> Response:
    service = web.svc(request)
    limit = service.settings.max_upload
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise HTTPException(413, f"the upload is larger than this service accepts ({limit:,} bytes)")
    # A browser that sent the token as a header has passed the guard's check; a form sends it as a field.
    csrf = caller.csrf if request.headers.get("x-csrf-token") is None else None
    with service.ws.tmpdir("upload-") as tmp:
        form = UploadForm(tmp / "upload", csrf, limit)
        try:
            await _receive(request, form, limit + FORM_OVERHEAD)
            if csrf is not None and not hmac.compare_digest(form.fields.get("csrf", b""), csrf.encode()):
                raise Refused(403, "the form's security token is missing; reload the page and try again")
            if not form.ended or (form.filename is not None and not form.complete):
                raise Refused(400, "the upload was cut off before its end")
            if form.filename is None or form.size == 0:
                raise Refused(400, "choose a file to upload (an empty file holds nothing to investigate)")
            title, dataset = form.text("title"), form.text("dataset") or None
            if not title or len(title) > TITLE_MAX or not title.isprintable():
                raise Refused(400, f"give the case a title of 1-{TITLE_MAX} characters")
            if dataset is not None and not _DATASET.fullmatch(dataset):
                raise Refused(400, "a dataset name is lower-case letters, digits and '_', starting with a letter")
        except Refused as exc:
            raise HTTPException(exc.status, exc.message) from None
        finally:
            form.close()
        cid, name = _store(service, request.app.state.queue, caller, form, title, dataset)
    service.record(caller.user.name, "case.upload", cid, {"file": name, "sha256": form.sha256, "size": form.size})
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"case_id": cid, "sha256": form.sha256, "size": form.size, "state": "queued"},
                            status_code=201, headers={"Location": f"/cases/{cid}"})
    return redirect(f"/cases/{cid}")


def _progress(row: sa.Row[Any], job: dict[str, Any] | None) -> dict[str, Any]:
    state = _state(row.state, job["state"] if job else None)
    total = len(STAGES)
    if state == "done":
        return {"state": state, "stage": "done", "done": total, "total": total}
    stage = (job or {}).get("stage")
    done = int((job or {}).get("done") or 0)
    return {"state": state, "stage": stage, "done": min(done, total), "total": total}


@router.get("/cases/{cid}", response_class=HTMLResponse)
def show_case(request: Request, cid: str, caller: Annotated[Caller, Depends(guard("cases.show"))],
                    lang: str = "id") -> Response:
    service = web.svc(request)
    row = _case(request, caller, cid)
    lang = _lang(lang)
    state = _state(row.state, row.job_state)
    ctx: dict[str, Any] = {"case_row": row, "case_state": state, "stages": STAGES, "report_lang": lang,
                           "langs": LANGS, "access_rows": _access_rows(service, cid, caller),
                           "is_owner": row.owner_id == caller.user.id}
    if state != "done":
        # The progress page shows only the stage: no finding of the case, so it is not a read.
        progress = _progress(row, request.app.state.queue.status(KIND, cid))
        error = row.error or row.job_error
        return render(request, "cases/show.html", caller, progress=progress, error=error, **ctx)
    verdict = _verdict(service, row)
    template, content = REPORT_CONTENT
    service.record(caller.user.name, "case.read", cid, {"what": "verdict page", "lang": lang})
    return render(request, "cases/show.html", caller, progress=None, error=None, verdict=verdict,
                  report_template=template, **content(verdict, lang), **ctx)


@router.get("/cases/{cid}/progress")
def case_progress(request: Request, cid: str,
                        caller: Annotated[Caller, Depends(guard("cases.progress"))]) -> Response:
    row = _case(request, caller, cid)
    return JSONResponse(_progress(row, request.app.state.queue.status(KIND, cid)))


@router.get("/cases/{cid}/report.html")
def case_report(request: Request, cid: str, caller: Annotated[Caller, Depends(guard("cases.report"))],
                      lang: str = "id") -> Response:
    service = web.svc(request)
    row = _case(request, caller, cid)
    lang = _lang(lang)
    page = report.render_html(_verdict(service, row), lang)
    service.record(caller.user.name, "case.read", cid, {"what": "report.html", "lang": lang})
    return HTMLResponse(page, headers={
        # The report's own policy (no script at all), plus what the service adds to every page.
        "Content-Security-Policy": f"{report.CSP}; frame-ancestors 'none'",
        "Content-Disposition": f'attachment; filename="report_{cid}_{lang}.html"'})


@router.get("/cases/{cid}/report.pdf")
async def case_pdf(request: Request, cid: str, caller: Annotated[Caller, Depends(guard("cases.pdf"))],
                   lang: str = "id") -> Response:
    from jejak.browser import BrowserError, find_chromium

    service = web.svc(request)
    row = _case(request, caller, cid)
    lang = _lang(lang)
    verdict = _verdict(service, row)
    if find_chromium() is None:
        return render(request, "error.html", caller, status=503, status_code=503,
                      message="The PDF is printed by headless Chromium, which is not installed on this server "
                              "(apt-get install -y chromium). The HTML report works without it.")
    tmp = owned_tempdir(service.ws.tmp_root, "pdf-")
    try:
        page = write_private(tmp / f"report_{cid}_{lang}.html", report.render_html(verdict, lang))
        pdf = await run_in_threadpool(report.render_pdf, page, tmp / f"report_{cid}_{lang}.pdf")
    except BrowserError:
        remove_owned_dir(tmp)
        log.exception("printing the report of case %s failed", cid)
        return render(request, "error.html", caller, status=503, status_code=503,
                      message="Chromium could not print the report just now; the server log has the details. "
                              "The HTML report works without it.")
    except BaseException:
        remove_owned_dir(tmp)
        raise
    service.record(caller.user.name, "case.read", cid, {"what": "report.pdf", "lang": lang})
    return FileResponse(pdf, media_type="application/pdf", filename=pdf.name,
                        background=BackgroundTask(remove_owned_dir, tmp))


@router.get("/cases/{cid}/verdict.json")
def case_verdict(request: Request, cid: str,
                       caller: Annotated[Caller, Depends(guard("cases.verdict"))]) -> Response:
    service = web.svc(request)
    row = _case(request, caller, cid)
    _verdict(service, row)
    service.record(caller.user.name, "case.read", cid, {"what": "verdict.json"})
    return FileResponse(service.ws.cases_dir / cid / "verdict.json", media_type="application/json",
                        filename=f"verdict_{cid}.json")


@router.post("/cases/{cid}/notify")
async def case_notify(request: Request, cid: str,
                      caller: Annotated[Caller, Depends(guard("cases.notify"))]) -> Response:
    from jejak.notify import prepare_pack

    service = web.svc(request)
    data = await web.form(request)
    row = _case(request, caller, cid)
    _verdict(service, row)
    lang = _lang(data.get("lang", "id"))
    discovered = data.get("discovered", "").strip()[:64]
    if not discovered:
        raise HTTPException(400, "give the date and time the leak was discovered")
    controller = " ".join(data.get("controller", "").split())[:200] or "Pengendali Data"
    # The pack stays in the case folder, as the CLI leaves it: the record of what was prepared.
    out = service.ws.cases_dir / cid / f"notify-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    pack = await run_in_threadpool(lambda: prepare_pack(service.ws, cid, discovered, out=out, lang=lang,
                                                        controller=controller))
    service.record(caller.user.name, "notify", cid, {
        "due": pack.deadline.due.isoformat(), "subjects": pack.counts.subjects, "review": pack.counts.review,
        "files": sorted(p.name for p in pack.files.values())})
    tmp = owned_tempdir(service.ws.tmp_root, "pack-")
    try:
        archive = tmp / f"notify_{cid}.zip"
        await run_in_threadpool(_zip_folder, pack.directory, archive, f"notify_{cid}")
    except BaseException:
        remove_owned_dir(tmp)
        raise
    return FileResponse(archive, media_type="application/zip", filename=archive.name,
                        background=BackgroundTask(remove_owned_dir, tmp))


def _zip_folder(folder: Path, archive: Path, root: str) -> None:
    fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # the subject list is in it
    with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, f"{root}/{path.relative_to(folder).as_posix()}")


# -- sharing a case -------------------------------------------------------------------------------------


def _access_rows(service: Service, cid: str, caller: Caller) -> list[Any]:
    """Who else reads the case; shown to the organisation's own staff, not to an external."""
    if caller.role == EXTERNAL:
        return []
    with service.db.connect() as conn:
        return list(conn.execute(
            sa.select(users.c.name, users.c.role, case_access.c.kind, case_access.c.until, case_access.c.granted_at)
            .join(users, users.c.id == case_access.c.user_id).where(case_access.c.case_id == cid)
            .order_by(case_access.c.kind, users.c.name)).all())


def _owned(request: Request, caller: Caller, cid: str) -> sa.Row[Any]:
    row = _case(request, caller, cid)
    if row.owner_id != caller.user.id:
        raise HTTPException(403, "only the case's owner may share it")
    return row


def _share(service: Service, cid: str, user: auth.User, kind: str, until: datetime | None, by: Caller) -> None:
    with service.db.begin() as conn:
        conn.execute(sa.delete(case_access).where(case_access.c.case_id == cid, case_access.c.user_id == user.id))
        conn.execute(sa.insert(case_access).values(case_id=cid, user_id=user.id, kind=kind, until=until,
                                                   granted_by=by.user.id, granted_at=now()))


def _named(service: Service, data: dict[str, str]) -> auth.User | None:
    """The account named in the form's ``user`` field, if there is one."""
    return auth.user_by_name(service.db, data.get("user", "").strip()[:64])


def _account(service: Service, data: dict[str, str], role: str, refusal: str) -> auth.User:
    """The active account of ``role`` named in the form's ``user`` field, else 400 with ``refusal``."""
    target = _named(service, data)
    if target is None or target.role != role or not target.active:
        raise HTTPException(400, refusal)
    return target


@router.post("/cases/{cid}/assign")
async def case_assign(request: Request, cid: str,
                      caller: Annotated[Caller, Depends(guard("cases.assign"))]) -> Response:
    service = web.svc(request)
    data = await web.form(request)
    _owned(request, caller, cid)
    target = _account(service, data, INVESTIGATOR,
                      "a case is assigned to an active investigator's account; there is none by that name")
    if target.id == caller.user.id:
        raise HTTPException(400, "the case is already yours")
    _share(service, cid, target, "assigned", None, caller)
    service.record(caller.user.name, "case.assign", cid, {"user": target.name})
    return redirect(f"/cases/{cid}")


@router.post("/cases/{cid}/grant")
async def case_grant(request: Request, cid: str,
                     caller: Annotated[Caller, Depends(guard("cases.grant"))]) -> Response:
    service = web.svc(request)
    data = await web.form(request)
    _owned(request, caller, cid)
    target = _account(service, data, EXTERNAL,
                      "a case is granted to an active external account; there is none by that name")
    try:
        last = date.fromisoformat(data.get("until", "").strip())
    except ValueError:
        raise HTTPException(400, "give the last day of the grant as YYYY-MM-DD") from None
    today = datetime.now(UTC).date()
    if not today <= last <= today + timedelta(days=GRANT_MAX_DAYS):
        raise HTTPException(400, f"a grant ends between today and {GRANT_MAX_DAYS} days from now")
    # Through the whole of its last day (UTC): access ends at the midnight after it.
    until = datetime.combine(last + timedelta(days=1), time(0), UTC)
    _share(service, cid, target, "granted", until, caller)
    service.record(caller.user.name, "case.grant", cid, {"user": target.name, "until": last.isoformat()})
    return redirect(f"/cases/{cid}")


@router.post("/cases/{cid}/revoke")
async def case_revoke(request: Request, cid: str,
                      caller: Annotated[Caller, Depends(guard("cases.revoke"))]) -> Response:
    """End an assignment or a grant now, before its date: a contract ended early, a colleague moved."""
    service = web.svc(request)
    data = await web.form(request)
    _owned(request, caller, cid)
    target = _named(service, data)
    gone: Sequence[sa.Row[Any]] = ()
    if target is not None:
        with service.db.begin() as conn:
            gone = conn.execute(sa.delete(case_access).where(case_access.c.case_id == cid,
                                                             case_access.c.user_id == target.id)
                                .returning(case_access.c.kind)).all()
    if target is None or not gone:
        raise HTTPException(400, "that account has no assignment or grant on this case")
    service.record(caller.user.name, "case.revoke", cid, {"user": target.name, "was": gone[0].kind})
    return redirect(f"/cases/{cid}")


# -- the verdict page's content -------------------------------------------------------------------------

# The template that draws the report's content on the verdict page, and the function that gives it
# its context: the offline report's own sections, so the page and report.html never differ.
REPORT_CONTENT: tuple[str, Callable[[dict[str, Any], str], dict[str, Any]]] = ("report/_content.html",
                                                                              report.report_context)
