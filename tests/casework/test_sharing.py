"""Shares and consents: lawful bases, expiry and withdrawal at query time, bad input."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from permissions.models import AuditEvent, Consent, Share, Tier
from permissions.policy import cases_visible_to, tier_for
from tests.conftest import SUPPORT_TEXT
from tests.factories import ShareFactory

pytestmark = pytest.mark.django_db


def detail(cast, who):
    return cast.client_for(who).get(reverse("casework:case-detail", args=[cast.case.pk]))


def test_expired_share_stops_granting_on_the_next_request(cast):
    share = Share.objects.get(case=cast.case, agency=cast.professional_agency)
    share.expires_at = timezone.now() + dt.timedelta(hours=1)
    share.save()
    assert detail(cast, "professional").status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2)):
        response = detail(cast, "professional")
        assert response.status_code == 404
        assert SUPPORT_TEXT not in response.content.decode()
        assert not cases_visible_to(cast.professional).exists()


def _consent(cast, *, expires_on=None, tier=Tier.SUPPORT):
    consent = Consent.objects.create(
        case=cast.case,
        tier=tier,
        given_on=timezone.localdate() - dt.timedelta(days=10),
        method=Consent.Method.WRITTEN,
        expires_on=expires_on,
        recorded_by=cast.coordinator,
    )
    consent.agencies.set([cast.professional_agency, cast.outsider_agency])
    return consent


def test_consent_withdrawal_takes_effect_at_once(cast):
    consent = _consent(cast)
    ShareFactory(
        case=cast.case,
        agency=cast.outsider_agency,
        tier=Tier.SUPPORT,
        basis=Share.Basis.CONSENT,
        consent=consent,
    )
    assert detail(cast, "outsider").status_code == 200
    # Withdrawn directly in the database (no service, no job): access stops on the next request.
    Consent.objects.filter(pk=consent.pk).update(withdrawn_at=timezone.now())
    assert detail(cast, "outsider").status_code == 404


def test_consent_withdrawal_through_the_page_removes_shares_and_tells_the_coordinator(cast):
    consent = _consent(cast)
    ShareFactory(
        case=cast.case,
        agency=cast.outsider_agency,
        tier=Tier.SUPPORT,
        basis=Share.Basis.CONSENT,
        consent=consent,
    )
    response = cast.client_for("coordinator").post(
        reverse("casework:consent-withdraw", args=[cast.case.pk, consent.pk]), follow=True
    )
    assert "よその機関" in response.content.decode()  # the agency that lost access is named
    assert not Share.objects.filter(consent=consent).exists()
    assert detail(cast, "outsider").status_code == 404
    assert AuditEvent.objects.filter(action="consent_withdraw", case=cast.case).count() == 1


def test_expired_consent_stops_granting_without_a_job(cast):
    consent = _consent(cast, expires_on=timezone.localdate() + dt.timedelta(days=1))
    ShareFactory(
        case=cast.case,
        agency=cast.outsider_agency,
        tier=Tier.SUPPORT,
        basis=Share.Basis.CONSENT,
        consent=consent,
    )
    assert tier_for(cast.outsider, cast.case) == Tier.SUPPORT
    with time_machine.travel(timezone.now() + dt.timedelta(days=3)):
        assert tier_for(cast.outsider, cast.case) is None
        assert detail(cast, "outsider").status_code == 404


def test_consent_page_shows_expired_not_active(cast):
    _consent(cast, expires_on=timezone.localdate() - dt.timedelta(days=1))
    html = (
        cast.client_for("coordinator")
        .get(reverse("casework:consent-list", args=[cast.case.pk]))
        .content.decode()
    )
    assert "badge--bad" in html
    assert "badge--good" not in html


def share_post(cast, **overrides):
    data = {
        "agency": cast.outsider_agency.pk,
        "tier": "2",
        "basis": "support_meeting",
        "consent": "",
        "expires_at": "",
    }
    data.update(overrides)
    return cast.client_for("coordinator").post(
        reverse("casework:share-list", args=[cast.case.pk]), data
    )


def test_grant_share_on_support_meeting_basis(cast):
    response = share_post(cast)
    assert response.status_code == 302
    assert detail(cast, "outsider").status_code == 200
    assert AuditEvent.objects.filter(action="share_grant", case=cast.case).exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"expires_at": "2020-01-01T10:00"},  # in the past
        {"basis": "consent"},  # consent basis without a consent
        {"tier": "9"},  # a tier that does not exist
        {"tier": "secret"},
        {"basis": "because"},  # a basis that does not exist
        {"agency": "999999"},  # an unknown agency
    ],
)
def test_bad_share_input_is_refused_and_nothing_saved(cast, overrides):
    before = Share.objects.count()
    response = share_post(cast, **overrides)
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert Share.objects.count() == before


def test_consent_share_must_be_covered_by_the_consent(cast):
    consent = _consent(cast, tier=Tier.WATCH)
    response = share_post(cast, basis="consent", consent=consent.pk, tier="2")
    assert response.status_code == 200
    assert not Share.objects.filter(case=cast.case, agency=cast.outsider_agency).exists()
    response = share_post(cast, basis="consent", consent=consent.pk, tier="1")
    assert response.status_code == 302


def test_bad_input_errors_are_in_japanese(cast):
    response = share_post(cast, basis="consent")
    assert "同意" in response.content.decode()


def test_revoke_share(cast):
    share = Share.objects.get(case=cast.case, agency=cast.professional_agency)
    cast.client_for("coordinator").post(
        reverse("casework:share-revoke", args=[cast.case.pk, share.pk])
    )
    assert detail(cast, "professional").status_code == 404


def test_other_cases_share_ids_are_404(cast):
    other = ShareFactory(agency=cast.outsider_agency)
    response = cast.client_for("coordinator").get(
        reverse("casework:share-edit", args=[cast.case.pk, other.pk])
    )
    assert response.status_code == 404


def test_over_long_summary_is_refused_and_nothing_saved(cast):
    url = reverse("casework:case-edit", args=[cast.case.pk])
    response = cast.client_for("coordinator").post(
        url,
        {
            "label": "山﨑さん世帯",
            "life_area": cast.area.pk,
            "status": "active",
            "coverage": "partly",
            "summary": "あ" * 20_001,
        },
    )
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    cast.case.refresh_from_db()
    assert cast.case.summary == SUPPORT_TEXT


def test_script_in_text_is_rendered_inert(cast):
    url = reverse("casework:chronology-add", args=[cast.case.pk])
    cast.client_for("professional").post(
        url,
        {
            "occurred_on": timezone.localdate().isoformat(),
            "tier": "2",
            "text": "<script>alert(1)</script>",
        },
    )
    html = detail(cast, "professional").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_contributor_cannot_write_above_their_tier(cast):
    url = reverse("casework:chronology-add", args=[cast.case.pk])
    before = cast.case.chronology.count()
    response = cast.client_for("professional").post(
        url, {"occurred_on": timezone.localdate().isoformat(), "tier": "3", "text": "x"}
    )
    assert response.status_code == 200
    assert cast.case.chronology.count() == before


def test_guardian_export_right_is_per_person(cast):
    from guardian.shortcuts import assign_perm

    from permissions.policy import can

    assert not can(cast.professional, "export", cast.case)
    assign_perm("casework.export_case", cast.professional, cast.case)
    assert can(cast.professional, "export", cast.case)
    # The person-level right never opens a case the agency cannot see.
    assign_perm("casework.export_case", cast.outsider, cast.case)
    assert not can(cast.outsider, "export", cast.case)
