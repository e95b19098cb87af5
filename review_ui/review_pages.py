"""The pages of the preliminary review (初评): the province's queue, a work's review page (player, measured
facts, checklist, claim, verdict, disqualification, undo, audit trail), the notifications and the audit
log. Thin: every decision is a call into ``clipjury.reviews.service``; these pages only lay it out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.models import Province, Role, Unit, User
from clipjury.accounts.policy import ADMIN_ROLES, PRELIMINARY_ROLES, REVIEW_ROLES, has_role, require_role
from clipjury.audit.query import AUDIT_ACTION_LABELS, AuditFilter, audit_count, audit_events, audit_query
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign
from clipjury.errors import DomainError, Invalid, NotFound
from clipjury.media.rules import exceeds
from clipjury.notifications import service as notes
from clipjury.numbers import ascii_digits
from clipjury.reviews import service
from clipjury.reviews.events import work_events
from clipjury.reviews.models import ACTION_LABELS
from clipjury.reviews.policy import claim_lapsed, review_actions
from clipjury.reviews.service import work_titles
from clipjury.timeutil import as_utc, fmt_local, utcnow
from clipjury.works import playback as playback_mod
from clipjury.works.models import WORK_STATUS_LABELS, Work, WorkStatus, WorkVersion
from clipjury.works.service import shown_version
from review_ui import presenters
from review_ui.pages import user_context
from review_ui.web import PageRoute, flash, render, safe_next

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 50
# A reason typed into a form that then failed (e.g. a stale page) is kept for the next render, if it
# fits the session cookie comfortably.
DRAFT_KEY = "review_draft"
DRAFT_MAX_CHARS = 300

# The queue's status filter; a provincial admin also finds the disqualified works there.
QUEUE_STATUSES = ["submitted", "returned", "passed", "failed", "forwarded"]
QUEUE_STATUS_LABELS = {
    "submitted": "待初评", "returned": "退回修改", "passed": "初评通过", "failed": "初评未通过",
    "forwarded": "已报送全国复评", "disqualified": "已取消参选资格",
}

def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _role(user: User) -> Role:
    return Role(user.role)


def _int_or_none(value: str) -> int | None:
    value = value.strip()
    return int(value) if ascii_digits(value) and len(value) < 12 else None


def _page_number(value: str) -> int:
    number = _int_or_none(value)
    return number if number and number > 0 else 1


@dataclass
class Pager:
    page: int
    pages: int
    total: int
    links: list[tuple[int | None, str]]  # (page number or None for a gap, url)

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE


def _pager(total: int, page: int, size: int, base: str, params: dict[str, str]) -> Pager:
    pages = max(1, -(-total // size))
    page = min(page, pages)
    wanted = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    links: list[tuple[int | None, str]] = []
    previous = 0
    for number in wanted:
        if number - previous > 1:
            links.append((None, ""))
        query = urlencode({k: v for k, v in {**params, "page": str(number)}.items() if v})
        links.append((number, f"{base}?{query}"))
        previous = number
    return Pager(page=page, pages=pages, total=total, links=links)


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
            status_label=presenters.status_label(status),
            holder=(holder.display_name or holder.username) if holder else "",
            holder_is_me=holder is not None and holder.id == user.id,
            claim_lapsed=lapsed,
            duration=presenters.format_duration(version.duration_s if version else None, campaign.duration_step_s),
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
        return _see_other("/review/national")
    require_role(user, PRELIMINARY_ROLES, "查看初评列表")
    campaign = active_campaign(session)
    statuses = QUEUE_STATUSES + (["disqualified"] if _role(user) == Role.provincial_admin else [])
    if status and status not in statuses:
        raise Invalid("未知的状态筛选条件。", code="unknown_status")
    q = q.strip()[:100]
    units = service.province_units(session, user.province_id)
    unit_id = _int_or_none(unit)
    if unit_id is not None and unit_id not in {u.id for u in units}:
        unit_id = None
    reviewers = service.province_reviewers(session, user.province_id)
    flt = service.QueueFilter(status=status or None, unit_id=unit_id, reviewer=reviewer or None, q=q or None)
    query = service.review_queue_query(session, user, campaign, flt)
    params = {"status": status, "unit": str(unit_id or ""), "reviewer": reviewer, "q": q}
    pager = _pager(service.count_rows(session, query), _page_number(page), PAGE_SIZE, "/review", params)
    works = service.page_of(session, query, offset=pager.offset, limit=PAGE_SIZE)
    province = session.get(Province, user.province_id) if user.province_id else None
    return render(request, "review/queue.html", {
        **user_context(user, session),
        "province": province,
        "rows": _queue_rows(session, user, campaign, works),
        "pager": pager,
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


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _facts(version: WorkVersion | None, campaign: Campaign) -> tuple[list[tuple[str, str]], list[str]]:
    """What the workers measured, and the warnings worth a reviewer's attention, in Chinese."""
    if version is None:
        return [], []
    resolution = f"{version.width} × {version.height}" if version.width and version.height else "—"
    facts = [
        ("时长", presenters.format_duration(version.duration_s, campaign.duration_step_s)),
        ("分辨率", resolution),
        ("视频编码", version.video_codec or "—"),
        ("音频编码", version.audio_codec or "无音轨"),
        ("文件大小", presenters.format_size(version.size_bytes)),
        ("容器品牌", (version.major_brand or "—").strip()),
        ("原文件名", version.original_filename or "—"),
        ("SHA-256", version.sha256 or "—"),
        ("校验时间", fmt_local(version.validated_at) or "—"),
    ]
    step = campaign.duration_step_s
    warnings = []
    for warning in version.warnings or []:
        if warning.startswith("header_duration_mismatch") and version.header_duration_s and version.duration_s:
            warnings.append(
                f"文件头标注的时长（{version.header_duration_s:.1f} 秒）与实际播放时长"
                f"（{presenters.format_duration(version.duration_s, step)}）不一致，以实际时长为准。"
            )
        elif warning.startswith("hidden_samples: "):  # clipjury.media.rules.header_warnings
            hidden = _float_or_none(warning.removeprefix("hidden_samples: ").removesuffix(" s"))
            warnings.append(
                f"文件中有约 {presenters.format_duration(hidden, step)}的画面或声音被编辑列表隐藏，"
                "多数播放器不显示，但个别播放器可能播放出来；请用下载的原文件核对其内容。"
            )
        elif warning == "worker_gave_up":  # workers.tasks.WORKER_GAVE_UP
            warnings.append(
                "校验进程多次异常退出（不是文件本身的问题），系统已暂停处理该文件、未作判定；"
                f"请运维人员执行 clipjury retry-version {version.id} 重新处理。"
            )
        elif warning.startswith("attempts: "):
            warnings.append(f"校验尝试次数：{warning.removeprefix('attempts: ')}。")
        elif warning.startswith("size_changed"):
            warnings.append("存储中的文件大小与上传记录不一致，已按实际读取的文件校验。")
        else:
            warnings.append(warning)
    if version.duration_s is not None and exceeds(version.duration_s, campaign.max_duration_s, step):
        warnings.append(
            f"时长超过 {presenters.format_limit_duration(campaign.max_duration_s)}（规则为“原则上不超过”）。"
        )
    if version.audio_codec is None and version.validated_at is not None:
        warnings.append("视频没有音轨，请确认声音是否可用。")
    return facts, warnings


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
            by=presenters.actor_label(service.decision_by(d, user)), at=fmt_local(d.at), reason=d.reason,
            undone=d.undone_at is not None,
            document_name=(d.document_name or "附件") if d.document_key and role in ADMIN_ROLES else "",
        )
        for d in service.visible_decisions(decisions, user, campaign)
    ]
    event_views = [
        EventView(
            at=fmt_local(e.at), by=presenters.actor_label(e.by),
            label=AUDIT_ACTION_LABELS.get(e.action, e.action),
            change=(f"{presenters.status_label(e.from_status)} → {presenters.status_label(e.to_status)}"
                    if e.from_status and e.to_status and e.from_status != e.to_status else ""),
            reason=presenters.audit_reason_label(e.action, e.reason) if e.action != "verdict" else "",
        )
        for e in work_events(session, user, work)
    ]
    facts, warnings = _facts(shown_version(session, work), campaign)
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
        "status_label": presenters.status_label(status),
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
        "undo_to": presenters.status_label(undoable.from_status) if undoable else "",
        "action_labels": ACTION_LABELS,
        "draft": draft,
        "back": "/review/national" if role == Role.national_admin else "/review",
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
    try:
        action()
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        session.rollback()
        flash(request, exc.message, "error")
        if draft and len(str(draft.get("reason", ""))) <= DRAFT_MAX_CHARS:
            request.session[DRAFT_KEY] = {"work": work_id, **draft}
        return _see_other(failed_to or f"/review/works/{work_id}")
    flash(request, done)
    return _see_other(f"/review/works/{work_id}")


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
    reason: Annotated[str, Form(max_length=10000)] = "",
    expected_rev: Annotated[int | None, Form()] = None,
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
    reason: Annotated[str, Form(max_length=10000)] = "",
    expected_rev: Annotated[int | None, Form()] = None,
    document: Annotated[UploadFile | None, File()] = None,
) -> Response:
    def act() -> None:
        attached: tuple[str, bytes] | None = None
        if document is not None and document.filename:
            # One byte over the limit is enough for the service to refuse it; never read more.
            content = document.file.read(service.DOCUMENT_MAX_BYTES + 1)
            attached = (document.filename, content)
        service.disqualify(session, user, work_id, reason, document=attached, expected_rev=expected_rev)

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
    reason: Annotated[str, Form(max_length=10000)] = "",
    expected_rev: Annotated[int | None, Form()] = None,
) -> Response:
    return _review_action(
        request, session, work_id,
        lambda: service.undo(session, user, work_id, reason, expected_rev=expected_rev),
        "已撤销该决定，作品回到此前的状态。",
        draft={"undo_reason": reason},
    )


