"""One validated settings object, read from the environment (and an optional `.env`).

Every variable is documented in `.env.example`. An invalid value stops the process before it
serves, with one message that names every bad variable (`load_settings_or_exit`).
"""

from __future__ import annotations

import sys
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///var/switchboard.db"
SUPPORTED_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg2", "postgres")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    app_env: Literal["development", "test", "production"] = "development"
    port: int = Field(3001, ge=1, le=65535)
    database_url: str = DEFAULT_DATABASE_URL
    # a2wsgi runs handlers on 10 threads per worker: fewer connections than that would queue.
    db_pool_size: int = Field(10, ge=10, le=200)
    db_statement_timeout_ms: int = Field(5000, ge=0, le=600_000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    max_body_bytes: int = Field(10 * 1024, ge=1, le=10 * 1024 * 1024)
    web_concurrency: int = Field(2, ge=1, le=64)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_urls(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return origins

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, url: str) -> str:
        scheme, separator, rest = url.partition("://")
        if not separator or scheme not in SUPPORTED_DATABASE_SCHEMES:
            raise ValueError(f"must start with one of {', '.join(s + '://' for s in SUPPORTED_DATABASE_SCHEMES)}")
        # Hosting providers hand out postgres:// URLs; SQLAlchemy knows the scheme as postgresql.
        return f"postgresql://{rest}" if scheme == "postgres" else url

    @model_validator(mode="after")
    def _production_needs_postgresql(self) -> Settings:
        if self.app_env == "production" and self.is_sqlite:
            raise ValueError("DATABASE_URL: production needs PostgreSQL, not the embedded SQLite default")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def describe_errors(error: ValidationError) -> str:
    """One line per bad variable, named as the operator sets it."""
    lines = []
    for item in error.errors():
        variable = "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        if variable == "DATABASE_URL":  # never echo a password
            lines.append(f"  {variable}: {message}")
        elif variable:
            lines.append(f"  {variable}: {message} (got {item['input']!r})")
        else:
            lines.append(f"  {message}")
    return "Invalid configuration; the service did not start:\n" + "\n".join(lines)


def load_settings_or_exit() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        print(describe_errors(error), file=sys.stderr)
        raise SystemExit(2) from None
