"""SQLAlchemy entities. Importing this package registers every table on `Base.metadata`."""

from models.base import Base
from models.catalog import Country, ExternalPlan, ExternalPlanCountry
from models.job import Job, JobStatus

__all__ = ["Base", "Country", "ExternalPlan", "ExternalPlanCountry", "Job", "JobStatus"]
