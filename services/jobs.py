"""The worker side of background jobs (models/job.py has the queue itself).

`Worker.run()` claims due jobs, runs up to `concurrency` at once on threads, records each outcome, and
on `stop()` (SIGTERM in worker.py) claims nothing more and lets the running jobs finish. While it runs it
beats its jobs' claims every third of the visibility timeout (so a dead worker's jobs are taken over
within that timeout, and a live one's never are), and purges finished jobs older than `retention`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core.db import Database
from models import Job, JobStatus

log = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any]], None]
HOUSEKEEPING_SECONDS = 600


class Worker:
    def __init__(
        self,
        database: Database,
        handlers: Mapping[str, Handler],
        *,
        concurrency: int = 4,
        visibility_timeout: timedelta = timedelta(seconds=30),
        backoff_base: timedelta = timedelta(seconds=10),
        backoff_cap: timedelta = timedelta(minutes=30),
        retention: timedelta = timedelta(days=7),
        poll_interval: float = 1.0,
    ) -> None:
        self.database = database
        self.handlers = handlers
        self.concurrency = concurrency
        self.visibility_timeout = visibility_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retention = retention
        self.poll_interval = poll_interval
        self._chores = {  # what the loop also does, each at most once per interval (seconds)
            self._beat: visibility_timeout.total_seconds() / 3,
            self._purge: HOUSEKEEPING_SECONDS,
        }
        self._last_done: dict[Callable[[], None], float] = {}
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        log.info("worker started", extra={"worker": self.name, "concurrency": self.concurrency})
        running: set[Future[None]] = set()
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="job") as pool:
            while not self._stopping.is_set():
                self._do_chores()
                jobs = self._claim_safely(self.concurrency - len(running)) if len(running) < self.concurrency else []
                running |= {pool.submit(self.execute, job.id, job.attempts) for job in jobs}
                if running:
                    running = self._wait_for_some(running)
                elif not jobs:
                    self._stopping.wait(self.poll_interval)
            if running:
                log.info("worker stopping; finishing running jobs", extra={"running": len(running)})
            while running:  # still beating, so nobody takes them over meanwhile
                self._do_chores()
                running = self._wait_for_some(running)
        log.info("worker stopped", extra={"worker": self.name})

    def _wait_for_some(self, running: set[Future[None]]) -> set[Future[None]]:
        """Waits up to the poll interval for a job to finish; returns those still running."""
        done, pending = wait(running, timeout=self.poll_interval, return_when=FIRST_COMPLETED)
        for future in done:
            if future.exception() is not None:  # recording the outcome failed (database?)
                log.error("job bookkeeping failed", exc_info=future.exception())
        return pending

    def _do_chores(self) -> None:
        """Each chore that is due; a failure (the database is down) is logged and tried again next time."""
        now = time.monotonic()
        for chore, interval in self._chores.items():
            if now - self._last_done.get(chore, -interval) < interval:
                continue
            self._last_done[chore] = now
            try:
                chore()
            except Exception:
                log.exception("worker chore failed", extra={"chore": chore.__name__})

    def _beat(self) -> None:
        with self.database.sessions.begin() as session:
            Job.beat(session, worker=self.name)

    def _purge(self) -> None:
        with self.database.sessions.begin() as session:
            purged = sum(
                Job.clean_up(session, status=status, older_than=self.retention)
                for status in (JobStatus.SUCCEEDED, JobStatus.DEAD)
            )
        if purged:
            log.info("purged finished jobs", extra={"purged": purged})

    def _claim_safely(self, limit: int) -> list[Job]:
        """A database that is down for a while must not end the worker: log, wait, try again."""
        try:
            return self.claim(limit)
        except Exception:
            log.exception("claiming jobs failed; retrying after the poll interval")
            self._stopping.wait(self.poll_interval)
            return []

    def run_until_idle(self) -> int:
        """Runs due jobs one at a time until none is due; returns how many ran (for tests and one-off use)."""
        ran = 0
        while jobs := self.claim(1):
            self.execute(jobs[0].id, jobs[0].attempts)
            ran += 1
        return ran

    def claim(self, limit: int) -> list[Job]:
        with self.database.sessions.begin() as session:
            jobs = Job.claim(session, worker=self.name, limit=limit, visibility_timeout=self.visibility_timeout)
            session.expunge_all()
            return jobs

    def execute(self, job_id: uuid.UUID, attempt: int) -> None:
        with self.database.sessions() as session:
            job = session.get(Job, job_id)
            if job is None:
                return
            kind, payload = job.kind, job.payload
        handler = self.handlers.get(kind)
        error = None
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {kind!r}")
            handler(payload)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("job failed", extra={"jobId": str(job_id), "kind": kind, "attempt": attempt, "error": error})
        self._record(job_id, attempt, error)

    def _record(self, job_id: uuid.UUID, attempt: int, error: str | None) -> None:
        with self.database.sessions.begin() as session:
            job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
            if job is None or job.locked_by != self.name or job.attempts != attempt:
                # Our claim expired and another worker took the job over: its outcome is the one that counts.
                log.warning("job was taken over by another worker", extra={"jobId": str(job_id)})
                return
            if error is None:
                job.succeed()
                log.info("job succeeded", extra={"jobId": str(job_id), "kind": job.kind, "attempt": attempt})
            else:
                job.fail(error, backoff_base=self.backoff_base, backoff_cap=self.backoff_cap)
