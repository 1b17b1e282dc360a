"""The few lines both SDK scenarios share: arguments, the steps' bookkeeping and the closing count.

A scenario is a list of steps run in order against one live server; each step uses only the generated SDK.
A step that raises fails; a step that needs what a failed step would have left in `state` is not run and
counts as failed too, so every run reports the same number of checks. The last line is "NAME: N passed, M failed".
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import secrets
import sys
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCENARIO_FILES = ("harness.py", "scenario_python_client.py", "scenario_openapi_generator.py")


class CheckFailed(Exception):
    """What the SDK returned is not what the contract promises."""


class NotRun(Exception):
    """A step needs what an earlier, failed step would have made."""


class State(dict[str, Any]):
    """What steps hand on to later ones; reading what is not there means an earlier step failed."""

    def __getitem__(self, key: str) -> Any:
        if key not in self:
            raise NotRun(key)
        return super().__getitem__(key)


class NotInSdk(Exception):
    """The step's operation is not in this SDK (left out of the public bundle); it is reported, not counted."""


def expect(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def header(headers: Any, name: str) -> str | None:
    """A response header by name, whatever the case of the SDK's keys (openapi-generator lower-cases them)."""
    for key, value in dict(headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


Step = Callable[[], str | None]


def describe(error: Exception) -> str:
    if hasattr(error, "status") and hasattr(error, "body"):  # openapi-generator's ApiException
        return f"{error.status} {error.body}"
    return " | ".join(line for line in str(error).splitlines() if line.strip())


def as_typed(function: Callable[..., Any], parameter: str, moment: datetime.datetime) -> Any:
    """A time as the SDK's method takes it: the datetime itself where it declares one (a `format: date-time`
    parameter), else the RFC 3339 text (a plain string parameter)."""
    annotation = inspect.signature(function).parameters[parameter].annotation
    return moment if "datetime" in str(annotation) else moment.isoformat()


@dataclass
class Scenario:
    name: str
    url: str
    email: str = field(default_factory=lambda: f"sdk-{uuid.uuid4().hex[:12]}@example.com")
    password: str = field(default_factory=lambda: "sdk-" + secrets.token_urlsafe(18))
    notes: list[str] = field(default_factory=list)
    state: State = field(default_factory=State)

    def note(self, text: str) -> None:
        """Something worth knowing about the SDK that is not a failure (shown in the log)."""
        self.notes.append(text)
        print(f"   note: {text}", flush=True)

    def run(self, steps: Iterable[Step]) -> int:
        passed = failed = 0
        for step in steps:
            title = (step.__doc__ or step.__name__).strip().splitlines()[0]
            try:
                detail = step()
            except NotInSdk as missing:
                print(f"absent   {title}: {missing}", flush=True)
                continue
            except NotRun as needed:
                failed += 1
                print(f"not run  {title}: it needs {needed}, which an earlier step did not leave", flush=True)
                continue
            except Exception as error:  # any error of the SDK is this step's failure
                message = describe(error)
                failed += 1
                where = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.endswith(SCENARIO_FILES)]
                at = f" (at {Path(where[-1].filename).name}:{where[-1].lineno})" if where else ""
                print(f"FAILED   {title}{at}: {type(error).__name__}: {message[:1500]}", flush=True)
                continue
            passed += 1
            print(f"ok       {title}" + (f": {detail}" if detail else ""), flush=True)
        print(f"{self.name}: {passed} passed, {failed} failed", flush=True)
        return 0 if failed == 0 and passed > 0 else 1


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True, help="the API's base URL, e.g. http://127.0.0.1:3001/api/v1")
    parser.add_argument("--sdk", type=Path, help="the folder holding the generated package (default: installed)")
    args = parser.parse_args()
    if args.sdk:
        sys.path.insert(0, str(args.sdk.resolve()))
    return args
