"""Instructions per request: a deterministic measure of each stack's CPU per request, beside wrk's wall clock.

wrk's CPU ms/request moves by 10-20% between runs of the same code on this shared machine
(docs/benchmarks.md). Here a fixed list of requests is served in-process under valgrind's callgrind, which
counts the instructions executed (Ir), whatever else the machine is doing:
- **Switchboard**: the ASGI app of `app.create_app(settings)`, with the settings the wrk bench gives the
  production server (scripts/bench.py passes the same environment), after a lifespan startup, driven by
  a small uvloop loop (uvicorn's loop here) awaiting `app(scope, receive, send)` with scopes shaped as
  uvicorn builds them. Flask runs on the app's own handler threads, as in production: callgrind counts
  every thread of the process.
- **Flask baseline**: `bench.baseline_app.app` called as WSGI with environs from werkzeug's EnvironBuilder,
  as gunicorn's sync worker calls it.

Per endpoint: WARMUP requests, `gc.collect()`, then N counted requests, each checked for a 200 after the
window. Scopes, environs, bodies and the receive/send callables are all built before the window, so only the
server side is counted. The process runs under `valgrind --tool=callgrind --instr-atstart=no`: Python starts
and the app loads without instrumentation (still 10-20x slower than native: most of the wall time). Around
each window a tiny C shim (SHIM_SOURCE, compiled with gcc into build/bench-instructions/ and loaded with
ctypes) starts instrumentation and zeroes the counts, then dumps them with the endpoint's name and stops
instrumentation again: one dump file per endpoint, whose `totals:` line (the cost centres of every thread)
divided by N is Ir/request. Its `summary:` line is the dumping thread's alone (and wraps below zero once the
handler threads have counted). As the worker does (web/gunicorn_worker.py), the process runs `gc.collect()`
and `gc.freeze()` once the app has loaded; PYTHONHASHSEED=0 fixes dict and set orders.

Each run is a process of its own (BENCH_COUNT_RUNS of each stack, as many at once as there are CPUs: the
counts do not depend on the load, only the wall time does); the spread of a figure is (max - min) / median of
its runs: within 0.1% for the single-threaded baseline, 0.2-1.6% for Switchboard, whose loop and handler
threads interleave differently in each process, and so place objects differently (the interpreter's
type-attribute cache, keyed by address, then misses more or less). What is not counted: the kernel (system
calls), and the HTTP server (uvicorn's parsing and writing, gunicorn's sync worker). So the ratio of the
cheapest request, liveness, is larger here than wrk's CPU ratio, which includes both; on database-backed
requests the two agree better.

The database is outside the count (another process): what is counted is the client side, the driver,
the ORM and the app. One database-side effect is pinned: an API key's `last_used_at` is written at most
once a minute (models/api_key.py), so it is set to now before each endpoint's warm-up, and no such write
falls inside a window.

Usage (scripts/bench.py does this; DATABASE_URL and the bench's settings in the environment):
    python bench/instructions.py STACK REQUESTS.json N WARMUP    # one process; run it under callgrind
`count()` runs them and returns the figures. callgrind sees the interpreter, not Python functions; for those,
run the same driver natively under a sampler, e.g. (a file with one request, many of them):
    py-spy record --gil --function --format raw -o getplan.txt -- python bench/instructions.py switchboard \
        getplan.json 8000 200
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench-instructions"
STACKS = ("switchboard", "flask")
HOST = "127.0.0.1:8000"  # the Host header wrk would send
SHIM_SOURCE = r"""
#include <valgrind/callgrind.h>
void bench_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void bench_stop(const char *label) { CALLGRIND_DUMP_STATS_AT(label); CALLGRIND_STOP_INSTRUMENTATION; }
"""


@dataclass(frozen=True)
class Request:
    name: str  # as scripts/bench.py names the endpoint
    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""


def shim() -> Path:
    """The C shim, compiled once (again when its source changes)."""
    BUILD.mkdir(parents=True, exist_ok=True)
    source, library = BUILD / "shim.c", BUILD / "shim.so"
    if not library.exists() or not source.exists() or source.read_text() != SHIM_SOURCE:
        source.write_text(SHIM_SOURCE)
        subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)  # noqa: S603, S607
    return library


# --- one process: load a stack, warm up, count ---------------------------------------------------------


class _Window:
    """The shim's two calls; a no-op outside valgrind (the client requests are no-op instructions)."""

    def __init__(self, library: Path | None) -> None:
        self.lib = ctypes.CDLL(str(library)) if library else None

    def start(self) -> None:
        if self.lib:
            self.lib.bench_start()

    def stop(self, label: str) -> None:
        if self.lib:
            self.lib.bench_stop(label.encode())


