"""The worker side of background jobs (models/job.py has the queue itself).

Each kind of job is a queue with its own threads (`Queue.concurrency`), so a slow kind (deliveries to a
hanging webhook endpoint) never holds the slots of another (password-reset mail); within a kind, jobs that
share a concurrency key run at most `Queue.per_key` at a time, so one endpoint cannot take all of its
kind's threads either. `Worker.run()` claims whenever a slot is free and something may be due: woken by
a NOTIFY at each enqueue's commit, by a finished job, or by the poll interval as a fallback. On `stop()`
(SIGTERM in worker.py) it claims nothing more and lets the running jobs finish. While it runs it beats
its jobs' claims every third of the visibility timeout (so a dead worker's jobs are taken over within
that timeout, and a live one's never are), and purges finished jobs older than `retention`.

A handler raises `Postpone(until)` for a job it should not try yet (its endpoint is paused): the job is
queued again for then, and the attempt is not counted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select as select_rows
from sqlalchemy.orm import Session

from core.db import Database
from models import Job, JobStatus
from models.job import CHANNEL

log = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any]], None]
HOUSEKEEPING_SECONDS = 600


class Postpone(Exception):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"postponed until {until.isoformat()}")
        self.until = until


@dataclass(frozen=True)
class Queue:
    handler: Handler
    concurrency: int = 4
    per_key: int | None = None  # running jobs that may share a concurrency key; None: no limit


class Worker:
    def __init__(
        self,
        database: Database,
        queues: Mapping[str, Handler | Queue],
        *,
        concurrency: int = 4,
        visibility_timeout: timedelta = timedelta(seconds=30),
        backoff_base: timedelta = timedelta(seconds=10),
        backoff_cap: timedelta = timedelta(minutes=30),
        retention: timedelta = timedelta(days=7),
        poll_interval: float = 1.0,
        periodic: Sequence[tuple[Callable[[Session], int], float]] = (),
    ) -> None:
        """`queues` maps each kind this worker runs to its Queue, or to a bare handler (`concurrency` threads);
        `periodic` are other chores, each a function of a session (run in a transaction of its own, returning
        how many rows it handled) and its interval in seconds: every worker runs them, so each must be safe
        to run at once in several (a purge, or work that claims its rows)."""
        self.database = database
        self.queues = {
            kind: queue if isinstance(queue, Queue) else Queue(queue, concurrency) for kind, queue in queues.items()
        }
        self.visibility_timeout = visibility_timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retention = retention
        self.poll_interval = poll_interval
        self._chores = {  # what the loop also does, each at most once per interval (seconds)
            self._beat: visibility_timeout.total_seconds() / 3,
            self._purge: HOUSEKEEPING_SECONDS,
        }
        for work, interval in periodic:
            self._chores[self._in_transaction(work)] = interval
        self._last_done: dict[Callable[[], None], float] = {}
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stopping = threading.Event()
        self._wake = threading.Event()  # something may be due, or a slot was freed
        self._running: set[uuid.UUID] = set()  # the jobs this worker's threads are on, which it beats

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def run(self) -> None:
        log.info(
            "worker started", extra={"worker": self.name, "queues": {k: q.concurrency for k, q in self.queues.items()}}
        )
        threading.Thread(target=self._listen, name="job-wakeups", daemon=True).start()
        pools = {
            kind: ThreadPoolExecutor(max_workers=queue.concurrency, thread_name_prefix=f"job-{kind}")
            for kind, queue in self.queues.items()
        }
        running: dict[str, set[Future[None]]] = {kind: set() for kind in self.queues}
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # before claiming: a wake-up during the claims is not lost
                self._do_chores()
                for kind, queue in self.queues.items():
                    running[kind] = {future for future in running[kind] if not future.done()}
                    free = queue.concurrency - len(running[kind])
                    for job in self._claim_safely(kind, free) if free > 0 else []:
                        future = pools[kind].submit(self.execute, job.id, job.attempts)
                        future.add_done_callback(self._finished)
                        running[kind].add(future)
                self._wake.wait(self.poll_interval)
            if any(running.values()):
                log.info("worker stopping; finishing running jobs", extra={"running": sum(map(len, running.values()))})
            while any(future for futures in running.values() for future in futures if not future.done()):
                self._do_chores()  # still beating, so nobody takes them over meanwhile
                time.sleep(min(self.poll_interval, 0.1))
        finally:
            for pool in pools.values():
                pool.shutdown(wait=True)
        log.info("worker stopped", extra={"worker": self.name})

    def _finished(self, future: Future[None]) -> None:
        if future.exception() is not None:  # recording the outcome failed (database?)
            log.error("job bookkeeping failed", exc_info=future.exception())
        self._wake.set()

    def _listen(self) -> None:
        """Sets the wake-up event at each NOTIFY of an enqueue; reconnects after a failure. Polling goes on
        meanwhile, so a lost connection only makes workers slower to start a job, never miss it."""
        check_every = min(self.poll_interval, 1.0)  # how soon a stop, or a lost connection, is noticed
        while not self._stopping.is_set():
            try:
                with contextlib.closing(self.database.connect_unpooled()) as connection:
                    connection.autocommit = True
                    with connection.cursor() as cursor:
                        cursor.execute(f"LISTEN {CHANNEL}")
                    self._wake.set()  # whatever was enqueued while nobody listened
                    while not self._stopping.is_set():
                        if select.select([connection], [], [], check_every)[0]:
                            connection.poll()
                            if connection.notifies:
                                connection.notifies.clear()
                                self._wake.set()
            except Exception:
                log.warning("listening for new jobs failed; polling until it works again", exc_info=True)
                self._stopping.wait(check_every)

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
            Job.beat(session, worker=self.name, job_ids=self._running.copy())

    def _purge(self) -> None:
        with self.database.sessions.begin() as session:
            purged = sum(
                Job.clean_up(session, status=status, older_than=self.retention)
                for status in (JobStatus.SUCCEEDED, JobStatus.DEAD)
            )
        if purged:
            log.info("purged finished jobs", extra={"purged": purged})

    def _in_transaction(self, work: Callable[[Session], int]) -> Callable[[], None]:
        def chore() -> None:
            with self.database.sessions.begin() as session:
                handled = work(session)
            if handled:
                log.info("chore done", extra={"chore": work.__qualname__, "rows": handled})

        chore.__name__ = work.__qualname__
        return chore

    def _claim_safely(self, kind: str, limit: int) -> list[Job]:
        """A database that is down for a while must not end the worker: log, wait, try again."""
        try:
            return self.claim(limit, kind=kind)
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

    def claim(self, limit: int, *, kind: str | None = None) -> list[Job]:
        """Up to `limit` due jobs of `kind`, or of the first of this worker's kinds that has any."""
        claimed: list[Job] = []
        for each in [kind] if kind is not None else list(self.queues):
            with self.database.sessions.begin() as session:
                claimed = Job.claim(
                    session,
                    kind=each,
                    worker=self.name,
                    limit=limit,
                    visibility_timeout=self.visibility_timeout,
                    per_key=self.queues[each].per_key if each in self.queues else None,
                )
                session.expunge_all()
            if claimed:
                break
        return claimed

    def execute(self, job_id: uuid.UUID, attempt: int) -> None:
        self._running.add(job_id)
        try:
            self._execute(job_id, attempt)
        finally:
            self._running.discard(job_id)

    def _execute(self, job_id: uuid.UUID, attempt: int) -> None:
        with self.database.sessions() as session:
            job = session.get(Job, job_id)
            if job is None:
                return
            kind, payload = job.kind, job.payload
        queue = self.queues.get(kind)
        error: str | Postpone | None = None
        try:
            if queue is None:
                raise LookupError(f"no handler for job kind {kind!r}")
            queue.handler(payload)
        except Postpone as postpone:
            error = postpone
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("job failed", extra={"jobId": str(job_id), "kind": kind, "attempt": attempt, "error": error})
        self._record(job_id, attempt, error)

    def _record(self, job_id: uuid.UUID, attempt: int, error: str | Postpone | None) -> None:
        with self.database.sessions.begin() as session:
            job = session.scalar(select_rows(Job).where(Job.id == job_id).with_for_update())
            if job is None or job.locked_by != self.name or job.attempts != attempt:
                # Our claim expired and another worker took the job over: its outcome is the one that counts.
                log.warning("job was taken over by another worker", extra={"jobId": str(job_id)})
                return
            if isinstance(error, Postpone):
                job.defer(error.until)
            elif error is None:
                job.succeed()
                log.info("job succeeded", extra={"jobId": str(job_id), "kind": job.kind, "attempt": attempt})
            else:
                job.fail(error, backoff_base=self.backoff_base, backoff_cap=self.backoff_cap)
