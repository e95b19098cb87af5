"""Reading the audit log: who may read which part of it, with which filters. One function for the API
(``GET /api/v1/audit``) and the page (``/audit``), so both refuse the same requests.

Not in ``audit.service``: the scoping reads the review's rules (``reviews.events``), and the review's
services write through ``audit.service.record``; keeping the reading here keeps the imports one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, select

from clipjury.accounts.models import Province, Role, User
from clipjury.accounts.policy import ADMIN_ROLES, require_role
from clipjury.audit.models import AuditEvent
from clipjury.campaigns.models import Campaign
from clipjury.errors import Forbidden, Invalid
from clipjury.reviews.events import Event, audit_log_query, hide_national
from clipjury.reviews.models import ACTION_LABELS
from clipjury.reviews.service import find_province, get_work_in_scope, sees_national_decisions

# Every action the log records (the review's decisions and the rest), with its Chinese label: a filter
# on anything else is a typo, refused rather than answered with an empty log.
AUDIT_ACTION_LABELS: dict[str, str] = {
    **ACTION_LABELS,
    "claim": "认领评审",
    "release": "释放认领",
    "create": "创建作品",
    "upload": "上传文件",
    "verdict": "文件校验结果",
    "revalidate": "重新校验",
    "submit": "提交作品",
    "withdraw": "撤回提交",
    "publish_national_results": "发布全国复评结果",
    "activity_report": "填报活动开展情况",
    "held": "文件处理挂起",
    "retry": "重新处理文件",
    "media_failed": "播放版本生成失败",
    # The showcase (clipjury.showcase.publishing).
    "showcase_publish": "公开展示作品",
    "showcase_withdraw": "撤下公开展示",
    # Staff accounts (clipjury.accounts.invitations, clipjury.accounts.admin).
    "account.create": "创建账号",
    "account.invite": "发送新邀请链接",
    "account.invite_accepted": "接受邀请并设置密码",
    "account.deactivate": "停用账号",
    "account.reactivate": "重新启用账号",
    # Awards (clipjury.awards.service).
    "awards_compute": "计算奖项",
    "awards_adjust": "调整获奖等级",
    "awards_disqualified": "取消资格后重排奖项",
    "awards_reinstated": "撤销取消资格后重排奖项",
    "awards_publish": "发布评奖结果",
    "organising_decide": "决定优秀组织奖",
    "nomination_create": "推荐基层保密办",
    "nomination_update": "修改基层推荐",
    "nomination_delete": "撤回基层推荐",
}


@dataclass(frozen=True)
class AuditFilter:
    province: str | None = None  # a province code
    work_id: int | None = None
    action: str | None = None


@dataclass(frozen=True)
class AuditScope:
    query: Any  # select(AuditEvent) with the scope and filters applied, unordered
    national_ok: bool
    # The province whose log this is (None: the whole country, for the national admin).
    province: Province | None


def audit_query(session: Session, user: User, campaign: Campaign, flt: AuditFilter) -> AuditScope:
    """The audit log this user may read, filtered. Refuses: a role other than the admins (403
    ``forbidden_role``), a provincial admin asking for another province (403 ``forbidden_scope``), an
    unknown province (422 ``unknown_province``) or action (422 ``unknown_action``), a work outside the
    caller's scope (404, as for a missing one)."""
    require_role(user, ADMIN_ROLES, "查看审计日志")
    role = Role(user.role)
    national_ok = role == Role.national_admin or sees_national_decisions(user, campaign)
    query = audit_log_query(user, national_ok=national_ok)
    province: Province | None = None
    if role == Role.provincial_admin:
        province = session.get(Province, user.province_id) if user.province_id else None
        if flt.province and (province is None or province.code != flt.province):
            raise Forbidden("省级管理员只能查看本省的日志。", code="forbidden_scope")
    elif flt.province:
        province = find_province(session, flt.province)
        if province is None:
            raise Invalid("所选省份不存在。", code="unknown_province")
        query = query.where(AuditEvent.province_id == province.id)
    if flt.action:
        if flt.action not in AUDIT_ACTION_LABELS:
            raise Invalid("未知的操作类型。", code="unknown_action")
        query = query.where(AuditEvent.action == flt.action)
    if flt.work_id is not None:
        get_work_in_scope(session, user, flt.work_id)
        query = query.where(AuditEvent.work_id == flt.work_id)
    return AuditScope(query=query, national_ok=national_ok, province=province)


def audit_count(session: Session, scope: AuditScope) -> int:
    return int(session.exec(select(func.count()).select_from(scope.query.subquery())).one())


def audit_events(
    session: Session, scope: AuditScope, *, limit: int, offset: int = 0, before_id: int | None = None
) -> list[tuple[AuditEvent, Event]]:
    """A page of the log, newest first: each event with what this reader may see of its statuses."""
    query = scope.query
    if before_id is not None:
        query = query.where(col(AuditEvent.id) < before_id)
    rows = session.exec(query.order_by(col(AuditEvent.id).desc()).offset(offset).limit(limit))
    return [(e, hide_national(e, scope.national_ok)) for e in rows]
