"""Shared pytest fixtures. One section per concern; add a new section rather than growing one."""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

# === ledger: a fresh, empty ledger database on every backend ====================================
#
# `ledger_url` runs a test once on SQLite (a file in tmp_path) and once on PostgreSQL (a schema
# of its own, dropped afterwards). Without a reachable server the PostgreSQL case skips locally
# and FAILS in CI (CI=true): CI must never pass by silently testing one backend.

PG_URL = os.environ.get("JEJAK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@functools.cache
def _pg_admin() -> sa.Engine | str:
    """A working engine to the test server, or the reason there is none."""
    engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3}, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        return f"PostgreSQL not reachable at {PG_URL}: {str(exc.orig).strip().splitlines()[0]}"
    return engine


def _postgres_schema_url() -> Iterator[str]:
    admin = _pg_admin()
    if isinstance(admin, str):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(admin + " (CI=true: the PostgreSQL ledger tests must run)")
        pytest.skip(admin)
    schema = f"jejak_test_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    # search_path in the URL itself, so code under test gets a plain string URL like a user's.
    yield f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"
    with admin.connect() as conn:
        conn.execute(sa.text("SET lock_timeout = '10s'"))
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    else:
        yield from _postgres_schema_url()


# === synthetic registry with history: shared by the investigation tests =========================
#
# One small registry (2,000 participants, three half-yearly snapshots) built through the real
# import path into a DuckDB file, once per session. Tests open it read-only, as `investigate` does.


@pytest.fixture(scope="session")
def synth_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jejak.registry import Registry
    from jejak.synth import generate

    d = tmp_path_factory.mktemp("synth_registry")
    path = d / "registry.duckdb"
    with Registry(path) as reg:
        for f in generate(d / "synth", participants=2000, snapshots=3, seed=11, patients=False):
            reg.import_snapshot(f.path, "peserta", "NOKA", f.as_of)
    return path
