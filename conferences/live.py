"""Live operations: validate, authorise (through `permissions.conferences`), commit, log.

`live_apply` is the one entry point for a client operation. It locks the conference row,
returns the stored result when the client's operation id was already applied (retries are
idempotent), runs the operation, appends its events to the log with the next sequence
numbers (broadcast after commit) and records the operation id — all in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import events
from conferences.models import (
    ActionItem,
    AgendaItem,
    ClientOp,
    Conference,
    Decision,
    Invitation,
    LiveRecord,
    Note,
    Participant,
)
from permissions.conferences import ConferenceAccess
from permissions.models import Agency, Membership, Tier
from permissions.policy import case_access

MAX_TEXT = settings.OTAGAI_MAX_TEXT
MAX_OP_ID = 64


class OpError(Exception):
    """A refused operation: `message` is translated and safe to show to the sender."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class OpConflict(Exception):
    """An edit based on a version that is no longer current: nothing was overwritten."""

    def __init__(self, current: dict[str, Any], yours: dict[str, Any]) -> None:
        super().__init__("conflict")
        self.current = current
        self.yours = yours


@dataclass
class OpResult:
    seq: int
    data: dict[str, Any] = field(default_factory=dict)
    duplicate: bool = False


# --- serialisation (what a reader who may read the record receives) -----------------------


def person_name(user: Any) -> str:
    # Japanese order: family name first.
    if user is None:
        return ""
    return f"{user.last_name} {user.first_name}".strip() or user.get_username()


def record_data(record: LiveRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": record.pk,
        "item": record.agenda_item_id,
        "case": record.case_id,
        "tier": record.tier,
        "version": record.version,
        "author": person_name(record.author),
        "agency": record.agency.name if record.agency is not None else "",
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }
    if isinstance(record, ActionItem):
        data.update(
            title=record.title,
            details=record.details,
            owner_user=person_name(record.owner_user) if record.owner_user_id else "",
            owner_agency=record.owner_agency.name if record.owner_agency is not None else "",
            due_on=record.due_on.isoformat(),
            status=record.status,
            status_reason=record.status_reason,
            completion_note=record.completion_note,
        )
    else:
        data["text"] = record.text  # type: ignore[attr-defined]
    return data


def review_data(review: Any, action: ActionItem) -> dict[str, Any]:
    """A carried-forward item under "review of actions" (read at the item's tier)."""
    return {
        "id": review.pk,
        "item": review.agenda_item_id,
        "outcome": review.outcome,
        "new_due_on": review.new_due_on.isoformat() if review.new_due_on else "",
        "reason": review.reason,
        "was_overdue": review.was_overdue,
        "action": record_data(action),
    }


def item_data(item: AgendaItem) -> dict[str, Any]:
    return {
        "id": item.pk,
        "case": item.case_id,
        "kind": item.kind,
        "title": item.title,
        "order": item.order,
    }


# --- validation ----------------------------------------------------------------------------


def _text(args: dict[str, Any], key: str = "text", *, required: bool = True) -> str:
    value = args.get(key, "")
    if not isinstance(value, str):
        raise OpError("invalid", _("The text must be a string."))
    value = value.strip()
    if required and not value:
        raise OpError("invalid", _("Write something first."))
    if len(value) > MAX_TEXT:
        raise OpError(
            "too_long",
            _("The text is too long: at most %(max)s characters (it has %(n)s).")
            % {"max": f"{MAX_TEXT:,}", "n": f"{len(value):,}"},
        )
    return value


def _int(args: dict[str, Any], key: str) -> int:
    value = args.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise OpError("invalid", _("Missing or invalid field: %(field)s.") % {"field": key})
    try:
        return int(value)
    except ValueError:
        raise OpError(
            "invalid", _("Missing or invalid field: %(field)s.") % {"field": key}
        ) from None


def _tier(args: dict[str, Any], access: ConferenceAccess, case_id: int | None) -> int:
    raw = args.get("tier", Tier.SUPPORT)
    try:
        tier = int(raw)
    except (TypeError, ValueError):
        tier = 0
    if tier not in Tier.values:
        raise OpError("invalid", _("Choose one of the tiers: watch-over, support or sensitive."))
    if tier > access.tier_for(case_id):
        raise OpError("forbidden", _("You cannot write above the tier you read."))
    return tier


def _item(args: dict[str, Any], access: ConferenceAccess, conference: Conference) -> AgendaItem:
    pk = _int(args, "item")
    item = AgendaItem.objects.filter(pk=pk, conference=conference).first()
    if item is None or access.tier_for(item.case_id) < Tier.WATCH:
        raise OpError("not_found", _("That agenda item does not exist."))
    return item


