"""Where a browser plays a work: presigned GET URLs straight from the object store (Range requests
go to the store, not through the API)."""

from __future__ import annotations

from pydantic import BaseModel
from sqlmodel import Session

from clipjury.works.models import Playback as PlaybackKind
from clipjury.works.models import VersionStatus, Work, WorkVersion
from clipjury.works.service import shown_version
from storage import get_store


class Playback(BaseModel):
    version_id: int | None
    video_url: str | None
    poster_url: str | None
    source: str | None  # "original" or "rendition"
    preparing: bool  # a rendition is still being made
    # The original is not playable in browsers and its rendition could not be made: it can still be
    # downloaded (``download_url``) and watched in a desktop player.
    failed: bool = False
    download_url: str | None = None


def playback_for(session: Session, work: Work) -> Playback:
    version: WorkVersion | None = shown_version(session, work)
    if version is None or version.status != VersionStatus.ready or version.purged_at is not None:
        return Playback(version_id=None, video_url=None, poster_url=None, source=None, preparing=False)
    store = get_store()
    poster = store.presigned_get(version.poster_key, content_type="image/jpeg") if version.poster_key else None
    if version.playback == PlaybackKind.rendition:
        if version.rendition_key and version.rendition_status == "ready":
            url = store.presigned_get(version.rendition_key, content_type="video/mp4")
            return Playback(
                version_id=version.id, video_url=url, poster_url=poster, source="rendition", preparing=False
            )
        if version.rendition_status == "failed":
            download = store.presigned_get(
                version.object_key, filename=f"work-{work.id}-v{version.id}.mp4", content_type="video/mp4",
                attachment=True,
            )
            return Playback(
                version_id=version.id, video_url=None, poster_url=poster, source=None, preparing=False,
                failed=True, download_url=download,
            )
        return Playback(version_id=version.id, video_url=None, poster_url=poster, source=None, preparing=True)
    url = store.presigned_get(version.object_key, content_type="video/mp4")
    return Playback(version_id=version.id, video_url=url, poster_url=poster, source="original", preparing=False)
