"""The integrity panel of a work's review page: similar works side by side at their matching moments
(the other work's player only when the reviewer may see it) and what OCR read, with thumbnails."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from clipjury.accounts.models import User
from clipjury.integrity import service
from clipjury.works import playback as playback_mod
from clipjury.works.models import Work
from review_ui.presenters.format import format_duration
from storage import get_store


def clock(seconds: float | None) -> str:
    """``1:05`` for 65 s (the second a reviewer seeks to)."""
    if seconds is None:
        return ""
    whole = max(int(seconds), 0)
    return f"{whole // 60}:{whole % 60:02d}"


@dataclass
class SimilarView:
    item: service.SimilarWork
    video_url: str | None = None  # the other work's player, when in scope
    matched: str = ""
    # [(this work's clock, the other's clock, this second, the other second)]
    moments: list[tuple[str, str, float, float]] = field(default_factory=list)


@dataclass
class MarkingView:
    text: str
    at: str
    at_s: float
    thumb_url: str | None


@dataclass
class IntegrityPanel:
    similar_status: str
    similar: list[SimilarView]
    screening: service.ScreeningAnswer
    opening_at: str
    markings: list[MarkingView]


def integrity_panel(session: Session, user: User, work: Work) -> IntegrityPanel:
    answer = service.similar_for(session, user, work.id or 0)
    views: list[SimilarView] = []
    for item in answer.items:
        view = SimilarView(item, matched=format_duration(item.matched_seconds, 1.0))
        if item.work_id is not None:
            other = session.get(Work, item.work_id)
            view.video_url = playback_mod.playback_for(session, other).video_url if other else None
            view.moments = [(clock(m[0]), clock(m[1]), m[0], m[1]) for m in item.moments if len(m) == 2]
        else:
            view.moments = [(clock(m[0]), "", m[0], 0.0) for m in item.moments if m]
        views.append(view)
    screening = service.screening_for(session, user, work.id or 0)
    store = get_store()
    markings = [
        MarkingView(m.text, clock(m.at_s), m.at_s,
                    store.presigned_get(m.thumb_key, content_type="image/jpeg") if m.thumb_key else None)
        for m in screening.markings
    ]
    return IntegrityPanel(answer.status, views, screening, clock(screening.opening_at_s), markings)