def _writable(access: ConferenceAccess, case_id: int | None) -> None:
    if not access.may_write(case_id):
        raise OpError("forbidden", _("Your agency may read but not write here."))


def _live(conference: Conference) -> None:
    if conference.state != Conference.State.LIVE:
        if conference.state == Conference.State.SCHEDULED:
            raise OpError("not_live", _("The meeting has not started yet."))
        raise OpError("closed", _("The meeting is closed: no more changes."))


def _record(model: type[LiveRecord], args: dict[str, Any], access: ConferenceAccess, key: str):  # type: ignore[no-untyped-def]
    pk = _int(args, key)
    record = (
        model._default_manager.select_for_update(of=("self",))
        .select_related("author", "agency")
        .filter(pk=pk, conference=access.conference, deleted_at__isnull=True)
        .first()
    )
    # A record above the reader's tier does not exist for them, as a deleted one.
    if record is None or not access.reads(record.case_id, record.tier):
        raise OpError("not_found", _("That entry no longer exists."))
    return record


def _agency(actor: Any, access: ConferenceAccess) -> Agency | None:
    """The writer's agency, from their (cached) memberships: no query per operation."""
    from permissions.policy import _memberships

    for m in _memberships(actor):
        if m.agency_id == access.agency_id:
            return m.agency
    return Agency.objects.filter(pk=access.agency_id or 0).first()


# --- operations ----------------------------------------------------------------------------

KIND_MODEL: dict[str, type[LiveRecord]] = {"note": Note, "decision": Decision}


def _text_add(kind: str) -> Callable[..., dict[str, Any]]:
    def op(actor: Any, access: ConferenceAccess, conference: Conference, args: dict) -> dict:
        _live(conference)
        item = _item(args, access, conference)
        _writable(access, item.case_id)
        text = _text(args)
        tier = _tier(args, access, item.case_id)
        now = timezone.now()
        record = KIND_MODEL[kind]._default_manager.create(  # type: ignore[misc]
            conference=conference,
            agenda_item=item,
            case_id=item.case_id,
            tier=tier,
            text=text,
            author=actor,
            agency=_agency(actor, access),
            created_at=now,
            updated_at=now,
            updated_by=actor,
        )
        data = record_data(record)
        events.record(conference, f"{kind}.created", {kind: data}, case_id=item.case_id, tier=tier)
        return {kind: {"id": record.pk, "version": record.version}}

    return op


def _text_edit(kind: str) -> Callable[..., dict[str, Any]]:
    def op(actor: Any, access: ConferenceAccess, conference: Conference, args: dict) -> dict:
        _live(conference)
        record = _record(KIND_MODEL[kind], args, access, kind)
        _writable(access, record.case_id)
        text = _text(args)
        tier = _tier(args, access, record.case_id) if "tier" in args else record.tier
        base = _int(args, "base_version")
        if base != record.version:
            raise OpConflict(record_data(record), {"text": text, "tier": tier})
        old_tier = record.tier
        record.text, record.tier = text, tier
        record.version += 1
        record.updated_at, record.updated_by = timezone.now(), actor
        record.save(update_fields=["text", "tier", "version", "updated_at", "updated_by"])
        if tier > old_tier:
            # Readers who held the old tier but not the new one lose the record: a removal
            # carrying only its id, the same as a deletion.
            events.record(
                conference,
                f"{kind}.deleted",
                {kind: {"id": record.pk}},
                case_id=record.case_id,
                tier=old_tier,
                below_tier=tier,
            )
        events.record(
            conference,
            f"{kind}.updated",
            {kind: record_data(record)},
            case_id=record.case_id,
            tier=tier,
        )
        return {kind: {"id": record.pk, "version": record.version}}

    return op


def _record_delete(kind: str, model: type[LiveRecord]) -> Callable[..., dict[str, Any]]:
    def op(actor: Any, access: ConferenceAccess, conference: Conference, args: dict) -> dict:
        _live(conference)
        record = _record(model, args, access, kind)
        _writable(access, record.case_id)
        if record.author_id != actor.pk and not access.is_chair:
            raise OpError("forbidden", _("Only the author or the chair deletes an entry."))
        if "base_version" in args and _int(args, "base_version") != record.version:
            raise OpConflict(record_data(record), {"delete": True})
        record.deleted_at = timezone.now()
        record.updated_by = actor
        record.save(update_fields=["deleted_at", "updated_by"])
        events.record(
            conference,
            f"{kind}.deleted",
            {kind: {"id": record.pk}},
            case_id=record.case_id,
            tier=record.tier,
        )
        return {kind: {"id": record.pk}}

    return op


