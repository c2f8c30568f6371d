"""Watch-over register, visits feeding the timeline at watch tier, assignments and plans."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from casework.models import ChronologyEntry, EvacuationPlan, VisitLog, WatchAssignment
from permissions.models import Tier
from tests.conftest import (
    SENSITIVE_CHRONO,
    SENSITIVE_TEXT,
    SUPPORT_CHRONO,
    SUPPORT_TEXT,
    WATCH_TEXT,
)

pytestmark = pytest.mark.django_db

REGISTER = reverse("watch:register")


def assign_residents(wcast):
    return WatchAssignment.objects.create(
        case=wcast.case, agency=wcast.residents_agency, frequency="weekly", note="火曜に声かけ"
    )


def test_resident_sees_watch_tier_only_in_register(wcast):
    assign_residents(wcast)
    html = wcast.client_for("resident").get(REGISTER).content.decode()
    assert "山﨑さん世帯" in html and WATCH_TEXT in html and "火曜に声かけ" in html
    for text in [SUPPORT_TEXT, SENSITIVE_TEXT, SUPPORT_CHRONO, SENSITIVE_CHRONO]:
        assert text not in html


def test_outsider_register_is_empty(wcast):
    html = wcast.client_for("outsider").get(REGISTER).content.decode()
    assert "山﨑さん世帯" not in html and WATCH_TEXT not in html


def test_register_filters_by_small_area(wcast):
    html = wcast.client_for("coordinator").get(REGISTER, {"area": wcast.other_small_area.pk})
    assert "山﨑さん世帯" not in html.content.decode()


def test_register_query_count_does_not_grow_with_cases(wcast, django_assert_max_num_queries):
    from casework.watch_selectors import watch_register
    from tests.factories import CaseFactory, ShareFactory

    for _ in range(5):
        c = CaseFactory(life_area=wcast.area, small_area=wcast.small_area, watch_over=True)
        ShareFactory(case=c, agency=wcast.residents_agency, tier=Tier.WATCH)
        WatchAssignment.objects.create(case=c, agency=wcast.residents_agency, frequency="daily")
    wcast.resident._otagai_memberships = None
    # Memberships, the emergency-path check, the register, the assignments: constant.
    with django_assert_max_num_queries(4):
        rows = list(watch_register(wcast.resident))
        for c in rows:
            list(c.watch_assignments.all())
    assert len(rows) == 6


def test_assigned_resident_logs_a_visit_that_feeds_the_timeline_at_watch_tier(wcast):
    assign_residents(wcast)
    url = reverse("watch:visit-add", args=[wcast.case.pk])
    client = wcast.client_for("resident")
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"visited_on": timezone.localdate().isoformat(), "outcome": "concern", "note": "咳"}
    )
    assert response.status_code == 302
    visit = VisitLog.objects.get()
    assert visit.chronology.tier == Tier.WATCH
    assert visit.agency == wcast.residents_agency
    assert "咳" in visit.chronology.text
    # The coordinator sees it in the family timeline; the resident too (watch tier).
    for who in ["coordinator", "resident"]:
        html = (
            wcast.client_for(who)
            .get(reverse("casework:case-detail", args=[wcast.case.pk]))
            .content.decode()
        )
        assert "咳" in html


def test_unassigned_watch_reader_cannot_log_visits(wcast):
    url = reverse("watch:visit-add", args=[wcast.case.pk])
    assert wcast.client_for("resident").get(url).status_code == 403


@pytest.mark.parametrize(
    ("who", "status"), [("coordinator", 200), ("professional", 200), ("outsider", 404)]
)
def test_visit_page_access_matrix(wcast, who, status):
    response = wcast.client_for(who).get(reverse("watch:visit-add", args=[wcast.case.pk]))
    assert response.status_code == status
    if status == 404:
        assert "山﨑" not in response.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"visited_on": "", "outcome": "well"},
        {"visited_on": "2020-01-01", "outcome": "fine"},
        {
            "visited_on": (timezone.localdate() + dt.timedelta(days=2)).isoformat(),
            "outcome": "well",
        },
    ],
)
def test_bad_visits_are_refused(wcast, data):
    response = wcast.client_for("coordinator").post(
        reverse("watch:visit-add", args=[wcast.case.pk]), data
    )
    assert response.status_code == 200
    assert not VisitLog.objects.exists()
    assert not ChronologyEntry.objects.filter(text__startswith="見守り訪問").exists()


@pytest.mark.parametrize(
    ("who", "status"),
    [("coordinator", 200), ("professional", 403), ("resident", 403), ("outsider", 404)],
)
def test_assignment_and_plan_pages_access_matrix(wcast, who, status):
    client = wcast.client_for(who)
    for name in ["watch:watch-assign", "watch:evacuation-plan"]:
        response = client.get(reverse(name, args=[wcast.case.pk]))
        assert response.status_code == status, name
        if status != 200:
            assert "階段" not in response.content.decode()


def test_coordinator_assigns_a_group(wcast):
    client = wcast.client_for("coordinator")
    url = reverse("watch:watch-assign", args=[wcast.case.pk])
    client.post(url, {"agency": wcast.residents_agency.pk, "frequency": "weekly", "note": "朝"})
    assert WatchAssignment.objects.filter(case=wcast.case, agency=wcast.residents_agency).exists()
    # Only an agency holding a share on the case may be assigned.
    response = client.post(url, {"agency": wcast.outsider_agency.pk, "frequency": "weekly"})
    assert response.status_code == 200
    assert not WatchAssignment.objects.filter(agency=wcast.outsider_agency).exists()


def test_coordinator_records_consent_to_the_list(wcast):
    client = wcast.client_for("coordinator")
    url = reverse("watch:evacuation-plan", args=[wcast.unconsented.pk])
    response = client.post(url, {"list_consent": "consented", "consent_on": ""})
    assert response.status_code == 200  # consent needs its date
    assert not EvacuationPlan.objects.filter(case=wcast.unconsented).exists()
    client.post(
        url,
        {
            "list_consent": "consented",
            "consent_on": timezone.localdate().isoformat(),
            "supporters": "町会 防災部",
            "destination": "福祉避難所",
        },
    )
    plan = EvacuationPlan.objects.get(case=wcast.unconsented)
    assert plan.list_consent == "consented"
    html = wcast.client_for("resident").get(reverse("watch:disaster-list")).content.decode()
    assert "未同意さん世帯" in html  # now consented: on the list the supporters see
