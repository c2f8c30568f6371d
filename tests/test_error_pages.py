"""Where Django's defaults would speak English or show a bare page: the error pages (in the
reader's language, in the site's layout, leaking nothing) and the empty choice of a select."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def _in(language: str, msgid: str) -> str:
    with translation.override(language):
        text = _(msgid)
    if language == "ja":
        assert text != msgid, f"no Japanese for {msgid!r}"
    return text


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_case_one_may_not_see_is_a_plain_404_page(cast, language):
    client = cast.client_for("outsider")
    client.cookies["django_language"] = language
    response = client.get(reverse("casework:case-detail", args=[cast.case.pk]))
    html = response.content.decode()
    assert response.status_code == 404
    assert f'<html lang="{language}">' in html
    assert _in(language, "This page is not here") in html
    assert f'href="{reverse("dashboard")}"' in html
    assert cast.case.label not in html
    assert "Not Found" not in html and "The requested resource" not in html


def test_an_unknown_address_gets_the_404_page_without_logging_in(client):
    response = client.get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert '<html lang="ja">' in html and _in("ja", "This page is not here") in html


def test_a_right_one_lacks_is_a_403_page(cast):
    from tests.conferences.conftest import make_live

    conference = make_live(cast)
    link = conference.items.get()
    response = cast.client_for("professional").get(
        reverse("conferences:prep-edit", args=[conference.pk, link.pk])
    )
    html = response.content.decode()
    assert response.status_code == 403
    assert _in("ja", "You may not do this") in html
    assert "403 Forbidden" not in html


def test_a_form_without_its_token_says_nothing_was_saved(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.professional)
    response = client.post(reverse("followups:create", args=[cast.case.pk]), {"title": "x"})
    html = response.content.decode()
    assert response.status_code == 403
    assert _in("ja", "What you sent was not saved") in html
    assert "CSRF verification failed" not in html


def test_a_server_error_page_needs_no_request_context():
    request = RequestFactory().get("/")
    with translation.override("ja"):
        response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert '<html lang="ja">' in html
    assert _in("ja", "Something went wrong on our side") in html


def test_a_bad_request_page(cast, settings):
    # A Host header outside ALLOWED_HOSTS is answered 400 by Django itself.
    settings.ALLOWED_HOSTS = ["testserver"]
    response = Client().get("/accounts/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert _in("ja", "Otagai could not read this request") in response.content.decode()


def test_an_empty_choice_is_in_the_readers_language(cast):
    """Django 6.1's empty choice ("- Select an option -") has no Japanese in Django's own
    catalogue; ours gives it one (the share form's agency select, for one)."""
    html = (
        cast.client_for("coordinator")
        .get(reverse("casework:share-list", args=[cast.case.pk]))
        .content.decode()
    )
    assert f'<option value="" selected>{_in("ja", "- Select an option -")}</option>' in html
    assert "Select an option" not in html