def meeting_people(conference: Conference) -> tuple[set[int], set[int]]:
    """(user ids, agency ids) of the meeting: invited people, invited agencies' members,
    the chair and the minute-taker."""
    invitations = list(Invitation.objects.filter(conference=conference))
    agencies = {i.agency_id for i in invitations}
    users = {i.user_id for i in invitations if i.user_id}
    agency_wide = [i.agency_id for i in invitations if i.user_id is None]
    users |= set(
        Membership.objects.filter(agency_id__in=agency_wide).values_list("user_id", flat=True)
    )
    users.add(conference.chair_id)
    if conference.minute_taker_id is not None:
        users.add(conference.minute_taker_id)
    return users, agencies


def _action_add(actor: Any, access: ConferenceAccess, conference: Conference, args: dict) -> dict:
    from django.contrib.auth import get_user_model

    _live(conference)
    item = _item(args, access, conference)
    _writable(access, item.case_id)
    title = _text(args, "title")[:300]
    details = _text(args, "details", required=False)
    tier = _tier(args, access, item.case_id)
    raw_due = args.get("due_on")
    try:
        due_on = dt.date.fromisoformat(str(raw_due))
    except ValueError:
        raise OpError("invalid", _("Give the due date as a date.")) from None
    if due_on < timezone.localdate():
        raise OpError("past_due", _("The due date is in the past: choose today or later."))
    users, agencies = meeting_people(conference)
    owner_user = owner_agency = None
    if args.get("owner_user"):
        uid = _int(args, "owner_user")
        owner_user = get_user_model().objects.filter(pk=uid, is_active=True).first()
        if owner_user is None or uid not in users:
            raise OpError("owner", _("The owner must be someone in this meeting."))
        ca = case_access(owner_user, item.case) if item.case is not None else None
        if item.case is not None and (ca is None or ca.tier < tier):
            raise OpError("owner", _("The owner cannot read this case at that tier."))
    if args.get("owner_agency"):
        aid = _int(args, "owner_agency")
        owner_agency = Agency.objects.filter(pk=aid).first()
        if owner_agency is None or aid not in agencies:
            raise OpError("owner", _("The owning agency must be invited to this meeting."))
    if owner_user is None and owner_agency is None:
        raise OpError("owner", _("Name who does it: a person, an agency, or both."))
    now = timezone.now()
    action = ActionItem.objects.create(
        conference=conference,
        agenda_item=item,
        case_id=item.case_id,
        tier=tier,
        title=title,
        details=details,
        owner_user=owner_user,
        owner_agency=owner_agency,
        due_on=due_on,
        author=actor,
        agency=_agency(actor, access),
        created_at=now,
        updated_at=now,
        updated_by=actor,
    )
    from conferences.actions import action_created

    action_created(action=action, actor=actor)
    events.record(
        conference,
        "action.created",
        {"action": record_data(action)},
        case_id=item.case_id,
        tier=tier,
    )
    return {"action": {"id": action.pk, "version": action.version}}


def _action_review(
    actor: Any, access: ConferenceAccess, conference: Conference, args: dict
) -> dict:
    """Review of actions: a carried-forward item is done, continued or closed with a reason."""
    from django.core.exceptions import ValidationError

    from conferences.actions import action_review
    from conferences.models import ActionReview

    _live(conference)
    review = (
        ActionReview.objects.select_related("action", "conference")
        .filter(pk=_int(args, "review"), conference=conference)
        .first()
    )
    if review is None or access.tier_for(review.action.case_id) < review.action.tier:
        raise OpError("not_found", _("That item does not exist."))
    _writable(access, review.action.case_id)
    raw_due = args.get("new_due_on")
    new_due = None
    if raw_due:
        try:
            new_due = dt.date.fromisoformat(str(raw_due))
        except ValueError:
            raise OpError("invalid", _("Give the due date as a date.")) from None
    try:
        action_review(
            actor=actor,
            review=review,
            outcome=str(args.get("outcome", "")),
            new_due_on=new_due,
            reason=str(args.get("reason", "")),
            reason_text=_text(args, "reason_text", required=False)[:500],
            note=_text(args, "note", required=False),
        )
    except ValidationError as exc:
        raise OpError("invalid", " ".join(exc.messages)) from None
    action = ActionItem.objects.select_related("author", "agency", "owner_user", "owner_agency")
    record = action.get(pk=review.action_id)
    # Not an "action.*" event: the item belongs to an earlier conference's record.
    events.record(
        conference,
        "action_review.updated",
        {"review": review_data(review, record)},
        case_id=record.case_id,
        tier=record.tier,
    )
    return {"review": review.pk, "outcome": review.outcome}


def _chair(access: ConferenceAccess) -> None:
    if not access.is_chair:
        raise OpError("forbidden", _("Only the chair does this."))


