"""The rules: who may read which tier of which case, and do what with it.

This module is the only place that knows roles, tiers and shares. Lists are filtered in the
database (an EXISTS over active shares of the reader's agencies), never in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.db.models import Case as SqlCase
from django.db.models import (
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, Least

from permissions.models import Agency, BreakGlass, Declaration, Membership, Share, Tier

if TYPE_CHECKING:
    from casework.models import Case

# A role can never read above its cap, whatever its agency's share says: volunteers and
# residents see the watch-over part only (need-to-know), agency admins manage accounts.
ROLE_TIER_CAP: dict[str, int] = {
    Membership.Role.COORDINATOR: Tier.SENSITIVE,
    Membership.Role.PROFESSIONAL: Tier.SENSITIVE,
    Membership.Role.RESIDENT: Tier.WATCH,
    Membership.Role.AGENCY_ADMIN: Tier.WATCH,
}
WRITER_ROLES = {
    Membership.Role.COORDINATOR,
    Membership.Role.PROFESSIONAL,
    Membership.Role.RESIDENT,
}
# Residents add to the timeline (visits, concerns) but do not change the case record itself.
EDITOR_ROLES = {Membership.Role.COORDINATOR, Membership.Role.PROFESSIONAL}

# Actions on a case, and what they need beyond reading it.
CASE_ACTIONS = {
    "view",
    "contribute",  # add timeline entries within one's tier
    "edit",  # change case fields within one's tier
    "manage_shares",
    "manage_consent",
    "view_audit",
    "export",
}


def _memberships(user: Any) -> list[Membership]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cache = getattr(user, "_otagai_memberships", None)
    if cache is None:
        # Sorted here rather than by the database (Membership's default order, the agency's
        # name): an ORDER BY costs more Python to compile than sorting one or two rows.
        cache = sorted(
            Membership.objects.filter(user=user, agency__is_active=True)
            .select_related("agency")
            .order_by(),
            key=lambda m: (m.agency.name, m.pk),
        )
        user._otagai_memberships = cache
    return cache


def agency_caps(user: Any) -> dict[int, int]:
    """{agency id: highest tier this user may read through that agency}."""
    caps: dict[int, int] = {}
    for m in _memberships(user):
        caps[m.agency_id] = max(caps.get(m.agency_id, 0), ROLE_TIER_CAP[m.role])
    return caps


def agency_ids(user: Any) -> list[int]:
    return list(agency_caps(user))


def primary_agency_id(user: Any) -> int | None:
    ms = _memberships(user)
    return ms[0].agency_id if ms else None


def roles(user: Any) -> set[str]:
    return {m.role for m in _memberships(user)}


def is_coordinator(user: Any) -> bool:
    return Membership.Role.COORDINATOR in roles(user)


def active_shares_for(user: Any) -> QuerySet[Share]:
    return Share.objects.filter(Share.active_q(), agency_id__in=agency_ids(user))


def _effective_tier_expression(caps: dict[int, int]) -> Any:
    whens = [When(agency_id=aid, then=Least(F("tier"), Value(cap))) for aid, cap in caps.items()]
    return SqlCase(*whens, default=Value(0), output_field=IntegerField())


def _share_tier(shares: QuerySet[Share], caps: dict[int, int], *, visible: bool) -> Any:
    """The reader's tier on the outer case through `shares`: the highest share tier, each
    capped by the role the reader holds in that agency (NULL without a share).

    `visible`: the outer case is known to have one of `shares` (the share path alone); a
    reader capped at the watch tier (residents, agency administrators) then reads it at
    exactly that tier, with no subquery at all. A share is one row per case and agency
    (`share_unique_case_agency`), so a reader of one agency has at most one share per case:
    its tier, capped, with no CASE and no ORDER BY to build and compile (~0.3 ms of CPU less
    per list page)."""
    if visible and max(caps.values()) <= Tier.WATCH:
        return Value(int(Tier.WATCH), output_field=IntegerField())
    if len(caps) == 1:
        (cap,) = caps.values()
        eff: Any = F("tier") if cap >= Tier.SENSITIVE else Least(F("tier"), Value(cap))
        one: Any = shares.order_by().annotate(eff=eff).values("eff")[:1]
    else:
        eff = _effective_tier_expression(caps)
        one = shares.annotate(eff=eff).order_by("-eff").values("eff")[:1]
    return Subquery(one, output_field=IntegerField())


@dataclass(frozen=True)
class CaseScope:
    """What decides which cases a reader sees right now: the tier cap of each of their
    agencies, and the emergency paths open to them. Taken once per request and passed along,
    so that a list and its count agree and the emergency check runs once."""

    caps: dict[int, int]
    glass_active: bool = False
    declared: Q | None = None

    @property
    def shares_only(self) -> bool:
        """Only shares open cases to this reader: a count on the shares alone is exact."""
        return not self.glass_active and self.declared is None


def case_scope(user: Any) -> CaseScope:
    """The reader's scope: memberships (cached on the user) and at most one small query."""
    caps = agency_caps(user)
    if not caps:
        return CaseScope(caps={})
    glass_active, declared = _emergency_paths(user, caps)
    return CaseScope(caps=caps, glass_active=glass_active, declared=declared)


