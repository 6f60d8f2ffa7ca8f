"""The job queue: a job runs once, survives its worker's death, and fails in words — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from jejak.errors import JejakError
from jejak.ledger import Ledger
from jejak.service.db import Database, jobs, now
from jejak.service.jobs import MAX_ATTEMPTS, Job, JobQueue, Progress


@pytest.fixture
def db(ledger_url: str) -> Iterator[Database]:
    ledger = Ledger.open(ledger_url)
    yield Database(ledger.engine)
    ledger.close()


def _queue(db: Database, n: int) -> None:
    with db.begin() as conn:
        for i in range(n):
            JobQueue(db, "setup").enqueue(conn, "noop", f"ref-{i}")


def _state(db: Database, ref: str) -> dict[str, object]:
    with db.connect() as conn:
        return dict(conn.execute(sa.select(jobs).where(jobs.c.ref == ref)).one()._mapping)


def test_two_workers_racing_never_run_a_job_twice(db: Database) -> None:
    _queue(db, 40)
    ran: Counter[str] = Counter()
    lock = threading.Lock()

    def handler(job: Job, _p: Progress) -> None:
        with lock:
            ran[job.ref] += 1

    def work(name: str) -> None:
        q = JobQueue(db, name)
        q.handlers["noop"] = handler
        while q.run_one() is not None:
            pass

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(ran) == sorted(f"ref-{i}" for i in range(40))
    assert set(ran.values()) == {1}
    with db.connect() as conn:
        assert set(conn.execute(sa.select(jobs.c.state)).scalars()) == {"done"}


def test_a_job_whose_worker_died_is_run_by_the_next_one(db: Database) -> None:
    _queue(db, 1)
    dead = JobQueue(db, "host:1", lease=timedelta(seconds=60))
    assert dead.claim() is not None  # claimed, then the worker "dies": no finish, no renewal
    live = JobQueue(db, "host:2")
    live.handlers["noop"] = lambda job, p: None
    assert live.run_one() is None  # the lease still runs: not taken over early
    with db.begin() as conn:
        conn.execute(sa.update(jobs).values(lease_until=now() - timedelta(seconds=1)))
    job = live.run_one()
    assert job is not None and job.attempts == 2
    assert _state(db, "ref-0")["state"] == "done"


def test_a_dead_server_on_this_machine_is_noticed_at_start(db: Database) -> None:
    import socket

    _queue(db, 1)
    gone = JobQueue(db, f"{socket.gethostname()[:40]}:999999999")
    assert gone.claim() is not None
    fresh = JobQueue(db, "new")
    fresh.handlers["noop"] = lambda job, p: None
    assert fresh.recover_dead_local() == 1
    assert fresh.run_one() is not None


def test_a_job_that_keeps_killing_its_worker_is_given_up(db: Database) -> None:
    _queue(db, 1)
    for i in range(MAX_ATTEMPTS):
        q = JobQueue(db, f"w{i}")
        q.recover()
        assert q.claim() is not None
        with db.begin() as conn:
            conn.execute(sa.update(jobs).values(lease_until=now() - timedelta(seconds=1)))
    JobQueue(db, "last").recover()
    state = _state(db, "ref-0")
    assert state["state"] == "failed" and "three times" in str(state["error"])


def test_errors_are_kept_in_words_and_internal_ones_without_detail(db: Database) -> None:
    _queue(db, 2)
    q = JobQueue(db, "w")

    def handler(job: Job, _p: Progress) -> None:
        if job.ref == "ref-0":
            raise JejakError("the dataset 'peserta' has no column X")
        raise ValueError("3171234567890001 is not a date")  # a library bug quoting a value

    q.handlers["noop"] = handler
    q.run_one()
    q.run_one()
    assert _state(db, "ref-0")["error"] == "the dataset 'peserta' has no column X"
    internal = str(_state(db, "ref-1")["error"])
    assert "ValueError" in internal and "3171234567890001" not in internal


def test_progress_is_written_and_a_renewed_lease_keeps_the_job(db: Database, tmp_path: Path) -> None:
    _queue(db, 1)
    q = JobQueue(db, "w", lease=timedelta(seconds=0.4))
    seen = []

    def handler(job: Job, progress: Progress) -> None:
        progress("reading the evidence", 0, 8)
        import time

        time.sleep(1.0)  # longer than the lease: only the renewals keep it
        other = JobQueue(db, "thief")
        other.recover()
        seen.append(other.claim())
        progress("done", 8, 8)

    q.handlers["noop"] = handler
    q.run_one()
    assert seen == [None]
    state = _state(db, "ref-0")
    assert (state["state"], state["stage"], state["done"], state["total"]) == ("done", "done", 8, 8)
