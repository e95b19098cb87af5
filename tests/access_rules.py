"""Who may use which route on which work: the rules table behind tests/test_access_matrix.py.

The policy is written here from the product's rules (PRODUCT.md, issue 4), not read from the code under
test: ``sees`` says which works each actor may know exist, and each route's ``Rule`` says how an actor
outside the route's roles or scope is refused. ``RULES`` must name every route of the application
(``EXEMPT`` lists the few that carry no data), so a new route without a rule fails the suite.

Outcomes, in the order a route checks them:

* anonymous: the API answers 401 problem+json, a page 303 to ``/login``; public routes serve everyone;
* a work (upload, notification) outside the actor's scope: 404, byte for byte the answer for one that
  does not exist;
* a role the route does not serve: 403 (the API and most pages) or, for a page, a 303 to the actor's home;
* otherwise allowed: the GET statuses the rule names (200 by default); for a state change, anything but a
  refusal (a 409/422 from the domain means the request got through the role and scope checks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

# -- actors ----------------------------------------------------------------------------------------

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    province: str | None  # province code
    unit: str | None  # unit name


# The second submitter of 石家庄市, the coordinators of 唐山市 and 太原市 and the unit-less submitter are
# created by the test's world.
ACTORS: dict[str, Actor] = {
    "submitter": Actor("demo-submitter", "submitter", "hebei", "石家庄市"),
    "submitter_same_unit": Actor("matrix-submitter", "submitter", "hebei", "石家庄市"),
    "coordinator": Actor("demo-coordinator", "unit_coordinator", "hebei", "石家庄市"),
    "coordinator_other_unit": Actor("matrix-coordinator", "unit_coordinator", "hebei", "唐山市"),
    "reviewer": Actor("demo-reviewer", "reviewer", "hebei", None),
    "reviewer_shanxi": Actor("demo2-reviewer", "reviewer", "shanxi", None),
    "province_admin": Actor("demo-province-admin", "provincial_admin", "hebei", None),
    "national_admin": Actor("demo-admin", "national_admin", None, None),
    "judge": Actor("demo-judge", "judge", None, None),
    "submitter_shanxi": Actor("demo2-submitter", "submitter", "shanxi", "太原市"),
    # Another province's organisers: they see their own province's works, never Hebei's.
    "province_admin_shanxi": Actor("demo2-province-admin", "provincial_admin", "shanxi", None),
    "coordinator_shanxi": Actor("matrix-coordinator-sx", "unit_coordinator", "shanxi", "太原市"),
    # A submitter of no unit: its works are unit-less, which no coordinator may see.
    "submitter_no_unit": Actor("matrix-submitter-nounit", "submitter", "hebei", None),
}
ACTOR_NAMES: tuple[str, ...] = (ANONYMOUS, *ACTORS)

SUBMITTING = frozenset({"submitter", "unit_coordinator"})
PRELIMINARY = frozenset({"reviewer", "provincial_admin"})
ADMINS = frozenset({"national_admin", "provincial_admin"})
REVIEW_LISTS = frozenset({"reviewer", "provincial_admin", "national_admin", "unit_coordinator"})
QUOTA_ROLES = REVIEW_LISTS
REVIEW_PAGES = frozenset({"reviewer", "provincial_admin", "national_admin"})
REPORT_READERS = frozenset({"unit_coordinator", "provincial_admin", "national_admin"})
REPORT_EDITORS = frozenset({"unit_coordinator", "provincial_admin"})
PROVINCIAL = frozenset({"provincial_admin"})
NATIONAL = frozenset({"national_admin"})
JUDGES = frozenset({"judge"})


# -- the works of the test world -------------------------------------------------------------------

@dataclass(frozen=True)
class WorkTarget:
    owner: str  # an actor name
    status: str  # the stored status


# Statuses a work has once it entered the review (what reviewers and organisers may see).
REVIEW_STATUSES = frozenset({
    "submitted", "returned", "passed", "failed", "forwarded", "recommended", "not_recommended",
})

WORKS: dict[str, WorkTarget] = {
    "submitted": WorkTarget("submitter", "submitted"),
    "claimed": WorkTarget("submitter", "submitted"),  # claimed by demo-reviewer
    "passed": WorkTarget("submitter", "passed"),
    "failed": WorkTarget("submitter", "failed"),
    "returned": WorkTarget("submitter", "returned"),
    "forwarded": WorkTarget("submitter", "forwarded"),
    "recommended": WorkTarget("submitter", "recommended"),  # unpublished national decision
    "not_recommended": WorkTarget("submitter", "not_recommended"),  # unpublished national decision
    "disqualified": WorkTarget("submitter", "disqualified"),  # by the provincial admin, after a pass
    "draft": WorkTarget("submitter", "draft"),  # never submitted: nobody but its owner knows it
    "same_unit_other": WorkTarget("submitter_same_unit", "submitted"),
    "withdrawn": WorkTarget("submitter", "ready"),  # submitted, then withdrawn before any decision
    "unitless": WorkTarget("submitter_no_unit", "submitted"),  # a Hebei work of no unit
    # A foreign province's work in every status (decided by Shanxi's reviewer and admin).
    "shanxi": WorkTarget("submitter_shanxi", "submitted"),
    "shanxi_claimed": WorkTarget("submitter_shanxi", "submitted"),
    "shanxi_passed": WorkTarget("submitter_shanxi", "passed"),
    "shanxi_failed": WorkTarget("submitter_shanxi", "failed"),
    "shanxi_returned": WorkTarget("submitter_shanxi", "returned"),
    "shanxi_forwarded": WorkTarget("submitter_shanxi", "forwarded"),
    "shanxi_recommended": WorkTarget("submitter_shanxi", "recommended"),
    "shanxi_not_recommended": WorkTarget("submitter_shanxi", "not_recommended"),
    "shanxi_disqualified": WorkTarget("submitter_shanxi", "disqualified"),
    "shanxi_draft": WorkTarget("submitter_shanxi", "draft"),
}
UNPUBLISHED = ("recommended", "not_recommended", "shanxi_recommended", "shanxi_not_recommended")
# Unique titles: a body an actor may read never names a work the actor may not see.
TITLES: dict[str, str] = {name: f"矩阵作品{chr(ord('A') + i)}" for i, name in enumerate(WORKS)}

# Units of the world (province code, name) and who may read or report for them.
UNITS: dict[str, tuple[str, str]] = {
    "unit_own": ("hebei", "石家庄市"),
    "unit_other": ("hebei", "唐山市"),
    "unit_shanxi": ("shanxi", "太原市"),
}
# Names a body shown to the actor must not contain (other provinces', other units' data).
FOREIGN_NAMES: dict[str, tuple[str, ...]] = {
    "submitter": ("太原市", "唐山市"),
    "submitter_same_unit": ("太原市", "唐山市"),
    "coordinator": ("太原市", "唐山市"),
    "coordinator_other_unit": ("太原市", "石家庄市"),
    "reviewer": ("太原市",),
    "province_admin": ("太原市",),
    "reviewer_shanxi": ("石家庄市", "唐山市"),
    "submitter_shanxi": ("石家庄市", "唐山市"),
    "province_admin_shanxi": ("石家庄市", "唐山市"),
    "coordinator_shanxi": ("石家庄市", "唐山市"),
    "submitter_no_unit": ("太原市", "唐山市", "石家庄市"),
}
MISSING = "missing"  # an id no row has: the reference answer for "out of scope"


def sees(actor_name: str, work_name: str) -> bool:
    """Whether the actor may know the work exists (the product's visibility rules)."""
    if work_name == MISSING or actor_name == ANONYMOUS:
        return False
    actor = ACTORS[actor_name]
    work = WORKS[work_name]
    owner = ACTORS[work.owner]
    if work.owner == actor_name:
        return True
    in_review = work.status in REVIEW_STATUSES
    if actor.role == "national_admin":
        return True
    if actor.role == "provincial_admin":
        return owner.province == actor.province and (in_review or work.status == "disqualified")
    if actor.role == "reviewer":
        return owner.province == actor.province and in_review  # disqualified works leave the review
    if actor.role == "unit_coordinator":
        return owner.unit == actor.unit and owner.province == actor.province and (
            in_review or work.status == "disqualified"
        )
    return False  # submitters see their own, judges none (the judging slice assigns theirs)


def unit_in_scope(actor_name: str, unit_name: str) -> bool:
    """A coordinator its own unit, a provincial admin its province's units, the national admin all."""
    if unit_name == MISSING or actor_name == ANONYMOUS:
        return False
    actor = ACTORS[actor_name]
    province, name = UNITS[unit_name]
    if actor.role == "national_admin":
        return True
    if actor.role == "provincial_admin":
        return province == actor.province
    if actor.role == "unit_coordinator":
        return province == actor.province and name == actor.unit
    return False


def manages(actor_name: str, target: str) -> bool:
    """Account administration: the national admin every account, a provincial admin the reviewers and
    unit coordinators of its own province (the staff it invites), nobody else anyone."""
    if target == MISSING or actor_name == ANONYMOUS:
        return False
    actor, account = ACTORS[actor_name], ACTORS[target]
    if actor.role == "national_admin":
        return True
    if actor.role == "provincial_admin":
        return account.role in ("reviewer", "unit_coordinator") and account.province == actor.province
    return False


def owns(actor_name: str, target: str) -> bool:
    """Uploads and notifications of the world belong to demo-submitter; works to their owner."""
    if target == MISSING or actor_name == ANONYMOUS:
        return False
    if target in WORKS:
        return WORKS[target].owner == actor_name
    return actor_name == "submitter"


# -- outcomes --------------------------------------------------------------------------------------

class Outcome(StrEnum):
    allow = "allow"
    login = "login"  # 401 problem+json (API) or 303 to /login (pages)
    forbidden = "403"
    not_found = "404"
    home = "home"  # a page the role has no use for sends it to its home page (303)
    # A page's form refused: 303 back with the reason as a flash message, nothing changed; out of scope,
    # the same answer as for an object that does not exist.
    bounced = "bounced"
    gone = "gone"  # 404 with its own message (e.g. an attachment not of this work): the work itself is known


class Scope(StrEnum):
    none = "none"  # no object in the path
    work = "work"  # any work the actor may see (``sees``)
    own_work = "own_work"  # only the owner's works
    own_upload = "own_upload"
    own_notification = "own_notification"
    unit = "unit"  # a unit the actor may read or report for (``unit_in_scope``)
    account = "account"  # a staff account the actor manages (``manages``)


TARGETS: dict[Scope, tuple[str, ...]] = {
    Scope.none: ("-",),
    Scope.work: (*WORKS, MISSING),
    Scope.own_work: (*WORKS, MISSING),
    Scope.own_upload: ("upload", MISSING),
    Scope.own_notification: ("notification", MISSING),
    Scope.unit: (*UNITS, MISSING),
    Scope.account: ("reviewer", "reviewer_shanxi", "coordinator", MISSING),
}


@dataclass(frozen=True)
class Probe:
    """What to send: a JSON body, a form (pages add their CSRF token), raw content, extra headers, a query.
    ``{work}``, ``{upload}`` and ``{notification}`` in strings are filled with the target's id."""

    json: object = None
    form: dict[str, str] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""


Special = Callable[[str, str], Outcome | None]


@dataclass(frozen=True)
class Rule:
    kind: str  # "api", "page" or "public"
    roles: frozenset[str] | None = None  # None: every signed-in role
    scope: Scope = Scope.none
    # The role is checked before the object is looked up (403 even for a work one cannot see).
    role_first: bool = False
    wrong_role: Outcome = Outcome.forbidden  # also what a domain-level refusal (``special``) looks like
    out_of_scope: Outcome = Outcome.not_found
    ok: frozenset[int] = frozenset({200})  # what "allowed" answers to a read
    # The allowed request changes state: it runs last, on a world the next case rebuilds.
    mutates: bool = False
    # A read that shows works: its body must not show unpublished national decisions.
    shows_works: bool = False
    probe: Probe = field(default_factory=Probe)
    # Further reads of the same route (e.g. filters) held to the same rule.
    variants: tuple[str, ...] = ()
    # A fresh copy of the actor's session (the request ends it, e.g. logging out).
    own_session: bool = False
    # Domain rules finer than role and scope (e.g. who may undo whose decision): (actor, target) -> outcome.
    special: Special | None = None
    note: str = ""


def expected(rule: Rule, actor_name: str, target: str) -> Outcome:
    if actor_name == ANONYMOUS:
        return Outcome.allow if rule.kind == "public" else Outcome.login
    role = ACTORS[actor_name].role
    role_ok = rule.roles is None or role in rule.roles
    if rule.scope == Scope.none:
        in_scope = True
    elif rule.scope == Scope.work:
        in_scope = sees(actor_name, target)
    elif rule.scope == Scope.unit:
        in_scope = unit_in_scope(actor_name, target)
    elif rule.scope == Scope.account:
        in_scope = manages(actor_name, target)
    else:
        in_scope = owns(actor_name, target)
    if rule.role_first and not role_ok:
        return rule.wrong_role
    if not in_scope:
        return rule.out_of_scope
    if not role_ok:
        return rule.wrong_role
    if rule.special is not None:
        special = rule.special(actor_name, target)
        if special is not None:
            return rule.wrong_role if special == Outcome.forbidden else special
    return Outcome.allow


# -- domain rules finer than a role ----------------------------------------------------------------

# Who made the decision each world work's status rests on.
DECIDED_BY: dict[str, tuple[str, str]] = {
    "passed": ("pass", "reviewer"),
    "failed": ("fail", "reviewer"),
    "returned": ("return", "reviewer"),
    "forwarded": ("forward", "province_admin"),
    "recommended": ("recommend", "national_admin"),
    "not_recommended": ("not_recommend", "national_admin"),
    "disqualified": ("disqualify", "province_admin"),
    "shanxi_passed": ("pass", "reviewer_shanxi"),
    "shanxi_failed": ("fail", "reviewer_shanxi"),
    "shanxi_returned": ("return", "reviewer_shanxi"),
    "shanxi_forwarded": ("forward", "province_admin_shanxi"),
    "shanxi_recommended": ("recommend", "national_admin"),
    "shanxi_not_recommended": ("not_recommend", "national_admin"),
    "shanxi_disqualified": ("disqualify", "province_admin_shanxi"),
}


def _judge_has_no_such_work(actor_name: str, target: str) -> Outcome | None:
    """The probe names a work nobody is assigned: the judge's answer is the 404 of a work not assigned."""
    return Outcome.gone


def _undo_special(actor_name: str, target: str) -> Outcome | None:
    """A preliminary verdict: its reviewer or the provincial admin; a forward: the provincial admin;
    a national decision: the national admin, and for everyone else it is a forward (they do not know the
    decision exists); a disqualification: either admin. Works without a decision: nothing to undo (409)."""
    if target not in DECIDED_BY:
        return None  # 409 nothing_to_undo: got through the checks
    action, by = DECIDED_BY[target]
    role = ACTORS[actor_name].role
    if action in ("pass", "fail", "return"):
        ok = role == "provincial_admin" or (actor_name == by and role in PRELIMINARY)
    elif action == "forward":
        ok = role == "provincial_admin"
    elif action in ("recommend", "not_recommend"):
        # Outside the national office the work reads as forwarded: the provincial admin's undo reverts
        # the forwarding (and the hidden decision with it), anyone else is answered as for a forward.
        ok = role in ("national_admin", "provincial_admin")
    else:
        ok = role in ADMINS
    return None if ok else Outcome.forbidden


def _national_goes_home(actor_name: str, target: str) -> Outcome | None:
    return Outcome.home if ACTORS[actor_name].role == "national_admin" else None


def _national_creates_judges(actor_name: str, target: str) -> Outcome | None:
    """The probe creates a judge: the national office's to invite, not a province's."""
    return None if ACTORS[actor_name].role == "national_admin" else Outcome.forbidden


def _only_its_document(actor_name: str, target: str) -> Outcome | None:
    """The world's one attachment belongs to the disqualification of "disqualified"."""
    return None if target == "disqualified" else Outcome.gone


# -- the rules -------------------------------------------------------------------------------------

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
# tus metadata values are base64: "YS5tcDQ=" is "a.mp4", the work id is filled in by the test.
TUS_CREATE = {**TUS, "Upload-Length": "1000", "Upload-Metadata": "filename YS5tcDQ=,work_id {work_b64}"}

RULES: dict[tuple[str, str], Rule] = {
    # -- public ------------------------------------------------------------------------------------
    ("GET", "/healthz"): Rule("public"),
    ("POST", "/api/v1/auth/token"): Rule(
        "public", ok=frozenset({422}), probe=Probe(form={}),
        note="an empty form: 422 for everyone (logging in is the token route's whole job)",
    ),
    ("OPTIONS", "/api/v1/uploads"): Rule("public", ok=frozenset({204}), probe=Probe(headers=TUS)),
    ("OPTIONS", "/api/v1/uploads/{upload_id}"): Rule("public", ok=frozenset({204}), probe=Probe(headers=TUS)),
    ("GET", "/"): Rule("public", ok=frozenset({303})),
    ("GET", "/login"): Rule("public", ok=frozenset({200, 303})),
    # The public site (public_ui, mounted under /public): the same page for everyone, no login asked.
    ("GET", "/public/"): Rule("public"),
    # The public API (api/routes/public.py): no account read. A landline gets 422 bad_phone for everyone, so
    # the matrix sends no code and uses up no limit.
    ("GET", "/api/v1/provinces"): Rule("public"),
    ("POST", "/api/v1/public/codes"): Rule(
        "public", ok=frozenset({422}), probe=Probe(json={"phone": "010-12345678", "purpose": "register"}),
        note="a landline: 422 bad_phone for everyone",
    ),
    ("GET", "/api/v1/public/consent"): Rule("public"),
    ("POST", "/api/v1/public/register"): Rule(
        "public", ok=frozenset({422}), probe=Probe(json={
            "phone": "010-12345678", "code": "000000", "nickname": "矩阵", "password": "x", "province": "hebei",
            "consent": False,
        }), note="no consent: 422 consent_required for everyone, before any code is used",
    ),
    ("POST", "/api/v1/public/password-reset"): Rule(
        "public", ok=frozenset({422}), probe=Probe(json={"phone": "010-12345678", "code": "000000", "password": "x"}),
        note="a landline: 422 bad_phone for everyone",
    ),
    ("GET", "/public/register"): Rule("public"),
    ("GET", "/public/password-reset"): Rule("public"),
    # Only while CLIPJURY_SMS_SENDER=dev (the suite's default); production refuses that sender.
    ("GET", "/api/v1/dev/sms-outbox"): Rule("public"),
    ("POST", "/login"): Rule(
        "public", ok=frozenset({401}), probe=Probe(form={"username": "", "password": ""}),
        note="no credentials: the form again with 401, for everyone",
    ),
    ("POST", "/logout"): Rule("public", ok=frozenset({303}), own_session=True),
    ("POST", "/logout/all"): Rule(
        "public", ok=frozenset({303}), own_session=True, mutates=True,
        note="ends every session of the actor, the matrix's own too: a state change, undone by the next thaw",
    ),
    # -- the caller's own things -------------------------------------------------------------------
    ("GET", "/api/v1/auth/me"): Rule("api"),
    ("POST", "/api/v1/auth/web-session"): Rule("api", mutates=True),
    ("POST", "/api/v1/auth/delete-account"): Rule(
        "api", roles=frozenset({"submitter"}), role_first=True, mutates=True, probe=Probe(json={"password": "demo"}),
        note="staff accounts are deactivated by their admin, never deleted by themselves",
    ),
    ("GET", "/account"): Rule("page"),
    ("POST", "/account/join"): Rule(
        "page", mutates=True, ok=frozenset({303}), probe=Probe(form={"join_code": "NOPE2345"}),
        note="a refusal is a flash message on the account page, for every role",
    ),
    ("POST", "/account/delete"): Rule(
        "page", mutates=True, ok=frozenset({303}), probe=Probe(form={"password": "wrong", "confirm": "yes"}),
        note="a wrong password or a staff account: a flash message on the account page",
    ),
    ("GET", "/api/v1/works"): Rule("api", shows_works=True),
    ("POST", "/api/v1/works"): Rule(
        "api", roles=SUBMITTING, role_first=True, mutates=True, probe=Probe(json={"title": "矩阵新作品"}),
    ),
    ("GET", "/api/v1/notifications"): Rule("api"),
    ("POST", "/api/v1/notifications/{notification_id}/read"): Rule(
        "api", scope=Scope.own_notification, mutates=True,
    ),
    ("POST", "/api/v1/notifications/read-all"): Rule("api", mutates=True),
    # -- one work ----------------------------------------------------------------------------------
    ("GET", "/api/v1/works/{work_id}"): Rule("api", scope=Scope.work, shows_works=True),
    ("GET", "/api/v1/works/{work_id}/playback"): Rule("api", scope=Scope.work),
    ("GET", "/api/v1/works/{work_id}/events"): Rule("api", scope=Scope.work, shows_works=True),
    ("GET", "/api/v1/works/{work_id}/documents"): Rule("api", roles=ADMINS, scope=Scope.work, shows_works=True),
    # Integrity aids (issue 17): staff who can see the work; 202 while its fingerprint is pending.
    ("GET", "/api/v1/works/{work_id}/similar"): Rule(
        "api", roles=REVIEW_PAGES, scope=Scope.work, role_first=True, ok=frozenset({200, 202}),
    ),
    ("GET", "/api/v1/works/{work_id}/screening"): Rule("api", roles=REVIEW_PAGES, scope=Scope.work, role_first=True),
    ("POST", "/api/v1/works/{work_id}/submit"): Rule("api", scope=Scope.own_work, mutates=True),
    ("POST", "/api/v1/works/{work_id}/withdraw"): Rule("api", scope=Scope.own_work, mutates=True),
    ("PUT", "/api/v1/works/{work_id}/video"): Rule(
        "api", roles=SUBMITTING, role_first=True, scope=Scope.own_work, mutates=True,
        probe=Probe(content=b"\x00" * 64, headers={"Content-Type": "video/mp4",
                                                    "Content-Disposition": "attachment; filename=a.mp4"}),
    ),
    # -- uploads (tus) -----------------------------------------------------------------------------
    ("POST", "/api/v1/uploads"): Rule(
        "api", roles=SUBMITTING, role_first=True, scope=Scope.own_work, mutates=True, probe=Probe(headers=TUS_CREATE),
        note="a new upload for the target work (its id in Upload-Metadata); roles that cannot submit: 403 first",
    ),
    ("HEAD", "/api/v1/uploads/{upload_id}"): Rule("api", scope=Scope.own_upload, probe=Probe(headers=TUS)),
    ("PATCH", "/api/v1/uploads/{upload_id}"): Rule(
        "api", scope=Scope.own_upload, mutates=True, probe=Probe(content=b"abc", headers=OFFSET),
    ),
    ("DELETE", "/api/v1/uploads/{upload_id}"): Rule(
        "api", scope=Scope.own_upload, mutates=True, probe=Probe(headers=TUS),
    ),
    # -- the review --------------------------------------------------------------------------------
    ("GET", "/api/v1/review/works"): Rule(
        "api", roles=REVIEW_LISTS, shows_works=True,
        variants=("status=recommended", "status=not_recommended", "status=forwarded", "status=disqualified",
                  "province=shanxi", "province=hebei", "q=矩阵"),
    ),
    ("POST", "/api/v1/works/{work_id}/claim"): Rule("api", roles=PRELIMINARY, scope=Scope.work, mutates=True),
    ("POST", "/api/v1/works/{work_id}/release"): Rule("api", roles=PRELIMINARY, scope=Scope.work, mutates=True),
    ("POST", "/api/v1/works/{work_id}/verdict"): Rule(
        "api", roles=PRELIMINARY, scope=Scope.work, mutates=True,
        probe=Probe(json={"decision": "pass", "reason": "矩阵测试", "checklist": [
            "opening_line", "duration", "no_secrets", "political_direction", "lawful", "no_infringement",
            "sound_picture",
        ]}),
    ),
    ("POST", "/api/v1/works/{work_id}/forward"): Rule(
        "api", roles=frozenset({"provincial_admin"}), scope=Scope.work, mutates=True, probe=Probe(json={}),
    ),
    ("POST", "/api/v1/review/forward"): Rule(
        "api", roles=frozenset({"provincial_admin"}), scope=Scope.work, role_first=True, mutates=True,
        probe=Probe(json={"work_ids": ["{work}"]}),
        note="the target work as a one-work batch",
    ),
    ("POST", "/api/v1/works/{work_id}/recommendation"): Rule(
        "api", roles=frozenset({"national_admin"}), scope=Scope.work, mutates=True,
        probe=Probe(json={"recommended": False, "reason": "矩阵测试"}),
    ),
    ("POST", "/api/v1/review/publish"): Rule(
        "api", roles=frozenset({"national_admin"}), mutates=True,
    ),
    ("POST", "/api/v1/works/{work_id}/disqualify"): Rule(
        "api", roles=ADMINS, scope=Scope.work, mutates=True, probe=Probe(json={"reason": "矩阵测试"}),
    ),
    ("POST", "/api/v1/works/{work_id}/undo"): Rule(
        "api", roles=ADMINS | {"reviewer"}, scope=Scope.work, mutates=True,
        probe=Probe(json={"reason": "矩阵测试"}), special=_undo_special,
    ),
    ("GET", "/api/v1/review/checklist"): Rule(
        "api", roles=REVIEW_PAGES, scope=Scope.work, role_first=True, probe=Probe(query="work_id={work}"),
        note="the target work's checklist (its province's opening line); without work_id: the caller's province",
    ),
    ("GET", "/api/v1/quotas"): Rule(
        "api", roles=REVIEW_LISTS, variants=("province=shanxi", "province=hebei"),
    ),
    ("GET", "/api/v1/audit"): Rule(
        "api", roles=ADMINS, shows_works=True,
        variants=("work_id={own_recommended}", "action=recommend", "action=not_recommend", "action=create",
                  "action=withdraw"),
    ),
    # -- campaign settings: every signed-in user reads them, the national admin changes them ----------
    ("GET", "/api/v1/campaigns/current"): Rule("api"),
    ("GET", "/api/v1/campaigns"): Rule("api"),
    ("PATCH", "/api/v1/campaigns/current"): Rule(
        "api", roles=NATIONAL, mutates=True, probe=Probe(json={"revision": 1}),
        note="no change on the read revision: 200 for the national admin",
    ),
    ("POST", "/api/v1/campaigns"): Rule(
        "api", roles=NATIONAL, mutates=True, probe=Probe(json={"name": "矩阵下一届", "year": 2024}),
    ),
    # -- units, membership and organisations (clipjury.units) ---------------------------------------
    ("GET", "/api/v1/units"): Rule("api", roles=QUOTA_ROLES),
    ("POST", "/api/v1/units"): Rule(
        "api", roles=PROVINCIAL, role_first=True, mutates=True,
        probe=Probe(json={"name": "矩阵新单位", "kind": "city", "quota": 3}),
    ),
    ("PATCH", "/api/v1/units/{unit_id}"): Rule(
        "api", roles=PROVINCIAL, scope=Scope.unit, role_first=True, mutates=True, probe=Probe(json={"sort_order": 5}),
    ),
    ("DELETE", "/api/v1/units/{unit_id}"): Rule(
        "api", roles=PROVINCIAL, scope=Scope.unit, role_first=True, mutates=True,
        note="the world's units have works and accounts: 409 unit_has_works once through the checks",
    ),
    ("GET", "/api/v1/units/{unit_id}/members"): Rule("api", roles=REPORT_READERS, scope=Scope.unit, role_first=True),
    ("POST", "/api/v1/units/{unit_id}/members/approve"): Rule(
        "api", roles=REPORT_READERS, scope=Scope.unit, role_first=True, mutates=True, probe=Probe(json={"user_id": 1}),
        note="nobody asked to join: 409 not_pending once through the checks",
    ),
    ("POST", "/api/v1/units/{unit_id}/members/reject"): Rule(
        "api", roles=REPORT_READERS, scope=Scope.unit, role_first=True, mutates=True, probe=Probe(json={"user_id": 1}),
    ),
    ("POST", "/api/v1/units/{unit_id}/join-code"): Rule(
        "api", roles=REPORT_READERS, scope=Scope.unit, role_first=True, mutates=True,
    ),
    ("GET", "/api/v1/organisations"): Rule("api", roles=NATIONAL),
    ("POST", "/api/v1/organisations"): Rule(
        "api", roles=NATIONAL, mutates=True,
        probe=Probe(json={"code": "matrix-dept", "name": "矩阵部门", "kind": "department", "minimum": 5}),
    ),
    ("PATCH", "/api/v1/organisations"): Rule(
        "api", roles=NATIONAL, mutates=True, probe=Probe(json={"code": "hebei", "sort_order": 3, "minimum": 40}),
    ),
    # -- pages -------------------------------------------------------------------------------------
    # -- unit and organisation pages ---------------------------------------------------------------
    ("GET", "/units"): Rule("page", roles=ADMINS),
    ("POST", "/units"): Rule(
        "page", roles=PROVINCIAL, role_first=True, mutates=True, ok=frozenset({303}),
        probe=Probe(form={"name": "矩阵页面单位", "kind": "city"}),
    ),
    ("POST", "/units/import"): Rule(
        "page", roles=PROVINCIAL, role_first=True, mutates=True, probe=Probe(form={}),
        note="no file: the page again with the reason (422)",
    ),
    ("GET", "/units/template.xlsx"): Rule("page", roles=PROVINCIAL),
    ("GET", "/units/export.xlsx"): Rule("page", roles=PROVINCIAL),
    ("POST", "/units/{unit_id}"): Rule(
        "page", roles=PROVINCIAL, scope=Scope.unit, role_first=True, mutates=True, ok=frozenset({303}),
        probe=Probe(form={"sort_order": "7"}),
    ),
    ("POST", "/units/{unit_id}/delete"): Rule(
        "page", roles=PROVINCIAL, scope=Scope.unit, role_first=True, mutates=True, ok=frozenset({303}),
    ),
    ("GET", "/my-unit"): Rule("page", roles=frozenset({"unit_coordinator"}), ok=frozenset({303})),
    ("GET", "/units/{unit_id}/members"): Rule("page", roles=REPORT_READERS, scope=Scope.unit, role_first=True),
    ("POST", "/units/{unit_id}/members/approve"): Rule(
        "page", roles=REPORT_READERS, scope=Scope.unit, role_first=True, mutates=True, ok=frozenset({303}),
        probe=Probe(form={"user_id": "1"}),
    ),
    ("POST", "/units/{unit_id}/members/reject"): Rule(
        "page", roles=REPORT_READERS, scope=Scope.unit, role_first=True, mutates=True, ok=frozenset({303}),
        probe=Probe(form={"user_id": "1"}),
    ),
    ("POST", "/units/{unit_id}/join-code"): Rule(
        "page", roles=REPORT_READERS, scope=Scope.unit, role_first=True, mutates=True, ok=frozenset({303}),
    ),
    ("GET", "/campaign"): Rule("page", roles=NATIONAL),
    ("POST", "/campaign"): Rule(
        "page", roles=NATIONAL, mutates=True, ok=frozenset({422}), probe=Probe(form={"name": ""}),
        note="an incomplete form: the page again with the refusal beside the field, nothing saved",
    ),
    ("POST", "/campaign/next"): Rule(
        "page", roles=NATIONAL, mutates=True, ok=frozenset({422}), probe=Probe(form={"name": "", "year": "1999"}),
        note="without a name: refused, no campaign started",
    ),
    ("GET", "/organisations"): Rule("page", roles=NATIONAL),
    ("POST", "/organisations"): Rule(
        "page", roles=NATIONAL, mutates=True, ok=frozenset({303}),
        probe=Probe(form={"code": "matrix-page-dept", "name": "矩阵页面部门", "kind": "department"}),
    ),
    ("POST", "/organisations/update"): Rule(
        "page", roles=NATIONAL, mutates=True, ok=frozenset({303}), probe=Probe(form={"code": "hebei", "minimum": "9"}),
    ),
    ("GET", "/works"): Rule("page", roles=SUBMITTING, wrong_role=Outcome.home, shows_works=True),
    ("GET", "/works/new"): Rule("page", roles=SUBMITTING),
    ("POST", "/works/new"): Rule(
        "page", roles=SUBMITTING, role_first=True, ok=frozenset({422}), probe=Probe(form={"title": "矩阵"}),
        note="without the rights consent: the form again with 422, nothing created",
    ),
    ("GET", "/works/{work_id}"): Rule("page", scope=Scope.work, shows_works=True),
    ("GET", "/works/{work_id}/status"): Rule("page", scope=Scope.work, shows_works=True),
    ("POST", "/works/{work_id}/submit"): Rule("page", scope=Scope.own_work, mutates=True, ok=frozenset({303})),
    ("POST", "/works/{work_id}/withdraw"): Rule("page", scope=Scope.own_work, mutates=True, ok=frozenset({303})),
    # -- reports and exports (CSV: readable here; XLSX is the same data zipped) -----------------------
    ("GET", "/api/v1/reports/activity"): Rule(
        "api", roles=ADMINS, probe=Probe(query="format=csv"), variants=("format=xlsx",),
    ),
    ("GET", "/api/v1/reports/activities"): Rule(
        "api", roles=REPORT_READERS, scope=Scope.unit, role_first=True, probe=Probe(query="unit={unit}"),
        note="the target unit as the ?unit= filter",
    ),
    ("PUT", "/api/v1/reports/activities/{unit_id}/{activity_key}"): Rule(
        "api", roles=REPORT_EDITORS, scope=Scope.unit, role_first=True, mutates=True,
        probe=Probe(json={"sessions": 3, "participants": 120, "note": "矩阵"}),
    ),
    ("GET", "/api/v1/review/works/export"): Rule(
        "api", roles=REVIEW_LISTS, shows_works=True, probe=Probe(query="format=csv"),
        variants=("status=recommended", "status=forwarded", "format=xlsx", "format=xlsx&status=disqualified"),
    ),
    ("GET", "/api/v1/quotas/export"): Rule(
        "api", roles=QUOTA_ROLES, probe=Probe(query="format=csv"), variants=("format=xlsx",),
    ),
    ("GET", "/reports"): Rule("page", roles=REPORT_READERS),
    ("GET", "/reports/units/{unit_id}"): Rule("page", roles=REPORT_EDITORS, scope=Scope.unit, role_first=True),
    ("POST", "/reports/units/{unit_id}"): Rule(
        "page", roles=REPORT_EDITORS, scope=Scope.unit, role_first=True, ok=frozenset({422}),
        probe=Probe(form={}), note="no figures: the form again with 422, nothing saved",
    ),
    ("GET", "/reports/export/activity"): Rule(
        "page", roles=ADMINS, probe=Probe(query="format=csv"), variants=("format=xlsx",),
    ),
    ("GET", "/reports/export/quotas"): Rule(
        "page", roles=QUOTA_ROLES, probe=Probe(query="format=csv"), variants=("format=xlsx",),
    ),
    ("GET", "/reports/export/review-works"): Rule(
        "page", roles=REVIEW_LISTS, shows_works=True, probe=Probe(query="format=csv"),
        variants=("status=recommended", "status=forwarded", "format=xlsx"),
    ),
    # -- review pages ------------------------------------------------------------------------------
    ("GET", "/review"): Rule(
        "page", roles=REVIEW_PAGES, shows_works=True, special=_national_goes_home, variants=("status=forwarded",),
    ),
    ("GET", "/review/works/{work_id}"): Rule(
        "page", roles=REVIEW_PAGES, scope=Scope.work, role_first=True, shows_works=True,
    ),
    # Integrity aids (issue 17): the national office's list of similar pairs and the campaign's switches.
    ("GET", "/review/integrity"): Rule("page", roles=NATIONAL, shows_works=True, variants=("status=dismissed",)),
    ("POST", "/review/integrity/{pair_id}/dismiss"): Rule(
        "page", roles=NATIONAL, mutates=True, ok=frozenset({303}), probe=Probe(form={"reason": "矩阵"}),
        note="no pair exists in the matrix's world: the refusal is a flash message (303)",
    ),
    ("POST", "/review/integrity/switches"): Rule(
        "page", roles=NATIONAL, mutates=True, ok=frozenset({303}), probe=Probe(form={"fingerprints": "on"}),
    ),
    ("GET", "/review/works/{work_id}/documents/{decision_id}"): Rule(
        "page", roles=ADMINS, scope=Scope.work, role_first=True, ok=frozenset({303}), special=_only_its_document,
    ),
    # Decisions from a work's review page: a role the service refuses is a flash on the way back.
    ("POST", "/review/works/{work_id}/claim"): Rule(
        "page", roles=PRELIMINARY, scope=Scope.work, wrong_role=Outcome.bounced, mutates=True, probe=Probe(form={}),
    ),
    ("POST", "/review/works/{work_id}/release"): Rule(
        "page", roles=PRELIMINARY, scope=Scope.work, wrong_role=Outcome.bounced, mutates=True, probe=Probe(form={}),
    ),
    ("POST", "/review/works/{work_id}/verdict"): Rule(
        "page", roles=PRELIMINARY, scope=Scope.work, wrong_role=Outcome.bounced, mutates=True,
        probe=Probe(form={"decision": "fail", "reason": "矩阵测试"}),
    ),
    ("POST", "/review/works/{work_id}/disqualify"): Rule(
        "page", roles=ADMINS, scope=Scope.work, wrong_role=Outcome.bounced, mutates=True,
        probe=Probe(form={"reason": "矩阵测试"}),
    ),
    ("POST", "/review/works/{work_id}/undo"): Rule(
        "page", roles=ADMINS | {"reviewer"}, scope=Scope.work, wrong_role=Outcome.bounced, mutates=True,
        probe=Probe(form={"reason": "矩阵测试"}), special=_undo_special,
    ),
    # Forwarding and the national re-review: the role first (403); a work out of scope is a flash on the
    # way back to the list, the same as for a work that does not exist.
    ("GET", "/review/forward"): Rule("page", roles=PROVINCIAL, shows_works=True),
    ("POST", "/review/forward"): Rule(
        "page", roles=PROVINCIAL, scope=Scope.work, role_first=True, out_of_scope=Outcome.bounced, mutates=True,
        probe=Probe(form={"work_id": "{work}"}), note="the target work ticked",
    ),
    ("POST", "/review/forward/{work_id}/undo"): Rule(
        "page", roles=PROVINCIAL, scope=Scope.work, role_first=True, out_of_scope=Outcome.bounced, mutates=True,
        probe=Probe(form={"reason": "矩阵测试"}),
    ),
    ("GET", "/review/national"): Rule("page", roles=NATIONAL, shows_works=True),
    ("POST", "/review/national/{work_id}/recommendation"): Rule(
        "page", roles=NATIONAL, scope=Scope.work, role_first=True, out_of_scope=Outcome.bounced, mutates=True,
        probe=Probe(form={"recommended": "0", "reason": "矩阵测试"}),
    ),
    ("POST", "/review/national/{work_id}/undo"): Rule(
        "page", roles=NATIONAL, scope=Scope.work, role_first=True, out_of_scope=Outcome.bounced, mutates=True,
        probe=Probe(form={"reason": "矩阵测试"}),
    ),
    ("POST", "/review/national/publish"): Rule("page", roles=NATIONAL, mutates=True, ok=frozenset({303})),
    # 公开展示 beside the status: the national office's; a refusal (not recommended) is a flash on the way back.
    ("POST", "/review/national/{work_id}/showcase/publish"): Rule(
        "page", roles=NATIONAL, scope=Scope.work, role_first=True, out_of_scope=Outcome.bounced, mutates=True,
        probe=Probe(form={}),
    ),
    ("POST", "/review/national/{work_id}/showcase/withdraw"): Rule(
        "page", roles=NATIONAL, scope=Scope.work, role_first=True, out_of_scope=Outcome.bounced, mutates=True,
        probe=Probe(form={}),
    ),
    ("GET", "/dashboard"): Rule("page", roles=QUOTA_ROLES, variants=("province=shanxi", "province=hebei")),
    ("GET", "/notifications"): Rule("page"),
    ("POST", "/notifications/read-all"): Rule("page", mutates=True, ok=frozenset({303})),
    ("POST", "/notifications/{notification_id}/read"): Rule(
        "page", scope=Scope.own_notification, mutates=True, ok=frozenset({303}),
    ),
    # The page and GET /api/v1/audit share their rules (clipjury.audit.query.audit_query): a work the admin
    # may not see is a 404 and another province a 403 there too (tests/test_audit_query.py).
    ("GET", "/audit"): Rule(
        "page", roles=ADMINS, shows_works=True,
        variants=("work={own_recommended}", "action=create", "action=withdraw"),
    ),
    # -- staff accounts and invitations -------------------------------------------------------------
    ("GET", "/api/v1/accounts"): Rule("api", roles=ADMINS),
    ("POST", "/api/v1/accounts"): Rule(
        "api", roles=ADMINS, mutates=True, probe=Probe(json={"username": "matrix-judge", "role": "judge"}),
        special=_national_creates_judges,
    ),
    ("POST", "/api/v1/accounts/{account_id}/deactivate"): Rule(
        "api", roles=ADMINS, scope=Scope.account, role_first=True, mutates=True,
    ),
    ("POST", "/api/v1/accounts/{account_id}/reactivate"): Rule(
        "api", roles=ADMINS, scope=Scope.account, role_first=True, mutates=True,
    ),
    ("POST", "/api/v1/accounts/{account_id}/invite"): Rule(
        "api", roles=ADMINS, scope=Scope.account, role_first=True, mutates=True,
    ),
    ("POST", "/api/v1/invites/{token}"): Rule(
        "public", ok=frozenset({404}), probe=Probe(json={"password": "matrix-password-1"}),
        note="the link is the credential: an unknown token is 404 invite_not_found for everyone",
    ),
    ("GET", "/accounts"): Rule("page", roles=ADMINS),
    ("POST", "/accounts"): Rule(
        "page", roles=ADMINS, mutates=True, probe=Probe(form={"username": "matrix-judge", "role": "judge"}),
        special=_national_creates_judges,
    ),
    ("POST", "/accounts/{account_id}/deactivate"): Rule(
        "page", roles=ADMINS, scope=Scope.account, role_first=True, mutates=True, ok=frozenset({303}),
    ),
    ("POST", "/accounts/{account_id}/reactivate"): Rule(
        "page", roles=ADMINS, scope=Scope.account, role_first=True, mutates=True, ok=frozenset({303}),
    ),
    ("POST", "/accounts/{account_id}/invite"): Rule(
        "page", roles=ADMINS, scope=Scope.account, role_first=True, mutates=True,
    ),
    # -- the showcase (issue 15 part A): publishing is the national office's; the gallery is public --------
    ("POST", "/api/v1/showcase/works/{work_id}/publish"): Rule(
        "api", roles=NATIONAL, scope=Scope.work, role_first=True, mutates=True,
        note="the national admin gets through to the domain's 409 (not recommended, results not published)",
    ),
    ("POST", "/api/v1/showcase/works/{work_id}/withdraw"): Rule(
        "api", roles=NATIONAL, scope=Scope.work, role_first=True, mutates=True,
    ),
    ("GET", "/api/v1/showcase/works"): Rule("public", variants=("province=hebei", "limit=5&offset=1")),
    ("GET", "/public/showcase"): Rule("public", variants=("province=hebei", "page=2")),
    # A work page: public; none of the matrix's works is on the showcase, so 404 for everyone.
    ("GET", "/public/showcase/works/{work_id}"): Rule("public", ok=frozenset({404}), scope=Scope.work),
    # -- the showcase's likes (issue 15 part B) -------------------------------------------------------
    # A voter signs in with a phone code; a landline is 422 bad_phone for everyone, so no code is used.
    ("POST", "/api/v1/public/sessions"): Rule(
        "public", ok=frozenset({422}),
        probe=Probe(json={"phone": "010-12345678", "code": "123456", "nickname": "矩阵", "consent": True}),
        note="a landline: 422 bad_phone for everyone",
    ),
    # Only a voter token likes: no staff or submitter login is read there, so every actor of the matrix (none is
    # a voter) gets 401, whatever the work. tests/test_likes.py holds the voter's side.
    ("PUT", "/api/v1/showcase/works/{work_id}/like"): Rule(
        "public", ok=frozenset({401}), note="a staff or submitter token is not a voter token: 401, nothing changes",
    ),
    ("GET", "/api/v1/showcase/works/{work_id}/like"): Rule("public", ok=frozenset({401})),
    # The matrix's campaign has no closed window: the national admin's read is 409 not_frozen.
    ("GET", "/api/v1/campaigns/current/likes-snapshot"): Rule("api", roles=NATIONAL, ok=frozenset({409})),
    ("GET", "/api/v1/showcase/likes/report"): Rule("api", roles=NATIONAL),
    ("GET", "/api/v1/showcase/likes/timeline"): Rule("api", roles=NATIONAL, variants=("bucket=minute",)),
    ("POST", "/api/v1/showcase/likes/void"): Rule(
        "api", roles=NATIONAL, mutates=True, probe=Probe(json={"voter_ids": [987654], "reason": "矩阵"}),
    ),
    # The vote page: public; a work not on the showcase (none is, in the matrix's world) is 404 for everyone.
    ("GET", "/public/vote/{work_id}"): Rule("public", ok=frozenset({404}), scope=Scope.work),
    ("GET", "/showcase/likes"): Rule("page", roles=NATIONAL),
    ("POST", "/showcase/likes/void"): Rule(
        "page", roles=NATIONAL, mutates=True, ok=frozenset({303}),
        probe=Probe(form={"voter_ids": "987654", "reason": "矩阵"}),
    ),
    # -- expert judging (issue 16 part A) ------------------------------------------------------------
    # The matrix's campaign has no frozen likes snapshot: the national admin's proposal and apply are 409.
    ("POST", "/api/v1/judging/assignments/proposal"): Rule(
        "api", roles=NATIONAL, ok=frozenset({409}), probe=Probe(json={"seed": 1}),
        note="changes nothing: 409 likes_not_frozen in the matrix's world",
    ),
    ("POST", "/api/v1/judging/assignments/apply"): Rule(
        "api", roles=NATIONAL, mutates=True, probe=Probe(json={"seed": 1}),
    ),
    ("GET", "/api/v1/judging/progress"): Rule("api", roles=NATIONAL),
    ("POST", "/api/v1/judging/judges/{username}/unlock"): Rule(
        "api", roles=NATIONAL, mutates=True, probe=Probe(json={"reason": "矩阵"}),
        note="demo-judge has not submitted: 409 not_locked",
    ),
    # A judge sees only the works assigned to them (none in the matrix's world): every work is a 404.
    ("GET", "/api/v1/judging/works"): Rule("api", roles=JUDGES),
    ("PUT", "/api/v1/judging/works/{work_id}/scores"): Rule(
        "api", roles=JUDGES, scope=Scope.work, role_first=True, mutates=True,
        probe=Probe(json={"scores": {}, "expected_rev": 0}),
    ),
    ("POST", "/api/v1/judging/conflicts"): Rule(
        "api", roles=JUDGES, mutates=True, probe=Probe(json={"work_id": 987654, "reason": "矩阵"}),
        special=_judge_has_no_such_work,
    ),
    ("POST", "/api/v1/judging/submit"): Rule("api", roles=JUDGES, mutates=True),
    ("GET", "/judging"): Rule("page", roles=JUDGES),
    ("GET", "/judging/works/{work_id}"): Rule("page", roles=JUDGES, scope=Scope.work, role_first=True),
    ("POST", "/judging/works/{work_id}/scores"): Rule(
        "page", roles=JUDGES, scope=Scope.work, role_first=True, mutates=True,
        probe=Probe(form={"expected_rev": "0", "score_thought": "5"}),
    ),
    ("POST", "/judging/works/{work_id}/abstain"): Rule(
        "page", roles=JUDGES, scope=Scope.work, role_first=True, mutates=True, probe=Probe(form={"reason": "矩阵"}),
    ),
    ("POST", "/judging/submit"): Rule("page", roles=JUDGES, mutates=True, ok=frozenset({303})),
    ("GET", "/judging/admin"): Rule("page", roles=NATIONAL, variants=("seed=5",)),
    ("POST", "/judging/admin/apply"): Rule(
        "page", roles=NATIONAL, mutates=True, ok=frozenset({303}), probe=Probe(form={"seed": "1"}),
    ),
    ("POST", "/judging/admin/judges/{username}/unlock"): Rule(
        "page", roles=NATIONAL, mutates=True, ok=frozenset({303}), probe=Probe(form={"reason": "矩阵"}),
    ),
    ("POST", "/judging/admin/recusals"): Rule(
        "page", roles=NATIONAL, mutates=True, ok=frozenset({303}),
        probe=Probe(form={"work_id": "987654", "username": "demo-judge", "reason": "矩阵"}),
    ),
    # -- awards (issue 16 part B) ----------------------------------------------------------------------
    # The matrix's campaign has no frozen likes snapshot and no awards version: the national admin's compute
    # is 409 likes_not_frozen, a version 404, an adjustment and a publication 409 awards_not_computed.
    ("POST", "/api/v1/awards/compute"): Rule(
        "api", roles=NATIONAL, ok=frozenset({409}), note="changes nothing: 409 likes_not_frozen",
    ),
    ("GET", "/api/v1/awards/versions"): Rule("api", roles=NATIONAL),
    ("GET", "/api/v1/awards/versions/{version}"): Rule("api", roles=NATIONAL, ok=frozenset({404})),
    ("GET", "/api/v1/awards/versions/{version}/diff"): Rule("api", roles=NATIONAL, ok=frozenset({404})),
    ("GET", "/api/v1/awards/versions/{version}/export.xlsx"): Rule(
        "api", roles=NATIONAL, ok=frozenset({404}), variants=("names=true",)),
    ("GET", "/api/v1/awards/versions/{version}/export.csv"): Rule("api", roles=NATIONAL, ok=frozenset({404})),
    # The national office's awards page: computing is refused (likes not frozen) as a flash, nothing changes.
    ("GET", "/awards"): Rule("page", roles=NATIONAL, variants=("version=1",)),
    ("POST", "/awards/compute"): Rule("page", roles=NATIONAL, mutates=True, ok=frozenset({303})),
    ("POST", "/awards/adjust"): Rule(
        "page", roles=NATIONAL, mutates=True, ok=frozenset({303}),
        probe=Probe(form={"work_id": "987654", "level": "一等奖", "reason": "矩阵", "expected_version": "1"}),
    ),
    ("POST", "/awards/publish"): Rule("page", roles=NATIONAL, mutates=True, ok=frozenset({303})),
    ("POST", "/api/v1/awards/adjustments"): Rule(
        "api", roles=NATIONAL, ok=frozenset({409}),
        probe=Probe(json={"work_id": 987654, "level": "一等奖", "reason": "矩阵"}),
        note="changes nothing: 409 awards_not_computed",
    ),
    ("POST", "/api/v1/awards/publish"): Rule(
        "api", roles=NATIONAL, ok=frozenset({409}), note="changes nothing: 409 awards_not_computed",
    ),
    # The national office, and those who submit (their own works; a coordinator, the unit's): 409
    # awards_not_published in the matrix's world; other roles 403 first.
    ("GET", "/api/v1/awards/certificates/{work_id}.pdf"): Rule(
        "api", roles=NATIONAL | SUBMITTING, scope=Scope.work, role_first=True, ok=frozenset({409}),
    ),
    ("GET", "/api/v1/awards/organising"): Rule(
        "api", roles=NATIONAL, variants=("scope=province&province=hebei",)),
    ("POST", "/api/v1/awards/organising/decisions"): Rule(
        "api", roles=NATIONAL, ok=frozenset({404}),
        probe=Probe(json={"scope": "national", "organisation_id": 987654, "awarded": True, "reason": "矩阵"}),
        note="changes nothing: no such organisation",
    ),
    # 附件2 nominations: every matrix coordinator is a city's (石家庄市, 唐山市, 太原市).
    ("GET", "/api/v1/nominations"): Rule("api", roles=REPORT_READERS),
    ("POST", "/api/v1/nominations"): Rule(
        "api", roles=frozenset({"unit_coordinator"}), mutates=True, ok=frozenset({201}),
        probe=Probe(json={"office": "矩阵县保密办", "write_up": "矩阵推荐材料"}),
    ),
    ("PUT", "/api/v1/nominations/{nomination_id}"): Rule(
        "api", roles=frozenset({"unit_coordinator"}), ok=frozenset({404}),
        probe=Probe(json={"office": "矩阵县保密办", "write_up": "矩阵推荐材料"}),
    ),
    ("DELETE", "/api/v1/nominations/{nomination_id}"): Rule(
        "api", roles=frozenset({"unit_coordinator"}), ok=frozenset({404}),
    ),
    ("GET", "/awards/organising"): Rule("page", roles=NATIONAL, variants=("province=hebei",)),
    ("POST", "/awards/organising/decide"): Rule(
        "page", roles=NATIONAL, ok=frozenset({303}),
        probe=Probe(form={"organisation_id": "987654", "awarded": "yes", "reason": "矩阵"}),
    ),
    ("GET", "/nominations"): Rule("page", roles=REPORT_READERS),
    ("POST", "/nominations"): Rule(
        "page", roles=frozenset({"unit_coordinator"}), mutates=True, ok=frozenset({303}),
        probe=Probe(form={"office": "矩阵县保密办", "write_up": "矩阵推荐材料"}),
    ),
    ("POST", "/nominations/{nomination_id}"): Rule(
        "page", roles=frozenset({"unit_coordinator"}), ok=frozenset({303}),
        probe=Probe(form={"office": "矩阵县保密办", "write_up": "矩阵推荐材料"}),
    ),
    ("POST", "/nominations/{nomination_id}/delete"): Rule(
        "page", roles=frozenset({"unit_coordinator"}), ok=frozenset({303}),
    ),
    ("GET", "/api/v1/public/results"): Rule("public"),
    ("GET", "/public/results"): Rule("public"),
    ("GET", "/public/certificates"): Rule("public", variants=("code=7M2QK-X4D9B",)),
    ("GET", "/api/v1/public/certificates/{code}"): Rule("public", ok=frozenset({404})),
    ("GET", "/invite/{token}"): Rule("public", ok=frozenset({404})),
    ("POST", "/invite/{token}"): Rule(
        "public", ok=frozenset({404}), probe=Probe(form={"password": "matrix-password-1",
                                                         "password_again": "matrix-password-1"}),
    ),
}

# Routes with no rule on purpose: they carry no data of anyone.
EXEMPT: dict[tuple[str, str], str] = {
    ("GET", "/api/openapi.json"): "the API's public schema (no data)",
    ("GET", "/api/docs"): "Swagger UI for the public schema (no data)",
    ("GET", "/api/docs/oauth2-redirect"): "Swagger UI's OAuth2 helper page (no data)",
    ("GET", "/static/vendor/{name}"): "an allow-list of front-end library files from node_modules",
    ("MOUNT", "/static"): "the UI's own CSS, JS and images",
    ("MOUNT", "/public/static"): "the public site's own CSS",
}

# Cases the application gets wrong today: each runs as its own strict xfail until the bug is fixed.
# Keyed by (method, path, actor, target). (Empty: the audit-page leak and the 422-for-403 on creating a
# work were fixed.)
KNOWN_BUGS: dict[tuple[str, str, str, str], str] = {}
