"""Issue 16 part A against the real databases: the judging settings, the min-cost-flow assignment with its
conflicts, blind scoring with the version check, submitting and unlocking, abstentions and their top-up."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from sqlmodel import select

from clipjury.accounts.models import User
from clipjury.audit.models import AuditEvent
from clipjury.db import session_scope
from clipjury.judging import flow
from clipjury.judging import service as judging
from clipjury.judging.models import JudgeConflict
from clipjury.judging.settings import DEFAULT_RUBRIC
from tests.judging_support import JUDGES, freeze_likes, published_works
from tests.review_support import headers_for

FULL = {c["key"]: c["max"] for c in DEFAULT_RUBRIC}


def _patch(client: Any, headers: dict[str, str], judging: dict[str, Any]) -> Any:
    return client.patch("/api/v1/campaigns/current", json={"judging": judging}, headers=headers)


def test_judging_settings_have_the_issues_defaults_and_are_checked(client: Any, demo: dict[str, int]) -> None:
    admin = headers_for(client, "demo-admin")
    shown = client.get("/api/v1/campaigns/current", headers=headers_for(client, "demo-judge")).json()["judging"]
    assert shown["judges_per_work"] == 3 and shown["likes_weight"] == 0.3 and shown["shrinkage_n0"] == 5
    assert [c["name"] for c in shown["rubric"]] == ["思想性", "艺术性", "技术性", "规范性"]
    assert [level["name"] for level in shown["award_levels"]] == ["一等奖", "二等奖", "三等奖", "优秀奖"]
    changed = _patch(client, admin, {"judges_per_work": 4, "award_levels": [{"name": "一等奖", "count": 2},
                                                                           {"name": "优秀奖", "share": 0.5}]})
    assert changed.status_code == 200, changed.text
    after = changed.json()["judging"]
    assert after["judges_per_work"] == 4 and after["likes_weight"] == 0.3  # the others kept
    assert after["award_levels"] == [{"name": "一等奖", "count": 2}, {"name": "优秀奖", "share": 0.5}]
    for body, field, code in (
        ({"judges_per_work": 0}, "judging.judges_per_work", "out_of_range"),
        ({"likes_weight": 1.5}, "judging.likes_weight", "out_of_range"),
        ({"rubric": [{"key": "a", "name": "甲", "weight": 1, "min": 5, "max": 5}]}, "judging.rubric", "invalid_range"),
        ({"rubric": [{"key": "a", "name": "甲", "weight": 1, "min": 0, "max": 5}] * 2}, "judging.rubric",
         "duplicate_rubric_key"),
        ({"award_levels": [{"name": "一等奖", "count": 1, "share": 0.1}]}, "judging.award_levels", "invalid_levels"),
        ({"award_levels": [{"name": "甲", "share": 0.7}, {"name": "乙", "share": 0.7}]}, "judging.award_levels",
         "shares_over_one"),
        ({"near_tie_margin": -1}, "judging.near_tie_margin", "out_of_range"),
    ):
        refused = _patch(client, admin, body)
        assert (refused.status_code, refused.json()["code"], refused.json()["field"]) == (422, code, field), body
    assert _patch(client, headers_for(client, "demo-judge"), {"judges_per_work": 2}).status_code == 403


def test_the_flow_balances_loads_respects_conflicts_and_is_deterministic() -> None:
    rng = random.Random(1)
    works, judges = list(range(1, 61)), list(range(100, 112))
    allowed = {w: {j for j in judges if rng.random() > 0.2} for w in works}
    pairs = flow.assign({w: 3 for w in works}, judges, allowed, seed=42)
    assert pairs == flow.assign({w: 3 for w in reversed(works)}, judges[::-1], allowed, seed=42)
    assert all(p.judge_id in allowed[p.work_id] for p in pairs)
    assert Counter(p.work_id for p in pairs) == {w: 3 for w in works}
    loads = Counter(p.judge_id for p in pairs)
    assert max(loads.values()) - min(loads.values()) <= 1
    assert pairs != flow.assign({w: 3 for w in works}, judges, allowed, seed=43)


def test_assignment_proposal_conflicts_apply_and_unfilled(client: Any, demo: dict[str, int]) -> None:
    admin = headers_for(client, "demo-admin")
    made = published_works(4, 2)
    early = client.post("/api/v1/judging/assignments/proposal", json={"seed": 7}, headers=admin)
    assert (early.status_code, early.json()["code"]) == (409, "likes_not_frozen")
    early = client.post("/api/v1/judging/assignments/apply", json={"seed": 7}, headers=admin)
    assert (early.status_code, early.json()["code"]) == (409, "likes_not_frozen")
    freeze_likes()
    proposal = client.post("/api/v1/judging/assignments/proposal", json={"seed": 7}, headers=admin)
    assert proposal.status_code == 200, proposal.text
    body = proposal.json()
    assert body["seed"] == 7 and body["unfilled"] == []
    pairs = {(p["work_id"], p["judge"]) for p in body["pairs"]}
    assert Counter(w for w, _ in pairs) == {w: 3 for w in made["hebei"] + made["shanxi"]}
    # The province conflicts: 河北's judge never gets a 河北 work, 山西's never a 山西 one.
    assert not any(j == "demo-judge2" for w, j in pairs if w in made["hebei"])
    assert not any(j == "demo-judge3" for w, j in pairs if w in made["shanxi"])
    loads = Counter(j for _, j in pairs)
    # As even as the conflicts allow: 河北's judge can take only the two 山西 works, the others share the rest.
    assert loads["demo-judge2"] == 2 and {loads[j] for j in JUDGES if j != "demo-judge2"} == {4}
    assert all(p["why"] for p in body["pairs"])
    again = client.post("/api/v1/judging/assignments/proposal", json={"seed": 7}, headers=admin).json()
    assert again == body
    # Five judges per work: each work has one conflicted judge, so none can get five; each says why.
    assert _patch(client, admin, {"judges_per_work": 5}).status_code == 200
    short = client.post("/api/v1/judging/assignments/proposal", json={"seed": 7}, headers=admin).json()
    assert sorted(u["work_id"] for u in short["unfilled"]) == sorted(made["hebei"] + made["shanxi"])
    assert all("同省回避 1 名" in u["why"] for u in short["unfilled"])
    assert _patch(client, admin, {"judges_per_work": 3}).status_code == 200
    judge = headers_for(client, "demo-judge")
    assert client.post("/api/v1/judging/assignments/proposal", json={"seed": 7}, headers=judge).status_code == 403
    applied = client.post("/api/v1/judging/assignments/apply", json={"seed": 7}, headers=admin)
    assert applied.status_code == 200 and applied.json() == body
    assert client.post("/api/v1/judging/assignments/apply", json={"seed": 7}, headers=admin).status_code == 200
    other = client.post("/api/v1/judging/assignments/apply", json={"seed": 8}, headers=admin)
    assert (other.status_code, other.json()["code"]) == (409, "already_applied")
    with session_scope() as session:
        kinds = Counter(c.kind for c in session.exec(select(JudgeConflict)))
        assert kinds == {"province": 6}  # stored at apply, each audited
        assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "judging_conflict")).all()) == 6
    progress = client.get("/api/v1/judging/progress", headers=admin).json()
    assert progress["seed"] == 7 and sum(j["assigned"] for j in progress["judges"]) == 18
    assert all(w["needed"] == 3 and w["scores_in_hand"] == 0 for w in progress["works"])


def _applied(client: Any) -> tuple[dict[str, list[int]], dict[str, str]]:
    made = published_works(3, 2)
    freeze_likes()
    admin = headers_for(client, "demo-admin")
    assert client.post("/api/v1/judging/assignments/apply", json={"seed": 3}, headers=admin).status_code == 200
    return made, admin


def test_blind_scoring_saves_with_the_rev_locks_on_submit_and_unlocks_with_a_reason(
    client: Any, demo: dict[str, int],
) -> None:
    made, admin = _applied(client)
    judge = headers_for(client, "demo-judge4")
    listed = client.get("/api/v1/judging/works", headers=judge)
    assert listed.status_code == 200, listed.text
    works = listed.json()
    assert works and all(set(w) == {"id", "title", "video_url", "poster_url", "scores", "rev", "locked"}
                         for w in works)
    assert "石家庄" not in listed.text and "demo-submitter" not in listed.text and "v.mp4" not in listed.text
    assert all(f"public/{w['id']}.mp4" in w["video_url"] for w in works)
    first = works[0]["id"]
    url = f"/api/v1/judging/works/{first}/scores"
    saved = client.put(url, json={"scores": {"thought": 8}, "expected_rev": 0}, headers=judge)
    assert saved.json() == {"rev": 1}, saved.text
    stale = client.put(url, json={"scores": {"thought": 9}, "expected_rev": 0}, headers=judge)
    assert (stale.status_code, stale.json()["code"]) == (409, "stale_state")
    high = client.put(url, json={"scores": {"art": 11}, "expected_rev": 1}, headers=judge)
    assert (high.status_code, high.json()["code"], high.json()["field"]) == (422, "out_of_range", "art")
    unknown = client.put(url, json={"scores": {"charm": 1}, "expected_rev": 1}, headers=judge)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_criterion")
    others = set(made["hebei"] + made["shanxi"]) - {w["id"] for w in works}
    assert others, "five works, three judges each, five judges: nobody has them all"
    foreign = client.put(f"/api/v1/judging/works/{min(others)}/scores", json={"scores": {}, "expected_rev": 0},
                         headers=judge)
    assert foreign.status_code == 404
    incomplete = client.post("/api/v1/judging/submit", headers=judge)
    assert (incomplete.status_code, incomplete.json()["code"]) == (409, "incomplete")
    assert sorted(incomplete.json()["work_ids"]) == sorted(w["id"] for w in works)
    for work in works:
        rev = 1 if work["id"] == first else 0
        done = client.put(f"/api/v1/judging/works/{work['id']}/scores", json={"scores": FULL, "expected_rev": rev},
                          headers=judge)
        assert done.status_code == 200, done.text
    assert client.post("/api/v1/judging/submit", headers=judge).status_code == 200
    locked = client.put(url, json={"scores": FULL, "expected_rev": 2}, headers=judge)
    assert (locked.status_code, locked.json()["code"]) == (409, "locked")
    assert all(w["locked"] and w["scores"] == FULL for w in client.get("/api/v1/judging/works", headers=judge).json())
    no_reason = client.post("/api/v1/judging/judges/demo-judge4/unlock", json={"reason": " "}, headers=admin)
    assert (no_reason.status_code, no_reason.json()["code"]) == (422, "reason_required")
    assert client.post("/api/v1/judging/judges/demo-judge4/unlock", json={"reason": "复核"},
                       headers=judge).status_code == 403
    assert client.post("/api/v1/judging/judges/nobody/unlock", json={"reason": "复核"},
                       headers=admin).status_code == 404
    unlocked = client.post("/api/v1/judging/judges/demo-judge4/unlock", json={"reason": "专家申请修改"}, headers=admin)
    assert unlocked.status_code == 200, unlocked.text
    assert client.put(url, json={"scores": FULL, "expected_rev": 2}, headers=judge).json() == {"rev": 3}
    progress = {j["username"]: j for j in client.get("/api/v1/judging/progress", headers=admin).json()["judges"]}
    assert progress["demo-judge4"]["done"] == len(works) and progress["demo-judge4"]["last_active_at"]
    # Each judge has an own order: the same works in another judge's list are not simply sorted by id.
    assert client.get("/api/v1/judging/works", headers=headers_for(client, "demo-admin")).status_code == 403


def test_an_abstention_is_topped_up_and_an_admin_recusal_is_silent(client: Any, demo: dict[str, int]) -> None:
    _, admin = _applied(client)
    judge = headers_for(client, "demo-judge5")
    mine = [w["id"] for w in client.get("/api/v1/judging/works", headers=judge).json()]
    assert mine
    declared = client.post("/api/v1/judging/conflicts", json={"work_id": mine[0], "reason": "认识作者"}, headers=judge)
    assert declared.status_code == 201 and declared.json()["kind"] == "declared"
    assert mine[0] not in [w["id"] for w in client.get("/api/v1/judging/works", headers=judge).json()]
    assert client.post("/api/v1/judging/conflicts", json={"work_id": mine[0]}, headers=judge).status_code == 404
    progress = client.get("/api/v1/judging/progress", headers=admin).json()
    work = next(w for w in progress["works"] if w["work_id"] == mine[0])
    assert len(work["judges"]) == 3 and "demo-judge5" not in work["judges"]
    assert next(j for j in progress["judges"] if j["username"] == "demo-judge5")["abstained"] == 1
    with session_scope() as session:
        admin_user = session.exec(select(User).where(User.username == "demo-admin")).one()
        target = next(w for w in progress["works"] if w["work_id"] != mine[0])
        victim = target["judges"][0]
        judging.recuse(session, admin_user, target["work_id"], victim, "管理员指定")
        actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.work_id == target["work_id"]))]
        assert "judging_conflict" in actions
    after = client.get("/api/v1/judging/progress", headers=admin).json()
    moved = next(w for w in after["works"] if w["work_id"] == target["work_id"])
    assert victim not in moved["judges"]
    # Five judges, one conflicted by province at most, one recused: three remain free for most works.
    assert len(moved["judges"]) in (2, 3)
    assert next(j for j in after["judges"] if j["username"] == victim)["abstained"] == 0


def _page_login(client: Any, username: str) -> str:
    import re

    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    done = client.post("/login", data={"username": username, "password": "demo", "csrf_token": token.group(1)},
                       follow_redirects=False)
    assert done.status_code == 303, done.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/judging" if "judge" in username
                                                                         else "/judging/admin").text)
    assert found
    return found.group(1)


def test_the_pages_score_submit_and_show_progress(client: Any, demo: dict[str, int]) -> None:
    made = published_works(2, 1)
    freeze_likes()
    csrf = _page_login(client, "demo-admin")
    proposal = client.get("/judging/admin", params={"seed": 11})
    assert proposal.status_code == 200 and 'id="proposal-pairs"' in proposal.text and "负载均衡" in proposal.text
    applied = client.post("/judging/admin/apply", data={"seed": "11", "csrf_token": csrf}, follow_redirects=True)
    assert "已按随机种子 11 应用分配" in applied.text and 'id="applied-state"' in applied.text
    client.post("/logout", data={"csrf_token": csrf})
    csrf = _page_login(client, "demo-judge4")
    listing = client.get("/judging")
    assert listing.status_code == 200 and 'id="judge-works"' in listing.text
    ids = [int(i) for i in __import__("re").findall(r'data-work-id="(\d+)"', listing.text)]
    assert ids and set(ids) <= set(made["hebei"] + made["shanxi"])
    page = client.get(f"/judging/works/{ids[0]}")
    assert page.status_code == 200 and 'id="judge-player"' in page.text and "思想性" in page.text
    assert "石家庄" not in page.text and "demo-submitter" not in page.text
    form = {f"score_{k}": str(v) for k, v in FULL.items()}
    high = client.post(f"/judging/works/{ids[0]}/scores", data={**form, "score_art": "12", "expected_rev": "0",
                                                                 "csrf_token": csrf}, follow_redirects=True)
    assert "艺术性" in high.text and "之间" in high.text
    for work_id in ids:
        saved = client.post(f"/judging/works/{work_id}/scores",
                            data={**form, "expected_rev": "0", "csrf_token": csrf}, follow_redirects=True)
        assert "评分已保存" in saved.text
    submitted = client.post("/judging/submit", data={"csrf_token": csrf}, follow_redirects=True)
    assert "全部评分已提交并锁定" in submitted.text and 'id="locked-badge"' in submitted.text
    client.post("/logout", data={"csrf_token": csrf})
    csrf = _page_login(client, "demo-admin")
    unlocked = client.post("/judging/admin/judges/demo-judge4/unlock", data={"reason": "", "csrf_token": csrf},
                           follow_redirects=True)
    assert "请填写原因" in unlocked.text
    unlocked = client.post("/judging/admin/judges/demo-judge4/unlock", data={"reason": "复核", "csrf_token": csrf},
                           follow_redirects=True)
    assert "已解锁 demo-judge4 的评分" in unlocked.text
