"""Retention (manage.py apply_retention): a closed case past its period loses its personal
content, keeps a stub; the audit trail, the disclosure ledger and approved minutes stay."""

from __future__ import annotations

import datetime as dt
import uuid
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone, translation
from guardian.shortcuts import assign_perm

from casework.models import (
    Case,
    Concern,
    EvacuationPlan,
    NeedCategory,
    SafetyMark,
    VisitLog,
    WatchAssignment,
)
from casework.retention import ACTOR_LABEL, retention_apply
from conferences.minutes.models import MinutesVersion
from conferences.models import (
    ActionChange,
    ActionItem,
    ActionReview,
    AgendaItem,
    ConferenceCase,
    ConferenceEvent,
    FollowupNotification,
    PrepAsk,
    PrepSheet,
)
from permissions.audit import audit_record
from permissions.models import (
    AuditEvent,
    BreakGlass,
    Declaration,
    DisclosureRecord,
    Share,
    Tier,
)
from permissions.policy import cases_visible_to
from permissions.services import consent_record
from tests.conferences.minutes_helpers import SENSITIVE_NOTE, SUPPORT_ACTION, approve
from tests.conferences.minutes_helpers import closed_conference as make_closed_conference
from tests.conftest import SENSITIVE_CHRONO, SENSITIVE_FINANCE, SENSITIVE_TEXT, WATCH_TEXT
from tests.factories import CaseFactory, ChronologyFactory, MemberFactory

SIX_YEARS = dt.timedelta(days=6 * 365)
# Distinctive text in every kind of record retention removes or empties.
VISIT_NOTE = "訪問：玄関先で元気に応対された"
PLAN_ROUTE = "避難経路：裏の階段から小学校へ"
CONCERN_DETAIL = "気づき：新聞が三日分たまっている"
PREP_TEXT = "準備：長男が失職、家賃滞納が続く"
ASK_TEXT = "依頼：家賃滞納の状況を住宅課に確認"
REVIEW_NOTE = "振り返り：就労相談は完了"
CONSENT_NOTE = "同意：ケアマネとの共有に同意"
GLASS_REASON = "緊急：連絡が取れず安否確認のため"
OTHER_MEMBER = "佐々木 次郎"
SECRETS = (
    "山﨑",
    WATCH_TEXT,
    SENSITIVE_TEXT,
    SENSITIVE_FINANCE,
    SENSITIVE_CHRONO,
    SENSITIVE_NOTE,
    SUPPORT_ACTION,
    VISIT_NOTE,
    PLAN_ROUTE,
    CONCERN_DETAIL,
    PREP_TEXT,
    ASK_TEXT,
    REVIEW_NOTE,
    CONSENT_NOTE,
    GLASS_REASON,
)
# What retention keeps as written: the append-only trail, the ledger, approved minutes.
KEPT_AS_WRITTEN = {
    "permissions.AuditEvent",
    "permissions.DisclosureRecord",
    "conferences.MinutesVersion",
    "conferences.MinutesDraft",
}


