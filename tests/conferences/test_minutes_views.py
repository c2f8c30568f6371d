"""Access matrix on every minutes URL; pages never show a tier the reader lacks."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from conferences.minutes.models import MinutesExport, MinutesVersion
from permissions.models import DisclosureRecord
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
    method = "post" if name.startswith("pdf-") else "get"  # exports are POSTs
    for who, expected in zip(CAST[:4], MATRIX[name], strict=True):
        response = getattr(cast.client_for(who), method)(url)
        assert response.status_code == expected, (who, name, response.status_code)
        if expected == 404:
            body = response.content.decode(errors="ignore")
            assert "山﨑" not in body and WATCH_NOTE not in body
    response = getattr(cast.client_for("anonymous"), method)(url)
    assert response.status_code == 302 and "/login" in response["Location"]


@pytest.mark.django_db
def test_missing_version_and_unknown_variant_are_404(cast, approved):
    client = cast.client_for("coordinator")
    assert (
        client.get(reverse("conferences:minutes-version", args=[approved.pk, 9])).status_code == 404
    )
    url = reverse("conferences:minutes-pdf", args=[approved.pk, 1, "agency-999999"])
    assert client.post(url).status_code == 404


def _export_form(conference, variant: str) -> str:  # type: ignore[no-untyped-def]
    url = reverse("conferences:minutes-pdf", args=[conference.pk, 1, variant])
    return f'<form class="inline-form" method="post" action="{url}">'


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
    assert _export_form(approved, "watch") in page
    assert reverse("conferences:minutes-pdf", args=[approved.pk, 1, "support"]) not in page
    page = cast.client_for("professional").get(url).content.decode()
    assert _export_form(approved, "support") in page
    version_page = cast.client_for("professional").get(
        reverse("conferences:minutes-version", args=[approved.pk, 1])
    )
    assert _export_form(approved, "support") in version_page.content.decode()
    assert _export_form(approved, "sensitive") not in version_page.content.decode()


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
    cast.client_for("resident").post(
        reverse("conferences:minutes-pdf", args=[approved.pk, 1, "watch"])
    )
    coordinator = cast.client_for("coordinator")
    page = coordinator.get(
        reverse("conferences:minutes-ledger", args=[approved.pk])
    ).content.decode()
    assert "高橋 和子" in page
    page = coordinator.get(reverse("conferences:case-minutes-ledger", args=[cast.case.pk]))
    assert "高橋 和子" in page.content.decode()


@pytest.mark.django_db
def test_export_is_a_post_get_writes_nothing(cast, approved):
    url = reverse("conferences:minutes-pdf", args=[approved.pk, 1, "watch"])
    response = cast.client_for("resident").get(url)
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert not MinutesExport.objects.exists() and not DisclosureRecord.objects.exists()
    # An outsider's GET is answered as for a conference that does not exist.
    outsider = cast.client_for("outsider")
    response = outsider.get(url)
    missing = outsider.get(reverse("conferences:minutes-pdf", args=[999999, 1, "watch"]))
    assert response.status_code == missing.status_code == 405
    assert response.content == missing.content
    assert not MinutesExport.objects.exists()


@pytest.mark.django_db
def test_export_needs_the_csrf_token(cast, approved):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.resident)
    url = reverse("conferences:minutes-pdf", args=[approved.pk, 1, "watch"])
    assert client.post(url).status_code == 403
    assert not MinutesExport.objects.exists()
    page = client.get(reverse("conferences:conference-detail", args=[approved.pk]))
    token = page.context["csrf_token"]
    response = client.post(url, {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert MinutesExport.objects.filter(variant="watch").count() == 1


# The per-case ledger from the case page: the link only for those who may open it.
CASE_LEDGER_LINK = {"coordinator": True, "professional": False, "resident": False}


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["coordinator", "professional", "resident", "outsider"])
def test_case_page_links_the_minutes_ledger_only_for_its_readers(cast, approved, who):
    client = cast.client_for(who)
    case_page = client.get(reverse("casework:case-detail", args=[cast.case.pk]))
    ledger_url = reverse("conferences:case-minutes-ledger", args=[cast.case.pk])
    ledger = client.get(ledger_url)
    if who == "outsider":
        assert case_page.status_code == 404 and ledger.status_code == 404
        assert "山﨑" not in ledger.content.decode()
        return
    assert case_page.status_code == 200
    shown = f'href="{ledger_url}"' in case_page.content.decode()
    assert shown is CASE_LEDGER_LINK[who]
    assert ledger.status_code == (200 if shown else 403)
    if shown:
        assert f'href="{reverse("casework:case-detail", args=[cast.case.pk])}"' in (
            ledger.content.decode()
        )
