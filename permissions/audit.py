"""Writing the audit trail. Rows are append-only (see AppendOnlyModel and the PG trigger)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from permissions.models import AuditEvent

if TYPE_CHECKING:
    from django.http import HttpRequest

    from casework.models import Case


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    actor: Any,
    action: str,
    case: Case | None = None,
    tier: int | None = None,
    request: HttpRequest | None = None,
    reason: str = "",
    agency_id: int | None = None,
    **detail: Any,
) -> AuditEvent:
    if agency_id is None and actor is not None and getattr(actor, "is_authenticated", False):
        from permissions.policy import primary_agency_id

        agency_id = primary_agency_id(actor)
    label = ""
    if actor is not None and getattr(actor, "is_authenticated", False):
        from permissions.people import display_name

        label = display_name(actor)
    return AuditEvent.objects.create(
        actor=actor if label else None,
        actor_label=label,
        agency_id=agency_id,
        action=action,
        case=case,
        tier=tier,
        ip=client_ip(request),
        reason=reason[:500],
        detail=detail,
    )
