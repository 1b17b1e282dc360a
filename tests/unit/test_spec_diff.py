"""The breaking-change gate of `make spec-check` (tools/spec-diff/gate.js) fails when it should.

The real spec is the baseline and a mutated copy the new spec, one Node.js process per case: every kind of break
fails and is named, additive changes pass, a break listed in breaking-changes.yaml passes, and the changelog and
version rules hold. The last tests find the baseline in throwaway git repositories (a tag, no tag, none at all).
Nothing here is skipped: without Node.js these tests fail (CI installs it).
"""

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "tools" / "spec-diff" / "gate.js"
SPEC = yaml.safe_load((ROOT / "openapi" / "openapi.yaml").read_text())
VERSION = SPEC["info"]["version"]
MAJOR, MINOR, PATCH = (int(part) for part in VERSION.split("."))

Spec = dict[str, Any]
Gate = Callable[..., subprocess.CompletedProcess[str]]


def changelog(unreleased: str = "- Something changed.", extra: str = "") -> str:
    return f"# Changelog\n\n## [Unreleased]\n\n### Changed\n\n{unreleased}\n\n{extra}## [{VERSION}] - 2026-12-06\n"


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    assert found, "Node.js is needed for the breaking-change gate (make spec-check): install nodejs"
    subprocess.run(
        ["make", "--no-print-directory", "-s", "tools/spec-diff/node_modules/.installed"], cwd=ROOT, check=True
    )
    return found


