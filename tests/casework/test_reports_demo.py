"""Demo data: every section of the unmet-needs report shows something; seeding twice adds
nothing."""

from __future__ import annotations

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from casework.models import Case
from casework.reporting import Filters, fiscal_year_of, unmet_needs_report
from conferences.models import ActionItem, CommunityIssue, Conference


@pytest.mark.django_db
@pytest.mark.parametrize("today", [None, "2027-04-03 10:00 +09:00"])
def test_demo_fills_every_section_and_is_idempotent(today: str | None) -> None:
    if today is None:
        _check()
    else:
        with time_machine.travel(today, tick=True):
            _check()


def _check() -> None:
    call_command("seed_demo", stdout=None)
    counts = (Case.objects.count(), Conference.objects.count(), ActionItem.objects.count())
    issues = CommunityIssue.objects.count()
    call_command("seed_demo", stdout=None)
    assert counts == (
        Case.objects.count(),
        Conference.objects.count(),
        ActionItem.objects.count(),
    )
    assert issues == CommunityIssue.objects.count()
    report = unmet_needs_report(Filters(fy=fiscal_year_of(timezone.now())))
    for table in report.tables:
        shown = [v for row in table.display_rows() for v in row["values"]]
        assert any(v.isdigit() and int(v) >= 5 for v in shown), table.key
    assert report.median.days is not None
