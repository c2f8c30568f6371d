"""Declared disasters: the disaster-support list opens to designated supporters of the declared
areas, is logged, and closes on the next request after the declaration ends."""

from __future__ import annotations

import pytest
from django.urls import reverse

from permissions.emergency import declaration_end
from permissions.models import AuditEvent, Declaration, Tier
from permissions.policy import case_access, cases_visible_to, disaster_list_visible_to
from tests.conftest import SENSITIVE_TEXT, SUPPORT_TEXT
from tests.watchcast import (
    CONSENTED_NEEDS,
    OTHER_AREA_LABEL,
    UNCONSENTED_LABEL,
    UNCONSENTED_NEEDS,
    WITHDRAWN_LABEL,
    declare,
)

pytestmark = pytest.mark.django_db

LIST = reverse("watch:disaster-list")


def test_normal_times_resident_sees_only_consented_entries(wcast):
    html = wcast.client_for("resident").get(LIST).content.decode()
    assert "山﨑さん世帯" in html
    assert CONSENTED_NEEDS in html
    for hidden in [UNCONSENTED_LABEL, UNCONSENTED_NEEDS, WITHDRAWN_LABEL, OTHER_AREA_LABEL]:
        assert hidden not in html
    assert case_access(wcast.resident, wcast.unconsented) is None


def test_the_list_is_filtered_in_the_database(wcast, django_assert_max_num_queries):
    declare(wcast, wcast.small_area)
    # One query for the reader's memberships, one for the list itself: no Python filtering.
    with django_assert_max_num_queries(2):
        labels = {c.label for c in disaster_list_visible_to(wcast.resident)}
    assert labels == {"山﨑さん世帯", UNCONSENTED_LABEL, WITHDRAWN_LABEL}


@pytest.mark.parametrize("who", ["professional", "outsider"])
def test_non_supporters_see_no_list(wcast, who):
    html = wcast.client_for(who).get(LIST).content.decode()
    assert UNCONSENTED_LABEL not in html and "山﨑さん世帯" not in html


def test_declaration_opens_whole_list_of_declared_areas_only(wcast):
    declare(wcast, wcast.area)
    html = wcast.client_for("resident").get(LIST).content.decode()
    assert UNCONSENTED_LABEL in html and UNCONSENTED_NEEDS in html and WITHDRAWN_LABEL in html
    assert OTHER_AREA_LABEL not in html  # 大塚 is not declared and not the residents' area


def test_declaration_outside_the_supporters_areas_opens_nothing(wcast):
    declare(wcast, wcast.other_life_area)
    html = wcast.client_for("resident").get(LIST).content.decode()
    assert OTHER_AREA_LABEL not in html and UNCONSENTED_LABEL not in html


def test_declaration_gives_watch_tier_on_the_case_page(wcast):
    declaration = declare(wcast, wcast.small_area)
    access = case_access(wcast.resident, wcast.unconsented)
    assert access is not None and access.tier == Tier.WATCH
    assert access.declaration == declaration
    assert not access.allows("contribute") and not access.allows("export")
    row = cases_visible_to(wcast.resident).get(pk=wcast.unconsented.pk)
    assert row.reader_tier == Tier.WATCH
    response = wcast.client_for("resident").get(
        reverse("casework:case-detail", args=[wcast.unconsented.pk])
    )
    assert response.status_code == 200
    assert UNCONSENTED_NEEDS in response.content.decode()
    event = AuditEvent.objects.filter(action="case_view", case=wcast.unconsented).get()
    assert event.detail["declaration"] == declaration.pk


def test_non_supporter_gets_nothing_from_a_declaration(wcast):
    declare(wcast, wcast.area)
    for who in ["professional", "outsider"]:
        url = reverse("casework:case-detail", args=[wcast.unconsented.pk])
        response = wcast.client_for(who).get(url)
        assert response.status_code == 404
        assert UNCONSENTED_NEEDS not in response.content.decode()


def test_declaration_never_raises_a_share_above_its_tier(wcast):
    declare(wcast, wcast.area)
    html = (
        wcast.client_for("resident")
        .get(reverse("casework:case-detail", args=[wcast.case.pk]))
        .content.decode()
    )
    assert SUPPORT_TEXT not in html and SENSITIVE_TEXT not in html


