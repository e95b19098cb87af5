"""Demo works for ``clipjury seed-demo --works N`` and ``make run``: generated videos walked through
every state of a work so a newcomer's dashboards, queues and reports have something in them.

Everything goes the way real data does: the file is stored through ``storage``, becomes a version with
``works.service.add_version``, is validated and given its poster by the worker's own job functions (run
here, in-process), and every later step (submit, claim, verdict, forward, recommend, disqualify) is a
domain service call by the demo account whose job it is. Nothing writes a status.

Idempotent: work ``i`` always has the same owner, title and target; a run finds the works that exist and
takes each one on from wherever it stands, so a second run adds nothing, and a run cut short is finished
by the next.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from clipjury import decisions
from clipjury.accounts.models import Province, Role, Unit, User
from clipjury.campaigns.models import Campaign
from clipjury.db import session_scope
from clipjury.errors import DomainError
from clipjury.seed import CAMPAIGN_SLUG, DEMO_PASSWORD, PRODUCTION_REFUSAL, SeedRefused
from clipjury.settings import Environment, get_settings
from clipjury.works.models import VersionStatus, Work, WorkStatus, WorkVersion
from clipjury_cli.demo.media import Kind, MediaUnavailable, make

log = logging.getLogger(__name__)

MAX_WORKS = 500
# How long to wait for a version that a running worker (``make run``'s, say) claimed before this did.
WORKER_WAIT_S = 120.0

# The rejection reasons a demo file shows (``clipjury.media.rules.RejectionCode``). ``too_large`` is not
# among them: the upload API refuses such a file before storing a byte (413), so a too-large version only
# arises when a campaign's limit is lowered afterwards, and making one means storing 300 MiB.
REJECTED_KINDS = (Kind.empty, Kind.not_mp4, Kind.no_video_stream, Kind.too_long, Kind.corrupt)


@dataclass(frozen=True)
class Plan:
    """Where demo work ``index`` ends up, and with what file."""

    target: WorkStatus
    kind: Kind = Kind.good


# The first len(SCENARIOS) works cover every state once (so the default of ``make run`` shows them all);
# further works repeat the list from REPEAT_FROM on, the states a review actually has many of.
SCENARIOS: tuple[Plan, ...] = (
    Plan(WorkStatus.submitted),
    Plan(WorkStatus.passed),
    Plan(WorkStatus.forwarded),
    Plan(WorkStatus.recommended),
    Plan(WorkStatus.returned),
    Plan(WorkStatus.failed),
    Plan(WorkStatus.not_recommended),
    Plan(WorkStatus.disqualified),
    Plan(WorkStatus.draft),
    Plan(WorkStatus.ready, Kind.silent),
    *(Plan(WorkStatus.rejected, kind) for kind in REJECTED_KINDS),
    Plan(WorkStatus.submitted, Kind.needs_rendition),
    Plan(WorkStatus.forwarded, Kind.silent),
)
# Recommended works come often: the showcase, the judges and the awards want several of them.
REPEAT = (
    Plan(WorkStatus.submitted), Plan(WorkStatus.passed), Plan(WorkStatus.recommended),
    Plan(WorkStatus.recommended), Plan(WorkStatus.forwarded), Plan(WorkStatus.recommended),
    Plan(WorkStatus.submitted), Plan(WorkStatus.returned), Plan(WorkStatus.recommended),
    Plan(WorkStatus.rejected, Kind.too_long), Plan(WorkStatus.ready), Plan(WorkStatus.recommended),
)

# The submitters the works are spread over: the seed's two and one more per unit shown here, so the
# quotas page of both provinces has units with works. (username, display name, province code, unit name
# or None for someone who enters alone.)
SUBMITTERS: tuple[tuple[str, str, str, str | None], ...] = (
    ("demo-submitter", "", "hebei", "石家庄市"),
    ("demo2-submitter", "", "shanxi", "太原市"),
    ("demo-submitter-tangshan", "演示投稿人（唐山市）", "hebei", "唐山市"),
    ("demo-submitter-xiongan", "演示投稿人（雄安新区）", "hebei", "雄安新区"),
    ("demo2-submitter-individual", "演示投稿人（山西省，个人）", "shanxi", None),
    ("demo-submitter-dingzhou", "演示投稿人（定州市）", "hebei", "定州市"),
    ("demo-submitter-sgzw", "演示投稿人（省国资委）", "hebei", "省国资委"),
)
# Who reviews and decides in each province; the national office's admin for the re-review.
REVIEWERS = {"hebei": "demo-reviewer", "shanxi": "demo2-reviewer"}
PROVINCE_ADMINS = {"hebei": "demo-province-admin", "shanxi": "demo2-province-admin"}
NATIONAL_ADMIN = "demo-admin"

THEMES = (
    "手机里的秘密", "U盘不乱插", "朋友圈不晒文件", "涉密电脑不上网", "快递单上的信息", "会议室里的手机",
    "废旧硬盘怎么处理", "陌生人的“好意”", "打印机的记忆", "出差路上的笔记本", "微信群不是保密室",
    "扫码之前想一想", "旧手机别随手卖", "摄像头的另一面", "保密就在身边",
)


# The statuses a work passes through on its way to each target, in order. A work found anywhere else (a
# newcomer decided, returned or withdrew it since the last run) is left as it is: the demo never undoes
# what someone did with it.
_TO_REVIEW = (WorkStatus.draft, WorkStatus.processing, WorkStatus.ready, WorkStatus.submitted)
_TO_FORWARDED = (*_TO_REVIEW, WorkStatus.passed, WorkStatus.forwarded)
PATHS: dict[WorkStatus, tuple[WorkStatus, ...]] = {
    WorkStatus.draft: (WorkStatus.draft,),
    WorkStatus.rejected: (WorkStatus.draft, WorkStatus.processing, WorkStatus.rejected),
    WorkStatus.ready: (WorkStatus.draft, WorkStatus.processing, WorkStatus.ready),
    WorkStatus.submitted: _TO_REVIEW,
    WorkStatus.returned: (*_TO_REVIEW, WorkStatus.returned),
    WorkStatus.failed: (*_TO_REVIEW, WorkStatus.failed),
    WorkStatus.passed: (*_TO_REVIEW, WorkStatus.passed),
    WorkStatus.forwarded: _TO_FORWARDED,
    WorkStatus.recommended: (*_TO_FORWARDED, WorkStatus.recommended),
    WorkStatus.not_recommended: (*_TO_FORWARDED, WorkStatus.not_recommended),
    WorkStatus.disqualified: (*_TO_FORWARDED, WorkStatus.disqualified),
}


def plan_for(index: int) -> Plan:
    if index < len(SCENARIOS):
        return SCENARIOS[index]
    return REPEAT[(index - len(SCENARIOS)) % len(REPEAT)]


def title_for(index: int) -> str:
    return f"演示作品{index + 1:03d}：{THEMES[index % len(THEMES)]}"


def submitter_for(index: int) -> str:
    return SUBMITTERS[index % len(SUBMITTERS)][0]


@dataclass
class DemoReport:
    created: int = 0
    advanced: int = 0
    seconds: float = 0.0
    by_status: dict[str, int] = field(default_factory=dict)
    # Recommended works on the public showcase (their public copies made in-process).
    published: int = 0


class DemoError(RuntimeError):
    pass


def _user(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise DemoError(f"demo account {username} is missing: run `clipjury seed-demo` first")
    return user


def ensure_submitters(session: Session) -> None:
    """The extra demo submitters (password ``demo``), made as the seed makes its accounts."""
    from clipjury.accounts.security import hash_password, verify_password

    template = _user(session, "demo-submitter")
    hashed: str | None = None
    for username, display, province_code, unit_name in SUBMITTERS:
        if session.exec(select(User).where(User.username == username)).first() is not None:
            continue
        province = session.exec(select(Province).where(Province.code == province_code)).one()
        unit = None
        if unit_name is not None:
            unit = session.exec(
                select(Unit).where(Unit.province_id == province.id, Unit.name == unit_name)
            ).one()
        # The seed's hash of "demo" when it is one (tests pass a precomputed one); hashing is slow on purpose.
        if hashed is None:
            hashed = template.password_hash if verify_password(DEMO_PASSWORD, template.password_hash) else (
                hash_password(DEMO_PASSWORD)
            )
        session.add(User(
            username=username, display_name=display, password_hash=hashed, role=Role.submitter.value,
            province_id=province.id, unit_id=unit.id if unit else None,
        ))
    session.flush()


def _done(_result: object) -> None:
    """A step's answer (the work as it now stands) is read back by the next step, not here."""


