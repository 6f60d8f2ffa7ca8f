"""Release requests: the only door data leaves the service by.

A requester asks for a release (dataset, columns, filter, recipient, purpose, as-of date, format);
the request is checked at once, with the library's own functions, so an approver never approves
something the library would refuse. An approver — never the requester: four eyes — approves or
rejects it, once. The approval and the job that makes the release commit in one transaction; the
job calls :func:`jejak.release.create_release` and writes the same ledger entry and the same
``release.create`` audit entry as ``jejak release create``. The requester then downloads the file
once, through a link that expires and is used once; the server copy is deleted when the last byte
has gone (``jejak release reproduce`` rebuilds it byte for byte from registry, ledger and master
secret). A download that drops midway does not use the release up: it is audited with the bytes
that left, and the requester makes a new link for the same file.

A filter may quote a person's key (``NIK = '3201…'``): its text is shown to the requester and the
approvers only, and never written to the audit log, a server log or an error message.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
import traceback
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from jejak.errors import JejakError
from jejak.export import FORMATS
from jejak.files import private_dir, private_file
from jejak.registry import DatasetInfo, Registry
from jejak.release import ReleaseRequest, audit_detail, create_release
from jejak.service import access, auth, web
from jejak.service.core import Service
from jejak.service.db import aware, now, requests, users
from jejak.service.jobs import Job, JobQueue, Progress
from jejak.service.web import Caller, guard, redirect, render
from jejak.where import FilterError, columns_match, compile_filter

log = logging.getLogger(__name__)
router = APIRouter()

PENDING, APPROVED, REJECTED, READY, DOWNLOADED, FAILED = (
    "pending", "approved", "rejected", "ready", "downloaded", "failed")
JOB_KIND = "release"
MAX_FILTER = 2000  # characters; a filter longer than this is a list of people, not a selection
MAX_PURPOSE = 1000
MAX_NOTE = 1000
REGISTRY_WAIT = 5.0  # seconds a page waits for a registry an import holds, then says so
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
NOT_FOUND = "no such request"  # the same for an id that exists but is not yours: ids are not probed
CHUNK = 1 << 20  # bytes per piece of a download
#: A running download holds the request for this long, and renews the hold while it sends; a
#: download whose server died lets go when the hold lapses (``link_expires`` is the hold).
DOWNLOAD_LEASE = timedelta(minutes=5)
_GONE = ("This release has already been downloaded: a release is downloaded once. Ask for a new request if "
         "the file is needed again.")


# -- checking a request ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """The form as its author typed it (shown back to them, and only them, when something is wrong)."""

    dataset: str = ""
    picked: tuple[str, ...] = ()  # ticked columns of the chosen dataset
    typed_columns: str = ""  # the comma-separated list
    filter: str = ""
    whole: bool = False  # "every row and column", the CLI's --all
    recipient: str = ""
    purpose: str = ""
    as_of: str = ""
    format: str = "csv"


@dataclass(frozen=True)
class Checked:
    """A request the library will accept: names resolved to the dataset's spelling."""

    dataset: str
    columns: list[str] | None  # None: every column
    filter: str | None
    recipient: str
    purpose: str
    as_of: date | None  # None: the newest snapshot when the release is made
    format: str
    width: int  # how many columns the release holds


@dataclass
class _Problems:
    messages: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.messages.append(message)


