"""Migration 0012_checklist: a campaign's review checklist from bare labels to ``{"key", "label", "required"}``
items and back, on the suite's database kind (run with ``--db postgres`` too)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import command
from sqlalchemy import create_engine
from sqlmodel import Session

from clipjury.campaigns.models import DEFAULT_REVIEW_CHECKLIST, Campaign
from clipjury.migrate import alembic_config
from clipjury.timeutil import utcnow
from tests.conftest import scratch_database

BEFORE = "0011_media_measure"
REVISION = "0012_checklist"
table = sa.table("campaign", sa.column("review_checklist", sa.JSON()))


def test_checklist_migration_both_ways() -> None:
    with scratch_database("checklist") as url:
        config = alembic_config(url)
        command.upgrade(config, "head")
        engine = create_engine(url)
        try:
            with Session(engine) as session:
                now = utcnow()
                session.add(Campaign(slug="c", name="活动", year=2026, submission_opens_at=now,
                                     submission_deadline=now + timedelta(days=30)))
                session.commit()

            def stored() -> list[object]:
                with engine.connect() as conn:
                    return list(conn.execute(sa.select(table.c.review_checklist)).scalar_one())

            command.downgrade(config, BEFORE)
            # Before keys, the duration item was the notice's fixed text; with them it names the campaign's limit.
            labels = [("时长不超过 2 分钟" if item["key"] == "duration" else str(item["label"]))
                      for item in DEFAULT_REVIEW_CHECKLIST]
            assert stored() == labels
            # A campaign whose organisers added an item of their own: it gets a positional key.
            with engine.begin() as conn:
                conn.execute(table.update().values(review_checklist=[*labels, "有字幕"]))
            command.upgrade(config, REVISION)
            assert stored() == [*DEFAULT_REVIEW_CHECKLIST, {"key": "item_8", "label": "有字幕", "required": True}]
        finally:
            engine.dispose()
