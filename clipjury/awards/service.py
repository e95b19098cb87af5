"""Awards on the database (issue 16 part B): gather the ranking's inputs from the judging tables and the frozen
likes snapshot, compute and store each computation as a version; adjustments, disqualifications and their
undo as further versions (no score recomputed); publication, the public results and the certificates.

The rules of the numbers live in ranking.py and versions.py (pure); this module loads, stores, checks who
may do what, and audits. Every stored version is a row of ``awards_version`` that is never edited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from clipjury.accounts.models import Province, Role, Unit, User
from clipjury.accounts.policy import require_role
from clipjury.audit.service import record
from clipjury.awards import certificates, versions
from clipjury.awards.models import AwardCertificate, AwardsPublication, AwardsVersionRecord
from clipjury.awards.policy import (
    AwardsNotComputed,
    AwardsNotPublished,
    JudgesUnfinished,
    LikesNotFrozen,
    NotAwarded,
    StaleVersion,
)
from clipjury.awards.ranking import (
    LikesSnapshot,
    RankingParams,
    RankingResult,
    ScoreRow,
    WorkEntry,
    compute_ranking,
    rubric_from_settings,
)
from clipjury.campaigns.models import Campaign
from clipjury.errors import NotFound
from clipjury.judging.models import JudgeState, JudgingAssignment
from clipjury.judging.service import snapshot_works
from clipjury.judging.settings import effective
from clipjury.reviews.service import get_work_in_scope
from clipjury.settings import get_settings
from clipjury.showcase import snapshots
from clipjury.timeutil import utcnow
from clipjury.works.models import Work


@dataclass(frozen=True)
class Inputs:
    """Everything one computation reads: the snapshot it ranks on, the works, the submitted scores."""

    snapshot_version: int
    snapshot_sha256: str
    works: list[WorkEntry]
    scores: list[ScoreRow]
    likes: LikesSnapshot


def unfinished_judges(session: Session, campaign: Campaign) -> list[str]:
    """Usernames of judges holding a live assignment who have not submitted, sorted."""
    rows = session.exec(
        select(User.username).join(JudgingAssignment, col(JudgingAssignment.judge_id) == col(User.id))
        .outerjoin(JudgeState, (col(JudgeState.judge_id) == col(User.id))
                   & (col(JudgeState.campaign_id) == col(JudgingAssignment.campaign_id)))
        .where(col(JudgingAssignment.campaign_id) == campaign.id, col(JudgingAssignment.ended_at).is_(None),
               col(JudgeState.submitted_at).is_(None))
        .distinct()
    ).all()
    return sorted(str(u) for u in rows)


def gather(session: Session, campaign: Campaign) -> Inputs:
    """The ranking's inputs; 409 ``likes_not_frozen`` before the snapshot, 409 ``judges_unfinished``."""
    snapshot = snapshots.freeze_if_due(session, campaign)
    if snapshot is None:
        raise LikesNotFrozen()
    unfinished = unfinished_judges(session, campaign)
    if unfinished:
        raise JudgesUnfinished(unfinished)
    _, works = snapshot_works(session, campaign)
    ids = {w.id for w in works if w.id is not None}
    entries = [WorkEntry(w.id, w.submitted_at or w.created_at) for w in works if w.id is not None]
    scored = session.exec(
        select(JudgingAssignment, User.username).join(User, col(User.id) == col(JudgingAssignment.judge_id))
        .where(col(JudgingAssignment.campaign_id) == campaign.id, col(JudgingAssignment.ended_at).is_(None),
               col(JudgingAssignment.complete))
        .order_by(col(JudgingAssignment.id))
    ).all()
    scores = [ScoreRow(str(name), a.work_id, {k: float(v) for k, v in a.scores.items()})
              for a, name in scored if a.work_id in ids]
    counts = {w.id: w.likes for w in snapshot.works}
    # L_ref is the largest count of the whole frozen snapshot, disqualified works included.
    likes = LikesSnapshot({k: v for k, v in counts.items() if k in ids}, max(counts.values(), default=0))
    return Inputs(snapshot.version, snapshot.sha256, entries, scores, likes)


def compute(session: Session, campaign: Campaign) -> tuple[Inputs, RankingResult]:
    """Compute (not store) the ranking on the campaign's judging settings."""
    settings = effective(campaign.judging)
    inputs = gather(session, campaign)
    result = compute_ranking(inputs.works, inputs.scores, rubric_from_settings(settings["rubric"]), inputs.likes,
                             RankingParams.from_dict(settings))
    return inputs, result


