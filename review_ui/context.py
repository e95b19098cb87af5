"""The signed-in user's part of every page: name, role, navigation with the unread count."""

from __future__ import annotations

from markupsafe import Markup
from sqlalchemy.orm import object_session
from sqlmodel import Session

from clipjury.accounts.models import Role, User
from clipjury.notifications.service import unread_count
from review_ui.presenters.labels import role_label

# The top navigation per role: (href, label). The first entry is the role's home page.
NAV: dict[Role, list[tuple[str, str]]] = {
    Role.submitter: [("/works", "我的作品"), ("/notifications", "消息"), ("/account", "我的账号")],
    Role.unit_coordinator: [
        ("/works", "我的作品"), ("/dashboard", "单位配额"), ("/my-unit", "单位成员"), ("/reports", "活动报送"),
        ("/nominations", "基层推荐"), ("/notifications", "消息"),
    ],
    Role.reviewer: [("/review", "初评"), ("/dashboard", "配额看板"), ("/notifications", "消息")],
    Role.provincial_admin: [
        ("/review", "初评"), ("/review/forward", "报送复评"), ("/dashboard", "配额看板"), ("/units", "单位管理"),
        ("/reports", "报表"), ("/nominations", "基层推荐"), ("/audit", "审计日志"), ("/accounts", "账号管理"),
        ("/notifications", "消息"),
    ],
    Role.national_admin: [
        ("/review/national", "全国复评"), ("/review/integrity", "相似作品"), ("/showcase/likes", "展播点赞"),
        ("/judging/admin", "专家评审"), ("/awards", "评奖结果"), ("/dashboard", "配额看板"),
        ("/organisations", "省份与部门"), ("/campaign", "活动设置"),
        ("/units", "单位名单"), ("/reports", "报表"), ("/audit", "审计日志"), ("/accounts", "账号管理"),
        ("/notifications", "消息"),
    ],
    Role.judge: [("/judging", "评审打分"), ("/notifications", "消息")],
}


def nav_for(user: User) -> list[tuple[str, str]]:
    return NAV.get(Role(user.role), [])


def nav_with_unread(user: User, unread: int) -> list[tuple[str, str]]:
    """The navigation with the unread count on 消息 (base.html prints labels; Markup keeps the badge's tag)."""
    if unread <= 0:
        return nav_for(user)
    shown = "99+" if unread > 99 else str(unread)
    badge = Markup('{}<span class="nav-badge" aria-label="{} 条未读">{}</span>').format("消息", shown, shown)
    return [(href, badge if href == "/notifications" else label) for href, label in nav_for(user)]


def home_for(user: User) -> str:
    links = nav_for(user)
    return links[0][0] if links else "/notifications"


def user_context(user: User, session: Session | None = None) -> dict[str, object]:
    """What base.html needs about the signed-in user: name, role, navigation with the unread count.

    Without ``session`` the one the user was loaded in (the request's) is used, so ``user_context(user)``
    shows the badge too."""
    db = session if session is not None else object_session(user)
    unread = unread_count(db, user.id) if isinstance(db, Session) and user.id is not None else 0
    return {
        "current_user": user,
        "role_label": role_label(user),
        "nav": nav_with_unread(user, unread),
        "unread_count": unread,
    }

