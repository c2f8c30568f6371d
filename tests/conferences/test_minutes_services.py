"""Draft at close, approval into immutable versions, corrections, redaction by rule."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.utils import DatabaseError

from conferences.minutes import content as minutes_content
from conferences.minutes import services as minutes_services
from conferences.minutes.era import era_year, wareki
from conferences.minutes.models import MinutesDraft, MinutesVersion
from conferences.models import Conference, Note
from permissions.conferences import conference_access
from permissions.minutes import minutes_variants
from permissions.models import AppendOnlyError, Tier
from tests.conferences.minutes_helpers import (
    SENSITIVE_NOTE,
    SUPPORT_ACTION,
    SUPPORT_DECISION,
    SUPPORT_NOTE,
    WATCH_ACTION,
    WATCH_NOTE,
    approve,
    closed_conference,
)
from tests.conftest import SENSITIVE_TEXT


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2019, 4, 30), "平成31年（2019年）4月30日"),
        (dt.date(2019, 5, 1), "令和元年（2019年）5月1日"),
        (dt.date(2019, 12, 31), "令和元年（2019年）12月31日"),
        (dt.date(2020, 1, 1), "令和2年（2020年）1月1日"),
        (dt.date(2025, 11, 26), "令和7年（2025年）11月26日"),
        (dt.date(1989, 1, 8), "平成元年（1989年）1月8日"),
    ],
)
def test_wareki(day, expected):
    assert wareki(day) == expected


def test_era_year_and_empty():
    assert era_year(dt.date(2026, 1, 1)) == "令和8年"
    assert wareki(None) == ""


@pytest.mark.django_db
def test_draft_assembled_at_close_with_every_tier(cast):
    conference = closed_conference(cast)
    draft = MinutesDraft.objects.get(conference=conference)
    case = draft.content["cases"][0]
    assert case["label"] == "山﨑さん世帯"
    assert [n["text"] for n in case["notes"]] == [WATCH_NOTE, SUPPORT_NOTE, SENSITIVE_NOTE]
    assert case["fields"]["sensitive"]["text"].startswith(SENSITIVE_TEXT)
    assert {a["title"] for a in case["actions"]} == {WATCH_ACTION, SUPPORT_ACTION}
    assert draft.content["meeting"]["chair"] == "佐藤 美咲"
    assert draft.content["meeting"]["series"] == 1
    assert {a["name"] for a in draft.content["acknowledgements"]} >= {"佐藤 美咲", "高橋 和子"}


@pytest.mark.django_db
def test_watch_variant_leaves_out_support_and_sensitive(cast):
    conference = closed_conference(cast)
    content = MinutesDraft.objects.get(conference=conference).content
    watch = minutes_content.redact(content, {cast.case.pk: Tier.WATCH})
    text = str(watch)
    assert WATCH_NOTE in text and WATCH_ACTION in text
    for secret in (SUPPORT_NOTE, SENSITIVE_NOTE, SUPPORT_DECISION, SUPPORT_ACTION, SENSITIVE_TEXT):
        assert secret not in text
    assert minutes_content.highest_tier(watch) == Tier.WATCH
    support = str(minutes_content.redact(content, {cast.case.pk: Tier.SUPPORT}))
    assert SUPPORT_NOTE in support and SENSITIVE_NOTE not in support
    assert SENSITIVE_TEXT not in support
    assert minutes_content.redact(content, {})["cases"] == []


@pytest.mark.django_db
def test_approve_freezes_a_version_with_its_hash(cast):
    conference = closed_conference(cast)
    version = approve(cast, conference)
    assert version.number == 1
    assert version.sha256 == minutes_content.content_hash(version.content)
    conference.refresh_from_db()
    assert conference.state == Conference.State.MINUTES_APPROVED
    # Later changes to the record do not reach the approved version.
    Note.objects.filter(conference=conference).update(text="あとから変更")
    version = MinutesVersion.objects.get(pk=version.pk)
    assert SUPPORT_NOTE in str(version.content)
    assert version.sha256 == minutes_content.content_hash(version.content)


@pytest.mark.django_db
def test_approval_and_correction_are_in_the_audit_trail(cast):
    from permissions.models import AuditEvent

    conference = closed_conference(cast)
    first = approve(cast, conference)
    access = conference_access(cast.coordinator, conference)
    second = minutes_services.minutes_approve(
        actor=cast.coordinator, access=access, reason="出席者の所属を訂正"
    )
    events = list(
        AuditEvent.objects.filter(action=AuditEvent.Action.MINUTES_APPROVE).order_by("pk")
    )
    assert [(e.actor, e.detail["version"], e.detail["sha256"]) for e in events] == [
        (cast.coordinator, 1, first.sha256),
        (cast.coordinator, 2, second.sha256),
    ]
    assert events[0].reason == "" and events[1].reason == "出席者の所属を訂正"
    assert all(e.detail["conference"] == conference.pk for e in events)


@pytest.mark.django_db
def test_orm_refuses_changes_to_an_approved_version(cast):
    version = approve(cast, closed_conference(cast))
    version.reason = "改ざん"
    with pytest.raises(AppendOnlyError):
        version.save()
    with pytest.raises(AppendOnlyError):
        version.delete()
    with pytest.raises(AppendOnlyError):
        MinutesVersion.objects.filter(pk=version.pk).update(reason="改ざん")
    with pytest.raises(AppendOnlyError):
        MinutesVersion.objects.filter(pk=version.pk).delete()


@pytest.mark.postgres
@pytest.mark.django_db
def test_database_refuses_update_and_delete_of_a_version(cast):
    version = approve(cast, closed_conference(cast))
    for sql in (
        "UPDATE conferences_minutesversion SET reason = 'x' WHERE id = %s",
        "DELETE FROM conferences_minutesversion WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [version.pk])
    assert MinutesVersion.objects.get(pk=version.pk).reason == ""


@pytest.mark.django_db
def test_correction_makes_a_new_version_with_a_reason(cast):
    conference = closed_conference(cast)
    first = approve(cast, conference)
    access = conference_access(cast.coordinator, conference)
    minutes_services.minutes_draft_update(
        actor=cast.coordinator,
        access=access,
        person_attended="本人は欠席、長男が出席",
        next_date="2026-01-15",
        fields={(cast.case.pk, "risk"): "緊急度：中"},
    )
    with pytest.raises(ValidationError):
        approve(cast, conference)  # a correction needs a reason
    second = approve(cast, conference, reason="危険度の記載漏れ")
    assert second.number == 2 and second.reason == "危険度の記載漏れ"
    assert second.content["cases"][0]["fields"]["risk"]["text"] == "緊急度：中"
    first = MinutesVersion.objects.get(pk=first.pk)
    assert first.content["cases"][0]["fields"]["risk"]["text"] == ""
    assert first.sha256 != second.sha256


@pytest.mark.django_db
def test_only_the_chair_approves(cast):
    from django.core.exceptions import PermissionDenied

    conference = closed_conference(cast)
    access = conference_access(cast.professional, conference)
    with pytest.raises(PermissionDenied):
        minutes_services.minutes_approve(actor=cast.professional, access=access)


@pytest.mark.django_db
def test_variants_per_reader(cast):
    conference = closed_conference(cast)
    ids = [cast.case.pk]
    keys = lambda user: [v.key for v in minutes_variants(conference_access(user, conference), ids)]  # noqa: E731
    coordinator = keys(cast.coordinator)
    assert coordinator[:4] == ["mine", "watch", "support", "sensitive"]
    assert f"agency-{cast.residents_agency.pk}" in coordinator
    assert keys(cast.professional) == [
        "mine",
        "watch",
        "support",
        f"agency-{cast.professional_agency.pk}",
    ]
    assert keys(cast.resident) == ["mine", "watch", f"agency-{cast.residents_agency.pk}"]
    residents = next(
        v
        for v in minutes_variants(conference_access(cast.coordinator, conference), ids)
        if v.key == f"agency-{cast.residents_agency.pk}"
    )
    assert residents.tiers == {cast.case.pk: Tier.WATCH}


@pytest.mark.django_db
def test_closing_from_the_live_page_assembles_the_draft(cast):
    from conferences.live import live_apply
    from tests.conferences.conftest import make_live

    conference = make_live(cast)
    access = conference_access(cast.coordinator, conference)
    live_apply(
        actor=cast.coordinator,
        access=access,
        client_op_id="close-1",
        op="conference.close",
        args={},
    )
    assert MinutesDraft.objects.filter(conference=conference).exists()