def _find_work(session: Session, campaign: Campaign, owner: User, title: str) -> Work | None:
    return session.exec(
        select(Work).where(Work.campaign_id == campaign.id, Work.owner_id == owner.id, Work.title == title)
    ).first()


class _Walker:
    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    # -- one step at a time; each step is its own transaction, as a request or a job would be -----------

    def step(self, index: int) -> str | None:
        """Take work ``index`` one step towards its target: ``"created"``, ``"advanced"``, or ``None`` when
        it is there."""
        plan = plan_for(index)
        with session_scope() as session:
            campaign = session.exec(select(Campaign).where(Campaign.slug == CAMPAIGN_SLUG)).one()
            owner = _user(session, submitter_for(index))
            work = _find_work(session, campaign, owner, title_for(index))
            if work is None:
                self._create(session, owner, index)
                return "created"
            status = WorkStatus(work.status)
            if status == plan.target:
                return None
            if (status == WorkStatus.forwarded and plan.target in (WorkStatus.recommended, WorkStatus.not_recommended)
                    and campaign.national_results_published_at is not None):
                # The national results were published (by an earlier run, for the showcase): no decision
                # can be made any more, so a work added since stays forwarded.
                return None
            if status not in PATHS[plan.target]:
                log.info("demo work %s is %s, off its way to %s: left as it is", work.id, status, plan.target)
                return None
            pending = work.pending_version_id if status == WorkStatus.processing else None
            if pending is None:
                province = session.get(Province, work.province_id)
                assert province is not None
                action = self._next_action(session, work, status, plan, province, campaign)
                if action is None:
                    raise DemoError(
                        f"demo work {work.id} ({work.title}) is {status.value} and cannot reach {plan.target.value}"
                    )
                action()
                return "advanced"
        # Outside any transaction of ours, as a worker runs it: the job opens its own sessions.
        self._validate(pending)
        return "advanced"

    def _create(self, session: Session, owner: User, index: int) -> None:
        from clipjury.works import service as works

        works.create_work(
            session, owner, title=title_for(index),
            description="由 clipjury seed-demo 生成的演示作品（测试图案与提示音）。", agreed_to_rights_notice=True,
        )

    def _next_action(
        self, session: Session, work: Work, status: WorkStatus, plan: Plan, province: Province, campaign: Campaign,
    ) -> Callable[[], None] | None:
        from clipjury.reviews import service as reviews
        from clipjury.works import service as works

        work_id = work.id or 0
        code = province.code
        target = plan.target
        owner = session.get(User, work.owner_id)
        assert owner is not None
        if status == WorkStatus.draft:
            return lambda: self._upload(session, work, owner, plan, province, campaign)
        if status == WorkStatus.ready:
            return lambda: _done(works.submit(session, owner, work_id))
        if status == WorkStatus.submitted:
            reviewer = _user(session, REVIEWERS[code])
            decision = {WorkStatus.returned: "return", WorkStatus.failed: "fail"}.get(target, "pass")
            reasons = {
                "return": "开头语不完整，请补上“我在…话保密，今天我要讲的是……”后重新上传。",
                "fail": "内容与保密主题关联不够紧密。",
                "pass": "",
            }

            def decide() -> None:
                reviews.claim(session, reviewer, work_id)
                # The demo reviewer ticks every item before a pass, as the review page asks.
                ticked = [item.key for item in campaign.checklist_for(province.name)] if decision == "pass" else None
                reviews.verdict(session, reviewer, work_id, decision, reasons[decision] or None, checklist=ticked)

            return decide
        admin = _user(session, PROVINCE_ADMINS[code])
        national = _user(session, NATIONAL_ADMIN)
        if status == WorkStatus.passed and target != WorkStatus.disqualified:
            return lambda: _done(reviews.forward(session, admin, work_id))
        if status == WorkStatus.passed or (status == WorkStatus.forwarded and target == WorkStatus.disqualified):
            return lambda: _done(decisions.disqualify(
                session, national, work_id, "演示：收到著作权争议投诉，经核实取消参选资格。"
            ))
        if status == WorkStatus.forwarded and target in (WorkStatus.recommended, WorkStatus.not_recommended):
            recommended = target == WorkStatus.recommended
            reason = None if recommended else "同类题材作品较多，本作品表现力相对不足。"
            return lambda: _done(reviews.recommend(session, national, work_id, recommended, reason))
        return None

    def _upload(
        self, session: Session, work: Work, owner: User, plan: Plan, province: Province, campaign: Campaign,
    ) -> None:
        from clipjury.timeutil import utcnow
        from clipjury.uploads.objects import object_key_for
        from clipjury.works import service as works
        from storage import get_store

        kind = plan.kind
        started = utcnow()
        path = make(kind, self.scratch / f"work-{work.id}.mp4", [campaign.opening_line(province.name), work.title])
        # A fixed name per work: a retry after a crash overwrites the same object instead of leaving another.
        key = object_key_for(work.id or 0, f"demo-{work.id}")
        get_store().upload_file(key, path, content_type="video/mp4")
        works.add_version(
            session, work, actor=owner, object_key=key, size_bytes=path.stat().st_size,
            filename=f"{work.title}.mp4", upload_id=None, upload_started_at=started,
        )
        path.unlink(missing_ok=True)

    def _validate(self, version_id: int) -> None:
        """The worker's own jobs, in this process; waits when a running worker has the version already."""
        from workers.tasks import prepare_playback, validate_version

        deadline = time.monotonic() + WORKER_WAIT_S
        validate_version(version_id)
        while True:
            with session_scope() as session:
                version = session.get(WorkVersion, version_id)
                status = version.status if version else None
            if status != VersionStatus.processing:
                break
            if time.monotonic() > deadline:
                raise DemoError(f"version {version_id} is still being validated after {WORKER_WAIT_S:.0f}s")
            time.sleep(0.5)
        if status == VersionStatus.ready:
            prepare_playback(version_id)


