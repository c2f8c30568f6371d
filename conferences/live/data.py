"""What a reader who may read a live record receives: the records as JSON-ready dicts."""

from __future__ import annotations

from typing import Any

from conferences.models import ActionItem, AgendaItem, LiveRecord
from permissions.people import display_name


def record_data(record: LiveRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": record.pk,
        "item": record.agenda_item_id,
        "case": record.case_id,
        "tier": record.tier,
        "version": record.version,
        "author": display_name(record.author),
        "agency": record.agency.name if record.agency is not None else "",
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }
    if isinstance(record, ActionItem):
        data.update(
            title=record.title,
            details=record.details,
            owner_user=display_name(record.owner_user) if record.owner_user_id else "",
            owner_agency=record.owner_agency.name if record.owner_agency is not None else "",
            due_on=record.due_on.isoformat(),
            status=record.status,
            status_reason=record.status_reason,
            completion_note=record.completion_note,
        )
    else:
        data["text"] = record.text  # type: ignore[attr-defined]
    return data


def review_data(review: Any, action: ActionItem) -> dict[str, Any]:
    """A carried-forward item under "review of actions" (read at the item's tier)."""
    return {
        "id": review.pk,
        "item": review.agenda_item_id,
        "outcome": review.outcome,
        "new_due_on": review.new_due_on.isoformat() if review.new_due_on else "",
        "reason": review.reason,
        "was_overdue": review.was_overdue,
        "action": record_data(action),
    }


def item_data(item: AgendaItem) -> dict[str, Any]:
    return {
        "id": item.pk,
        "case": item.case_id,
        "kind": item.kind,
        # The reader's language for a generated heading: a snapshot is made for one reader;
        # the chair's added items, the only ones in a shared frame, have their own title.
        "title": item.heading,
        "order": item.order,
    }
