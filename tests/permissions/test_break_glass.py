"""Break-glass: emergency access without a share — a reason, a few hours, watch and support
tiers only, an immediate alert, and a coordinator's review."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from permissions.emergency import break_glass_open
from permissions.models import AuditEvent, BreakGlass, Tier
from permissions.policy import case_access, cases_visible_to
from tests.conftest import (
    SENSITIVE_CHRONO,
    SENSITIVE_FINANCE,
    SENSITIVE_TEXT,
    SUPPORT_CHRONO,
    SUPPORT_TEXT,
    WATCH_TEXT,
)

pytestmark = pytest.mark.django_db

REASON = "本人と連絡が取れず、室内で倒れている可能性がある。至急状況を確認したい。"
URL = reverse("watch:break-glass")


def open_glass(wcast, client=None, **data):
    client = client or wcast.client_for("outsider")
    payload = {"reference": wcast.case.reference, "reason": REASON, "hours": 2, **data}
    return client.post(URL, payload)


def detail(wcast, who="outsider"):
    return wcast.client_for(who).get(reverse("casework:case-detail", args=[wcast.case.pk]))


def test_outsider_has_no_access_before(wcast):
    assert detail(wcast).status_code == 404


def test_break_glass_opens_watch_and_support_tiers_only(wcast):
    response = open_glass(wcast)
    assert response.status_code == 302
    assert response["Location"] == reverse("casework:case-detail", args=[wcast.case.pk])
    html = detail(wcast).content.decode()
    for text in [WATCH_TEXT, SUPPORT_TEXT, SUPPORT_CHRONO]:
        assert text in html
    for text in [SENSITIVE_TEXT, SENSITIVE_FINANCE, SENSITIVE_CHRONO]:
        assert text not in html
    access = case_access(wcast.outsider, wcast.case)
    assert access.tier == Tier.SUPPORT and access.break_glass is not None
    assert not access.allows("contribute") and not access.allows("export")
    assert cases_visible_to(wcast.outsider).get(pk=wcast.case.pk).reader_tier == Tier.SUPPORT


def test_reads_under_break_glass_are_logged_with_it(wcast):
    open_glass(wcast)
    detail(wcast)
    glass = BreakGlass.objects.get()
    assert AuditEvent.objects.filter(action="break_glass", case=wcast.case).count() == 1
    view = AuditEvent.objects.get(action="case_view", case=wcast.case)
    assert view.detail["break_glass"] == glass.pk


def test_lead_coordinator_and_administrators_are_alerted_at_once(
    wcast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        open_glass(wcast)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert set(message.to) == {"coordinator@example.jp", "admin@example.jp"}
    assert wcast.case.reference in message.subject
    assert REASON in message.body
    # The alert names the case; it carries no case content.
    for text in [WATCH_TEXT, SUPPORT_TEXT, SENSITIVE_TEXT]:
        assert text not in message.body


def test_break_glass_expires(wcast):
    open_glass(wcast, hours=1)
    assert detail(wcast).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=61)):
        response = detail(wcast)
        assert response.status_code == 404
        assert SUPPORT_TEXT not in response.content.decode()
        assert not cases_visible_to(wcast.outsider).filter(pk=wcast.case.pk).exists()


@pytest.mark.parametrize("hours", [0, 5, 24])
def test_break_glass_is_a_few_hours_at_most(wcast, hours):
    response = open_glass(wcast, hours=hours)
    assert response.status_code == 200
    assert not BreakGlass.objects.exists()


@pytest.mark.parametrize("reason", ["", "   ", "急ぎ"])
def test_break_glass_without_a_reason_is_refused(wcast, reason):
    response = open_glass(wcast, reason=reason)
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert not BreakGlass.objects.exists()
    assert detail(wcast).status_code == 404


def test_unknown_case_number_is_an_error_and_logged(wcast):
    response = open_glass(wcast, reference="C-99999")
    assert "reference" in response.context["form"].errors
    assert not BreakGlass.objects.exists()
    assert AuditEvent.objects.filter(action="access_denied").exists()


@pytest.mark.parametrize("reference", ["abc", "", "C-"])
def test_malformed_case_number(wcast, reference):
    response = open_glass(wcast, reference=reference)
    assert "reference" in response.context["form"].errors


def test_residents_cannot_break_glass(wcast):
    client = wcast.client_for("resident")
    assert client.get(URL).status_code == 403
    assert open_glass(wcast, client=client).status_code == 403
    assert not BreakGlass.objects.exists()


def test_no_break_glass_when_access_is_already_held(wcast):
    response = open_glass(wcast, client=wcast.client_for("professional"))
    assert response.status_code == 200
    assert not BreakGlass.objects.exists()


def test_break_glass_tier_is_capped_by_the_database(wcast):
    from django.db import IntegrityError, transaction

    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        BreakGlass.objects.create(
            user=wcast.outsider,
            agency=wcast.outsider_agency,
            case=wcast.case,
            reason=REASON,
            tier=Tier.SENSITIVE,
            started_at=now,
            expires_at=now + dt.timedelta(hours=1),
        )


def test_coordinator_reviews_accepted(wcast):
    open_glass(wcast)
    glass = BreakGlass.objects.get()
    client = wcast.client_for("coordinator")
    queue = client.get(reverse("watch:break-glass-queue")).content.decode()
    assert wcast.case.label in queue
    url = reverse("watch:break-glass-review", args=[glass.pk])
    assert REASON in client.get(url).content.decode()
    assert client.post(url, {"decision": "accepted", "note": ""}).status_code == 302
    glass.refresh_from_db()
    assert glass.review == "accepted" and glass.reviewed_by == wcast.coordinator
    assert detail(wcast).status_code == 200  # accepted: the time-box runs on


def test_questioned_needs_a_note_and_ends_the_access(wcast):
    open_glass(wcast)
    glass = BreakGlass.objects.get()
    client = wcast.client_for("coordinator")
    url = reverse("watch:break-glass-review", args=[glass.pk])
    response = client.post(url, {"decision": "questioned", "note": ""})
    assert response.status_code == 200 and "note" in response.context["form"].errors
    glass.refresh_from_db()
    assert glass.review == "pending"
    client.post(url, {"decision": "questioned", "note": "共有の依頼で足りたはず"})
    glass.refresh_from_db()
    assert glass.review == "questioned"
    assert detail(wcast).status_code == 404


@pytest.mark.parametrize("who", ["professional", "resident", "outsider"])
def test_only_coordinating_coordinators_review(wcast, who):
    open_glass(wcast)
    glass = BreakGlass.objects.get()
    url = reverse("watch:break-glass-review", args=[glass.pk])
    response = wcast.client_for(who).post(url, {"decision": "accepted"})
    assert response.status_code == 404
    glass.refresh_from_db()
    assert glass.review == "pending"


def test_service_refuses_without_reason(wcast):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        break_glass_open(actor=wcast.outsider, case=wcast.case, reason="", hours=2)
    assert not BreakGlass.objects.exists()


def test_case_queries_take_the_emergency_path_only_when_it_applies(wcast):
    wcast.professional._otagai_memberships = None
    assert "breakglass" not in str(cases_visible_to(wcast.professional).query)
    assert "breakglass" not in str(cases_visible_to(wcast.outsider).query)
    open_glass(wcast)
    wcast.outsider._otagai_memberships = None
    assert "breakglass" in str(cases_visible_to(wcast.outsider).query)
    assert "breakglass" not in str(cases_visible_to(wcast.professional).query)


def test_reading_with_a_share_does_not_look_up_emergencies(wcast):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    wcast.professional._otagai_memberships = None
    declare_for_all = wcast.case  # the cast case is on the list: a declaration could apply
    with CaptureQueriesContext(connection) as ctx:
        access = case_access(wcast.professional, declare_for_all)
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert "breakglass" not in sql and "declaration" not in sql
    assert access.break_glass is None and access.declaration is None
