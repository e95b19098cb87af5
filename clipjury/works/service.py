"""The work lifecycle for the ingest slice.

    draft --(upload complete)--> processing --(verdict)--> ready | rejected
    ready | rejected --(upload again)--> processing   (the earlier good file stays current)
    ready --(submit, before the deadline or within the grace)--> submitted --(withdraw)--> ready

A work's status is derived from its versions while it is not submitted (``derived_status``) and
every write of it is compare-and-set on the status read, so two workers or two clicks cannot both win.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from clipjury.accounts.models import Province, Role, User
from clipjury.accounts.scopes import missing_scope
from clipjury.accounts.service import home_province_id
from clipjury.audit.service import record
from clipjury.campaigns.models import Campaign
from clipjury.campaigns.service import active_campaign, ensure_open_for_new_upload
from clipjury.db import rowcount
from clipjury.errors import Conflict, Invalid, LimitReached, NotFound
from clipjury.integrity.tasks import on_version_ready
from clipjury.media.rules import Verdict
from clipjury.settings import get_settings
from clipjury.timeutil import as_utc, utcnow
from clipjury.works.models import (
    EDITABLE_STATUSES,
    IN_REVIEW_STATUSES,
    VersionStatus,
    Work,
    WorkStatus,
    WorkVersion,
)
from clipjury.works.models import (
    Playback as PlaybackKind,
)
from clipjury.works.policy import (
    AlreadySubmitted,
    RoleCannotSubmit,
    WorkNotFound,
    edit_option,
    may_submit,
    submit_option,
    upload_option,
    withdraw_option,
)
from clipjury.works.tasks import defer_media, defer_validation

TITLE_MAX = 100
CREATE_REFUSED = "只有投稿人或单位联络员可以创建作品。"
DESCRIPTION_MAX = 2000






class StaleState(Conflict):
    code = "stale_state"
    message = "作品状态已被其他操作改变，请刷新页面后重试。"


# -- reading ---------------------------------------------------------------------------------------

# What each role sees of other people's works: only what entered the review. A reviewer does not see
# disqualified works (they leave every queue); admins and the unit's coordinator still do.
REVIEWER_SEES = sorted(IN_REVIEW_STATUSES | {WorkStatus.returned.value})
ADMIN_SEES = sorted(IN_REVIEW_STATUSES | {WorkStatus.returned.value, WorkStatus.disqualified.value})


def visible_works_query(user: User) -> SelectOfScalar[Work]:
    """Works the user may see; anything else answers exactly like a work that does not exist."""
    query = select(Work)
    role = Role(user.role)
    if role == Role.national_admin:
        return query
    if missing_scope(user):
        # ``unit_id == None`` would compile to IS NULL and match every unit-less work in the country;
        # the request boundary refuses such accounts (account_incomplete), this keeps any other caller
        # to the account's own works.
        return query.where(Work.owner_id == user.id)
    # A work the national office disqualified before it was ever submitted is no business of the province.
    entered = col(Work.submitted_at).is_not(None)
    if role == Role.provincial_admin:
        return query.where(Work.province_id == user.province_id, col(Work.status).in_(ADMIN_SEES), entered)
    if role == Role.reviewer:
        return query.where(Work.province_id == user.province_id, col(Work.status).in_(REVIEWER_SEES), entered)
    if role == Role.unit_coordinator:
        return query.where(
            or_(
                and_(col(Work.unit_id) == user.unit_id, col(Work.status).in_(ADMIN_SEES), entered),
                col(Work.owner_id) == user.id,
            )
        )
    if role == Role.submitter:
        return query.where(Work.owner_id == user.id)
    return query.where(Work.id == -1)  # judges: the judging slice assigns their works


def get_visible_work(session: Session, user: User, work_id: int) -> Work:
    work = session.exec(visible_works_query(user).where(Work.id == work_id)).first()
    if work is None:
        raise WorkNotFound()
    return work


def get_own_work(session: Session, user: User, work_id: int, *, for_update: bool = False) -> Work:
    """A work the user owns; someone else's answers exactly like one that does not exist."""
    query = select(Work).where(Work.id == work_id, Work.owner_id == user.id)
    if for_update:
        query = query.with_for_update()
    work = session.exec(query).first()
    if work is None:
        raise WorkNotFound()
    return work


def list_own_works(session: Session, user: User) -> list[Work]:
    return list(session.exec(select(Work).where(Work.owner_id == user.id).order_by(col(Work.id).desc())))


