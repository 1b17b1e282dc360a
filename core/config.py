"""One validated settings object, read from the environment (and an optional `.env`).

Every variable is documented in `.env.example`. An invalid value stops the process before it
serves, with one message that names every bad variable (`load_settings_or_exit`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import limits
from cryptography.fernet import Fernet
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUPPORTED_DATABASE_SCHEMES = ("postgresql", "postgresql+psycopg2", "postgres")
PasswordHashCost = Literal["default", "low"]  # PASSWORD_HASH_COST (core/passwords.py)
_SOCKET_PATH_MAX = 100  # a Unix socket's path: 107 bytes on Linux, 103 on macOS


def embedded_socket_dir(var_dir: Path) -> Path:
    """Where the embedded PostgreSQL (cli/embedded_db.py) listens: its data directory, or a short path in
    /tmp when that one is too long for a Unix socket."""
    data_dir = var_dir / "postgres"
    if len(str(data_dir / ".s.PGSQL.5432")) <= _SOCKET_PATH_MAX:
        return data_dir
    return Path("/tmp") / f"switchboard-{hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]}"  # noqa: S108


def embedded_database_url(var_dir: Path) -> str:
    return f"postgresql+psycopg2://postgres@/switchboard?host={embedded_socket_dir(var_dir)}"


def _default_database_url(data: dict[str, Any]) -> str:
    return embedded_database_url(data["var_dir"])


_HTTP_URL = r"^https?://[^\s]+$"


HANDLER_THREADS = 10  # per web worker (web/wsgi_bridge.py)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    app_env: Literal["development", "test", "production"] = "development"
    port: int = Field(3001, ge=1, le=65535)
    # Development state: the embedded PostgreSQL's data, generated development keys, mail as .eml files.
    var_dir: Path = PROJECT_ROOT / "var"
    # Unset: the embedded PostgreSQL in VAR_DIR/postgres (started by `make run`).
    database_url: str = Field(default_factory=_default_database_url)
    # Handlers run on HANDLER_THREADS threads per worker: fewer connections than that would queue.
    db_pool_size: int = Field(10, ge=10, le=200)
    db_statement_timeout_ms: int = Field(5000, ge=0, le=600_000)
    # The web and the worker hold no connection longer: past it, a server that stopped answering is cut off.
    db_client_deadline_seconds: float = Field(10, ge=1, le=3600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    max_body_bytes: int = Field(10 * 1024, ge=1, le=10 * 1024 * 1024)
    # Rate limits (web/rate_limits.py), in the `limits` library's notation: per client address on sign-in,
    # sign-up and what sends mail; per address on the other anonymous operations; per person or API key on
    # the rest. Counted in this process's memory, or in Redis (redis://...) when replicas share one budget.
    rate_limit_sensitive: str = "10/minute"
    rate_limit_anonymous: str = "300/minute"
    rate_limit_authenticated: str = "1200/minute"
    rate_limit_storage_url: str = Field("memory://", pattern=r"^(memory|redis|rediss)://", max_length=500)
    # Twilio (the voice webhook and its callbacks): every request must be signed with this account's auth
    # token, checked against the URL Twilio called: PUBLIC_BASE_URL (this service's origin as the world
    # reaches it) plus the path. Without a token every Twilio request is refused.
    twilio_auth_token: str = Field("", max_length=200)
    public_base_url: str = Field("http://localhost:3001", max_length=300, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    # Twilio's REST API (texts to callers, voicemail recordings), as this account (with the auth token above);
    # TWILIO_API_BASE_URL is for a local fake in tests. Without an account SID nothing is texted and
    # recordings are not fetched.
    twilio_account_sid: str = Field("", max_length=64, pattern=r"^(AC[0-9a-fA-F]{32})?$")
    twilio_api_base_url: str = Field("https://api.twilio.com", max_length=300, pattern=r"^https?://[^\s/]+$")
    # A voicemail the API streams from Twilio (GET /calls/{callId}/recording): the whole fetch's deadline (each
    # connect and read within it, at most 10 s) and the most it passes on (a longer one is cut off).
    recording_fetch_seconds: float = Field(60, gt=0, le=600)
    recording_max_bytes: int = Field(20 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024)
    # A voicemail's email waits this long for its transcript (sent without it after that).
    transcript_wait_seconds: float = Field(120, ge=0, le=3600)
    # Customers' webhook endpoints: how long a delivery waits for an answer.
    webhook_timeout_seconds: float = Field(10, gt=0, le=60)
    # OpenTelemetry tracing (core/tracing.py): spans go to this OTLP/HTTP collector; unset, tracing is off.
    otel_exporter_otlp_endpoint: str = Field("", max_length=500, pattern=r"^(https?://\S+)?$")
    otel_service_name: str = Field("switchboard", min_length=1, max_length=100)
    # GET /metrics (Prometheus) answers a bearer of this token; without one it is open in development only.
    metrics_token: str = Field("", max_length=500)
    # Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client; empty: none is trusted.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    # The HTTP server's bounds on a request's head (request line and headers): its size, and how long it may take.
    http_max_head_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    http_head_timeout_seconds: float = Field(10, gt=0, le=300)
    http_max_headers: int = Field(100, ge=10, le=1000)
    # Swagger UI (/api/v1/ui/) and the API reference (/api/v1/docs), in production too: customers explore the
    # API with them. The spec itself (/api/v1/openapi.json) is served either way.
    api_docs_enabled: bool = True
    http_max_connections: int = Field(1000, ge=1, le=100_000)  # per worker process
    # On SIGTERM a web worker keeps serving this long with readiness at 503 (so load balancers route away
    # before its listener closes), then finishes in-flight requests and exits. Production: about the load
    # balancer's health-check interval times its failure threshold.
    shutdown_drain_seconds: float = Field(3, ge=0, le=120)
    web_concurrency: int = Field(2, ge=1, le=64)
    # Email: smtp://user:password@host:port?starttls=true; empty writes .eml files to VAR_DIR/mail (not production).
    mail_url: str = ""
    mail_from: str = Field("Switchboard <no-reply@switchboard.localhost>", min_length=3, max_length=200)
    mail_timeout_seconds: float = Field(10, gt=0, le=120)
    # Background jobs (worker.py). Each kind has its own threads: WORKER_CONCURRENCY for email, and
    # WEBHOOK_CONCURRENCY for webhook deliveries, of which at most WEBHOOK_ENDPOINT_CONCURRENCY go to any
    # one endpoint at a time (so a hanging endpoint holds that many threads, not all of them).
    worker_concurrency: int = Field(4, ge=1, le=64)
    webhook_concurrency: int = Field(16, ge=1, le=256)
    webhook_endpoint_concurrency: int = Field(2, ge=1, le=64)
    job_visibility_timeout_seconds: int = Field(30, ge=1, le=86_400)
    job_dead_alert_threshold: int = Field(10, ge=0, le=1_000_000)
    job_retention_days: int = Field(7, ge=1, le=3650)
    # A failed job's retries: exponential from the base, capped (each with jitter), until its window closes.
    job_backoff_base_seconds: float = Field(10, gt=0, le=3600)
    job_backoff_cap_seconds: float = Field(1800, gt=0, le=86_400)
    # How often each worker looks for daily digests that are due (services/digest.py); a digest goes once
    # however many workers look. Tests shorten it; an hour's check would send digests up to an hour late.
    digest_check_seconds: float = Field(60, gt=0, le=3600)
    # Sign-in. JWT_PRIVATE_KEYS is a JWKS of EC P-256 private keys, each with a kid: the first signs, all
    # verify. Empty outside production: a key is generated once into VAR_DIR.
    jwt_private_keys: str = ""
    token_issuer: str = Field("switchboard", min_length=1, max_length=200)
    token_audience: str = Field("switchboard-api", min_length=1, max_length=200)
    access_token_ttl_seconds: int = Field(900, ge=60, le=86_400)
    refresh_token_ttl_days: int = Field(30, ge=1, le=365)
    login_max_failures: int = Field(5, ge=1, le=100)
    login_lockout_minutes: int = Field(15, ge=1, le=1440)
    # argon2id's cost for new password hashes: "default" is the argon2 library's recommended parameters;
    # "low" (1 pass, 1 MiB) is for tests only, where a sign-in would otherwise spend ~200 ms. Production refuses it.
    password_hash_cost: PasswordHashCost = "default"  # noqa: S105 - a cost, not a password
    # An external identity provider whose bearer tokens are accepted too (all three, or none).
    jwt_issuer: str = Field("", max_length=300)
    jwt_audience: str = Field("", max_length=300)
    jwt_jwks_uri: str = Field("", max_length=500, pattern=r"^(https?://\S+)?$")
    # Where links in emails point (the web app's origin). Left unset, the Google callback answers JSON.
    frontend_url: str = Field("http://localhost:3000", pattern=r"^https?://[^\s]+$", max_length=200)
    # Encrypting data at rest (stored OAuth tokens): Fernet keys, the first encrypts, all decrypt. Empty
    # outside production: a key is generated once into VAR_DIR.
    data_encryption_keys: Annotated[tuple[str, ...], NoDecode] = ()
    # Google Calendar (OAuth 2.0 authorization code + PKCE). Without a client id and secret the integration
    # answers "not configured". The endpoint URLs default to Google's; tests point them at a local server.
    google_client_id: str = Field("", max_length=300)
    google_client_secret: str = Field("", max_length=300)
    google_redirect_uri: str = Field(
        "http://localhost:3001/api/v1/oauth/google/callback", pattern=_HTTP_URL, max_length=500
    )
    google_authorize_url: str = Field("https://accounts.google.com/o/oauth2/v2/auth", pattern=_HTTP_URL, max_length=500)
    google_token_url: str = Field("https://oauth2.googleapis.com/token", pattern=_HTTP_URL, max_length=500)
    google_userinfo_url: str = Field(
        "https://openidconnect.googleapis.com/v1/userinfo", pattern=_HTTP_URL, max_length=500
    )
    google_revoke_url: str = Field("https://oauth2.googleapis.com/revoke", pattern=_HTTP_URL, max_length=500)
    google_timeout_seconds: float = Field(10, gt=0, le=60)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("var_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return PROJECT_ROOT / path  # an absolute path stays as it is

    @field_validator("cors_origins", "data_encryption_keys", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        """Lists come from the environment comma-separated."""
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("rate_limit_sensitive", "rate_limit_anonymous", "rate_limit_authenticated")
    @classmethod
    def _one_rate(cls, value: str) -> str:
        try:
            rate = limits.parse(value)
        except ValueError:
            rate = None
        if rate is None or rate.amount < 1 or any(separator in value for separator in ";,|"):
            raise ValueError(f"{value!r} is not one rate like 10/minute")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an address or CIDR range") from None
        return proxies

    @field_validator("data_encryption_keys")
    @classmethod
    def _fernet_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            try:
                Fernet(key)
            except ValueError:
                raise ValueError(
                    "every key must be a Fernet key (32 url-safe base64-encoded bytes, 44 characters)"
                ) from None
        return keys

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
        # Hosting providers hand out postgres:// URLs. SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3,
        # which is not installed: every accepted form names the driver we ship.
        return f"postgresql+psycopg2://{rest}"

    @field_validator("mail_url")
    @classmethod
    def _smtp_url(cls, url: str) -> str:
        if url and not url.startswith("smtp://"):
            raise ValueError("must be empty or start with smtp://")
        return url

    @field_validator("jwt_private_keys")
    @classmethod
    def _signing_keys(cls, value: str) -> str:
        if not value:
            return value
        try:
            keys = json.loads(value)["keys"]
            usable = [k for k in keys if k.get("kty") == "EC" and k.get("crv") == "P-256" and "d" in k and k.get("kid")]
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ValueError(
                'must be a JWKS: {"keys": [{"kty": "EC", "crv": "P-256", "d": ..., "kid": ...}]}'
            ) from None
        if not keys or len(usable) != len(keys):
            raise ValueError("every key must be an EC P-256 private key with a kid")
        return value

    @model_validator(mode="after")
    def _external_idp_all_or_nothing(self) -> Settings:
        given = [bool(self.jwt_issuer), bool(self.jwt_audience), bool(self.jwt_jwks_uri)]
        if any(given) and not all(given):
            raise ValueError("JWT_ISSUER, JWT_AUDIENCE and JWT_JWKS_URI: set all three to accept an external provider")
        return self

    @property
    def external_idp_enabled(self) -> bool:
        return bool(self.jwt_issuer)

    @model_validator(mode="after")
    def _google_client_all_or_nothing(self) -> Settings:
        if bool(self.google_client_id) != bool(self.google_client_secret):
            raise ValueError("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET: set both to enable Google Calendar")
        return self

    @property
    def tracing_enabled(self) -> bool:
        return bool(self.otel_exporter_otlp_endpoint)

    @property
    def metrics_open(self) -> bool:
        """Whether /metrics answers without a token: in development, when no METRICS_TOKEN is set."""
        return self.app_env == "development" and not self.metrics_token

    @property
    def allow_local_targets(self) -> bool:
        """Whether a webhook endpoint may be plain http and on loopback: outside production only, so tests and
        `make run` can target a local receiver (connectors/webhooks.py)."""
        return self.app_env != "production"

    @property
    def google_calendar_enabled(self) -> bool:
        return bool(self.google_client_id)

    @property
    def frontend_url_configured(self) -> bool:
        """Whether FRONTEND_URL was set (its default serves email links in development only)."""
        return "frontend_url" in self.model_fields_set

    @model_validator(mode="after")
    def _production_refuses_development_defaults(self) -> Settings:
        if self.app_env == "production" and "database_url" not in self.model_fields_set:
            raise ValueError("DATABASE_URL: production needs its database, not the embedded development server")
        if self.app_env == "production" and not self.mail_url:
            raise ValueError("MAIL_URL: production needs an SMTP server, not files in VAR_DIR/mail")
        if self.app_env == "production" and not self.jwt_private_keys:
            raise ValueError("JWT_PRIVATE_KEYS: production needs its signing keys, not a generated development key")
        if self.app_env == "production" and self.password_hash_cost != "default":  # noqa: S105 - a cost
            raise ValueError("PASSWORD_HASH_COST: production hashes passwords at the argon2 library's default cost")
        if self.app_env == "production" and self.google_calendar_enabled:
            if not self.data_encryption_keys:
                raise ValueError("DATA_ENCRYPTION_KEYS: production needs its own keys to store Google tokens encrypted")
            if urlsplit(self.google_redirect_uri).hostname in ("localhost", "127.0.0.1"):
                raise ValueError("GOOGLE_REDIRECT_URI: production needs the public URL of its OAuth callback")
        return self


_MAY_HOLD_SECRETS = frozenset(
    {"DATABASE_URL", "MAIL_URL", "JWT_PRIVATE_KEYS", "DATA_ENCRYPTION_KEYS", "GOOGLE_CLIENT_SECRET"}
)  # their values are never echoed


def describe_errors(error: ValidationError) -> str:
    """One line per bad variable, named as the operator sets it."""
    lines = []
    for item in error.errors():
        variable = "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        if variable in _MAY_HOLD_SECRETS:
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
