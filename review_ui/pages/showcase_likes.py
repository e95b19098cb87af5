"""展播点赞: the national office's view of the likes: the window and the frozen snapshot, likes over time (a
live ECharts chart), the suspicious patterns, and voiding the likes of voters it judges fraudulent. Thin:
every figure and every change is a call into clipjury.showcase."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from api.deps import CurrentUser, SessionDep
from clipjury.accounts.models import Role
from clipjury.accounts.policy import require_role
from clipjury.campaigns.service import active_campaign
from clipjury.showcase import counts, fraud, snapshots
from clipjury.showcase.policy import has_closed, in_window, window_of
from clipjury.timeutil import fmt_local, utcnow
from review_ui.context import user_context
from review_ui.core.forms import ReasonField, form_action, see_other
from review_ui.core.render import render
from review_ui.core.routing import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE = "/showcase/likes"


@router.get(PAGE)
def likes_page(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    require_role(user, (Role.national_admin,), "查看展播点赞")
    campaign = active_campaign(session)
    now = utcnow()
    window = window_of(campaign)
    snapshot = snapshots.freeze_if_due(session, campaign, now=now)
    found = fraud.report(session, user, campaign)
    hourly = fraud.timeline(session, user, campaign, "hour", now=now)
    state = "unset" if window is None else "open" if in_window(campaign, now) else (
        "closed" if has_closed(campaign, now) else "before")
    return render(request, "showcase_likes/index.html", {
        **user_context(user),
        "campaign_name": campaign.name,
        "window": {"starts": fmt_local(window[0]), "ends": fmt_local(window[1])} if window else None,
        "state": state,
        "snapshot": snapshot,
        "frozen_at": fmt_local(snapshot.frozen_at) if snapshot else "",
        "report": found,
        "fmt": fmt_local,
        "voids": fraud.recent_voids(session, user, campaign),
        # Rendered with |tojson (escaped for a <script> element); the chart script refreshes it from the API.
        "chart_data": {
            "bucket": "hour", "live": state == "open", "points": hourly.as_json(),
        },
    })


@router.post(PAGE + "/void")
def void_likes(
    request: Request, user: CurrentUser, session: SessionDep,
    voter_ids: Annotated[str, Form(max_length=100_000)] = "",
    reason: ReasonField = "",
) -> Response:
    require_role(user, (Role.national_admin,), "作废点赞")
    voided: list[dict[int, int]] = []

    def run() -> str:
        result = fraud.void_voters(session, user, active_campaign(session), fraud.parse_voter_ids(voter_ids), reason)
        voided.append(result.works)
        version = f"，已生成点赞数快照第 {result.snapshot_version} 版" if result.snapshot_version else ""
        return f"已作废 {result.voters} 个投票人的 {result.likes} 个点赞，并禁止其继续点赞{version}。"

    if form_action(request, session, run, not_found_is_page=False):
        session.commit()
        counts.refresh_after_commit(session, voided[0])
    return see_other(PAGE)
