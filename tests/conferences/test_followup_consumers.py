"""Review of actions over the live socket: a watch-tier reader never receives a support-tier
item's review, in the snapshot or in the event."""

from __future__ import annotations

import datetime as dt

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conferences import actions
from conferences.models import ActionReview
from permissions.access import access_case
from permissions.models import Tier
from tests.conferences.conftest import make_live
from tests.conferences.test_consumers import joined

pytestmark = [pytest.mark.django_db(transaction=True)]

SUPPORT_TITLE = "支援項目：家計相談の結果を確認"


def _setup(cast):  # type: ignore[no-untyped-def]
    actions.action_create(
        actor=cast.coordinator,
        access=access_case(cast.coordinator, cast.case.pk, "contribute"),
        title=SUPPORT_TITLE,
        tier=Tier.SUPPORT,
        owner_user=cast.professional,
        due_on=timezone.localdate() + dt.timedelta(days=2),
    )
    conference = make_live(cast)
    return conference, ActionReview.objects.get(conference=conference).pk


async def test_review_event_reaches_only_readers_of_the_tier(cast):
    conference, review = await database_sync_to_async(_setup)(cast)
    chair = await joined(conference, cast.coordinator)
    pro = await joined(conference, cast.professional)
    resident = await joined(conference, cast.resident)
    await chair.op("action.review", review=review, outcome="done", note="確認済み")
    await chair.until("ack")
    frame = await pro.until("event", event="action_review.updated")
    assert frame["review"]["outcome"] == "done"
    await resident.drain()
    assert not any(SUPPORT_TITLE in raw for raw in resident.raw)
    assert not any("action_review" in raw for raw in resident.raw)
    assert any(SUPPORT_TITLE in raw for raw in pro.raw)
    for c in (chair, pro, resident):
        await c.close()