def check(draft: Draft, datasets: Mapping[str, DatasetInfo], recipients: Sequence[str]) -> tuple[
        Checked | None, list[str]]:
    """The request ``draft`` describes, or the reasons it cannot be made (every one, not the first).

    The rules are the library's: the column and filter checks are its functions, the as-of date
    must lie within the snapshots as :func:`create_release` demands, and the whole dataset must be
    asked for explicitly, like ``--all``. Whether the selection holds any row is left to the job:
    counting it scans the registry, and a web request should not.
    """
    problems = _Problems()
    purpose = draft.purpose.strip()
    if not purpose:
        problems.add("The purpose is required: the ledger records why the recipient receives the data.")
    elif len(purpose) > MAX_PURPOSE:
        problems.add(f"The purpose is longer than {MAX_PURPOSE} characters.")
    if draft.format not in FORMATS:
        problems.add(f"Choose a format: {', '.join(FORMATS)}.")
    if draft.recipient not in recipients:
        problems.add("Choose a recipient from the list (an admin adds recipients).")
    where = draft.filter.strip() or None
    requested = [*draft.picked, *(c.strip() for c in draft.typed_columns.split(",") if c.strip())]
    if not (requested or where or draft.whole):
        # The whole registry is the costliest release to lose: it must be asked for, not defaulted to.
        problems.add("Choose columns and/or give a filter, or tick 'every row and column' to ask for the "
                     "whole dataset.")
    info = datasets.get(draft.dataset)
    if info is None:
        problems.add("Choose a dataset from the list.")
        return None, problems.messages
    columns = _columns(requested, info, problems) if requested else None
    if where is not None:
        _check_filter(where, info, problems)
    as_of = _as_of(draft.as_of, info, problems)
    if problems.messages:
        return None, problems.messages
    return Checked(dataset=info.name, columns=columns, filter=where, recipient=draft.recipient, purpose=purpose,
                   as_of=as_of, format=draft.format, width=len(columns or info.columns)), []


def _columns(requested: list[str], info: DatasetInfo, problems: _Problems) -> list[str]:
    """The library's resolution (exact name, else case-insensitive; repeats dropped)."""
    known = {c.lower(): c for c in info.columns}
    chosen: list[str] = []
    unknown: list[str] = []
    for name in requested:
        real = columns_match(name, known)
        if real is None:
            unknown.append(name)
        elif real not in chosen:
            chosen.append(real)
    if unknown:
        # Column names are the dataset's schema, not a person's data; the author typed them.
        problems.add(f"{info.name} has no column {', '.join(repr(u[:64]) for u in unknown[:5])}; "
                     f"its columns are {', '.join(info.columns)}.")
    return chosen


def _check_filter(where: str, info: DatasetInfo, problems: _Problems) -> None:
    if len(where) > MAX_FILTER:
        problems.add(f"The filter is longer than {MAX_FILTER} characters.")
        return
    try:
        compile_filter(where, info.columns)
    except FilterError as exc:
        problems.add(scrub(str(exc), where, info.columns))
    except Exception:  # anything else sqlglot raises: its messages may quote the filter, so none is shown
        problems.add("The filter is not a valid expression.")


def _as_of(text: str, info: DatasetInfo, problems: _Problems) -> date | None:
    if not text.strip():
        return None
    try:
        as_of = date.fromisoformat(text.strip())
    except ValueError:
        problems.add("The as-of date must be a date (YYYY-MM-DD), or empty for the newest snapshot.")
        return None
    first, newest = info.snapshots[0], info.snapshots[-1]
    if as_of < first:
        problems.add(f"The as-of date is before the first snapshot of {info.name} ({first}).")
    elif as_of > newest:
        # As in create_release: a later snapshot dated before it would change what the release held.
        problems.add(f"The as-of date is after the newest snapshot of {info.name} ({newest}); leave it empty "
                     "to release the newest.")
    return as_of


_QUOTED = re.compile(r"'[^']*'?|\"[^\"]*\"?")
_DIGITS = re.compile(r"[\w.+@-]*\d[\w.+@-]*")


def scrub(message: str, typed: str, columns: Sequence[str]) -> str:
    """A library message about the filter ``typed``, fit for a page: the form's words instead of the
    CLI's flags, and nothing the filter quotes (a value such as a NIK) except a column name.

    The library names the column it did not find; a user who writes ``NIK = "3201…"`` (double
    quotes make an identifier) would see the NIK quoted back, in a message that may be logged.
    """
    msg = message.replace("--where", "the filter")
    msg = msg[:1].upper() + msg[1:]
    names = {c.lower() for c in columns}
    values = {m.group(0).strip("'\"") for m in _QUOTED.finditer(typed)}
    values |= {m.group(0) for m in _DIGITS.finditer(_QUOTED.sub(" ", typed))}
    # Shorter values (a sex 'L', a province '31') identify no one, and would match inside words.
    for value in sorted((v for v in values if len(v) >= 3 and v.lower() not in names), key=len, reverse=True):
        msg = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", "…", msg, flags=re.IGNORECASE)
    return msg if msg.endswith(".") else msg + "."


