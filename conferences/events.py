"""The live page's events: written to the per-conference log inside the service's transaction,
broadcast on the channel layer only after that transaction commits.

Each consumer receives every event of its conference's group and forwards only those its
reader may read (`ConferenceAccess.reads`); the group message carries the case and tier so
that this filter needs no database access.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from conferences.models import Conference, ConferenceEvent
from permissions.models import Tier

log = logging.getLogger(__name__)


def group_name(conference_id: int) -> str:
    return f"conference-{conference_id}"


def lock_conference(conference_id: int) -> Conference:
    """Lock the conference row: sequence numbers are handed out in commit order."""
    return Conference.objects.select_for_update().get(pk=conference_id)


def record(
    conference: Conference,
    type: str,
    payload: dict[str, Any],
    *,
    case_id: int | None,
    tier: int = Tier.WATCH,
    below_tier: int | None = None,
) -> ConferenceEvent:
    """Append an event with the next sequence number; broadcast it once committed.

    Must run inside the transaction that holds `lock_conference`'s lock."""
    conference.last_seq += 1
    Conference.objects.filter(pk=conference.pk).update(last_seq=conference.last_seq)
    event = ConferenceEvent.objects.create(
        conference=conference,
        seq=conference.last_seq,
        type=type,
        case_id=case_id,
        tier=tier,
        below_tier=below_tier,
        payload=payload,
    )
    message = message_for(event)
    transaction.on_commit(lambda: broadcast(conference.pk, message))
    return event


def message_for(event: ConferenceEvent) -> dict[str, Any]:
    return {
        "type": "conference.event",
        "seq": event.seq,
        "event": event.type,
        "case": event.case_id,
        "tier": event.tier,
        "below": event.below_tier,
        "data": event.payload,
    }


def frame_for(message: dict[str, Any]) -> dict[str, Any]:
    """What a reader receives: never the tier bookkeeping, only the event itself."""
    return {"type": "event", "seq": message["seq"], "event": message["event"], **message["data"]}


def broadcast(conference_id: int, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group_name(conference_id), message)
    except Exception:
        # The event is in the log: clients catch up from it on their next sync.
        log.exception("broadcast of conference %s event failed", conference_id)


def broadcast_presence(conference_id: int, presence: dict[str, Any]) -> None:
    """Presence is ephemeral (no sequence number): who is connected right now."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        group_name(conference_id), {"type": "conference.presence", "presence": presence}
    )
