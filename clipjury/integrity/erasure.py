"""Forgetting works: an erased account's never-reviewed works take their fingerprints, screenings and
similar pairs with them (a pair marked "not a duplicate" included: one of its works no longer exists).
Kept apart from the service so account deletion imports only this."""

from __future__ import annotations

from sqlalchemy import delete, or_
from sqlmodel import Session, col

from clipjury.integrity.models import Fingerprint, Screening, SimilarPair


def forget_works(session: Session, work_ids: list[int]) -> None:
    if not work_ids:
        return
    session.execute(delete(SimilarPair).where(
        or_(col(SimilarPair.work_a_id).in_(work_ids), col(SimilarPair.work_b_id).in_(work_ids))))
    session.execute(delete(Fingerprint).where(col(Fingerprint.work_id).in_(work_ids)))
    session.execute(delete(Screening).where(col(Screening.work_id).in_(work_ids)))
