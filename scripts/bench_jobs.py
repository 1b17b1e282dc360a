"""Enqueue-to-start latency of background jobs: how long a committed job waits before a worker claims it.

Run by `make bench-scale` (after scripts/bench_scale.py) on a throwaway PostgreSQL (scripts/with-postgres). It
starts `python worker.py` as `make run` does (mail written to files, as without MAIL_URL), lets it go idle, then
commits one email job at a time with a pause between them (so each finds the worker idle, as a sign-up does),
and reads when the worker finished each (`finished_at`, the worker's clock; same machine): an upper bound of when it
started. Prints p50, p90, p99 and max.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alembic import command
from sqlalchemy import select

from core.config import PROJECT_ROOT, Settings
from core.db import Database, alembic_config, create_db_engine
from models import Job, JobStatus
from models.base import utcnow
from services.mail import queue_email

JOBS = 200
PAUSE_SECONDS = 0.05


def main() -> None:
    settings = Settings()
    command.upgrade(alembic_config(settings.database_url), "head")
    database = Database(create_db_engine(settings))
    with tempfile.TemporaryDirectory() as var_dir:
        env = {**os.environ, "VAR_DIR": var_dir, "MAIL_URL": "", "LOG_LEVEL": "WARNING"}
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=PROJECT_ROOT, env=env)
        try:
            time.sleep(3)  # started, listening, idle
            committed: dict[object, datetime] = {}
            for n in range(JOBS):
                with database.sessions.begin() as session:
                    job = queue_email(
                        session,
                        to=f"bench-{n}@example.com",
                        template="verify_email",
                        context={"name": "B", "link": "L"},
                    )
                committed[job.id] = utcnow()
                time.sleep(PAUSE_SECONDS)
            deadline = time.monotonic() + 60
            with database.sessions() as session:
                while session.scalar(select(Job.id).where(Job.status != JobStatus.SUCCEEDED).limit(1)) is not None:
                    if time.monotonic() > deadline:
                        raise SystemExit("jobs were not done within a minute")
                    time.sleep(0.1)
                    session.rollback()
                # A finished job no longer keeps when it was claimed (locked_at), so the figure is commit to
                # finish: an upper bound of commit to start, by the few milliseconds a file-written email takes.
                finished = dict(session.execute(select(Job.id, Job.finished_at)).all())
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    latencies = sorted((finished[job_id] - at).total_seconds() * 1000 for job_id, at in committed.items())
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"enqueue to finish of a file-written email, {JOBS} jobs, one at a time, the worker idle between them:")
    p50, p90, p99 = quantiles[49], quantiles[89], quantiles[98]
    print(f"  p50 {p50:.1f} ms  p90 {p90:.1f} ms  p99 {p99:.1f} ms  max {latencies[-1]:.1f} ms")
    database.dispose()


if __name__ == "__main__":
    main()
