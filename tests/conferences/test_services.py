"""Scheduling with a legal basis: 支援会議 grants shares (106-6), 重層的支援会議 needs consent,
the move between them; preparation, attendance, closing and feedback."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import date_format

from conferences import services
from conferences.models import AgendaItem, Conference, Participant
from permissions.conferences import conference_access
from permissions.models import Share, Tier
from permissions.services import consent_record
from tests.conferences.conftest import acknowledge, make_live, schedule
from tests.factories import AgencyFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def housing(cast):  # type: ignore[no-untyped-def]
    """An agency with no share of the cast's case yet, with one professional."""
    agency = AgencyFactory(name="住宅課")
    MembershipFactory(user=UserFactory(username="housing", last_name="森"), agency=agency)
    return agency


def test_support_meeting_appoints_invited_agencies_with_basis_106_6(cast, housing):
    conference = schedule(
        cast,
        agencies=[cast.council, cast.professional_agency, housing],
        member_tier=Tier.SUPPORT,
    )
    share = Share.objects.get(case=cast.case, agency=housing)
    assert share.basis == Share.Basis.SUPPORT_MEETING
    assert share.tier == Tier.SUPPORT and share.may_contribute
    assert conference.legal_basis and "106" in conference.legal_basis
    # The existing intake share of the council is untouched.
    council = Share.objects.get(case=cast.case, agency=cast.council)
    assert council.basis == Share.Basis.INTAKE and council.tier == Tier.SENSITIVE


def test_double_submit_creates_one_conference(cast):
    token = uuid.uuid4().hex
    first = schedule(cast, token=token)
    second = schedule(cast, token=token)
    assert first.pk == second.pk
    assert Conference.objects.count() == 1


def test_multilayer_needs_consent_covering_invited_agencies(cast, housing):
    with pytest.raises(ValidationError) as exc:
        schedule(
            cast,
            kind=Conference.Kind.MULTILAYER,
            agencies=[cast.council, cast.professional_agency],
        )
    message = str(exc.value)
    assert "consent" in message.lower() or "同意" in message
    assert not Conference.objects.exists()
    consent_record(
        actor=cast.coordinator,
        case=cast.case,
        agencies=[cast.professional_agency],
        tier=Tier.SUPPORT,
        given_on=timezone.localdate(),
        method="written",
    )
    with pytest.raises(ValidationError) as exc:
        schedule(
            cast,
            kind=Conference.Kind.MULTILAYER,
            agencies=[cast.council, cast.professional_agency, housing],
        )
    assert "住宅課" in str(exc.value)
    conference = schedule(
        cast, kind=Conference.Kind.MULTILAYER, agencies=[cast.council, cast.professional_agency]
    )
    assert conference.items.get().consent is not None


def test_withdrawn_consent_blocks_a_multilayer_meeting(cast):
    from permissions.services import consent_withdraw

    consent = consent_record(
        actor=cast.coordinator,
        case=cast.case,
        agencies=[cast.professional_agency],
        tier=Tier.SUPPORT,
        given_on=timezone.localdate(),
        method="written",
    )
    consent_withdraw(actor=cast.coordinator, consent=consent)
    with pytest.raises(ValidationError):
        schedule(
            cast,
            kind=Conference.Kind.MULTILAYER,
            agencies=[cast.council, cast.professional_agency],
        )


