"""GET /metrics under `make run` itself (the Procfile under honcho, gunicorn's default two workers, development):
requests counted by operation, from both workers, with no metrics directory named by anyone."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2

from tests.integration.test_metrics import LIST_COUNTRIES_OK, per_worker, samples
from tests.system.test_make_run import eventually, ready


def counted(text: str) -> float:
    return samples(text, "switchboard_http_requests_total").get(LIST_COUNTRIES_OK, 0)


def test_make_run_counts_requests_by_operation_from_both_workers(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # TMPDIR only places gunicorn.conf.py's default directory (tempfile.mkdtemp) where this test can read it.
    with ready(tmp_path, settings={"TMPDIR": str(tmp)}) as run:
        base = f"http://127.0.0.1:{run.port}"

        def started() -> bool | None:  # readiness answers once one worker does; the other may start later
            return run.output().count("Application startup complete.") == 2 or None

        eventually("both web workers started", started, 60)
        with ThreadPoolExecutor(8) as pool:  # new connections, several at once: both workers accept some
            statuses = list(
                pool.map(lambda _: httpx2.get(f"{base}/api/v1/countries", timeout=10).status_code, range(100))
            )
        deadline = time.monotonic() + 10  # a request is counted just after its response is sent
        while True:
            scrape = httpx2.get(f"{base}/metrics", timeout=10)  # open: make run's default is development
            if counted(scrape.text) == 100 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        (directory,) = tmp.glob("switchboard-metrics-*")  # gunicorn.conf.py's default, in TMPDIR
        workers = per_worker(directory, LIST_COUNTRIES_OK)

    assert statuses == [200] * 100
    assert scrape.status_code == 200
    assert counted(scrape.text) == 100, scrape.text
    assert sorted(count > 0 for count in workers.values()) == [True, True], workers
    assert sum(workers.values()) == 100
