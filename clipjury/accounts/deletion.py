"""A person deletes their account (PIPL), or the inactive-account sweep does it for them.

What goes: the phone number (both forms), the nickname, the password, the consent record, every web
session and API token, unit memberships, notifications, and every work that never entered the review
(drafts, files being checked, ready or rejected works) with its stored files and unfinished uploads.
What stays: works that entered the review (submitted and every later status, returned included), since
the contest's record of them belongs to the organiser; their owner becomes this account's row turned
into an anonymous "已注销用户" that cannot sign in and holds nothing personal. The audit log keeps its
entries (they name account and work ids, never a number); an entry about a deleted work loses the link
to it. Staff accounts are not deleted by their holders: their admin deactivates them.

The stored files are deleted after the database's change is committed (``purge_files``): a rollback never
leaves rows pointing at deleted files, and a file that fails to delete is logged for the operator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, col, func, select

from clipjury.accounts.invitations import Invitation
from clipjury.accounts.models import AuthSession, Role, User
from clipjury.accounts.security import verify_password
from clipjury.accounts.sessions import end_all_sessions
from clipjury.audit.models import AuditEvent
from clipjury.audit.service import record
from clipjury.errors import Forbidden, Invalid
from clipjury.integrity.erasure import forget_works
from clipjury.notifications.models import Notification
from clipjury.settings import get_settings
from clipjury.timeutil import utcnow
from clipjury.units.models import UnitMembership
from clipjury.uploads.models import Upload
from clipjury.works.models import Work, WorkVersion
from storage.s3 import ObjectNotFound, ObjectStore, StorageError

log = logging.getLogger(__name__)

# Works in these statuses never entered the review: they go with the account.
NEVER_REVIEWED = ("draft", "processing", "ready", "rejected")
DELETED_NAME = "已注销用户"
# A password hash no password matches.
UNUSABLE_PASSWORD = "!deleted"


class WrongPassword(Invalid):
    status_code = 401
    code = "bad_credentials"
    message = "密码不正确，账号未注销。"


@dataclass
class Leftovers:
    """The stored files of what was deleted, for ``purge_files`` after the commit."""

    keys: set[str] = field(default_factory=set)
    prefixes: set[str] = field(default_factory=set)
    multiparts: list[tuple[str, str]] = field(default_factory=list)
    works_deleted: int = 0
    works_kept: int = 0


def delete_own_account(session: Session, user: User, password: str) -> Leftovers:
    """The signed-in submitter deletes their account, confirming with their password."""
    if Role(user.role) != Role.submitter:
        raise Forbidden("工作人员账号不能自行注销，请联系管理员停用。", code="forbidden_role")
    if not verify_password(password, user.password_hash):
        raise WrongPassword()
    return erase_account(session, user, reason="self")


def erase_account(session: Session, user: User, *, reason: str, now: datetime | None = None) -> Leftovers:
    """Remove everything personal about ``user``; see the module's docstring for what stays."""
    now = now or utcnow()
    left = Leftovers()
    user_id = user.id or 0
    doomed = list(session.exec(
        select(Work).where(col(Work.owner_id) == user_id, col(Work.status).in_(NEVER_REVIEWED))
    ))
    doomed_ids = [w.id for w in doomed if w.id is not None]
    left.works_kept = int(session.exec(
        select(func.count()).select_from(Work).where(col(Work.owner_id) == user_id,
                                                     col(Work.status).not_in(NEVER_REVIEWED))
    ).one())
    if doomed_ids:
        for version in session.exec(select(WorkVersion).where(col(WorkVersion.work_id).in_(doomed_ids))):
            left.keys.update(k for k in (version.object_key, version.poster_key, version.rendition_key) if k)
            left.prefixes.add(f"works/{version.work_id}/v{version.id}/")
        session.execute(update(AuditEvent).where(col(AuditEvent.work_id).in_(doomed_ids)).values(work_id=None))
        session.execute(delete(Notification).where(col(Notification.work_id).in_(doomed_ids)))
    uploads = list(session.exec(select(Upload).where(
        col(Upload.user_id) == user_id,
        col(Upload.work_id).is_(None) | col(Upload.work_id).in_(doomed_ids or [0]),
    )))
    for upload in uploads:
        if upload.completed_at is None:
            left.keys.add(upload.object_key)
            if upload.s3_upload_id:
                left.multiparts.append((upload.object_key, upload.s3_upload_id))
    if uploads:
        session.execute(delete(Upload).where(col(Upload.id).in_([u.id for u in uploads])))
    if doomed_ids:
        forget_works(session, doomed_ids)  # their fingerprints, screenings and similar pairs
        session.execute(delete(WorkVersion).where(col(WorkVersion.work_id).in_(doomed_ids)))
        session.execute(delete(Work).where(col(Work.id).in_(doomed_ids)))
    left.works_deleted = len(doomed_ids)
    session.execute(delete(Notification).where(col(Notification.user_id) == user_id))
    session.execute(delete(UnitMembership).where(col(UnitMembership.user_id) == user_id))
    session.execute(delete(Invitation).where(col(Invitation.user_id) == user_id))
    end_all_sessions(session, user)
    session.execute(delete(AuthSession).where(col(AuthSession.user_id) == user_id))
    session.refresh(user)
    user.username = f"deleted-{user_id}"
    user.display_name = DELETED_NAME
    user.password_hash = UNUSABLE_PASSWORD
    user.email = None
    user.phone = None
    user.phone_enc = None
    user.phone_hmac = None
    user.consent_digest = None
    user.consented_at = None
    user.unit_id = None
    user.is_active = False
    user.deleted_at = now
    session.add(user)
    session.flush()
    record(session, actor=None, action="account_deleted", province_id=user.province_id,
           data={"user_id": user_id, "reason": reason, "works_deleted": left.works_deleted,
                 "works_kept": left.works_kept})
    log.info("account %s deleted (%s): %d works deleted, %d kept anonymised",
             user_id, reason, left.works_deleted, left.works_kept)
    return left


def purge_files(store: ObjectStore, left: Leftovers) -> int:
    """Delete the stored files of what ``erase_account`` removed (after its commit); returns how many
    failed (logged; the operator's storage lifecycle rules or a re-run clean them)."""
    failed = 0
    for key, upload_id in left.multiparts:
        try:
            store.abort_multipart(key, upload_id)
        except (ObjectNotFound, StorageError):
            pass
    keys = set(left.keys)
    for prefix in left.prefixes:
        try:
            keys.update(store.list_keys(prefix))
        except StorageError:
            failed += 1
    for key in sorted(keys):
        try:
            store.delete(key)
        except ObjectNotFound:
            pass
        except StorageError:
            failed += 1
            log.warning("deleted account's file %s could not be deleted", key)
    return failed


def inactive_submitters(session: Session, now: datetime) -> list[int]:
    """Submitters who have not signed in for ``inactive_account_retention_days`` (0: nobody)."""
    days = get_settings().inactive_account_retention_days
    if not days:
        return []
    cutoff = now - timedelta(days=days)
    seen = func.coalesce(col(User.last_login_at), col(User.created_at))
    return [uid for uid in session.exec(
        select(User.id).where(col(User.role) == Role.submitter.value, col(User.deleted_at).is_(None), seen < cutoff)
        .order_by(col(User.id)).limit(200)
    ) if uid is not None]