def cases_visible_to(user: Any, scope: CaseScope | None = None) -> QuerySet[Case]:
    """Every case the user may read, annotated with `reader_tier`. No filter ≠ everything.

    `scope` is `case_scope(user)` taken earlier in the same request (it is taken here if not
    given)."""
    from casework.models import Case

    scope = scope or case_scope(user)
    caps = scope.caps
    if not caps:
        return Case.objects.none()
    shares = Share.objects.filter(Share.active_q(), case=OuterRef("pk"), agency_id__in=list(caps))
    if scope.shares_only:
        # The usual case: the share path alone, so that the planner keeps its semi-join.
        return Case.objects.filter(Exists(shares)).annotate(
            reader_tier=_share_tier(shares, caps, visible=True)
        )
    # Emergencies (see below): an active break-glass of this user, and a declared disaster
    # for a designated supporter. Both stay in the same query, filtered in the database.
    declared = scope.declared
    glass = _break_glass_qs(user, caps).filter(case=OuterRef("pk"))
    glass_tier = glass.annotate(eff=_effective_tier_expression(caps)).order_by("-eff")
    visible = Q(Exists(shares)) | Q(Exists(glass))
    tiers: list[Any] = [
        Coalesce(_share_tier(shares, caps, visible=False), Value(0)),
        Coalesce(Subquery(glass_tier.values("eff")[:1], output_field=IntegerField()), Value(0)),
    ]
    via_declaration: Any = Value(False)
    if declared is not None:
        visible |= declared
        tiers.append(SqlCase(When(declared, then=Value(int(DECLARATION_TIER))), default=Value(0)))
        # Rows the reader sees only because of the declaration: their reads are reported on.
        via_declaration = SqlCase(
            When(declared & ~Q(Exists(shares)) & ~Q(Exists(glass)), then=Value(True)),
            default=Value(False),
        )
    return Case.objects.filter(visible).annotate(
        reader_tier=Greatest(*tiers, output_field=IntegerField()),
        via_declaration=via_declaration,
    )


def visible_case_count(user: Any, limit: int | None = None, scope: CaseScope | None = None) -> int:
    """How many cases `cases_visible_to(user)` holds, counted on the shares alone.

    A share is one row per case and agency, and its case always exists (foreign key), so the
    user's active shares give the count without visiting every case: at 100,000 cases this
    is an index-only scan instead of a join (docs/performance.md). Same rule: `active_q`.
    With `limit`, counting stops there (a list shows "more than N" past it).
    """
    scope = scope or case_scope(user)
    if not scope.caps:
        return 0
    if not scope.shares_only:
        # A break-glass or a declaration adds cases without a share: count them properly.
        visible = cases_visible_to(user, scope).order_by().values("pk")
        return (visible[:limit] if limit else visible).count()
    # Not Share's default order (agency name): it would join and sort every share. With a
    # limit, the case order of the (agency, case) index: without an order the planner walked
    # the consent index for a merge join, past 115,000 consent-based shares of other agencies
    # before the council's first (24 ms instead of 0.6 ms at 100,000 cases).
    shares: Any = Share.objects.filter(Share.active_q(), agency_id__in=list(scope.caps))
    shares = (shares.order_by("case_id") if limit else shares.order_by()).values("case_id")
    if len(scope.caps) > 1:
        shares = shares.distinct()
    return (shares[:limit] if limit else shares).count()


