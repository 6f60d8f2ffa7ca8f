"""Accounts, sessions, CSRF tokens and API tokens.

Passwords are argon2id hashes (argon2-cffi's defaults, RFC 9106's second recommended setting).
Session and API tokens are 256-bit random strings; the database keeps only their SHA-256, so a
copy of it signs no one in. A new session is made at every sign-in and the old cookie is never
honoured again (no session fixation). Five failed sign-ins lock an account for 15 minutes; the
failure message is the same for an unknown name, a wrong password and a locked account, so the
page does not tell an attacker which names exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from jejak.errors import JejakError
from jejak.service.db import Database, aware, now, sessions, tokens, users

ROLES = ("requester", "approver", "investigator", "auditor", "admin", "external")
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
MIN_PASSWORD = 12
_NAME_RE = re.compile(r"[a-z][a-z0-9._-]{1,31}")
_hasher = PasswordHasher()  # argon2id
# A fixed hash to verify against when the name is unknown: the answer then takes as long as for
# a real account, so timing does not tell which names exist either.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class AuthError(JejakError):
    """A sign-in or token that is not accepted (the message never says which part was wrong).

    ``known`` and ``locked`` say (to the server's audit log, not to the page) whether the name is an
    account and whether this failure locked it."""

    def __init__(self, message: str, *, known: bool = False, locked: bool = False) -> None:
        super().__init__(message)
        self.known, self.locked = known, locked


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    active: bool = True


@dataclass(frozen=True)
class Session:
    token: str  # only ever in the cookie
    csrf: str
    user: User


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise JejakError("a user name is 2-32 characters: lower-case letters, digits, '.', '_' or '-', "
                         "starting with a letter")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise JejakError(f"unknown role; choose one of {', '.join(ROLES)}")
    return role


def new_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits


def add_user(db: Database, name: str, role: str, password: str | None = None) -> tuple[User, str]:
    """Create an account; returns it and its password (generated when none is given)."""
    check_name(name)
    check_role(role)
    password = password or new_password()
    if len(password) < MIN_PASSWORD:
        raise JejakError(f"a password has at least {MIN_PASSWORD} characters")
    with db.begin() as conn:
        if conn.scalar(sa.select(users.c.id).where(users.c.name == name)) is not None:
            raise JejakError(f"user {name!r} already exists")
        uid = conn.execute(sa.insert(users).values(
            name=name, role=role, password_hash=_hasher.hash(password), active=True, failed=0,
            created_at=now())).inserted_primary_key[0]  # type: ignore[index]
    return User(int(uid), name, role), password


def set_role(db: Database, user_id: int, role: str) -> None:
    check_role(role)
    with db.begin() as conn:
        conn.execute(sa.update(users).where(users.c.id == user_id).values(role=role))
        # A role change takes effect at once: the user's sessions end.
        conn.execute(sa.delete(sessions).where(sessions.c.user_id == user_id))


def set_active(db: Database, user_id: int, active: bool) -> None:
    with db.begin() as conn:
        conn.execute(sa.update(users).where(users.c.id == user_id).values(active=active, failed=0, locked_until=None))
        if not active:
            conn.execute(sa.delete(sessions).where(sessions.c.user_id == user_id))


def reset_password(db: Database, name: str) -> str:
    """A new generated password for ``name``; lifts a lock-out and ends the user's sessions."""
    password = new_password()
    with db.begin() as conn:
        uid = conn.scalar(sa.select(users.c.id).where(users.c.name == name))
        if uid is None:
            raise JejakError(f"no account {name!r}")
        conn.execute(sa.update(users).where(users.c.id == uid).values(
            password_hash=_hasher.hash(password), failed=0, locked_until=None))
        conn.execute(sa.delete(sessions).where(sessions.c.user_id == uid))
    return password


def list_users(db: Database) -> list[dict[str, object]]:
    with db.connect() as conn:
        rows = conn.execute(sa.select(users.c.id, users.c.name, users.c.role, users.c.active, users.c.failed,
                                      users.c.locked_until, users.c.created_at).order_by(users.c.name))
        return [dict(r._mapping) for r in rows]


def user_by_name(db: Database, name: str) -> User | None:
    with db.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
    return None if row is None else User(row.id, row.name, row.role, row.active)


def sign_in(db: Database, name: str, password: str) -> Session:
    """A new session for ``name``, or :class:`AuthError` (also while the account is locked)."""
    failure: AuthError | None = None
    with db.begin() as conn:  # the failure count commits; the error is raised after the block
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        locked = aware(row.locked_until) if row is not None else None
        if row is None or (locked is not None and locked > now()):
            _verify(_DUMMY, password)
            failure = AuthError("wrong name or password", known=row is not None)
        elif not row.active or not _verify(row.password_hash, password):
            failed = row.failed + 1
            values: dict[str, object] = {"failed": failed}
            if failed >= MAX_FAILURES:
                values.update(failed=0, locked_until=now() + LOCKOUT)
            conn.execute(sa.update(users).where(users.c.id == row.id).values(**values))
            failure = AuthError("wrong name or password", known=True, locked=failed >= MAX_FAILURES)
        else:
            values = {"failed": 0, "locked_until": None}
            if _hasher.check_needs_rehash(row.password_hash):
                values["password_hash"] = _hasher.hash(password)
            conn.execute(sa.update(users).where(users.c.id == row.id).values(**values))
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            t = now()
            conn.execute(sa.insert(sessions).values(token_hash=digest(token), user_id=row.id, csrf=csrf,
                                                    created_at=t, last_seen=t))
    if failure is not None:
        raise failure
    assert row is not None
    return Session(token, csrf, User(row.id, row.name, row.role, row.active))


def _verify(hash_: str, password: str) -> bool:
    try:
        return _hasher.verify(hash_, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def session(db: Database, token: str | None) -> Session | None:
    """The live session for a cookie, touching its idle timer; None when absent or expired."""
    if not token or len(token) > 128:
        return None
    h = digest(token)
    t = now()
    with db.begin() as conn:
        row = conn.execute(
            sa.select(sessions.c.csrf, sessions.c.created_at, sessions.c.last_seen, users.c.id, users.c.name,
                      users.c.role, users.c.active)
            .join(users, users.c.id == sessions.c.user_id).where(sessions.c.token_hash == h)).first()
        if row is None:
            return None
        created, seen = aware(row.created_at), aware(row.last_seen)
        assert created is not None and seen is not None
        if not row.active or t - seen > IDLE or t - created > ABSOLUTE:
            conn.execute(sa.delete(sessions).where(sessions.c.token_hash == h))
            return None
        if t - seen > timedelta(seconds=30):  # not a write per page view
            conn.execute(sa.update(sessions).where(sessions.c.token_hash == h).values(last_seen=t))
    return Session(token, row.csrf, User(row.id, row.name, row.role, row.active))


def sign_out(db: Database, token: str) -> None:
    with db.begin() as conn:
        conn.execute(sa.delete(sessions).where(sessions.c.token_hash == digest(token)))


# -- API tokens -----------------------------------------------------------------------------------


def new_token(db: Database, user_id: int, label: str, days: int | None = 90) -> str:
    """An API token ``jjk_<id>_<secret>`` for scripts; shown once, stored hashed."""
    tid, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    t = now()
    with db.begin() as conn:
        conn.execute(sa.insert(tokens).values(
            id=tid, user_id=user_id, token_hash=digest(secret), label=label[:64], created_at=t,
            expires_at=None if days is None else t + timedelta(days=days), revoked=False))
    return f"jjk_{tid}_{secret}"


def token_user(db: Database, header: str | None) -> User | None:
    """The user an ``Authorization: Bearer jjk_...`` header speaks for, or None."""
    if not header or not header.startswith("Bearer "):
        return None
    parts = header[7:].strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "jjk":
        return None
    with db.connect() as conn:
        row = conn.execute(
            sa.select(tokens.c.token_hash, tokens.c.expires_at, tokens.c.revoked, users.c.id, users.c.name,
                      users.c.role, users.c.active)
            .join(users, users.c.id == tokens.c.user_id).where(tokens.c.id == parts[1])).first()
    if row is None or row.revoked or not row.active:
        return None
    expires = aware(row.expires_at)
    if expires is not None and expires < now():
        return None
    if not hmac.compare_digest(row.token_hash.encode(), digest(parts[2]).encode()):
        return None
    return User(row.id, row.name, row.role, row.active)


def locked(db: Database, name: str) -> datetime | None:
    with db.connect() as conn:
        t = conn.scalar(sa.select(users.c.locked_until).where(users.c.name == name))
    t = aware(t)
    return t if t is not None and t > now() else None
