"""Who may do what, by role: the role sets every access decision reads, and ``require_role``.

The API, the pages and the services ask here rather than keeping their own tuples, so a role added to a
rule is added everywhere at once. Scope (which province, unit or work) is decided elsewhere
(``works.service.visible_works_query``); this is only the role half.
"""

from __future__ import annotations

from clipjury.accounts.models import ROLE_LABELS, Role, User
from clipjury.errors import Forbidden

# Tuples, not sets: their order is the order a refusal names the roles in.
# The preliminary review (初评): claim, release, verdict.
PRELIMINARY_ROLES: tuple[Role, ...] = (Role.reviewer, Role.provincial_admin)
# The review pages, the review checklist, the staff's notification links.
REVIEW_ROLES: tuple[Role, ...] = (Role.reviewer, Role.provincial_admin, Role.national_admin)
# Disqualification, decision documents, the audit log.
ADMIN_ROLES: tuple[Role, ...] = (Role.provincial_admin, Role.national_admin)
# Any undo (which decision each may undo is reviews.policy's business).
UNDO_ROLES: tuple[Role, ...] = (Role.national_admin, Role.provincial_admin, Role.reviewer)
# Who submits works.
SUBMITTING_ROLES: tuple[Role, ...] = (Role.submitter, Role.unit_coordinator)
# The review queues and lists: everyone but submitters and judges.
REVIEW_LIST_ROLES: tuple[Role, ...] = (
    Role.national_admin, Role.provincial_admin, Role.reviewer, Role.unit_coordinator,
)
# The activity reports: who enters them and who reads them.
REPORT_ENTRY_ROLES: tuple[Role, ...] = (Role.unit_coordinator, Role.provincial_admin)
REPORT_READ_ROLES: tuple[Role, ...] = (Role.unit_coordinator, Role.provincial_admin, Role.national_admin)


def role_of(user: User) -> Role:
    return Role(user.role)


def has_role(user: User | None, roles: tuple[Role, ...]) -> bool:
    return user is not None and Role(user.role) in roles


def role_refusal(roles: tuple[Role, ...], what: str) -> Forbidden:
    names = "、".join(ROLE_LABELS[r] for r in roles)
    return Forbidden(f"只有{names}可以{what}。", code="forbidden_role")


def require_role(user: User, roles: tuple[Role, ...], what: str) -> None:
    """403 ``forbidden_role`` naming the roles that may ``what`` (a Chinese verb phrase)."""
    if Role(user.role) not in roles:
        raise role_refusal(roles, what)
