"""A reader's access while the meeting runs: a share revoked or lowered takes effect on the
live socket (at once through the share services, within ACCESS_MAX_AGE otherwise), and a
replay after reconnecting is filtered against the reader's and the records' tiers *now*."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conferences import actions
from conferences.consumers import conference as consumer
from conferences.models import ActionItem, ActionReview
from permissions import services as share_services
from permissions.access import access_case
from permissions.models import Share, Tier
from tests.conferences.conftest import make_live
from tests.conferences.test_consumers import Client, first_item, joined

pytestmark = [pytest.mark.django_db(transaction=True)]

AFTER_REVOKE = "取消後の支援メモ：本人の借金の詳細"
REVIEWED = "見直し項目：家計相談の結果を確認"


def _professional_share(cast) -> Share:  # type: ignore[no-untyped-def]
    return Share.objects.get(case=cast.case, agency=cast.professional_agency)


def _lower_through_services(cast) -> None:  # type: ignore[no-untyped-def]
    share = _professional_share(cast)
    share_services.share_update(
        actor=cast.coordinator,
        share=share,
        tier=Tier.WATCH,
        basis=share.basis,
        may_contribute=share.may_contribute,
        coordinates=share.coordinates,
        consent=share.consent,
        expires_at=share.expires_at,
    )


async def test_a_share_lowered_through_the_services_applies_at_once(cast, monkeypatch):
    monkeypatch.setattr(consumer, "ACCESS_MAX_AGE", 600.0)  # only the notice can do it
    conference = await database_sync_to_async(make_live)(cast)
    chair = await joined(conference, cast.coordinator)
    pro = await joined(conference, cast.professional)
    item = await first_item(conference)
    await database_sync_to_async(_lower_through_services)(cast)
    await chair.op("note.add", item=item, text=AFTER_REVOKE, tier=Tier.SUPPORT)
    await chair.until("ack", timeout=15)
    await chair.until("event", timeout=15, event="note.created")
    await asyncio.sleep(0.3)
    await pro.drain()
    assert not any(AFTER_REVOKE in raw for raw in pro.raw)
    # Writing at the old tier is refused too.
    await pro.op("note.add", item=item, text="x", tier=Tier.SUPPORT)
    assert (await pro.until("error", timeout=15))["code"] == "forbidden"
    for c in (chair, pro):
        await c.close()


async def test_a_share_changed_elsewhere_applies_within_the_bound(cast, monkeypatch):
    """No notice (a direct change, an expiry passing): the periodic re-read catches it."""
    monkeypatch.setattr(consumer, "ACCESS_MAX_AGE", 0.3)
    conference = await database_sync_to_async(make_live)(cast)
    chair = await joined(conference, cast.coordinator)
    pro = await joined(conference, cast.professional)
    item = await first_item(conference)
    await database_sync_to_async(
        lambda: Share.objects.filter(pk=_professional_share(cast).pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
    )()
    await asyncio.sleep(0.8)  # more than the bound
    await chair.op("note.add", item=item, text=AFTER_REVOKE, tier=Tier.WATCH)
    await chair.until("ack", timeout=15)
    await asyncio.sleep(0.3)
    await pro.drain()
    assert not any(AFTER_REVOKE in raw for raw in pro.raw)
    for c in (chair, pro):
        await c.close()


async def test_a_write_after_the_bound_rereads_the_access_first(cast, monkeypatch):
    monkeypatch.setattr(consumer, "ACCESS_MAX_AGE", 600.0)
    conference = await database_sync_to_async(make_live)(cast)
    pro = await joined(conference, cast.professional)
    item = await first_item(conference)
    await database_sync_to_async(
        lambda: Share.objects.filter(pk=_professional_share(cast).pk).update(tier=Tier.WATCH)
    )()
    # The refresh loop sleeps for the bound it started with; the next operation finds its
    # cached access older than the (new) bound and reads it again first.
    monkeypatch.setattr(consumer, "ACCESS_MAX_AGE", 0.0)
    await pro.op("note.add", item=item, text="x", tier=Tier.SUPPORT)
    assert (await pro.until("error", timeout=15))["code"] == "forbidden"
    await pro.close()


def _reviewed_conference(cast):  # type: ignore[no-untyped-def]
    actions.action_create(
        actor=cast.coordinator,
        access=access_case(cast.coordinator, cast.case.pk, "contribute"),
        title=REVIEWED,
        tier=Tier.SUPPORT,
        owner_user=cast.professional,
        due_on=timezone.localdate() + dt.timedelta(days=2),
    )
    conference = make_live(cast)
    return conference, ActionReview.objects.get(conference=conference)


@pytest.mark.parametrize("change", ["action_raised", "reader_lowered", "action_deleted"])
async def test_replayed_reviews_are_filtered_against_the_tiers_now(cast, change):
    conference, review = await database_sync_to_async(_reviewed_conference)(cast)
    last = await database_sync_to_async(
        lambda: type(conference).objects.get(pk=conference.pk).last_seq
    )()
    chair = await joined(conference, cast.coordinator)
    await chair.op("action.review", review=review.pk, outcome="done", note="確認済み")
    await chair.until("ack", timeout=15)
    await chair.close()

    def change_it() -> None:
        if change == "action_raised":
            ActionItem.objects.filter(pk=review.action_id).update(tier=Tier.SENSITIVE)
        elif change == "action_deleted":
            ActionItem.objects.filter(pk=review.action_id).update(deleted_at=timezone.now())
        else:
            Share.objects.filter(pk=_professional_share(cast).pk).update(tier=Tier.WATCH)

    await database_sync_to_async(change_it)()
    back = Client(conference.pk, cast.professional)
    await back.connect(last_seq=last)
    await back.until("synced", timeout=15)
    assert not any('"snapshot"' in raw for raw in back.raw)  # a replay, not a snapshot
    assert not any(REVIEWED in raw for raw in back.raw)
    assert not any("action_review" in raw for raw in back.raw)
    await back.close()


async def test_a_replayed_review_still_readable_is_sent(cast):
    conference, review = await database_sync_to_async(_reviewed_conference)(cast)
    last = await database_sync_to_async(
        lambda: type(conference).objects.get(pk=conference.pk).last_seq
    )()
    chair = await joined(conference, cast.coordinator)
    await chair.op("action.review", review=review.pk, outcome="done", note="確認済み")
    await chair.until("ack", timeout=15)
    await chair.close()
    back = Client(conference.pk, cast.professional)
    await back.connect(last_seq=last)
    frame = await back.until("event", timeout=15, event="action_review.updated")
    assert frame["review"]["action"]["title"] == REVIEWED
    await back.close()


def _apply_in_thread(
    conference_id: int, user, item: int, via_socket: bool, results: list, errors: list
) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    from conferences import events, live
    from conferences.consumers import db
    from conferences.models import Conference
    from permissions.conferences import conference_access

    args = {"item": item, "text": "一度だけ（同時）", "tier": Tier.SUPPORT}
    try:
        access = conference_access(user, Conference.objects.get(pk=conference_id))
        if via_socket:  # the socket's path: the reader's transaction, no savepoint
            content = {"id": "same-id", "op": "note.add", "args": args}
            results.append(db.apply_op(access, content, "ja", {}, False)[1])
            return
        with events.collect():
            results.append(
                live.live_apply(
                    actor=user,
                    access=access,
                    client_op_id="same-id",
                    op="note.add",
                    args=args,
                )
            )
    except Exception as exc:  # reported by the test
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.parametrize("via_socket", [False, True], ids=["live_apply", "socket"])
def test_the_same_operation_sent_twice_at_once_is_applied_once(cast, via_socket):
    """A retry racing its original through another socket: both pass the idempotency lookup,
    the second waits on the conference row, then fails on the operation id and is rolled back
    whole; it answers as a retry, with the first one's sequence number."""
    import threading

    from django.db import connections

    from conferences.models import ConferenceEvent, Note

    conference = make_live(cast)
    item = conference.agenda.filter(case__isnull=False).first().pk
    results: list = []
    errors: list = []
    # Hold the conference row so both attempts get past the lookup before either numbers.
    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM conferences_conference WHERE id = %s FOR UPDATE", [conference.pk]
        )
    threads = [
        threading.Thread(
            target=_apply_in_thread,
            args=(conference.pk, cast.professional, item, via_socket, results, errors),
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    time.sleep(1.0)  # both are now waiting for the row
    holder.rollback()
    holder.close()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert sorted(r.duplicate for r in results) == [False, True]
    assert results[0].seq == results[1].seq
    assert Note.objects.filter(text="一度だけ（同時）").count() == 1
    seqs = list(ConferenceEvent.objects.filter(conference=conference).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # no gap from the rolled-back attempt
