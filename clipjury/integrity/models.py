"""The integrity aids' tables: per version a fingerprint and a screening, per pair of works a similarity,
and per campaign the switches that turn the two jobs off.

Hashes are stored as raw little-endian arrays (``numpy.tobytes``): a 2-minute work is ~2 KB of frame
hashes and ~4 KB of audio fingerprint, read back with ``numpy.frombuffer``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow


class JobState(StrEnum):
    pending = "pending"
    done = "done"
    off = "off"  # the campaign's switch was off when the job ran
    failed = "failed"  # the file could not be read (recorded, not retried)


class PairStatus(StrEnum):
    open = "open"
    dismissed = "dismissed"  # "not a duplicate": kept, never raised again


class IntegritySwitches(SQLModel, table=True):
    """Per campaign: whether versions are fingerprinted and screened (both on by default)."""

    __tablename__ = "integrity_switches"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    fingerprints: bool = True
    screening: bool = True
    updated_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Fingerprint(SQLModel, table=True):
    """One version's frame hashes (1 fps, flat frames dropped, plus the mirrored frames) and audio print."""

    __tablename__ = "integrity_fingerprint"

    version_id: int = Field(foreign_key="work_version.id", primary_key=True)
    work_id: int = Field(foreign_key="work.id", index=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    status: str = Field(default=JobState.pending.value, max_length=16, index=True)
    # uint16 seconds, uint64 pHashes and uint64 pHashes of the mirrored frames, one entry per kept frame.
    frame_times: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    frame_hashes: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    mirror_hashes: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    # uint32 chromaprint items (one every AUDIO_ITEM_S); empty for a silent or audio-less work.
    audio: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    duration_s: float = 0.0
    error: str | None = Field(default=None, max_length=500)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SimilarPair(SQLModel, table=True):
    """Two works found similar; ``work_a_id`` < ``work_b_id``, one row per pair whatever the versions.

    ``moments`` holds up to a few ``[a_s, b_s]`` pairs: where the same picture (or sound) is in each work.
    """

    __tablename__ = "integrity_pair"
    __table_args__ = (UniqueConstraint("work_a_id", "work_b_id", name="uq_integrity_pair"),)

    id: int | None = Field(default=None, primary_key=True)
    work_a_id: int = Field(foreign_key="work.id", index=True)
    work_b_id: int = Field(foreign_key="work.id", index=True)
    version_a_id: int = Field(foreign_key="work_version.id")
    version_b_id: int = Field(foreign_key="work_version.id")
    kind: str = Field(max_length=8)  # video, audio or both
    score: float = 0.0
    video_score: float = 0.0
    # Bit error rate of the best-aligned audio (1.0 when not compared or no audio).
    audio_ber: float = 1.0
    matched_seconds: float = 0.0
    speed: float = 1.0
    flipped: bool = False
    moments: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=PairStatus.open.value, max_length=16, index=True)
    reason: str = Field(default="", max_length=2000)
    dismissed_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    dismissed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Screening(SQLModel, table=True):
    """What OCR read in one version: the opening line (found, text, second) and classification markings."""

    __tablename__ = "integrity_screening"
    __table_args__ = (Index("ix_integrity_screening_work", "work_id"),)

    version_id: int = Field(foreign_key="work_version.id", primary_key=True)
    work_id: int = Field(foreign_key="work.id")
    status: str = Field(default=JobState.pending.value, max_length=16, index=True)
    opening_found: bool = False
    opening_text: str = Field(default="", max_length=500)
    opening_at_s: float | None = None
    opening_similarity: float = 0.0
    # [{"text", "at_s", "thumb_key"}], in order of time.
    markings: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    frames_read: int = 0
    error: str | None = Field(default=None, max_length=500)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
