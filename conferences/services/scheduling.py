"""Scheduling a conference, with the legal basis of sharing: who is invited, which cases are
on the agenda, the shares its members receive (支援会議) or the consent it needs
(重層的支援会議), and the move of a case from one to the other."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from conferences.models import (
    DEFAULT_STATEMENT,
    AgendaItem,
    Conference,
    ConferenceCase,
    Invitation,
    PrepSheet,
)
from permissions import services as share_services
from permissions.audit import audit_record
from permissions.conferences import may_schedule_for
from permissions.models import Agency, AuditEvent, Consent, Membership, Share, Tier
from permissions.people import display_name

if TYPE_CHECKING:
    from casework.models import Case

CASE_ITEMS = [
    AgendaItem.Kind.SITUATION,
    AgendaItem.Kind.REVIEW,
    AgendaItem.Kind.DISCUSSION,
    AgendaItem.Kind.DECISIONS,
    AgendaItem.Kind.ROLES,
]
# Kinds whose members share on the meeting's own legal basis, without consent.
STATUTORY_BASIS = {
    Conference.Kind.SUPPORT_MEETING: Share.Basis.SUPPORT_MEETING,
    Conference.Kind.CHILD_COUNCIL: Share.Basis.CHILD_COUNCIL,
}


@dataclass
class CaseOnAgenda:
    case: Case
    concerns_children: bool = False


def _people_agencies(people: Sequence[Any]) -> dict[int, int]:
    """{user id: the agency they attend for} — their first active membership."""
    found: dict[int, int] = {}
    for m in Membership.objects.filter(user__in=people, agency__is_active=True).order_by("pk"):
        found.setdefault(m.user_id, m.agency_id)
    return found


def consent_coverage(case: Case, agencies: Sequence[Agency]) -> tuple[Consent | None, list[Agency]]:
    """The most recent valid consent of `case` and the agencies it does not cover."""
    valid = [
        c
        for c in Consent.objects.filter(Consent.valid_q(), case=case).prefetch_related("agencies")
        if c.state() == "valid"
    ]
    best: Consent | None = None
    best_missing = list(agencies)
    for consent in valid:
        covered = {a.pk for a in consent.agencies.all()}
        missing = [a for a in agencies if a.pk not in covered]
        if best is None or len(missing) < len(best_missing):
            best, best_missing = consent, missing
    return best, best_missing


def lapsed_coverage(case: Case, agencies: Sequence[Agency]) -> list[tuple[Consent, list[Agency]]]:
    """Of `agencies`, those a consent of `case` covered that has since expired or been
    withdrawn, grouped by that consent (the latest one that covered each agency). Agencies no
    consent ever covered are not in it."""
    wanted = {a.pk: a for a in agencies}
    by_consent: dict[int, tuple[Consent, list[Agency]]] = {}
    seen: set[int] = set()
    for consent in Consent.objects.filter(case=case).prefetch_related("agencies"):  # newest first
        if consent.state() not in ("expired", "withdrawn"):
            continue
        for agency in consent.agencies.all():
            if agency.pk in wanted and agency.pk not in seen:
                seen.add(agency.pk)
                by_consent.setdefault(consent.pk, (consent, []))[1].append(wanted[agency.pk])
    return list(by_consent.values())


def lapsed_message(case: Case, consent: Consent, agencies: Sequence[Agency]) -> str:
    """Why a consent of `case` no longer covers `agencies`: expired (with its last valid day)
    or withdrawn (with the day), in the current language."""
    names = "、".join(a.name for a in agencies)
    if consent.withdrawn_at is not None:
        return _(
            "The consent for %(case)s that covered %(agencies)s was withdrawn on %(date)s. "
            "Record a new consent that covers them, or do not invite them."
        ) % {
            "case": case.label,
            "agencies": names,
            "date": date_format(timezone.localdate(consent.withdrawn_at)),
        }
    if consent.expires_on is not None:
        return _(
            "The consent for %(case)s that covered %(agencies)s was valid until %(date)s and "
            "has expired. Record a new consent that covers them, or do not invite them."
        ) % {"case": case.label, "agencies": names, "date": date_format(consent.expires_on)}
    raise ValueError(f"consent {consent.pk} has neither expired nor been withdrawn")


def _coordinating_agencies(case: Case) -> set[int]:
    return set(
        Share.objects.filter(Share.active_q(), case=case, coordinates=True).values_list(
            "agency_id", flat=True
        )
    )


@transaction.atomic
def conference_schedule(
    *,
    actor: Any,
    token: str,
    kind: str,
    title: str,
    starts_at: dt.datetime,
    duration_minutes: int = 60,
    place: str = "",
    online_url: str = "",
    chair: Any,
    minute_taker: Any | None,
    cases: Sequence[CaseOnAgenda],
    agencies: Sequence[Agency],
    people: Sequence[Any] = (),
    member_tier: int = Tier.SUPPORT,
    members_contribute: bool = True,
    confidentiality_statement: str = "",
    request: HttpRequest | None = None,
) -> Conference:
    """Schedule a conference. Idempotent on `token` (a double-click creates one conference).

    支援会議 / 要対協: the invited agencies become the appointed members for the meeting's
    cases (shares on the meeting's legal basis). 重層的支援会議: every case needs a valid
    consent covering every invited agency, or nothing is scheduled."""
    existing = Conference.objects.filter(schedule_token=token).first()
    if existing is not None:
        return existing
    errors: dict[str, list[str]] = {}

    def err(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    if kind not in Conference.Kind.values:
        err("kind", _("Choose the type of meeting."))
    if starts_at <= timezone.now():
        err("starts_at", _("The meeting must start in the future."))
    if not cases:
        err("cases", _("Put at least one case on the agenda."))
    if not agencies and not people:
        err("agencies", _("Invite at least one agency or person."))
    if member_tier not in Tier.values:
        err("member_tier", _("Choose one of the tiers: watch-over, support or sensitive."))
    for item in cases:
        if not may_schedule_for(actor, item.case):
            err("cases", _("You do not coordinate %(case)s.") % {"case": item.case.label})
    person_agency = _people_agencies(people)
    for person in people:
        if person.pk not in person_agency:
            err("people", _("%(name)s belongs to no agency.") % {"name": display_name(person)})
    all_agencies = {a.pk: a for a in agencies}
    for agency in Agency.objects.filter(pk__in=set(person_agency.values())):
        all_agencies.setdefault(agency.pk, agency)
    member_ids = {p.pk for p in people} | set(
        Membership.objects.filter(
            agency_id__in=[a.pk for a in agencies], agency__is_active=True
        ).values_list("user_id", flat=True)
    )
    if chair.pk not in member_ids and chair.pk != actor.pk:
        err("chair", _("The chair must be invited (in person or through their agency)."))
    if minute_taker is not None and minute_taker.pk not in member_ids | {actor.pk}:
        err("minute_taker", _("The minute-taker must be invited."))

    consents: dict[int, Consent | None] = {}
    if kind == Conference.Kind.MULTILAYER:
        for item in cases:
            coordinating = _coordinating_agencies(item.case)
            needed = [a for a in all_agencies.values() if a.pk not in coordinating]
            consent, missing = consent_coverage(item.case, needed)
            if consent is None and needed:
                err(
                    "cases",
                    _(
                        "A multi-layered support meeting needs the person's consent: "
                        "%(case)s has no valid consent. Record it first, or hold a "
                        "support meeting (支援会議) instead."
                    )
                    % {"case": item.case.label},
                )
            # An agency a consent covered until it expired or was withdrawn is told apart
            # from one no consent ever covered.
            lapsed = lapsed_coverage(item.case, missing) if needed else []
            for old_consent, agencies_of in lapsed:
                err("agencies", lapsed_message(item.case, old_consent, agencies_of))
            lapsed_ids = {a.pk for _consent, agencies_of in lapsed for a in agencies_of}
            never = [a for a in missing if a.pk not in lapsed_ids]
            if consent is not None and never:
                err(
                    "agencies",
                    _(
                        "The consent for %(case)s does not cover: %(agencies)s. Record a "
                        "consent that covers them, or do not invite them."
                    )
                    % {"case": item.case.label, "agencies": "、".join(a.name for a in never)},
                )
            consents[item.case.pk] = consent
    elif kind in (Conference.Kind.COMMUNITY_CARE, Conference.Kind.NEEDY):
        for item in cases:
            shared = set(
                Share.objects.filter(Share.active_q(), case=item.case).values_list(
                    "agency_id", flat=True
                )
            )
            missing = [a for a in all_agencies.values() if a.pk not in shared]
            if missing:
                err(
                    "agencies",
                    _(
                        "%(agencies)s have no share of %(case)s. This type of meeting does "
                        "not create shares: share the case first (usually with consent)."
                    )
                    % {"case": item.case.label, "agencies": "、".join(a.name for a in missing)},
                )
    if errors:
        raise ValidationError(errors)

    try:
        with transaction.atomic():
            conference = Conference.objects.create(
                kind=kind,
                title=title,
                starts_at=starts_at,
                duration_minutes=duration_minutes,
                place=place,
                online_url=online_url,
                chair=chair,
                minute_taker=minute_taker,
                confidentiality_statement=confidentiality_statement or str(DEFAULT_STATEMENT),
                schedule_token=token,
                created_by=actor,
            )
    except IntegrityError:
        # The same form submitted twice at once: the first one won.
        return Conference.objects.get(schedule_token=token)
    for agency in agencies:
        Invitation.objects.create(conference=conference, agency=agency)
    for person in people:
        Invitation.objects.create(
            conference=conference, agency_id=person_agency[person.pk], user=person
        )
    ordered = sorted(cases, key=lambda c: not c.concerns_children)
    order = 0
    for index, item in enumerate(ordered):
        link = ConferenceCase.objects.create(
            conference=conference,
            case=item.case,
            order=index,
            concerns_children=item.concerns_children,
            member_tier=member_tier,
            consent=consents.get(item.case.pk),
        )
        PrepSheet.objects.create(conference_case=link)
        for kind_value in CASE_ITEMS:
            AgendaItem.objects.create(
                conference=conference,
                case=item.case,
                kind=kind_value,
                order=order,
            )
            order += 1
        _grant_member_shares(
            actor=actor,
            conference=conference,
            case=item.case,
            agencies=list(all_agencies.values()),
            tier=member_tier,
            contribute=members_contribute,
            consent=consents.get(item.case.pk),
            request=request,
        )
    AgendaItem.objects.create(conference=conference, kind=AgendaItem.Kind.OTHER, order=order)
    from conferences.actions import carry_forward

    carry_forward(conference)
    audit_record(
        actor=actor,
        action=AuditEvent.Action.CONFERENCE_SCHEDULE,
        request=request,
        conference=conference.pk,
        kind=kind,
        cases=[c.case.pk for c in cases],
        agencies=sorted(all_agencies),
    )
    return conference


def _grant_member_shares(
    *,
    actor: Any,
    conference: Conference,
    case: Case,
    agencies: list[Agency],
    tier: int,
    contribute: bool,
    consent: Consent | None,
    request: HttpRequest | None,
) -> None:
    basis = STATUTORY_BASIS.get(conference.kind)  # type: ignore[call-overload]
    if basis is None and conference.kind == Conference.Kind.MULTILAYER:
        basis = Share.Basis.CONSENT
    if basis is None:
        return
    existing = {s.agency_id: s for s in Share.objects.filter(case=case)}
    for agency in agencies:
        share = existing.get(agency.pk)
        share_tier = min(tier, consent.tier) if consent is not None else tier
        if share is None:
            share_services.share_grant(
                actor=actor,
                case=case,
                agency=agency,
                tier=share_tier,
                basis=basis,
                may_contribute=contribute,
                consent=consent if basis == Share.Basis.CONSENT else None,
                request=request,
            )
        elif (
            share.basis == basis
            and share.tier < share_tier
            and share.consent_id
            == (consent.pk if basis == Share.Basis.CONSENT and consent else None)
        ):
            # An appointed member of an earlier meeting, now appointed at a higher tier.
            share_services.share_update(
                actor=actor,
                share=share,
                tier=share_tier,
                basis=basis,
                may_contribute=share.may_contribute or contribute,
                coordinates=share.coordinates,
                consent=share.consent,
                expires_at=share.expires_at,
                request=request,
            )


def new_schedule_token() -> str:
    return uuid.uuid4().hex


def _invited(conference: Conference) -> tuple[list[Agency], list[tuple[Any, Agency]]]:
    """The agencies a conference invites as a whole, and the people it invites in person, each
    with the agency they attend for."""
    agencies: list[Agency] = []
    people: list[tuple[Any, Agency]] = []
    for invitation in conference.invitations.select_related("agency", "user").order_by("pk"):
        if invitation.user is None:
            agencies.append(invitation.agency)
        else:
            people.append((invitation.user, invitation.agency))
    return agencies, people


def multilayer_move_status(case: Case, conference: Conference) -> dict[str, Any]:
    """Whether a case in 支援会議 may move to 重層的支援会議 (a valid consent is recorded), and
    which of this support meeting's invited agencies that consent does not cover: they cannot be
    invited to the multi-layered meeting until a consent covering them is recorded. Agencies
    that coordinate the case need no consent (as in `conference_schedule`)."""
    agencies, people = _invited(conference)
    coordinating = _coordinating_agencies(case)
    invited = {a.pk: a for a in [*agencies, *(agency for _person, agency in people)]}
    needed = [a for a in invited.values() if a.pk not in coordinating]
    consent, missing = consent_coverage(case, needed)
    return {
        "case": case,
        "consent": consent,
        "missing": missing if consent is not None else [],
        "possible": consent is not None,
    }


def multilayer_invitees(
    *, case: Case, conference: Conference, consent: Consent
) -> tuple[list[Agency], list[Any]]:
    """Whom to invite, by default, to the 重層的支援会議 that follows this 支援会議: its own
    invitees (agencies as a whole, people in person) whose agency `consent` covers or who
    coordinate the case. Never anyone the support meeting did not invite: the coordinator may
    add others, the default does not widen the circle."""
    agencies, people = _invited(conference)
    allowed = {a.pk for a in consent.agencies.all()} | _coordinating_agencies(case)
    return (
        [a for a in agencies if a.pk in allowed],
        [person for person, agency in people if agency.pk in allowed],
    )


@transaction.atomic
def case_move_to_multilayer(
    *, actor: Any, case: Case, request: HttpRequest | None = None
) -> tuple[Consent, list[Agency]]:
    """The move 支援会議 → 重層的支援会議: the 106-6 shares of the agencies the consent covers
    now rest on that consent (tier capped by it). Agencies it does not cover keep their
    106-6 share and are returned, so the coordinator can see who is left out."""
    if not may_schedule_for(actor, case):
        raise ValidationError(_("You do not coordinate this case."))
    shares = list(
        Share.objects.filter(
            Share.active_q(), case=case, basis=Share.Basis.SUPPORT_MEETING
        ).select_related("agency")
    )
    consent, missing = consent_coverage(case, [s.agency for s in shares])
    if consent is None:
        raise ValidationError(
            _("No valid consent is recorded for this case: record the person's consent first.")
        )
    missing_ids = {a.pk for a in missing}
    for share in shares:
        if share.agency_id in missing_ids:
            continue
        share_services.share_update(
            actor=actor,
            share=share,
            tier=min(share.tier, consent.tier),
            basis=Share.Basis.CONSENT,
            may_contribute=share.may_contribute,
            coordinates=share.coordinates,
            consent=consent,
            expires_at=share.expires_at,
            request=request,
        )
    return consent, missing
