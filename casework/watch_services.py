"""State changes of watch-over, concerns, evacuation plans and safety checks.

Atomic, audited, keyword-only; permission questions go to `permissions.policy`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from casework import events
from casework.models import (
    Case,
    ChronologyEntry,
    Concern,
    EvacuationPlan,
    SafetyMark,
    VisitLog,
    WatchAssignment,
)
from casework.services import case_open
from permissions import policy
from permissions.audit import audit_record
from permissions.models import Agency, Area, AuditEvent, Declaration, Tier
from permissions.people import display_name
from permissions.policy import CaseAccess


def audit_declared_reads(
    *, actor: Any, cases: list[Case], what: str, request: HttpRequest | None = None
) -> None:
    """Log reads that a declaration opened (cases shown only because of it), one row per
    declaration, so that its review report lists every access."""
    if not cases:
        return
    for declaration in policy.declarations_opening(cases):
        audit_record(
            actor=actor,
            action=AuditEvent.Action.LIST_VIEW,
            request=request,
            reason=_("Declared disaster"),
            what=what,
            declaration=declaration.pk,
            cases=[c.pk for c in cases][:500],
        )


# --- Concerns (気づき) ---------------------------------------------------------------------


@transaction.atomic
def concern_report(
    *,
    actor: Any,
    area: Area | None,
    who: str = "",
    who_unknown: bool = False,
    place: str = "",
    signs: list[str] | None = None,
    details: str = "",
    urgency: str = Concern.Urgency.SOON,
    request: HttpRequest | None = None,
) -> Concern:
    if not policy.can_report_concern(actor):
        raise PermissionDenied
    signs = [s for s in (signs or []) if s]
    who, place, details = (who or "").strip(), (place or "").strip(), (details or "").strip()
    errors: dict[str, str] = {}
    if area is None:
        errors["area"] = _("Choose the neighbourhood where you noticed it.")
    if not who and not who_unknown:
        errors["who"] = _("Write who or which household, or tick “I do not know who”.")
    if not signs and not details:
        errors["signs"] = _("Tick what you noticed, or write it in a few words.")
    if any(s not in Concern.Sign.values for s in signs):
        errors["signs"] = _("Choose from the list.")
    if urgency not in Concern.Urgency.values:
        errors["urgency"] = _("Choose how urgent it is.")
    if errors:
        raise ValidationError(errors)
    assert area is not None  # noqa: S101 - checked above; narrows the type
    concern = Concern(
        reporter=actor,
        reporter_agency_id=policy.primary_agency_id(actor),
        who="" if who_unknown else who,
        who_unknown=who_unknown,
        life_area=area if area.parent_id is None else area.parent,
        small_area=None if area.parent_id is None else area,
        place=place,
        signs=signs,
        details=details,
        urgency=urgency,
    )
    concern.full_clean()
    concern.save()
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CONCERN_REPORT,
        request=request,
        concern=concern.pk,
        urgency=urgency,
    )
    if urgency == Concern.Urgency.URGENT:
        transaction.on_commit(lambda: concern_urgent_alert(concern))
    return concern


def concern_urgent_alert(concern: Concern) -> int:
    """Mail the coordinators of the life area: only that there is an urgent report, where,
    and the link; the report itself is read on the triage page (logged)."""
    from django.conf import settings
    from django.core.mail import send_mail
    from django.urls import reverse

    recipients = [u.email for u in policy.concern_triagers(concern.life_area_id) if u.email]
    if not recipients:
        return 0
    link = settings.SITE_URL.rstrip("/") + reverse("watch:concern-triage", args=[concern.pk])
    area = concern.small_area.name if concern.small_area else concern.life_area.name
    return send_mail(
        _("Urgent concern reported in %(area)s") % {"area": area},
        _("A resident reported an urgent concern in %(area)s. Please look at it today: %(link)s")
        % {"area": area, "link": link},
        None,
        recipients,
    )


def _triage_check(actor: Any, concern: Concern) -> Concern:
    concern = Concern.objects.select_for_update().get(pk=concern.pk)
    if not policy.concerns_to_triage(actor).filter(pk=concern.pk).exists():
        raise PermissionDenied
    if concern.status not in (Concern.Status.RECEIVED, Concern.Status.LOOKING):
        raise ValidationError(_("This concern has already been dealt with."))
    return concern


def _triage_done(actor: Any, concern: Concern, status: str, request: Any, **detail: Any) -> None:
    concern.status = status
    concern.triaged_by = actor
    concern.triaged_at = timezone.now()
    concern.save()
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CONCERN_TRIAGE,
        case=concern.case,
        request=request,
        concern=concern.pk,
        status=status,
        **detail,
    )


@transaction.atomic
def concern_take(*, actor: Any, concern: Concern, request: HttpRequest | None = None) -> Concern:
    """The reporter now sees “being looked at”."""
    concern = _triage_check(actor, concern)
    _triage_done(actor, concern, Concern.Status.LOOKING, request)
    return concern


def _concern_timeline_text(concern: Concern) -> str:
    parts = [
        _("Concern reported by a resident: %(signs)s")
        % {"signs": "、".join(concern.sign_labels()) or "—"}
    ]
    if concern.details:
        parts.append(concern.details)
    if concern.place:
        parts.append(_("Place: %(place)s") % {"place": concern.place})
    return "\n".join(parts)


def _concern_to_timeline(actor: Any, concern: Concern, case: Case, access: CaseAccess) -> None:
    # The report is what a resident saw from outside: watch tier.
    agency = next((s.agency_id for s in access.shares if s.coordinates), None)
    agency = agency or policy.primary_agency_id(actor)
    if agency is None:
        raise PermissionDenied
    ChronologyEntry.objects.create(
        case=case,
        occurred_on=timezone.localtime(concern.created_at).date(),
        agency_id=agency,
        author=actor,
        tier=Tier.WATCH,
        text=_concern_timeline_text(concern),
    )


@transaction.atomic
def concern_link(
    *, actor: Any, concern: Concern, case_pk: int | None, request: HttpRequest | None = None
) -> Concern:
    concern = _triage_check(actor, concern)
    case = Case.objects.filter(pk=case_pk).first() if case_pk else None
    access = policy.case_access(actor, case) if case else None
    if case is None or access is None or not access.allows("contribute"):
        raise ValidationError({"case": _("Choose a case you coordinate or contribute to.")})
    concern.case = case
    _concern_to_timeline(actor, concern, case, access)
    _triage_done(actor, concern, Concern.Status.LINKED, request)
    return concern


@transaction.atomic
def concern_open_case(
    *, actor: Any, concern: Concern, label: str, request: HttpRequest | None = None
) -> Case:
    concern = _triage_check(actor, concern)
    label = (label or "").strip()
    if not label:
        raise ValidationError({"label": _("Give the new case a name (household).")})
    case = case_open(
        actor=actor,
        data={
            "label": label,
            "life_area": concern.life_area,
            "small_area": concern.small_area,
            "address": concern.place,
            "watch_notes": "",
        },
        members=[],
        request=request,
    )
    access = policy.case_access(actor, case)
    if access is None:  # the opener always holds the intake share
        raise PermissionDenied
    concern.case = case
    _concern_to_timeline(actor, concern, case, access)
    _triage_done(actor, concern, Concern.Status.OPENED, request)
    return case


@transaction.atomic
def concern_close(
    *, actor: Any, concern: Concern, reason: str, request: HttpRequest | None = None
) -> Concern:
    concern = _triage_check(actor, concern)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the concern is closed.")})
    concern.close_reason = reason[:500]
    _triage_done(actor, concern, Concern.Status.CLOSED, request)
    return concern


# --- Watch-over ----------------------------------------------------------------------------


@transaction.atomic
def watch_assign(
    *,
    actor: Any,
    access: CaseAccess,
    agency: Agency,
    frequency: str,
    watcher: Any = None,
    note: str = "",
    request: HttpRequest | None = None,
) -> WatchAssignment:
    if not access.allows("manage_shares"):
        raise PermissionDenied
    assignment = WatchAssignment(
        case=access.case, agency=agency, watcher=watcher, frequency=frequency, note=note
    )
    assignment.full_clean()
    assignment.save()
    audit_record(
        actor=actor,
        action=AuditEvent.Action.WATCH_CHANGE,
        case=access.case,
        request=request,
        assignment=assignment.pk,
        agency_assigned=agency.pk,
    )
    return assignment


@transaction.atomic
def watch_unassign(
    *, actor: Any, access: CaseAccess, assignment: WatchAssignment, request: Any = None
) -> None:
    if not access.allows("manage_shares") or assignment.case_id != access.case.pk:
        raise PermissionDenied
    pk = assignment.pk
    assignment.delete()
    audit_record(
        actor=actor,
        action=AuditEvent.Action.WATCH_CHANGE,
        case=access.case,
        request=request,
        removed=pk,
    )


VISIT_TEXT = {
    VisitLog.Outcome.WELL: gettext_noop("Watch-over visit: saw them, all well."),
    VisitLog.Outcome.CONCERN: gettext_noop("Watch-over visit: saw them, something is of concern."),
    VisitLog.Outcome.NOT_MET: gettext_noop("Watch-over visit: could not meet them."),
}


@transaction.atomic
def visit_log(
    *,
    actor: Any,
    access: CaseAccess,
    visited_on: dt.date,
    outcome: str,
    note: str = "",
    request: HttpRequest | None = None,
) -> VisitLog:
    """A visit, and its watch-tier line of the family timeline."""
    if not policy.can_log_visit(actor, access):
        raise PermissionDenied
    errors: dict[str, str] = {}
    if outcome not in VisitLog.Outcome.values:
        errors["outcome"] = _("Choose how the visit went.")
    if visited_on > timezone.localdate():
        errors["visited_on"] = _("A visit cannot be in the future.")
    if errors:
        raise ValidationError(errors)
    agency_id = next(
        (s.agency_id for s in access.shares if s.may_contribute or s.coordinates),
        access.shares[0].agency_id if access.shares else policy.primary_agency_id(actor),
    )
    if agency_id is None:
        raise PermissionDenied
    text = _(VISIT_TEXT[VisitLog.Outcome(outcome)])
    if note.strip():
        text = f"{text}\n{note.strip()}"
    entry = ChronologyEntry(
        case=access.case,
        occurred_on=visited_on,
        agency_id=agency_id,
        author=actor,
        tier=Tier.WATCH,
        text=text,
    )
    entry.full_clean()
    entry.save()
    visit = VisitLog(
        case=access.case,
        visited_on=visited_on,
        outcome=outcome,
        note=note.strip()[:500],
        visitor=actor,
        agency_id=agency_id,
        chronology=entry,
    )
    visit.full_clean()
    visit.save()
    audit_record(
        actor=actor,
        action=AuditEvent.Action.VISIT_LOG,
        case=access.case,
        tier=Tier.WATCH,
        request=request,
        visit=visit.pk,
    )
    return visit


# --- Disaster-support list ----------------------------------------------------------------


@transaction.atomic
def evacuation_plan_save(
    *, actor: Any, access: CaseAccess, data: dict[str, Any], request: HttpRequest | None = None
) -> EvacuationPlan:
    """The list entry and its plan. Consent to the list is the coordinator's to record."""
    if not access.allows("manage_consent"):
        raise PermissionDenied
    plan = EvacuationPlan.objects.filter(case=access.case).first() or EvacuationPlan(
        case=access.case, updated_by=actor
    )
    before = plan.list_consent if plan.pk else None
    for name, value in data.items():
        setattr(plan, name, value)
    if plan.list_consent == EvacuationPlan.ListConsent.CONSENTED and not plan.consent_on:
        raise ValidationError({"consent_on": _("Give the date the consent was recorded.")})
    plan.updated_by = actor
    plan.updated_at = timezone.now()
    plan.full_clean()
    plan.save()
    if not access.case.disaster_support:
        Case.objects.filter(pk=access.case.pk).update(disaster_support=True)
        access.case.disaster_support = True
    audit_record(
        actor=actor,
        action=AuditEvent.Action.PLAN_CHANGE,
        case=access.case,
        tier=Tier.WATCH,
        request=request,
        list_consent=plan.list_consent,
        list_consent_before=before,
    )
    return plan


