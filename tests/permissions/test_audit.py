"""The audit trail: written for every audited action, append-only in the ORM and in SQL."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from permissions.models import AppendOnlyError, AuditEvent

pytestmark = pytest.mark.django_db


def test_case_view_is_audited_with_tier_and_agency(cast):
    cast.client_for("professional").get(reverse("casework:case-detail", args=[cast.case.pk]))
    event = AuditEvent.objects.get(action="case_view")
    assert event.actor == cast.professional
    assert event.agency == cast.professional_agency
    assert event.case_id == cast.case.pk
    assert event.tier == 2
    assert event.ip == "127.0.0.1"


def test_every_change_is_audited(cast):
    client = cast.client_for("coordinator")
    pk = cast.case.pk
    client.post(
        reverse("casework:case-edit", args=[pk]),
        {
            "label": "山﨑さん世帯",
            "life_area": cast.area.pk,
            "status": "active",
            "coverage": "partly",
            "summary": "変更",
        },
    )
    client.post(
        reverse("casework:chronology-add", args=[pk]),
        {"occurred_on": timezone.localdate().isoformat(), "tier": "1", "text": "記録"},
    )
    client.post(
        reverse("casework:share-list", args=[pk]),
        {"agency": cast.outsider_agency.pk, "tier": "1", "basis": "emergency"},
    )
    client.post(
        reverse("casework:consent-list", args=[pk]),
        {
            "agencies": [cast.outsider_agency.pk],
            "tier": "2",
            "given_on": timezone.localdate().isoformat(),
            "method": "written",
        },
    )
    actions = set(AuditEvent.objects.filter(case=cast.case).values_list("action", flat=True))
    assert {"case_update", "chronology_add", "share_grant", "consent_record"} <= actions


def test_who_looked_at_this_case(cast):
    cast.client_for("resident").get(reverse("casework:case-detail", args=[cast.case.pk]))
    html = (
        cast.client_for("coordinator")
        .get(reverse("casework:case-access-log", args=[cast.case.pk]))
        .content.decode()
    )
    assert "高橋 和子" in html or "高橋" in html
    assert "民生委員協議会" in html


def test_orm_refuses_update_and_delete(cast):
    cast.client_for("professional").get(reverse("casework:case-detail", args=[cast.case.pk]))
    event = AuditEvent.objects.first()
    event.reason = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(reason="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


@pytest.mark.postgres
def test_database_refuses_update_and_delete(cast):
    cast.client_for("professional").get(reverse("casework:case-detail", args=[cast.case.pk]))
    pk = AuditEvent.objects.first().pk
    for sql in [
        "UPDATE permissions_auditevent SET reason = 'x' WHERE id = %s",
        "DELETE FROM permissions_auditevent WHERE id = %s",
    ]:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [pk])
    assert AuditEvent.objects.filter(pk=pk).exists()
