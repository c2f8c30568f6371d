"""The access matrix over every watch-over, disaster and emergency URL."""

from __future__ import annotations

import pytest
from django.urls import reverse

from casework.models import Concern
from permissions.emergency import break_glass_open
from permissions.policy import has_emergency_access
from tests.conftest import SENSITIVE_TEXT, SUPPORT_TEXT, WATCH_TEXT
from tests.watchcast import UNCONSENTED_LABEL, declare

pytestmark = pytest.mark.django_db

REASON = "連絡が取れず安否が心配なため、至急確認する。"


def all_urls(wcast) -> dict[str, str]:
    declaration = declare(wcast, wcast.area)
    concern = Concern.objects.create(
        reporter=wcast.resident, life_area=wcast.area, who="x", signs=["mail"]
    )
    glass = break_glass_open(actor=wcast.outsider, case=wcast.unconsented, reason=REASON, hours=1)
    pk = wcast.case.pk
    return {
        "home": reverse("watch:home"),
        "concern-report": reverse("watch:concern-report"),
        "my-concerns": reverse("watch:my-concerns"),
        "concern-queue": reverse("watch:concern-queue"),
        "concern-triage": reverse("watch:concern-triage", args=[concern.pk]),
        "register": reverse("watch:register"),
        "register-pack": reverse("watch:register-pack", args=[wcast.small_area.pk]),
        "visit-add": reverse("watch:visit-add", args=[pk]),
        "watch-assign": reverse("watch:watch-assign", args=[pk]),
        "evacuation-plan": reverse("watch:evacuation-plan", args=[pk]),
        "disaster-list": reverse("watch:disaster-list"),
        "disaster-pack": reverse("watch:disaster-pack", args=[wcast.small_area.pk]),
        "declaration-list": reverse("watch:declaration-list"),
        "declaration-detail": reverse("watch:declaration-detail", args=[declaration.pk]),
        "safety-check": reverse("watch:safety-check", args=[declaration.pk]),
        "safety-tally": reverse("watch:safety-tally", args=[declaration.pk]),
        "break-glass": reverse("watch:break-glass"),
        "break-glass-queue": reverse("watch:break-glass-queue"),
        "break-glass-review": reverse("watch:break-glass-review", args=[glass.pk]),
    }


EXPECTED = {
    "coordinator": {},  # everything 200
    "professional": {
        "concern-queue": 403,
        "concern-triage": 404,
        "watch-assign": 403,
        "evacuation-plan": 403,
        "disaster-pack": 403,
        "declaration-list": 403,
        "declaration-detail": 404,
        "safety-check": 404,
        "safety-tally": 404,
        "break-glass-queue": 403,
        "break-glass-review": 404,
    },
    "resident": {
        "concern-queue": 403,
        "concern-triage": 404,
        "visit-add": 403,
        "watch-assign": 403,
        "evacuation-plan": 403,
        "declaration-list": 403,
        "declaration-detail": 404,
        "safety-tally": 404,
        "break-glass": 403,
        "break-glass-queue": 403,
        "break-glass-review": 404,
    },
    "outsider": {
        "concern-queue": 403,
        "concern-triage": 404,
        "visit-add": 404,
        "watch-assign": 404,
        "evacuation-plan": 404,
        "disaster-pack": 403,
        "declaration-list": 403,
        "declaration-detail": 404,
        "safety-check": 404,
        "safety-tally": 404,
        "break-glass-queue": 403,
        "break-glass-review": 404,
    },
}


@pytest.mark.parametrize("who", ["coordinator", "professional", "resident", "outsider"])
def test_access_matrix(wcast, who):
    client = wcast.client_for(who)
    for name, url in all_urls(wcast).items():
        response = client.get(url)
        expected = EXPECTED[who].get(name, 200)
        assert response.status_code == expected, (who, name, response.status_code)
        if expected != 200:
            body = response.content.decode()
            for text in [WATCH_TEXT, SUPPORT_TEXT, SENSITIVE_TEXT, UNCONSENTED_LABEL, REASON]:
                assert text not in body, (who, name, text)


def test_anonymous_is_sent_to_log_in(wcast):
    client = wcast.client_for("anonymous")
    for name, url in all_urls(wcast).items():
        response = client.get(url)
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("login")), name


@pytest.mark.parametrize("who", ["resident", "professional"])
def test_lower_tiers_never_see_higher_tier_text_on_watch_pages(wcast, who):
    client = wcast.client_for(who)
    for name, url in all_urls(wcast).items():
        if name.endswith("-pack"):
            continue  # PDF: see test_disaster_pack
        body = client.get(url).content.decode()
        assert SENSITIVE_TEXT not in body, (who, name)
        if who == "resident":
            assert SUPPORT_TEXT not in body, (who, name)


def test_has_emergency_access(wcast):
    assert not has_emergency_access(wcast.outsider)
    assert not has_emergency_access(wcast.resident)
    all_urls(wcast)  # declares, and opens a break-glass for the outsider
    for user in (wcast.outsider, wcast.resident):
        user._otagai_memberships = None
        assert has_emergency_access(user)
    assert not has_emergency_access(wcast.professional)