@router.get("/review/works/{work_id}/documents/{decision_id}")
def document(work_id: int, decision_id: int, user: CurrentUser, session: SessionDep) -> Response:
    """A decision's attachment: a short-lived presigned link, made when an admin asks for it."""
    return _see_other(service.decision_document_url(session, user, work_id, decision_id))


# -- notifications ---------------------------------------------------------------------------------

@dataclass
class NoteView:
    id: int
    title: str
    body: str
    at: str
    unread: bool
    link: str


NOTES_SHOWN = 200


@router.get("/notifications")
def notifications(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    staff = has_role(user, REVIEW_ROLES)
    rows = [
        NoteView(
            id=n.id or 0, title=n.title, body=n.body, at=fmt_local(n.created_at), unread=n.read_at is None,
            link=(f"/review/works/{n.work_id}" if staff else f"/works/{n.work_id}") if n.work_id else "",
        )
        for n in notes.notifications_of(session, user.id or 0, limit=NOTES_SHOWN)
    ]
    return render(request, "notifications.html", {**user_context(user, session), "notes": rows})


@router.post("/notifications/read-all")
def notifications_read_all(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    marked = notes.mark_read(session, user.id or 0)
    flash(request, f"已将 {marked} 条消息标为已读。" if marked else "没有未读消息。", "info")
    return _see_other("/notifications")


@router.post("/notifications/{notification_id}/read")
def notification_read(
    request: Request, notification_id: int, user: CurrentUser, session: SessionDep,
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if not notes.owns(session, user.id or 0, notification_id):
        raise NotFound("找不到该消息。", code="notification_not_found")
    notes.mark_read(session, user.id or 0, notification_id)
    return _see_other(safe_next(next, "/notifications"))


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
    work_id = _int_or_none(work.lstrip("#"))
    if work.strip() and work_id is None:
        raise Invalid("作品编号应为数字。", code="invalid_work_id")
    flt = AuditFilter(province=province or None, work_id=work_id, action=action or None)
    scope = audit_query(session, user, active_campaign(session), flt)
    national = _role(user) == Role.national_admin
    provinces = service.all_provinces(session) if national else []
    scope_name = scope.province.name if scope.province else ("全国" if national else "")
    params = {"province": scope.province.code if national and scope.province else "", "action": action,
              "work": str(work_id or "")}
    pager = _pager(audit_count(session, scope), _page_number(page), AUDIT_PAGE_SIZE, "/audit", params)
    page_rows = audit_events(session, scope, offset=(pager.page - 1) * AUDIT_PAGE_SIZE, limit=AUDIT_PAGE_SIZE)
    # Titles (and links) only for works the admin may open; one query for the page.
    titles = work_titles(session, user, {e.work_id for e, _ in page_rows if e.work_id is not None})
    rows = [
        AuditRow(
            id=e.id or 0, at=fmt_local(e.at), by="系统" if e.actor_name == "system" else e.actor_name,
            label=AUDIT_ACTION_LABELS.get(e.action, e.action),
            work_id=e.work_id, work_title=titles.get(e.work_id, "") if e.work_id else "",
            change=(f"{WORK_STATUS_LABELS.get(v.from_status or '', v.from_status)} → "
                    f"{WORK_STATUS_LABELS.get(v.to_status or '', v.to_status)}"
                    if v.from_status and v.to_status and v.from_status != v.to_status else ""),
            reason=presenters.audit_reason_label(e.action, e.reason) if e.action != "verdict" else "",
        )
        for e, v in page_rows
    ]
    return render(request, "review/audit.html", {
        **user_context(user, session),
        "rows": rows,
        "pager": pager,
        "filters": params,
        "scope_name": scope_name,
        "provinces": provinces,
        "actions": sorted(AUDIT_ACTION_LABELS.items(), key=lambda kv: kv[0]),
    })
