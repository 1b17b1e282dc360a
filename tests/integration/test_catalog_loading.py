from __future__ import annotations

import copy
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Country, ExternalPlan, ExternalPlanCountry
from services.catalog import read_catalog, sync_catalog


def test_the_shipped_catalog_loads_and_a_second_load_changes_nothing(db: Session) -> None:
    catalog = read_catalog()

    first = sync_catalog(db, catalog)
    db.commit()
    second = sync_catalog(db, catalog)
    db.commit()

    assert first["countries"] == len(catalog["countries"]) >= 10
    assert first["plans"] == len(catalog["plans"])
    assert second == {"countries": 0, "plans": 0, "deactivated": 0}
    assert db.scalar(select(func.count()).select_from(ExternalPlan)) == len(catalog["plans"])
    assert db.scalar(select(func.count()).select_from(Country)) == len(catalog["countries"])


def test_a_changed_plan_is_updated_and_a_removed_one_deactivated(db: Session) -> None:
    catalog = read_catalog()
    sync_catalog(db, catalog)
    db.commit()
    changed = copy.deepcopy(catalog)
    kept, removed = changed["plans"][0], changed["plans"].pop(1)
    kept["monthlyPriceMinor"] += 1
    kept["countries"] = ["US", "CA"]

    result = sync_catalog(db, changed)
    db.commit()

    assert result == {"countries": 0, "plans": 1, "deactivated": 1}
    plan = db.get(ExternalPlan, uuid.UUID(kept["id"]))
    assert plan is not None
    assert plan.monthly_price_minor == kept["monthlyPriceMinor"]
    links = db.scalars(select(ExternalPlanCountry.country_code).where(ExternalPlanCountry.external_plan_id == plan.id))
    assert sorted(links) == ["CA", "US"]
    withdrawn = db.get(ExternalPlan, uuid.UUID(removed["id"]))
    assert withdrawn is not None
    assert withdrawn.active is False
