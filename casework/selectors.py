"""Reads, always scoped to the reader and filtered in the database."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, Q, QuerySet

from casework.models import Case, ChronologyEntry, HouseholdMember, normalize_kana
from permissions.models import AuditEvent, Share, Tier
from permissions.policy import cases_visible_to, visible_case_count


def case_list(
    user: Any,
    *,
    q: str = "",
    life_area: int | None = None,
    small_area: int | None = None,
    category: int | None = None,
    status: str = "",
    coordinated_only: bool = False,
) -> QuerySet[Case]:
    """Cases the reader may see, filtered. With no filter: still only what they may see."""
    qs = cases_visible_to(user).select_related("life_area", "small_area")
    folded = normalize_kana(q)
    if folded:
        qs = qs.filter(search_text__contains=folded)
    if life_area:
        qs = qs.filter(Q(life_area_id=life_area))
    if small_area:
        qs = qs.filter(small_area_id=small_area)
    if status:
        qs = qs.filter(status=status)
    if category:
        # Need categories are support tier: a watch-tier reader must not learn them by filtering.
        qs = qs.filter(reader_tier__gte=Tier.SUPPORT, need_categories__id=category)  # type: ignore[misc]
    if coordinated_only:
        qs = qs.filter(lead_coordinator=user)
    return qs.order_by("-updated_at", "-pk")


def case_list_page(
    user: Any, *, page: int | str | None, per_page: int, **filters: Any
) -> Page[Case]:
    """One page of `case_list`. Unfiltered, the count comes from the reader's shares alone:
    the same number, without joining every case the reader may see (docs/performance.md)."""
    paginator = Paginator(case_list(user, **filters), per_page)
    if not any(filters.values()):
        paginator.count = visible_case_count(user)
    return paginator.get_page(page)


def case_page_extras(cases: list[Case]) -> None:
    """Attach need categories only to cases whose reader holds the support tier."""
    ids = [c.pk for c in cases if (getattr(c, "reader_tier", 0) or 0) >= Tier.SUPPORT]
    by_case: dict[int, list[str]] = {}
    if ids:
        # Plain tuples, not model instances: a page has ~50 of these rows.
        rows = (
            Case.need_categories.through.objects.filter(case_id__in=ids)
            .order_by("needcategory__order", "needcategory_id")
            .values_list("case_id", "needcategory__name")
        )
        for case_id, name in rows:
            by_case.setdefault(case_id, []).append(name)
    for c in cases:
        c.visible_categories = by_case.get(c.pk, [])  # type: ignore[attr-defined]


def dashboard_cases(user: Any, limit: int = 8) -> list[Case]:
    return list(case_list(user).select_related("life_area", "small_area")[:limit])


def case_members(case: Case) -> QuerySet[HouseholdMember]:
    return case.members.all()


def chronology_for(case: Case, tier: int) -> QuerySet[ChronologyEntry]:
    """The family timeline merged from all agencies, only entries at or below the tier."""
    return (
        ChronologyEntry.objects.filter(case=case, tier__lte=tier)
        .select_related("agency", "author")
        .order_by("occurred_on", "pk")
    )


def case_shares(case: Case) -> QuerySet[Share]:
    return (
        Share.objects.filter(case=case)
        .select_related("agency", "consent", "granted_by")
        .order_by("agency__name")
    )


def case_consents(case: Case):  # type: ignore[no-untyped-def]
    from permissions.models import Consent

    return (
        Consent.objects.filter(case=case)
        .select_related("recorded_by", "withdrawn_by")
        .prefetch_related(Prefetch("agencies"))
    )


def case_audit_events(case: Case) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(case=case).select_related("agency").order_by("-at", "-pk")


def case_has_valid_consent(case: Case) -> bool:
    from permissions.models import Consent

    return Consent.objects.filter(Consent.valid_q(), case=case).exists()