@dataclass
class CaseAccess:
    """What one reader may do with one case, and why."""

    case: Case
    tier: int
    shares: list[Share] = field(default_factory=list)
    may_contribute: bool = False
    may_edit: bool = False
    coordinates: bool = False
    user: Any = field(default=None, repr=False)
    # Set when (part of) the access comes from an emergency rather than a share.
    break_glass: BreakGlass | None = None
    declaration: Declaration | None = None

    @property
    def tier_label(self) -> str:
        return str(Tier(self.tier).label)

    @property
    def audit_detail(self) -> dict[str, Any]:
        """What to add to an audit row so that emergency reads can be reported on."""
        detail: dict[str, Any] = {}
        if self.break_glass is not None:
            detail["break_glass"] = self.break_glass.pk
        if self.declaration is not None:
            detail["declaration"] = self.declaration.pk
        return detail

    @cached_property
    def can_export(self) -> bool:
        """Coordinators export; others only with a person-level right (django-guardian).

        Asked when an export is at stake, not on every read: it costs two queries. An
        emergency read (break-glass, declaration) never exports: a share is needed.
        """
        if self.coordinates:
            return True
        if self.user is None or not self.shares:
            return False
        from guardian.core import ObjectPermissionChecker

        return ObjectPermissionChecker(self.user).has_perm("export_case", self.case)

    def allows(self, action: str) -> bool:
        if action == "view":
            return self.tier >= Tier.WATCH
        if action == "contribute":
            return self.may_contribute or self.coordinates
        if action == "edit":
            return self.may_edit or self.coordinates
        if action in {"manage_shares", "manage_consent", "view_audit"}:
            return self.coordinates
        if action == "export":
            return self.coordinates or self.can_export
        raise ValueError(f"unknown action {action!r}")


def _active_shares_of(caps: dict[int, int], **case: Any) -> QuerySet[Share]:
    """The reader's active shares on one case, with what "why can I see this" shows.

    Unordered: `case_access` sorts these few rows in Python. An ORDER BY makes Django index
    every selected column to match it against the select list (~0.2 ms of CPU for the ~70
    columns the detail page reads with the case)."""
    return (
        Share.objects.filter(Share.active_q(), agency_id__in=list(caps), **case)
        .select_related("agency", "consent")
        .order_by()
    )


def case_access_by_pk(user: Any, pk: int) -> CaseAccess | None:
    """`case_access` for a case id, the case read with the reader's shares in one query (the
    detail page's common path); the case alone is read only when no share opens it."""
    from casework.models import Case as CaseModel

    caps = agency_caps(user)
    if not caps:
        return None
    related = ("life_area", "small_area", "lead_coordinator")
    shares = list(
        _active_shares_of(caps, case_id=pk).select_related(*(f"case__{r}" for r in related))
    )
    if shares:
        case = shares[0].case
        for share in shares[1:]:
            share.case = case  # one Case object, whichever share it is reached through
    else:
        found = CaseModel.objects.select_related(*related).filter(pk=pk).first()
        if found is None:
            return None
        case = found
    return case_access(user, case, shares=shares)


def case_access(user: Any, case: Case, *, shares: list[Share] | None = None) -> CaseAccess | None:
    """The reader's access to `case`, or None when the case must not exist for them.

    `shares`: the reader's active shares on this case when already read in this request
    (`case_access_by_pk`)."""
    caps = agency_caps(user)
    if not caps:
        return None
    role_by_agency = {m.agency_id: m.role for m in _memberships(user)}
    if shares is None:
        shares = list(_active_shares_of(caps, case=case))
    shares = sorted(shares, key=lambda s: (-s.tier, s.pk))  # "why can I see this": highest first
    share_tier = max((min(s.tier, caps[s.agency_id]) for s in shares), default=0)
    # Emergency paths are looked up only when they could add something: a break-glass is
    # never needed beside a share that already gives its tier, a declaration beside any share.
    glass = None
    if share_tier < break_glass_tier(user):
        glass = _break_glass_qs(user, caps).filter(case=case).order_by("-expires_at").first()
    declaration = _declaration_for(user, case) if not shares else None
    if not shares and glass is None and declaration is None:
        return None
    access = CaseAccess(
        case=case, tier=0, shares=shares, user=user, break_glass=glass, declaration=declaration
    )
    for share in shares:
        role = role_by_agency[share.agency_id]
        access.tier = max(access.tier, min(share.tier, caps[share.agency_id]))
        if share.may_contribute and role in WRITER_ROLES:
            access.may_contribute = True
        if share.may_contribute and role in EDITOR_ROLES:
            access.may_edit = True
        if share.coordinates and role == Membership.Role.COORDINATOR:
            access.coordinates = True
    # Emergencies only ever let a reader read: never contribute, coordinate or export.
    if glass is not None:
        access.tier = max(access.tier, min(glass.tier, caps[glass.agency_id], BREAK_GLASS_TIER))
    if declaration is not None:
        access.tier = max(access.tier, DECLARATION_TIER)
    return access


