"""The application factory. Gunicorn serves the module-level `app` (see gunicorn.conf.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from connexion import FlaskApp
from connexion.jsonifier import Jsonifier
from connexion.middleware import ConnexionMiddleware, MiddlewarePosition
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver

from core.config import HANDLER_THREADS, Settings, load_settings_or_exit
from core.db import Database, create_db_engine
from core.logging import configure_logging
from core.passwords import use_hash_cost
from core.tokens import TokenService
from core.tracing import configure_tracing
from web import metrics
from web.context import AppServices, attach, scope_state
from web.errors import register_error_handlers
from web.middleware import AfterSecurity, Edge, ReferenceDocs, Routing, SwaggerUI
from web.rate_limits import RateLimits
from web.spec import DOCS_PATH, Contract
from web.validation import VALIDATORS
from web.wsgi_bridge import BufferedWSGIBridge

# Connexion's layers that ours replace (web/middleware.py): its router, and Swagger UI asked for every path.
OURS: dict[type, type] = {RoutingMiddleware: Routing, SwaggerUIMiddleware: SwaggerUI}


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
        middlewares=[OURS.get(m, m) for m in ConnexionMiddleware.default_middlewares],
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
        # the public contract, served by web.middleware.Edge, not rebuilt per API.
        ui = SwaggerUIOptions(
            serve_spec=False,
            spec_path="/openapi.json",
            swagger_ui=is_main and settings.api_docs_enabled,
            swagger_ui_path="/ui",
        )
        app.add_api(document, base_path=base_path, swagger_ui_options=ui)
    register_error_handlers(app)

    # Our two layers, and what each does in which order: web/middleware.py. Handlers find the app's services in
    # Flask; the spec's security functions, outside Flask, in the scope.
    services = AppServices(settings, database, TokenService.from_settings(settings), contract.person_scopes)
    attach(app, services)
    reference = ReferenceDocs(path=f"{contract.base_path}/docs", html_file=DOCS_PATH)  # 404 until `make docs`
    app.add_middleware(
        Edge,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        settings=settings,
        contract=contract,
        reference=reference if settings.api_docs_enabled else None,
        state=scope_state(services),
    )
    app.add_middleware(
        AfterSecurity, position=MiddlewarePosition.BEFORE_VALIDATION, rate_limits=RateLimits(settings, contract)
    )
    return app


def __getattr__(name: str) -> FlaskApp:
    # `app` is built on first access (by gunicorn), not on import: tests import create_app alone.
    if name == "app":
        globals()["app"] = application = create_app()
        return application
    raise AttributeError(name)
