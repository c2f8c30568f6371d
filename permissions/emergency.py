"""State changes of emergencies: disaster declarations and break-glass. Atomic and audited."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from permissions import policy
from permissions.audit import audit_record
from permissions.models import Area, AuditEvent, BreakGlass, Declaration
from permissions.people import display_name

if TYPE_CHECKING:
    from casework.models import Case

BREAK_GLASS_HOURS = (1, 2, 3, 4)


@transaction.atomic
def declaration_start(
    *, actor: Any, areas: list[Area], reason: str, request: HttpRequest | None = None
) -> Declaration:
    """Declare a disaster for `areas`: their designated supporters see the whole list."""
    if not policy.can_declare(actor):
        raise PermissionDenied
    errors: dict[str, str] = {}
    if not areas:
        errors["areas"] = _("Choose at least one area the declaration covers.")
    if not (reason or "").strip():
        errors["reason"] = _("Give the reason for the declaration (what happened, where).")
    if errors:
        raise ValidationError(errors)
    declaration = Declaration(reason=reason.strip(), declared_by=actor)
    declaration.full_clean()
    declaration.save()
    declaration.areas.set(areas)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.DECLARATION_START,
        request=request,
        reason=declaration.reason,
        declaration=declaration.pk,
        areas=[a.pk for a in areas],
    )
    return declaration


@transaction.atomic
def declaration_end(
    *, actor: Any, declaration: Declaration, note: str = "", request: HttpRequest | None = None
) -> Declaration:
    """End a declaration: the list closes again on the supporters' next request."""
    if not policy.can_declare(actor):
        raise PermissionDenied
    declaration = Declaration.objects.select_for_update().get(pk=declaration.pk)
    if declaration.ended_at is not None:
        raise ValidationError(_("This declaration has already ended."))
    declaration.ended_at = timezone.now()
    declaration.ended_by = actor
    declaration.end_note = (note or "").strip()[:500]
    declaration.save(update_fields=["ended_at", "ended_by", "end_note"])
    audit_record(
        actor=actor,
        action=AuditEvent.Action.DECLARATION_END,
        request=request,
        declaration=declaration.pk,
    )
    return declaration


@transaction.atomic
def break_glass_open(
    *,
    actor: Any,
    case: Case,
    reason: str,
    hours: int,
    request: HttpRequest | None = None,
) -> BreakGlass:
    """Open a case without a share, for a few hours, and alert those who must know at once."""
    errors: dict[str, str] = {}
    if not policy.can_break_glass(actor):
        raise PermissionDenied
    if len((reason or "").strip()) < 10:
        errors["reason"] = _(
            "Say why this is an emergency (at least 10 characters): who is at risk and why "
            "you cannot wait for a share."
        )
    if hours not in BREAK_GLASS_HOURS:
        errors["hours"] = _("Emergency access lasts 1 to 4 hours.")
    if errors:
        raise ValidationError(errors)
    existing = policy.case_access(actor, case)
    if existing is not None and existing.tier >= policy.break_glass_tier(actor):
        raise ValidationError(_("You can already read this case; no emergency access is needed."))
    agency_id = policy.break_glass_agency_id(actor)
    if agency_id is None:
        raise PermissionDenied
    now = timezone.now()
    glass = BreakGlass(
        user=actor,
        agency_id=agency_id,
        case=case,
        reason=reason.strip(),
        tier=policy.break_glass_tier(actor),
        started_at=now,
        expires_at=now + dt.timedelta(hours=hours),
    )
    glass.full_clean()
    glass.save()
    audit_record(
        actor=actor,
        action=AuditEvent.Action.BREAK_GLASS,
        case=case,
        tier=glass.tier,
        request=request,
        reason=glass.reason,
        break_glass=glass.pk,
        expires_at=glass.expires_at.isoformat(),
    )
    transaction.on_commit(lambda: break_glass_alert(glass))
    return glass


def break_glass_alert(glass: BreakGlass) -> int:
    """Mail the lead coordinator and the council administrators. No case content: the
    reference, who, why and until when, and the link to review it."""
    recipients = [
        u.email for u in policy.break_glass_alert_recipients(glass.case) if u.email and u.is_active
    ]
    if not recipients:
        return 0
    who = display_name(glass.user)
    subject = _("Emergency access to case %(ref)s") % {"ref": glass.case.reference}
    link = settings.SITE_URL.rstrip("/") + reverse("watch:break-glass-review", args=[glass.pk])
    body = _(
        "%(who)s (%(agency)s) opened case %(ref)s without a share.\n"
        "Reason: %(reason)s\nUntil: %(until)s\n\nPlease review it: %(link)s"
    ) % {
        "who": who,
        "agency": glass.agency.name,
        "ref": glass.case.reference,
        "reason": glass.reason,
        "until": timezone.localtime(glass.expires_at).strftime("%Y-%m-%d %H:%M"),
        "link": link,
    }
    return send_mail(subject, body, None, recipients)


@transaction.atomic
def break_glass_review(
    *,
    actor: Any,
    glass: BreakGlass,
    decision: str,
    note: str = "",
    request: HttpRequest | None = None,
) -> BreakGlass:
    if not policy.can_review_break_glass(actor, glass):
        raise PermissionDenied
    errors: dict[str, str] = {}
    if decision not in {BreakGlass.Review.ACCEPTED, BreakGlass.Review.QUESTIONED}:
        errors["decision"] = _("Choose: accepted or questioned.")
    if decision == BreakGlass.Review.QUESTIONED and not (note or "").strip():
        errors["note"] = _("Say what you question, so that it can be followed up.")
    if errors:
        raise ValidationError(errors)
    glass = BreakGlass.objects.select_for_update().get(pk=glass.pk)
    if glass.review != BreakGlass.Review.PENDING:
        raise ValidationError(_("This emergency access has already been reviewed."))
    glass.review = decision
    glass.review_note = (note or "").strip()[:1000]
    glass.reviewed_by = actor
    glass.reviewed_at = timezone.now()
    # A questioned access ends now, if it is still running.
    if decision == BreakGlass.Review.QUESTIONED and glass.expires_at > glass.reviewed_at:
        glass.expires_at = max(glass.reviewed_at, glass.started_at + dt.timedelta(microseconds=1))
    glass.save()
    audit_record(
        actor=actor,
        action=AuditEvent.Action.BREAK_GLASS_REVIEW,
        case=glass.case,
        request=request,
        break_glass=glass.pk,
        decision=decision,
    )
    return glass
