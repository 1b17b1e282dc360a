from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine

from core.config import PROJECT_ROOT, Settings, embedded_socket_dir, load_settings_or_exit
from core.passwords import hasher


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no developer .env
    for variable in Settings.model_fields:
        monkeypatch.delenv(variable.upper(), raising=False)


def test_defaults_serve_the_embedded_database_on_3001() -> None:
    settings = Settings()

    assert settings.port == 3001
    assert settings.var_dir == PROJECT_ROOT / "var"
    assert settings.database_url == f"postgresql+psycopg2://postgres@/switchboard?host={PROJECT_ROOT}/var/postgres"
    assert settings.max_body_bytes == 10 * 1024
    assert settings.db_pool_size >= 10
    assert settings.cors_origins == ()


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")

    settings = Settings()

    assert settings.port == 8080
    assert settings.log_level == "DEBUG"
    assert settings.cors_origins == ("https://a.example", "https://b.example")


def test_values_come_from_a_dotenv_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".env").write_text("MAX_BODY_BYTES=2048\n")

    assert Settings().max_body_bytes == 2048


def test_every_bad_variable_is_named_in_one_message_and_the_exit_code_is_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "seventy")
    monkeypatch.setenv("APP_ENV", "staging")
    monkeypatch.setenv("DATABASE_URL", "mysql://app:S3cretPass@db/x")
    monkeypatch.setenv("CORS_ORIGINS", "example.com")

    with pytest.raises(SystemExit) as exit_info:
        load_settings_or_exit()

    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    for variable in ("PORT", "APP_ENV", "DATABASE_URL", "CORS_ORIGINS"):
        assert f"  {variable}: " in message
    assert "Traceback" not in message
    assert "S3cretPass" not in message


def test_production_refuses_the_embedded_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")

    with pytest.raises(ValueError, match="DATABASE_URL: production needs its database, not the embedded"):
        Settings()


def test_a_pool_smaller_than_the_handler_threads_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "5")

    with pytest.raises(ValueError, match="greater than or equal to 10"):
        Settings()


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg2"])
def test_every_postgresql_url_names_the_driver_we_ship(monkeypatch: pytest.MonkeyPatch, scheme: str) -> None:
    """postgres:// from a hosting provider, and a bare postgresql://, which SQLAlchemy 2.1 reads as psycopg 3."""
    monkeypatch.setenv("DATABASE_URL", f"{scheme}://app:pw@db:5432/switchboard")
    settings = Settings()

    assert settings.database_url == "postgresql+psycopg2://app:pw@db:5432/switchboard"
    assert create_engine(settings.database_url).dialect.driver == "psycopg2"


def test_production_refuses_to_write_mail_to_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/switchboard")

    with pytest.raises(ValueError, match="MAIL_URL: production needs an SMTP server"):
        Settings()


def test_a_mail_url_must_be_smtp_and_is_never_echoed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAIL_URL", "https://user:Sup3rSecret@mail.example")

    with pytest.raises(SystemExit):
        load_settings_or_exit()

    message = capsys.readouterr().err
    assert "MAIL_URL: must be empty or start with smtp://" in message
    assert "Sup3rSecret" not in message


def test_production_refuses_to_sign_with_a_generated_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/switchboard")
    monkeypatch.setenv("MAIL_URL", "smtp://mail:25")

    with pytest.raises(ValueError, match="JWT_PRIVATE_KEYS: production needs its signing keys"):
        Settings()


_PRODUCTION_ENV = {
    "APP_ENV": "production",
    "DATABASE_URL": "postgresql://db/switchboard",
    "MAIL_URL": "smtp://mail:25",
    "JWT_PRIVATE_KEYS": '{"keys": [{"kty": "EC", "crv": "P-256", "d": "x", "x": "x", "y": "y", "kid": "k1"}]}',
}


def test_production_refuses_a_lowered_password_hash_cost(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable, value in _PRODUCTION_ENV.items():
        monkeypatch.setenv(variable, value)
    assert Settings().password_hash_cost == "default"  # the rest of this production configuration is valid
    monkeypatch.setenv("PASSWORD_HASH_COST", "low")

    with pytest.raises(SystemExit):
        load_settings_or_exit()

    assert "PASSWORD_HASH_COST: production hashes passwords at the argon2 library's default cost" in (
        capsys.readouterr().err
    )


def test_the_default_password_hash_cost_is_the_argon2_librarys_and_tests_may_lower_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    library = PasswordHasher()
    default = hasher(Settings().password_hash_cost)
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("PASSWORD_HASH_COST", "low")
    low = hasher(Settings().password_hash_cost)

    assert (default.time_cost, default.memory_cost, default.parallelism, default.type) == (
        library.time_cost,
        library.memory_cost,
        library.parallelism,
        library.type,
    )
    assert low.time_cost == 1
    assert low.memory_cost < library.memory_cost


def test_signing_keys_must_be_ec_private_keys_and_are_never_echoed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWT_PRIVATE_KEYS", '{"keys": [{"kty": "oct", "k": "c2VjcmV0LXNpZ25pbmcta2V5", "kid": "1"}]}')

    with pytest.raises(SystemExit):
        load_settings_or_exit()

    message = capsys.readouterr().err
    assert "JWT_PRIVATE_KEYS: every key must be an EC P-256 private key with a kid" in message
    assert "c2VjcmV0" not in message


def test_an_external_provider_needs_all_three_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_ISSUER", "https://idp.example")

    with pytest.raises(ValueError, match="set all three"):
        Settings()


def test_var_dir_moves_the_embedded_database_with_it(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "state"))

    settings = Settings()

    assert settings.var_dir == tmp_path / "state"
    assert settings.database_url.endswith(f"?host={tmp_path}/state/postgres")


def test_a_relative_var_dir_is_taken_from_the_project_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAR_DIR", "var2")

    assert Settings().var_dir == PROJECT_ROOT / "var2"


def test_the_embedded_socket_leaves_a_path_too_long_for_a_unix_socket() -> None:
    deep = Path("/srv") / ("d" * 90)

    socket_dir = embedded_socket_dir(deep)

    assert socket_dir.parent == Path("/tmp")  # noqa: S108 - where the socket goes
    assert socket_dir == embedded_socket_dir(deep)  # the same place every time: clients find it
    assert len(str(socket_dir / ".s.PGSQL.5432")) < 100


@pytest.mark.parametrize("rate", ["ten a minute", "0/minute", "10/minute;100/hour", "10/fortnight"])
def test_a_rate_limit_must_be_one_rate(monkeypatch: pytest.MonkeyPatch, rate: str) -> None:
    monkeypatch.setenv("RATE_LIMIT_SENSITIVE", rate)

    with pytest.raises(ValueError, match="is not one rate like 10/minute"):
        Settings()


def test_trusted_proxies_are_addresses_or_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", " 10.0.0.0/8 , 192.168.1.7,fd00::/8 ")
    assert Settings().trusted_proxies == ("10.0.0.0/8", "192.168.1.7", "fd00::/8")

    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8,the-load-balancer")
    with pytest.raises(ValueError, match="'the-load-balancer' is not an address or CIDR range"):
        Settings()
