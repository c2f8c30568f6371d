"""The rules: who may read which tier of which case, and do what with it.

This module is the only place that knows roles, tiers and shares. Lists are filtered in the
database (an EXISTS over active shares of the reader's agencies), never in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.db.models import Case as SqlCase
from django.db.models import Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Least

from permissions.models import Membership, Share, Tier

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
        cache = list(
            Membership.objects.filter(user=user, agency__is_active=True).select_related("agency")
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


def cases_visible_to(user: Any) -> QuerySet[Case]:
    """Every case the user may read, annotated with `reader_tier`. No filter ≠ everything."""
    from casework.models import Case

    caps = agency_caps(user)
    if not caps:
        return Case.objects.none()
    shares = Share.objects.filter(Share.active_q(), case=OuterRef("pk"), agency_id__in=list(caps))
    tier = shares.annotate(eff=_effective_tier_expression(caps)).order_by("-eff").values("eff")[:1]
    return Case.objects.filter(Exists(shares)).annotate(
        reader_tier=Subquery(tier, output_field=IntegerField())
    )


def visible_case_count(user: Any) -> int:
    """How many cases `cases_visible_to(user)` holds, counted on the shares alone.

    A share is one row per case and agency, and its case always exists (foreign key), so the
    user's active shares give the count without visiting every case: at 100,000 cases this
    is an index-only scan instead of a join (docs/performance.md). Same rule: `active_q`.
    """
    caps = agency_caps(user)
    if not caps:
        return 0
    shares = Share.objects.filter(Share.active_q(), agency_id__in=list(caps))
    if len(caps) == 1:
        return shares.count()
    return shares.values("case_id").distinct().count()


@dataclass
class CaseAccess:
    """What one reader may do with one case, and why."""

    case: Case
    tier: int
    shares: list[Share] = field(default_factory=list)
    may_contribute: bool = False
    coordinates: bool = False
    user: Any = field(default=None, repr=False)

    @property
    def tier_label(self) -> str:
        return str(Tier(self.tier).label)

    @cached_property
    def can_export(self) -> bool:
        """Coordinators export; others only with a person-level right (django-guardian).

        Asked when an export is at stake, not on every read: it costs two queries.
        """
        if self.coordinates:
            return True
        if self.user is None:
            return False
        from guardian.core import ObjectPermissionChecker

        return ObjectPermissionChecker(self.user).has_perm("export_case", self.case)

    def allows(self, action: str) -> bool:
        if action == "view":
            return self.tier >= Tier.WATCH
        if action in {"contribute", "edit"}:
            return self.may_contribute or self.coordinates
        if action in {"manage_shares", "manage_consent", "view_audit"}:
            return self.coordinates
        if action == "export":
            return self.coordinates or self.can_export
        raise ValueError(f"unknown action {action!r}")


def case_access(user: Any, case: Case) -> CaseAccess | None:
    """The reader's access to `case`, or None when the case must not exist for them."""
    caps = agency_caps(user)
    if not caps:
        return None
    role_by_agency = {m.agency_id: m.role for m in _memberships(user)}
    shares = list(
        Share.objects.filter(Share.active_q(), case=case, agency_id__in=list(caps))
        .select_related("agency", "consent")
        .order_by("-tier")
    )
    if not shares:
        return None
    access = CaseAccess(case=case, tier=0, shares=shares, user=user)
    for share in shares:
        role = role_by_agency[share.agency_id]
        access.tier = max(access.tier, min(share.tier, caps[share.agency_id]))
        if share.may_contribute and role in WRITER_ROLES:
            access.may_contribute = True
        if share.coordinates and role == Membership.Role.COORDINATOR:
            access.coordinates = True
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
