"""Shared pytest fixtures. One section per concern; add a new section rather than growing one."""

from __future__ import annotations

import functools
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
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


# === investigation: a small registry with history, and leaks derived from it with known truth ===
#
# `investigation_registry` (built once per session) is a workspace whose registry holds three
# synthetic `peserta` snapshots of ~5,000 participants; the snapshot tables are kept so tests can
# derive leaks whose every row's truth is known. `investigation_ws` is a private copy of that
# workspace for one test (tests that add releases or cases must not see each other's).


@dataclass(frozen=True)
class InvestigationRegistry:
    home: Path
    snapshots: list[Any]  # jejak.synth.SnapshotTables, oldest first


@pytest.fixture(scope="session")
def investigation_registry(tmp_path_factory: pytest.TempPathFactory) -> InvestigationRegistry:
    import pyarrow.csv as pacsv

    from jejak.registry import Registry
    from jejak.synth import generate_tables
    from jejak.workspace import Workspace

    root = tmp_path_factory.mktemp("investigation")
    snaps = generate_tables(participants=5_000, snapshots=3, seed=11, patients=False)
    ws = Workspace.init(root / "ws")
    with Registry(ws.registry_path) as reg:
        for s in snaps:
            path = root / f"peserta_{s.as_of}.csv"
            pacsv.write_csv(s.participants, path)
            reg.import_snapshot(path, "peserta", "NOKA", s.as_of)
    return InvestigationRegistry(ws.home, snaps)


@pytest.fixture
def investigation_ws(investigation_registry: InvestigationRegistry, tmp_path: Path) -> Any:
    from jejak.workspace import Workspace

    home = tmp_path / "ws"
    shutil.copytree(investigation_registry.home, home)
    return Workspace.open(home)


@dataclass(frozen=True)
class DerivedLeak:
    path: Path
    truth: dict[str, Any]  # expected verification counts
    renamed: dict[str, str]  # leaked column -> registry column it came from


#: Columns a derived leak leaves out (dropped columns must not matter).
DROPPED = ("AGAMA", "USERUPDATE")


