"""Benchmark: Switchboard beside a plain Flask baseline doing the same work, on PostgreSQL with 10,000 plans.

Run with `make bench` (which provides a throwaway PostgreSQL). Two measures, printed side by side:
- **Instructions per request** (bench/instructions.py): each endpoint served in-process under valgrind's
  callgrind, Switchboard's ASGI app and the baseline's WSGI app, BENCH_COUNT_RUNS runs (default 3) of
  BENCH_COUNT_REQUESTS counted requests per endpoint (default 30), each run a process of its own. Runs agree
  within 1-2% (the baseline's within 0.1%): the figure to judge a code change by. `BENCH_COUNT=only make
  bench` runs these alone (no wrk; 4-8 minutes on this shared 2-CPU machine, mostly loading the apps under
  valgrind; BENCH_COUNT_RUNS=1 takes a third of that). The HTTP server and the kernel are not counted (see
  bench/instructions.py), so these ratios run higher than wrk's, most on liveness.
- **wrk** (BENCH_COUNT=0 runs it alone): both stacks at once on the same database with 2 gunicorn workers
  each: Switchboard as production starts it (uvicorn workers, APP_ENV=production), the baseline
  (bench/baseline_app.py) on sync workers. Each endpoint is warmed up on both, then measured in
  BENCH_ROUNDS alternating rounds (ABBA...) with wrk. Prints, per endpoint and stack, the median req/s,
  p99 and the workers' CPU milliseconds per request, the ratios, and the spread of req/s across rounds.
  On this shared machine these move by 10-20% between runs.
BENCH_ONLY=TEXT measures only the endpoints whose name contains TEXT. Record the output in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlencode

from joserfc.jwk import ECKey, KeySet
from sqlalchemy import create_engine, insert, select
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.instructions import Request, count, median, spread  # noqa: E402
from models import Country, ExternalPlan, ExternalPlanCountry  # noqa: E402
from models.business import WEEKDAYS  # noqa: E402

PLANS = 10_000
DURATION = os.environ.get("BENCH_DURATION", "10s")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
PROFILE = os.environ.get("BENCH_PROFILE") == "1"  # also py-spy one Switchboard worker on each hot endpoint
PROFILES = ROOT / "docs" / "benchmarks"
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "32")
ONLY = os.environ.get("BENCH_ONLY", "")  # measure only the endpoints whose name contains this
COUNT = os.environ.get("BENCH_COUNT", "1")  # "only": instruction counts alone; "0": wrk alone
COUNT_RUNS = int(os.environ.get("BENCH_COUNT_RUNS", "3"))
COUNT_REQUESTS = int(os.environ.get("BENCH_COUNT_REQUESTS", "30"))
TWILIO_TOKEN, PUBLIC_BASE_URL = "bench-twilio-auth-token", "https://bench.switchboard.test"
VOICE_PATH = "/api/v1/telephony/twilio/voice"
BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")


def seed(database_url: str) -> str:
    """10,000 plans spread over the catalog's countries; returns one plan id to fetch."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        codes = list(connection.scalars(select(Country.code)))
        rng = random.Random(7)  # noqa: S311 - repeatable test data, not secrets
        plans = [
            {
                "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "name": f"Bench plan {i:05d}",
                "provider": rng.choice(["Twilio", "Telnyx", "Vonage"]),
                "monthly_price_minor": rng.randint(50, 5000),
                "currency": "USD",
                "voice": True,
                "sms": rng.random() < 0.5,
                "active": True,
            }
            for i in range(PLANS)
        ]
        connection.execute(insert(ExternalPlan), plans)
        links = [{"external_plan_uuid": p["id"], "country_code": rng.choice(codes)} for p in plans]
        connection.execute(insert(ExternalPlanCountry.__table__), links)
    engine.dispose()
    return str(plans[PLANS // 2]["id"])


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def call(
    url: str, body: dict[str, object], headers: dict[str, str] | None = None, method: str = "POST"
) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310 - our own local server
        url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}, method=method
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        return json.loads(response.read())  # type: ignore[no-any-return]


def credentials(base: str) -> tuple[str, str]:
    """A signed-in owner's bearer token and an API key of their business (made through the API)."""
    person = {"email": "bench@example.com", "password": "benchmarking-passphrase", "name": "Bench"}
    call(f"{base}/api/v1/auth/register", person)
    token = call(f"{base}/api/v1/auth/login", {"email": person["email"], "password": person["password"]})["accessToken"]
    bearer = {"Authorization": f"Bearer {token}"}
    call(f"{base}/api/v1/business/me", {"name": "Bench Dental"}, bearer)
    key = call(f"{base}/api/v1/api-keys", {"name": "bench", "scopes": ["business:read"]}, bearer)["secret"]
    return str(token), str(key)


def open_receptionist(base: str, token: str, database_url: str) -> str:
    """Gives the bench business a number, its receptionist on it, forwarding, open around the clock (through
    the API); returns the number."""
    bearer = {"Authorization": f"Bearer {token}"}
    engine = create_engine(database_url)
    with engine.connect() as connection:
        plan = connection.scalar(
            select(ExternalPlanCountry.external_plan_id).where(ExternalPlanCountry.country_code == "US").limit(1)
        )
    engine.dispose()
    number = "+14155550199"
    call(f"{base}/api/v1/phone-numbers", {"e164": number, "planId": str(plan), "label": "Front desk"}, bearer)
    hours = {day: {"closed": False, "open": "00:00", "close": "23:59"} for day in WEEKDAYS}
    settings = {"phoneNumber": number, "receptionistEnabled": True, "forwardingNumber": "+14155550100"}
    call(
        f"{base}/api/v1/business/me",
        {**settings, "greeting": "Thanks for calling.", "businessHours": hours},
        bearer,
        "PATCH",
    )
    return number


def voice_form(to: str) -> tuple[str, str]:
    """Twilio's voice webhook for one call, as a form body and its signature, signed as Twilio signs it (the
    same call each time: the lookup, the signature check and the idempotent insert all run)."""
    form = {"CallSid": f"CA{'0' * 32}", "AccountSid": f"AC{'0' * 32}", "From": "+14155550123", "To": to}
    return urlencode(form), RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_BASE_URL + VOICE_PATH, form)


