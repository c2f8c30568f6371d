"""Reads of conferences, always scoped to the reader's tiers and filtered in the database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from conferences.events import frame_for, message_for
from conferences.live import item_data, record_data
from conferences.models import (
    ActionItem,
    AgendaItem,
    Conference,
    ConferenceCase,
    ConferenceEvent,
    Decision,
    Feedback,
    LiveProcess,
    LiveRecord,
    Note,
    Participant,
    PrepAsk,
    Presence,
    PresenceVersion,
)
from permissions.conferences import ConferenceAccess, conferences_visible_to
from permissions.models import Tier
from permissions.people import name_of

REPLAY_LIMIT = 500
RECORD_TYPES: dict[str, type[LiveRecord]] = {
    "note": Note,
    "decision": Decision,
    "action": ActionItem,
}


def readable_q(access: ConferenceAccess, prefix: str = "") -> Q:
    """Rows (with `case` and `tier`) this reader may read: per case, up to their tier."""
    q = Q(**{f"{prefix}case__isnull": True, f"{prefix}tier__lte": Tier.WATCH})
    for case_id, tier in access.tiers.items():
        if tier >= Tier.WATCH:
            q |= Q(**{f"{prefix}case_id": case_id, f"{prefix}tier__lte": tier})
    return q


def upcoming_for(user: Any, limit: int = 8) -> QuerySet[Conference]:
    """Scheduled and live conferences the user is a member of, soonest first."""
    since = timezone.now() - dt.timedelta(hours=12)
    return (
        conferences_visible_to(user)
        .filter(
            Q(state=Conference.State.LIVE)
            | Q(state=Conference.State.SCHEDULED, starts_at__gte=since)
        )
        .order_by("starts_at", "pk")[:limit]
    )


def asks_awaiting(user: Any, conferences: Iterable[Conference]) -> dict[int, int]:
    """For each of these conferences, how many asks to other departments wait for an answer
    this user may give (a writer of the asked agency, at the ask's tier, the meeting still
    open: `ConferenceAccess.may_answer_ask`), by conference id; conferences with none are left
    out."""
    from permissions.conferences import conference_access
    from permissions.policy import agency_ids

    conferences = list(conferences)
    waiting = PrepAsk.objects.filter(
        sheet__conference_case__conference__in=conferences,
        agency_id__in=agency_ids(user),
        answered_at__isnull=True,
    ).select_related("sheet__conference_case")
    by_conference: dict[int, list[PrepAsk]] = {}
    for ask in waiting:
        by_conference.setdefault(ask.sheet.conference_case.conference_id, []).append(ask)
    counts: dict[int, int] = {}
    for conference in conferences:
        asks = by_conference.get(conference.pk)
        access = conference_access(user, conference) if asks else None
        if not asks or access is None:
            continue
        n = sum(1 for a in asks if access.may_answer_ask(a, a.sheet.conference_case.case_id))
        if n:
            counts[conference.pk] = n
    return counts


def conference_list(user: Any) -> QuerySet[Conference]:
    return conferences_visible_to(user).select_related("chair").order_by("-starts_at", "-pk")


def conference_cases(access: ConferenceAccess) -> list[ConferenceCase]:
    """Cases on the agenda that exist for the reader (tier at least watch)."""
    return list(
        ConferenceCase.objects.filter(
            conference=access.conference, case_id__in=access.readable_case_ids
        )
        .select_related("case", "prep", "consent")
        .order_by("order", "pk")
    )


def agenda_for(access: ConferenceAccess) -> list[AgendaItem]:
    return list(
        AgendaItem.objects.filter(conference=access.conference)
        .filter(Q(case__isnull=True) | Q(case_id__in=access.readable_case_ids))
        .select_related("case")
    )


def records_for(access: ConferenceAccess, model: type[LiveRecord]) -> QuerySet:
    qs = model._default_manager.filter(
        conference=access.conference, deleted_at__isnull=True
    ).filter(readable_q(access))
    related = ["author", "agency"]
    if model is ActionItem:
        related += ["owner_user", "owner_agency"]
    return qs.select_related(*related).order_by("created_at", "pk")


def asks_for(access: ConferenceAccess, link: ConferenceCase) -> list[PrepAsk]:
    asks = PrepAsk.objects.filter(
        sheet__conference_case=link, tier__lte=access.tier_for(link.case_id)
    )
    return [
        a
        for a in asks.select_related("agency", "asked_by", "answered_by")
        if access.may_read_ask(a, link.case_id)
    ]


def attendance(conference: Conference) -> list[Participant]:
    return list(Participant.objects.filter(conference=conference).select_related("user", "agency"))


def live_processes() -> QuerySet[LiveProcess]:
    """Server processes seen within PRESENCE_STALE_SECONDS (database time)."""
    cutoff = Now() - dt.timedelta(seconds=settings.PRESENCE_STALE_SECONDS)
    return LiveProcess.objects.filter(seen_at__gte=cutoff)


def alive_presence() -> QuerySet[Presence]:
    """Presence rows of live processes: a killed process's rows are not shown."""
    return Presence.objects.filter(process__in=live_processes().values("id"))


