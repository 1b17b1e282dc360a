"""SQLAlchemy entities. Importing this package registers every table on `Base.metadata`."""

from models.auth_session import AuthSession, RefreshToken
from models.base import Base
from models.catalog import Country, ExternalPlan, ExternalPlanCountry
from models.job import Job, JobStateConflict, JobStatus
from models.user import User
from models.user_token import TokenPurpose, UserToken

__all__ = [
    "AuthSession",
    "Base",
    "Country",
    "ExternalPlan",
    "ExternalPlanCountry",
    "Job",
    "JobStateConflict",
    "JobStatus",
    "RefreshToken",
    "TokenPurpose",
    "User",
    "UserToken",
]