def tier_for(user: Any, case: Case) -> int | None:
    access = case_access(user, case)
    return access.tier if access else None


def can(user: Any, action: str, obj: Any) -> bool:
    from casework.models import Case

    if isinstance(obj, Case):
        access = case_access(user, obj)
        return bool(access and access.allows(action))
    return False


def can_open_cases(user: Any) -> bool:
    """Coordinators of the council open cases."""
    from permissions.models import Agency

    return any(
        m.role == Membership.Role.COORDINATOR and m.agency.kind == Agency.Kind.COUNCIL
        for m in _memberships(user)
    )


def readable(tier: int | None, item_tier: int) -> bool:
    return tier is not None and item_tier <= tier


# --- Emergencies ----------------------------------------------------------------------------
# Break-glass: a professional opens a case their agency has no share on, for a few hours, at
# the watch and support tiers only. A declared disaster (災害対策基本法 49条の11) opens the
# disaster-support list of the declared areas, at the watch tier, to designated supporters.

BREAK_GLASS_TIER = Tier.SUPPORT
BREAK_GLASS_ROLES = {Membership.Role.COORDINATOR, Membership.Role.PROFESSIONAL}
DECLARATION_TIER = Tier.WATCH
SUPPORTER_ROLES = WRITER_ROLES


def _break_glass_qs(user: Any, caps: dict[int, int]) -> QuerySet[BreakGlass]:
    """Active break-glasses of this user, through agencies and roles they still hold."""
    agencies = [m.agency_id for m in _memberships(user) if m.role in BREAK_GLASS_ROLES]
    return BreakGlass.objects.filter(
        BreakGlass.active_q(), user=user, agency_id__in=[a for a in agencies if a in caps]
    )


def _emergency_paths(user: Any, caps: dict[int, int]) -> tuple[bool, Q | None]:
    """(has an active break-glass, declaration filter or None): at most one small query, and
    none for a user whose roles can take neither path."""
    from django.contrib.auth import get_user_model

    glass_roles = any(m.role in BREAK_GLASS_ROLES for m in _memberships(user))
    declared = _declaration_case_q(user)
    if not glass_roles and declared is None:
        return False, None
    # One path possible (the usual case): a plain EXISTS, ~0.6 ms of CPU less to build and
    # compile than the annotated query that asks both in one round trip.
    if declared is None:
        return _break_glass_qs(user, caps).exists(), None
    if not glass_roles:
        return False, declared if active_declarations().exists() else None
    flags = (
        get_user_model()
        .objects.filter(pk=user.pk)
        .annotate(
            glass=Exists(_break_glass_qs(user, caps)) if glass_roles else Value(False),
            declared=Exists(active_declarations()) if declared is not None else Value(False),
        )
        .values_list("glass", "declared")
        .first()
    )
    if flags is None:
        return False, None
    return bool(flags[0]), declared if flags[1] else None


def has_emergency_access(user: Any) -> bool:
    """Whether `cases_visible_to(user)` may hold cases beyond the user's shares right now (an
    active break-glass, or a supporter during a declaration). Counts taken on the shares alone
    must fall back to counting `cases_visible_to` when this is true."""
    return not case_scope(user).shares_only


def can_break_glass(user: Any) -> bool:
    return any(m.role in BREAK_GLASS_ROLES for m in _memberships(user))


def break_glass_agency_id(user: Any) -> int | None:
    for m in _memberships(user):
        if m.role in BREAK_GLASS_ROLES:
            return m.agency_id
    return None


def break_glass_tier(user: Any) -> int:
    """The tier a break-glass of this user grants: support, or less if their role caps it."""
    caps = [ROLE_TIER_CAP[m.role] for m in _memberships(user) if m.role in BREAK_GLASS_ROLES]
    return min(BREAK_GLASS_TIER, max(caps, default=0))


