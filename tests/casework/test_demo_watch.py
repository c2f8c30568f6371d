"""Demo data for watch-over and disaster support: idempotent, and every page opens with it."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from casework.demo import seed_demo
from casework.models import Concern, EvacuationPlan
from permissions.models import Declaration

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_covers_every_state():
    first = seed_demo()
    assert seed_demo() == first
    assert set(Concern.objects.values_list("status", flat=True)) == set(Concern.Status.values)
    assert set(EvacuationPlan.objects.values_list("list_consent", flat=True)) == set(
        EvacuationPlan.ListConsent.values
    )
    assert Declaration.objects.filter(ended_at__isnull=False).count() == 1
    assert first["watch_assignments"] and first["visits"] and first["safety_marks"]


def test_demo_pages_open():
    seed_demo()
    users = {u.username: u for u in get_user_model().objects.all()}
    declaration = Declaration.objects.get()
    pages = {
        "commissioner": [
            reverse("watch:home"),
            reverse("watch:concern-report"),
            reverse("watch:my-concerns"),
            reverse("watch:register"),
            reverse("watch:disaster-list"),
        ],
        "coordinator": [
            reverse("watch:concern-queue"),
            reverse("watch:concern-triage", args=[Concern.objects.first().pk]),
            reverse("watch:declaration-list"),
            reverse("watch:declaration-detail", args=[declaration.pk]),
            reverse("watch:break-glass-queue"),
        ],
        "caremanager": [reverse("watch:break-glass")],
    }
    for username, urls in pages.items():
        client = Client()
        client.force_login(users[username])
        for url in urls:
            assert client.get(url).status_code == 200, (username, url)
