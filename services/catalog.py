"""The versioned plan catalog (data/catalog.yaml) into the database, idempotently (`python -m cli.catalog`).

Countries and plans are upserted by their keys; a plan that has left the file is deactivated, not deleted,
so what refers to it stays valid.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.config import PROJECT_ROOT
from models import Country, ExternalPlan, ExternalPlanCountry

CATALOG_PATH = PROJECT_ROOT / "data" / "catalog.yaml"


def sync_catalog(session: Session, catalog: dict[str, Any]) -> dict[str, int]:
    """Make the database's catalog equal to `catalog`; returns what changed, by kind."""
    changes = {"countries": 0, "plans": 0, "deactivated": 0}
    countries = {c.code: c for c in session.scalars(select(Country))}
    for entry in catalog["countries"]:
        country = countries.get(entry["code"]) or Country(code=entry["code"])
        if (country.name, country.calling_code) != (entry["name"], entry["callingCode"]):
            country.name, country.calling_code = entry["name"], entry["callingCode"]
            session.add(country)
            changes["countries"] += 1
    session.flush()

    plans = {p.id: p for p in session.scalars(select(ExternalPlan).options(selectinload(ExternalPlan.country_links)))}
    listed = set()
    for entry in catalog["plans"]:
        plan_id = uuid.UUID(entry["id"])
        listed.add(plan_id)
        plan = plans.get(plan_id) or ExternalPlan(id=plan_id, country_links=[])
        wanted = {
            "name": entry["name"],
            "provider": entry["provider"],
            "monthly_price_minor": entry["monthlyPriceMinor"],
            "currency": entry["currency"],
            "voice": entry["capabilities"]["voice"],
            "sms": entry["capabilities"]["sms"],
            "active": entry["active"],
        }
        codes = sorted(entry["countries"])
        if {key: getattr(plan, key) for key in wanted} != wanted or plan.country_codes != codes:
            for key, value in wanted.items():
                setattr(plan, key, value)
            plan.country_links = [ExternalPlanCountry(external_plan_id=plan_id, country_code=code) for code in codes]
            session.add(plan)
            changes["plans"] += 1
    for plan_id, plan in plans.items():
        if plan_id not in listed and plan.active:
            plan.active = False
            changes["deactivated"] += 1
    session.flush()
    return changes


def read_catalog(path: Path = CATALOG_PATH) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
