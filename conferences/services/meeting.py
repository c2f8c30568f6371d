"""The meeting itself: the preparation sheet, the confidentiality acknowledgement,
attendance and apologies, starting and closing, feedback and community issues. The live
operations are in `conferences.live`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import events
from conferences.models import (
    Conference,
    Feedback,
    Participant,
    PrepAsk,
    PrepSheet,
)
from permissions.conferences import ConferenceAccess
from permissions.models import Agency


@transaction.atomic
def prep_sheet_update(
    *,
    actor: Any,
    access: ConferenceAccess,
    sheet: PrepSheet,
    household: str,
    current_support: str,
    agencies_to_involve: str,
) -> PrepSheet:
    if not access.may_edit_prep(sheet.conference_case.case_id):
        raise ValidationError(_("Only the case's lead coordinator edits the preparation sheet."))
    sheet.household = household
    sheet.current_support = current_support
    sheet.agencies_to_involve = agencies_to_involve
    sheet.updated_by = actor
    sheet.updated_at = timezone.now()
    sheet.full_clean()
    sheet.save()
    return sheet


@transaction.atomic
def prep_ask_add(
    *,
    actor: Any,
    access: ConferenceAccess,
    sheet: PrepSheet,
    agency: Agency,
    question: str,
    tier: int,
) -> PrepAsk:
    case_id = sheet.conference_case.case_id
    if not access.may_edit_prep(case_id):
        raise ValidationError(_("Only the case's lead coordinator edits the preparation sheet."))
    if tier > access.tier_for(case_id):
        raise ValidationError({"tier": _("You cannot write above the tier you read.")})
    ask = PrepAsk(sheet=sheet, agency=agency, question=question, tier=tier, asked_by=actor)
    ask.full_clean()
    ask.save()
    return ask


@transaction.atomic
def prep_ask_answer(*, actor: Any, access: ConferenceAccess, ask: PrepAsk, answer: str) -> PrepAsk:
    if not access.may_answer_ask(ask, ask.sheet.conference_case.case_id):
        raise ValidationError(_("Only the agency asked can answer."))
    ask.answer = answer
    ask.answered_by = actor
    ask.answered_at = timezone.now()
    ask.full_clean()
    ask.save()
    return ask


def _participant(access: ConferenceAccess) -> Participant:
    p, _created = Participant.objects.get_or_create(
        conference=access.conference,
        user=access.user,
        defaults={"agency_id": access.agency_id},
    )
    return p


@transaction.atomic
def conference_acknowledge(*, actor: Any, access: ConferenceAccess) -> Participant:
    """The confidentiality statement, acknowledged (with time) before any case content; not
    once the meeting is closed (`ConferenceAccess.may_acknowledge`)."""
    p = _participant(access)
    if p.acknowledged_at is None:
        # The state as committed, not as the caller read it (a live socket's access is older).
        access.conference.refresh_from_db(fields=["state"])
        if not access.may_acknowledge:
            raise ValidationError(
                _(
                    "This meeting is closed: its confidentiality statement can no longer be "
                    "acknowledged."
                ),
                code="closed",
            )
        p.acknowledged_at = timezone.now()
        p.statement_ack = access.conference.confidentiality_statement
        p.apologies = False
        p.save(update_fields=["acknowledged_at", "statement_ack", "apologies"])
    access.acknowledged = True
    return p


def participant_joined(*, access: ConferenceAccess) -> None:
    """Attendance is recorded from joins (the first live connection)."""
    Participant.objects.filter(
        conference=access.conference, user=access.user, joined_at__isnull=True
    ).update(joined_at=timezone.now())


@transaction.atomic
def apologies_record(
    *, actor: Any, access: ConferenceAccess, user: Any, note: str = ""
) -> Participant:
    if user.pk != actor.pk and not (access.is_chair or access.is_manager):
        raise ValidationError(_("Only the chair records apologies for someone else."))
    if access.conference.state != Conference.State.SCHEDULED:
        raise ValidationError(_("Apologies are sent before the meeting."))
    from conferences.live import meeting_people

    if user.pk not in meeting_people(access.conference)[0]:
        raise ValidationError(_("This person is not invited to the meeting."))
    agency_id = access.agency_id if user.pk == actor.pk else None
    p, _created = Participant.objects.get_or_create(
        conference=access.conference, user=user, defaults={"agency_id": agency_id}
    )
    if p.joined_at is not None:
        raise ValidationError(_("This person has already joined the meeting."))
    p.apologies = True
    p.apology_note = note[:300]
    p.save(update_fields=["apologies", "apology_note"])
    return p


def consent_problems(conference: Conference) -> list[str]:
    """重層的支援会議 never runs without consent: the cases whose consent is no longer valid."""
    if conference.kind != Conference.Kind.MULTILAYER:
        return []
    return [
        link.case.label
        for link in conference.items.select_related("case", "consent")
        if link.consent is None or link.consent.state() != "valid"
    ]


@transaction.atomic
def conference_start(*, actor: Any, access: ConferenceAccess) -> Conference:
    if not access.is_chair:
        raise ValidationError(_("Only the chair starts the meeting."))
    missing = consent_problems(access.conference)
    if missing:
        raise ValidationError(
            _("The person's consent is no longer valid for: %(cases)s. Record it again first.")
            % {"cases": "、".join(missing)}
        )
    conference = events.lock_conference(access.conference.pk)
    if conference.state != Conference.State.SCHEDULED:
        return conference
    from conferences.actions import carry_forward

    carry_forward(conference)
    conference.state = Conference.State.LIVE
    conference.started_at = timezone.now()
    first = conference.agenda.first()
    conference.current_item = first
    conference.save(update_fields=["state", "started_at", "current_item"])
    events.record(conference, "conference.state", {"state": conference.state}, case_id=None)
    if first is not None:
        events.record(conference, "agenda.current", {"item": first.pk}, case_id=None)
    return conference


@transaction.atomic
def conference_close(*, actor: Any, access: ConferenceAccess) -> Conference:
    if not access.is_chair:
        raise ValidationError(_("Only the chair closes the meeting."))
    conference = events.lock_conference(access.conference.pk)
    if conference.state not in (Conference.State.SCHEDULED, Conference.State.LIVE):
        return conference
    conference.state = Conference.State.CLOSED
    conference.closed_at = timezone.now()
    conference.closed_by = actor
    conference.save(update_fields=["state", "closed_at", "closed_by"])
    events.record(conference, "conference.state", {"state": conference.state}, case_id=None)
    # The draft minutes are assembled from the record as it stands at the close.
    from conferences.minutes.services import minutes_draft_create

    minutes_draft_create(conference=conference)
    return conference


@transaction.atomic
def feedback_give(
    *, actor: Any, access: ConferenceAccess, useful: str, role_clear: str, comment: str = ""
) -> Feedback:
    if not access.conference.is_closed:
        raise ValidationError(_("Feedback opens when the meeting is closed."))
    if not access.attended:
        raise ValidationError(_("Only those who attended give feedback."))
    feedback, _created = Feedback.objects.update_or_create(
        conference=access.conference,
        user=actor,
        defaults={
            "agency_id": access.agency_id,
            "useful": useful,
            "role_clear": role_clear,
            "comment": comment,
        },
    )
    return feedback


@transaction.atomic
def community_issue_tag(*, actor: Any, conference: Any, topic: str, area: Any) -> Any:
    """Record a community issue (地域課題) raised in a conference; once per topic and area."""
    from conferences.models import CommunityIssue

    issue, _created = CommunityIssue.objects.get_or_create(
        conference=conference, topic=topic, area=area, defaults={"tagged_by": actor}
    )
    return issue


@transaction.atomic
def community_issue_untag(*, actor: Any, conference: Any, pk: int) -> None:
    from conferences.models import CommunityIssue

    CommunityIssue.objects.filter(conference=conference, pk=pk).delete()
