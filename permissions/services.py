"""State changes of shares and consents. Atomic, validated, audited."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from permissions.audit import audit_record
from permissions.models import Agency, AuditEvent, Consent, Share, Tier

if TYPE_CHECKING:
    from casework.models import Case


def _live_meetings_reread(case_id: int) -> None:
    """Live conferences about the case re-read their readers' access now (not within their
    periodic bound): a revoked or lowered share stops what reaches their sockets at once."""
    from conferences.events import shares_changed

    shares_changed(case_id)


def _validate_share(
    *,
    case: Case,
    agency: Agency,
    tier: int,
    basis: str,
    consent: Consent | None,
    expires_at: dt.datetime | None,
) -> None:
    errors: dict[str, str] = {}
    if tier not in Tier.values:
        errors["tier"] = _("Choose one of the tiers: watch-over, support or sensitive.")
    if basis not in Share.Basis.values:
        errors["basis"] = _("Choose a legal basis for sharing.")
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = _("The expiry must be in the future.")
    if basis == Share.Basis.CONSENT:
        if consent is None:
            errors["consent"] = _(
                "Sharing on the basis of consent needs a recorded consent. Record the "
                "person's consent first, or choose another legal basis."
            )
        elif consent.case_id != case.pk:
            errors["consent"] = _("That consent belongs to another case.")
        elif consent.state() != "valid":
            errors["consent"] = _("That consent is not valid (expired or withdrawn).")
        elif not consent.agencies.filter(pk=agency.pk).exists():
            errors["consent"] = _("The consent does not cover this agency.")
        elif tier not in Tier.values or tier > consent.tier:
            errors["tier"] = _("The consent does not cover this tier.")
    elif consent is not None:
        errors["consent"] = _("A consent is only recorded when the basis is consent.")
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def share_grant(
    *,
    actor: Any,
    case: Case,
    agency: Agency,
    tier: int,
    basis: str,
    may_contribute: bool = False,
    coordinates: bool = False,
    consent: Consent | None = None,
    expires_at: dt.datetime | None = None,
    request: HttpRequest | None = None,
) -> Share:
    _validate_share(
        case=case, agency=agency, tier=tier, basis=basis, consent=consent, expires_at=expires_at
    )
    if Share.objects.filter(case=case, agency=agency).exists():
        raise ValidationError({"agency": _("This agency already has a share; change it instead.")})
    try:
        with transaction.atomic():
            share = Share.objects.create(
                case=case,
                agency=agency,
                tier=tier,
                basis=basis,
                consent=consent,
                may_contribute=may_contribute,
                coordinates=coordinates,
                expires_at=expires_at,
                granted_by=actor,
            )
    except IntegrityError:
        raise ValidationError(
            {"agency": _("This agency already has a share; change it instead.")}
        ) from None
    audit_record(
        actor=actor,
        action=AuditEvent.Action.SHARE_GRANT,
        case=case,
        request=request,
        share_agency=agency.pk,
        tier_granted=tier,
        basis=basis,
        expires_at=expires_at.isoformat() if expires_at else None,
    )
    return share


@transaction.atomic
def share_update(
    *,
    actor: Any,
    share: Share,
    tier: int,
    basis: str,
    may_contribute: bool,
    coordinates: bool,
    consent: Consent | None = None,
    expires_at: dt.datetime | None = None,
    request: HttpRequest | None = None,
) -> Share:
    _validate_share(
        case=share.case,
        agency=share.agency,
        tier=tier,
        basis=basis,
        consent=consent,
        expires_at=expires_at,
    )
    before = {"tier": share.tier, "basis": share.basis}
    share.tier, share.basis, share.consent = tier, basis, consent
    share.may_contribute, share.coordinates, share.expires_at = (
        may_contribute,
        coordinates,
        expires_at,
    )
    share.save()
    _live_meetings_reread(share.case_id)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.SHARE_CHANGE,
        case=share.case,
        request=request,
        share_agency=share.agency_id,
        before=before,
        tier_granted=tier,
        basis=basis,
    )
    return share


@transaction.atomic
def share_revoke(*, actor: Any, share: Share, request: HttpRequest | None = None) -> None:
    case = share.case
    if (
        share.coordinates
        and not Share.objects.filter(case=case, coordinates=True).exclude(pk=share.pk).exists()
    ):
        raise ValidationError(_("A case needs at least one coordinating agency."))
    agency_id = share.agency_id
    share.delete()
    _live_meetings_reread(case.pk)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.SHARE_REVOKE,
        case=case,
        request=request,
        share_agency=agency_id,
    )


@transaction.atomic
def consent_record(
    *,
    actor: Any,
    case: Case,
    agencies: list[Agency],
    tier: int,
    given_on: dt.date,
    method: str,
    expires_on: dt.date | None = None,
    scope_note: str = "",
    request: HttpRequest | None = None,
) -> Consent:
    errors: dict[str, str] = {}
    if not agencies:
        errors["agencies"] = _("Choose at least one agency the person agreed to share with.")
    if tier not in Tier.values:
        errors["tier"] = _("Choose one of the tiers: watch-over, support or sensitive.")
    if given_on > timezone.localdate():
        errors["given_on"] = _("The date given cannot be in the future.")
    if expires_on is not None and expires_on < max(given_on, timezone.localdate()):
        errors["expires_on"] = _("The end of validity must be today or later.")
    if errors:
        raise ValidationError(errors)
    consent = Consent(
        case=case,
        tier=tier,
        given_on=given_on,
        method=method,
        expires_on=expires_on,
        scope_note=scope_note,
        recorded_by=actor,
    )
    consent.full_clean()
    consent.save()
    consent.agencies.set(agencies)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CONSENT_RECORD,
        case=case,
        request=request,
        consent=consent.pk,
        agencies=[a.pk for a in agencies],
        tier_covered=tier,
    )
    return consent


@transaction.atomic
def consent_withdraw(
    *, actor: Any, consent: Consent, request: HttpRequest | None = None
) -> list[str]:
    """Withdraw a consent; the shares resting on it are removed. Returns the agencies cut off."""
    consent = Consent.objects.select_for_update().get(pk=consent.pk)
    if consent.withdrawn_at:
        return []
    consent.withdrawn_at = timezone.now()
    consent.withdrawn_by = actor
    consent.save(update_fields=["withdrawn_at", "withdrawn_by"])
    dependent = list(Share.objects.filter(consent=consent).select_related("agency"))
    names = [s.agency.name for s in dependent]
    for share in dependent:
        share.delete()
    if dependent:
        _live_meetings_reread(consent.case_id)
    for share in dependent:
        audit_record(
            actor=actor,
            action=AuditEvent.Action.SHARE_REVOKE,
            case=consent.case,
            request=request,
            share_agency=share.agency_id,
            because="consent_withdrawn",
        )
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CONSENT_WITHDRAW,
        case=consent.case,
        request=request,
        consent=consent.pk,
        shares_removed=len(dependent),
    )
    return names