def break_glasses_to_review(user: Any) -> QuerySet[BreakGlass]:
    """Break-glasses on cases this user coordinates (as a coordinator of a coordinating agency)."""
    agencies = [m.agency_id for m in _memberships(user) if m.role == Membership.Role.COORDINATOR]
    if not agencies:
        return BreakGlass.objects.none()
    coordinating = Share.objects.filter(
        Share.active_q(), case=OuterRef("case"), agency_id__in=agencies, coordinates=True
    )
    return BreakGlass.objects.filter(Exists(coordinating)).exclude(user=user)


def can_review_break_glass(user: Any, glass: BreakGlass) -> bool:
    return break_glasses_to_review(user).filter(pk=glass.pk).exists()


def break_glass_alert_recipients(case: Case) -> list[Any]:
    """The case's lead coordinator and the council's administrators."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    admins = User.objects.filter(is_active=True).filter(
        Q(
            memberships__role=Membership.Role.AGENCY_ADMIN,
            memberships__agency__kind=Agency.Kind.COUNCIL,
        )
        | Q(is_staff=True)
    )
    recipients = {case.lead_coordinator_id: case.lead_coordinator}
    for admin in admins.distinct():
        recipients.setdefault(admin.pk, admin)
    return list(recipients.values())


def is_council_manager(user: Any) -> bool:
    """Council coordinators and administrators: declare disasters, watch tallies, review."""
    if getattr(user, "is_authenticated", False) and user.is_active and user.is_staff:
        return True
    return any(
        m.agency.kind == Agency.Kind.COUNCIL
        and m.role in {Membership.Role.COORDINATOR, Membership.Role.AGENCY_ADMIN}
        for m in _memberships(user)
    )


can_declare = is_council_manager


def can_view_reports(user: Any) -> bool:
    """The unmet-needs report (政策提言): council coordinators and administrators only.
    Residents and professionals outside the council never see it, even in aggregate."""
    return is_council_manager(user)


def supporter_agencies(user: Any) -> list[Agency]:
    """The user's agencies that are designated disaster supporters (and a role that acts)."""
    return [
        m.agency
        for m in _memberships(user)
        if m.agency.disaster_supporter and m.role in SUPPORTER_ROLES
    ]


def _supporter_area_q(user: Any, prefix: str = "") -> Q | None:
    """Cases in the areas the user's supporter agencies cover (an agency without area: all)."""
    agencies = supporter_agencies(user)
    if not agencies:
        return None
    q = Q(pk__in=[])
    for agency in agencies:
        if agency.area_id is None:
            return Q()
        q |= Q(**{f"{prefix}life_area_id": agency.area_id}) | Q(
            **{f"{prefix}small_area_id": agency.area_id}
        )
    return q


def declared_q(prefix: str = "", declaration: Declaration | None = None) -> Q:
    """The case lies in an area of an active declaration (or of `declaration`)."""
    through = Declaration.areas.through.objects.filter(
        Q(area_id=OuterRef(f"{prefix}life_area_id")) | Q(area_id=OuterRef(f"{prefix}small_area_id"))
    )
    if declaration is None:
        through = through.filter(declaration__ended_at__isnull=True)
    else:
        through = through.filter(declaration=declaration)
    return Q(Exists(through))


def _declaration_case_q(user: Any, prefix: str = "") -> Q | None:
    area_q = _supporter_area_q(user, prefix)
    if area_q is None:
        return None
    return Q(**{f"{prefix}disaster_support": True}) & area_q & declared_q(prefix)


def active_declarations() -> QuerySet[Declaration]:
    return Declaration.objects.filter(ended_at__isnull=True)


def declarations_opening(cases: list[Any]) -> QuerySet[Declaration]:
    """The active declarations covering these cases' areas (to log reads against them)."""
    areas = {a for c in cases for a in (c.life_area_id, c.small_area_id) if a}
    if not areas:
        return Declaration.objects.none()
    return active_declarations().filter(areas__in=areas).distinct()


def _declaration_for(user: Any, case: Case) -> Declaration | None:
    """The active declaration that opens `case` to this supporter, if any."""
    if not case.disaster_support:
        return None
    area_q = _supporter_area_q(user)
    if area_q is None:
        return None
    from casework.models import Case as CaseModel

    if not CaseModel.objects.filter(area_q, pk=case.pk).exists():
        return None
    area_ids = [a for a in (case.life_area_id, case.small_area_id) if a]
    return active_declarations().filter(areas__in=area_ids).order_by("started_at", "pk").first()


