"""The accounts' maintenance sweep: submitter accounts unused for longer than the retention are deleted
exactly as if their holder had deleted them (clipjury.accounts.deletion)."""

from __future__ import annotations

import logging
from datetime import datetime

from clipjury.accounts.deletion import erase_account, inactive_submitters, purge_files
from clipjury.accounts.invite_delivery import deliver
from clipjury.accounts.models import User
from clipjury.db import session_scope
from clipjury.timeutil import utcnow
from storage.s3 import get_store

log = logging.getLogger(__name__)


def sweep_inactive_accounts(now: datetime | None = None) -> int:
    """Delete the inactive submitters' accounts, one transaction each; returns how many. Safe on several
    workers at once: an account already deleted is skipped (``deleted_at`` is re-read in its transaction)."""
    now = now or utcnow()
    with session_scope() as session:
        ids = inactive_submitters(session, now)
    done = 0
    for user_id in ids:
        with session_scope() as session:
            user = session.get(User, user_id, with_for_update=True)
            if user is None or user.deleted_at is not None:
                continue
            left = erase_account(session, user, reason="inactive", now=now)
        purge_files(get_store(), left)
        done += 1
    if done:
        log.info("deleted %d inactive submitter accounts", done)
    return done


def deliver_invitation(message_id: str) -> None:
    """The job that sends one invitation link by SMS or e-mail (clipjury.accounts.invite_delivery)."""
    deliver(message_id)