def test_access_ends_on_the_next_request_after_the_declaration_ends(wcast):
    declaration = declare(wcast, wcast.area)
    client = wcast.client_for("resident")
    url = reverse("casework:case-detail", args=[wcast.unconsented.pk])
    assert client.get(url).status_code == 200
    declaration_end(actor=wcast.coordinator, declaration=declaration)
    response = client.get(url)
    assert response.status_code == 404
    assert UNCONSENTED_NEEDS not in response.content.decode()
    assert UNCONSENTED_LABEL not in client.get(LIST).content.decode()
    assert "山﨑さん世帯" in client.get(LIST).content.decode()  # consent still holds


def test_every_access_during_a_declaration_is_in_the_review_report(wcast):
    declaration = declare(wcast, wcast.area)
    resident = wcast.client_for("resident")
    resident.get(LIST)
    resident.get(reverse("casework:case-detail", args=[wcast.unconsented.pk]))
    logged = AuditEvent.objects.filter(detail__declaration=declaration.pk)
    assert {e.action for e in logged} >= {"list_view", "case_view", "declaration_start"}
    report = wcast.client_for("coordinator").get(
        reverse("watch:declaration-detail", args=[declaration.pk])
    )
    html = report.content.decode()
    assert report.status_code == 200
    assert "和子" in html  # the resident's reads are listed with her name
    assert f"C-{wcast.unconsented.pk:05d}" in html


def test_declare_and_end_through_the_pages(wcast):
    client = wcast.client_for("coordinator")
    response = client.post(
        reverse("watch:declaration-list"), {"areas": [wcast.area.pk], "reason": "大雨"}
    )
    declaration = Declaration.objects.get()
    assert response.status_code == 302
    assert list(declaration.areas.all()) == [wcast.area]
    client.post(reverse("watch:declaration-detail", args=[declaration.pk]), {"note": "解除"})
    declaration.refresh_from_db()
    assert declaration.ended_at is not None and declaration.ended_by == wcast.coordinator


@pytest.mark.parametrize(
    ("data", "field"),
    [({"reason": "地震"}, "areas"), ({"areas": ["AREA"], "reason": "  "}, "reason"), ({}, "areas")],
)
def test_declaration_without_areas_or_reason_is_refused(wcast, data, field):
    data = {k: ([wcast.area.pk] if v == ["AREA"] else v) for k, v in data.items()}
    response = wcast.client_for("coordinator").post(reverse("watch:declaration-list"), data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert "error-summary" in response.content.decode()
    assert not Declaration.objects.exists()


@pytest.mark.parametrize("who", ["professional", "resident", "outsider"])
def test_only_council_managers_declare(wcast, who):
    client = wcast.client_for(who)
    url = reverse("watch:declaration-list")
    assert client.get(url).status_code == 403
    assert client.post(url, {"areas": [wcast.area.pk], "reason": "x"}).status_code == 403
    assert not Declaration.objects.exists()


@pytest.mark.parametrize("who", ["professional", "resident", "outsider"])
def test_review_report_is_not_found_for_others(wcast, who):
    declaration = declare(wcast, wcast.area)
    url = reverse("watch:declaration-detail", args=[declaration.pk])
    assert wcast.client_for(who).get(url).status_code == 404


def test_ending_twice_is_refused(wcast):
    from django.core.exceptions import ValidationError

    declaration = declare(wcast, wcast.area)
    declaration_end(actor=wcast.coordinator, declaration=declaration)
    with pytest.raises(ValidationError):
        declaration_end(actor=wcast.coordinator, declaration=declaration)


def test_coordinator_manages_everyone_on_the_list_with_consent_state(wcast):
    response = wcast.client_for("coordinator").get(LIST)
    managed = {c.label for c in response.context["managed"]}
    assert managed == {"山﨑さん世帯", UNCONSENTED_LABEL, WITHDRAWN_LABEL, OTHER_AREA_LABEL}
    # Supporters never get the management section.
    assert not wcast.client_for("resident").get(LIST).context["managed"]


def test_case_list_reads_opened_by_a_declaration_are_logged_against_it(wcast):
    declaration = declare(wcast, wcast.area)
    html = wcast.client_for("resident").get(reverse("casework:case-list")).content.decode()
    assert UNCONSENTED_LABEL in html
    event = AuditEvent.objects.get(detail__declaration=declaration.pk, detail__what="case_list")
    assert set(event.detail["cases"]) == {wcast.unconsented.pk, wcast.withdrawn.pk}
    # The resident's own shared case is not counted as opened by the declaration.
    assert wcast.case.pk not in event.detail["cases"]
