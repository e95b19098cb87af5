"""The preliminary review (初评), for provincial reviewers and admins: the province's queue, a work's
review page (player, measured facts, checklist, claim, verdict, disqualification, undo, documents, audit
trail) and forwarding passed works to the national re-review. Thin: every decision is a call into
``clipjury.reviews.service``; these pages only lay it out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from sqlmodel import Session
from starlette.datastructures import FormData

from api.deps import CurrentUser, SessionDep
from clipjury import decisions
from clipjury.accounts.models import Province, Role, Unit, User
from clipjury.accounts.policy import ADMIN_ROLES, PRELIMINARY_ROLES, REVIEW_ROLES, has_role, require_role
from clipjury.audit.query import AUDIT_ACTION_LABELS
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign
from clipjury.errors import Conflict, Invalid
from clipjury.numbers import ascii_digits, db_id
from clipjury.reviews import quotas as quota_mod
from clipjury.reviews import service
from clipjury.reviews.events import work_events
from clipjury.reviews.models import ACTION_LABELS
from clipjury.reviews.policy import claim_lapsed, review_actions
from clipjury.timeutil import as_utc, fmt_local, utcnow
from clipjury.works import playback as playback_mod
from clipjury.works.models import (
    Work,
    WorkStatus,
)
from clipjury.works.service import shown_version
from review_ui.context import user_context
from review_ui.core.forms import (
    RANK_FIELD_MAX,
    ExpectedRevField,
    FormDep,
    ReasonField,
    form_action,
    see_other,
)
from review_ui.core.pager import int_or_none, page_number, pager
from review_ui.core.render import render
from review_ui.core.routing import PageRoute, safe_next
from review_ui.presenters.format import format_duration
from review_ui.presenters.integrity import integrity_panel
from review_ui.presenters.labels import (
    QUEUE_STATUS_LABELS,
    actor_label,
    event_reason_label,
    status_change_label,
    status_label,
)
from review_ui.presenters.reviews import deadlines, version_facts, work_lines

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
# A reason typed into a form that then failed (e.g. a stale page) is kept for the next render, if it
# fits the session cookie comfortably.
DRAFT_KEY = "review_draft"
DRAFT_MAX_CHARS = 300

# The queue's status filter; a provincial admin also finds the disqualified works there.
QUEUE_STATUSES = ["submitted", "returned", "passed", "failed", "forwarded"]

def _role(user: User) -> Role:
    return Role(user.role)


# -- the queue -------------------------------------------------------------------------------------

@dataclass
class QueueRow:
    id: int
    title: str
    unit: str
    submitted: str
    status: str
    status_label: str
    holder: str
    holder_is_me: bool
    claim_lapsed: bool
    duration: str
    can_claim: bool


def _queue_rows(session: Session, user: User, campaign: Campaign, works: list[Work]) -> list[QueueRow]:
    """One page of the queue in a fixed number of queries (units, holders and versions one query each)."""
    now = utcnow()
    around = service.queue_lookups(session, works)
    units, holders = around.units, around.holders
    rows = []
    for work in works:
        holder = holders.get(work.claimed_by_id) if work.claimed_by_id else None
        lapsed = holder is not None and claim_lapsed(work, campaign, now)
        status = service.shown_status(work, user, campaign)
        # shown_version's lookups are answered from the identity map, which ``around`` keeps filled.
        version = shown_version(session, work)
        unit = units.get(work.unit_id) if work.unit_id else None
        rows.append(QueueRow(
            id=work.id or 0,
            title=work.title,
            unit=unit.name if unit else "—",
            submitted=fmt_local(work.submitted_at),
            status=status,
            status_label=status_label(status),
            holder=(holder.display_name or holder.username) if holder else "",
            holder_is_me=holder is not None and holder.id == user.id,
            claim_lapsed=lapsed,
            duration=format_duration(version.duration_s if version else None, campaign.duration_step_s),
            can_claim=work.status == WorkStatus.submitted and (holder is None or lapsed)
            and has_role(user, PRELIMINARY_ROLES),
        ))
    del around
    return rows


@router.get("/review")
def review_queue(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    status: str = "",
    unit: str = "",
    reviewer: str = "",
    q: str = "",
    page: str = "1",
) -> Response:
    if _role(user) == Role.national_admin:
        return see_other("/review/national")
    require_role(user, PRELIMINARY_ROLES, "查看初评列表")
    campaign = active_campaign(session)
    statuses = QUEUE_STATUSES + (["disqualified"] if _role(user) == Role.provincial_admin else [])
    if status and status not in statuses:
        raise Invalid("未知的状态筛选条件。", code="unknown_status")
    q = q.strip()[:100]
    units = service.province_units(session, user.province_id)
    unit_id = int_or_none(unit)
    if unit_id is not None and unit_id not in {u.id for u in units}:
        unit_id = None
    reviewers = service.province_reviewers(session, user.province_id)
    flt = service.QueueFilter(status=status or None, unit_id=unit_id, reviewer=reviewer or None, q=q or None)
    query = service.review_queue_query(session, user, campaign, flt)
    params = {"status": status, "unit": str(unit_id or ""), "reviewer": reviewer, "q": q}
    paging = pager(service.count_rows(session, query), page_number(page), PAGE_SIZE, "/review", params)
    works = service.page_of(session, query, offset=paging.offset, limit=PAGE_SIZE)
    province = session.get(Province, user.province_id) if user.province_id else None
    return render(request, "review/queue.html", {
        **user_context(user, session),
        "province": province,
        "rows": _queue_rows(session, user, campaign, works),
        "pager": paging,
        "filters": params,
        "statuses": [(s, QUEUE_STATUS_LABELS[s]) for s in statuses],
        "units": units,
        "reviewers": [(r.username, r.display_name or r.username) for r in reviewers if r.id != user.id],
        "here": "/review" + (f"?{urlencode({k: v for k, v in params.items() if v})}" if any(params.values()) else ""),
    })


# -- one work --------------------------------------------------------------------------------------

@dataclass
class DecisionView:
    id: int
    label: str
    by: str
    at: str
    reason: str
    undone: bool
    document_name: str


@dataclass
class EventView:
    at: str
    by: str
    label: str
    change: str
    reason: str


@router.get("/review/works/{work_id}")
def review_work(request: Request, work_id: int, user: CurrentUser, session: SessionDep) -> Response:
    require_role(user, REVIEW_ROLES, "打开评审页面")
    work = service.get_work_in_scope(session, user, work_id)
    campaign = service.campaign_of(session, work)
    now = utcnow()
    role = _role(user)
    province = session.get(Province, work.province_id)
    unit = session.get(Unit, work.unit_id) if work.unit_id else None
    owner = session.get(User, work.owner_id)
    holder = session.get(User, work.claimed_by_id) if work.claimed_by_id else None
    status = service.shown_status(work, user, campaign)
    lapsed = holder is not None and claim_lapsed(work, campaign, now)
    mine = holder is not None and holder.id == user.id
    deadline = as_utc(campaign.submission_deadline)
    return_closed = (
        f"作品提交已于 {fmt_local(deadline)}（北京时间）截止，投稿人无法再修改，不能退回；请作出通过或不通过的结论。"
        if now > deadline else ""
    )
    decisions = service.decisions_of(session, [work_id])[work_id]
    decision_views = [
        DecisionView(
            id=d.id or 0, label=ACTION_LABELS.get(d.action, d.action),
            by=actor_label(service.decision_by(d, user)), at=fmt_local(d.at), reason=d.reason,
            undone=d.undone_at is not None,
            document_name=(d.document_name or "附件") if d.document_key and role in ADMIN_ROLES else "",
        )
        for d in service.visible_decisions(decisions, user, campaign)
    ]
    event_views = [
        EventView(
            at=fmt_local(e.at), by=actor_label(e.by),
            label=AUDIT_ACTION_LABELS.get(e.action, e.action),
            change=status_change_label(e.from_status, e.to_status),
            reason=event_reason_label(e.action, e.reason),
        )
        for e in work_events(session, user, work)
    ]
    facts, warnings = version_facts(shown_version(session, work), campaign)
    draft = request.session.pop(DRAFT_KEY, None)
    if not isinstance(draft, dict) or draft.get("work") != work_id:
        draft = {}
    checklist = service.checklist_of(session, work)
    undo_target, _hidden = service.undo_target(session, user, work, campaign)
    actions = review_actions(user, work, campaign, undo_target=undo_target, now=now)
    undoable = actions.undo_target
    return render(request, "review/work.html", {
        **user_context(user, session),
        "work": work,
        "review_rev": service.shown_rev(work, user, campaign),
        "status": status,
        "status_label": status_label(status),
        "province": province,
        "unit": unit,
        "owner": owner,
        "submitted": fmt_local(work.submitted_at),
        "playback": playback_mod.playback_for(session, work),
        "facts": facts,
        "warnings": warnings,
        "checklist": checklist,
        "holder": (holder.display_name or holder.username) if holder else "",
        "claimed_at": fmt_local(work.claimed_at),
        "claim_lapsed": lapsed,
        "mine": mine,
        "can_claim": actions.claim.allowed,
        "can_release": actions.release.allowed,
        "can_decide": actions.decide.allowed,
        "return_closed": return_closed,
        "deadline": fmt_local(deadline),
        "decisions": decision_views,
        "events": event_views,
        "is_admin": role in ADMIN_ROLES,
        "can_disqualify": actions.disqualify.allowed,
        "undoable": undoable,
        "undo_to": status_label(undoable.from_status) if undoable else "",
        "action_labels": ACTION_LABELS,
        "draft": draft,
        "back": "/review/national" if role == Role.national_admin else "/review",
        "integrity": integrity_panel(session, user, work),
    })


def _review_action(
    request: Request,
    session: Session,
    work_id: int,
    action: Callable[[], object],
    done: str,
    *,
    failed_to: str | None = None,
    draft: dict[str, object] | None = None,
) -> Response:
    """Run a decision from a form and come back to the work with its outcome as a flash message.
    A work outside the caller's scope stays a 404 page; any other refusal (a stale page, a claim held
    by someone else, a deadline) is explained on the page, which shows the work as it is now."""
    if not form_action(request, session, action, done):
        if draft and len(str(draft.get("reason", ""))) <= DRAFT_MAX_CHARS:
            request.session[DRAFT_KEY] = {"work": work_id, **draft}
        return see_other(failed_to or f"/review/works/{work_id}")
    return see_other(f"/review/works/{work_id}")


@router.post("/review/works/{work_id}/claim")
def claim_work(
    request: Request, work_id: int, user: CurrentUser, session: SessionDep,
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    return _review_action(
        request, session, work_id, lambda: service.claim(session, user, work_id),
        "已认领该作品，其他评审员不会再评审它。请逐项核对审核要点后作出结论。",
        failed_to=safe_next(next, f"/review/works/{work_id}"),
    )


@router.post("/review/works/{work_id}/release")
def release_work(request: Request, work_id: int, user: CurrentUser, session: SessionDep) -> Response:
    return _review_action(
        request, session, work_id, lambda: service.release(session, user, work_id),
        "已释放认领，其他评审员可以认领该作品。",
    )


VERDICT_DONE = {
    "pass": "已作出结论：初评通过。",
    "fail": "已作出结论：初评不通过，投稿人会看到理由。",
    "return": "已退回修改，投稿人会看到理由并可在截止前重新提交。",
}


@router.post("/review/works/{work_id}/verdict")
def verdict(
    request: Request,
    work_id: int,
    user: CurrentUser,
    session: SessionDep,
    decision: Annotated[str, Form(max_length=16)] = "",
    reason: ReasonField = "",
    expected_rev: ExpectedRevField = None,
    checked: Annotated[list[str] | None, Form()] = None,
) -> Response:
    def decide() -> None:
        if decision not in VERDICT_DONE:
            raise Invalid("请选择初评结论：通过、不通过或退回修改。", code="decision_required")
        # The boxes send the items' keys; the service refuses a pass without every required one.
        service.verdict(session, user, work_id, decision, reason, checklist=checked or [], expected_rev=expected_rev)

    return _review_action(
        request, session, work_id, decide, VERDICT_DONE.get(decision, ""),
        draft={"decision": decision, "reason": reason, "checked": list(checked or [])[:50]},
    )


@router.post("/review/works/{work_id}/disqualify")
def disqualify(
    request: Request,
    work_id: int,
    user: CurrentUser,
    session: SessionDep,
    reason: ReasonField = "",
    expected_rev: ExpectedRevField = None,
    document: Annotated[UploadFile | None, File()] = None,
) -> Response:
    def act() -> None:
        attached: tuple[str, bytes] | None = None
        if document is not None and document.filename:
            # One byte over the limit is enough for the service to refuse it; never read more.
            content = document.file.read(service.DOCUMENT_MAX_BYTES + 1)
            attached = (document.filename, content)
        decisions.disqualify(session, user, work_id, reason, document=attached, expected_rev=expected_rev)

    return _review_action(
        request, session, work_id, act, "已取消该作品的参选资格，投稿人会收到通知和理由。",
        draft={"disqualify_reason": reason},
    )


@router.post("/review/works/{work_id}/undo")
def undo(
    request: Request,
    work_id: int,
    user: CurrentUser,
    session: SessionDep,
    reason: ReasonField = "",
    expected_rev: ExpectedRevField = None,
) -> Response:
    return _review_action(
        request, session, work_id,
        lambda: decisions.undo(session, user, work_id, reason, expected_rev=expected_rev),
        "已撤销该决定，作品回到此前的状态。",
        draft={"undo_reason": reason},
    )


@router.get("/review/works/{work_id}/documents/{decision_id}")
def document(work_id: int, decision_id: int, user: CurrentUser, session: SessionDep) -> Response:
    """A decision's attachment: a short-lived presigned link, made when an admin asks for it."""
    return see_other(service.decision_document_url(session, user, work_id, decision_id))


