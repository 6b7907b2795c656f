"""All table models; importing this package registers them on SQLModel.metadata."""

from services.db.models.auth import ApiToken, AuthSession, Role, User
from services.db.models.jobs import JobRun, JobStatus
from services.db.models.notifications import Notification
from services.db.models.settings import Setting

__all__ = [
    "ApiToken",
    "AuthSession",
    "JobRun",
    "JobStatus",
    "Notification",
    "Role",
    "Setting",
    "User",
]