def versions_of(session: Session, work: Work) -> list[WorkVersion]:
    return list(
        session.exec(select(WorkVersion).where(WorkVersion.work_id == work.id).order_by(col(WorkVersion.id)))
    )


# -- creating --------------------------------------------------------------------------------------

class TooManyDrafts(LimitReached):
    code = "too_many_drafts"


def ensure_may_submit(user: User, message: str | None = None) -> None:
    """Only the roles that submit works create works and uploads (reviewers, admins and judges do not)."""
    if not may_submit(user):
        raise RoleCannotSubmit(message)


def ensure_draft_room(session: Session, user: User) -> None:
    limit = get_settings().max_draft_works_per_account
    if not limit:
        return
    drafts = session.exec(
        select(func.count()).select_from(Work).where(Work.owner_id == user.id, Work.status == WorkStatus.draft)
    ).one()
    if drafts >= limit:
        raise TooManyDrafts(
            f"您已有 {drafts} 个尚未上传视频的作品（上限 {limit} 个）：请先为这些作品上传视频，再创建新作品。",
            limit=limit,
        )


def create_work(
    session: Session, user: User, *, title: str, description: str = "", province_code: str | None = None,
    agreed_to_rights_notice: bool = False,
) -> Work:
    """A draft work. ``agreed_to_rights_notice``: the submitter ticked 我已阅读并同意 under the campaign's
    rights notice (the web form requires it); the audit event keeps that, with a digest of the text."""
    ensure_may_submit(user, CREATE_REFUSED)
    ensure_draft_room(session, user)
    title = (title or "").strip()
    description = (description or "").strip()
    if not title:
        raise Invalid("请填写作品标题。", code="title_required")
    if len(title) > TITLE_MAX:
        raise Invalid(f"作品标题不能超过 {TITLE_MAX} 个字。", code="title_too_long")
    if len(description) > DESCRIPTION_MAX:
        raise Invalid(f"作品简介不能超过 {DESCRIPTION_MAX} 个字。", code="description_too_long")
    campaign = active_campaign(session)
    ensure_open_for_new_upload(campaign, utcnow())

    province_id, unit_id = home_province_id(session, user), user.unit_id
    if province_code:
        chosen = session.exec(select(Province).where(Province.code == province_code)).first()
        if chosen is None:
            raise Invalid("所选省份不存在。", code="unknown_province")
        if unit_id is not None and chosen.id != province_id:
            raise Invalid("您所在单位属于其他省份，不能改选省份。", code="province_mismatch")
        province_id = chosen.id
    if province_id is None:
        raise Invalid("请选择作品所属的省份。", code="province_required")

    work = Work(
        campaign_id=campaign.id or 0,
        owner_id=user.id or 0,
        province_id=province_id,
        unit_id=unit_id,
        title=title,
        description=description,
    )
    session.add(work)
    session.flush()
    consent: dict[str, Any] | None = None
    if agreed_to_rights_notice:
        consent = {
            "rights_notice_agreed": True,
            "rights_notice_sha256": hashlib.sha256(campaign.rights_notice.encode()).hexdigest(),
        }
    record(
        session, actor=user, action="create", work_id=work.id, province_id=province_id, to_status=work.status,
        reason="已阅读并同意作品权利说明" if agreed_to_rights_notice else "", data=consent,
    )
    return work


# -- state machine ---------------------------------------------------------------------------------

def derived_status(session: Session, work: Work) -> WorkStatus:
    if work.pending_version_id is not None:
        return WorkStatus.processing
    if work.current_version_id is not None:
        return WorkStatus.ready
    if work.latest_version_id is not None:
        return WorkStatus.rejected
    return WorkStatus.draft


# Statuses that follow the work's files (a returned work keeps its status until a new upload).
FILE_DRIVEN_STATUSES = frozenset({"draft", "processing", "ready", "rejected"})


def _set_status(session: Session, work: Work, expected: str, new: str, **values: Any) -> None:
    """Compare-and-set: write only if the status is still the one we read."""
    values = {"status": new, "updated_at": utcnow(), **values}
    result = session.execute(
        update(Work).where(col(Work.id) == work.id, col(Work.status) == expected).values(**values)
    )
    if rowcount(result) != 1:
        raise StaleState()
    session.refresh(work)