def _touch_api_keys() -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(os.environ["DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(text("UPDATE api_keys SET last_used_at = now()"))
    engine.dispose()


def _switchboard(requests: Sequence[Request]) -> Callable[[Request, int], Callable[[], list[int]]]:
    """Loads the app; returns prepare(request, n) -> run(), which serves n prebuilt requests and returns the
    statuses."""
    import uvloop

    from app import create_app
    from core.config import load_settings_or_exit

    app = create_app(load_settings_or_exit())
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    state: dict[str, Any] = {}
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    startup.put_nowait({"type": "lifespan.startup"})
    lifespan = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    loop.create_task(app(lifespan, startup.get, replies.put))
    reply = loop.run_until_complete(replies.get())
    if reply["type"] != "lifespan.startup.complete":
        sys.exit(f"lifespan startup failed: {reply}")

    def prepare(request: Request, n: int, concurrently: bool = False) -> Callable[[], list[int]]:
        headers = [(b"host", HOST.encode())]
        headers += [(name.lower().encode(), value.encode()) for name, value in request.headers]
        body = request.body.encode()
        if body:
            headers.append((b"content-length", str(len(body)).encode()))
        calls = []
        for _ in range(n):
            scope = {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "http_version": "1.1",
                "server": ("127.0.0.1", 8000),
                "client": ("127.0.0.1", 50000),
                "scheme": "http",
                "root_path": "",
                "headers": list(headers),
                "state": state.copy(),
                "method": request.method,
                "path": request.path,
                "raw_path": request.path.encode(),
                "query_string": request.query.encode(),
            }
            messages = [{"type": "http.request", "body": body, "more_body": False}]
            sent: list[dict[str, Any]] = []
            calls.append((scope, _receiver(messages), _sender(sent), sent))

        async def serve() -> None:
            if concurrently:
                await asyncio.gather(*(app(scope, receive, send) for scope, receive, send, _ in calls))
                return
            for scope, receive, send, _ in calls:
                await app(scope, receive, send)

        def run() -> list[int]:
            loop.run_until_complete(serve())
            return [next((m["status"] for m in sent if m["type"] == "http.response.start"), 0) for *_, sent in calls]

        return run

    # The app's handler threads start on demand: start them all now, with concurrent requests, rather than
    # one inside a window.
    if any(status != 200 for status in prepare(requests[0], 32, concurrently=True)()):
        sys.exit(f"switchboard: {requests[0].name} is not 200")
    return prepare


def _receiver(messages: list[dict[str, Any]]) -> Callable[[], Any]:
    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    return receive


def _sender(sent: list[dict[str, Any]]) -> Callable[[dict[str, Any]], Any]:
    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    return send


def _flask(requests: Sequence[Request]) -> Callable[[Request, int], Callable[[], list[int]]]:
    from werkzeug.test import EnvironBuilder

    from bench.baseline_app import app

    def prepare(request: Request, n: int) -> Callable[[], list[int]]:
        calls = []
        for _ in range(n):
            environ = EnvironBuilder(
                path=request.path,
                base_url=f"http://{HOST}",
                query_string=request.query,
                method=request.method,
                headers=list(request.headers),
                data=request.body.encode() or None,
                environ_base={"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000"},
            ).get_environ()
            statuses: list[str] = []

            def start_response(status: str, headers: Any, exc_info: Any = None, _s: list[str] = statuses) -> Any:
                _s.append(status)

            calls.append((environ, start_response, statuses))

        def run() -> list[int]:
            for environ, start_response, _ in calls:
                response = app(environ, start_response)
                try:
                    b"".join(response)
                finally:
                    getattr(response, "close", lambda: None)()
            return [int(statuses[0].split()[0]) if statuses else 0 for *_, statuses in calls]

        return run

    return prepare


def serve(stack: str, requests: Sequence[Request], n: int, warmup: int, library: Path | None) -> None:
    """Counts each request's window (under callgrind; without it, just serves them). Exits if a response
    is not 200."""
    window = _Window(library)
    clock = time.monotonic()
    prepare = (_switchboard if stack == "switchboard" else _flask)(requests)
    gc.collect()
    gc.freeze()
    print(f"{stack}: loaded in {time.monotonic() - clock:.1f} s", file=sys.stderr)
    for request in requests:
        clock = time.monotonic()
        _touch_api_keys()
        warm, counted = prepare(request, warmup), prepare(request, n)
        statuses = warm()
        gc.collect()
        warmed = time.monotonic()
        window.start()
        statuses += counted()
        window.stop(request.name)
        took = f"warm-up {warmed - clock:.1f} s, counted {time.monotonic() - warmed:.1f} s"
        print(f"{stack}: {request.name}: {took}", file=sys.stderr)
        wrong = [status for status in statuses if status != 200]
        if wrong:
            sys.exit(f"{stack}: {request.name}: {len(wrong)} of {len(statuses)} responses were not 200: {wrong[:5]}")


# --- the bench: runs of both stacks under callgrind ----------------------------------------------------


def _run(stack: str, run: int, requests_file: Path, n: int, warmup: int, env: dict[str, str]) -> dict[str, float]:
    """One process of `stack` under callgrind; Ir/request per endpoint."""
    out = BUILD / f"{stack}-{run}"
    for old in BUILD.glob(f"{stack}-{run}.*"):
        old.unlink()
    log = BUILD / f"{stack}-{run}.log"
    metrics_dir = tempfile.mkdtemp(prefix="bench-instructions-metrics-")
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p",
        sys.executable, str(Path(__file__)), stack, str(requests_file), str(n), str(warmup),
    ]  # fmt: skip
    try:
        with log.open("wb") as stderr:
            done = subprocess.run(  # noqa: S603
                command,
                cwd=ROOT,
                env={**env, "PYTHONHASHSEED": "0", "PROMETHEUS_MULTIPROC_DIR": metrics_dir},
                stdout=subprocess.DEVNULL,  # the access log
                stderr=stderr,
                check=False,
            )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if done.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"{stack} under callgrind exited with {done.returncode} ({log}):\n{tail}")
    counts: dict[str, float] = {}
    for dump in BUILD.glob(f"{stack}-{run}.*"):
        text = dump.read_text(errors="replace") if dump.suffix != ".log" else ""
        label = re.search(r"^desc: Trigger: Client Request: (.*)$", text, re.M)
        total = re.search(r"^totals: (\d+)", text, re.M)  # all threads' (summary: the dumping thread's)
        if label and total:
            counts[label.group(1)] = int(total.group(1)) / n
        if dump.suffix != ".log":
            dump.unlink()  # they are large; the log stays
    return counts


