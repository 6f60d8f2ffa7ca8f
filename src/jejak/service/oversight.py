"""The auditor's pages (audit log, ledger, requests) and the admin's (accounts, recipients).

No page here shows personal data: the audit log holds ids, counts and hashes by construction;
the ledger page shows releases without their filters' text (a filter may quote a person's key);
requests show that a filter exists, not what it says.
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from jejak.errors import JejakError
from jejak.service import auth, web
from jejak.service.db import requests, users
from jejak.service.web import Caller, guard, redirect, render

router = APIRouter()
PAGE = 200


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, caller: Annotated[Caller, Depends(guard("audit.log"))],
                    before: int | None = None, verify: bool = False) -> Response:
    service = web.svc(request)
    log = service.audit_log
    # Verifying reads the whole chain: asked for, not done on every page view.
    check = log.verify() if verify else None
    entries = log.entries(PAGE, before)
    entries.reverse()
    service.record(caller.user.name, "audit.read", None, {"page": "log", "verified": verify})
    return render(request, "audit/log.html", caller, entries=entries, check=check)


@router.get("/audit/ledger", response_class=HTMLResponse)
def audit_ledger(request: Request, caller: Annotated[Caller, Depends(guard("audit.ledger"))]) -> Response:
    service = web.svc(request)
    releases = service.ledger.releases()
    service.record(caller.user.name, "audit.read", None, {"page": "ledger"})
    return render(request, "audit/ledger.html", caller, releases=releases)


@router.get("/audit/requests", response_class=HTMLResponse)
def audit_requests(request: Request, caller: Annotated[Caller, Depends(guard("audit.requests"))]) -> Response:
    service = web.svc(request)
    requester = users.alias("requester")
    decider = users.alias("decider")
    with service.db.connect() as conn:
        rows = conn.execute(
            sa.select(requests.c.id, requests.c.dataset, requests.c.recipient, requests.c.state,
                      requests.c.created_at, requests.c.decided_at, requests.c.release_id,
                      requests.c.downloaded_at, requests.c.downloaded_from,
                      (requests.c.filter.is_not(None)).label("filtered"),
                      requester.c.name.label("requester"), decider.c.name.label("decider"))
            .join(requester, requester.c.id == requests.c.requester_id)
            .outerjoin(decider, decider.c.id == requests.c.decided_by)
            .order_by(requests.c.created_at.desc())).all()
    service.record(caller.user.name, "audit.read", None, {"page": "requests"})
    return render(request, "audit/requests.html", caller, rows=rows)


# -- administration ---------------------------------------------------------------------------------


@router.get("/admin/users", response_class=HTMLResponse)
def admin_users(request: Request, caller: Annotated[Caller, Depends(guard("admin.users"))]) -> Response:
    return render(request, "admin/users.html", caller, users=auth.list_users(web.svc(request).db),
                  roles=auth.ROLES, created=None, error=None)


@router.post("/admin/users", response_class=HTMLResponse)
async def admin_create_user(request: Request,
                            caller: Annotated[Caller, Depends(guard("admin.users.create"))]) -> Response:
    data = await web.form(request)
    service = web.svc(request)
    try:
        user, password = auth.add_user(service.db, data.get("name", "").strip(), data.get("role", ""))
    except JejakError as exc:
        return render(request, "admin/users.html", caller, status=400, users=auth.list_users(service.db),
                      roles=auth.ROLES, created=None, error=str(exc))
    service.record(caller.user.name, "user.add", user.name, {"role": user.role})
    # The password is shown once, on this page, to the admin who hands it over.
    return render(request, "admin/users.html", caller, users=auth.list_users(service.db), roles=auth.ROLES,
                  created=(user.name, password), error=None)


def _target(request: Request, uid: int, caller: Caller, own: str) -> str:
    """The name of account ``uid``; 404 when there is none, 409 with ``own`` when it is the caller's."""
    with web.svc(request).db.connect() as conn:
        name = conn.scalar(sa.select(users.c.name).where(users.c.id == uid))
    if name is None:
        raise HTTPException(404, "no such account")
    if uid == caller.user.id:
        raise HTTPException(409, own)
    return str(name)


@router.post("/admin/users/{uid}/role")
async def admin_role(request: Request, uid: int,
                     caller: Annotated[Caller, Depends(guard("admin.users.role"))]) -> Response:
    data = await web.form(request)
    name = _target(request, uid, caller, "an admin cannot change their own role")
    role = auth.check_role(data.get("role", ""))
    auth.set_role(web.svc(request).db, uid, role)
    web.svc(request).record(caller.user.name, "user.role", name, {"role": role})
    return redirect("/admin/users")


@router.post("/admin/users/{uid}/active")
async def admin_active(request: Request, uid: int,
                       caller: Annotated[Caller, Depends(guard("admin.users.active"))]) -> Response:
    data = await web.form(request)
    name = _target(request, uid, caller, "an admin cannot disable their own account")
    active = data.get("active") == "1"
    auth.set_active(web.svc(request).db, uid, active)
    web.svc(request).record(caller.user.name, "user.enable" if active else "user.disable", name)
    return redirect("/admin/users")


@router.get("/admin/recipients", response_class=HTMLResponse)
def admin_recipients(request: Request,
                           caller: Annotated[Caller, Depends(guard("admin.recipients"))]) -> Response:
    return render(request, "admin/recipients.html", caller, recipients=web.svc(request).ledger.recipients(),
                  error=None)


@router.post("/admin/recipients", response_class=HTMLResponse)
async def admin_add_recipient(request: Request,
                              caller: Annotated[Caller, Depends(guard("admin.recipients.create"))]) -> Response:
    data = await web.form(request)
    service = web.svc(request)
    try:
        r = service.ledger.add_recipient(data.get("name", "").strip(), data.get("kind", "").strip(),
                                         contact=data.get("contact") or None)
    except JejakError as exc:
        return render(request, "admin/recipients.html", caller, status=400, recipients=service.ledger.recipients(),
                      error=str(exc))
    service.record(caller.user.name, "recipient.add", r.name, {"kind": r.kind})
    return redirect("/admin/recipients")
