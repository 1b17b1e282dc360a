"""The application factory. Gunicorn serves the module-level `app` (see gunicorn.conf.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from connexion import FlaskApp
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver

from core.config import HANDLER_THREADS, Settings, load_settings_or_exit
from core.db import Database, create_db_engine
from core.logging import configure_logging
from core.passwords import use_hash_cost
from core.tokens import TokenService
from core.tracing import configure_tracing
from web import metrics
from web.context import AppServices, attach
from web.errors import register_error_handlers
from web.middleware import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    ContractDocumentsMiddleware,
    MethodGuardMiddleware,
    ProblemCORSMiddleware,
    ReferenceDocsMiddleware,
    RequestIdMiddleware,
    RoutedOnlyMiddleware,
    SecurityHeadersMiddleware,
    TracingMiddleware,
)
from web.rate_limits import RateLimitHeadersMiddleware, RateLimitMiddleware, RateLimits
from web.spec import DOCS_PATH, Contract
from web.validation import VALIDATORS
from web.wsgi_bridge import BufferedWSGIBridge


def create_app(settings: Settings | None = None, contract: Contract | None = None) -> FlaskApp:
    """The app for `settings` (default: from the environment) serving `contract` (default: our spec)."""
    settings = settings or load_settings_or_exit()
    configure_logging(settings)
    use_hash_cost(settings.password_hash_cost)
    contract = contract or Contract.load()
    database = Database(create_db_engine(settings, deadline=settings.db_client_deadline_seconds))
    metrics.watch_pool(database.engine)
    stop_tracing = configure_tracing(settings, database.engine)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield
        database.dispose()
        stop_tracing()  # exports the spans still buffered

    app = FlaskApp(
        __name__,
        lifespan=lifespan,
        resolver=Resolver(function_resolver=contract.resolve_handler),
        jsonifier=Jsonifier(json, separators=(",", ":")),  # Connexion's default indents every response
        pythonic_params=True,
        strict_validation=True,
        validate_responses=settings.app_env != "production",
        validator_map=VALIDATORS,
    )
    # Connexion's a2wsgi bridge crosses threads per message; ours, once per request (web/wsgi_bridge.py).
    app._middleware_app.asgi_app = BufferedWSGIBridge(app.app, threads=HANDLER_THREADS)
    for base_path, document in contract.apis():
        is_main = base_path == contract.base_path
        # Connexion routes the whole spec; the documents served (and Swagger UI's, its {base}/openapi.json) are
        # the public contract, served by ContractDocumentsMiddleware, not rebuilt per API.
        ui = SwaggerUIOptions(
            serve_spec=False,
            spec_path="/openapi.json",
            swagger_ui=is_main and settings.api_docs_enabled,
            swagger_ui_path="/ui",
        )
        app.add_api(document, base_path=base_path, swagger_ui_options=ui)
    register_error_handlers(app)

    # Outermost first: every response, errors included, passes through all of these.
    before_errors = MiddlewarePosition.BEFORE_EXCEPTION
    app.add_middleware(RequestIdMiddleware, position=before_errors, trusted_proxies=settings.trusted_proxies)
    if settings.tracing_enabled:
        app.add_middleware(TracingMiddleware, position=before_errors)
    app.add_middleware(AccessLogMiddleware, position=before_errors)
    app.add_middleware(
        SecurityHeadersMiddleware,
        position=before_errors,
        ui_path=f"{contract.base_path}/ui",
        deprecations=contract.deprecations,
    )
    app.add_middleware(RateLimitHeadersMiddleware, position=before_errors)
    if settings.cors_origins:
        app.add_middleware(
            ProblemCORSMiddleware,
            position=before_errors,
            allow_origins=list(settings.cors_origins),
            allow_methods=sorted({op.method for op in contract.operations}),
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID", "Idempotency-Key", "If-Match"],
            expose_headers=["X-Request-ID", "Location", "ETag", "Retry-After", "RateLimit", "RateLimit-Policy"],
            max_age=600,
        )
    app.add_middleware(BodyLimitMiddleware, position=before_errors, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ContractDocumentsMiddleware, position=before_errors, contract=contract)
    docs_path = f"{contract.base_path}/docs"  # the API reference `make docs` builds (404 until it has)
    if settings.api_docs_enabled:
        app.add_middleware(ReferenceDocsMiddleware, position=before_errors, path=docs_path, html_file=DOCS_PATH)
    # Handlers find the app's services in Flask; the spec's security functions, outside Flask, in the scope.
    attach(app, AppServices(settings, database, TokenService.from_settings(settings), contract.person_scopes))
    app.add_middleware(MethodGuardMiddleware, position=MiddlewarePosition.BEFORE_ROUTING, contract=contract)
    app.add_middleware(RoutedOnlyMiddleware, position=MiddlewarePosition.BEFORE_SECURITY)
    rate_limits = RateLimits(settings, contract)
    app.add_middleware(RateLimitMiddleware, position=MiddlewarePosition.BEFORE_VALIDATION, rate_limits=rate_limits)
    return app


def __getattr__(name: str) -> FlaskApp:
    # `app` is built on first access (by gunicorn), not on import: tests import create_app alone.
    if name == "app":
        globals()["app"] = application = create_app()
        return application
    raise AttributeError(name)
