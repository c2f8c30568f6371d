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
