"""Waits until a URL answers 200: `python scripts/wait_ready.py URL SECONDS` (exit 1 on time-out)."""

import sys
import time
import urllib.error
import urllib.request

url, seconds = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a local URL we were given
            if response.status == 200:
                sys.exit(0)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        pass
    time.sleep(0.2)
print(f"{url} did not answer 200 within {seconds:.0f}s", file=sys.stderr)
sys.exit(1)
