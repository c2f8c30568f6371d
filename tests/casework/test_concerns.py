"""Concerns (気づき): reported in a few taps, triaged by the coordinators of the life area;
the reporter follows the status, never the case."""

from __future__ import annotations

import pytest
from django.urls import reverse

from casework.models import Case, ChronologyEntry, Concern
from permissions.models import Tier
from tests.conftest import SUPPORT_TEXT, WATCH_TEXT

pytestmark = pytest.mark.django_db

REPORT = reverse("watch:concern-report")
WHO = "角の家のおばあさん"
DETAILS = "三日前から雨戸が閉まったまま"


def report(wcast, as_="resident", **data):
    payload = {
        "area": wcast.small_area.pk,
        "who": WHO,
        "signs": ["mail", "not_seen"],
        "details": DETAILS,
        "urgency": "soon",
        **data,
    }
    return wcast.client_for(as_).post(REPORT, payload)


def test_resident_reports_a_concern(wcast):
    response = report(wcast)
    assert response.status_code == 302
    concern = Concern.objects.get()
    assert concern.reporter == wcast.resident
    assert concern.life_area == wcast.area and concern.small_area == wcast.small_area
    assert concern.signs == ["mail", "not_seen"]
    assert concern.status == Concern.Status.RECEIVED


def test_concern_in_a_life_area_without_small_area(wcast):
    report(wcast, area=wcast.area.pk, as_="professional")
    concern = Concern.objects.get()
    assert concern.life_area == wcast.area and concern.small_area is None


def test_unknown_person_is_allowed(wcast):
    assert report(wcast, who_unknown="on", who="").status_code == 302
    assert Concern.objects.get().who_unknown


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        (
            {"area": "", "who": "", "signs": [], "details": "", "urgency": "soon"},
            {"area", "who", "signs"},
        ),
        ({"signs": [], "details": "  "}, {"signs"}),
        ({"who": ""}, {"who"}),
        ({"area": ""}, {"area"}),
        ({"area": "999999"}, {"area"}),
        ({"signs": ["nonsense"]}, {"signs"}),
        ({"urgency": "whenever"}, {"urgency"}),
    ],
)
def test_concern_with_missing_parts_is_refused_with_clear_errors(wcast, data, fields):
    response = report(wcast, **data)
    assert response.status_code == 200
    assert fields <= set(response.context["form"].errors)
    assert "error-summary" in response.content.decode()
    assert not Concern.objects.exists()


def test_entirely_empty_post_is_refused(wcast):
    response = wcast.client_for("resident").post(REPORT, {})
    assert response.status_code == 200
    assert {"area", "who", "signs"} <= set(response.context["form"].errors)
    assert not Concern.objects.exists()


def test_reporter_sees_status_but_no_case(wcast):
    report(wcast)
    concern = Concern.objects.get()
    mine = reverse("watch:my-concerns")
    client = wcast.client_for("resident")
    assert (
        "受付済み" in client.get(mine).content.decode()
        or "Received" in client.get(mine).content.decode()
    )
    coordinator = wcast.client_for("coordinator")
    coordinator.post(
        reverse("watch:concern-triage", args=[concern.pk]),
        {"action": "link", "case": wcast.case.pk},
    )
    concern.refresh_from_db()
    assert concern.status == Concern.Status.LINKED and concern.case == wcast.case
    html = client.get(mine).content.decode()
    assert concern.reporter_status in html
    for text in [wcast.case.reference, "山﨑", SUPPORT_TEXT, WATCH_TEXT]:
        assert text not in html
    # The reporter cannot open the triage page either.
    assert client.get(reverse("watch:concern-triage", args=[concern.pk])).status_code == 404


def test_link_writes_the_concern_into_the_timeline_at_watch_tier(wcast):
    report(wcast)
    concern = Concern.objects.get()
    wcast.client_for("coordinator").post(
        reverse("watch:concern-triage", args=[concern.pk]),
        {"action": "link", "case": wcast.case.pk},
    )
    entry = ChronologyEntry.objects.filter(case=wcast.case, text__contains=DETAILS).get()
    assert entry.tier == Tier.WATCH