def test_multilayer_says_when_an_agencys_consent_expired_or_was_withdrawn(cast, housing):
    """An agency a consent covered until it expired or was withdrawn is told so, with the day;
    an agency no consent ever covered keeps the plain "does not cover"."""
    from django.utils import translation

    from permissions.models import Consent
    from permissions.services import consent_withdraw

    today = timezone.localdate()
    ended = today - dt.timedelta(days=35)
    expired = consent_record(
        actor=cast.coordinator,
        case=cast.case,
        agencies=[housing],
        tier=Tier.SUPPORT,
        given_on=today - dt.timedelta(days=400),
        method="written",
    )
    Consent.objects.filter(pk=expired.pk).update(expires_on=ended)
    withdrawn = consent_record(
        actor=cast.coordinator,
        case=cast.case,
        agencies=[cast.residents_agency],
        tier=Tier.WATCH,
        given_on=today - dt.timedelta(days=10),
        method="verbal",
    )
    consent_withdraw(actor=cast.coordinator, consent=withdrawn)
    consent_record(
        actor=cast.coordinator,
        case=cast.case,
        agencies=[cast.professional_agency],
        tier=Tier.SUPPORT,
        given_on=today,
        method="written",
    )
    stranger = AgencyFactory(name="消費生活センター")
    invited = [cast.council, cast.professional_agency, housing, cast.residents_agency, stranger]
    with translation.override("en"), pytest.raises(ValidationError) as exc:
        schedule(cast, kind=Conference.Kind.MULTILAYER, agencies=invited)
    with translation.override("en"):
        on, until = date_format(today), date_format(ended)  # "Nov. 28, 2026"
    messages = exc.value.message_dict["agencies"]
    assert messages == [
        f"The consent for 山﨑さん世帯 that covered 民生委員協議会 was withdrawn on {on}. "
        "Record a new consent that covers them, or do not invite them.",
        f"The consent for 山﨑さん世帯 that covered 住宅課 was valid until {until} and has "
        "expired. Record a new consent that covers them, or do not invite them.",
        "The consent for 山﨑さん世帯 does not cover: 消費生活センター. Record a consent that "
        "covers them, or do not invite them.",
    ]
    assert not Conference.objects.exists()


def test_multilayer_without_any_valid_consent_also_says_which_expired(cast, housing):
    from permissions.models import Consent

    today = timezone.localdate()
    expired = consent_record(
        actor=cast.coordinator,
        case=cast.case,
        agencies=[cast.professional_agency, housing],
        tier=Tier.SUPPORT,
        given_on=today - dt.timedelta(days=400),
        method="written",
    )
    Consent.objects.filter(pk=expired.pk).update(expires_on=today - dt.timedelta(days=1))
    with pytest.raises(ValidationError) as exc:
        schedule(
            cast,
            kind=Conference.Kind.MULTILAYER,
            agencies=[cast.council, cast.professional_agency, housing],
        )
    errors = exc.value.message_dict
    assert len(errors["cases"]) == 1  # no valid consent at all
    assert len(errors["agencies"]) == 1
    assert "ケアプランセンター、住宅課" in errors["agencies"][0]


def test_move_to_multilayer_once_consent_is_recorded(cast, housing):
    conference = schedule(cast, agencies=[cast.council, cast.professional_agency, housing])
    status = services.multilayer_move_status(cast.case, conference)
    assert not status["possible"]
    with pytest.raises(ValidationError):
        services.case_move_to_multilayer(actor=cast.coordinator, case=cast.case)
    consent = consent_record(
        actor=cast.coordinator,
        case=cast.case,
        agencies=[cast.professional_agency, housing],
        tier=Tier.SUPPORT,
        given_on=timezone.localdate(),
        method="written",
    )
    status = services.multilayer_move_status(cast.case, conference)
    assert status["possible"]
    moved, missing = services.case_move_to_multilayer(actor=cast.coordinator, case=cast.case)
    assert moved == consent
    housing_share = Share.objects.get(case=cast.case, agency=housing)
    assert housing_share.basis == Share.Basis.CONSENT and housing_share.consent == consent
    # The residents' group is not covered: it stays a 106-6 member, and is reported.
    assert [a.name for a in missing] == ["民生委員協議会"]
    assert Share.objects.get(case=cast.case, agency=cast.residents_agency).basis == (
        Share.Basis.SUPPORT_MEETING
    )
    # And now a multi-layered meeting can be scheduled for the covered agencies.
    schedule(
        cast,
        kind=Conference.Kind.MULTILAYER,
        agencies=[cast.council, cast.professional_agency, housing],
    )


