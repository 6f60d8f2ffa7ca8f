"""``jejak serve``: the FastAPI application.

The routes are thin: they check who is asking (``web.guard`` and the role matrix in
``access``), call the library, record what was done in the audit log, and render a template.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jejak.errors import JejakError
from jejak.service import access, auth, cases, oversight, releases, web
from jejak.service.core import Service
from jejak.service.db import aware, now, tokens
from jejak.service.jobs import JobQueue, Workers
from jejak.service.web import Caller, guard, redirect, render

log = logging.getLogger(__name__)
_STATIC = Path(__file__).parent / "static"


def create_app(service: Service, *, workers: bool = True) -> FastAPI:
    """The application over ``service``; ``workers=False`` leaves the job queue to the caller
    (tests run jobs one at a time with ``app.state.queue.run_one()``)."""
    queue = JobQueue(service.db, service.worker_id, timedelta(seconds=service.settings.lease_seconds))
    releases.register(queue, service)
    cases.register(queue, service)
    pool = Workers(queue, service.settings.workers, service.settings.poll_seconds) if workers else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        queue.recover_dead_local()
        if pool is not None:
            pool.start()
        try:
            yield
        finally:
            if pool is not None:
                pool.shutdown()

    app = FastAPI(title="jejak", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.service = service
    app.state.queue = queue
    app.state.templates = web.environment()
    app.mount("/static", StaticFiles(directory=str(_STATIC)), name="static")
    _handlers(app)
    app.include_router(_pages())
    app.include_router(releases.router)
    app.include_router(cases.router)
    app.include_router(oversight.router)

    app.add_middleware(SecurityHeaders)
    return app


class SecurityHeaders:
    """The headers every answer carries, added as the answer starts.

    A plain ASGI middleware, not ``@app.middleware("http")``: that one runs the route in a task of
    its own and hands its body on through a queue, so a download's stream would run a piece ahead
    of the connection, and "every byte handed to the connection" (when a release counts as
    downloaded) would be a piece early."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", web.CSP)
                headers["X-Content-Type-Options"] = "nosniff"
                # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on our own forms.
                headers["Referrer-Policy"] = "same-origin"
                headers["X-Frame-Options"] = "DENY"
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, with_headers)


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(web.SignIn)
    async def _sign_in(_request: Request, exc: web.SignIn) -> Response:
        return redirect(web.login_url(exc.next_url))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if "text/html" in request.headers.get("accept", "") and exc.status_code in (400, 403, 404, 409, 413, 410):
            return render(request, "error.html", None, status=exc.status_code, status_code=exc.status_code,
                          message=str(exc.detail))
        from fastapi.responses import JSONResponse

        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(JejakError)
    async def _jejak(request: Request, exc: JejakError) -> Response:
        return render(request, "error.html", None, status=400, status_code=400, message=str(exc))


# -- signing in, the start page, one's own account ---------------------------------------------------


def _pages() -> APIRouter:
    router = APIRouter()

    def login_form(request: Request, next_url: str, error: str | None = None, status: int = 200) -> Response:
        """The sign-in form with a fresh token of its own, set in a cookie the form must match."""
        pre = secrets.token_urlsafe(32)
        response = render(request, "login.html", None, status=status, next=web.local_path(next_url), pre=pre,
                          error=error)
        response.set_cookie(web.PRE_COOKIE, pre, httponly=True, samesite="strict",
                            secure=web.secure_cookie(request), path="/login", max_age=3600)
        return response

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> Response:
        return login_form(request, next)

    @router.post("/login")
    async def login(request: Request) -> Response:
        data = await web.form(request)
        pre = request.cookies.get(web.PRE_COOKIE) or ""
        if not web.same_origin(request) or not pre or not secrets.compare_digest(pre, data.get("csrf", "")):
            raise HTTPException(403, "the sign-in form expired; reload the page and try again")
        service = web.svc(request)
        name = data.get("name", "").strip()[:64]
        try:
            # argon2 takes tens of milliseconds on purpose: off the event loop, not in every page's way.
            sess = await run_in_threadpool(auth.sign_in, service.db, name, data.get("password", ""))
        except auth.AuthError as exc:
            # The name is written only when it is an account: a mistyped password in the name
            # field must not land in the log.
            service.record(name if exc.known else "unknown", "auth.signin_failed", name if exc.known else None,
                           {"from": web.client(request), "locked": exc.locked})
            return login_form(request, data.get("next", "/"), status=401,
                              error="Wrong name or password, or the account is locked for a while.")
        old = request.cookies.get(web.COOKIE)
        if old:  # a cookie set before sign-in (fixation) is ended, never promoted
            auth.sign_out(service.db, old)
        service.record(sess.user.name, "auth.signin", sess.user.name, {"from": web.client(request)})
        target = data.get("next", "/")
        done = redirect(web.local_path(target))
        web.set_session_cookie(done, request, sess.token)
        done.delete_cookie(web.PRE_COOKIE, path="/login")
        return done

    @router.post("/signout")
    def signout(request: Request, caller: Annotated[Caller, Depends(guard("signout"))]) -> Response:
        if caller.token:
            auth.sign_out(web.svc(request).db, caller.token)
        web.svc(request).record(caller.user.name, "auth.signout", caller.user.name)
        response = redirect("/login")
        response.delete_cookie(web.COOKIE, path="/")
        return response

    @router.get("/", response_class=HTMLResponse)
    def home(request: Request, caller: Annotated[Caller, Depends(guard("home"))]) -> Response:
        return render(request, "home.html", caller, routes=access.ROUTES)

    @router.get("/account", response_class=HTMLResponse)
    def account(request: Request, caller: Annotated[Caller, Depends(guard("account"))]) -> Response:
        with web.svc(request).db.connect() as conn:
            rows = conn.execute(sa.select(tokens.c.id, tokens.c.label, tokens.c.created_at, tokens.c.expires_at,
                                          tokens.c.revoked).where(tokens.c.user_id == caller.user.id)
                                .order_by(tokens.c.created_at)).all()
        return render(request, "account.html", caller, tokens=rows, new_token=None, now=now(), aware=aware)

    @router.post("/account/tokens", response_class=HTMLResponse)
    async def new_token(request: Request, caller: Annotated[Caller, Depends(guard("account.token"))]) -> Response:
        data = await web.form(request)
        service = web.svc(request)
        label = data.get("label", "").strip()[:64] or "script"
        token = auth.new_token(service.db, caller.user.id, label)
        service.record(caller.user.name, "token.create", caller.user.name, {"id": token.split("_")[1]})
        return render(request, "account.html", caller, tokens=[], new_token=token, now=now(), aware=aware)

    return router

