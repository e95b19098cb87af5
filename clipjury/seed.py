"""``clipjury seed-demo``: the Hebei 2023 campaign of PRODUCT.md with the submission window open today,
its units and quotas, and the demo accounts (password ``demo``). Safe to run twice; refused in production.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlmodel import Session, select

from clipjury.accounts.models import Province, Role, Unit, UnitKind, User
from clipjury.accounts.security import hash_password
from clipjury.campaigns.models import Campaign, UnitQuota
from clipjury.settings import Environment, get_settings
from clipjury.timeutil import CAMPAIGN_TZ, utcnow

DEMO_PASSWORD = "demo"
CAMPAIGN_SLUG = "hebei-2023-demo"

HEBEI_CITIES = [
    "石家庄市", "唐山市", "秦皇岛市", "邯郸市", "邢台市", "保定市",
    "张家口市", "承德市", "沧州市", "廊坊市", "衡水市",
]
HEBEI_NEW_AREA = ["雄安新区"]
HEBEI_COUNTY_CITIES = ["定州市", "辛集市"]
HEBEI_PROVINCIAL_UNITS = [
    "省委宣传部", "省国资委", "省广播电视局", "石家庄海关", "国网河北省电力公司",
    "河北日报报业集团", "省广播电视台", "省出版传媒集团", "省广电信息网络集团", "长城新媒体集团",
]

SHANXI_UNIT = "太原市"


class SeedRefused(RuntimeError):
    pass


PRODUCTION_REFUSAL = (
    "seed-demo refuses to run in production (CLIPJURY_ENV=production): it makes accounts whose password is "
    "'demo' and made-up works"
)


def _local(day: datetime, at: time) -> datetime:
    return datetime.combine(day.date(), at, tzinfo=CAMPAIGN_TZ)


def _get_or_create_province(session: Session, code: str, name: str) -> Province:
    province = session.exec(select(Province).where(Province.code == code)).first()
    if province is None:
        province = Province(code=code, name=name)
        session.add(province)
        session.flush()
    return province


def _get_or_create_unit(session: Session, province: Province, name: str, kind: UnitKind, order: int) -> Unit:
    unit = session.exec(select(Unit).where(Unit.province_id == province.id, Unit.name == name)).first()
    if unit is None:
        unit = Unit(province_id=province.id or 0, name=name, kind=kind.value, sort_order=order)
        session.add(unit)
        session.flush()
    return unit


def seed_demo(session: Session, *, password_hash: str | None = None) -> Campaign:
    if get_settings().env == Environment.production:
        raise SeedRefused(PRODUCTION_REFUSAL)
    today = utcnow().astimezone(CAMPAIGN_TZ)

    hebei = _get_or_create_province(session, "hebei", "河北省")
    units: dict[str, Unit] = {}
    order = 0
    for names, kind in (
        (HEBEI_CITIES, UnitKind.city),
        (HEBEI_NEW_AREA, UnitKind.new_area),
        (HEBEI_COUNTY_CITIES, UnitKind.county_city),
        (HEBEI_PROVINCIAL_UNITS, UnitKind.provincial_unit),
    ):
        for name in names:
            order += 1
            units[name] = _get_or_create_unit(session, hebei, name, kind, order)

    campaign = session.exec(select(Campaign).where(Campaign.slug == CAMPAIGN_SLUG)).first()
    if campaign is None:
        # The 2023 notice's rules; its dates moved so the submission window is open today.
        opens = _local(today - timedelta(days=14), time(0, 0))
        deadline = _local(today + timedelta(days=21), time(23, 59, 59))
        campaign = Campaign(
            slug=CAMPAIGN_SLUG,
            name="“人人话保密”微视频征集评选活动（河北省 2023 演示）",
            year=2023,
            submission_opens_at=opens,
            submission_deadline=deadline,
            showcase_starts_at=_local(deadline + timedelta(days=11), time(0, 0)),
            showcase_ends_at=_local(deadline + timedelta(days=20), time(23, 59, 59)),
            report_due_at=_local(deadline + timedelta(days=49), time(0, 0)),
            forward_deadline=_local(deadline + timedelta(days=5), time(23, 59, 59)),
        )
        session.add(campaign)
        session.flush()
    # A second province, so scopes can be seen (and tested) to hold.
    shanxi = _get_or_create_province(session, "shanxi", "山西省")
    taiyuan = _get_or_create_unit(session, shanxi, SHANXI_UNIT, UnitKind.city, 1)
    units_with_quota = [*units.values(), taiyuan]
    for unit in units_with_quota:
        required = int(campaign.quota_by_kind.get(unit.kind, 0))
        quota = session.exec(
            select(UnitQuota).where(UnitQuota.campaign_id == campaign.id, UnitQuota.unit_id == unit.id)
        ).first()
        if quota is None:
            session.add(UnitQuota(campaign_id=campaign.id or 0, unit_id=unit.id or 0, required=required))

    hashed = password_hash or hash_password(DEMO_PASSWORD)
    shijiazhuang = units["石家庄市"]
    accounts: list[tuple[str, str, Role, Province | None, Unit | None]] = [
        ("demo-submitter", "演示投稿人（石家庄市）", Role.submitter, hebei, shijiazhuang),
        ("demo-coordinator", "演示联络员（石家庄市）", Role.unit_coordinator, hebei, shijiazhuang),
        ("demo-reviewer", "演示评审员（河北省）", Role.reviewer, hebei, None),
        ("demo-province-admin", "演示省级管理员（河北省）", Role.provincial_admin, hebei, None),
        ("demo-admin", "演示全国管理员", Role.national_admin, None, None),
        ("demo-judge", "演示评审专家", Role.judge, None, None),
        # Judges for the expert judging: two affiliated (an automatic conflict with their province's works).
        ("demo-judge2", "演示评审专家二（河北省）", Role.judge, hebei, None),
        ("demo-judge3", "演示评审专家三（山西省）", Role.judge, shanxi, None),
        ("demo-judge4", "演示评审专家四", Role.judge, None, None),
        ("demo-judge5", "演示评审专家五", Role.judge, None, None),
        ("demo2-submitter", "演示投稿人（太原市）", Role.submitter, shanxi, taiyuan),
        ("demo2-reviewer", "演示评审员（山西省）", Role.reviewer, shanxi, None),
        ("demo2-province-admin", "演示省级管理员（山西省）", Role.provincial_admin, shanxi, None),
    ]
    for username, display, role, home_province, home_unit in accounts:
        if session.exec(select(User).where(User.username == username)).first() is None:
            session.add(
                User(
                    username=username, display_name=display, password_hash=hashed, role=role.value,
                    province_id=home_province.id if home_province else None,
                    unit_id=home_unit.id if home_unit else None,
                )
            )
    session.flush()
    return campaign