def latest_record(session: Session, campaign: Campaign) -> AwardsVersionRecord | None:
    return session.exec(
        select(AwardsVersionRecord).where(col(AwardsVersionRecord.campaign_id) == campaign.id)
        .order_by(col(AwardsVersionRecord.number).desc())
    ).first()


def record_of(session: Session, campaign: Campaign, number: int) -> AwardsVersionRecord:
    found = session.exec(
        select(AwardsVersionRecord).where(col(AwardsVersionRecord.campaign_id) == campaign.id,
                                          col(AwardsVersionRecord.number) == number)
    ).first()
    if found is None:
        raise NotFound()
    return found


def compute_and_store(session: Session, user: User, campaign: Campaign) -> AwardsVersionRecord:
    """A new computation stored as the next version (rows, breakdown, parameters, the likes snapshot's
    version and sha256), audited. National admin only."""
    require_role(user, (Role.national_admin,), "计算奖项")
    inputs, result = compute(session, campaign)
    previous = latest_record(session, campaign)
    version = versions.from_result(result, versions.version_from_dict(previous.body) if previous else None)
    stored = AwardsVersionRecord(
        campaign_id=campaign.id or 0, number=version.number, cause=version.cause,
        body=versions.version_to_dict(version), parameters=result.parameters(),
        snapshot_version=inputs.snapshot_version, snapshot_sha256=inputs.snapshot_sha256, created_by_id=user.id,
    )
    try:
        with session.begin_nested():  # two admins computing at once: the second is told so
            session.add(stored)
            session.flush()
    except IntegrityError:
        raise StaleVersion() from None
    record(session, actor=user, action="awards_compute", data={
        "version": version.number, "snapshot_version": inputs.snapshot_version, "works": len(version.rows),
    })
    return stored


# -- versions: reading, adjusting, disqualifying -----------------------------------------------------------

# Who may download a certificate: the national office, and those who submit works (their own; a unit's
# coordinator, the unit's).
CERTIFICATE_ROLES = (Role.national_admin, Role.submitter, Role.unit_coordinator)


def require_national(user: User, what: str) -> None:
    require_role(user, (Role.national_admin,), what)


_national = require_national