@pytest.fixture(scope="session")
def derived_leak(
    investigation_registry: InvestigationRegistry, tmp_path_factory: pytest.TempPathFactory
) -> DerivedLeak:
    """A leak of snapshot 2 with known truth, re-shaped the way leakers do.

    1,000 genuine rows of the middle snapshot (so some are outdated against the newest), 40 of
    them repeated, 50 fabricated participants with valid NIKs and card numbers we never had, 30
    rows with impossible NIKs; names lower-cased, phones rewritten to E.164, e-mails upper-cased;
    two columns dropped, a junk column added, every column renamed or lower-cased and reordered.
    """
    import duckdb
    import numpy as np

    from jejak.synth import make_people
    from jejak.validators import sql

    s1, s2, s3 = (s.participants for s in investigation_registry.snapshots)
    keep = [c for c in s2.column_names if c not in DROPPED]
    con = duckdb.connect()
    sql.install(con)
    for name, t in (("s1", s1), ("s2", s2), ("s3", s3)):
        con.register(name, t)
    every = "SELECT NIK, NOKA FROM s1 UNION SELECT NIK, NOKA FROM s2 UNION SELECT NIK, NOKA FROM s3"
    used = con.sql(every).to_arrow_table()
    fake = make_people(80, np.random.default_rng(5), as_of=investigation_registry.snapshots[2].as_of,
                       exclude_nik=used.column("NIK"), exclude_noka=used.column("NOKA"))
    con.register("fake", fake.select(keep))
    cols = ", ".join(f'"{c}"' for c in keep)
    con.execute(f"CREATE TABLE base AS SELECT {cols} FROM s2 ORDER BY hash(NOKA) LIMIT 1000")
    # Truth: a row is outdated when its kept values differ from the newest snapshot's, or it left.
    differs = " OR ".join(f'b."{c}" IS DISTINCT FROM n."{c}"' for c in keep)
    con.execute(
        f"CREATE TABLE truth AS SELECT b.NOKA, (n.NOKA IS NULL OR {differs}) AS outdated, "
        "coalesce(n.KDSTATUSPST, b.KDSTATUSPST) AS status FROM base b LEFT JOIN s3 n USING (NOKA)"
    )
    reshape = ", ".join(
        "lower(NAMA) AS NAMA" if c == "NAMA" else "coalesce(jj_phone_norm(NOHP), NOHP) AS NOHP" if c == "NOHP"
        else "upper(EMAIL) AS EMAIL" if c == "EMAIL" else f'"{c}"' for c in keep
    )
    invalid_nik = "substr(NIK, 1, 6) || '35' || substr(NIK, 9)"
    con.execute(
        f"""CREATE TABLE leak AS
            SELECT {reshape}, 'genuine' AS kind FROM base
            UNION ALL SELECT {reshape}, 'duplicate' FROM (SELECT * FROM base ORDER BY NOKA LIMIT 40)
            UNION ALL SELECT {cols}, 'fabricated' FROM (SELECT * FROM fake ORDER BY NOKA LIMIT 50)
            UNION ALL SELECT * REPLACE ({invalid_nik} AS NIK), 'invalid'
                      FROM (SELECT {cols} FROM fake ORDER BY NOKA OFFSET 50)"""
    )
    outdated = con.execute(
        "SELECT count(*) FROM leak l JOIN truth t USING (NOKA) WHERE l.kind IN ('genuine', 'duplicate') "
        "AND t.outdated"
    ).fetchall()[0][0]
    status = dict(con.execute(
        "SELECT t.status, count(*) FROM leak l JOIN truth t USING (NOKA) WHERE l.kind IN ('genuine', 'duplicate') "
        "GROUP BY t.status"
    ).fetchall())
    # Rename: odd positions get opaque names, even ones are lower-cased; then shuffle the order.
    order = np.random.default_rng(3).permutation(len(keep))
    renamed = {(f"field_{i}" if i % 2 else keep[j].lower()): keep[j] for i, j in enumerate(order)}
    select = ", ".join(f'"{orig}" AS "{new}"' for new, orig in renamed.items())
    path = tmp_path_factory.mktemp("leak") / "dijual_sample.csv"
    con.execute(
        f"COPY (SELECT {select}, 'x' || (hash(NOKA) % 7)::VARCHAR AS junk FROM leak ORDER BY hash(NOKA || kind)) "
        f"TO '{path}' (HEADER)"
    )
    truth = {
        "rows": 1120, "matched": 1040, "outdated": outdated, "current": 1040 - outdated, "fabricated": 50,
        "invalid": 30, "unlinked": 0, "canary": 0, "duplicates": 40, "people": 1000,
        "status": {"active": status.get("AKTIF", 0), "inactive": status.get("NONAKTIF", 0),
                   "deceased": status.get("MENINGGAL", 0), "unknown": 0},
    }
    return DerivedLeak(path, truth, renamed)

# === chromium: a real browser for rendered pages ================================================
#
# Report and notice tests open the HTML in headless Chromium. Without it they skip locally and
# FAIL in CI (CI=true), like the PostgreSQL tests: CI installs it in .ci/run.


@pytest.fixture
def chromium() -> str:
    from jejak.browser import find_chromium

    exe = find_chromium()
    if exe is None:
        reason = "headless Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI=true: the browser tests must run)")
        pytest.skip(reason)
    return exe


# === synthetic registry with history: the investigation registry's DuckDB file =================
#
# The registry file of `investigation_registry` (three half-yearly snapshots, built once per
# session through the real import path). Linkage, dating and impact tests open it read-only, as
# `investigate` does, and only create TEMP tables, so they can share it.


@pytest.fixture(scope="session")
def synth_registry(investigation_registry: InvestigationRegistry) -> Path:
    from jejak.workspace import Workspace

    return Workspace.open(investigation_registry.home).registry_path
