"""Whether this process is draining: told to stop, it still serves what reaches it, while readiness says
503 so that load balancers stop sending it more (web/gunicorn_worker.py sets it, readiness reads it)."""

from __future__ import annotations

import threading

draining = threading.Event()