def test_move_status_and_invitees_are_this_support_meetings(cast, housing):
    """What the move reports as not covered, and whom the next meeting invites by default,
    are this support meeting's invitees: not an earlier meeting's members, nor every agency the
    consent names. The council coordinates the case and needs no consent."""
    from django.contrib.auth import get_user_model

    # An earlier support meeting appointed the residents' group; this one does not invite it,
    # and invites the housing department's officer in person.
    schedule(cast, agencies=[cast.council, cast.professional_agency, cast.residents_agency])
    officer = get_user_model().objects.get(username="housing")
    conference = schedule(cast, agencies=[cast.council, cast.professional_agency], people=[officer])
    consent = consent_record(
        actor=cast.coordinator,
        case=cast.case,
        agencies=[cast.professional_agency, housing, cast.outsider_agency],
        tier=Tier.SUPPORT,
        given_on=timezone.localdate(),
        method="written",
    )
    status = services.multilayer_move_status(cast.case, conference)
    assert status["possible"] and status["consent"] == consent
    assert status["missing"] == []
    agencies, people = services.multilayer_invitees(
        case=cast.case, conference=conference, consent=consent
    )
    assert agencies == [cast.council, cast.professional_agency]  # not the outsider agency
    assert people == [officer]
    # The earlier meeting: the residents' group is invited there, and not covered.
    earlier = Conference.objects.exclude(pk=conference.pk).get()
    status = services.multilayer_move_status(cast.case, earlier)
    assert [a.name for a in status["missing"]] == ["民生委員協議会"]
    agencies, people = services.multilayer_invitees(
        case=cast.case, conference=earlier, consent=consent
    )
    assert agencies == [cast.council, cast.professional_agency] and people == []


def test_only_coordinators_of_the_case_schedule(cast):
    with pytest.raises(ValidationError):
        schedule(cast, actor=cast.professional)


def test_schedule_refuses_past_dates_and_outside_chairs(cast):
    with pytest.raises(ValidationError) as exc:
        schedule(
            cast,
            starts_at=timezone.now() - dt.timedelta(hours=1),
            chair=cast.outsider,
            agencies=[cast.professional_agency],
        )
    assert set(exc.value.message_dict) >= {"starts_at", "chair"}


def test_agenda_per_case_children_first(cast):
    from tests.factories import CaseFactory, ShareFactory

    child_case = CaseFactory(label="若者ケアラー世帯", lead_coordinator=cast.coordinator)
    ShareFactory(
        case=child_case,
        agency=cast.council,
        tier=Tier.SENSITIVE,
        coordinates=True,
        basis=Share.Basis.INTAKE,
    )
    conference = schedule(
        cast,
        cases=[
            services.CaseOnAgenda(cast.case),
            services.CaseOnAgenda(child_case, concerns_children=True),
        ],
    )
    items = list(conference.agenda.all())
    assert items[0].case == child_case
    assert [i.kind for i in items[:5]] == [
        AgendaItem.Kind.SITUATION,
        AgendaItem.Kind.REVIEW,
        AgendaItem.Kind.DISCUSSION,
        AgendaItem.Kind.DECISIONS,
        AgendaItem.Kind.ROLES,
    ]
    assert items[-1].kind == AgendaItem.Kind.OTHER and items[-1].case is None


def test_prep_sheet_by_lead_coordinator_and_asks_answered_by_the_agency(cast):
    conference = schedule(cast)
    acknowledge(conference, cast.coordinator, cast.professional)
    coord = conference_access(cast.coordinator, conference)
    link = conference.items.get()
    services.prep_sheet_update(
        actor=cast.coordinator,
        access=coord,
        sheet=link.prep,
        household="母と長男",
        current_support="ケアマネ訪問",
        agencies_to_involve="地域包括",
    )
    prof = conference_access(cast.professional, conference)
    with pytest.raises(ValidationError):
        services.prep_sheet_update(
            actor=cast.professional,
            access=prof,
            sheet=link.prep,
            household="x",
            current_support="",
            agencies_to_involve="",
        )
    ask = services.prep_ask_add(
        actor=cast.coordinator,
        access=coord,
        sheet=link.prep,
        agency=cast.professional_agency,
        question="最近の様子は？",
        tier=Tier.SUPPORT,
    )
    assert prof.may_read_ask(ask, cast.case.pk)
    resident = conference_access(cast.resident, conference)
    assert not resident.may_read_ask(ask, cast.case.pk)
    services.prep_ask_answer(actor=cast.professional, access=prof, ask=ask, answer="落ち着いている")
    ask.refresh_from_db()
    assert ask.answer == "落ち着いている" and ask.answered_by == cast.professional
    with pytest.raises(ValidationError):
        services.prep_ask_answer(actor=cast.resident, access=resident, ask=ask, answer="x")