def test_take_then_open_a_new_case(wcast):
    report(wcast)
    concern = Concern.objects.get()
    client = wcast.client_for("coordinator")
    url = reverse("watch:concern-triage", args=[concern.pk])
    client.post(url, {"action": "take"})
    concern.refresh_from_db()
    assert concern.status == Concern.Status.LOOKING
    assert concern.reporter_status in (
        wcast.client_for("resident").get(reverse("watch:my-concerns")).content.decode()
    )
    response = client.post(url, {"action": "open", "label": "角の家 世帯"})
    case = Case.objects.get(label="角の家 世帯")
    assert response.status_code == 302
    assert case.life_area == wcast.area and case.small_area == wcast.small_area
    concern.refresh_from_db()
    assert concern.status == Concern.Status.OPENED and concern.case == case


def test_close_needs_a_reason(wcast):
    report(wcast)
    concern = Concern.objects.get()
    client = wcast.client_for("coordinator")
    url = reverse("watch:concern-triage", args=[concern.pk])
    response = client.post(url, {"action": "close", "reason": ""})
    assert response.status_code == 200 and "reason" in response.context["forms"]["close"].errors
    concern.refresh_from_db()
    assert concern.status == Concern.Status.RECEIVED
    client.post(url, {"action": "close", "reason": "既に地域包括が対応中"})
    concern.refresh_from_db()
    assert concern.status == Concern.Status.CLOSED
    assert concern.close_reason not in (
        wcast.client_for("resident").get(reverse("watch:my-concerns")).content.decode()
    )


def test_link_to_a_case_the_coordinator_cannot_see_is_refused(wcast):
    from tests.factories import CaseFactory

    hidden = CaseFactory(life_area=wcast.area)
    report(wcast)
    concern = Concern.objects.get()
    response = wcast.client_for("coordinator").post(
        reverse("watch:concern-triage", args=[concern.pk]), {"action": "link", "case": hidden.pk}
    )
    assert response.status_code == 200
    concern.refresh_from_db()
    assert concern.status == Concern.Status.RECEIVED and concern.case is None


def test_queue_holds_only_the_coordinators_life_areas(wcast):
    report(wcast)
    report(wcast, area=wcast.other_small_area.pk, who_unknown="on", who="")
    html = wcast.client_for("coordinator").get(reverse("watch:concern-queue")).content.decode()
    assert WHO in html
    assert "音羽町会" not in html


@pytest.mark.parametrize(
    ("who", "queue", "triage"),
    [
        ("professional", 403, 404),
        ("resident", 403, 404),
        ("outsider", 403, 404),
    ],
)
def test_triage_access_matrix(wcast, who, queue, triage):
    report(wcast)
    concern = Concern.objects.get()
    client = wcast.client_for(who)
    assert client.get(reverse("watch:concern-queue")).status_code == queue
    response = client.get(reverse("watch:concern-triage", args=[concern.pk]))
    assert response.status_code == triage
    assert DETAILS not in response.content.decode()


def test_anonymous_cannot_report(wcast):
    response = wcast.client_for("anonymous").post(REPORT, {"who": WHO})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Concern.objects.exists()


def test_urgent_concern_alerts_the_areas_coordinators(wcast, django_capture_on_commit_callbacks):
    from django.core import mail

    wcast.coordinator.email = "coordinator@example.jp"
    wcast.coordinator.save()
    with django_capture_on_commit_callbacks(execute=True):
        report(wcast, urgency="urgent")
    assert [m.to for m in mail.outbox] == [["coordinator@example.jp"]]
    assert DETAILS not in mail.outbox[0].body and WHO not in mail.outbox[0].body
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        report(wcast, urgency="soon")
        report(wcast, urgency="urgent", area=wcast.other_small_area.pk)  # nobody triages 大塚
    assert mail.outbox == []