def _agenda_current(
    actor: Any, access: ConferenceAccess, conference: Conference, args: dict
) -> dict:
    _chair(access)
    _live(conference)
    item = _item(args, access, conference)
    conference.current_item = item
    conference.save(update_fields=["current_item"])
    events.record(conference, "agenda.current", {"item": item.pk}, case_id=None)
    return {"item": item.pk}


def _agenda_reorder(
    actor: Any, access: ConferenceAccess, conference: Conference, args: dict
) -> dict:
    _chair(access)
    if not conference.is_open_for_edits:
        _live(conference)
    order = args.get("order")
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


def _agenda_add(actor: Any, access: ConferenceAccess, conference: Conference, args: dict) -> dict:
    _chair(access)
    if not conference.is_open_for_edits:
        _live(conference)
    title = _text(args, "title")[:200]
    last = conference.agenda.order_by("-order").first()
    item = AgendaItem.objects.create(
        conference=conference,
        kind=AgendaItem.Kind.OTHER,
        title=title,
        order=(last.order + 1) if last else 0,
    )
    events.record(conference, "agenda.added", {"agenda_item": item_data(item)}, case_id=None)
    return {"agenda_item": {"id": item.pk}}


def _state(target: str) -> Callable[..., dict[str, Any]]:
    def op(actor: Any, access: ConferenceAccess, conference: Conference, args: dict) -> dict:
        _chair(access)
        if target == Conference.State.LIVE:
            if conference.state != Conference.State.SCHEDULED:
                raise OpError("invalid", _("The meeting has already started."))
            from conferences.services import consent_problems

            missing = consent_problems(conference)
            if missing:
                raise OpError(
                    "consent",
                    _("The person's consent is no longer valid for: %(cases)s.")
                    % {"cases": "、".join(missing)},
                )
            from conferences.actions import carry_forward

            carry_forward(conference)
            conference.state, conference.started_at = target, timezone.now()
            first = conference.current_item or conference.agenda.first()
            conference.current_item = first
            conference.save(update_fields=["state", "started_at", "current_item"])
            events.record(conference, "conference.state", {"state": target}, case_id=None)
            if first:
                events.record(conference, "agenda.current", {"item": first.pk}, case_id=None)
        else:
            _live(conference)
            conference.state, conference.closed_at = target, timezone.now()
            conference.closed_by = actor
            conference.save(update_fields=["state", "closed_at", "closed_by"])
            events.record(conference, "conference.state", {"state": target}, case_id=None)
            # Draft minutes from the record as it stands at the close (as conference_close).
            from conferences.minutes.services import minutes_draft_create

            minutes_draft_create(conference=conference)
        return {"state": target}

    return op


OPS: dict[str, Callable[..., dict[str, Any]]] = {
    "note.add": _text_add("note"),
    "note.edit": _text_edit("note"),
    "note.delete": _record_delete("note", Note),
    "decision.add": _text_add("decision"),
    "decision.edit": _text_edit("decision"),
    "decision.delete": _record_delete("decision", Decision),
    "action.add": _action_add,
    "action.delete": _record_delete("action", ActionItem),
    "action.review": _action_review,
    "agenda.current": _agenda_current,
    "agenda.reorder": _agenda_reorder,
    "agenda.add": _agenda_add,
    "conference.start": _state(Conference.State.LIVE),
    "conference.close": _state(Conference.State.CLOSED),
}


def validate_op_id(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_OP_ID:
        raise OpError("invalid", _("Every operation needs an id (a short string)."))
    return value


@transaction.atomic
def live_apply(
    *, actor: Any, access: ConferenceAccess, client_op_id: str, op: str, args: dict[str, Any]
) -> OpResult:
    """Apply one client operation, exactly once per (conference, client_op_id)."""
    handler = OPS.get(op)
    if handler is None:
        raise OpError("unknown_op", _("Unknown operation: %(op)s.") % {"op": op[:40]})
    if not isinstance(args, dict):
        raise OpError("invalid", _("The operation's arguments must be an object."))
    conference = events.lock_conference(access.conference.pk)
    access.conference = conference
    done = ClientOp.objects.filter(conference=conference, client_op_id=client_op_id).first()
    if done is not None:
        if done.user_id != actor.pk:
            raise OpError("invalid", _("That operation id is already used."))
        return OpResult(seq=done.seq or 0, data=done.result, duplicate=True)
    if not access.acknowledged:
        raise OpError("ack_required", _("Acknowledge the confidentiality statement first."))
    data = handler(actor, access, conference, args)
    ClientOp.objects.create(
        conference=conference,
        client_op_id=client_op_id,
        user=actor,
        seq=conference.last_seq,
        result=data,
    )
    return OpResult(seq=conference.last_seq, data=data)


def participant_exists(conference: Conference, user: Any) -> bool:
    return Participant.objects.filter(conference=conference, user=user).exists()
