"""The API reference at /api/v1/docs: the Redoc page `make docs` builds from the public contract (the spec
without its `x-internal` parts; never committed), served with a CSP that lets exactly its own inline scripts
run."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app import create_app
from core.config import Settings
from web.middleware import ReferenceDocs, reference_csp
from web.spec import DOCS_PATH, HTTP_METHODS, SPEC_PATH, Contract

ROOT = SPEC_PATH.parent.parent


def sha256_source(script: bytes) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"


def directives(csp: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in csp.split(";"))}


@pytest.fixture(scope="module")
def built_docs() -> Path:
    """The real build: `make docs` (Redocly, pinned), a no-op while the page is newer than the spec."""
    result = subprocess.run(
        ["make", "--no-print-directory", "docs"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"make docs failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return DOCS_PATH


def test_the_reference_is_the_page_built_from_the_current_spec(client: TestClient, built_docs: Path) -> None:
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == built_docs.read_bytes()
    contract = Contract.load()
    assert f"<title>{contract.document['info']['title']}</title>" in response.text
    public = {
        op["operationId"]
        for item in contract.public_document["paths"].values()
        for method, op in item.items()
        if method in HTTP_METHODS
    }
    missing = sorted(operation for operation in public if operation not in response.text)
    assert not missing, f"the page predates these operations (make docs rebuilds it): {missing}"
    # It documents the public contract, as Swagger UI does: no probe, JWKS, metrics or Twilio callback.
    internal = sorted({op.operation_id for op in contract.operations} - public)
    assert internal
    assert not [operation for operation in internal if operation in response.text]
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_its_csp_lets_its_own_inline_scripts_run_and_nothing_else(client: TestClient, built_docs: Path) -> None:
    response = client.get("/api/v1/docs")

    csp = directives(response.headers["content-security-policy"])
    inline = re.findall(rb"<script>(.*?)</script>|<script type=\"module\">(.*?)</script>", response.content, re.S)
    assert inline, "Redoc's bundle is inline (--inlineBundle): nothing is loaded from a CDN"
    assert sorted(csp["script-src"]) == sorted(sha256_source(a or b) for a, b in inline)
    assert csp["default-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "connect-src" not in csp  # so 'none': the page fetches nothing, telemetry included


def test_the_csp_names_each_inline_script_by_the_hash_browsers_compute() -> None:
    html = b"<script>one()</script><script src='/elsewhere.js'></script><SCRIPT type=module>\r\ntwo()\r\n</SCRIPT >"

    csp = directives(reference_csp(html))

    assert csp["script-src"] == [sha256_source(b"one()"), sha256_source(b"\ntwo()\n")]
    assert directives(reference_csp(b"<p>no scripts</p>"))["script-src"] == ["'none'"]


def test_until_it_is_built_the_path_answers_404_and_a_build_is_served_without_a_restart(tmp_path: Path) -> None:
    page = tmp_path / "docs" / "index.html"
    client = TestClient(ReferenceDocs(path="/api/v1/docs", html_file=page))

    missing = client.get("/api/v1/docs")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"
    assert "make docs" in missing.json()["detail"]

    page.parent.mkdir()
    page.write_bytes(b"<!DOCTYPE html><title>Reference</title><script>go()</script>")
    built = client.get("/api/v1/docs")
    assert built.status_code == 200
    assert built.text.endswith("<script>go()</script>")
    assert sha256_source(b"go()") in built.headers["content-security-policy"]


def test_only_a_get_or_head_of_the_exact_path_is_the_reference(client: TestClient, built_docs: Path) -> None:
    assert client.head("/api/v1/docs").status_code == 200
    for elsewhere in (client.get("/api/v1/docs/"), client.post("/api/v1/docs")):
        assert elsewhere.status_code == 404
        assert elsewhere.json()["detail"] == "No resource at this path"


def test_with_api_docs_disabled_the_ui_and_the_reference_are_404_and_the_spec_is_still_served(
    settings: Settings, built_docs: Path
) -> None:
    client = create_app(settings.model_copy(update={"api_docs_enabled": False})).test_client()

    assert client.get("/api/v1/ui/").status_code == 404
    assert client.get("/api/v1/docs").status_code == 404
    assert client.get("/api/v1/openapi.json").status_code == 200