# -- pages -------------------------------------------------------------------------------------------


_CATALOGUE: dict[Path, tuple[tuple[int, ...], dict[str, DatasetInfo]]] = {}


def _catalogue(service: Service) -> dict[str, DatasetInfo]:
    """The registry's datasets (read-only: releases and investigations read beside it).

    Kept until the registry's files change: opening DuckDB for every form costs more than the
    page, and only an import (which rewrites the files) changes the answer."""
    path = service.ws.registry_path
    stamp = tuple(x for p in (path, path.with_name(path.name + ".wal")) for x in _stat(p))
    cached = _CATALOGUE.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with Registry(path, read_only=True, lock_timeout=REGISTRY_WAIT) as reg:
        found = {info.name: info for info in reg.datasets()}
    _CATALOGUE[path] = (stamp, found)
    return found


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def _form_page(request: Request, caller: Caller, datasets: Mapping[str, DatasetInfo], recipients: Sequence[str],
               draft: Draft, problems: Sequence[str], status: int = 200) -> HTMLResponse:
    return render(request, "requests/new.html", caller, status=status, datasets=list(datasets.values()),
                  recipients=recipients, draft=draft, problems=problems, formats=FORMATS)


def _draft(form: Any) -> Draft:
    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    dataset = text("dataset").strip()
    picked = tuple(v for v in form.getlist(f"cols_{dataset}") if isinstance(v, str)) if dataset else ()
    return Draft(dataset=dataset, picked=picked, typed_columns=text("columns"), filter=text("filter"),
                 whole=text("all") == "1", recipient=text("recipient"), purpose=text("purpose"),
                 as_of=text("as_of"), format=text("format") or "csv")


def _requests_query() -> sa.Select[Any]:
    requester, decider = users.alias("requester"), users.alias("decider")
    return (sa.select(requests, requester.c.name.label("requester"), decider.c.name.label("decider"))
            .join(requester, requester.c.id == requests.c.requester_id)
            .outerjoin(decider, decider.c.id == requests.c.decided_by))


def _visible(service: Service, rid: str, caller: Caller) -> Any:
    """The request, if ``caller`` may see it: approvers all, a requester their own; else 404."""
    with service.db.connect() as conn:
        row = conn.execute(_requests_query().where(requests.c.id == rid)).first()
    if row is None or (caller.role != access.APPROVER and row.requester_id != caller.user.id):
        raise HTTPException(404, NOT_FOUND)
    return row


@router.get("/requests", response_class=HTMLResponse)
def list_requests(request: Request, caller: Annotated[Caller, Depends(guard("requests.list"))]) -> Response:
    query = _requests_query()
    if caller.role == access.APPROVER:  # what waits for a decision first
        query = query.order_by(sa.case((requests.c.state == PENDING, 0), else_=1), requests.c.created_at.desc())
    else:
        query = query.where(requests.c.requester_id == caller.user.id).order_by(requests.c.created_at.desc())
    with web.svc(request).db.connect() as conn:
        rows = conn.execute(query).all()
    return render(request, "requests/list.html", caller, rows=rows, approver=caller.role == access.APPROVER)


@router.get("/requests/new", response_class=HTMLResponse)
async def new_request(request: Request, caller: Annotated[Caller, Depends(guard("requests.new"))]) -> Response:
    service = web.svc(request)
    datasets = await run_in_threadpool(_catalogue, service)
    recipients = [r.name for r in service.ledger.recipients()]
    return _form_page(request, caller, datasets, recipients, Draft(), [])