def participant_agencies(
    conference_ids: Iterable[int], user_ids: Iterable[int] | None = None
) -> dict[tuple[int, int], str]:
    """{(conference id, user id): the agency the participant attends for ("" if none)}."""
    rows = Participant.objects.filter(conference_id__in=conference_ids)
    if user_ids is not None:
        rows = rows.filter(user_id__in=user_ids)
    return {
        (c, u): name or ""
        for c, u, name in rows.values_list("conference_id", "user_id", "agency__name")
    }


def presence(conference: Conference) -> dict[str, list[dict[str, Any]]]:
    """Who is here now (`presence`) and who was and left (`presence_gone`), each with the
    version of their presence (conferences/consumers/presence.py)."""
    return presence_of([conference.pk])[conference.pk]


def presence_of(conference_ids: list[int]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """`presence` of several conferences in two queries. One statement reads the versions and
    the presence together, so a version always goes with the state it numbers."""
    here_q = alive_presence().filter(
        conference_id=OuterRef("conference_id"), user_id=OuterRef("user_id")
    )
    rows = (
        PresenceVersion.objects.filter(conference_id__in=conference_ids)
        .annotate(here=Exists(here_q))
        .values(
            "conference_id",
            "user_id",
            "version",
            "here",
            "user__last_name",
            "user__first_name",
            "user__username",
        )
    )
    agencies = participant_agencies(conference_ids)
    out: dict[int, dict[str, list[dict[str, Any]]]] = {
        c: {"presence": [], "presence_gone": []} for c in conference_ids
    }
    for r in rows:
        mine = out[r["conference_id"]]
        if not r["here"]:
            mine["presence_gone"].append({"user": r["user_id"], "version": r["version"]})
            continue
        name = name_of(r["user__last_name"], r["user__first_name"], r["user__username"])
        mine["presence"].append(
            {
                "user": r["user_id"],
                "name": name,
                "agency": agencies.get((r["conference_id"], r["user_id"]), ""),
                "version": r["version"],
            }
        )
    for mine in out.values():
        mine["presence"].sort(key=lambda p: (p["agency"], p["name"]))
        mine["presence_gone"].sort(key=lambda p: p["user"])
    return out


def reviews_for(access: ConferenceAccess) -> list[dict[str, Any]]:
    """Carried-forward items of this conference that the reader reads (at the item's tier)."""
    from conferences.live import review_data
    from conferences.models import ActionReview

    rows = ActionReview.objects.filter(conference_id=access.conference.pk).select_related(
        "action__author", "action__agency", "action__owner_user", "action__owner_agency"
    )
    return [
        review_data(r, r.action)
        for r in rows
        if r.action.deleted_at is None and r.action.tier <= access.tier_for(r.action.case_id)
    ]


def snapshot(access: ConferenceAccess) -> dict[str, Any]:
    """The whole live state the reader may read, with the sequence number it is valid at."""
    conference = Conference.objects.get(pk=access.conference.pk)
    agenda = agenda_for(access)
    visible_items = {i.pk for i in agenda}
    return {
        "type": "snapshot",
        "seq": conference.last_seq,
        "state": conference.state,
        "current_item": conference.current_item_id
        if conference.current_item_id in visible_items
        else None,
        "agenda": [item_data(i) for i in agenda],
        "notes": [record_data(r) for r in records_for(access, Note)],
        "decisions": [record_data(r) for r in records_for(access, Decision)],
        "actions": [record_data(r) for r in records_for(access, ActionItem)],
        "reviews": reviews_for(access),
        **presence(conference),
    }


def _named_record(event: ConferenceEvent) -> tuple[str, int] | None:
    """The record whose content an event carries, as (kind, id); None for removals and
    events that carry no record. A review of actions carries its action item."""
    kind, _dot, verb = event.type.partition(".")
    if kind in RECORD_TYPES and verb != "deleted":
        return kind, event.payload[kind]["id"]
    if event.type == "action_review.updated":
        return "action", event.payload["review"]["action"]["id"]
    return None


def _still_readable(
    access: ConferenceAccess, events: list[ConferenceEvent]
) -> set[tuple[str, int]]:
    """Records named by content events that the reader may still read now (not deleted, not
    raised above their current tier): replay never resends text a reader has since lost."""
    wanted: dict[str, set[int]] = {}
    for e in events:
        named = _named_record(e)
        if named is not None:
            wanted.setdefault(named[0], set()).add(named[1])
    ok: set[tuple[str, int]] = set()
    for kind, ids in wanted.items():
        model = RECORD_TYPES[kind]
        for pk in (
            model._default_manager.filter(pk__in=ids, deleted_at__isnull=True)
            .filter(readable_q(access))
            .values_list("pk", flat=True)
        ):
            ok.add((kind, pk))
    return ok


def event_readable_q(access: ConferenceAccess) -> Q:
    """Events this reader receives: by case and tier; removals only in their tier band."""
    q = Q(case__isnull=True, below_tier__isnull=True, tier__lte=Tier.WATCH)
    for case_id, tier in access.tiers.items():
        if tier >= Tier.WATCH:
            q |= Q(case_id=case_id, below_tier__isnull=True, tier__lte=tier)
            q |= Q(case_id=case_id, below_tier__gt=tier, tier__lte=tier)
    return q


def replay_frames(
    access: ConferenceAccess, after: int, upto: int | None = None
) -> list[dict[str, Any]] | None:
    """Frames of the events after `after` (up to `upto`) the reader may read, in order; None
    when there are too many (the client then gets a snapshot)."""
    qs = ConferenceEvent.objects.filter(conference=access.conference, seq__gt=after)
    if upto is not None:
        qs = qs.filter(seq__lte=upto)
    if qs.count() > REPLAY_LIMIT:
        return None
    rows = list(qs.filter(event_readable_q(access)).order_by("seq"))
    ok = _still_readable(access, rows)
    frames = []
    for e in rows:
        named = _named_record(e)
        if named is not None and named not in ok:
            continue
        frames.append(frame_for(message_for(e), access.reads))
    return frames


def last_seq(conference_id: int) -> int:
    return Conference.objects.values_list("last_seq", flat=True).get(pk=conference_id)


def feedback_results(conference: Conference) -> dict[str, Any]:
    rows = list(Feedback.objects.filter(conference=conference).select_related("user", "agency"))
    summary = {
        key: {a: sum(1 for r in rows if getattr(r, key) == a) for a in Feedback.Answer.values}
        for key in ("useful", "role_clear")
    }
    return {"rows": rows, "summary": summary, "count": len(rows)}


def meeting_people(conference: Conference) -> tuple[list[Any], list[Any]]:
    """(people, agencies) who may own an action item: those in the meeting."""
    from django.contrib.auth import get_user_model

    from conferences.live import meeting_people as people_ids
    from permissions.models import Agency

    users, agencies = people_ids(conference)
    people = list(get_user_model().objects.filter(pk__in=users, is_active=True).order_by("pk"))
    return people, list(Agency.objects.filter(pk__in=agencies))