def disaster_list_visible_to(
    user: Any, *, declaration: Declaration | None = None
) -> QuerySet[Case]:
    """Entries of the disaster-support list (避難行動要支援者名簿) this supporter may see:
    in normal times only those who consented; in a declared area, everyone on the list.

    Annotated `declared` (True when the entry is open because of a declaration). With
    `declaration`, only the entries in that declaration's areas (the safety check).
    """
    from casework.models import Case as CaseModel
    from casework.models import EvacuationPlan

    area_q = _supporter_area_q(user)
    if area_q is None:
        return CaseModel.objects.none()
    declared = declared_q(declaration=declaration)
    if declaration is not None:
        if not declaration.is_active:
            return CaseModel.objects.none()
        basis = declared
    else:
        basis = Q(evacuation_plan__list_consent=EvacuationPlan.ListConsent.CONSENTED) | declared
    return (
        CaseModel.objects.filter(area_q, basis, disaster_support=True)
        .exclude(status=CaseModel.Status.CLOSED)
        .annotate(declared=SqlCase(When(declared, then=Value(True)), default=Value(False)))
    )


def disaster_list_managed_by(user: Any) -> QuerySet[Case]:
    """Everyone on the list in the cases this user coordinates, whatever their consent: the
    coordinator records consent and plans. (Cases they can read through their share anyway.)"""
    from casework.models import Case as CaseModel

    agencies = [m.agency_id for m in _memberships(user) if m.role == Membership.Role.COORDINATOR]
    if not agencies:
        return CaseModel.objects.none()
    coordinating = Share.objects.filter(
        Share.active_q(), case=OuterRef("pk"), agency_id__in=agencies, coordinates=True
    )
    return CaseModel.objects.filter(Exists(coordinating), disaster_support=True).exclude(
        status=CaseModel.Status.CLOSED
    )


def can_watch_tally(user: Any, declaration: Declaration) -> bool:
    return is_council_manager(user)


# --- Concerns (気づき) -------------------------------------------------------------------------


def can_report_concern(user: Any) -> bool:
    return bool(_memberships(user))


def triage_area_ids(user: Any) -> list[int]:
    """Life areas whose concerns this user triages: council coordinators, by life area."""
    ids = [
        m.pk
        for m in _memberships(user)
        if m.role == Membership.Role.COORDINATOR and m.agency.kind == Agency.Kind.COUNCIL
    ]
    if not ids:
        return []
    through = Membership.life_areas.through.objects.filter(membership_id__in=ids)
    return list(through.values_list("area_id", flat=True))


def concern_triagers(life_area_id: int) -> list[Any]:
    """The council coordinators who triage concerns of this life area."""
    from django.contrib.auth import get_user_model

    return list(
        get_user_model()
        .objects.filter(
            is_active=True,
            memberships__role=Membership.Role.COORDINATOR,
            memberships__agency__kind=Agency.Kind.COUNCIL,
            memberships__agency__is_active=True,
            memberships__life_areas=life_area_id,
        )
        .distinct()
    )


def concerns_to_triage(user: Any) -> QuerySet[Any]:
    from casework.models import Concern

    areas = triage_area_ids(user)
    if not areas:
        return Concern.objects.none()
    return Concern.objects.filter(life_area_id__in=areas)


def concerns_reported_by(user: Any) -> QuerySet[Any]:
    from casework.models import Concern

    if not _memberships(user):
        return Concern.objects.none()
    return Concern.objects.filter(reporter=user)


# --- Watch-over -------------------------------------------------------------------------------


def can_log_visit(user: Any, access: CaseAccess) -> bool:
    """Contributors, and the groups assigned to watch over the household."""
    if access.break_glass is not None and not access.shares:
        return False
    if access.allows("contribute"):
        return True
    from casework.models import WatchAssignment

    return (
        bool(access.shares)
        and WatchAssignment.objects.filter(
            case=access.case, agency_id__in=[s.agency_id for s in access.shares]
        ).exists()
    )


def requires_two_factor(user: Any) -> bool:
    """Coordinators, agency administrators and staff must log in with a second factor."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff or user.is_superuser:
        return True
    return Membership.objects.filter(
        user=user,
        role__in=[Membership.Role.COORDINATOR, Membership.Role.AGENCY_ADMIN],
    ).exists()
