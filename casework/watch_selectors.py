"""Reads for watch-over, concerns and the disaster-support list; scoped in the database."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from casework.models import (
    Case,
    Concern,
    EvacuationPlan,
    SafetyMark,
    VisitLog,
    WatchAssignment,
)
from permissions import policy
from permissions.models import AuditEvent, BreakGlass, Declaration, DisclosureRecord
from permissions.policy import declared_q


def concern_queue(user: Any, *, status: str = "open") -> QuerySet[Concern]:
    qs = policy.concerns_to_triage(user).select_related(
        "life_area", "small_area", "reporter", "reporter_agency", "case"
    )
    if status == "open":
        qs = qs.filter(status__in=[Concern.Status.RECEIVED, Concern.Status.LOOKING])
    elif status == "done":
        qs = qs.exclude(status__in=[Concern.Status.RECEIVED, Concern.Status.LOOKING])
    return qs.order_by("-urgency", "created_at") if status == "open" else qs


def my_concerns(user: Any) -> QuerySet[Concern]:
    # Only what the reporter wrote and its status: no case is joined in.
    return policy.concerns_reported_by(user).select_related("life_area", "small_area")


def watch_register(user: Any, *, small_area: int | None = None) -> QuerySet[Case]:
    """Watch-over cases the reader may see (watch tier fields only are shown)."""
    last_visit = VisitLog.objects.filter(case=OuterRef("pk")).order_by("-visited_on", "-pk")
    qs = (
        policy.cases_visible_to(user)
        .filter(watch_over=True)
        .exclude(status=Case.Status.CLOSED)
        .select_related("life_area", "small_area")
        .prefetch_related(
            Prefetch(
                "watch_assignments",
                queryset=WatchAssignment.objects.select_related("agency", "watcher"),
            )
        )
        .annotate(
            last_visit_on=Subquery(last_visit.values("visited_on")[:1]),
            last_visit_outcome=Subquery(last_visit.values("outcome")[:1]),
        )
    )
    if small_area:
        qs = qs.filter(small_area_id=small_area)
    return qs.order_by("life_area__order", "small_area__order", "small_area_id", "label", "pk")


def case_visits(case: Case) -> QuerySet[VisitLog]:
    return VisitLog.objects.filter(case=case).select_related("visitor", "agency")[:20]


def disaster_list(user: Any, *, small_area: int | None = None) -> QuerySet[Case]:
    """The list a supporter may see: consented entries, plus everyone in declared areas."""
    qs = (
        policy.disaster_list_visible_to(user)
        .select_related("life_area", "small_area", "evacuation_plan")
        .prefetch_related("members")
    )
    if small_area:
        qs = qs.filter(small_area_id=small_area)
    return qs.order_by("life_area__order", "small_area__order", "small_area_id", "label", "pk")


def disaster_list_managed(user: Any) -> QuerySet[Case]:
    return (
        policy.disaster_list_managed_by(user)
        .select_related("life_area", "small_area", "evacuation_plan")
        .order_by("life_area__order", "small_area__order", "small_area_id", "label", "pk")
    )


def plan_of(case: Case) -> EvacuationPlan | None:
    return EvacuationPlan.objects.filter(case=case).first()


def safety_list(user: Any, declaration: Declaration) -> QuerySet[Case]:
    """People this supporter checks on during `declaration`, with their latest mark."""
    latest = SafetyMark.objects.filter(declaration=declaration, case=OuterRef("pk")).order_by(
        "-marked_at", "-pk"
    )
    return (
        policy.disaster_list_visible_to(user, declaration=declaration)
        .select_related("life_area", "small_area")
        .prefetch_related("members")
        .annotate(
            latest_status=Subquery(latest.values("status")[:1]),
            latest_to=Subquery(latest.values("evacuated_to")[:1]),
        )
        .order_by("small_area__order", "small_area_id", "label", "pk")
    )


def safety_tally(declaration: Declaration) -> list[dict[str, Any]]:
    """Per small area: how many people, and their latest safety state. Counts only."""
    latest = SafetyMark.objects.filter(declaration=declaration, case=OuterRef("pk")).order_by(
        "-marked_at", "-pk"
    )
    rows = (
        Case.objects.filter(declared_q(declaration=declaration), disaster_support=True)
        .exclude(status=Case.Status.CLOSED)
        .annotate(latest=Subquery(latest.values("status")[:1]))
        .values("small_area_id", "small_area__name", "life_area__name", "latest")
        .order_by("life_area__order", "small_area__order", "small_area_id")
    )
    areas: dict[Any, dict[str, Any]] = {}
    for row in rows:
        key = row["small_area_id"] or 0
        area = areas.setdefault(
            key,
            {
                "area": key,
                "name": row["small_area__name"] or row["life_area__name"],
                "total": 0,
                "unchecked": 0,
                **dict.fromkeys(SafetyMark.Status.values, 0),
            },
        )
        area["total"] += 1
        area[row["latest"] or "unchecked"] += 1
    return list(areas.values())


def declaration_report(declaration: Declaration) -> dict[str, Any]:
    """What happened under a declaration: every access it opened, marks, exports."""
    accesses = (
        AuditEvent.objects.filter(detail__declaration=declaration.pk)
        .select_related("agency")
        .order_by("at", "pk")
    )
    return {
        "accesses": accesses,
        "marks": SafetyMark.objects.filter(declaration=declaration)
        .select_related("case", "marked_by", "agency")
        .order_by("marked_at", "pk"),
        "disclosures": DisclosureRecord.objects.filter(declaration=declaration).order_by("at"),
        "tally": safety_tally(declaration),
    }


def declarations() -> QuerySet[Declaration]:
    return Declaration.objects.select_related("declared_by", "ended_by").prefetch_related("areas")


def break_glass_queue(user: Any) -> QuerySet[BreakGlass]:
    return policy.break_glasses_to_review(user).select_related(
        "user", "agency", "case", "reviewed_by"
    )