def count(
    requests: Sequence[Request], env: dict[str, str], runs: int = 3, n: int = 30, warmup: int = 20
) -> dict[str, dict[str, list[float]]]:
    """{stack: {endpoint: [Ir/request of each run]}}: `runs` processes of each stack, as many at once as
    there are CPUs (the counts do not depend on the load; the wall time does)."""
    shim()
    requests_file = BUILD / "requests.json"
    requests_file.write_text(json.dumps([asdict(r) for r in requests]))
    jobs = [(stack, run) for run in range(runs) for stack in STACKS]
    with ThreadPoolExecutor(min(len(jobs), os.cpu_count() or 1)) as pool:
        futures = {job: pool.submit(_run, *job, requests_file, n, warmup, env) for job in jobs}
        figures: dict[str, dict[str, list[float]]] = {stack: {r.name: [] for r in requests} for stack in STACKS}
        for (stack, _), future in futures.items():
            for name, value in future.result().items():
                figures[stack][name].append(value)
    return figures


def spread(values: Sequence[float]) -> float:
    """(max - min) / median, in %."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return 100 * (ordered[-1] - ordered[0]) / median


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main(argv: list[str]) -> None:
    stack, requests_file, n, warmup = argv
    sys.path[0] = str(ROOT)  # not bench/: the app's modules and the baseline's package
    listed = json.loads(Path(requests_file).read_text())
    requests = [Request(**{**r, "headers": tuple(tuple(h) for h in r["headers"])}) for r in listed]
    library = BUILD / "shim.so"
    started = time.monotonic()
    serve(stack, requests, int(n), int(warmup), library if library.exists() else None)
    print(f"{stack}: served in {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
