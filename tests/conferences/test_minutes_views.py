"""Access matrix on every minutes URL; pages never show a tier the reader lacks."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conferences.minutes.models import MinutesVersion
from tests.conferences.minutes_helpers import (
    SENSITIVE_NOTE,
    SUPPORT_NOTE,
    WATCH_NOTE,
    approve,
    closed_conference,
)

CAST = ["coordinator", "professional", "resident", "outsider", "anonymous"]


@pytest.fixture
def approved(cast):  # type: ignore[no-untyped-def]
    conference = closed_conference(cast)
    approve(cast, conference)
    return conference


def _urls(cast, conference):  # type: ignore[no-untyped-def]
    pk = conference.pk
    return {
        "draft": reverse("conferences:minutes-draft", args=[pk]),
        "version": reverse("conferences:minutes-version", args=[pk, 1]),
        "pdf-mine": reverse("conferences:minutes-pdf", args=[pk, 1, "mine"]),
        "pdf-watch": reverse("conferences:minutes-pdf", args=[pk, 1, "watch"]),
        "pdf-support": reverse("conferences:minutes-pdf", args=[pk, 1, "support"]),
        "pdf-sensitive": reverse("conferences:minutes-pdf", args=[pk, 1, "sensitive"]),
        "pdf-professional-agency": reverse(
            "conferences:minutes-pdf", args=[pk, 1, f"agency-{cast.professional_agency.pk}"]
        ),
        "ledger": reverse("conferences:minutes-ledger", args=[pk]),
        "case-ledger": reverse("conferences:case-minutes-ledger", args=[cast.case.pk]),
    }


# Expected status per URL for coordinator, professional, resident, outsider.
MATRIX = {
    "draft": (200, 403, 403, 404),
    "version": (200, 200, 200, 404),
    "pdf-mine": (200, 200, 200, 404),
    "pdf-watch": (200, 200, 200, 404),
    "pdf-support": (200, 200, 404, 404),
    "pdf-sensitive": (200, 404, 404, 404),
    "pdf-professional-agency": (200, 200, 404, 404),
    "ledger": (200, 403, 403, 404),
    "case-ledger": (200, 403, 403, 404),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(MATRIX))
def test_access_matrix(cast, approved, name):
    url = _urls(cast, approved)[name]
    for who, expected in zip(CAST[:4], MATRIX[name], strict=True):
        response = cast.client_for(who).get(url)
        assert response.status_code == expected, (who, name, response.status_code)
        if expected == 404:
            body = response.content.decode(errors="ignore")
            assert "山﨑" not in body and WATCH_NOTE not in body
    response = cast.client_for("anonymous").get(url)
    assert response.status_code == 302 and "/login" in response["Location"]


@pytest.mark.django_db
def test_missing_version_and_unknown_variant_are_404(cast, approved):
    client = cast.client_for("coordinator")
    assert (
        client.get(reverse("conferences:minutes-version", args=[approved.pk, 9])).status_code == 404
    )
    url = reverse("conferences:minutes-pdf", args=[approved.pk, 1, "agency-999999"])
    assert client.get(url).status_code == 404


@pytest.mark.django_db
def test_pages_show_each_reader_their_own_copy(cast, approved):
    url = reverse("conferences:minutes-version", args=[approved.pk, 1])
    resident = cast.client_for("resident").get(url).content.decode()
    assert WATCH_NOTE in resident
    assert SUPPORT_NOTE not in resident and SENSITIVE_NOTE not in resident
    professional = cast.client_for("professional").get(url).content.decode()
    assert SUPPORT_NOTE in professional and SENSITIVE_NOTE not in professional
    coordinator = cast.client_for("coordinator").get(url).content.decode()
    assert SENSITIVE_NOTE in coordinator


@pytest.mark.django_db
def test_conference_page_shows_approved_minutes_and_export_links(cast, approved):
    url = reverse("conferences:conference-detail", args=[approved.pk])
    page = cast.client_for("resident").get(url).content.decode()
    assert WATCH_NOTE in page and SUPPORT_NOTE not in page
    assert reverse("conferences:minutes-pdf", args=[approved.pk, 1, "watch"]) in page
    assert reverse("conferences:minutes-pdf", args=[approved.pk, 1, "support"]) not in page
    page = cast.client_for("professional").get(url).content.decode()
    assert reverse("conferences:minutes-pdf", args=[approved.pk, 1, "support"]) in page


@pytest.mark.django_db
def test_chair_edits_and_approves_a_correction(cast, approved):
    client = cast.client_for("coordinator")
    url = reverse("conferences:minutes-draft", args=[approved.pk])
    page = client.get(url)
    assert page.status_code == 200
    field = f"c{cast.case.pk}_risk"
    data = {"person_attended": "長男が出席", "next_date": "2026-01-15", field: "緊急度：高"}
    response = client.post(url, {**data, "approve": "1"})
    assert response.status_code == 200  # no reason: form error, nothing approved
    assert MinutesVersion.objects.filter(conference=approved).count() == 1
    response = client.post(url, {**data, "approve": "1", "reason": "緊急度の追記"})
    assert response.status_code == 302
    second = MinutesVersion.objects.get(conference=approved, number=2)
    assert second.content["cases"][0]["fields"]["risk"]["text"] == "緊急度：高"
    assert second.content["person_attended"] == "長男が出席"
    first_page = client.get(reverse("conferences:minutes-version", args=[approved.pk, 1]))
    assert first_page.status_code == 200 and "緊急度：高" not in first_page.content.decode()


@pytest.mark.django_db
def test_ledger_pages_list_exports(cast, approved):
    cast.client_for("resident").get(
        reverse("conferences:minutes-pdf", args=[approved.pk, 1, "watch"])
    )
    coordinator = cast.client_for("coordinator")
    page = coordinator.get(
        reverse("conferences:minutes-ledger", args=[approved.pk])
    ).content.decode()
    assert "高橋 和子" in page
    page = coordinator.get(reverse("conferences:case-minutes-ledger", args=[cast.case.pk]))
    assert "高橋 和子" in page.content.decode()
