"""The background-job worker: `python worker.py` (make worker). Run as many as you like, side by side.

SIGTERM or SIGINT: claim nothing more, let the running jobs finish, exit 0.
"""

from __future__ import annotations

import signal
from datetime import timedelta
from types import FrameType

from core.config import load_settings_or_exit
from core.crypto import Cipher
from core.db import Database, create_db_engine
from core.logging import configure_logging
from models import Event, WebhookDelivery
from services import digest, recordings
from services.jobs import HOUSEKEEPING_SECONDS, Queue, Worker
from services.mail import SEND_EMAIL, Mailer
from services.notifications import NOTIFY_CALL, Notifier
from services.text_back import SEND_SMS, Texter
from services.webhooks import DELIVER_WEBHOOK, Deliverer


def main() -> None:
    settings = load_settings_or_exit()
    configure_logging(settings)
    database = Database(create_db_engine(settings, deadline=settings.db_client_deadline_seconds))
    worker = Worker(
        database,
        {
            SEND_EMAIL: Queue(Mailer(settings).send_job, settings.worker_concurrency),
            NOTIFY_CALL: Queue(Notifier(database, settings).notify_job, settings.worker_concurrency),
            SEND_SMS: Queue(Texter(database, settings).send_job, settings.worker_concurrency),
            DELIVER_WEBHOOK: Queue(
                Deliverer(
                    database,
                    lambda: Cipher.from_settings(settings),
                    allow_local=settings.allow_local_targets,
                    timeout=settings.webhook_timeout_seconds,
                ).deliver_job,
                settings.webhook_concurrency,
                per_key=settings.webhook_endpoint_concurrency,
            ),
        },
        visibility_timeout=timedelta(seconds=settings.job_visibility_timeout_seconds),
        retention=timedelta(days=settings.job_retention_days),
        backoff_base=timedelta(seconds=settings.job_backoff_base_seconds),
        backoff_cap=timedelta(seconds=settings.job_backoff_cap_seconds),
        periodic=[
            (Event.clean_up, HOUSEKEEPING_SECONDS),  # the events API keeps 30 days
            (WebhookDelivery.clean_up, HOUSEKEEPING_SECONDS),  # and the settled deliveries' copies of them
            (recordings.purge_expired_calls, HOUSEKEEPING_SECONDS),  # each business's call retention
            (digest.send_due, settings.digest_check_seconds),  # the daily digests, in each business's time zone
        ],
    )

    def stop(_signal: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        worker.run()
    finally:
        database.dispose()


if __name__ == "__main__":
    main()
