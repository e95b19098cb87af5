"""审计日志: the audit trail as staff may read it, filtered and paged."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.models import Role
from clipjury.audit.query import AUDIT_ACTION_LABELS, AuditFilter, audit_count, audit_events, audit_query
from clipjury.campaigns.service import active_campaign
from clipjury.errors import Invalid
from clipjury.reviews import service
from clipjury.reviews.service import work_titles
from clipjury.timeutil import fmt_local
from review_ui.context import user_context
from review_ui.core.pager import int_or_none, page_number, pager
from review_ui.core.render import render
from review_ui.core.routing import PageRoute
from review_ui.presenters.labels import event_reason_label, status_change_label

router = APIRouter(route_class=PageRoute, include_in_schema=False)


AUDIT_PAGE_SIZE = 50


# -- the audit log ---------------------------------------------------------------------------------

@dataclass
class AuditRow:
    id: int
    at: str
    by: str
    label: str
    work_id: int | None
    work_title: str
    change: str
    reason: str


@router.get("/audit")
def audit_log(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    province: str = "",
    action: str = "",
    work: str = "",
    page: str = "1",
) -> Response:
    """A province's audit log, newest first (the national admin may pick a province or read all)."""
    work_id = int_or_none(work.lstrip("#"))
    if work.strip() and work_id is None:
        raise Invalid("作品编号应为数字。", code="invalid_work_id")
    flt = AuditFilter(province=province or None, work_id=work_id, action=action or None)
    scope = audit_query(session, user, active_campaign(session), flt)
    national = Role(user.role) == Role.national_admin
    provinces = service.all_provinces(session) if national else []
    scope_name = scope.province.name if scope.province else ("全国" if national else "")
    params = {"province": scope.province.code if national and scope.province else "", "action": action,
              "work": str(work_id or "")}
    paging = pager(audit_count(session, scope), page_number(page), AUDIT_PAGE_SIZE, "/audit", params)
    page_rows = audit_events(session, scope, offset=paging.offset, limit=AUDIT_PAGE_SIZE)
    # Titles (and links) only for works the admin may open; one query for the page.
    titles = work_titles(session, user, {e.work_id for e, _ in page_rows if e.work_id is not None})
    rows = [
        AuditRow(
            id=e.id or 0, at=fmt_local(e.at), by="系统" if e.actor_name == "system" else e.actor_name,
            label=AUDIT_ACTION_LABELS.get(e.action, e.action),
            work_id=e.work_id, work_title=titles.get(e.work_id, "") if e.work_id else "",
            change=status_change_label(v.from_status, v.to_status),
            reason=event_reason_label(e.action, e.reason),
        )
        for e, v in page_rows
    ]
    return render(request, "audit/index.html", {
        **user_context(user, session),
        "rows": rows,
        "pager": paging,
        "filters": params,
        "scope_name": scope_name,
        "provinces": provinces,
        "actions": sorted(AUDIT_ACTION_LABELS.items(), key=lambda kv: kv[0]),
    })
