"""Per-account upload limits, checked before an upload is recorded (tus and the raw PUT alike).

They keep one account from filling the store or the API's connections: uploads being received, partial
uploads no file has joined yet, and the bytes of uploads started within a day. The settings say how many;
0 turns a limit off.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from clipjury.accounts.models import User
from clipjury.errors import LimitReached
from clipjury.settings import get_settings
from clipjury.uploads.models import Concat, Upload, UploadStatus

GIB = 1024**3


class TooManyUploads(LimitReached):
    code = "too_many_uploads"


class TooManyPartials(LimitReached):
    code = "too_many_partials"


class DailyUploadQuota(LimitReached):
    code = "daily_upload_quota"


def _lock_account(session: Session, user: User) -> None:
    # Two creations of one account count one after the other (PostgreSQL; SQLite has one writer anyway).
    session.exec(select(User.id).where(User.id == user.id).with_for_update()).first()


def check_new_upload(session: Session, user: User, *, length: int | None, partial: bool, now: datetime) -> None:
    """Raise when this account may not start one more upload of ``length`` bytes (None: not declared)."""
    settings = get_settings()
    _lock_account(session, user)
    mine = col(Upload.user_id) == user.id
    if partial and settings.max_orphan_partials_per_account:
        limit = settings.max_orphan_partials_per_account
        waiting = session.exec(select(func.count()).select_from(Upload).where(
            mine, col(Upload.concat) == Concat.partial, col(Upload.final_id).is_(None),
            col(Upload.status).in_([UploadStatus.receiving, UploadStatus.complete]),
        )).one()
        if waiting >= limit:
            raise TooManyPartials(
                f"您有 {waiting} 个分段上传尚未合并成文件（上限 {limit} 个）：请等待当前上传完成，"
                "或取消未完成的上传后再试；未合并的分段会在过期后自动清除。",
                limit=limit,
            )
    if not partial and settings.max_active_uploads_per_account:
        limit = settings.max_active_uploads_per_account
        # A file sent in parallel pieces counts once: its final (the pieces are limited above).
        active = session.exec(select(func.count()).select_from(Upload).where(
            mine, col(Upload.status) == UploadStatus.receiving,
            or_(col(Upload.concat).is_(None), col(Upload.concat) == Concat.final),
        )).one()
        if active >= limit:
            raise TooManyUploads(
                f"您同时进行的上传已有 {active} 个（上限 {limit} 个）：请等其中的上传完成，或在上传页面取消"
                "不再需要的上传后再试；中断超过 "
                f"{settings.upload_expiry_hours} 小时的上传会自动取消。",
                limit=limit,
            )
    if settings.max_upload_bytes_per_day:
        limit = settings.max_upload_bytes_per_day
        used = bytes_started_since(session, user, now - timedelta(days=1))
        if used + (length or 0) > limit or used >= limit:
            raise DailyUploadQuota(
                f"您在 24 小时内上传的数据已达 {used / GIB:.1f} GB，加上本文件将超过每日上限 "
                f"{limit / GIB:.1f} GB：请明天再上传。",
                limit=limit, used=used,
            )


def bytes_started_since(session: Session, user: User, since: datetime) -> int:
    """Bytes of the account's uploads started since ``since``: what was declared for uploads still going or
    complete, what arrived for ended ones. A final is not counted (its pieces carry its bytes)."""
    ended = col(Upload.status).in_([UploadStatus.terminated, UploadStatus.expired])
    amount = case((ended, col(Upload.offset)), else_=func.coalesce(col(Upload.length), col(Upload.offset)))
    total = session.exec(select(func.coalesce(func.sum(amount), 0)).where(
        col(Upload.user_id) == user.id, col(Upload.created_at) >= since,
        or_(col(Upload.concat).is_(None), col(Upload.concat) != Concat.final),
    )).one()
    return int(total)