def voice_request(to: str) -> Path:
    """A wrk script posting voice_form(to)."""
    body, signature = voice_form(to)
    script = ROOT / "reports" / "bench-voice.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f'wrk.headers["X-Twilio-Signature"] = "{signature}"\n'
    )
    return script


def wrk(url: str, options: Sequence[str] = (), duration: str = DURATION) -> dict[str, float]:
    """`options`: wrk's own, such as ["-H", "Authorization: ..."] or ["-s", "a-request.lua"]."""
    out = subprocess.run(  # noqa: S603
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}", "--latency", *options, url],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def millis(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": requests,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": millis("50%"),
        "p99": millis("99%"),
        "non2xx": int(errors.group(1)) if errors else 0,
    }


def profile(name: str, worker: int, url: str, options: Sequence[str]) -> None:
    """Samples `worker` while wrk loads `url`: a flame graph to docs/benchmarks/NAME.svg, and a text summary
    (the functions most often on the stack, inclusive and self) printed and written beside it."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    raw = ROOT / "reports" / f"bench-profile-{slug}.txt"
    PROFILES.mkdir(exist_ok=True)
    for output, form in ((PROFILES / f"{slug}.svg", "flamegraph"), (raw, "raw")):
        sampler = subprocess.Popen(  # noqa: S603
            [str(BIN / "py-spy"), "record", "--pid", str(worker), "--duration", "6", "--rate", "250",
             "--format", form, "--output", str(output), "--nonblocking", "--gil"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wrk(url, options, duration="7s")
        sampler.wait(timeout=30)
    inclusive: dict[str, int] = {}
    leaf: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue  # not a sample (py-spy's own notes)
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";") if frame]
        total += int(count)
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
        if frames:
            leaf[frames[-1]] = leaf.get(frames[-1], 0) + int(count)
    dull = ("(threading.py)", "(asyncio/", "(concurrent/", "<module>")  # every request's thread and loop frames
    interesting = {f: n for f, n in inclusive.items() if not any(mark in f for mark in dull)}
    lines = [f"{name}: {total} samples of one worker ({slug}.svg)", "  most often on the stack (inclusive %):"]
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in sorted(interesting.items(), key=lambda i: -i[1])[:25]]
    lines += ["  most often running (self %):"]
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in sorted(leaf.items(), key=lambda i: -i[1])[:12]]
    summary = "\n".join(lines)
    (PROFILES / f"{slug}.txt").write_text(summary + "\n")
    print(summary)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(name: str, command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (ROOT / "reports" / f"bench-{name}.log").open("wb")
    command = [part.replace("{port}", str(port)) for part in command]
    server = subprocess.Popen(command, cwd=ROOT, env={**env, "PORT": str(port)}, stdout=log, stderr=log)  # noqa: S603
    return server, f"http://127.0.0.1:{port}"


def measure(workers: list[int], url: str, options: Sequence[str]) -> dict[str, float]:
    before = cpu_ticks(workers)
    result = wrk(url, options)
    result["cpu_ms"] = (cpu_ticks(workers) - before) * 1000 / TICKS / result["requests"]
    return result


def counted_requests(plan_id: str, token: str, api_key: str, receptionist: str) -> list[Request]:
    """The endpoints wrk loads, as bench/instructions.py serves them in-process (same names)."""
    body, signature = voice_form(receptionist)
    form = (("Content-Type", "application/x-www-form-urlencoded"), ("X-Twilio-Signature", signature))
    me = "/api/v1/business/me"
    return [
        Request("GET /health-check/liveness", "GET", "/health-check/liveness"),
        Request("GET /api/v1/plans/{planId}", "GET", f"/api/v1/plans/{plan_id}"),
        Request("GET /api/v1/plans?limit=20", "GET", "/api/v1/plans", "limit=20"),
        Request("GET /api/v1/business/me (JWT)", "GET", me, "", (("Authorization", f"Bearer {token}"),)),
        Request("GET /api/v1/business/me (key)", "GET", me, "", (("X-API-Key", api_key),)),
        Request("POST .../twilio/voice", "POST", VOICE_PATH, "", form, body),
    ]


def print_counts(counts: dict[str, dict[str, list[float]]], ratios: dict[str, dict[str, float]]) -> None:
    """One table: instructions per request (median of the runs, and their spread), then wrk's ratios."""
    print(
        f"instructions per request (callgrind, in-process; median of {COUNT_RUNS} runs of {COUNT_REQUESTS} requests"
        " per endpoint; spread = (max - min) / median)" + ("; wrk: medians of the rounds above" if ratios else "")
    )
    print(
        f"{'endpoint':<30} {'Switchboard Ir':>14} {'Flask Ir':>11} {'Ir x':>6} {'spread SB; Flask':>17}"
        + (f" {'wrk CPU x':>10} {'wrk req/s x':>12}" if ratios else "")
    )
    for name, runs in counts["switchboard"].items():
        sb, fl = median(runs), median(counts["flask"][name])
        spreads = f"{spread(runs):.2f}%; {spread(counts['flask'][name]):.2f}%"
        line = f"{name:<30} {sb:>14,.0f} {fl:>11,.0f} {sb / fl:>6.2f} {spreads:>17}"
        if name in ratios:
            line += f" {ratios[name]['cpu']:>10.2f} {ratios[name]['rps']:>12.2f}"
        print(line)


