"""Issue 15 part B against the real databases and Redis: voter sign-in, the like's contract, exactly once
under concurrency, the cut at the close, the snapshot and its versions, voiding, the sweeps, tokens of
other kinds refused, and Redis down."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import col, select

from api.app import create_app
from clipjury.accounts.models import User
from clipjury.audit.models import AuditEvent
from clipjury.campaigns.service import active_campaign
from clipjury.db import session_scope
from clipjury.jobs import get_redis
from clipjury.phones import codes
from clipjury.phones.codes import Purpose
from clipjury.reviews import service as reviews
from clipjury.settings import get_settings
from clipjury.showcase import counts, likes, snapshots, voters
from clipjury.showcase.maintenance import sweep_likes, sweep_voter_retention
from clipjury.showcase.models import Like, LikesSnapshot, ShowcaseEntry, Voter
from clipjury.showcase.policy import WindowClosed
from clipjury.timeutil import utcnow
from tests.conftest import free_port, token_for
from tests.likes_support import bearer, make_voters, open_window, set_window, showcase_works

PHONE = "+8613800138000"


@pytest.fixture()
def api(demo: dict[str, int]) -> Any:
    with TestClient(create_app(), client=("198.51.100.7", 50000)) as client:
        yield client


def like_url(work_id: int) -> str:
    return f"/api/v1/showcase/works/{work_id}/like"


def db_likes(work_id: int) -> int:
    with session_scope() as session:
        return counts.like_counts(session, [work_id])[work_id]


def test_a_voter_signs_in_with_a_code_nickname_and_consent(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "otp_resend_cooldown_s", 0)
    sent = api.post("/api/v1/public/codes", json={"phone": "138 0013 8000", "purpose": "vote"})
    assert sent.status_code == 202, sent.text
    [sms] = api.get("/api/v1/dev/sms-outbox", params={"phone": PHONE}).json()
    body = {"phone": "13800138000", "code": sms["code"], "nickname": "观众甲", "consent": True}
    # Form mistakes are refused before the code is used up.
    refused = api.post("/api/v1/public/sessions", json={**body, "consent": False})
    assert (refused.status_code, refused.json()["code"]) == (422, "consent_required")
    for nickname, code in (("", "nickname_required"), ("长" * 21, "nickname_too_long"),
                           ("我的号13800138000", "nickname_invalid"), ("<b>x</b>", "nickname_invalid")):
        refused = api.post("/api/v1/public/sessions", json={**body, "nickname": nickname})
        assert (refused.status_code, refused.json()["code"]) == (422, code), nickname
    other_code = "000000" if sms["code"] != "000000" else "111111"
    wrong = api.post("/api/v1/public/sessions", json={**body, "code": other_code})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "bad_code")
    made = api.post("/api/v1/public/sessions", json=body)
    assert made.status_code == 200, made.text
    token = made.json()["access_token"]
    voter_id = voters.voter_id_of(token)
    # The code was single use.
    again = api.post("/api/v1/public/sessions", json=body)
    assert (again.status_code, again.json()["code"]) == (401, "bad_code")
    # The row holds the number's HMAC only, the nickname and the digest of the notice shown.
    with session_scope() as session:
        voter = session.get(Voter, voter_id)
        assert voter is not None and voter.nickname == "观众甲"
        assert voter.phone_hmac != PHONE and "13800138000" not in voter.phone_hmac
        assert voter.consent_digest == hashlib.sha256(voters.privacy_notice().encode()).hexdigest()
    # The same number signs in again as the same voter, with a new nickname.
    issued = codes.issue(PHONE, Purpose.vote)
    second = api.post("/api/v1/public/sessions", json={**body, "code": issued.code, "nickname": "观众乙"})
    assert voters.voter_id_of(second.json()["access_token"]) == voter_id
    # A voter token is no staff or submitter login.
    assert api.get("/api/v1/works", headers=bearer(token)).status_code == 401
    assert api.get("/api/v1/auth/me", headers=bearer(token)).json()["code"] == "invalid_token"


def test_the_like_contract(api: TestClient) -> None:
    first, second, unpublished = showcase_works(3)
    with session_scope() as session:
        entry = session.get(ShowcaseEntry, unpublished)
        assert entry is not None
        entry.published_at, entry.withdrawn_at = None, utcnow()
    [(voter_id, token)] = make_voters(1)
    # Outside the window (not set, then not yet open): 409 window_closed, nothing counted.
    assert api.put(like_url(first), headers=bearer(token)).json()["code"] == "window_closed"
    now = utcnow()
    set_window(now + timedelta(hours=1), now + timedelta(hours=2))
    early = api.put(like_url(first), headers=bearer(token))
    assert (early.status_code, early.json()["code"]) == (409, "window_closed")
    assert "开始" in early.json()["detail"]
    open_window()
    made = api.put(like_url(first), headers=bearer(token))
    assert (made.status_code, made.json()) == (201, {"liked": True, "likes": 1})
    again = api.put(like_url(first), headers=bearer(token))
    assert (again.status_code, again.json()) == (200, {"liked": True, "likes": 1})
    assert api.get(like_url(first), headers=bearer(token)).json() == {"liked": True, "likes": 1}
    assert api.get(like_url(second), headers=bearer(token)).json() == {"liked": False, "likes": 0}
    # Not on the showcase (withdrawn, never there, no such work): 404.
    for work_id in (unpublished, 987654):
        missing = api.put(like_url(work_id), headers=bearer(token))
        assert missing.status_code == 404, missing.text
    # Staff and submitter tokens, the staff cookie, forged and expired voter tokens: 401.
    for username in ("demo-submitter", "demo-admin"):
        refused = api.put(like_url(second), headers=bearer(token_for(api, username)))
        assert (refused.status_code, refused.json()["code"]) == (401, "invalid_token"), username
    assert api.put(like_url(second)).json()["code"] == "unauthorized"
    expired = voters.create_token(voter_id, utcnow() - timedelta(days=30))[0]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for bad in (expired, forged, "not-a-token"):
        assert api.put(like_url(second), headers=bearer(bad)).status_code == 401
    assert api.delete(like_url(first), headers=bearer(token)).status_code == 405  # a like is not taken back
    # After the close: 409, and the count stays.
    now = utcnow()
    set_window(now - timedelta(hours=2), now - timedelta(hours=1))
    late = api.put(like_url(second), headers=bearer(token))
    assert (late.status_code, late.json()["code"]) == (409, "window_closed")
    assert "截止" in late.json()["detail"]
    assert (db_likes(first), db_likes(second)) == (1, 0)


@pytest.mark.parametrize("devices", [12])
def test_the_same_like_from_many_devices_at_once_counts_once(demo: dict[str, int], devices: int) -> None:
    [work_id] = showcase_works(1)
    open_window()
    [(voter_id, _token)], others = make_voters(1), make_voters(devices)
    barrier = threading.Barrier(devices * 2)
    created: list[bool] = []
    errors: list[BaseException] = []

    def one(voter: int) -> None:
        try:
            barrier.wait()
            with session_scope() as session:
                campaign = active_campaign(session)
                created.append(likes.like(session, campaign, voter, work_id, address="203.0.113.9").created)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    # The same voter on `devices` devices, and `devices` other voters, all at once.
    threads = [threading.Thread(target=one, args=(voter_id,)) for _ in range(devices)]
    threads += [threading.Thread(target=one, args=(v,)) for v, _t in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(created) == [False] * (devices - 1) + [True] * (devices + 1)
    with session_scope() as session:
        rows = session.exec(select(func.count()).select_from(Like).where(col(Like.voter_id) == voter_id)).one()
    assert rows == 1
    assert db_likes(work_id) == devices + 1


def test_a_batch_answers_each_request_as_if_it_came_alone(demo: dict[str, int]) -> None:
    """The group commit: one statement and one commit for many requests, each with its own answer."""
    from concurrent.futures import Future

    from clipjury.showcase.batcher import Answer, LikeBatcher
    from clipjury.showcase.likes import LikeRequest
    from clipjury.showcase.policy import NotOnShowcase, VoterBlocked

    liked, hidden = showcase_works(2)
    with session_scope() as session:
        entry = session.get(ShowcaseEntry, hidden)
        assert entry is not None
        entry.published_at, entry.withdrawn_at = None, utcnow()
    (a, _ta), (b, _tb), (blocked, _tc), (earlier, _td) = make_voters(4)
    with session_scope() as session:
        voter = session.get(Voter, blocked)
        assert voter is not None
        voter.blocked_at = utcnow()
    open_window()
    with session_scope() as session:
        likes.like(session, active_campaign(session), earlier, liked, address="203.0.113.9")
    with session_scope() as session:
        assert counts.cached_like_counts(session, [liked]) == {liked: 1}  # the display cache holds the work
    requests = [(a, liked), (a, liked), (b, liked), (a, hidden), (blocked, liked), (earlier, liked), (a, liked)]
    batch: list[tuple[LikeRequest, Future[Answer]]] = [
        (LikeRequest(voter, work, "203.0.113.9"), Future()) for voter, work in requests
    ]
    LikeBatcher().flush(batch)
    answers: list[object] = []
    for _request, future in batch:
        error = future.exception(timeout=0)
        answers.append(type(error) if error else future.result(timeout=0))
    created = [a.created for a in answers if isinstance(a, Answer)]
    assert created == [True, False, True, False, False]  # a (first), a again, b, earlier (before), a again
    assert answers[3] is NotOnShowcase and answers[4] is VoterBlocked
    shown = [a.likes for a in answers if isinstance(a, Answer)]
    assert shown == [2, 3, 3, 3, 3]  # each new like bumped the display once, in order; the others read it
    assert db_likes(liked) == 3 and db_likes(hidden) == 0


def test_concurrent_api_likes_through_the_group_commit_count_once(api: TestClient) -> None:
    """Requests from many threads at once reach the batcher together: the same voter's duplicates count once,
    every other voter's like counts, and the answers' 201s match the rows."""
    [work_id] = showcase_works(1)
    open_window()
    people = make_voters(16)
    barrier = threading.Barrier(32)
    statuses: list[int] = []

    def one(token: str) -> None:
        barrier.wait()
        statuses.append(api.put(like_url(work_id), headers=bearer(token)).status_code)

    tokens = [people[0][1]] * 16 + [t for _v, t in people[1:]] + [people[1][1]]
    threads = [threading.Thread(target=one, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 16 + [201] * 16
    assert db_likes(work_id) == 16


def test_a_like_whose_transaction_reaches_the_close_does_not_count(demo: dict[str, int]) -> None:
    [work_id] = showcase_works(1)
    [(voter_id, _token)] = make_voters(1)
    now = utcnow()
    set_window(now - timedelta(hours=1), now - timedelta(milliseconds=1))
    # The insert ran a moment before the close (its clock said so), the commit would come after it.
    with pytest.raises(WindowClosed), session_scope() as session:
        campaign = active_campaign(session)
        likes.like(session, campaign, voter_id, work_id, address="203.0.113.9", now=now - timedelta(milliseconds=5))
    assert db_likes(work_id) == 0
    # A row made at or after the close (as if the window moved under it) is not in the snapshot.
    with session_scope() as session:
        campaign = active_campaign(session)
        session.add(Like(work_id=work_id, voter_id=voter_id, campaign_id=campaign.id or 0, created_at=now))
    monkey_settle(0)
    with session_scope() as session:
        snapshot = snapshots.freeze_if_due(session, active_campaign(session))
    assert snapshot is not None and [(w.id, w.likes) for w in snapshot.works] == [(work_id, 0)]


def monkey_settle(value: float) -> None:
    get_settings().likes_settle_s = value


@pytest.fixture(autouse=True)
def _settle_back() -> Any:
    before = get_settings().likes_settle_s
    yield
    get_settings().likes_settle_s = before


def test_the_snapshot_freezes_at_the_close_and_voiding_makes_a_new_version(api: TestClient) -> None:
    liked, quiet, disqualified = showcase_works(3)
    admin = bearer(token_for(api, "demo-admin"))
    people = make_voters(4)
    open_window()
    for _voter, token in people:
        assert api.put(like_url(liked), headers=bearer(token)).status_code == 201
    assert api.put(like_url(disqualified), headers=bearer(people[0][1])).status_code == 201
    assert api.get("/api/v1/campaigns/current/likes-snapshot", headers=admin).json()["code"] == "not_frozen"
    assert api.get("/api/v1/campaigns/current/likes-snapshot",
                   headers=bearer(token_for(api, "demo-province-admin"))).status_code == 403
    # Close the window (through the settings API, as the national office does), then disqualify a work.
    monkey_settle(0.2)
    revision = api.get("/api/v1/campaigns/current", headers=admin).json()["revision"]
    now = utcnow()
    closed = api.patch("/api/v1/campaigns/current", headers=admin, json={
        "revision": revision, "showcase_starts_at": (now - timedelta(hours=3)).isoformat(),
        "showcase_ends_at": now.isoformat(),
    })
    assert closed.status_code == 200, closed.text
    with session_scope() as session:
        padmin = session.exec(select(User).where(User.username == "demo-province-admin")).one()
        reviews.disqualify(session, padmin, disqualified, "侵权")
    answer = api.get("/api/v1/campaigns/current/likes-snapshot", headers=admin)
    assert answer.status_code == 200, answer.text
    first = answer.json()
    assert first["version"] == 1
    assert first["works"] == [{"id": liked, "likes": 4, "voided": 0}, {"id": quiet, "likes": 0, "voided": 0},
                              {"id": disqualified, "likes": 1, "voided": 0}]
    canonical = json.dumps({k: first[k] for k in ("version", "frozen_at", "works")}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == first["sha256"]
    with session_scope() as session:
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "likes_snapshot")).all()
    assert [e.data["sha256"] for e in audit] == [first["sha256"]]
    assert api.get("/api/v1/campaigns/current/likes-snapshot", headers=admin).json() == first
    # Reopening (or moving) the window is refused from now on.
    revision = api.get("/api/v1/campaigns/current", headers=admin).json()["revision"]
    reopen = api.patch("/api/v1/campaigns/current", headers=admin, json={
        "revision": revision, "showcase_ends_at": (now + timedelta(days=1)).isoformat()})
    assert (reopen.status_code, reopen.json()["code"]) == (409, "likes_frozen")
    # Voiding two voters: visible in a new version, the first untouched.
    void = api.post("/api/v1/showcase/likes/void", headers=admin,
                    json={"voter_ids": [people[0][0], people[1][0]], "reason": "同一网段批量注册"})
    assert void.status_code == 200, void.text
    assert void.json() == {"voters": 2, "likes": 3, "works": {str(liked): 2, str(disqualified): 1},
                           "snapshot_version": 2}
    second = api.get("/api/v1/campaigns/current/likes-snapshot", headers=admin).json()
    assert second["version"] == 2 and second["sha256"] != first["sha256"]
    assert second["works"] == [{"id": liked, "likes": 2, "voided": 2}, {"id": quiet, "likes": 0, "voided": 0},
                               {"id": disqualified, "likes": 0, "voided": 1}]
    with session_scope() as session:
        versions = session.exec(select(LikesSnapshot.version, LikesSnapshot.sha256)
                                .order_by(col(LikesSnapshot.version))).all()
        voids = session.exec(select(AuditEvent).where(AuditEvent.action == "likes_void")).all()
    assert versions == [(1, first["sha256"]), (2, second["sha256"])]
    assert voids[0].reason == "同一网段批量注册" and voids[0].data["likes"] == 3
    bad = api.post("/api/v1/showcase/likes/void", headers=admin, json={"voter_ids": [people[2][0]], "reason": " "})
    assert (bad.status_code, bad.json()["code"]) == (422, "reason_required")


def test_report_flags_a_crowded_network_and_voided_voters_are_blocked(
    api: TestClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "likes_network_voters", 5)
    monkeypatch.setattr(get_settings(), "likes_single_purpose_voters", 5)
    monkeypatch.setattr(get_settings(), "likes_burst_per_minute", 5)
    [work_id, other] = showcase_works(2)
    open_window()
    crowd = make_voters(6)
    for _voter, token in crowd:
        assert api.put(like_url(work_id), headers=bearer(token)).status_code == 201
    admin = bearer(token_for(api, "demo-admin"))
    found = api.get("/api/v1/showcase/likes/report", headers=admin).json()
    assert [(n["network"], n["voters"]) for n in found["networks"]] == [("198.51.100.0/24", 6)]
    assert [(b["work_id"], b["likes"]) for b in found["bursts"]] == [(work_id, 6)]
    assert [(s["work_id"], s["voters"]) for s in found["single_purpose"]] == [(work_id, 6)]
    assert found["totals"]["likes"] == 6
    timeline = api.get("/api/v1/showcase/likes/timeline?bucket=minute", headers=admin).json()
    assert sum(p["likes"] for p in timeline["points"]) == 6
    assert api.get("/api/v1/showcase/likes/timeline?bucket=day", headers=admin).status_code == 422
    ids = found["networks"][0]["voter_ids"]
    assert api.post("/api/v1/showcase/likes/void", headers=admin,
                    json={"voter_ids": ids, "reason": "刷票"}).json()["likes"] == 6
    # The display count follows at once; a blocked voter cannot like again.
    blocked = api.put(like_url(other), headers=bearer(crowd[0][1]))
    assert (blocked.status_code, blocked.json()["code"]) == (403, "voter_blocked")
    assert api.get(like_url(work_id), headers=bearer(crowd[0][1])).json()["likes"] == 0
    assert api.get("/api/v1/showcase/likes/report", headers=admin).json()["networks"] == []
    assert api.get("/api/v1/showcase/likes/report", headers=bearer(crowd[1][1])).status_code == 401


def test_the_sweeps_rebuild_counts_freeze_and_forget(demo: dict[str, int]) -> None:
    [work_id] = showcase_works(1)
    open_window()
    people = make_voters(3)
    with session_scope() as session:
        campaign = active_campaign(session)
        for voter_id, _t in people:
            likes.like(session, campaign, voter_id, work_id, address="2001:db8:1:2::7")
    with session_scope() as session:
        assert session.exec(select(Like.client_network)).first() == "2001:db8:1:2::/64"
    get_redis().flushdb()  # a Redis restart: the display cache is gone
    assert sweep_likes().reconciled == 1
    assert get_redis().hget(counts.cache_key(), str(work_id)) == b"3"
    # The close: the sweep freezes (once).
    now = utcnow()
    set_window(now - timedelta(hours=2), now - timedelta(seconds=10))
    assert sweep_likes().frozen_version == 1
    assert sweep_likes().frozen_version == 1
    # Retention: a voter idle past it is anonymised, old likes lose their addresses; the likes stay.
    settings = get_settings()
    later = utcnow() + timedelta(days=settings.voter_retention_days + 1)
    with session_scope() as session:
        report = voters.sweep_retention(session, now=later)
    assert (report.voters_erased, report.likes_addresses_blanked) == (3, 3)
    assert sweep_voter_retention().voters_erased == 0
    with session_scope() as session:
        erased = session.get(Voter, people[0][0])
        assert erased is not None and erased.nickname == "" and erased.phone_hmac.startswith("erased-")
        assert session.exec(select(Like.client_address, Like.client_network)).all() == [(None, None)] * 3
    assert db_likes(work_id) == 3


def test_redis_down_the_like_is_still_counted_and_answered(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    [work_id] = showcase_works(1)
    open_window()
    [(_a, first), (_b, second)] = make_voters(2)
    assert api.put(like_url(work_id), headers=bearer(first)).json()["likes"] == 1
    monkeypatch.setattr(get_settings(), "redis_url", f"redis://127.0.0.1:{free_port()}/0")
    made = api.put(like_url(work_id), headers=bearer(second))
    assert (made.status_code, made.json()) == (201, {"liked": True, "likes": 2})
    assert api.put(like_url(work_id), headers=bearer(second)).json() == {"liked": True, "likes": 2}
    assert db_likes(work_id) == 2


def test_limits_per_voter(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "like_limits_per_voter", "2/minute")
    works = showcase_works(3)
    open_window()
    [(_v, token)] = make_voters(1)
    assert [api.put(like_url(w), headers=bearer(token)).status_code for w in works[:2]] == [201, 201]
    refused = api.put(like_url(works[2]), headers=bearer(token))
    assert (refused.status_code, refused.json()["code"]) == (429, "too_many_likes")
    assert int(refused.headers["Retry-After"]) >= 1
    assert db_likes(works[2]) == 0