@router.post("/requests", response_class=HTMLResponse)
async def create_request(request: Request,
                         caller: Annotated[Caller, Depends(guard("requests.create"))]) -> Response:
    service = web.svc(request)
    draft = _draft(await request.form())
    datasets = await run_in_threadpool(_catalogue, service)
    recipients = [r.name for r in service.ledger.recipients()]
    checked, problems = check(draft, datasets, recipients)
    if checked is None:
        return _form_page(request, caller, datasets, recipients, draft, problems, status=400)
    rid = new_request_id()
    with service.db.begin() as conn:
        conn.execute(sa.insert(requests).values(
            id=rid, requester_id=caller.user.id, dataset=checked.dataset, columns=checked.columns,
            filter=checked.filter, recipient=checked.recipient, purpose=checked.purpose, as_of=checked.as_of,
            format=checked.format, state=PENDING, created_at=now()))
    # Counts and names only: the filter's text may quote a person's key, the purpose is free text.
    service.record(caller.user.name, "request.create", rid, {
        "dataset": checked.dataset, "recipient": checked.recipient, "columns": checked.width,
        "filtered": checked.filter is not None, "format": checked.format,
        "as_of": checked.as_of.isoformat() if checked.as_of else None})
    return redirect(f"/requests/{rid}")


def new_request_id() -> str:
    """``Q-YYYYMMDD-`` and 50 random bits: unguessable, though every route checks the owner anyway."""
    return f"Q-{now():%Y%m%d}-" + "".join(secrets.choice(_CROCKFORD) for _ in range(10))


@router.get("/requests/{rid}", response_class=HTMLResponse)
def show_request(request: Request, rid: str,
                       caller: Annotated[Caller, Depends(guard("requests.show"))]) -> Response:
    row = _visible(web.svc(request), rid, caller)
    job = request.app.state.queue.status(JOB_KIND, rid)
    return render(request, "requests/show.html", caller, r=row, job=job, own=row.requester_id == caller.user.id,
                  approver=caller.role == access.APPROVER)


@router.post("/requests/{rid}/approve")
async def approve_request(request: Request, rid: str,
                          caller: Annotated[Caller, Depends(guard("requests.approve"))]) -> Response:
    return await _decide(request, rid, caller, APPROVED)


@router.post("/requests/{rid}/reject")
async def reject_request(request: Request, rid: str,
                         caller: Annotated[Caller, Depends(guard("requests.reject"))]) -> Response:
    return await _decide(request, rid, caller, REJECTED)


async def _decide(request: Request, rid: str, caller: Caller, state: str) -> Response:
    service = web.svc(request)
    note = (await web.form(request)).get("note", "").strip()[:MAX_NOTE] or None
    with service.db.begin() as conn:
        row = conn.execute(sa.select(requests.c.requester_id, requests.c.state, users.c.name)
                           .join(users, users.c.id == requests.c.requester_id).where(requests.c.id == rid)).first()
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        if row.requester_id == caller.user.id:
            # By account, not by role: an account that asked as a requester and is an approver now
            # still may not decide its own request.
            raise HTTPException(403, "You made this request: another approver must decide it (four eyes).")
        # Conditional: of two approvers deciding at once, one wins and the other is told.
        done = conn.execute(sa.update(requests).where(
            requests.c.id == rid, requests.c.state == PENDING, requests.c.requester_id != caller.user.id,
        ).values(state=state, decided_by=caller.user.id, decided_at=now(), note=note))
        if done.rowcount != 1:
            raise HTTPException(409, "This request has already been decided: a request is decided once.")
        if state == APPROVED:
            request.app.state.queue.enqueue(conn, JOB_KIND, rid)  # commits with the approval, or neither does
    # The note is free text and stays in the request, not in the log.
    service.record(caller.user.name, "request.approve" if state == APPROVED else "request.reject", rid,
                   {"requester": row.name, "note": note is not None})
    return redirect(f"/requests/{rid}")


# -- the one-time download ---------------------------------------------------------------------------


