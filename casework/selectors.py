"""Reads, always scoped to the reader and filtered in the database."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL

from casework.models import Case, ChronologyEntry, HouseholdMember, normalize_kana
from casework.search import name_search_q, rls_list_matches
from permissions import rls
from permissions.models import AuditEvent, Share, Tier
from permissions.policy import CaseScope, case_scope, cases_visible_to, visible_case_count


def case_list(
    user: Any,
    *,
    q: str = "",
    life_area: int | None = None,
    small_area: int | None = None,
    category: int | None = None,
    status: str = "",
    coordinated_only: bool = False,
    scope: CaseScope | None = None,
    visible: QuerySet[Case] | None = None,
) -> QuerySet[Case]:
    """Cases the reader may see, filtered. With no filter: still only what they may see.

    `visible`: `cases_visible_to(user, scope)` built earlier in the same request (building
    it costs ~2.5 ms of CPU: the share rule's sub-queries are resolved anew each time)."""
    if visible is None:
        visible = cases_visible_to(user, scope)
    qs = visible.select_related("life_area", "small_area")
    restricted = bool(q) and rls.restricted()
    searched = name_search_q(q, with_grams=not restricted)
    if searched is not None:
        qs = qs.filter(searched)
        if restricted:
            # Under row-level security the conditions alone could not use the search indexes:
            # the matches come from them first, through a function that runs as its owner and
            # applies the reader's case rule itself (docs/permissions.md, "Row-level security").
            # From its FROM clause: a rescan (the inner side of a nested loop, when other
            # filters narrow the cases) reads its kept rows again instead of calling it again.
            matches = RawSQL("SELECT m FROM otagai_rls_case_search(%s) m", [normalize_kana(q)])
            qs = qs.filter(pk__in=matches)
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


# Fields the list shows (watch tier only): the list never loads longer or higher-tier text.
LIST_FIELDS = ("label", "life_area__name", "small_area__name", "status", "updated_at")
# Past this many matches the list says "more than N" and asks for a narrower search: nobody
# pages through 100,000 cases, and counting them all costs more than the page itself.
LIST_COUNT_LIMIT = 1000


class CappedPaginator(Paginator):
    """Counts up to `limit + 1` rows; `capped` tells the page to say "more than limit"."""

    def __init__(self, object_list: Any, per_page: int, *, limit: int, count: int | None = None):
        super().__init__(object_list, per_page)
        self.limit = limit
        self._given_count = count

    @cached_property
    def _counted(self) -> int:
        if self._given_count is not None:
            return self._given_count
        return self.object_list[: self.limit + 1].count()  # type: ignore[attr-defined]

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        return min(self._counted, self.limit)

    @property
    def capped(self) -> bool:
        return self._counted > self.limit


def case_list_page(
    user: Any, *, page: int | str | None, per_page: int, **filters: Any
) -> Page[Case]:
    """One page of `case_list`, and how many cases match (up to LIST_COUNT_LIMIT).

    Unfiltered, the count comes from the reader's shares alone (the same number, without
    joining every case the reader may see) and the page is read in list order from the index.
    Filtered, one query returns the ids of the first LIST_COUNT_LIMIT + 1 matches in list
    order: the count and the page both come from it, and only the page's rows are read in
    full — still through `cases_visible_to` (docs/performance.md). Under row-level security
    a name search alone takes those ids from `casework.search.rls_list_matches`."""
    scope = case_scope(user)
    visible = cases_visible_to(user, scope)  # built once, for the matches and the page's rows
    if not any(filters.values()):
        qs = case_list(user, visible=visible).only(*LIST_FIELDS)
        count = visible_case_count(user, limit=LIST_COUNT_LIMIT + 1, scope=scope)
        return CappedPaginator(qs, per_page, limit=LIST_COUNT_LIMIT, count=count).get_page(page)
    ids = rls_list_matches(user, scope, filters, limit=LIST_COUNT_LIMIT + 1)
    if ids is None:  # the filtered list's ids, built only when that way does not apply
        matches = case_list(user, visible=visible, **filters).values_list("pk", flat=True)
        ids = list(matches[: LIST_COUNT_LIMIT + 1])
    paginator = CappedPaginator(ids, per_page, limit=LIST_COUNT_LIMIT, count=len(ids))
    result = paginator.get_page(page)
    page_ids = list(result.object_list)
    # The page's rows by id, still through `cases_visible_to`, but without the filters again:
    # these ids matched them a moment ago, and a search's conditions would be run once more
    # per row (under row-level security, the search function once per row of the page).
    page_qs = case_list(user, visible=visible).only(*LIST_FIELDS).filter(pk__in=page_ids)
    rows = {c.pk: c for c in page_qs} if page_ids else {}
    result.object_list = [rows[pk] for pk in page_ids if pk in rows]
    return result


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
    # Not `case.members.all()`: the related manager sets `member.case` on every row, a third
    # more Python for what the page does not read.
    return HouseholdMember.objects.filter(case_id=case.pk)


def need_category_names(case: Case) -> list[str]:
    """The case's need categories, by name, in the taxonomy's order (support tier: the caller
    asks only for a reader who holds it)."""
    return list(case.need_categories.values_list("name", flat=True))


def chronology_for(case: Case, tier: int) -> list[dict[str, Any]]:
    """The family timeline merged from all agencies, only entries at or below the tier: what
    the page shows of each (date, tier, text, source agency), as plain rows, not model
    instances (a third less Python per request; the page shows no author)."""
    labels = {t.value: str(t.label) for t in Tier}
    rows: list[dict[str, Any]] = []
    for row in (
        ChronologyEntry.objects.filter(case=case, tier__lte=tier)
        .order_by("occurred_on", "pk")
        .values("pk", "occurred_on", "tier", "text", "agency__name")
    ):
        entry: dict[str, Any] = dict(row)
        entry["agency_name"] = entry.pop("agency__name")
        entry["tier_label"] = labels[row["tier"]]
        rows.append(entry)
    return rows


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
