"""The chair's live operations: the current agenda item, the order, other business, and
starting and closing the meeting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import events
from conferences.live.checks import Op, OpError, agenda_item, chair, live, text_arg
from conferences.live.data import item_data
from conferences.models import AgendaItem, Conference


def agenda_current(op: Op) -> dict[str, Any]:
    chair(op.access)
    live(op.conference)
    item = agenda_item(op)
    op.conference.current_item_id = item.pk
    op.conference.save(update_fields=["current_item"])
    events.record(op.conference, "agenda.current", {"item": item.pk}, case_id=None)
    return {"item": item.pk}


def agenda_reorder(op: Op) -> dict[str, Any]:
    conference = op.conference
    chair(op.access)
    if not conference.is_open_for_edits:
        live(conference)
    order = op.args.get("order")
    items = {i.pk: i for i in conference.agenda.all()}
    if (
        not isinstance(order, list)
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in order)
        or sorted(order) != sorted(items)
    ):
        raise OpError("invalid", _("The new order must list every agenda item once."))
    for position, pk in enumerate(order):
        if items[pk].order != position:
            AgendaItem.objects.filter(pk=pk).update(order=position)
    # Each reader gets the order of the items they can see (see events.frame_for).
    cases = {str(pk): items[pk].case_id for pk in order}
    events.record(conference, "agenda.order", {"order": order, "cases": cases}, case_id=None)
    return {"order": order}


def agenda_add(op: Op) -> dict[str, Any]:
    conference = op.conference
    chair(op.access)
    if not conference.is_open_for_edits:
        live(conference)
    title = text_arg(op.args, "title")[:200]
    last = conference.agenda.order_by("-order").first()
    item = AgendaItem.objects.create(
        conference=conference,
        kind=AgendaItem.Kind.OTHER,
        title=title,
        order=(last.order + 1) if last else 0,
    )
    op.agenda[item.pk] = None
    events.record(conference, "agenda.added", {"agenda_item": item_data(item)}, case_id=None)
    return {"agenda_item": {"id": item.pk}}


def state_change(target: str) -> Callable[[Op], dict[str, Any]]:
    def apply(op: Op) -> dict[str, Any]:
        conference = op.conference
        chair(op.access)
        if target == Conference.State.LIVE:
            if conference.state != Conference.State.SCHEDULED:
                raise OpError("invalid", _("The meeting has already started."))
            from conferences.actions import carry_forward
            from conferences.services import consent_problems

            missing = consent_problems(conference)
            if missing:
                raise OpError(
                    "consent",
                    _("The person's consent is no longer valid for: %(cases)s.")
                    % {"cases": "、".join(missing)},
                )
            carry_forward(conference)
            conference.state, conference.started_at = target, timezone.now()
            first = conference.current_item or conference.agenda.first()
            conference.current_item = first
            conference.save(update_fields=["state", "started_at", "current_item"])
            events.record(conference, "conference.state", {"state": target}, case_id=None)
            if first:
                events.record(conference, "agenda.current", {"item": first.pk}, case_id=None)
        else:
            from conferences.minutes.services import minutes_draft_create

            live(conference)
            conference.state, conference.closed_at = target, timezone.now()
            conference.closed_by = op.actor
            conference.save(update_fields=["state", "closed_at", "closed_by"])
            events.record(conference, "conference.state", {"state": target}, case_id=None)
            # Draft minutes from the record as it stands at the close (as conference_close).
            minutes_draft_create(conference=conference)
        return {"state": target}

    return apply
