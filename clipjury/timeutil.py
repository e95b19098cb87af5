"""Time helpers: everything is stored in UTC and shown in Asia/Shanghai, where campaign dates live."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

CAMPAIGN_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Normalise a datetime read back from a database that drops the zone (SQLite) to aware UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def local(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value).astimezone(CAMPAIGN_TZ)


def fmt_local(value: datetime | None) -> str:
    shown = local(value)
    return "" if shown is None else shown.strftime("%Y-%m-%d %H:%M")
