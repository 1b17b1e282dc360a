"""Encryption at rest (core.crypto) and the settings that feed it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from core.config import Settings, describe_errors
from core.crypto import CannotDecrypt, Cipher
from core.tokens import load_key_set

SECRET = "ya29.a-token-nobody-may-read"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    for variable in Settings.model_fields:
        monkeypatch.delenv(variable.upper(), raising=False)


def new_key() -> str:
    return Fernet.generate_key().decode()


def test_what_is_encrypted_decrypts_and_does_not_show() -> None:
    cipher = Cipher([new_key()])

    stored = cipher.encrypt(SECRET)

    assert SECRET not in stored
    assert cipher.encrypt(SECRET) != stored  # a fresh IV every time
    assert cipher.decrypt(stored) == SECRET


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old, new = new_key(), new_key()
    stored_under_old = Cipher([old]).encrypt(SECRET)
    rotated = Cipher([new, old])

    assert rotated.decrypt(stored_under_old) == SECRET
    again = rotated.rotate(stored_under_old)
    assert Cipher([new]).decrypt(again) == SECRET  # the old key can go now
    with pytest.raises(CannotDecrypt):
        Cipher([old]).decrypt(rotated.encrypt(SECRET))


@pytest.mark.parametrize("mangle", [lambda s: s[:-4] + "AAAA", lambda s: s[:20], lambda s: "not a ciphertext"])
def test_altered_or_foreign_ciphertexts_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    cipher = Cipher([new_key()])

    with pytest.raises(CannotDecrypt):
        cipher.decrypt(mangle(cipher.encrypt(SECRET)))
    with pytest.raises(CannotDecrypt):
        cipher.decrypt(Cipher([new_key()]).encrypt(SECRET))


def test_derived_keys_are_stable_per_purpose_and_differ_between_purposes() -> None:
    key = new_key()

    state_keys = Cipher([key]).derived_keys("google-oauth-state")

    assert state_keys == Cipher([key]).derived_keys("google-oauth-state")
    assert state_keys != Cipher([key]).derived_keys("something-else")
    assert len(state_keys[0]) == 32
    assert key.encode() not in state_keys


def test_outside_production_a_development_key_is_made_once_and_kept(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "data-encryption-key"
    settings = Settings(app_env="development", var_dir=tmp_path / "var")
    ciphers: list[Cipher] = []

    threads = [threading.Thread(target=lambda: ciphers.append(Cipher.from_settings(settings))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = ciphers[0].encrypt(SECRET)
    assert all(cipher.decrypt(stored) == SECRET for cipher in ciphers)  # racing builders agree on one key
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["data-encryption-key"]


def test_configured_keys_win_over_the_development_key(tmp_path: Path) -> None:
    key = new_key()
    settings = Settings(data_encryption_keys=f" {key} , {new_key()}", var_dir=tmp_path)  # type: ignore[arg-type]

    stored = Cipher.from_settings(settings).encrypt(SECRET)

    assert Cipher([key]).decrypt(stored) == SECRET
    assert not (tmp_path / "data-encryption-key").exists()


def test_a_key_that_is_not_a_fernet_key_is_refused_without_being_echoed() -> None:
    with pytest.raises(ValidationError) as error:
        Settings(data_encryption_keys="s3cret-but-not-a-key")  # type: ignore[arg-type]

    message = describe_errors(error.value)
    assert "DATA_ENCRYPTION_KEYS" in message
    assert "s3cret-but-not-a-key" not in message


def test_google_needs_both_its_client_id_and_secret() -> None:
    with pytest.raises(ValidationError, match="GOOGLE_CLIENT_SECRET"):
        Settings(google_client_id="id.apps.googleusercontent.com")

    assert Settings().google_calendar_enabled is False
    assert Settings(google_client_id="id", google_client_secret="secret").google_calendar_enabled is True


PRODUCTION = {
    "app_env": "production",
    "database_url": "postgresql://app@db/switchboard",
    "mail_url": "smtp://mail:25",
    "jwt_private_keys": '{"keys": [{"kty": "EC", "crv": "P-256", "d": "x", "x": "x", "y": "y", "kid": "k1"}]}',
    "google_client_id": "id.apps.googleusercontent.com",
    "google_client_secret": "secret",
}


def test_production_with_google_refuses_to_start_without_encryption_keys_or_its_callback_url() -> None:
    with pytest.raises(ValidationError, match="DATA_ENCRYPTION_KEYS"):
        Settings(**PRODUCTION, google_redirect_uri="https://api.example.com/api/v1/oauth/google/callback")
    with pytest.raises(ValidationError, match="GOOGLE_REDIRECT_URI"):
        Settings(**PRODUCTION, data_encryption_keys=new_key())

    ready = Settings(
        **PRODUCTION,
        data_encryption_keys=new_key(),
        google_redirect_uri="https://api.example.com/api/v1/oauth/google/callback",
    )
    assert ready.google_calendar_enabled


def test_the_frontend_url_counts_as_configured_only_when_set() -> None:
    assert Settings().frontend_url_configured is False
    assert Settings(frontend_url="https://app.example.com").frontend_url_configured is True


def test_racing_processes_agree_on_one_development_signing_key(tmp_path: Path) -> None:
    """Several web servers and workers starting at once on a fresh VAR_DIR (make replicas) read one key."""
    settings = Settings(app_env="development", var_dir=tmp_path / "var")
    kids: list[str] = []
    errors: list[Exception] = []
    start = threading.Barrier(8)

    def load() -> None:
        start.wait()
        try:
            kids.extend(key.kid or "" for key in load_key_set(settings).keys)
        except Exception as error:  # a loser of the race used to get FileExistsError or a half-written file
            errors.append(error)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(kids) == 8
    assert len(set(kids)) == 1
    assert (tmp_path / "var" / "jwt-signing-keys.json").stat().st_mode & 0o777 == 0o600
