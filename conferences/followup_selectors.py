"""Reads for follow-ups, always scoped to the reader (`permissions.followups`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from conferences.models import ActionChange, ActionItem, FollowupNotification
from permissions.followups import actions_coordinated_by, actions_owned_by

RELATED = ("case", "case__life_area", "owner_user", "owner_agency")


def my_followups(user: Any) -> list[ActionItem]:
    """Mine and my agency's open items, due soonest first, each marked `overdue`."""
    today = timezone.localdate()
    items = list(
        actions_owned_by(user)
        .filter(status__in=ActionItem.OPEN_STATUSES)
        .select_related(*RELATED)
        .order_by("due_on", "pk")
    )
    for item in items:
        item.overdue = item.due_on < today  # type: ignore[attr-defined]
    return items


def overview(user: Any, filters: dict[str, str]) -> QuerySet[ActionItem]:
    qs = actions_coordinated_by(user).select_related(*RELATED).order_by("due_on", "pk")
    for key, lookup in (
        ("area", "case__life_area_id"),
        ("agency", "owner_agency_id"),
        ("owner", "owner_user_id"),
    ):
        value = filters.get(key, "")
        if value.isdigit():
            qs = qs.filter(**{lookup: int(value)})
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("overdue"):
        qs = qs.filter(status__in=ActionItem.OPEN_STATUSES, due_on__lt=timezone.localdate())
    return qs


def history(action: ActionItem) -> list[ActionChange]:
    """Every change, oldest first, each with `summary`: the new status, due date or reason in
    words (labels, not stored values)."""
    statuses = dict(ActionItem.Status.choices)
    reasons = dict(ActionItem.NotDoneReason.choices)
    changes = list(
        ActionChange.objects.filter(action=action).select_related("by").order_by("at", "pk")
    )
    for change in changes:
        parts = []
        detail = change.detail or {}
        if detail.get("status"):
            parts.append(str(statuses.get(detail["status"][1], detail["status"][1])))
        if detail.get("due_on"):
            parts.append(str(detail["due_on"][1]))
        if detail.get("reason"):
            parts.append(str(reasons.get(detail["reason"], detail["reason"])))
        if detail.get("reason_text"):
            parts.append(str(detail["reason_text"]))
        if detail.get("outcome"):
            parts.append(str(detail["outcome"]))
        change.summary = " · ".join(parts)  # type: ignore[attr-defined]
    return changes


def unread_notices(user: Any) -> QuerySet[FollowupNotification]:
    return FollowupNotification.objects.filter(user=user, read_at__isnull=True).select_related(
        "action"
    )


def calendar_items(user: Any) -> list[ActionItem]:
    since = timezone.localdate() - dt.timedelta(days=90)
    return list(
        actions_owned_by(user)
        .filter(status__in=ActionItem.OPEN_STATUSES, due_on__gte=since)
        .select_related("case")
        .order_by("due_on", "pk")
    )