def _username(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    found = session.get(User, user_id)
    return found.username if found else None


def _store(session: Session, user: User | None, campaign: Campaign, version: versions.AwardsVersion,
           base: AwardsVersionRecord) -> AwardsVersionRecord:
    """A version made from ``base`` (an adjustment, a disqualification or its undo): the same parameters and
    likes snapshot. Two admins changing the same version at once: the second gets 409 ``stale_state``."""
    stored = AwardsVersionRecord(
        campaign_id=campaign.id or 0, number=version.number, cause=version.cause,
        body=versions.version_to_dict(version), parameters=base.parameters,
        snapshot_version=base.snapshot_version, snapshot_sha256=base.snapshot_sha256,
        created_by_id=user.id if user else None,
    )
    try:
        with session.begin_nested():
            session.add(stored)
            session.flush()
    except IntegrityError:
        raise StaleVersion() from None
    return stored


def _latest_or_refuse(session: Session, campaign: Campaign) -> AwardsVersionRecord:
    latest = latest_record(session, campaign)
    if latest is None:
        raise AwardsNotComputed()
    return latest


def published(session: Session, campaign: Campaign) -> AwardsPublication | None:
    """The campaign's latest publication (None: the awards were never published)."""
    return session.exec(
        select(AwardsPublication).where(col(AwardsPublication.campaign_id) == campaign.id)
        .order_by(col(AwardsPublication.id).desc())
    ).first()


def versions_list(session: Session, user: User, campaign: Campaign) -> list[dict[str, Any]]:
    """Every version, newest first: number, cause, what it was made from, when and by whom, whether public."""
    _national(user, "查看评奖结果")
    public = published(session, campaign)
    rows = session.exec(
        select(AwardsVersionRecord).where(col(AwardsVersionRecord.campaign_id) == campaign.id)
        .order_by(col(AwardsVersionRecord.number).desc())
    ).all()
    return [{
        "version": r.number, "cause": r.cause, "based_on": r.body.get("based_on"), "created_at": r.created_at,
        "created_by": _username(session, r.created_by_id), "works": len(r.body.get("rows", [])),
        "published": public is not None and public.version_number == r.number,
    } for r in rows]


def _contract_row(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("work_id", "raw_mean", "normalised", "likes", "likes_component", "final", "rank", "level", "near_tie")
    return {k: row[k] for k in keys}


def view_of(session: Session, campaign: Campaign, record_: AwardsVersionRecord) -> dict[str, Any]:
    """A stored version as the API answers it: the compute rows (the fixed contract), then everything that
    explains them (each row's breakdown, the parameters, adjustments, removals, the likes snapshot)."""
    body = record_.body
    public = published(session, campaign)
    return {
        "version": record_.number,
        "rows": [_contract_row(r) for r in body["rows"]],
        "cause": record_.cause,
        "based_on": body.get("based_on"),
        "created_at": record_.created_at,
        "created_by": _username(session, record_.created_by_id),
        "published": public is not None and public.version_number == record_.number,
        "award_levels": body["award_levels"],
        "near_tie_margin": body["near_tie_margin"],
        "parameters": record_.parameters,
        "breakdown": [{"work_id": r["work_id"], "submitted_at": r["submitted_at"],
                       "likes_scaled": r["likes_scaled"], "scores": r["scores"]} for r in body["rows"]],
        "adjustments": body.get("adjustments", []),
        "removed": [{"work_id": r["row"]["work_id"], "reason": r["reason"], "by": r["by"], "when": r["when"],
                     "row": _contract_row(r["row"])} for r in body.get("removed", [])],
        "likes_snapshot": {"version": record_.snapshot_version, "sha256": record_.snapshot_sha256},
    }


def version_view(session: Session, user: User, campaign: Campaign, number: int | None) -> dict[str, Any]:
    """``GET /api/v1/awards/versions/{number|latest}`` (national admin): 404 when there is none."""
    _national(user, "查看评奖结果")
    found = latest_record(session, campaign) if number is None else record_of(session, campaign, number)
    if found is None:
        raise NotFound("尚未计算奖项。")
    return view_of(session, campaign, found)


def diff_view(session: Session, user: User, campaign: Campaign, number: int | None,
              against: int | None) -> dict[str, Any]:
    """Who moved between ``against`` (default: the version this one was made from, else the one before)
    and ``number`` (default: the latest)."""
    _national(user, "查看评奖结果")
    new = latest_record(session, campaign) if number is None else record_of(session, campaign, number)
    if new is None:
        raise NotFound("尚未计算奖项。")
    if against is None:
        against = new.body.get("based_on") or new.number - 1
    old = record_of(session, campaign, against)
    moves = versions.diff(versions.version_from_dict(old.body), versions.version_from_dict(new.body))
    return {"version": new.number, "against": old.number, "moves": [m.as_dict() for m in moves]}


def adjust(session: Session, user: User, campaign: Campaign, work_id: int, level: str | None,
           reason: str, *, expected_version: int | None = None) -> AwardsVersionRecord:
    """One work's level changed by the national office, as a recorded row (work, from, to, reason, by, when)
    in a new version; nobody else moves. ``level`` None: no award."""
    _national(user, "调整获奖等级")
    latest = _latest_or_refuse(session, campaign)
    if expected_version is not None and expected_version != latest.number:
        raise StaleVersion()
    version = versions.adjust(versions.version_from_dict(latest.body), work_id, level, reason, user.username,
                              utcnow())
    stored = _store(session, user, campaign, version, latest)
    adjustment = version.adjustments[-1]
    record(session, actor=user, action="awards_adjust", work_id=work_id, data={
        "version": version.number, "from": adjustment.from_level, "to": adjustment.to_level,
        "reason": adjustment.reason,
    })
    return stored


def on_disqualified(session: Session, user: User, campaign: Campaign, work_id: int, reason: str,
                    when: datetime | None = None) -> AwardsVersionRecord | None:
    """Called by the review service in the disqualification's transaction: when awards were computed and the
    work is in the latest version, a new version without it (the others placed again from their stored
    numbers, no score recomputed). None when there is nothing to change."""
    latest = latest_record(session, campaign)
    if latest is None or not any(r["work_id"] == work_id for r in latest.body["rows"]):
        return None
    version = versions.disqualify(versions.version_from_dict(latest.body), work_id, reason, user.username,
                                  when or utcnow())
    stored = _store(session, user, campaign, version, latest)
    record(session, actor=user, action="awards_disqualified", work_id=work_id,
           data={"version": version.number, "reason": reason})
    return stored


def on_reinstated(session: Session, user: User, campaign: Campaign, work_id: int) -> AwardsVersionRecord | None:
    """The undo of a disqualification: when the latest version removed this work, a new version with its
    stored row back."""
    latest = latest_record(session, campaign)
    if latest is None or not any(r["row"]["work_id"] == work_id for r in latest.body.get("removed", [])):
        return None
    version = versions.reinstate(versions.version_from_dict(latest.body), work_id)
    stored = _store(session, user, campaign, version, latest)
    record(session, actor=user, action="awards_reinstated", work_id=work_id, data={"version": version.number})
    return stored


# -- publication, public results, certificates -------------------------------------------------------------

def _level_order(body: dict[str, Any]) -> dict[str, int]:
    return {lv["name"]: i for i, lv in enumerate(body["award_levels"])}


def _awarded_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows with a level, by level (the campaign's order) then rank."""
    order = _level_order(body)
    awarded = [r for r in body["rows"] if r["level"] is not None]
    return sorted(awarded, key=lambda r: (order.get(r["level"], len(order)), r["rank"] or 10**9, r["work_id"]))


def publish(session: Session, user: User, campaign: Campaign) -> tuple[AwardsPublication, int]:
    """Make the latest version public (national admin) and issue or update the certificates of its awarded
    works; a work that lost its award since an earlier publication has its certificate revoked. Publishing
    again after an adjustment publishes the newer version. Returns the publication and how many
    certificates are valid."""
    _national(user, "发布评奖结果")
    latest = _latest_or_refuse(session, campaign)
    now = utcnow()
    publication = AwardsPublication(campaign_id=campaign.id or 0, version_number=latest.number, published_at=now,
                                    published_by_id=user.id)
    session.add(publication)
    awarded = {r["work_id"]: r["level"] for r in _awarded_rows(latest.body)}
    existing = {c.work_id: c for c in session.exec(
        select(AwardCertificate).where(col(AwardCertificate.campaign_id) == campaign.id)).all()}
    secret = get_settings().secret_key.get_secret_value()
    for work_id, level in awarded.items():
        cert = existing.get(work_id)
        if cert is None:
            serial = certificates.serial_for(str(campaign.year), work_id)
            cert = AwardCertificate(campaign_id=campaign.id or 0, work_id=work_id, serial=serial,
                                    code=certificates.verification_code(serial, secret), level=level,
                                    version_number=latest.number, issued_at=now, updated_at=now)
        else:
            cert.level, cert.version_number, cert.updated_at, cert.revoked_at = level, latest.number, now, None
        session.add(cert)
    for work_id, cert in existing.items():
        if work_id not in awarded and cert.revoked_at is None:
            cert.revoked_at, cert.updated_at = now, now
            session.add(cert)
    session.flush()
    record(session, actor=user, action="awards_publish",
           data={"version": latest.number, "awarded": len(awarded)})
    return publication, len(awarded)


def _names(session: Session, work: Work) -> tuple[str, str | None]:
    province = session.get(Province, work.province_id)
    unit = session.get(Unit, work.unit_id) if work.unit_id is not None else None
    return (province.name if province else ""), (unit.name if unit else None)


def public_results(session: Session, campaign: Campaign) -> list[dict[str, Any]]:
    """The published awards (no login): the awarded works of the published version, by level then rank; an
    empty list before publication."""
    public = published(session, campaign)
    if public is None:
        return []
    body = record_of(session, campaign, public.version_number).body
    out: list[dict[str, Any]] = []
    for row in _awarded_rows(body):
        work = session.get(Work, row["work_id"])
        if work is None:
            continue
        province, unit = _names(session, work)
        out.append({"work_id": work.id, "title": work.title, "province": province, "unit": unit,
                    "level": row["level"], "rank": row["rank"]})
    return out


def certificate_of(session: Session, campaign: Campaign, work_id: int) -> AwardCertificate:
    """The valid certificate of a work: 409 ``awards_not_published`` before publication, 404 ``not_awarded``
    for a work without an award in the published version."""
    if published(session, campaign) is None:
        raise AwardsNotPublished()
    cert = session.exec(
        select(AwardCertificate).where(col(AwardCertificate.campaign_id) == campaign.id,
                                       col(AwardCertificate.work_id) == work_id,
                                       col(AwardCertificate.revoked_at).is_(None))
    ).first()
    if cert is None:
        raise NotAwarded()
    return cert


def certificate_pdf(session: Session, user: User, campaign: Campaign, work_id: int,
                    verify_base: str) -> tuple[str, bytes]:
    """The certificate of an awarded work as a PDF (filename, bytes): for the national admin, and for the
    work's submitter (a unit's coordinator: the unit's works); other roles 403 ``forbidden_role``; a work the
    caller cannot see: 404, as for a missing one."""
    require_role(user, CERTIFICATE_ROLES, "下载获奖证书")
    work = get_work_in_scope(session, user, work_id)
    if work.campaign_id != campaign.id:
        raise NotFound()
    cert = certificate_of(session, campaign, work_id)
    owner = session.get(User, work.owner_id)
    province, unit = _names(session, work)
    where = unit or province
    # A display name that already says its unit (the demo's 演示投稿人（雄安新区）) is not followed by it twice.
    authors = ((owner.display_name or owner.username) if owner else "").replace(f"（{where}）", "")
    pdf = certificates.render_pdf(certificates.Certificate(
        serial=cert.serial, code=cert.code, title=work.title, level=cert.level, campaign=campaign.name,
        authors=authors, unit=where,
        issuer=campaign.organiser, issued_on=cert.issued_at.date(),
        verify_url=f"{verify_base.rstrip('/')}/public/certificates",
    ))
    return f"certificate-{cert.serial}.pdf", pdf


def verify_certificate(session: Session, typed: str) -> dict[str, Any] | None:
    """What the public sees for a typed code: the serial, the work's title and its current level, or None
    (not a code, never issued, or revoked since)."""
    code = certificates.normalise_code(typed)
    if code is None:
        return None
    cert = session.exec(
        select(AwardCertificate).where(col(AwardCertificate.code) == code, col(AwardCertificate.revoked_at).is_(None))
    ).first()
    if cert is None:
        return None
    work = session.get(Work, cert.work_id)
    return {"serial": cert.serial, "title": work.title if work else "", "level": cert.level}


def work_labels(session: Session, work_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Title, province and unit of each work, for the national office's pages and exports."""
    labels: dict[int, dict[str, Any]] = {}
    for work_id in work_ids:
        work = session.get(Work, work_id)
        if work is None:
            continue
        province, unit = _names(session, work)
        labels[work_id] = {"title": work.title, "province": province, "unit": unit}
    return labels


@dataclass(frozen=True)
class AwardsState:
    """Where the awards stand, for the national office's page: can a computation run now, and if not why."""

    snapshot_version: int | None
    unfinished: list[str]
    latest: int | None
    published_version: int | None


def state(session: Session, user: User, campaign: Campaign) -> AwardsState:
    _national(user, "查看评奖结果")
    snapshot = snapshots.freeze_if_due(session, campaign)
    latest = latest_record(session, campaign)
    public = published(session, campaign)
    return AwardsState(
        snapshot_version=snapshot.version if snapshot else None,
        unfinished=unfinished_judges(session, campaign),
        latest=latest.number if latest else None,
        published_version=public.version_number if public else None,
    )


def awarded_levels(session: Session, campaign: Campaign, work_ids: list[int]) -> dict[int, str]:
    """The level of each of these works in the published results (valid certificates only): what a
    submitter's own list shows, with the certificate's download link."""
    if not work_ids or published(session, campaign) is None:
        return {}
    rows = session.exec(
        select(AwardCertificate).where(col(AwardCertificate.campaign_id) == campaign.id,
                                       col(AwardCertificate.work_id).in_(work_ids),
                                       col(AwardCertificate.revoked_at).is_(None))
    ).all()
    return {c.work_id: c.level for c in rows}


def report_rows(session: Session, campaign: Campaign, province_id: int | None) -> list[dict[str, Any]]:
    """The awarded works of the published version (in a province, or all), for the activity report's 获奖提名
    sheet: province, unit, work id, title, submitter and level, by level then rank. Empty before publication."""
    public = published(session, campaign)
    if public is None:
        return []
    out: list[dict[str, Any]] = []
    for row in _awarded_rows(record_of(session, campaign, public.version_number).body):
        work = session.get(Work, row["work_id"])
        if work is None or (province_id is not None and work.province_id != province_id):
            continue
        province, unit = _names(session, work)
        owner = session.get(User, work.owner_id)
        out.append({"province": province, "unit": unit or "个人投稿", "work_id": work.id, "title": work.title,
                    "submitter": (owner.display_name or owner.username) if owner else "", "level": row["level"]})
    return out
