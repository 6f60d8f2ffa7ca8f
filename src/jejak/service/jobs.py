"""Background jobs (releases, investigations) in the database, so they survive a restart.

A job is claimed with a conditional UPDATE (``state = 'queued'`` → ``'running'``): of two workers,
in one process or two, exactly one sees its update take effect, so a job never runs twice at
once. A running job renews a lease; when its worker dies the lease runs out and the job is queued
again. Each job's work is itself atomic (a release file and its ledger entry appear together, a
case folder is renamed into place complete), and a job that finds its result already made by a
worker that died just before saying so adopts it instead of making a second one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from jejak.errors import JejakError
from jejak.service.db import Database, jobs, now

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    ref: str
    attempts: int


Handler = Callable[[Job, "Progress"], None]


class Progress:
    """What a handler reports: a stage and rows or steps done; written at most twice a second."""

    def __init__(self, queue: JobQueue, job: Job) -> None:
        self.queue, self.job = queue, job
        self._last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        t = time.monotonic()
        if t - self._last < 0.5 and done < total:
            return
        self._last = t
        with self.queue.db.begin() as conn:
            conn.execute(sa.update(jobs).where(jobs.c.id == self.job.id)
                         .values(stage=stage[:64], done=done, total=total))


class JobQueue:
    def __init__(self, db: Database, worker: str, lease: timedelta = timedelta(seconds=60)) -> None:
        self.db, self.worker, self.lease = db, worker, lease
        self.handlers: dict[str, Handler] = {}

    def enqueue(self, conn: sa.Connection, kind: str, ref: str) -> None:
        """Queue a job inside the caller's transaction: the request or case and its job commit together."""
        conn.execute(sa.insert(jobs).values(kind=kind, ref=ref, state="queued", attempts=0, done=0, total=0,
                                            created_at=now()))

    def status(self, kind: str, ref: str) -> dict[str, object] | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.kind == kind, jobs.c.ref == ref)).first()
        return None if row is None else dict(row._mapping)

    def recover(self) -> int:
        """Queue again the jobs whose worker stopped renewing its lease (it died)."""
        with self.db.begin() as conn:
            conn.execute(sa.update(jobs).where(jobs.c.state == "running", jobs.c.lease_until < now(),
                                               jobs.c.attempts >= MAX_ATTEMPTS)
                         .values(state="failed", error="the job stopped three times without finishing",
                                 finished_at=now()))
            res = conn.execute(sa.update(jobs).where(jobs.c.state == "running", jobs.c.lease_until < now())
                               .values(state="queued", worker=None))
        return int(res.rowcount or 0)

    def recover_dead_local(self) -> int:
        """At start: queue again at once the jobs of this machine's dead servers (no need to wait
        for their leases), so a restart picks up where the last server stopped."""
        import socket

        from jejak.workspace import pid_alive

        host = socket.gethostname()[:40]
        dead = []
        with self.db.connect() as conn:
            for jid, worker in conn.execute(sa.select(jobs.c.id, jobs.c.worker).where(jobs.c.state == "running")):
                owner, _, pid = (worker or "").rpartition(":")
                if owner == host and pid.isdigit() and not pid_alive(int(pid)):
                    dead.append(jid)
        if dead:
            with self.db.begin() as conn:
                conn.execute(sa.update(jobs).where(jobs.c.id.in_(dead), jobs.c.state == "running")
                             .values(lease_until=now() - timedelta(seconds=1)))
        return len(dead)

    def claim(self) -> Job | None:
        with self.db.connect() as conn:
            candidates = conn.execute(sa.select(jobs.c.id).where(jobs.c.state == "queued")
                                      .order_by(jobs.c.id).limit(8)).scalars().all()
        for jid in candidates:
            with self.db.begin() as conn:
                res = conn.execute(sa.update(jobs).where(jobs.c.id == jid, jobs.c.state == "queued")
                                   .values(state="running", worker=self.worker, lease_until=now() + self.lease,
                                           attempts=jobs.c.attempts + 1))
                if res.rowcount == 1:
                    row = conn.execute(sa.select(jobs).where(jobs.c.id == jid)).one()
                    return Job(row.id, row.kind, row.ref, row.attempts)
        return None

    def _renew(self, job: Job) -> None:
        with self.db.begin() as conn:
            conn.execute(sa.update(jobs).where(jobs.c.id == job.id, jobs.c.worker == self.worker)
                         .values(lease_until=now() + self.lease))

    def _finish(self, job: Job, error: str | None) -> None:
        with self.db.begin() as conn:
            conn.execute(sa.update(jobs).where(jobs.c.id == job.id, jobs.c.worker == self.worker).values(
                state="failed" if error else "done", error=error, finished_at=now(), lease_until=None))

    def run_one(self) -> Job | None:
        """Claim and run one job (None when the queue is empty); what the worker threads loop on."""
        self.recover()
        job = self.claim()
        if job is None:
            return None
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, stop), daemon=True, name=f"lease-{job.id}")
        beat.start()
        error: str | None = None
        try:
            self.handlers[job.kind](job, Progress(self, job))
        except JejakError as exc:
            error = str(exc)
        except Exception as exc:  # the page says what kind; the server log has the traceback
            log.exception("job %d (%s) failed", job.id, job.kind)
            error = f"internal error ({type(exc).__name__}); the server log has the details"
        finally:
            stop.set()
            beat.join()
        self._finish(job, error)
        return job

    def _beat(self, job: Job, stop: threading.Event) -> None:
        while not stop.wait(self.lease.total_seconds() / 4):
            try:
                self._renew(job)
            except Exception:  # the database is briefly away: the next beat tries again
                log.warning("could not renew the lease of job %d", job.id)


JOB_NICENESS = 10


def _lower_priority() -> None:
    """Run this worker thread (and the DuckDB threads it starts, which inherit it) at a lower
    priority than the threads answering pages: on a small server an investigation then takes
    the CPU the pages leave, rather than the other way round. Linux sets niceness per thread."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), JOB_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: run at normal priority
        log.info("job threads run at normal priority")


class Workers:
    """Threads that run queued jobs until stopped."""

    def __init__(self, queue: JobQueue, count: int, poll: float) -> None:
        self.queue, self.poll = queue, poll
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, daemon=True, name=f"jejak-worker-{i}")
                        for i in range(count)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _loop(self) -> None:
        _lower_priority()
        while not self.stop.is_set():
            try:
                job = self.queue.run_one()
            except Exception:
                log.exception("the job queue failed; trying again")
                job = None
            if job is None:
                self.stop.wait(self.poll)

    def shutdown(self, timeout: float = 5.0) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