def ensure_accepts_upload(session: Session, user: User, work_id: int) -> tuple[Work, Campaign]:
    """The checks before any byte of a new upload is stored."""
    work = get_own_work(session, user, work_id)
    campaign = session.get(Campaign, work.campaign_id)
    assert campaign is not None
    upload_option(work, campaign, utcnow()).ensure()
    return work, campaign




def ensure_editable(work: Work) -> None:
    """The submitter may change the file only before the work is in the review (or after a return)."""
    edit_option(work).ensure()


def add_version(
    session: Session,
    work: Work,
    *,
    actor: User | None,
    object_key: str,
    size_bytes: int,
    filename: str,
    upload_id: str | None,
    upload_started_at: datetime,
) -> WorkVersion:
    """A stored file becomes a version being validated; the validation job is sent after commit."""
    session.refresh(work)
    ensure_editable(work)
    version = WorkVersion(
        work_id=work.id or 0,
        upload_id=upload_id,
        object_key=object_key,
        original_filename=filename[:255],
        size_bytes=size_bytes,
        upload_started_at=upload_started_at,
    )
    session.add(version)
    session.flush()
    before = work.status
    _set_status(
        session, work, before, WorkStatus.processing,
        pending_version_id=version.id, latest_version_id=version.id,
    )
    record(
        session, actor=actor, action="upload", work_id=work.id, province_id=work.province_id,
        from_status=before, to_status=work.status,
        data={"version_id": version.id, "size_bytes": size_bytes, "filename": filename},
    )
    defer_validation(session, version.id or 0)
    return version


@dataclass
class MeasuredMedia:
    sha256: str | None = None
    duration_s: float | None = None
    header_duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    major_brand: str | None = None
    probe: dict[str, Any] | None = None
    ffmpeg_version: str | None = None
    rules_version: str | None = None
    playback: str | None = None


def apply_verdict(session: Session, version_id: int, verdict: Verdict, measured: MeasuredMedia) -> bool:
    """Record a worker's verdict. Idempotent: only the first verdict on a processing version counts."""
    now = utcnow()
    values: dict[str, Any] = {
        "status": VersionStatus.ready if verdict.ok else VersionStatus.rejected,
        "rejection_code": None if verdict.ok else str(verdict.code),
        "rejection_message": None if verdict.ok else verdict.message,
        "warnings": list(verdict.warnings),
        "validated_at": now,
    }
    values.update({k: v for k, v in vars(measured).items() if v is not None})
    result = session.execute(
        update(WorkVersion)
        .where(col(WorkVersion.id) == version_id, col(WorkVersion.status) == VersionStatus.processing)
        .values(**values)
    )
    if rowcount(result) != 1:
        return False
    version = session.get(WorkVersion, version_id)
    assert version is not None
    session.refresh(version)
    work = session.exec(select(Work).where(Work.id == version.work_id).with_for_update()).one()
    before = work.status
    if verdict.ok and (work.current_version_id is None or version_id > work.current_version_id):
        work.current_version_id = version_id
    if work.pending_version_id == version_id:
        work.pending_version_id = None
    # Past the submitter's part of the lifecycle (submitted, in review, returned, disqualified) the status
    # is the review's; a verdict on a replacement file only changes what the submitter may submit.
    after = derived_status(session, work) if before in FILE_DRIVEN_STATUSES else before
    _set_status(
        session, work, before, after,
        current_version_id=work.current_version_id, pending_version_id=work.pending_version_id,
    )
    record(
        session, actor=None, action="verdict", work_id=work.id, province_id=work.province_id,
        from_status=before, to_status=after,
        reason=version.rejection_code or "ready",
        data={"version_id": version_id, "warnings": list(verdict.warnings)},
    )
    if verdict.ok:
        defer_media(session, version_id)
        on_version_ready(session, version, work.campaign_id)
    return True


class NothingToRetry(Conflict):
    code = "nothing_to_retry"
    message = "该文件没有需要重新处理的任务。"


def hold_version(session: Session, version_id: int, attempts: int, warning: str) -> bool:
    """The workers kept dying on this version: hold it for staff instead of deciding anything about the
    file. The work keeps it pending (the submitter reads 系统处理异常，工作人员正在处理). Compare-and-set."""
    result = session.execute(
        update(WorkVersion)
        .where(col(WorkVersion.id) == version_id, col(WorkVersion.status) == VersionStatus.processing)
        .values(status=VersionStatus.held, warnings=[warning, f"attempts: {attempts}"])
    )
    if rowcount(result) != 1:
        return False
    version = session.get(WorkVersion, version_id)
    assert version is not None
    session.refresh(version)
    work = session.get(Work, version.work_id)
    assert work is not None
    record(
        session, actor=None, action="held", work_id=work.id, province_id=work.province_id,
        from_status=work.status, to_status=work.status, reason=warning,
        data={"version_id": version_id, "attempts": attempts},
    )
    return True