def test_acknowledgement_attendance_and_apologies(cast):
    conference = schedule(cast)
    services.apologies_record(
        actor=cast.resident,
        access=conference_access(cast.resident, conference),
        user=cast.resident,
        note="所用のため",
    )
    acknowledge(conference, cast.professional)
    p = Participant.objects.get(conference=conference, user=cast.professional)
    assert p.acknowledged_at is not None and p.statement_ack == conference.confidentiality_statement
    assert Participant.objects.get(conference=conference, user=cast.resident).apologies
    with pytest.raises(ValidationError):
        services.apologies_record(
            actor=cast.professional,
            access=conference_access(cast.professional, conference),
            user=cast.resident,
        )


def test_close_and_feedback(cast):
    conference = make_live(cast)
    prof = conference_access(cast.professional, conference)
    with pytest.raises(ValidationError):
        services.feedback_give(actor=cast.professional, access=prof, useful="yes", role_clear="yes")
    with pytest.raises(ValidationError):
        services.conference_close(actor=cast.professional, access=prof)
    services.conference_close(
        actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
    )
    conference.refresh_from_db()
    assert conference.state == Conference.State.CLOSED
    prof = conference_access(cast.professional, conference)
    fb = services.feedback_give(
        actor=cast.professional, access=prof, useful="partly", role_clear="yes", comment="有益"
    )
    assert fb.agency == cast.professional_agency
    outsider_access = conference_access(cast.outsider, conference)
    assert outsider_access is None


def test_invitees_see_upcoming_conferences(cast):
    from conferences.selectors import upcoming_for

    conference = schedule(cast)
    assert list(upcoming_for(cast.professional)) == [conference]
    assert list(upcoming_for(cast.resident)) == [conference]
    assert list(upcoming_for(cast.outsider)) == []


def test_multilayer_meeting_does_not_start_once_consent_is_withdrawn(cast):
    from permissions.services import consent_withdraw

    consent = consent_record(
        actor=cast.coordinator,
        case=cast.case,
        agencies=[cast.professional_agency],
        tier=Tier.SUPPORT,
        given_on=timezone.localdate(),
        method="written",
    )
    conference = schedule(
        cast, kind=Conference.Kind.MULTILAYER, agencies=[cast.council, cast.professional_agency]
    )
    consent_withdraw(actor=cast.coordinator, consent=consent)
    with pytest.raises(ValidationError) as exc:
        services.conference_start(
            actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
        )
    assert "山﨑さん世帯" in str(exc.value)
    conference.refresh_from_db()
    assert conference.state == Conference.State.SCHEDULED


def test_no_acknowledgement_once_the_meeting_is_closed(cast):
    """An acknowledgement counts as attendance and opens the record: not after the meeting."""
    conference = make_live(cast)
    late = MembershipFactory(user=UserFactory(username="late"), agency=cast.professional_agency)
    # Read before the close, as a live socket's access is: the service reads the state again.
    before = conference_access(late.user, conference)
    services.conference_close(
        actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
    )
    with pytest.raises(ValidationError) as exc:
        services.conference_acknowledge(actor=late.user, access=before)
    assert exc.value.code == "closed"
    assert not Participant.objects.filter(conference=conference, user=late.user).exists()
    assert not conference_access(late.user, conference).acknowledged
    # Someone who acknowledged in time is not refused again.
    again = conference_access(cast.professional, conference)
    assert services.conference_acknowledge(actor=cast.professional, access=again).acknowledged_at
