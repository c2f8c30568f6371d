"""Demo data for the unmet-needs report: enough anonymised cases, conferences, action items
and community issues (地域課題) that every section shows counts above the threshold.

Idempotent: every row is found by a fixed label or token before it is created. The cases
carry no names, members or free text and are shared with no agency, so they never appear in
case lists; they only add to the counts. The past meetings are held as real ones were: the
demo coordinator's agency invited, and she chaired them, having acknowledged their
confidentiality statement, so their pages are those of a closed meeting she attended (their
cases stay unshared: the page shows no case of them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from casework.models import Case, Concern, NeedCategory
from casework.reporting import fiscal_year_bounds, fiscal_year_of
from permissions.models import Area

N_CASES = 30
N_CONFERENCES = 15
# Past meetings' follow-ups, all settled: an open one would sit on the demo coordinator's
# dashboard as an overdue item about a case she cannot open.
ACTION_STATUSES = ["done", "done", "not_done", "cancelled", "done", "not_done"]
NOT_DONE_REASONS = ["circumstances_changed", "not_undertaken"]
ACTION_TITLES = ["見守り訪問の頻度を相談する", "家計相談窓口につなぐ", "地域の居場所を紹介する"]
TOPICS = ["isolation", "transport", "gap"]
COVERAGE = ["not_covered", "not_covered", "not_covered", "partly", "covered"]


def seed_report_demo() -> dict[str, int]:
    from conferences.models import (
        DEFAULT_STATEMENT,
        ActionItem,
        CommunityIssue,
        Conference,
        ConferenceCase,
    )

    coordinator = get_user_model().objects.filter(username="coordinator").first()
    areas = list(Area.objects.filter(parent__isnull=True).order_by("order", "pk")[:3])
    categories = list(NeedCategory.objects.all())
    if coordinator is None or len(areas) < 3 or len(categories) < 5:
        return {"report_cases": 0}
    now = timezone.now()
    # Spread over the current fiscal year so far, whatever the date: the report opens on it.
    start, _end = fiscal_year_bounds(fiscal_year_of(now))
    step = (now - start) / (N_CASES + 1)
    cases = []
    for i in range(N_CASES):
        label = f"統計デモ{i + 1:02d}"
        opened = now - step * (i + 1)
        later = min(dt.timedelta(days=5), (now - opened) / 2)
        case, created = Case.objects.get_or_create(
            label=label,
            defaults={
                "life_area": areas[i % 3],
                "coverage": COVERAGE[i % 5],
                "lead_coordinator": coordinator,
                "opened_at": opened,
                "status": Case.Status.CLOSED if i % 4 == 0 else Case.Status.ACTIVE,
                "closed_at": opened + later if i % 4 == 0 else None,
            },
        )
        if created:
            case.need_categories.set([categories[i % 2], categories[2 + i % 3]])
        cases.append(case)
    for i, case in enumerate(cases[:N_CONFERENCES]):
        token = f"report-demo-{i + 1:02d}"
        conference = Conference.objects.filter(schedule_token=token).first()
        if conference is not None:
            _seat_chair(conference, coordinator)  # a demo database seeded before they were
            continue
        Concern.objects.create(
            reporter=coordinator,
            life_area=case.life_area,
            status=Concern.Status.LINKED,
            case=case,
            created_at=case.opened_at - dt.timedelta(days=2),
        )
        starts = case.opened_at + min(dt.timedelta(days=3 + i % 10), (now - case.opened_at) / 2)
        conference = Conference.objects.create(
            kind=Conference.Kind.MULTILAYER if i % 3 == 0 else Conference.Kind.SUPPORT_MEETING,
            title=f"{case.life_area.name}圏域 過去の会議 {i + 1:02d}",
            starts_at=starts,
            chair=coordinator,
            created_by=coordinator,
            state=Conference.State.CLOSED,
            started_at=starts,
            closed_at=starts + dt.timedelta(hours=1),
            schedule_token=token,
            confidentiality_statement=str(DEFAULT_STATEMENT),
        )
        _seat_chair(conference, coordinator)
        ConferenceCase.objects.create(conference=conference, case=case)
        CommunityIssue.objects.create(
            conference=conference, topic=TOPICS[i % 3], area=case.life_area, tagged_by=coordinator
        )
        for j in range(2):
            status = ACTION_STATUSES[(2 * i + j) % len(ACTION_STATUSES)]
            reason = NOT_DONE_REASONS[i % len(NOT_DONE_REASONS)] if status == "not_done" else ""
            ActionItem.objects.create(
                conference=conference,
                author=coordinator,
                owner_user=coordinator,
                title=ACTION_TITLES[(i + j) % len(ACTION_TITLES)],
                due_on=timezone.localdate(starts) + dt.timedelta(days=14),
                status=status,
                status_reason=reason,
                created_at=starts,
                updated_at=starts,
            )
    return {"report_cases": Case.objects.filter(label__startswith="統計デモ").count()}


def _seat_chair(conference: Any, chair: Any) -> None:
    """The chair's agency invited, and the chair present: confidentiality acknowledged and
    joined when the meeting started (as `conference_acknowledge` and the live page record it)."""
    from conferences.models import DEFAULT_STATEMENT, Invitation, Participant

    membership = chair.memberships.order_by("pk").first()
    if membership is None:
        return
    if not conference.confidentiality_statement:
        conference.confidentiality_statement = str(DEFAULT_STATEMENT)
        conference.save(update_fields=["confidentiality_statement"])
    Invitation.objects.get_or_create(conference=conference, agency=membership.agency, user=None)
    Participant.objects.get_or_create(
        conference=conference,
        user=chair,
        defaults={
            "agency": membership.agency,
            "acknowledged_at": conference.started_at,
            "joined_at": conference.started_at,
            "statement_ack": conference.confidentiality_statement,
        },
    )
