"""Tables of the accounts domain: the province/unit hierarchy, users with one role each, and their web
sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, String
from sqlmodel import Field, SQLModel

from clipjury.db import UTCDateTime
from clipjury.timeutil import utcnow


class Role(StrEnum):
    national_admin = "national_admin"
    provincial_admin = "provincial_admin"
    reviewer = "reviewer"
    unit_coordinator = "unit_coordinator"
    submitter = "submitter"
    judge = "judge"


ROLE_LABELS: dict[Role, str] = {
    Role.national_admin: "全国管理员",
    Role.provincial_admin: "省级管理员",
    Role.reviewer: "省级评审员",
    Role.unit_coordinator: "单位联络员",
    Role.submitter: "投稿人",
    Role.judge: "评审专家",
}


class UnitKind(StrEnum):
    city = "city"  # 设区市
    new_area = "new_area"  # 雄安新区
    county_city = "county_city"  # 定州、辛集 (省直管县级市)
    provincial_unit = "provincial_unit"  # 省直单位
    other = "other"


UNIT_KIND_LABELS: dict[UnitKind, str] = {
    UnitKind.city: "设区市",
    UnitKind.new_area: "新区",
    UnitKind.county_city: "省直管县级市",
    UnitKind.provincial_unit: "省直单位",
    UnitKind.other: "其他单位",
}


class OrgKind(StrEnum):
    """The notice's "各地区、各部门": a central department forwards works to the national review as a
    province does, with its own admins and units; lists show the provinces first."""

    province = "province"
    department = "department"


ORG_KIND_LABELS: dict[OrgKind, str] = {OrgKind.province: "省（区、市）", OrgKind.department: "中央和国家机关部门"}


class Province(SQLModel, table=True):
    """A top-level organisation: a province or a central department (``kind``)."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    name: str = Field(max_length=64)
    kind: str = Field(default=OrgKind.province.value, max_length=16, sa_column_kwargs={"server_default": "province"})
    sort_order: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Unit(SQLModel, table=True):
    __tablename__ = "unit"

    id: int | None = Field(default=None, primary_key=True)
    province_id: int = Field(foreign_key="province.id", index=True)
    name: str = Field(max_length=128)
    kind: str = Field(default=UnitKind.other.value, max_length=32)
    sort_order: int = 0
    # What a submitter types to ask to join (clipjury.units.membership); rotating it ends the old one.
    join_code: str | None = Field(default=None, sa_column=Column(String(16), unique=True, nullable=True))
    # A unit with works is never deleted: it is archived (out of lists, quotas and joining), its works keep it.
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# The scope each staff role needs (clipjury.accounts.scopes): a coordinator without a unit or a reviewer
# without a province would be filtered on NULL and read what belongs to nobody. Migration 0008_scopes.
SCOPE_CHECK_NAME = "ck_app_user_role_scope"
SCOPE_CHECK_SQL = (
    "(role NOT IN ('provincial_admin', 'reviewer', 'unit_coordinator') OR province_id IS NOT NULL)"
    " AND (role <> 'unit_coordinator' OR unit_id IS NOT NULL)"
)


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    __table_args__ = (CheckConstraint(SCOPE_CHECK_SQL, name=SCOPE_CHECK_NAME),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    display_name: str = Field(default="", max_length=64)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=32, index=True)
    province_id: int | None = Field(default=None, foreign_key="province.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    # Only for the notification adapters that need them (e-mail, SMS); nothing else is collected.
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    is_active: bool = True
    # Registered people (clipjury.accounts.registration): the number encrypted (AES-GCM) for the SMS
    # notifications, and its keyed HMAC for sign-in by phone and uniqueness; staff only ever see it masked.
    phone_enc: str | None = Field(default=None, max_length=255)
    phone_hmac: str | None = Field(default=None, sa_column=Column(String(64), unique=True, nullable=True))
    # The digest of exactly the consent text shown at registration, and when it was given.
    consent_digest: str | None = Field(default=None, max_length=64)
    consented_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The inactive-account sweep reads it (CLIPJURY_INACTIVE_ACCOUNT_RETENTION_DAYS).
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set when the person deleted the account (or the sweep did): the row stays as an anonymous owner of
    # works that entered the review; everything personal on it is gone.
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Carried in every API token and web session; raising it (sign out everywhere, a new password,
    # deactivation) ends them all at once, whatever a stolen token or cookie says.
    session_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class AuthSession(SQLModel, table=True):
    """One signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a copy of
    this table lets nobody in. Ended by logout (``revoked_at``) or, with all others of the account, by a
    raised ``User.session_generation``."""

    __tablename__ = "auth_session"

    id: str = Field(sa_column=Column(String(64), primary_key=True))  # sha256 hex of the cookie's token
    user_id: int = Field(foreign_key="app_user.id", index=True)
    generation: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