@router.post("/requests/{rid}/link")
def make_link(request: Request, rid: str,
                    caller: Annotated[Caller, Depends(guard("requests.link"))]) -> Response:
    service = web.svc(request)
    row = _visible(service, rid, caller)
    if row.requester_id != caller.user.id:  # only the requester downloads, whatever the role matrix grows to
        raise HTTPException(404, NOT_FOUND)
    if row.state == DOWNLOADED:
        raise HTTPException(410, _GONE)
    if row.state != READY:
        raise HTTPException(409, f"The release is not ready to download (the request is {row.state}).")
    token = secrets.token_urlsafe(32)
    t = now()
    expires = t + timedelta(minutes=service.settings.link_minutes)
    with service.db.begin() as conn:
        # Only the token's hash is kept: a copy of the database downloads nothing. A new link
        # replaces the previous one, but never while a download holds the request: one copy at a time.
        made = conn.execute(sa.update(requests).where(
            requests.c.id == rid, requests.c.state == READY,
            sa.or_(requests.c.downloaded_at.is_(None), requests.c.link_expires <= t),
        ).values(link_hash=auth.digest(token), link_expires=expires, downloaded_at=None, downloaded_from=None))
    if made.rowcount != 1:
        raise HTTPException(409, "A download of this release is under way; if it broke off, a new link can be "
                                 f"made within {DOWNLOAD_LEASE.seconds // 60} minutes.")
    service.record(caller.user.name, "request.link", rid, {"expires": expires.isoformat(timespec="seconds")})
    return redirect(f"/requests/{rid}/download/{token}")


@router.get("/requests/{rid}/download/{token}")
def download(request: Request, rid: str, token: str,
                   caller: Annotated[Caller, Depends(guard("requests.download"))]) -> Response:
    service = web.svc(request)
    with service.db.connect() as conn:
        row = conn.execute(sa.select(requests).where(requests.c.id == rid)).first()
    if row is None or row.requester_id != caller.user.id:
        raise HTTPException(404, NOT_FOUND)
    if row.state == DOWNLOADED:
        raise HTTPException(410, _GONE)
    sent = auth.digest(token[:128])
    if row.state == READY and row.link_hash is None and row.downloaded_at is not None:
        raise HTTPException(410, "This download link has been used; a download of this release is under way.")
    if row.state != READY or row.link_hash is None or not hmac.compare_digest(row.link_hash.encode(), sent.encode()):
        raise HTTPException(404, "This download link is not valid; make a new one on the request's page.")
    t = now()
    expires = aware(row.link_expires)
    if expires is None or expires <= t:
        raise HTTPException(410, "This download link has expired; make a new one on the request's page.")
    path = _stored(service, row.file)
    try:
        handle: BinaryIO = path.open("rb")
    except OSError:
        raise HTTPException(410, "The release file is no longer on the server; an operator can rebuild it with "
                                 "'jejak release reproduce'.") from None
    client = web.client(request)[:64]
    delivery = _Delivery(service, rid, t, path, caller.user.name, row.release_id or rid)
    try:
        with service.db.begin() as conn:
            # Starting is using the link: of two requests with the same link, one changes the row.
            taken = conn.execute(sa.update(requests).where(
                requests.c.id == rid, requests.c.state == READY, requests.c.link_hash == row.link_hash,
                requests.c.link_expires > t,
            ).values(downloaded_at=t, downloaded_from=client, link_hash=None, link_expires=t + DOWNLOAD_LEASE))
            if taken.rowcount != 1:
                raise HTTPException(410, "This download link has been used; a download of this release is under way.")
        try:
            delivery.size = os.fstat(handle.fileno()).st_size
            sha = service.ledger.release(row.release_id).file_sha256 if row.release_id else None
            # Audited as the bytes start to leave: a server that dies midway must not hide the attempt.
            service.record(caller.user.name, "release.download", delivery.target, {
                "request": rid, "from": client, "file": path.name, "sha256": sha, "bytes": delivery.size})
        except BaseException:
            delivery.let_go()
            raise
    except BaseException:
        handle.close()
        raise
    return _DeliveryResponse(delivery, handle, media_type=MEDIA_TYPES.get(row.format, "application/octet-stream"),
                             headers={"Content-Disposition": f'attachment; filename="{_safe_name(path.name)}"',
                                      "Content-Length": str(delivery.size)})


class _Stop(Exception):
    """The request is no longer this download's (its hold lapsed and another took it): stop sending."""


