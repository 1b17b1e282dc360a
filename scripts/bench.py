"""Benchmark: gunicorn (2 uvicorn workers) on PostgreSQL with 10,000 plans, loaded by wrk.

Run with `make bench` (which provides a throwaway PostgreSQL). Prints req/s, p50/p99 latency and the
workers' CPU milliseconds per request for each endpoint. Record results in docs/benchmarks.md.
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
from pathlib import Path

from joserfc.jwk import ECKey, KeySet
from sqlalchemy import create_engine, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import Country, ExternalPlan, ExternalPlanCountry  # noqa: E402

PLANS = 10_000
DURATION = os.environ.get("BENCH_DURATION", "15s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "32")
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


def call(url: str, body: dict[str, object], headers: dict[str, str] | None = None) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310 - our own local server
        url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
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


def wrk(url: str, header: str | None = None) -> dict[str, float]:
    out = subprocess.run(  # noqa: S603
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", *(["-H", header] if header else []), url],  # noqa: S607
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


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk (Debian/Ubuntu) or brew install wrk")
    database_url = os.environ["DATABASE_URL"]
    subprocess.run([BIN / "alembic", "upgrade", "head"], cwd=ROOT, check=True)  # noqa: S603
    subprocess.run([BIN / "python", "-m", "cli.catalog"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    plan_id = seed(database_url)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": "2", "APP_ENV": "production", "LOG_LEVEL": "INFO"}
    env["MAIL_URL"] = "smtp://127.0.0.1:9"  # production requires one; the web processes never send mail
    signing_key = ECKey.generate_key("P-256", parameters={"kid": "bench"}, private=True)
    env["JWT_PRIVATE_KEYS"] = json.dumps(KeySet([signing_key]).as_dict(private=True))
    (ROOT / "reports").mkdir(exist_ok=True)
    log = (ROOT / "reports" / "bench-server.log").open("wb")
    server = subprocess.Popen([BIN / "gunicorn", "-c", "gunicorn.conf.py"], cwd=ROOT, env=env, stdout=log, stderr=log)  # noqa: S603
    try:
        base = f"http://127.0.0.1:{port}"
        subprocess.run([BIN / "python", "scripts/wait_ready.py", f"{base}/health-check/readiness", "30"], check=True)  # noqa: S603
        workers = [int(pid) for pid in subprocess.check_output(["pgrep", "-P", str(server.pid)], text=True).split()]  # noqa: S603, S607
        token, api_key = credentials(base)
        targets: dict[str, tuple[str, str | None]] = {
            "GET /health-check/liveness": (f"{base}/health-check/liveness", None),
            "GET /api/v1/plans/{planId}": (f"{base}/api/v1/plans/{plan_id}", None),
            "GET /api/v1/plans?limit=20": (f"{base}/api/v1/plans?limit=20", None),
            "GET /api/v1/business/me (JWT)": (f"{base}/api/v1/business/me", f"Authorization: Bearer {token}"),
            "GET /api/v1/business/me (key)": (f"{base}/api/v1/business/me", f"X-API-Key: {api_key}"),
        }
        print(f"gunicorn: 2 uvicorn workers, APP_ENV=production; {PLANS:,} plans; wrk -t2 -c{CONNECTIONS} -d{DURATION}")
        print(f"{'endpoint':<32} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11} {'non-2xx':>8}")
        for name, (url, header) in targets.items():
            wrk(url, header)  # warm-up pass, discarded
            before = cpu_ticks(workers)
            result = wrk(url, header)
            cpu_ms = (cpu_ticks(workers) - before) * 1000 / TICKS / result["requests"]
            print(
                f"{name:<32} {result['rps']:>9.0f} {result['p50']:>8.2f} {result['p99']:>8.2f} "
                f"{cpu_ms:>11.2f} {result['non2xx']:>8.0f}"
            )
    finally:
        server.terminate()
        server.wait(timeout=40)
        log.close()


if __name__ == "__main__":
    main()