@pytest.fixture
def gate(node: str, tmp_path: Path) -> Gate:
    """Runs the gate on a new spec against the real one, with a changelog and a list of accepted breaks."""

    def run(
        new: Spec,
        *,
        log: str | None = None,
        accepted: list[dict[str, str]] | None = None,
        since: str = VERSION,
        base: Spec = SPEC,
    ) -> subprocess.CompletedProcess[str]:
        (tmp_path / "base.json").write_text(json.dumps(base))
        (tmp_path / "new.json").write_text(json.dumps(new))
        (tmp_path / "CHANGELOG.md").write_text(changelog() if log is None else log)
        (tmp_path / "accepted.yaml").write_text(yaml.safe_dump({"since": since, "accepted": accepted or []}))
        args = ["--base", "base.json", "--spec", "new.json", "--changelog", "CHANGELOG.md"]
        return subprocess.run(
            [node, str(GATE), *args, "--accepted", "accepted.yaml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


def mutated(change: Callable[[Spec], object]) -> Spec:
    spec = copy.deepcopy(SPEC)
    change(spec)
    return spec


def schemas(spec: Spec) -> dict[str, Any]:
    return spec["components"]["schemas"]


def remove_response_field(spec: Spec) -> None:
    del schemas(spec)["Invitation"]["properties"]["expiresAt"]
    schemas(spec)["Invitation"]["required"].remove("expiresAt")


def add_required_request_field(spec: Spec) -> None:
    schemas(spec)["InvitationCreate"]["properties"]["note"] = {"type": "string", "maxLength": 100}
    schemas(spec)["InvitationCreate"]["required"].append("note")


def call_parameter(spec: Spec, name: str) -> dict[str, Any]:
    return next(p for p in spec["paths"]["/calls"]["get"]["parameters"] if p.get("name") == name)


BREAKS: dict[str, tuple[Callable[[Spec], object], str, str]] = {
    # name: (the change, the operation the gate must name, a word of its description)
    "remove an operation": (lambda s: s["paths"]["/calls/{callId}"].pop("get"), "GET /calls/{callId}", "operation"),
    "remove a response field": (remove_response_field, "GET /business/me/invitations", "expiresAt"),
    "remove a request body's enum value": (
        lambda s: schemas(s)["Role"]["enum"].remove("member"),
        "POST /business/me/invitations",
        "role",
    ),
    "remove a parameter's enum value": (
        lambda s: schemas(s)["CallStatus"]["enum"].remove("canceled"),
        "GET /calls",
        "status",
    ),
    "make a parameter required": (
        lambda s: call_parameter(s, "direction").update(required=True),
        "GET /calls",
        "required",
    ),
    "make a request field required": (
        lambda s: schemas(s)["BlockedNumberCreate"]["required"].append("note"),
        "POST /business/me/blocked-numbers",
        "note",
    ),
    "add a required request field": (add_required_request_field, "POST /business/me/invitations", "note"),
    "lower an integer's maximum": (
        lambda s: s["components"]["parameters"]["Limit"]["schema"].update(maximum=50),
        "GET /calls",
        "maximum",
    ),
    "lower a string's maxLength": (
        lambda s: s["components"]["parameters"]["Cursor"]["schema"].update(maxLength=100),
        "GET /calls",
        "maxLength",
    ),
    "change a response field's type": (
        lambda s: schemas(s)["Invitation"]["properties"]["createdAt"].update(type="integer"),
        "GET /business/me/invitations",
        "type",
    ),
    "change a request field's type": (
        lambda s: schemas(s)["ApiKeyRotate"]["properties"]["gracePeriodSeconds"].update(type="string"),
        "POST /api-keys/{apiKeyId}/rotate",
        "type",
    ),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_a_break_fails_and_is_named(gate: Gate, name: str) -> None:
    change, operation, word = BREAKS[name]
    result = gate(mutated(change))
    assert result.returncode == 1, result.stdout + result.stderr
    named = [line for line in result.stdout.splitlines() if line.startswith(f"BREAKING {operation}: ")]
    assert any(word.lower() in line.lower() for line in named), result.stdout
    assert "breaking change(s) against" in result.stderr


ADDITIONS: dict[str, Callable[[Spec], object]] = {
    "a new operation": lambda s: s["paths"].__setitem__(
        "/things",
        {"get": {"operationId": "listThings", "tags": ["Calls"], "responses": {"200": {"description": "Things."}}}},
    ),
    "a new optional request field": lambda s: schemas(s)["InvitationCreate"]["properties"].update(
        note={"type": "string", "maxLength": 100}
    ),
    "a new response field": lambda s: schemas(s)["Invitation"]["properties"].update(
        note={"type": "string", "maxLength": 100}
    ),
    "a new optional query parameter": lambda s: s["paths"]["/calls"]["get"]["parameters"].append(
        {"name": "simulated", "in": "query", "schema": {"type": "boolean"}}
    ),
    "a new enum value in responses (enums may grow)": lambda s: schemas(s)["NumberStatus"]["enum"].append("porting"),
    "a new request enum value": lambda s: schemas(s)["Role"]["enum"].append("guest"),
    "a raised maximum of a parameter": lambda s: s["components"]["parameters"]["Limit"]["schema"].update(maximum=500),
}


def test_additive_changes_pass(gate: Gate) -> None:
    """All of them in one run (one comparison takes a second or two)."""
    result = gate(mutated(lambda spec: [change(spec) for change in ADDITIONS.values()]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 breaking (0 accepted)" in result.stdout
    assert "BREAKING" not in result.stdout


def test_an_event_payload_is_checked_as_a_response(gate: Gate) -> None:
    """x-webhooks: what a customer's endpoint receives. A field removed breaks it; a new field or event does not."""
    fields = {"id": {"type": "string"}, "note": {"type": "string"}}
    payload = {"type": "object", "required": ["id", "note"], "properties": fields}
    event = {"post": {"requestBody": {"content": {"application/json": {"schema": payload}}}, "responses": {}}}
    base = {**SPEC, "x-webhooks": {"test.happened": event}}
    removed = copy.deepcopy(base)
    payload = removed["x-webhooks"]["test.happened"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    del payload["properties"]["note"]
    payload["required"].remove("note")
    result = gate(removed, base=base)
    assert result.returncode == 1
    assert "BREAKING EVENT test.happened:" in result.stdout
    assert "properties/note" in result.stdout
    added = copy.deepcopy(base)
    schema = added["x-webhooks"]["test.happened"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema["properties"]["more"] = {"type": "string"}
    added["x-webhooks"]["test.other"] = copy.deepcopy(event)
    result = gate(added, base=base)
    assert result.returncode == 0, result.stdout + result.stderr


def add_event_type(spec: Spec) -> None:
    schemas(spec)["CallStartedEvent"] = copy.deepcopy(schemas(spec)["CallCompletedEvent"])
    schemas(spec)["CallStartedEvent"]["properties"]["type"]["enum"] = ["call.started"]
    schemas(spec)["Event"]["oneOf"].append({"$ref": "#/components/schemas/CallStartedEvent"})
    schemas(spec)["Event"]["discriminator"]["mapping"]["call.started"] = "#/components/schemas/CallStartedEvent"


def test_a_new_member_of_a_union_that_may_grow_is_no_break_but_of_another_union_it_is(gate: Gate) -> None:
    """The Event union says `type` "may grow", as enums do: a new event type in responses passes. A union
    that does not say so breaks the clients that read it."""
    result = gate(mutated(add_event_type))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BREAKING" not in result.stdout

    fixed = mutated(lambda s: schemas(s)["Event"].update(description="An event of your business."))
    result = gate(
        mutated(lambda s: (schemas(s)["Event"].update(description="An event of your business."), add_event_type(s))),
        base=fixed,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BREAKING GET /events/{eventId}: " in result.stdout


def remove_get_call(spec: Spec) -> None:
    del spec["paths"]["/calls/{callId}"]["get"]


def test_a_break_listed_as_deliberate_passes(gate: Gate) -> None:
    entry = {"operation": "GET /calls/{callId}", "reason": "Replaced by the call log's filters."}
    result = gate(mutated(remove_get_call), accepted=[entry])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "accepted break: GET /calls/{callId}" in result.stdout
    assert "Replaced by the call log's filters." in result.stdout


def test_a_listed_break_covers_only_its_own_operation_and_place(gate: Gate) -> None:
    def two_breaks(spec: Spec) -> None:
        remove_get_call(spec)
        remove_response_field(spec)

    entries = [
        {"operation": "GET /calls/{callId}", "reason": "Gone."},
        {"operation": "GET /business/me/invitations", "where": "properties/id", "reason": "Not this one."},
    ]
    result = gate(mutated(two_breaks), accepted=entries)
    assert result.returncode == 1
    assert "BREAKING GET /business/me/invitations" in result.stdout
    assert "BREAKING GET /calls/{callId}" not in result.stdout
    assert "properties/id matches no change: remove it" in result.stderr


def test_entries_about_an_older_release_are_ignored(gate: Gate) -> None:
    entry = {"operation": "GET /calls/{callId}", "reason": "Accepted for the release before."}
    result = gate(mutated(remove_get_call), accepted=[entry], since="0.0.1")
    assert result.returncode == 1
    assert "lists breaks since 0.0.1" in result.stdout
    assert "BREAKING GET /calls/{callId}" in result.stdout


def test_an_accepted_break_in_a_new_version_must_raise_the_right_number(gate: Gate) -> None:
    entry = {"operation": "GET /calls/{callId}", "reason": "Gone."}
    patch = f"{MAJOR}.{MINOR}.{PATCH + 1}"
    breaking = f"{MAJOR}.{MINOR + 1}.0" if MAJOR == 0 else f"{MAJOR + 1}.0.0"
    for version, code in ((patch, 1), (breaking, 0)):
        spec = mutated(remove_get_call)
        spec["info"]["version"] = version
        log = changelog(unreleased="", extra=f"## [{version}] - 2026-12-07\n\n### Removed\n\n- BREAKING: getCall.\n\n")
        result = gate(spec, log=log, accepted=[entry])
        assert result.returncode == code, f"{version}: {result.stdout}{result.stderr}"


def test_a_changed_spec_needs_a_changelog_entry(gate: Gate) -> None:
    spec = mutated(ADDITIONS["a new response field"])
    result = gate(spec, log=changelog(unreleased="<!-- ### Added: nothing yet -->"))
    assert result.returncode == 1
    assert "says nothing about it" in result.stderr
    assert gate(spec).returncode == 0  # the same change with an entry under [Unreleased]
    assert gate(copy.deepcopy(SPEC), log=changelog(unreleased="")).returncode == 0  # no change, nothing to say


def test_a_raised_version_needs_its_own_section(gate: Gate) -> None:
    spec = mutated(ADDITIONS["a new response field"])
    spec["info"]["version"] = f"{MAJOR}.{MINOR + 1}.0"
    result = gate(spec, log=changelog(unreleased=""))
    assert result.returncode == 1
    assert f'has no "## [{MAJOR}.{MINOR + 1}.0]" section' in result.stderr
    log = changelog(unreleased="", extra=f"## [{MAJOR}.{MINOR + 1}.0] - 2026-12-07\n\n### Added\n\n- `note`.\n\n")
    assert gate(spec, log=log).returncode == 0


@pytest.mark.parametrize("version", ["1.0", "v1.2.3", "1.2.3-beta", "0.0.0"])
def test_the_version_is_semantic_and_never_lower(gate: Gate, version: str) -> None:
    spec = copy.deepcopy(SPEC)
    spec["info"]["version"] = version
    result = gate(spec)
    assert result.returncode == 1
    assert "is not semantic" in result.stderr or "is lower than the released" in result.stderr


# The baseline from git: throwaway repositories with a small spec.

SMALL = {
    "openapi": "3.0.3",
    "info": {"title": "Small", "version": "1.0.0"},
    "paths": {
        "/a": {"get": {"operationId": "getA", "responses": {"200": {"description": "A."}}}},
        "/b": {"get": {"operationId": "getB", "responses": {"200": {"description": "B."}}}},
    },
}


@pytest.fixture
def repo(node: str, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    (tmp_path / "openapi").mkdir()

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        if command[0] == "gate":
            command = (node, str(GATE))
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert command[0] != "git" or result.returncode == 0, result.stderr
        return result

    run("git", "init", "-q", "-b", "main")
    return run


def write(root: Path, spec: Spec, log: str) -> None:
    (root / "openapi" / "openapi.yaml").write_text(yaml.safe_dump(spec))
    (root / "CHANGELOG.md").write_text(log)


def release(repo: Callable[..., subprocess.CompletedProcess[str]], root: Path, tag: bool) -> None:
    write(root, SMALL, "# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2026-12-01\n\n- First.\n")
    repo("git", "add", "-A")
    repo("git", "commit", "-q", "-m", "Release 1.0.0")
    if tag:
        repo("git", "tag", "-a", "v1.0.0", "-m", "1.0.0")
    (root / "README").write_text("later work\n")  # a commit after the release
    repo("git", "add", "-A")
    repo("git", "commit", "-q", "-m", "Later")


def without_b(version: str = "1.0.0") -> Spec:
    spec = copy.deepcopy(SMALL)
    del spec["paths"]["/b"]
    spec["info"]["version"] = version
    return spec


def test_the_baseline_is_the_release_tag(repo: Any, tmp_path: Path) -> None:
    release(repo, tmp_path, tag=True)
    write(tmp_path, without_b(), "# Changelog\n\n## [Unreleased]\n\n- Removed b.\n\n## [1.0.0] - 2026-12-01\n")
    result = repo("gate")
    assert result.returncode == 1
    assert "against the last release: 1.0.0, tag v1.0.0, commit" in result.stdout
    assert "BREAKING GET /b: [Removed] operation GET /b" in result.stdout


def test_without_the_tag_the_baseline_is_the_commit_that_added_the_release(repo: Any, tmp_path: Path) -> None:
    release(repo, tmp_path, tag=False)
    first = repo("git", "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    write(tmp_path, without_b(), "# Changelog\n\n## [Unreleased]\n\n- Removed b.\n\n## [1.0.0] - 2026-12-01\n")
    result = repo("gate")
    assert result.returncode == 1
    assert f'tag v1.0.0 not found: the commit that added "## [1.0.0]" to CHANGELOG.md, commit {first[:12]}' in (
        result.stdout
    )
    assert "BREAKING GET /b" in result.stdout


def test_a_release_being_prepared_is_checked_against_the_one_before(repo: Any, tmp_path: Path) -> None:
    release(repo, tmp_path, tag=True)
    log = "# Changelog\n\n## [Unreleased]\n\n## [2.0.0] - 2026-12-07\n\n- BREAKING: b.\n\n## [1.0.0] - 2026-12-01\n"
    write(tmp_path, without_b("2.0.0"), log)
    result = repo("gate")
    assert "2.0.0 has no tag v2.0.0 and no commit adds" in result.stdout
    assert "against the last release: 1.0.0, tag v1.0.0" in result.stdout
    assert result.returncode == 1  # the break is not listed in openapi/breaking-changes.yaml
    accepted = {"since": "1.0.0", "accepted": [{"operation": "GET /b", "reason": "b is gone."}]}
    (tmp_path / "openapi" / "breaking-changes.yaml").write_text(yaml.safe_dump(accepted))
    assert repo("gate").returncode == 0


def test_no_baseline_fails_loudly(repo: Any, tmp_path: Path) -> None:
    write(tmp_path, SMALL, "# Changelog\n\n## [Unreleased]\n\n- First.\n")
    repo("git", "add", "-A")
    repo("git", "commit", "-q", "-m", "No release yet")
    result = repo("gate")
    assert result.returncode == 1
    assert "no released spec found: CHANGELOG.md names no released version" in result.stderr
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - 2026-12-01\n")
    result = repo("gate")  # named, but neither tagged nor committed
    assert result.returncode == 1
    assert "no released spec found: 1.0.0 has no tag v1.0.0" in result.stderr


def test_a_shallow_clone_without_the_tag_fails_loudly(repo: Any, tmp_path: Path) -> None:
    """Its oldest commit seems to add every file, CHANGELOG.md's section too: it must not pass for the release."""
    release(repo, tmp_path, tag=False)
    repo("git", "clone", "-q", "--depth", "1", f"file://{tmp_path}", "shallow")
    result = subprocess.run(
        [shutil.which("node") or "node", str(GATE)], cwd=tmp_path / "shallow", capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "tag v1.0.0 not found and this clone is shallow" in result.stderr