def _step(walker: _Walker, index: int) -> str | None:
    try:
        return walker.step(index)
    except (MediaUnavailable, subprocess.SubprocessError, OSError) as exc:
        raise DemoError(f"demo work {index + 1}: could not make its video: {exc}") from exc
    except DomainError as exc:
        # E.g. the demo campaign's submission window has closed since it was seeded: say so, no traceback.
        raise DemoError(f"demo work {index + 1} ({title_for(index)}): {exc.code}: {exc.message}") from exc


def seed_demo_works(count: int, *, scratch: Path | None = None) -> DemoReport:
    """Make demo works ``0 .. count-1`` and walk each one to its target state. Call after ``seed_demo``
    has committed (the campaign and accounts must exist)."""
    if get_settings().env == Environment.production:
        raise SeedRefused(PRODUCTION_REFUSAL)
    if count < 0:
        raise DemoError("--works must be 0 or more")
    if count > MAX_WORKS:
        raise DemoError(f"--works is at most {MAX_WORKS} (each work is a generated video and a validation)")
    started = time.monotonic()
    report = DemoReport()
    with session_scope() as session:
        ensure_submitters(session)
    with tempfile.TemporaryDirectory(prefix="clipjury-demo-", dir=scratch) as tmp:
        walker = _Walker(Path(tmp))
        for index in range(count):
            steps = 0
            while (did := _step(walker, index)) is not None:
                steps += 1
                if did == "created":
                    report.created += 1
                # A work needs at most: create, upload, validate, submit, decide, forward, recommend/disqualify.
                if steps > 12:
                    raise DemoError(f"demo work {index + 1} does not settle; stopping")
            if steps:
                report.advanced += 1
    with session_scope() as session:
        campaign = session.exec(select(Campaign).where(Campaign.slug == CAMPAIGN_SLUG)).one()
        titles = {title_for(i) for i in range(count)}
        for work in session.exec(select(Work).where(Work.campaign_id == campaign.id)):
            if work.title in titles:
                report.by_status[work.status] = report.by_status.get(work.status, 0) + 1
    report.published = _publish_showcase()
    report.seconds = time.monotonic() - started
    return report


