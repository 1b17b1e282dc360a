"""The benchmark's baseline: plain Flask serving the benchmarked endpoints with Switchboard's own models,
schemas and token service on the same database, so that only the web layer differs (no spec, no
Connexion, no ASGI). Not part of the product: `make bench` (scripts/bench.py) runs it on gunicorn's sync
workers beside the real server.

Per request it does what Switchboard does: one transaction; for a person, the ES256 signature check and
the "does the session still stand" read; for a key, the digest lookup; for Twilio's voice webhook, the
signature check and the same receptionist (services/telephony.py); the same queries and marshmallow dumps;
compact JSON.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Flask, Response, request
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from core.config import load_settings_or_exit
from core.db import Database, create_db_engine
from core.tokens import TokenService
from models import ApiKey, AuthSession, Business, ExternalPlan
from models.base import utcnow
from schemas.business import business_schema
from schemas.catalog import plan_list_schema, plan_schema
from services import telephony

settings = load_settings_or_exit()
database = Database(create_db_engine(settings))
tokens = TokenService.from_settings(settings)
app = Flask(__name__)


def _json(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status, {"Content-Type": "application/json", **headers})


@app.get("/health-check/liveness")
def liveness() -> Response:
    return _json({"status": "ok"})


@app.get("/api/v1/plans/<plan_id>")
def get_plan(plan_id: str) -> Response:
    with database.sessions.begin() as session:
        return _json(plan_schema.dump(ExternalPlan.get(session, uuid.UUID(plan_id))))


@app.get("/api/v1/plans")
def list_plans() -> Response:
    limit = min(max(int(request.args.get("limit", "20")), 1), 100)
    with database.sessions.begin() as session:
        page = ExternalPlan.page_of_active(session, country=None, limit=limit, cursor=request.args.get("cursor"))
        return _json(plan_list_schema.dump(page))


def _business_of_caller(session: Session) -> uuid.UUID | None:
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Bearer "):
        ids = tokens.verify(authorization.removeprefix("Bearer "))
        if ids is None:
            return None
        user_id, session_id = ids
        auth_session = AuthSession.active_for_token(session, session_id, user_id)
        if auth_session is None:
            return None
        info = auth_session.user.token_info(session_id)
        return uuid.UUID(info["business"]) if info.get("business") and "business:read" in info["scope"] else None
    key = ApiKey.authenticate(session, request.headers.get("X-API-Key", ""))
    return key.business_id if key is not None and "business:read" in key.scopes else None


@app.get("/api/v1/business/me")
def get_business() -> Response:
    with database.sessions.begin() as session:
        business_id = _business_of_caller(session)
        if business_id is None:
            return _json({"code": "unauthorized"}, 401)
        business = Business.get(session, business_id)
        return _json(business_schema.dump(business), ETag=business.etag)


@app.post("/api/v1/telephony/twilio/voice")
def answer_call() -> Response:
    url = settings.public_base_url + request.path
    signature = request.headers.get("X-Twilio-Signature", "")
    form = request.form.to_dict()
    if not RequestValidator(settings.twilio_auth_token).validate(url, form, signature):
        return _json({"code": "invalid_signature"}, 403)
    callbacks = settings.public_base_url + request.path.rsplit("/", 1)[0]
    with database.sessions.begin() as session:
        twiml = telephony.answer(
            session, sid=form["CallSid"], caller=form["From"], to=form["To"], now=utcnow(), callbacks=callbacks
        )
    return Response(twiml, 200, {"Content-Type": "application/xml"})