# --- Safety check (安否確認) ----------------------------------------------------------------


def _parse_client_id(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise ValidationError({"client_id": _("The mark has no valid identifier.")}) from None


@transaction.atomic
def safety_mark(
    *,
    actor: Any,
    declaration: Declaration,
    case_pk: Any,
    status: str,
    client_id: Any,
    evacuated_to: str = "",
    note: str = "",
    marked_at: dt.datetime | None = None,
    request: HttpRequest | None = None,
) -> tuple[SafetyMark, bool]:
    """Record one mark. The same `client_id` sent again returns the stored mark, unchanged
    (the page resends unsent marks when the connection returns). Returns (mark, created)."""
    cid = _parse_client_id(client_id)
    existing = SafetyMark.objects.filter(client_id=cid).first()
    if existing is not None:
        if existing.marked_by_id != actor.pk:
            raise ValidationError({"client_id": _("The mark has no valid identifier.")})
        return existing, False
    if not declaration.is_active:
        raise ValidationError(_("The declaration has ended; safety checks are closed."))
    try:
        pk = int(case_pk)
    except (TypeError, ValueError):
        pk = 0
    case = policy.disaster_list_visible_to(actor, declaration=declaration).filter(pk=pk).first()
    if case is None:
        raise ValidationError(
            {"case": _("This person is not on the list of your areas for this disaster.")}
        )
    errors: dict[str, str] = {}
    if status not in SafetyMark.Status.values:
        errors["status"] = _("Choose: safe, needs help, not reached or evacuated.")
    evacuated_to = (evacuated_to or "").strip()
    if status == SafetyMark.Status.EVACUATED and not evacuated_to:
        errors["evacuated_to"] = _("Write where they went.")
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    # A mark made offline keeps the time it was made, within the declaration.
    when = marked_at if marked_at and declaration.started_at <= marked_at <= now else now
    agency = next(iter(policy.supporter_agencies(actor)), None)
    if agency is None:
        raise PermissionDenied
    mark = SafetyMark(
        declaration=declaration,
        case=case,
        status=status,
        evacuated_to=evacuated_to[:200] if status == SafetyMark.Status.EVACUATED else "",
        note=(note or "").strip()[:500],
        marked_by=actor,
        agency=agency,
        client_id=cid,
        marked_at=when,
        received_at=now,
    )
    mark.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            mark.save()
    except IntegrityError:
        # The same mark arrived twice at once: keep the first.
        return SafetyMark.objects.get(client_id=cid), False
    audit_record(
        actor=actor,
        action=AuditEvent.Action.SAFETY_MARK,
        case=case,
        tier=Tier.WATCH,
        request=request,
        declaration=declaration.pk,
        status=status,
    )
    events.safety_tally_changed(declaration.pk)
    return mark, True


# --- Printable packs ----------------------------------------------------------------------


def disaster_pack_export(
    *, actor: Any, small_area: Area, request: HttpRequest | None = None
) -> bytes:
    """The list of one small area as this supporter may see it, as a PDF for when the network
    is down. Written to the disclosure ledger and the audit trail."""
    from casework import pdf
    from casework.watch_selectors import disaster_list
    from permissions.models import DisclosureRecord

    agency = next(iter(policy.supporter_agencies(actor)), None)
    if agency is None:
        raise PermissionDenied
    entries = list(disaster_list(actor, small_area=small_area.pk))
    declared = [c for c in entries if c.declared]  # type: ignore[attr-defined]
    declaration = None
    if declared:
        declaration = (
            policy.active_declarations()
            .filter(areas__in=[small_area.pk, small_area.parent_id])
            .order_by("started_at", "pk")
            .first()
        )
    basis = DisclosureRecord.Basis.DECLARATION if declared else DisclosureRecord.Basis.CONSENT
    basis_label = str(DisclosureRecord.Basis(basis).label)
    data = pdf.render_pdf(
        "watch/disaster_pack.pdf.html",
        {
            **pdf.confidentiality(reader=actor, agency=agency, basis=basis_label),
            "area": small_area,
            "entries": entries,
            "declaration": declaration,
            "safety_labels": [label for _value, label in SafetyMark.Status.choices],
        },
    )
    with transaction.atomic():
        DisclosureRecord.objects.create(
            actor=actor,
            actor_label=display_name(actor),
            agency=agency,
            kind="disaster_list_pdf",
            description=_("Disaster-support list, %(area)s: %(n)d people")
            % {"area": small_area.name, "n": len(entries)},
            basis=basis,
            declaration=declaration,
            case_ids=[c.pk for c in entries],
            tier=Tier.WATCH,
            sha256=pdf.sha256(data),
        )
        detail: dict[str, Any] = {"what": "disaster_list_pdf", "area": small_area.pk}
        if declaration is not None:
            detail["declaration"] = declaration.pk
        audit_record(
            actor=actor,
            action=AuditEvent.Action.EXPORT,
            tier=Tier.WATCH,
            request=request,
            count=len(entries),
            **detail,
        )
    return data


def watch_register_export(
    *, actor: Any, small_area: Area, request: HttpRequest | None = None
) -> bytes:
    """The watch-over register of one small area as the reader may see it, watch tier only
    (whatever tier the reader holds), for an emergency without network. Ledger and audit."""
    from casework import pdf
    from casework.watch_selectors import watch_register
    from permissions.models import DisclosureRecord

    if not policy.can_report_concern(actor):  # any member of an agency
        raise PermissionDenied
    agency = Agency.objects.filter(pk=policy.primary_agency_id(actor) or 0).first()
    entries = list(watch_register(actor, small_area=small_area.pk))
    data = pdf.render_pdf(
        "watch/register_pack.pdf.html",
        {
            **pdf.confidentiality(
                reader=actor, agency=agency, basis=str(DisclosureRecord.Basis.SHARE.label)
            ),
            "area": small_area,
            "entries": entries,
        },
    )
    with transaction.atomic():
        DisclosureRecord.objects.create(
            actor=actor,
            actor_label=display_name(actor),
            agency=agency,
            kind="watch_register_pdf",
            description=_("Watch-over register, %(area)s: %(n)d households")
            % {"area": small_area.name, "n": len(entries)},
            basis=DisclosureRecord.Basis.SHARE,
            case_ids=[c.pk for c in entries],
            tier=Tier.WATCH,
            sha256=pdf.sha256(data),
        )
        audit_record(
            actor=actor,
            action=AuditEvent.Action.EXPORT,
            tier=Tier.WATCH,
            request=request,
            what="watch_register_pdf",
            area=small_area.pk,
            count=len(entries),
        )
    return data