@dataclass
class _Delivery:
    """One download: its hold on the request, and what its end means.

    The request becomes ``downloaded`` just before the last piece is sent, so nothing that fails
    after the whole file has gone can leave it downloadable again. A stream that stops before
    that (the client went away, the connection broke) lets go of the request, which stays ready
    for a new link, and is audited with the bytes sent. While it runs it renews its hold, and it
    stops at once if the hold was lost, so two downloads never run to the end.
    """

    service: Service
    rid: str
    started: datetime  # the attempt's downloaded_at: what makes the request's row this attempt's
    path: Path
    user: str
    target: str
    size: int = 0
    sent: int = 0
    delivered: bool = False
    renewed: float = field(default_factory=time.monotonic)

    def _mine(self) -> Any:
        return sa.and_(requests.c.id == self.rid, requests.c.state == READY,
                       requests.c.downloaded_at == self.started)

    def _update(self, **values: Any) -> bool:
        with self.service.db.begin() as conn:
            return conn.execute(sa.update(requests).where(self._mine()).values(**values)).rowcount == 1

    async def chunks(self, handle: BinaryIO) -> AsyncGenerator[bytes, None]:
        with handle:
            piece = await run_in_threadpool(handle.read, CHUNK)
            while piece:
                following = await run_in_threadpool(handle.read, CHUNK)
                if not following:
                    # The last piece: all of it but its final byte goes first, then the request
                    # becomes downloaded, then that byte. A download that breaks off earlier, even
                    # of a file smaller than a piece, leaves the release for a new link.
                    if len(piece) > 1:
                        yield piece[:-1]
                        self.sent += len(piece) - 1
                        piece = piece[-1:]
                    # Shielded: a client leaving now must not cancel the wait for an update that
                    # the database makes anyway, leaving it downloaded with the file still here.
                    with anyio.CancelScope(shield=True):
                        self.delivered = await run_in_threadpool(self._update, state=DOWNLOADED)
                    if not self.delivered:
                        raise _Stop
                else:
                    await self._renew()
                yield piece  # resumes once the server has taken the piece
                self.sent += len(piece)
                piece = following

    async def _renew(self) -> None:
        """Renew the hold a third of the way through it; stop once it is lost or has lapsed (a
        database that fails one renewal is tried again at the next piece)."""
        held = time.monotonic() - self.renewed
        if held <= DOWNLOAD_LEASE.total_seconds() / 3:
            return
        try:
            kept: bool | None = await run_in_threadpool(self._update, link_expires=now() + DOWNLOAD_LEASE)
        except SQLAlchemyError:
            kept = None
        if kept is False or (kept is None and held >= DOWNLOAD_LEASE.total_seconds()):
            raise _Stop
        if kept:
            self.renewed = time.monotonic()

    def let_go(self) -> None:
        """The download did not finish: the request is ready for a new link at once."""
        self._update(downloaded_at=None, downloaded_from=None, link_expires=None)

    def end(self) -> None:
        """After the response, whichever way it ended: delete the delivered file, or let go."""
        if self.delivered:
            # Gone once delivered: no copy waits on disk for a link that can no longer be made.
            _discard(self.path)
            return
        self.let_go()
        self.service.record(self.user, "release.download.dropped", self.target,
                            {"request": self.rid, "bytes_sent": self.sent, "bytes": self.size})


class _DeliveryResponse(StreamingResponse):
    """The download's response, which ends the delivery however the stream ended. A client that
    leaves cancels the stream while it waits to send; the generator would then be closed only when
    the garbage collector finds it, so it is closed here, and the end runs shielded from that
    cancellation, off the event loop (it writes to the database and the audit log)."""

    def __init__(self, delivery: _Delivery, handle: BinaryIO, **kw: Any) -> None:
        self.delivery = delivery
        self._pieces = delivery.chunks(handle)
        super().__init__(self._pieces, **kw)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except* _Stop:
            log.warning("download of request %s stopped: its hold on the request was lost", self.delivery.rid)
        finally:
            with anyio.CancelScope(shield=True):
                await self._pieces.aclose()
                await run_in_threadpool(self.delivery.end)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:128] or "release"


def _stored(service: Service, relative: str | None) -> Path:
    """The request's file, which must lie in the service's releases folder (the column is not trusted)."""
    if not relative:
        raise HTTPException(410, "The release file is no longer on the server.")
    path = (service.ws.home / relative).resolve()
    if not path.is_relative_to(service.releases_dir.resolve()):
        raise HTTPException(404, NOT_FOUND)
    return path


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty (a stray partial file): the folder stays, owner-only
        path.parent.rmdir()


# -- the job that makes the release -----------------------------------------------------------------