MEDIA_GAVE_UP = "gave up"


def give_up_playback(session: Session, version_id: int) -> bool:
    """The playback job reached its attempt cap: the rendition (if one was due) is ``failed`` so the page
    offers the original for download, a missing poster stays missing, and staff read why in the audit log.
    Compare-and-set on ``media_error``: recorded once however often the job or the sweep calls it."""
    version = session.get(WorkVersion, version_id)
    if version is None or version.status != VersionStatus.ready:
        return False
    if (version.media_error or "").startswith(MEDIA_GAVE_UP):
        return False
    error = f"{MEDIA_GAVE_UP} after {version.media_attempts} attempts: {version.media_error or 'worker died'}"[:500]
    values: dict[str, Any] = {"media_error": error}
    if version.playback != PlaybackKind.original and version.rendition_status != "ready":
        values["rendition_status"] = "failed"
    result = session.execute(
        update(WorkVersion)
        .where(col(WorkVersion.id) == version_id,
               or_(col(WorkVersion.media_error).is_(None), ~col(WorkVersion.media_error).startswith(MEDIA_GAVE_UP)))
        .values(**values)
    )
    if rowcount(result) != 1:
        return False
    work = session.get(Work, version.work_id)
    assert work is not None
    record(
        session, actor=None, action="media_failed", work_id=work.id, province_id=work.province_id,
        from_status=work.status, to_status=work.status, reason="media_gave_up",
        data={"version_id": version_id, "attempts": version.media_attempts, "error": error},
    )
    return True


def retry_version(session: Session, version_id: int, *, actor: User | None = None) -> str:
    """Staff send a held validation, or a playback job that gave up, through the workers again with fresh
    attempt counters. Returns what was retried: ``"validation"`` or ``"playback"``."""
    version = session.get(WorkVersion, version_id)
    if version is None:
        raise NotFound("找不到该文件版本。", code="version_not_found")
    work = session.get(Work, version.work_id)
    assert work is not None
    if version.status == VersionStatus.held:
        # A fresh heartbeat: the sweep must not take the job as lost before it reached a worker.
        result = session.execute(
            update(WorkVersion)
            .where(col(WorkVersion.id) == version_id, col(WorkVersion.status) == VersionStatus.held)
            .values(status=VersionStatus.processing, attempts=0, heartbeat_at=utcnow(), warnings=[])
        )
        what = "validation"
        if rowcount(result) == 1:
            defer_validation(session, version_id)
    elif version.status == VersionStatus.ready and (
        version.poster_key is None or version.rendition_status in ("failed", "processing")
    ):
        needs_rendition = version.playback != PlaybackKind.original and version.rendition_status != "ready"
        result = session.execute(
            update(WorkVersion)
            .where(col(WorkVersion.id) == version_id, col(WorkVersion.status) == VersionStatus.ready,
                   col(WorkVersion.media_attempts) == version.media_attempts)
            .values(media_attempts=0, media_attempted_at=None, media_error=None,
                    rendition_status=None if needs_rendition else version.rendition_status)
        )
        what = "playback"
        if rowcount(result) == 1:
            defer_media(session, version_id)
    else:
        raise NothingToRetry()
    if rowcount(result) != 1:
        raise StaleState()
    record(
        session, actor=actor, action="retry", work_id=work.id, province_id=work.province_id,
        from_status=work.status, to_status=work.status, reason=what, data={"version_id": version_id},
    )
    return what


def current_version(session: Session, work: Work) -> WorkVersion | None:
    """The newest version that passed validation: what a submit would submit."""
    return session.get(WorkVersion, work.current_version_id) if work.current_version_id is not None else None


def held_version(session: Session, work: Work) -> WorkVersion | None:
    """The work's pending version when the workers gave up on it (shown as a system fault, not a verdict)."""
    if work.pending_version_id is None:
        return None
    version = session.get(WorkVersion, work.pending_version_id)
    return version if version is not None and version.status == VersionStatus.held else None


