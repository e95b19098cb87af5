"""campaign.review_checklist: each item {"key", "label", "required"} instead of a bare label

Revision ID: 0012_checklist
Revises: 0011_media_measure
Create Date: 2026-12-04 15:00:00
"""
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0012_checklist'
down_revision: str | None = '0011_media_measure'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The keys of the notice's items, frozen here (the model's defaults may move on): a label a campaign
# edited gets a positional key instead.
KNOWN_KEYS = {
    "开头语为“{opening_line}”": "opening_line",
    "时长不超过 2 分钟": "duration",
    "不涉及国家秘密、工作秘密和内部敏感信息": "no_secrets",
    "坚持正确政治方向": "political_direction",
    "不违反国家法律法规、社会公德，内容准确无误": "lawful",
    "不存在侵权情况（无版权纠纷）": "no_infringement",
    "声音、画面清晰可用": "sound_picture",
}
# The duration item names the campaign's limit instead of a fixed "2 分钟" (checklist_for fills it in).
DURATION_LABEL_BEFORE = "时长不超过 2 分钟"
DURATION_LABEL = "时长不超过 {max_duration}"

campaign = sa.table('campaign', sa.column('id', sa.Integer()), sa.column('review_checklist', sa.JSON()))


def _keyed(items: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    used: set[str] = set()
    for n, item in enumerate(items, start=1):
        if isinstance(item, dict):  # already keyed
            out.append(item)
            used.add(str(item.get("key")))
            continue
        key = KNOWN_KEYS.get(str(item), f"item_{n}")
        if key in used:
            key = f"item_{n}"
        used.add(key)
        label = DURATION_LABEL if key == "duration" and str(item) == DURATION_LABEL_BEFORE else str(item)
        out.append({"key": key, "label": label, "required": True})
    return out


def _labels(items: list[Any]) -> list[str]:
    labels = [str(item["label"]) if isinstance(item, dict) else str(item) for item in items]
    return [DURATION_LABEL_BEFORE if label == DURATION_LABEL else label for label in labels]


def _rewrite(convert: Any) -> None:
    bind = op.get_bind()
    for row in bind.execute(sa.select(campaign.c.id, campaign.c.review_checklist)).all():
        bind.execute(campaign.update().where(campaign.c.id == row.id).values(
            review_checklist=convert(list(row.review_checklist or []))
        ))


def upgrade() -> None:
    _rewrite(_keyed)


def downgrade() -> None:
    _rewrite(_labels)