def register(queue: JobQueue, service: Service) -> None:
    """Install this module's job handler on the queue."""

    def handler(job: Job, progress: Progress) -> None:
        make_release(service, job.ref, progress)

    queue.handlers[JOB_KIND] = handler


def release_path(service: Service, rid: str, dataset: str, fmt: str) -> Path:
    """Where the job writes request ``rid``'s release (a folder of its own, owner-only)."""
    return service.releases_dir / rid / _safe_name(f"{dataset}_{rid}.{fmt}")


def make_release(service: Service, rid: str, progress: Callable[[str, int, int], None] | None = None) -> None:
    """Make the approved request ``rid``'s release, audit it as the approver, and mark it ready.

    Safe to run again after a worker died at any point: a file the ledger records (the worker died
    after the ledger commit) is adopted, not made twice; a file it does not (died between moving
    the file and committing) is discarded and the release made afresh; an audit entry already
    written is not written again.
    """
    report = progress or (lambda _stage, _done, _total: None)
    with service.db.connect() as conn:
        row = conn.execute(_requests_query().where(requests.c.id == rid)).first()
    if row is None:
        raise JejakError(f"request {rid} does not exist")
    if row.state != APPROVED:
        return  # made, failed or decided otherwise meanwhile: nothing left to do
    out = release_path(service, rid, row.dataset, row.format)
    try:
        private_dir(out.parent, parents=True)
        rec = _adopt(service, out, row.dataset) if out.exists() else None
        if rec is None:
            _clear(out.parent)  # what a dead worker left: partial files, a file no ledger entry owns
            req = ReleaseRequest(dataset=row.dataset, recipient=row.recipient, out=out, columns=row.columns,
                                 where=row.filter, as_of=row.as_of, purpose=row.purpose, fmt=row.format,
                                 operator=f"web:{row.decider}", audit_extra={"request": rid})
            report("making the release", 0, 1)
            rec = create_release(service.ws, req, say=lambda message: report(message[:64], 0, 1))
        private_file(out)
    except JejakError as exc:
        # The library's messages name ids, counts and dates, never a row's values.
        _fail(service, rid, str(exc))
        raise
    except Exception as exc:
        # A database's own message may quote a row's value (a failed cast names the value), so it
        # is neither shown nor logged: the type and the place are enough to find it.
        message = f"internal error ({type(exc).__name__}); the server log has where it happened"
        log.error("release job for %s failed with %s at\n%s", rid, type(exc).__name__,
                  "".join(traceback.format_tb(exc.__traceback__)))
        _fail(service, rid, message)
        raise JejakError(message) from None
    if not _audited(service, rec.release_id):  # made before the release and its entry committed together
        service.record(row.decider or "unknown", "release.create", rec.release_id,
                       {**audit_detail(rec), "request": rid})
    with service.db.begin() as conn:
        conn.execute(sa.update(requests).where(requests.c.id == rid, requests.c.state == APPROVED).values(
            state=READY, release_id=rec.release_id, file=str(out.relative_to(service.ws.home)), error=None))
    report("ready", 1, 1)


def _adopt(service: Service, out: Path, dataset: str) -> Any:
    """The ledger's record of the file at ``out``, matched by its hash and name, or None."""
    digest = hashlib.sha256()
    with out.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    sha = digest.hexdigest()
    for rec in service.ledger.releases(dataset=dataset):
        if rec.file_sha256 == sha and rec.file_name == out.name:
            return rec
    return None


def _clear(folder: Path) -> None:
    for p in folder.iterdir():
        if p.is_file() or p.is_symlink():
            p.unlink()


def _audited(service: Service, release_id: str) -> bool:
    from jejak.ledger.models import AuditEntryRow

    with service.ledger.engine.connect() as conn:
        seq = conn.scalar(sa.select(AuditEntryRow.seq).where(AuditEntryRow.action == "release.create",
                                                             AuditEntryRow.target == release_id).limit(1))
    return seq is not None


def _fail(service: Service, rid: str, message: str) -> None:
    with service.db.begin() as conn:
        conn.execute(sa.update(requests).where(requests.c.id == rid, requests.c.state == APPROVED)
                     .values(state=FAILED, error=message[:2000]))