def _publish_showcase() -> int:
    """Publish the national results when the demo has recommended works, make their public copies (the
    worker's job, in this process; a no-op for a copy made already) and put them on the showcase, as the
    national office does. Returns how many are on it."""
    from clipjury.reviews import service as reviews
    from clipjury.showcase import publishing
    from workers.tasks import make_public_copy

    with session_scope() as session:
        campaign = session.exec(select(Campaign).where(Campaign.slug == CAMPAIGN_SLUG)).one()
        national = _user(session, NATIONAL_ADMIN)
        works = list(session.exec(
            select(Work).where(Work.campaign_id == campaign.id, Work.status == WorkStatus.recommended)
        ))
        if not works:
            return 0
        if campaign.national_results_published_at is None:
            reviews.publish_national_results(session, national)
        for work in works:
            publishing.ensure_entry(session, work)
        ids = [work.id or 0 for work in works]
    for work_id in ids:
        make_public_copy(work_id)
    published = 0
    for work_id in ids:
        with session_scope() as session:
            outcome = publishing.publish(session, _user(session, NATIONAL_ADMIN), work_id)
            if outcome.refusal is None:
                published += 1
            else:
                log.warning("demo work %s not published: %s", work_id, outcome.refusal.message)
    return published


def describe(report: DemoReport) -> str:
    counts = ", ".join(f"{status} {n}" for status, n in sorted(report.by_status.items()))
    return (
        f"demo works: {report.created} new, {report.advanced} moved on, in {report.seconds:.1f}s; "
        f"by status: {counts or 'none'}; on the public showcase: {report.published}"
    )
