"""State changes of case records. Every one is atomic and audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from casework.models import Case, ChronologyEntry, HouseholdMember, NeedCategory, normalize_kana
from casework.tiers import CASE_FIELD_TIERS, MEMBER_FIELD_TIERS
from permissions.audit import audit_record
from permissions.models import AuditEvent, Membership, Share, Tier
from permissions.policy import CaseAccess, primary_agency_id


def case_refresh_search(case: Case) -> None:
    parts = [case.label] + [f"{m.name} {m.kana}" for m in HouseholdMember.objects.filter(case=case)]
    text = " ".join(normalize_kana(p) for p in parts)[:1000]
    Case.objects.filter(pk=case.pk).update(search_text=text)
    case.search_text = text


def _council_agency_id(actor: Any) -> int:
    ms = Membership.objects.filter(user=actor, role=Membership.Role.COORDINATOR).order_by("pk")
    first = ms.first()
    if first is None:
        raise ValidationError(_("Only coordinators can open cases."))
    return first.agency_id


@transaction.atomic
def case_open(
    *,
    actor: Any,
    data: dict[str, Any],
    members: list[dict[str, Any]] | None = None,
    request: HttpRequest | None = None,
) -> Case:
    """Open a case; the coordinator's agency holds it (intake share, coordinating, all tiers)."""
    categories = data.pop("need_categories", None)
    case = Case(lead_coordinator=actor, **data)
    case.full_clean()
    case.save()
    if categories is not None:
        case.need_categories.set(categories)
    for m in members or []:
        HouseholdMember.objects.create(case=case, **m)
    Share.objects.create(
        case=case,
        agency_id=_council_agency_id(actor),
        tier=Tier.SENSITIVE,
        may_contribute=True,
        coordinates=True,
        basis=Share.Basis.INTAKE,
        granted_by=actor,
    )
    case_refresh_search(case)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CASE_CREATE,
        case=case,
        tier=Tier.SENSITIVE,
        request=request,
    )
    return case


@transaction.atomic
def case_update(
    *,
    actor: Any,
    access: CaseAccess,
    data: dict[str, Any],
    request: HttpRequest | None = None,
) -> Case:
    """Change fields within the actor's tier; fields above it are never touched."""
    case = Case.objects.select_for_update().get(pk=access.case.pk)
    changed: list[str] = []
    for name, value in data.items():
        if CASE_FIELD_TIERS[name] > access.tier:
            raise ValidationError(_("You cannot change information above your tier."))
        if name == "need_categories":
            new = {c.pk for c in value}
            if new != set(case.need_categories.values_list("pk", flat=True)):
                case.need_categories.set(value)
                changed.append(name)
            continue
        if getattr(case, name) != value:
            setattr(case, name, value)
            changed.append(name)
    if "status" in changed:
        case.closed_at = timezone.now() if case.status == Case.Status.CLOSED else None
    case.full_clean()
    case.save()
    case_refresh_search(case)
    if changed:
        audit_record(
            actor=actor,
            action=AuditEvent.Action.CASE_UPDATE,
            case=case,
            tier=access.tier,
            request=request,
            fields=changed,
        )
    return case


@transaction.atomic
def member_save(
    *,
    actor: Any,
    access: CaseAccess,
    data: dict[str, Any],
    member: HouseholdMember | None = None,
    request: HttpRequest | None = None,
) -> HouseholdMember:
    if member is None:
        member = HouseholdMember(case=access.case)
    for name, value in data.items():
        if MEMBER_FIELD_TIERS[name] > access.tier:
            raise ValidationError(_("You cannot change information above your tier."))
        setattr(member, name, value)
    member.full_clean()
    member.save()
    case_refresh_search(access.case)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.MEMBER_CHANGE,
        case=access.case,
        tier=access.tier,
        request=request,
        member=member.pk,
    )
    return member


@transaction.atomic
def chronology_add(
    *,
    actor: Any,
    access: CaseAccess,
    occurred_on: dt.date,
    text: str,
    tier: int,
    agency_id: int | None = None,
    request: HttpRequest | None = None,
) -> ChronologyEntry:
    if tier not in Tier.values:
        raise ValidationError(_("Unknown tier."))
    if tier > access.tier:
        raise ValidationError(_("You cannot write above your own tier."))
    if occurred_on > timezone.localdate():
        raise ValidationError(_("A timeline entry cannot be dated in the future."))
    writer_agency = agency_id or _writing_agency(actor, access)
    entry = ChronologyEntry(
        case=access.case,
        occurred_on=occurred_on,
        text=text,
        tier=tier,
        agency_id=writer_agency,
        author=actor,
    )
    entry.full_clean()
    entry.save()
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CHRONOLOGY_ADD,
        case=access.case,
        tier=tier,
        request=request,
        entry=entry.pk,
    )
    return entry


def _writing_agency(actor: Any, access: CaseAccess) -> int:
    for share in access.shares:
        if share.may_contribute or share.coordinates:
            return share.agency_id
    agency = primary_agency_id(actor)
    if agency is None:
        raise ValidationError(_("You do not belong to an agency."))
    return agency


def need_categories() -> list[NeedCategory]:
    return list(NeedCategory.objects.all())
