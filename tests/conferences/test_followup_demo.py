"""Demo follow-ups: every state, some overdue; seeding twice changes nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.utils import timezone

from conferences.models import ActionChange, ActionItem, ActionReview

pytestmark = pytest.mark.django_db


def test_seed_demo_has_followups_in_every_state_and_is_idempotent():
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    items = ActionItem.objects.filter(deleted_at__isnull=True)
    assert set(items.values_list("status", flat=True)) == set(ActionItem.Status.values)
    today = timezone.localdate()
    assert items.filter(status__in=ActionItem.OPEN_STATUSES, due_on__lt=today).count() >= 2
    assert items.filter(status="not_done").exclude(status_reason="").exists()
    counts = (items.count(), ActionChange.objects.count(), ActionReview.objects.count())
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert (items.count(), ActionChange.objects.count(), ActionReview.objects.count()) == counts


def test_demo_past_meetings_are_ones_their_chair_attended():
    """The report's past meetings (過去の会議): the chair's agency invited, the chair present,
    so her page is a closed meeting she attended, not a request to acknowledge it cannot take
    (also in a demo database seeded before they were)."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from conferences.models import Conference, Invitation, Participant

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    past = Conference.objects.filter(schedule_token__startswith="report-demo-")
    assert past.count() == 15
    first = past.first()
    Participant.objects.filter(conference=first).delete()  # as seeded before
    Conference.objects.filter(pk=first.pk).update(confidentiality_statement="")
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    coordinator = get_user_model().objects.get(username="coordinator")
    for conference in past:
        assert Invitation.objects.filter(conference=conference, user=None).count() == 1
        p = Participant.objects.get(conference=conference, user=coordinator)
        assert p.acknowledged_at == p.joined_at == conference.started_at
        assert conference.confidentiality_statement and p.statement_ack
    client = Client()
    client.force_login(coordinator)
    html = client.get(
        reverse("conferences:conference-detail", args=[past.first().pk]),
        headers={"accept-language": "en"},
    ).content.decode()
    assert "Confidentiality acknowledged" in html and "Give feedback" in html
    assert "acknowledge the confidentiality statement" not in html
    assert "This meeting is closed and you did not acknowledge" not in html