# -- forwarding (provincial admin) -------------------------------------------------------------------

@router.get("/review/forward")
def forward_page(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    require_role(user, (Role.provincial_admin,), "报送作品至全国复评")
    campaign = active_campaign(session)
    rows = quota_mod.quota_rows(session, user, campaign)
    under = sorted((r for r in rows if r.unit_id is not None and not r.met), key=lambda r: -r.missing)
    passed = service.all_of(session, service.review_queue_query(
        session, user, campaign, service.QueueFilter(status=WorkStatus.passed.value)
    ))
    forwarded = service.all_of(session, service.ranked(service.review_queue_query(
        session, user, campaign, service.QueueFilter(status=WorkStatus.forwarded.value)
    )))
    times = deadlines(campaign)
    return render(request, "review/forward.html", {
        **user_context(user),
        "deadline": times["forward"],
        "open": not times["forward"].passed,
        "under": under,
        "units_total": sum(1 for r in rows if r.unit_id is not None),
        "passed": work_lines(session, passed, user, campaign),
        "forwarded": work_lines(session, forwarded, user, campaign),
    })


def _parse_ranks(form: FormData) -> dict[int, int]:
    ranks: dict[int, int] = {}
    for key, value in form.multi_items():
        if not key.startswith("rank_") or not isinstance(value, str) or not value.strip():
            continue
        work_id = db_id(key[5:])
        text = value.strip()[:RANK_FIELD_MAX]
        if work_id is None or not ascii_digits(text):
            raise Invalid("排序号必须是 1 到 10000 之间的整数。", code="invalid_rank")
        ranks[work_id] = int(text)
    return ranks


def _parse_ids(form: FormData) -> list[int]:
    ids = [db_id(v) for v in form.getlist("work_id") if isinstance(v, str)]
    if any(i is None for i in ids):
        raise Invalid("所选作品无效，请刷新页面后重试。", code="invalid_selection")
    return [i for i in ids if i is not None]


@router.post("/review/forward")
def forward_works(
    request: Request, user: CurrentUser, session: SessionDep, form: FormDep,
    scope: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    """报送所选 (the ticked works) or, with ?scope=all (the 全部报送 button), every passed work."""
    require_role(user, (Role.provincial_admin,), "报送作品至全国复评")

    def run() -> str:
        ranks = _parse_ranks(form)
        work_ids: list[int] | None = None
        if scope != "all":
            work_ids = _parse_ids(form)
            if not work_ids:
                raise Invalid("请先勾选要报送的作品。", code="nothing_selected")
            ranks = {k: v for k, v in ranks.items() if k in work_ids}
        done = service.forward_many(session, user, work_ids=work_ids, ranks=ranks)
        return f"已将 {len(done)} 件作品报送全国复评。"

    form_action(request, session, run, not_found_is_page=False)
    return see_other("/review/forward")


@router.post("/review/forward/{work_id}/undo")
def undo_forward(
    request: Request, work_id: int, user: CurrentUser, session: SessionDep,
    reason: ReasonField = "",
    expected_rev: ExpectedRevField = None,
) -> Response:
    require_role(user, (Role.provincial_admin,), "撤销报送")

    def run() -> str:
        work = service.get_work_in_scope(session, user, work_id)
        if work.status != WorkStatus.forwarded:
            raise Conflict("该作品当前不是“已报送全国复评”状态，无法撤销报送。", code="not_forwarded")
        decisions.undo(session, user, work_id, reason, expected_rev=expected_rev)
        return f"已撤销《{work.title}》的报送，作品回到“初评通过”。"

    form_action(request, session, run, not_found_is_page=False)
    return see_other("/review/forward")