def main() -> None:
    if COUNT != "only" and shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu) or brew install wrk")
    if COUNT != "0" and shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install -y valgrind (or BENCH_COUNT=0: wrk alone)")
    database_url = os.environ["DATABASE_URL"]
    subprocess.run([BIN / "alembic", "upgrade", "head"], cwd=ROOT, check=True)  # noqa: S603
    subprocess.run([BIN / "python", "-m", "cli.catalog"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    plan_id = seed(database_url)

    env = {**os.environ, "WEB_CONCURRENCY": "2", "APP_ENV": "production", "LOG_LEVEL": "INFO"}
    env["MAIL_URL"] = "smtp://127.0.0.1:9"  # production requires one; the web processes never send mail
    env |= {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "PUBLIC_BASE_URL": PUBLIC_BASE_URL}  # both stacks check signatures
    # Every request is still counted against its budget (the cost is part of what is measured); wrk's load
    # from one address would otherwise be refused within the first second.
    env |= {f"RATE_LIMIT_{policy}": "1000000000/minute" for policy in ("SENSITIVE", "ANONYMOUS", "AUTHENTICATED")}
    signing_key = ECKey.generate_key("P-256", parameters={"kid": "bench"}, private=True)
    env["JWT_PRIVATE_KEYS"] = json.dumps(KeySet([signing_key]).as_dict(private=True))  # both stacks verify it
    (ROOT / "reports").mkdir(exist_ok=True)
    stacks = {"switchboard": start("switchboard", [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py"], env)}
    if COUNT != "only":
        stacks["flask"] = start("flask", [str(BIN / "gunicorn"), "-c", "bench/gunicorn_baseline.py"], env)
    try:
        for _, base in stacks.values():
            subprocess.run([BIN / "python", "scripts/wait_ready.py", f"{base}/health-check/liveness", "30"], check=True)  # noqa: S603
        workers = {
            name: [int(pid) for pid in subprocess.check_output(["pgrep", "-P", str(server.pid)], text=True).split()]  # noqa: S603, S607
            for name, (server, _) in stacks.items()
        }
        token, api_key = credentials(stacks["switchboard"][1])
        receptionist = open_receptionist(stacks["switchboard"][1], token, database_url)
        counts: dict[str, dict[str, list[float]]] = {}
        if COUNT != "0":  # first, while the access token (15 minutes) is fresh and the machine is quiet
            requests = [r for r in counted_requests(plan_id, token, api_key, receptionist) if ONLY in r.name]
            counts = count(requests, env, runs=COUNT_RUNS, n=COUNT_REQUESTS)
            if COUNT == "only":
                print_counts(counts, {})
                return
        targets: dict[str, tuple[str, list[str]]] = {
            "GET /health-check/liveness": ("/health-check/liveness", []),
            "GET /api/v1/plans/{planId}": (f"/api/v1/plans/{plan_id}", []),
            "GET /api/v1/plans?limit=20": ("/api/v1/plans?limit=20", []),
            "GET /api/v1/business/me (JWT)": ("/api/v1/business/me", ["-H", f"Authorization: Bearer {token}"]),
            "GET /api/v1/business/me (key)": ("/api/v1/business/me", ["-H", f"X-API-Key: {api_key}"]),
            "POST .../twilio/voice": (VOICE_PATH, ["-s", str(voice_request(receptionist))]),
        }
        print(
            f"2 gunicorn workers per stack (Switchboard: uvicorn, APP_ENV=production; Flask: sync); {PLANS:,} plans;"
            f" wrk -t2 -c{CONNECTIONS} -d{DURATION}; {ROUNDS} alternating rounds, medians"
        )
        print(
            f"{'endpoint':<30} {'Switchboard req/s':>17} {'CPU ms':>7} {'p99 ms':>7} {'Flask req/s':>12} {'CPU ms':>7}"
            f" {'p99 ms':>7} {'CPU x':>6} {'req/s x':>8} {'p99 x':>6}  spread of req/s (SB; Flask)"
        )
        targets = {name: target for name, target in targets.items() if ONLY in name}
        ratios: dict[str, dict[str, float]] = {}
        for name, (path, options) in targets.items():
            results: dict[str, list[dict[str, float]]] = {stack: [] for stack in stacks}
            for _, base in stacks.values():
                wrk(base + path, options, duration="3s")  # warm-up, discarded
            for round_ in range(ROUNDS):
                order = list(stacks) if round_ % 2 == 0 else list(reversed(stacks))
                for stack in order:
                    results[stack].append(measure(workers[stack], stacks[stack][1] + path, options))
            sb, fl = (
                {key: median([r[key] for r in results[s]]) for key in ("rps", "cpu_ms", "p99", "non2xx")}
                for s in stacks
            )
            spread_ = "; ".join(
                f"{min(r['rps'] for r in results[s]):.0f}-{max(r['rps'] for r in results[s]):.0f}" for s in stacks
            )
            ratios[name] = {"cpu": sb["cpu_ms"] / fl["cpu_ms"], "rps": sb["rps"] / fl["rps"]}
            print(
                f"{name:<30} {sb['rps']:>17.0f} {sb['cpu_ms']:>7.2f} {sb['p99']:>7.1f} {fl['rps']:>12.0f}"
                f" {fl['cpu_ms']:>7.2f} {fl['p99']:>7.1f} {sb['cpu_ms'] / fl['cpu_ms']:>6.2f}"
                f" {sb['rps'] / fl['rps']:>8.2f} {sb['p99'] / fl['p99']:>6.2f}  {spread_}"
                + (f"  NON-2XX: {sb['non2xx']:.0f}; {fl['non2xx']:.0f}" if sb["non2xx"] or fl["non2xx"] else "")
            )
        if counts:
            print()
            print_counts(counts, ratios)
        if PROFILE:
            for name, (path, options) in targets.items():
                if "liveness" not in name:
                    profile(name, workers["switchboard"][0], stacks["switchboard"][1] + path, options)
    finally:
        for server, _ in stacks.values():
            server.terminate()
        for server, _ in stacks.values():
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
