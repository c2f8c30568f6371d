"""Follow-ups: creation, status with reasons, history, conflicts, access matrix, overview and
reassignment, carry-forward into the next conference, reminders, the calendar feed."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from conferences import actions, live
from conferences.models import (
    ActionChange,
    ActionItem,
    ActionReview,
    FollowupNotification,
    FollowupProfile,
    ReminderSent,
)
from conferences.reminders import send_reminders
from permissions.access import access_case
from permissions.conferences import conference_access
from permissions.models import Tier
from permissions.people import display_name
from tests.conferences.conftest import make_live, schedule
from tests.conftest import SENSITIVE_TEXT, SUPPORT_TEXT

SUPPORT_TITLE = "支援項目：長男の借入について家計相談へ"
WATCH_TITLE = "見守り項目：週1回の声かけ"
CAST = ["coordinator", "professional", "resident", "outsider", "anonymous"]


def today() -> dt.date:
    return timezone.localdate()


def make_item(cast, *, tier=Tier.SUPPORT, owner="professional", due_in=7, title=None):  # type: ignore[no-untyped-def]
    access = access_case(cast.coordinator, cast.case.pk, "contribute")
    owner_user = getattr(cast, owner)
    return actions.action_create(
        actor=cast.coordinator,
        access=access,
        title=title or (SUPPORT_TITLE if tier > Tier.WATCH else WATCH_TITLE),
        details=SUPPORT_TEXT if tier > Tier.WATCH else "",
        tier=tier,
        owner_user=owner_user,
        due_on=today() + dt.timedelta(days=due_in),
    )


# --- creation and bad input ------------------------------------------------------------------


def test_create_writes_history_and_notifies_owner(cast):
    item = make_item(cast)
    change = ActionChange.objects.get(action=item)
    assert change.kind == ActionChange.Kind.CREATED and change.by == cast.coordinator
    assert FollowupNotification.objects.filter(user=cast.professional, action=item).exists()


def test_past_due_date_on_creation_is_refused(cast):
    with pytest.raises(ValidationError) as exc:
        make_item(cast, due_in=-1)
    assert "due_on" in exc.value.message_dict
    assert not ActionItem.objects.exists()


def test_owner_without_share_is_refused(cast):
    with pytest.raises(ValidationError) as exc:
        make_item(cast, owner="outsider")
    assert "owner_user" in exc.value.message_dict
    assert not ActionItem.objects.exists()


def test_owner_below_item_tier_is_refused(cast):
    with pytest.raises(ValidationError):
        make_item(cast, tier=Tier.SUPPORT, owner="resident")
    assert not ActionItem.objects.exists()


def test_create_from_case_page(cast):
    client = cast.client_for("coordinator")
    url = reverse("followups:create", args=[cast.case.pk])
    response = client.post(
        url,
        {
            "title": "家計相談につなぐ",
            "tier": Tier.SUPPORT,
            "owner_user": cast.professional.pk,
            "due_on": (today() - dt.timedelta(days=2)).isoformat(),
        },
    )
    assert response.status_code == 400
    assert "past" in response.content.decode() or "過去" in response.content.decode()
    assert not ActionItem.objects.exists()
    response = client.post(
        url,
        {
            "title": "家計相談につなぐ",
            "tier": Tier.SUPPORT,
            "owner_agency": cast.outsider_agency.pk,
            "due_on": (today() + dt.timedelta(days=2)).isoformat(),
        },
    )
    assert response.status_code == 400  # not a choice: no share
    assert not ActionItem.objects.exists()
    response = client.post(
        url,
        {
            "title": "家計相談につなぐ",
            "tier": Tier.SUPPORT,
            "owner_agency": cast.professional_agency.pk,
            "due_on": (today() + dt.timedelta(days=2)).isoformat(),
        },
    )
    assert response.status_code == 302
    assert ActionItem.objects.get().owner_agency == cast.professional_agency


@pytest.mark.parametrize(
    ("who", "expected"),
    [("coordinator", 200), ("professional", 200), ("resident", 403), ("outsider", 404)],
)
def test_create_page_access(cast, who, expected):
    response = cast.client_for(who).get(reverse("followups:create", args=[cast.case.pk]))
    assert response.status_code == expected
    if expected == 404:
        assert cast.case.label not in response.content.decode()


def test_live_action_add_writes_history(cast):
    conference = make_live(cast)
    item = conference.agenda.filter(case__isnull=False).last()
    live.live_apply(
        actor=cast.coordinator,
        access=conference_access(cast.coordinator, conference),
        client_op_id="a1",
        op="action.add",
        args={
            "item": item.pk,
            "title": "訪問する",
            "owner_user": cast.professional.pk,
            "due_on": (today() + dt.timedelta(days=3)).isoformat(),
            "tier": int(Tier.SUPPORT),
        },
    )
    action = ActionItem.objects.get()
    assert action.changes.get().conference == conference
    assert FollowupNotification.objects.filter(user=cast.professional).count() == 1


# --- status ----------------------------------------------------------------------------------


def test_status_flow_records_every_change(cast):
    item = make_item(cast)
    item = actions.action_set_status(
        actor=cast.professional, action=item, status="in_progress", base_version=item.version
    )
    item = actions.action_set_status(
        actor=cast.professional,
        action=item,
        status="done",
        base_version=item.version,
        note="申請書を提出済み",
    )
    kinds = list(item.changes.values_list("kind", "detail__status"))
    assert kinds == [
        ("created", [None, "open"]),
        ("status", ["open", "in_progress"]),
        ("status", ["in_progress", "done"]),
    ]
    assert item.completion_note == "申請書を提出済み" and item.closed_at is not None
    with pytest.raises(ValidationError):  # final
        actions.action_set_status(
            actor=cast.professional, action=item, status="open", base_version=item.version
        )


@pytest.mark.parametrize(
    ("status", "reason", "text", "field"),
    [
        ("not_done", "", "", "reason"),
        ("cancelled", "bogus", "", "reason"),
        ("not_done", "other", "  ", "reason_text"),
    ],
)
def test_status_without_required_reason_saves_nothing(cast, status, reason, text, field):
    item = make_item(cast)
    with pytest.raises(ValidationError) as exc:
        actions.action_set_status(
            actor=cast.professional,
            action=item,
            status=status,
            base_version=item.version,
            reason=reason,
            reason_text=text,
        )
    assert field in exc.value.message_dict
    item.refresh_from_db()
    assert item.status == "open" and item.version == 1
    assert item.changes.count() == 1


def test_not_done_with_reason(cast):
    item = make_item(cast)
    item = actions.action_set_status(
        actor=cast.professional,
        action=item,
        status="not_done",
        base_version=1,
        reason="other",
        reason_text="本人が転居",
    )
    assert (item.status, item.status_reason, item.reason_text) == (
        "not_done",
        "other",
        "本人が転居",
    )


def test_concurrent_status_updates_conflict_and_nothing_lost(cast):
    item = make_item(cast)
    url = reverse("followups:status", args=[item.pk])
    first = cast.client_for("professional").post(url, {"status": "done", "version": 1})
    assert first.status_code == 302
    second = cast.client_for("coordinator").post(
        url, {"status": "not_done", "version": 1, "reason": "circumstances_changed"}
    )
    assert second.status_code == 409
    item.refresh_from_db()
    assert item.status == "done" and item.version == 2
    assert item.changes.filter(kind="status").count() == 1


def test_status_view_missing_reason_is_400(cast):
    item = make_item(cast)
    response = cast.client_for("professional").post(
        reverse("followups:status", args=[item.pk]), {"status": "not_done", "version": 1}
    )
    assert response.status_code == 400
    item.refresh_from_db()
    assert item.status == "open"


# --- access matrix ---------------------------------------------------------------------------


DETAIL = {
    Tier.SUPPORT: {
        "coordinator": 200,
        "professional": 200,
        "resident": 404,
        "outsider": 404,
        "anonymous": 302,
    },
    Tier.WATCH: {
        "coordinator": 200,
        "professional": 200,
        "resident": 200,
        "outsider": 404,
        "anonymous": 302,
    },
}


@pytest.mark.parametrize("tier", [Tier.SUPPORT, Tier.WATCH])
@pytest.mark.parametrize("who", CAST)
def test_detail_access_matrix(cast, tier, who):
    item = make_item(cast, tier=tier, owner="coordinator")
    response = cast.client_for(who).get(reverse("followups:detail", args=[item.pk]))
    assert response.status_code == DETAIL[tier][who]
    body = response.content.decode()
    assert SENSITIVE_TEXT not in body
    if DETAIL[tier][who] != 200:
        assert item.title not in body and SUPPORT_TEXT not in body


@pytest.mark.parametrize("who", CAST)
def test_status_update_matrix(cast, who):
    item = make_item(cast, tier=Tier.WATCH, owner="resident")
    response = cast.client_for(who).post(
        reverse("followups:status", args=[item.pk]), {"status": "in_progress", "version": 1}
    )
    expected = {
        "coordinator": 302,  # coordinates the case
        "professional": 403,  # reads it, does not own it
        "resident": 302,  # the owner
        "outsider": 404,
        "anonymous": 302,
    }[who]
    assert response.status_code == expected
    item.refresh_from_db()
    assert item.status == ("in_progress" if who in {"coordinator", "resident"} else "open")


def test_my_followups_lists_own_and_agency_items_due_first_overdue_marked(cast):
    late = make_item(cast, title="遅れている件", due_in=1)
    ActionItem.objects.filter(pk=late.pk).update(due_on=today() - dt.timedelta(days=2))
    make_item(cast, title="後の件", due_in=9)
    agency_item = make_item(cast, title="機関の件", due_in=4)
    ActionItem.objects.filter(pk=agency_item.pk).update(
        owner_user=None, owner_agency=cast.professional_agency
    )
    make_item(cast, title="他人の件", owner="coordinator")
    response = cast.client_for("professional").get(reverse("dashboard"))
    body = response.content.decode()
    assert body.index("遅れている件") < body.index("機関の件") < body.index("後の件")
    assert "他人の件" not in body
    assert "badge--bad" in body  # colour, and the word next to it
    assert ("Overdue" in body) or ("期限切れ" in body) or ("期限超過" in body)
    assert SENSITIVE_TEXT not in body
    # The resident (watch tier) never sees a support-tier item, even their agency's.
    resident = cast.client_for("resident").get(reverse("followups:mine")).content.decode()
    assert "遅れている件" not in resident


# --- overview and reassignment ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("coordinator", 200),
        ("professional", 403),
        ("resident", 403),
        ("outsider", 403),
        ("anonymous", 302),
    ],
)
def test_overview_access(cast, who, expected):
    make_item(cast)
    response = cast.client_for(who).get(reverse("followups:overview"))
    assert response.status_code == expected
    if expected != 200:
        assert SUPPORT_TITLE not in response.content.decode()


def test_overview_filters_overdue(cast):
    late = make_item(cast, title="遅れ")
    ActionItem.objects.filter(pk=late.pk).update(due_on=today() - dt.timedelta(days=1))
    make_item(cast, title="まだ")
    body = (
        cast.client_for("coordinator")
        .get(reverse("followups:overview"), {"overdue": "1", "area": "x"})
        .content.decode()
    )
    assert "遅れ" in body and "まだ" not in body


def test_reassign_many_with_note(cast):
    a = make_item(cast, tier=Tier.WATCH, title="一")
    b = make_item(cast, tier=Tier.WATCH, title="二")
    response = cast.client_for("coordinator").post(
        reverse("followups:overview"),
        {"actions": [a.pk, b.pk], "owner_user": cast.resident.pk, "note": "お願いします"},
    )
    assert response.status_code == 302
    assert set(ActionItem.objects.values_list("owner_user", flat=True)) == {cast.resident.pk}
    notes = FollowupNotification.objects.filter(user=cast.resident, kind="reassigned")
    assert notes.count() == 2 and notes.first().note == "お願いします"
    assert ActionChange.objects.filter(kind="reassigned").count() == 2


def test_reassign_to_owner_without_share_saves_nothing(cast):
    a = make_item(cast)
    with pytest.raises(ValidationError):
        actions.action_reassign(actor=cast.coordinator, actions=[a], owner_user=cast.outsider)
    a.refresh_from_db()
    assert a.owner_user == cast.professional


# --- carry-forward ---------------------------------------------------------------------------


def test_open_items_carried_into_next_conference_and_reviewed(cast):
    done = make_item(cast, title="済")
    actions.action_set_status(actor=cast.coordinator, action=done, status="done", base_version=1)
    keep = make_item(cast, title="続ける")
    close = make_item(cast, title="閉じる")
    late = make_item(cast, title="遅れ", tier=Tier.WATCH)
    ActionItem.objects.filter(pk=late.pk).update(due_on=today() - dt.timedelta(days=3))
    conference = make_live(cast)
    reviews = {r.action.title: r for r in ActionReview.objects.select_related("action")}
    assert set(reviews) == {"続ける", "閉じる", "遅れ"}
    assert reviews["遅れ"].was_overdue and reviews["遅れ"].agenda_item.kind == "review"
    access = conference_access(cast.coordinator, conference)

    def review(op_id, **args):  # type: ignore[no-untyped-def]
        return live.live_apply(
            actor=cast.coordinator,
            access=access,
            client_op_id=op_id,
            op="action.review",
            args=args,
        )

    with pytest.raises(live.OpError):  # continued needs a future date
        review("r0", review=reviews["続ける"].pk, outcome="continued", new_due_on="2000-01-01")
    with pytest.raises(live.OpError):  # closed needs a reason
        review("r1", review=reviews["閉じる"].pk, outcome="closed")
    new_due = (today() + dt.timedelta(days=20)).isoformat()
    review("r2", review=reviews["続ける"].pk, outcome="continued", new_due_on=new_due)
    review("r3", review=reviews["閉じる"].pk, outcome="closed", reason="circumstances_changed")
    review("r4", review=reviews["遅れ"].pk, outcome="done", note="訪問済み")
    keep.refresh_from_db()
    close.refresh_from_db()
    late.refresh_from_db()
    assert keep.due_on.isoformat() == new_due and keep.status == "open"
    assert (close.status, close.status_reason) == ("not_done", "circumstances_changed")
    assert late.status == "done"
    minuted = dict(ActionReview.objects.values_list("action__title", "outcome"))
    assert minuted == {"続ける": "continued", "閉じる": "closed", "遅れ": "done"}
    assert conference.events.filter(type="action_review.updated").count() == 3
    assert ActionChange.objects.filter(kind="reviewed", conference=conference).count() == 3


def test_carry_forward_is_idempotent_and_skips_other_cases(cast):
    make_item(cast)
    conference = schedule(cast)
    assert actions.carry_forward(conference) == 0
    assert ActionReview.objects.filter(conference=conference).count() == 1


def test_review_of_item_above_readers_tier_is_not_found(cast):
    make_item(cast, tier=Tier.SUPPORT)
    conference = make_live(cast)
    review = ActionReview.objects.get()
    with pytest.raises(live.OpError) as exc:
        live.live_apply(
            actor=cast.resident,
            access=conference_access(cast.resident, conference),
            client_op_id="x",
            op="action.review",
            args={"review": review.pk, "outcome": "done"},
        )
    assert exc.value.code == "not_found"


# --- reminders -------------------------------------------------------------------------------


def test_reminders_are_idempotent_and_in_the_owners_language(cast, settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    cast.professional.email = "pro@example.org"
    cast.professional.save()
    FollowupProfile.objects.create(user=cast.professional, language="en")
    with time_machine.travel(dt.datetime(2026, 4, 1, 9, tzinfo=dt.UTC), tick=False):
        soon = make_item(cast, title="すぐ", due_in=2)
        make_item(cast, title="まだ先", due_in=10)
        watch = make_item(cast, title="見守りの件", tier=Tier.WATCH, due_in=1)
        mail.outbox.clear()
        report = send_reminders()
        assert report.digests == 1 and sorted(report.items) == sorted([soon.pk, watch.pk])
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == ["pro@example.org"]
        assert "follow-ups" in message.subject  # English
        assert "見守りの件" in message.body  # watch-tier title
        assert "すぐ" not in message.body and SUPPORT_TEXT not in message.body
        assert send_reminders().digests == 0  # twice: nothing twice
        assert len(mail.outbox) == 1
    with time_machine.travel(dt.datetime(2026, 4, 2, 9, tzinfo=dt.UTC), tick=False):
        assert send_reminders().digests == 1  # a new day, a new digest
    assert ReminderSent.objects.filter(user=cast.professional).count() == 4


def test_escalation_at_14_days_overdue_once(cast, settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    cast.coordinator.email = "lead@example.org"
    cast.coordinator.save()
    with time_machine.travel(dt.datetime(2026, 4, 1, 9, tzinfo=dt.UTC), tick=False):
        item = make_item(cast, due_in=0)
    with time_machine.travel(dt.datetime(2026, 4, 14, 9, tzinfo=dt.UTC), tick=False):
        assert send_reminders().escalations == 0  # 13 days
    with time_machine.travel(dt.datetime(2026, 4, 15, 9, tzinfo=dt.UTC), tick=False):
        mail.outbox.clear()
        assert send_reminders().escalations == 1  # 14 days
        assert [m.to for m in mail.outbox] == [["lead@example.org"]]
        assert SUPPORT_TITLE not in mail.outbox[0].body
    with time_machine.travel(dt.datetime(2026, 4, 16, 9, tzinfo=dt.UTC), tick=False):
        assert send_reminders().escalations == 0
    assert FollowupNotification.objects.filter(
        user=cast.coordinator, action=item, kind="escalated"
    ).exists()


def test_send_reminders_command(cast, capsys):
    from django.core.management import call_command

    with translation.override("en"):
        call_command("send_reminders")
    assert "digests: 0" in capsys.readouterr().out
    with translation.override("ja"):
        call_command("send_reminders")
    assert "まとめ通知: 0件" in capsys.readouterr().out


# --- calendar --------------------------------------------------------------------------------


def test_calendar_feed_token_revoke_and_regenerate(cast):
    make_item(cast, tier=Tier.SUPPORT)
    make_item(cast, tier=Tier.WATCH, title="声かけを続ける")
    token = actions.calendar_token_regenerate(user=cast.professional)
    url = reverse("followups:calendar-feed", args=[token])
    client = cast.client_for("anonymous")
    response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.startswith("BEGIN:VCALENDAR") and body.count("BEGIN:VEVENT") == 2
    assert "声かけを続ける" in body
    assert SUPPORT_TITLE not in body and SUPPORT_TEXT not in body and SENSITIVE_TEXT not in body
    assert cast.case.label not in body.split("声かけを続ける")[0]  # only on the watch item
    new = actions.calendar_token_regenerate(user=cast.professional)
    assert client.get(url).status_code == 404
    assert client.get(reverse("followups:calendar-feed", args=[new])).status_code == 200
    actions.calendar_token_revoke(user=cast.professional)
    assert client.get(reverse("followups:calendar-feed", args=[new])).status_code == 404
    assert client.get("/followups/calendar/nonsense.ics").status_code == 404


def test_calendar_settings_page(cast):
    client = cast.client_for("resident")
    response = client.post(reverse("followups:calendar"), {"do": "new"})
    assert response.status_code == 200 and ".ics" in response.content.decode()
    assert cast.client_for("anonymous").get(reverse("followups:calendar")).status_code == 302


def test_live_page_review_of_actions_respects_tiers(cast):
    make_item(cast, tier=Tier.SUPPORT, title=SUPPORT_TITLE)
    make_item(cast, tier=Tier.WATCH, title=WATCH_TITLE)
    conference = make_live(cast)
    url = reverse("conferences:conference-live", args=[conference.pk])
    coordinator = cast.client_for("coordinator").get(url).content.decode()
    assert SUPPORT_TITLE in coordinator and WATCH_TITLE in coordinator
    assert "review-form" in coordinator
    resident = cast.client_for("resident").get(url).content.decode()
    assert WATCH_TITLE in resident
    assert SUPPORT_TITLE not in resident and SUPPORT_TEXT not in resident
    event_tiers = set(
        conference.events.filter(type="action_review.updated").values_list("tier", flat=True)
    )
    assert event_tiers <= {Tier.WATCH, Tier.SUPPORT}


def test_reading_an_item_is_on_the_case_access_log(cast):
    from permissions.models import AuditEvent

    item = make_item(cast)
    cast.client_for("professional").get(reverse("followups:detail", args=[item.pk]))
    event = AuditEvent.objects.filter(actor=cast.professional, case=cast.case).last()
    assert event is not None and event.action == AuditEvent.Action.CASE_VIEW


def test_assignment_notice_on_dashboard_until_read(cast):
    make_item(cast)
    client = cast.client_for("professional")
    notice = f'<p class="message"><a href="{reverse("followups:mine")}">'
    assert notice in client.get(reverse("dashboard")).content.decode()
    client.get(reverse("followups:mine"))
    assert not FollowupNotification.objects.filter(user=cast.professional, read_at=None).exists()
    assert notice not in client.get(reverse("dashboard")).content.decode()


def test_item_page_shows_history_in_words(cast):

    item = make_item(cast)
    actions.action_set_status(
        actor=cast.professional,
        action=item,
        status="not_done",
        base_version=1,
        reason="circumstances_changed",
    )
    body = cast.client_for("professional").get(reverse("followups:detail", args=[item.pk]))
    with translation.override("ja"):
        label = str(ActionItem.NotDoneReason.CIRCUMSTANCES.label)
        status = str(ActionItem.Status.NOT_DONE.label)
    text = body.content.decode()
    assert label in text and status in text and "circumstances_changed" not in text


def test_my_followups_queries_do_not_grow_with_items(cast):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conferences.followup_selectors import my_followups, overview

    def count(fn) -> int:  # type: ignore[no-untyped-def]
        with CaptureQueriesContext(connection) as ctx:
            fn()
        return len(ctx.captured_queries)

    def fresh(user):  # type: ignore[no-untyped-def]
        return type(user).objects.get(pk=user.pk)  # no cached memberships

    make_item(cast)
    one = count(lambda: my_followups(fresh(cast.professional)))
    one_overview = count(lambda: list(overview(fresh(cast.coordinator), {})))
    for n in range(4):
        make_item(cast, title=f"件{n}")
    assert count(lambda: my_followups(fresh(cast.professional))) == one
    assert count(lambda: list(overview(fresh(cast.coordinator), {}))) == one_overview


def test_owner_choices_name_people_and_their_agency_in_japanese(cast):
    """The owner select names people as the live page does (family name first, with their
    agency), never by user name, and its empty choice is not Django's English label."""
    response = cast.client_for("professional").get(reverse("followups:create", args=[cast.case.pk]))
    html = response.content.decode()
    owners = html[
        html.index('name="owner_user"') : html.index("</select>", html.index('name="owner_user"'))
    ]
    assert (
        f">{display_name(cast.professional)}（{cast.professional_agency.name}）</option>" in owners
    )
    assert f">{cast.professional.username}</option>" not in owners
    assert '<option value="" selected>—</option>' in owners
    assert "Select an option" not in html


def test_reassign_choices_name_people(cast):
    make_item(cast)
    html = cast.client_for("coordinator").get(reverse("followups:overview")).content.decode()
    start = html.index('name="owner_user" id=')
    owners = html[start : html.index("</select>", start)]
    assert f">{display_name(cast.resident)}（{cast.residents_agency.name}）</option>" in owners
    assert f">{cast.resident.username}</option>" not in owners
