"""The pieces every page shares: who is asking, may they, and how a page is drawn.

Pages are rendered on the server from Jinja2 templates (autoescaped) and work without
JavaScript; the one script (live progress) is served by jejak itself. Every state-changing
request carries the session's CSRF token, and a cross-site Origin is refused before that.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jejak.service import access, auth
from jejak.service.core import Service

COOKIE = "jejak_session"
PRE_COOKIE = "jejak_pre"  # the sign-in form's CSRF token, before there is a session
_TEMPLATES = Path(__file__).parent / "templates"
_LIBRARY_TEMPLATES = Path(__file__).parent.parent / "templates"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@dataclass(frozen=True)
class Caller:
    """The signed-in user of a request; ``csrf`` is None for API-token calls (no cookie, no CSRF)."""

    user: auth.User
    csrf: str | None
    token: str | None = None

    @property
    def role(self) -> str:
        return self.user.role


def environment() -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(_TEMPLATES))]
    if _LIBRARY_TEMPLATES.is_dir():  # the report's templates: the verdict page includes them
        loaders.append(jinja2.FileSystemLoader(str(_LIBRARY_TEMPLATES)))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["allowed"] = access.allowed
    from jejak.report import install_helpers

    install_helpers(env)  # the verdict page includes the report's own templates
    return env


def svc(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def render(request: Request, template: str, caller: Caller | None, status: int = 200, **ctx: Any) -> HTMLResponse:
    env: jinja2.Environment = request.app.state.templates
    html = env.get_template(template).render(caller=caller, csrf=caller.csrf if caller else None,
                                             path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


class SignIn(Exception):
    """Raised for a page that needs a session; the app answers with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def identify(request: Request) -> Caller | None:
    service = svc(request)
    header = request.headers.get("authorization")
    if header:
        user = auth.token_user(service.db, header)
        if user is None:
            raise HTTPException(401, "the API token is not valid")
        return Caller(user, None)
    sess = auth.session(service.db, request.cookies.get(COOKIE))
    return None if sess is None else Caller(sess.user, sess.csrf, sess.token)


def guard(route: str) -> Callable[[Request], Awaitable[Caller]]:
    """A FastAPI dependency: the caller, who must be signed in, hold a role the matrix allows
    ``route``, and (for a state-changing request from a browser) send the session's CSRF token."""
    method = access.ROUTES[route][0]

    async def dependency(request: Request) -> Caller:
        # The session lookup touches the database: off the event loop, so one slow commit does
        # not hold up every other request.
        caller = await run_in_threadpool(identify, request)
        if caller is None:
            if method == "GET" and "application/json" not in request.headers.get("accept", ""):
                raise SignIn(request.url.path)
            raise HTTPException(401, "sign in first")
        if not access.allowed(route, caller.role):
            raise HTTPException(403, "your role may not do this")
        if method != "GET" and caller.csrf is not None:
            await check_csrf(request, caller.csrf)
        return caller

    return dependency


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # old browsers and scripts send none; the CSRF token still decides
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def check_csrf(request: Request, expected: str) -> None:
    if not same_origin(request):
        raise HTTPException(403, "this form was sent from another site")
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if sent is None:
        # a multipart upload: its route checks the token as the first field of the stream
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            return
        raise HTTPException(403, "the form's security token is missing; reload the page and try again")
    if not hmac.compare_digest(expected.encode(), sent.encode()):
        raise HTTPException(403, "the form's security token does not match; reload the page and try again")


def secure_cookie(request: Request) -> bool:
    setting = svc(request).settings.secure_cookies
    if setting is not None:
        return setting
    if request.url.scheme == "https":
        return True
    try:
        return not ipaddress.ip_address(client(request)).is_loopback
    except ValueError:
        return True


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure_cookie(request),
                        path="/", max_age=int(auth.ABSOLUTE.total_seconds()))


_LOCAL_PATH = re.compile(r"/[A-Za-z0-9_./-]*")


def local_path(url: str) -> str:
    """``url`` when it is a path on this site, else ``/``: after sign-in we never send anyone elsewhere
    (``//evil.example`` and ``/\\evil.example`` are other sites to a browser)."""
    return url if _LOCAL_PATH.fullmatch(url) and not url.startswith("//") else "/"


def login_url(next_url: str) -> str:
    return "/login?next=" + quote(local_path(next_url))


async def form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}
