"""Old versions' files leave the store after a retention period; their rows stay as the work's history.

A version is kept in storage while it is the submitted one, the current good one or the one being checked.
Any other (an earlier good file replaced by a newer one, a rejected upload) loses its original, poster and
rendition ``old_version_retention_days`` after it was uploaded; ``purged_at`` records when.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, update
from sqlmodel import Session, col, select

from clipjury.db import rowcount
from clipjury.settings import get_settings
from clipjury.works.models import VersionStatus, Work, WorkVersion
from storage.s3 import ObjectNotFound, ObjectStore, StorageError

log = logging.getLogger(__name__)

BATCH = 200


def _in_use(version_id: Any) -> Any:
    """The version is some work's submitted, current or pending one (compared at the moment of the UPDATE)."""
    return exists().where(
        col(Work.id) == col(WorkVersion.work_id),
        or_(col(Work.submitted_version_id) == version_id, col(Work.current_version_id) == version_id,
            col(Work.pending_version_id) == version_id),
    )


def purge_old_versions(session: Session, store: ObjectStore, now: datetime) -> int:
    """Delete the stored files of versions out of use for longer than the retention; returns how many.

    Each version is claimed first (``purged_at`` set by compare-and-set on its still being out of use, and
    committed), then its objects are deleted: a version that became current meanwhile is never touched. A
    store failure gives the claim back, so the next sweep tries again; a second run finds nothing to do.
    """
    cutoff = now - timedelta(days=get_settings().old_version_retention_days)
    candidates = list(session.exec(
        select(WorkVersion)
        .where(col(WorkVersion.purged_at).is_(None), col(WorkVersion.created_at) < cutoff,
               # a held version's file is what `clipjury retry-version` needs
               col(WorkVersion.status).not_in([VersionStatus.processing, VersionStatus.held]), ~_in_use(WorkVersion.id))
        .order_by(col(WorkVersion.id)).limit(BATCH)
    ))
    session.commit()
    purged = 0
    for version in candidates:
        claimed = session.execute(
            update(WorkVersion)
            .where(and_(col(WorkVersion.id) == version.id, col(WorkVersion.purged_at).is_(None),
                        ~_in_use(version.id)))
            .values(purged_at=now)
        )
        session.commit()
        if rowcount(claimed) != 1:
            continue
        try:
            for key in _stored_keys(store, version):
                try:
                    store.delete(key)
                except ObjectNotFound:
                    pass
        except StorageError:
            log.warning("version %s: stored files not deleted yet, retrying at the next sweep", version.id)
            session.execute(update(WorkVersion).where(col(WorkVersion.id) == version.id).values(purged_at=None))
            session.commit()
            continue
        purged += 1
    if purged:
        log.info("deleted the stored files of %d old versions", purged)
    return purged


def _stored_keys(store: ObjectStore, version: WorkVersion) -> list[str]:
    keys = {version.object_key}
    keys.update(key for key in (version.poster_key, version.rendition_key) if key)
    # Whatever else the workers made for this version lives under its own prefix.
    keys.update(store.list_keys(f"works/{version.work_id}/v{version.id}/"))
    return sorted(keys)
