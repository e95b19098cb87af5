"""Every table, imported in one place for Alembic and for ``SQLModel.metadata``."""

from clipjury.accounts.models import Province, Unit, User
from clipjury.audit.models import AuditEvent
from clipjury.campaigns.models import Campaign, UnitQuota
from clipjury.uploads.models import Upload
from clipjury.works.models import Work, WorkVersion

__all__ = [
    "AuditEvent", "Campaign", "Province", "Unit", "UnitQuota", "Upload", "User", "Work", "WorkVersion",
]
