"""SQLAlchemy entities. Importing this package registers every table on `Base.metadata`."""

from models.base import Base
from models.catalog import Country, ExternalPlan, ExternalPlanCountry

__all__ = ["Base", "Country", "ExternalPlan", "ExternalPlanCountry"]