def reapply_verdict(
    session: Session, version_id: int, values: dict[str, Any], *, reason: str, data: dict[str, Any]
) -> Work:
    """Record a re-run verdict on an already decided version (``clipjury revalidate --apply``).

    The work's submittable version and status follow it, as after an upload; a submitted work keeps both
    (the submitted version is what later rounds see) and only the audit log tells of the move.
    """
    session.execute(
        update(WorkVersion).where(col(WorkVersion.id) == version_id).values(validated_at=utcnow(), **values)
    )
    version = session.get(WorkVersion, version_id)
    assert version is not None
    session.refresh(version)
    work = session.exec(select(Work).where(Work.id == version.work_id).with_for_update()).one()
    before = work.status
    if before in FILE_DRIVEN_STATUSES:
        ready_ids = session.exec(
            select(WorkVersion.id).where(WorkVersion.work_id == work.id, WorkVersion.status == VersionStatus.ready)
        ).all()
        current = max((i for i in ready_ids if i is not None), default=None)
        work.current_version_id = current
        _set_status(session, work, before, derived_status(session, work), current_version_id=current)
    record(
        session, actor=None, action="revalidate", work_id=work.id, province_id=work.province_id,
        from_status=before, to_status=work.status, reason=reason, data=data,
    )
    return work


def submit(session: Session, user: User, work_id: int, now: datetime | None = None) -> Work:
    now = now or utcnow()
    work = get_own_work(session, user, work_id)
    campaign = session.get(Campaign, work.campaign_id)
    assert campaign is not None
    current = current_version(session, work)
    submit_option(work, current, campaign, now).ensure()
    assert current is not None
    version = current
    deadline = as_utc(campaign.submission_deadline)
    before = work.status
    try:
        _set_status(
            session, work, before, WorkStatus.submitted,
            submitted_version_id=version.id, submitted_at=now, claimed_by_id=None, claimed_at=None,
            review_rev=work.review_rev + 1,
        )
    except StaleState:
        raise AlreadySubmitted("作品已被提交或状态已改变，请刷新页面查看。") from None
    record(
        session, actor=user, action="submit", work_id=work.id, province_id=work.province_id,
        from_status=before, to_status=work.status,
        reason="grace_period" if now > deadline else "",
        data={"version_id": version.id, "sha256": version.sha256},
    )
    return work


def withdraw(session: Session, user: User, work_id: int, reason: str = "", now: datetime | None = None) -> Work:
    now = now or utcnow()
    work = get_own_work(session, user, work_id)
    campaign = session.get(Campaign, work.campaign_id)
    assert campaign is not None
    withdraw_option(work, campaign, now).ensure()
    before = work.status
    _set_status(
        session, work, before, derived_status(session, work),
        submitted_version_id=None, submitted_at=None, claimed_by_id=None, claimed_at=None,
        review_rev=work.review_rev + 1,
    )
    record(
        session, actor=user, action="withdraw", work_id=work.id, province_id=work.province_id,
        from_status=before, to_status=work.status, reason=reason[:2000],
    )
    return work


# -- presenting ------------------------------------------------------------------------------------

def shown_version(session: Session, work: Work) -> WorkVersion | None:
    """The version whose facts the work shows: the submitted one, else the current valid one, else
    the newest attempt once it has been measured."""
    for version_id in (work.submitted_version_id, work.current_version_id, work.latest_version_id):
        if version_id is not None:
            version = session.get(WorkVersion, version_id)
            measured = version is not None and version.status != VersionStatus.processing
            if version is not None and (measured or version_id == work.current_version_id):
                return version
    return None


def latest_rejection(session: Session, work: Work) -> dict[str, str] | None:
    if work.latest_version_id is None or work.status not in EDITABLE_STATUSES:
        return None
    latest = session.get(WorkVersion, work.latest_version_id)
    if latest is None or latest.status != VersionStatus.rejected:
        return None
    return {"code": latest.rejection_code or "", "message": latest.rejection_message or ""}


def media_of(version: WorkVersion | None) -> dict[str, Any] | None:
    if version is None or version.validated_at is None or (version.duration_s is None and version.width is None):
        return None
    return {
        "duration_s": version.duration_s,
        "width": version.width,
        "height": version.height,
        "size_bytes": version.size_bytes,
        "video_codec": version.video_codec,
        "audio_codec": version.audio_codec,
        "major_brand": version.major_brand,
    }