def _everything() -> dict[str, list[dict[str, Any]]]:
    """Every row of the apps that hold case records, for comparisons before and after."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for app in ("casework", "conferences", "permissions", "guardian"):
        for model in apps.get_app_config(app).get_models():
            rows[model._meta.label] = list(model._default_manager.order_by("pk").values())
    return rows


def _texts_outside_the_trail() -> str:
    return repr(
        {label: rows for label, rows in _everything().items() if label not in KEPT_AS_WRITTEN}
    )


def _old_closed_case(cast) -> Any:  # type: ignore[no-untyped-def]
    """The cast's case with a record of every kind, closed six years ago."""
    case = cast.case
    case.need_categories.add(NeedCategory.objects.order_by("pk")[0])
    conference = make_closed_conference(cast)
    approve(cast, conference)
    actions = list(ActionItem.objects.filter(case=case))
    ActionItem.objects.filter(case=case).update(status=ActionItem.Status.DONE)
    ActionChange.objects.create(
        action=actions[0], kind="edited", by=cast.coordinator, detail={"title": ["", "x"]}
    )
    ActionReview.objects.create(
        conference=conference,
        action=actions[1],
        due_on_before=dt.date(2025, 12, 5),
        note=REVIEW_NOTE,
    )
    FollowupNotification.objects.create(user=cast.professional, action=actions[1], kind="assigned")
    link = ConferenceCase.objects.get(conference=conference, case=case)
    sheet, _ = PrepSheet.objects.update_or_create(
        conference_case=link, defaults={"household": PREP_TEXT}
    )
    PrepAsk.objects.create(
        sheet=sheet, agency=cast.professional_agency, question=ASK_TEXT, asked_by=cast.coordinator
    )
    consent = consent_record(
        actor=cast.coordinator,
        case=case,
        agencies=[cast.outsider_agency],
        tier=Tier.SUPPORT,
        given_on=dt.date(2019, 4, 1),
        method="written",
        scope_note=CONSENT_NOTE,
    )
    Share.objects.create(
        case=case,
        agency=cast.outsider_agency,
        tier=Tier.SUPPORT,
        basis=Share.Basis.CONSENT,
        consent=consent,
    )
    link.consent = consent
    link.save()
    chrono = ChronologyFactory(
        case=case, agency=cast.residents_agency, author=cast.resident, tier=Tier.WATCH, text="訪問"
    )
    VisitLog.objects.create(
        case=case,
        visited_on=dt.date(2019, 5, 1),
        outcome="well",
        note=VISIT_NOTE,
        visitor=cast.resident,
        agency=cast.residents_agency,
        chronology=chrono,
    )
    WatchAssignment.objects.create(case=case, agency=cast.residents_agency, frequency="weekly")
    EvacuationPlan.objects.create(case=case, route_notes=PLAN_ROUTE, updated_by=cast.coordinator)
    declaration = Declaration.objects.create(reason="地震", declared_by=cast.coordinator)
    SafetyMark.objects.create(
        declaration=declaration,
        case=case,
        status="safe",
        marked_by=cast.resident,
        agency=cast.residents_agency,
        client_id=uuid.uuid4(),
    )
    Concern.objects.create(
        reporter=cast.resident, life_area=cast.area, details=CONCERN_DETAIL, case=case
    )
    BreakGlass.objects.create(
        user=cast.professional,
        agency=cast.professional_agency,
        case=case,
        reason=GLASS_REASON,
        tier=Tier.SUPPORT,
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    assign_perm("casework.export_case", cast.professional, case)
    audit_record(actor=cast.coordinator, action=AuditEvent.Action.CASE_VIEW, case=case)
    DisclosureRecord.objects.create(
        actor=cast.coordinator,
        actor_label="佐藤 美咲",
        kind="case_pdf",
        description="C-export",
        basis=DisclosureRecord.Basis.SHARE,
        case_ids=[case.pk],
        tier=Tier.SUPPORT,
        sha256="0" * 64,
    )
    Case.objects.filter(pk=case.pk).update(
        status=Case.Status.CLOSED, closed_at=timezone.now() - SIX_YEARS
    )
    case.refresh_from_db()
    return case


def _case_with_member(cast, *, closed_ago: dt.timedelta | None) -> Case:  # type: ignore[no-untyped-def]
    case = CaseFactory(life_area=cast.area, lead_coordinator=cast.coordinator, summary="残す")
    MemberFactory(case=case, name=OTHER_MEMBER)
    if closed_ago is not None:
        Case.objects.filter(pk=case.pk).update(
            status=Case.Status.CLOSED, closed_at=timezone.now() - closed_ago
        )
    return case


@pytest.fixture
def old_case(cast) -> Case:  # type: ignore[no-untyped-def]
    return _old_closed_case(cast)


def test_dry_run_changes_nothing_and_says_what_would_go(old_case):
    before = _everything()
    out = StringIO()
    with translation.override("en"):
        call_command("apply_retention", "--dry-run", stdout=out)
    assert _everything() == before
    text = out.getvalue()
    assert "DRY RUN" in text
    assert f"{old_case.reference} (closed" in text
    assert "would empty 1 case(s)" in text
    assert "household members 1" in text


def test_the_command_speaks_japanese_by_default(old_case):
    out = StringIO()
    with translation.override("ja"):
        call_command("apply_retention", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "試行" in text
    assert "世帯員 1" in text
    assert "DRY RUN" not in text
    assert "household" not in text


def test_run_removes_the_personal_content_of_an_old_closed_case(cast, old_case):
    assert any(secret in _texts_outside_the_trail() for secret in SECRETS)
    report = retention_apply(dry_run=False)
    assert [plan.case_id for plan in report.purged] == [old_case.pk]
    left = _texts_outside_the_trail()
    assert [secret for secret in SECRETS if secret in left] == []
    stub = Case.objects.get(pk=old_case.pk)
    assert stub.label == old_case.reference
    assert stub.purged_at is not None
    assert stub.small_area_id is None
    assert (stub.summary, stub.health, stub.watch_notes, stub.search_text) == ("", "", "", "")
    # What statistics need stays: area, dates, needs, coverage.
    assert stub.life_area_id == cast.area.pk
    assert stub.closed_at == old_case.closed_at
    assert list(stub.need_categories.all()) == [NeedCategory.objects.order_by("pk")[0]]
    # No one can open it any more: no share, no emergency access.
    assert not Share.objects.filter(case=stub).exists()
    assert not cases_visible_to(cast.coordinator).filter(pk=stub.pk).exists()
    # Follow-up figures keep the rows; their text is gone.
    assert ActionItem.objects.filter(case=stub, status=ActionItem.Status.DONE).count() == 2
    events = ConferenceEvent.objects.filter(case=stub)
    assert all(event.payload == {"removed": "retention"} for event in events)
    # Its agenda items keep their place, named by the reference.
    items = AgendaItem.objects.filter(case=stub).select_related("case")
    with translation.override("ja"):
        headings = {item.heading for item in items}
    assert f"{old_case.reference}: 役割分担" in headings
    assert all(old_case.label not in heading for heading in headings)


def test_run_keeps_the_audit_trail_ledger_and_minutes_and_writes_one_event(cast, old_case):
    trail = list(AuditEvent.objects.filter(case_id=old_case.pk).order_by("pk").values())
    ledger = list(DisclosureRecord.objects.order_by("pk").values())
    minutes = list(MinutesVersion.objects.order_by("pk").values("pk", "sha256", "content"))
    assert trail and ledger and minutes
    retention_apply(dry_run=False)
    after = list(AuditEvent.objects.filter(case_id=old_case.pk).order_by("pk").values())
    assert after[: len(trail)] == trail
    assert list(DisclosureRecord.objects.order_by("pk").values()) == ledger
    assert list(MinutesVersion.objects.order_by("pk").values("pk", "sha256", "content")) == minutes
    (event,) = after[len(trail) :]
    assert event["action"] == AuditEvent.Action.RETENTION
    assert event["actor_id"] is None
    assert event["actor_label"] == ACTOR_LABEL
    assert timezone.localtime(old_case.closed_at).strftime("%Y-%m-%d") in event["reason"]
    assert "保存期間" in event["reason"]  # the site's language, whatever the command ran in
    detail = event["detail"]
    assert detail["reference"] == old_case.reference
    assert detail["removed"]["household members"] == 1
    assert detail["removed"]["consents"] == 1
    assert detail["emptied"]["notes"] == 3
    assert detail["emptied"]["conference titles"] == 1
    assert detail["kept"]["minutes versions"] == 1
    assert detail["kept"]["audit events"] == len(trail)


def test_open_recent_and_busy_cases_are_untouched(cast, old_case):
    recent = _case_with_member(cast, closed_ago=dt.timedelta(days=365))
    still_open = _case_with_member(cast, closed_ago=None)
    busy = _case_with_member(cast, closed_ago=SIX_YEARS)
    ActionItem.objects.create(
        case=busy,
        tier=Tier.SUPPORT,
        author=cast.coordinator,
        title="まだ終わっていない",
        owner_agency=cast.council,
        due_on=dt.date(2020, 1, 1),
    )
    untouched = [recent, still_open, busy]
    before = {
        c.pk: (Case.objects.filter(pk=c.pk).values().get(), c.members.count()) for c in untouched
    }
    with translation.override("en"):
        report = retention_apply(dry_run=False)
    assert [plan.case_id for plan in report.purged] == [old_case.pk]
    assert [(plan.case_id, plan.held_back) for plan in report.held_back] == [
        (busy.pk, "the case has open action items")
    ]
    after = {
        c.pk: (Case.objects.filter(pk=c.pk).values().get(), c.members.count()) for c in untouched
    }
    assert after == before
    assert not AuditEvent.objects.filter(
        action=AuditEvent.Action.RETENTION, case_id__in=[c.pk for c in untouched]
    ).exists()


def test_a_second_run_finds_nothing_to_do(old_case):
    retention_apply(dry_run=False)
    before = _everything()
    out = StringIO()
    with translation.override("en"):
        call_command("apply_retention", stdout=out)
    assert _everything() == before
    assert "emptied 0 case(s), held back 0" in out.getvalue()


def test_the_period_comes_from_the_setting_and_the_option(settings, old_case):
    settings.RETENTION_CLOSED_CASE_DAYS = 7 * 365
    assert retention_apply(dry_run=True).cases == []
    assert [p.case_id for p in retention_apply(dry_run=True, days=5 * 365).cases] == [old_case.pk]
    out = StringIO()
    call_command("apply_retention", "--dry-run", "--days", str(5 * 365), stdout=out)
    assert old_case.reference in out.getvalue()
    with translation.override("en"), pytest.raises(CommandError, match="at least one day"):
        call_command("apply_retention", "--days", "0")


@pytest.mark.postgres
def test_on_postgresql_the_append_only_triggers_do_not_block_it(old_case, db_vendor):
    # The audit and ledger triggers refuse UPDATE and DELETE; retention never needs either.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgenabled = 'O' AND tgname IN "
            "('permissions_auditevent_append_only', 'permissions_disclosurerecord_append_only')"
        )
        assert len(cursor.fetchall()) == 2
    retention_apply(dry_run=False)
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.RETENTION, case_id=old_case.pk
    ).exists()
    assert Case.objects.get(pk=old_case.pk).purged_at is not None
    assert [secret for secret in SECRETS if secret in _texts_outside_the_trail()] == []


def test_a_conference_keeps_its_title_while_another_of_its_cases_is_kept(cast, old_case):
    link = ConferenceCase.objects.filter(case=old_case).select_related("conference").get()
    other = _case_with_member(cast, closed_ago=None)
    ConferenceCase.objects.create(conference=link.conference, case=other, order=1)
    plan = retention_apply(dry_run=True).cases[0]
    assert plan.emptied["conference titles"] == 0
    retention_apply(dry_run=False)
    link.conference.refresh_from_db()
    assert link.conference.title == "山﨑さん世帯 支援会議"
