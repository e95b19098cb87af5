"""Every table, imported in one place for Alembic and for ``SQLModel.metadata``."""

from clipjury.accounts.invitations import Invitation
from clipjury.accounts.models import AuthSession, Province, Unit, User
from clipjury.audit.models import AuditEvent
from clipjury.awards.models import (
    AwardCertificate,
    AwardsPublication,
    AwardsVersionRecord,
    GrassrootsNomination,
    OrganisingDecision,
)
from clipjury.campaigns.models import Campaign, ProvinceQuota, UnitQuota
from clipjury.integrity.models import Fingerprint, IntegritySwitches, Screening, SimilarPair
from clipjury.judging.models import JudgeConflict, JudgeState, JudgingAssignment, JudgingRound
from clipjury.notifications.models import Notification
from clipjury.reports.models import ActivityEntry
from clipjury.reviews.models import ReviewDecision
from clipjury.showcase.models import Like, LikesSnapshot, LikesSnapshotWork, ShowcaseEntry, Voter
from clipjury.units.models import UnitMembership
from clipjury.uploads.models import Upload
from clipjury.works.models import Work, WorkVersion

__all__ = [
    "ActivityEntry",
    "AuditEvent",
    "AuthSession",
    "AwardCertificate",
    "AwardsPublication",
    "AwardsVersionRecord",
    "Campaign",
    "Fingerprint",
    "GrassrootsNomination",
    "IntegritySwitches",
    "Invitation",
    "JudgeConflict",
    "JudgeState",
    "JudgingAssignment",
    "JudgingRound",
    "Like",
    "LikesSnapshot",
    "LikesSnapshotWork",
    "Notification",
    "OrganisingDecision",
    "Province",
    "ProvinceQuota",
    "ReviewDecision",
    "Screening",
    "ShowcaseEntry",
    "SimilarPair",
    "Unit",
    "UnitMembership",
    "UnitQuota",
    "Upload",
    "User",
    "Voter",
    "Work",
    "WorkVersion",
]
