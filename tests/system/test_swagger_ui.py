"""Swagger UI signs a person in: a real headless Chromium against gunicorn, clicking what a person clicks.

Authorize -> the password flow's form (email and password) -> POST /auth/token (RFC 6749) -> Close ->
getBusiness -> Try it out -> Execute, and the answer shown is 200 (it was 401 before signing in); and the
same with an access token pasted into the `bearerAuth` field.
The browser is Debian's `chromium`, driven through its `chromedriver` by Selenium: nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from core.config import PROJECT_ROOT
from models import Base
from tests.factories import PASSWORD, make_business, make_user
from tests.helpers import free_port

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Flags that work headless as root, offline, with nothing of a previous run.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
WAIT_SECONDS = 30


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health-check/readiness", timeout=1) as response:  # noqa: S310 - ours
            return int(response.status) == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.fixture
def owner_email(database_url: str, migrated: None) -> Iterator[str]:
    """A person who owns a business, committed; every table is emptied afterwards."""
    engine = create_engine(database_url)
    with Session(engine) as db:
        owner = make_user(db)
        make_business(db, owner=owner, name="Swagger Dental")
        db.commit()
        email = owner.email
    try:
        yield email
    finally:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} CASCADE"))
        engine.dispose()


@pytest.fixture(scope="module")
def server(database_url: str, migrated: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn as production starts it, on the test database; its base URL."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port)}  # make run's: its defaults, two workers
    log_path = tmp_path_factory.mktemp("gunicorn") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [GUNICORN, "-c", "gunicorn.conf.py"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            while not _ready(base):
                assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "gunicorn did not become ready"
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    for binary in (CHROMIUM, CHROMEDRIVER):
        assert Path(binary).is_file(), f"{binary} is missing: apt-get install chromium chromium-driver (.ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, WAIT_SECONDS)


def _clickable(driver: WebDriver, css: str, within: WebElement | None = None) -> WebElement:
    if within is None:
        return _wait(driver).until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, css)))
    return _wait(driver).until(lambda _: _shown(within.find_elements(By.CSS_SELECTOR, css)))


def _shown(elements: list[WebElement]) -> WebElement | bool:
    return next((element for element in elements if element.is_displayed() and element.is_enabled()), False)


def _execute(driver: WebDriver, operation: WebElement) -> str:
    """Clicks Execute and returns the status Swagger UI shows for the server's answer."""
    for old in operation.find_elements(By.CSS_SELECTOR, ".btn-clear"):
        old.click()  # the previous answer goes, so the next status read is the new one
    _clickable(driver, "button.execute", within=operation).click()
    cell = "table.live-responses-table tbody .response-col_status"
    status = _wait(driver).until(lambda _: _shown(operation.find_elements(By.CSS_SELECTOR, cell)))
    assert isinstance(status, WebElement)
    return status.text.strip()


def _open_get_business(driver: WebDriver, server: str) -> WebElement:
    """Swagger UI with getBusiness open and in "Try it out" mode."""
    driver.get(f"{server}/api/v1/ui/")
    operation = _wait(driver).until(
        expected_conditions.presence_of_element_located((By.ID, "operations-Business-getBusiness"))
    )
    _clickable(driver, ".opblock-summary", within=operation).click()
    _clickable(driver, "button.try-out__btn", within=operation).click()
    return operation


def _scheme_box(dialog: WebElement, name: str) -> WebElement:
    """The Authorize dialog's box of one security scheme (headed by the scheme's name)."""
    boxes = dialog.find_elements(By.CSS_SELECTOR, ".auth-container")
    return next(box for box in boxes if box.find_element(By.TAG_NAME, "h4").text.split()[0] == name)


def _shows_business(operation: WebElement) -> bool:
    body = operation.find_element(By.CSS_SELECTOR, "table.live-responses-table tbody .response-col_description")
    return '"name": "Swagger Dental"' in body.text


def test_a_person_signs_in_through_authorize_and_calls_an_operation(
    server: str, owner_email: str, browser: WebDriver
) -> None:
    operation = _open_get_business(browser, server)

    assert _execute(browser, operation) == "401"  # not signed in yet

    _clickable(browser, "button.btn.authorize").click()
    dialog = _wait(browser).until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux")))
    _clickable(browser, "#oauth_username", within=dialog).send_keys(owner_email)
    _clickable(browser, "#oauth_password", within=dialog).send_keys(PASSWORD)
    form = _scheme_box(dialog, "userToken")
    _clickable(browser, "button.authorize", within=form).click()
    _wait(browser).until(lambda _: "Authorized" in form.text or form.find_elements(By.CSS_SELECTOR, ".errors"))
    assert not form.find_elements(By.CSS_SELECTOR, ".errors"), form.text
    _clickable(browser, "button.btn-done", within=form).click()
    _wait(browser).until(expected_conditions.invisibility_of_element_located((By.CSS_SELECTOR, ".modal-ux")))

    assert _execute(browser, operation) == "200"
    assert _shows_business(operation)


def test_a_pasted_access_token_is_sent_as_a_bearer_token(server: str, owner_email: str, browser: WebDriver) -> None:
    form = urllib.parse.urlencode({"grant_type": "password", "username": owner_email, "password": PASSWORD})
    request = urllib.request.Request(f"{server}/api/v1/auth/token", data=form.encode(), method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our local server
        access_token = json.load(response)["access_token"]
    operation = _open_get_business(browser, server)

    assert _execute(browser, operation) == "401"

    _clickable(browser, "button.btn.authorize").click()
    dialog = _wait(browser).until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux")))
    box = _scheme_box(dialog, "bearerAuth")
    _clickable(browser, "input[aria-label='auth-bearer-value']", within=box).send_keys(access_token)
    _clickable(browser, "button.authorize", within=box).click()
    _wait(browser).until(lambda _: "Authorized" in box.text)
    _clickable(browser, "button.btn-done", within=box).click()
    _wait(browser).until(expected_conditions.invisibility_of_element_located((By.CSS_SELECTOR, ".modal-ux")))

    assert _execute(browser, operation) == "200"
    assert _shows_business(operation)
