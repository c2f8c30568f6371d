"""Notes, decisions and action items written during the meeting, and the review of the
actions carried forward from earlier meetings. Each appends its events to the log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, cast

from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import events
from conferences.live.checks import (
    Op,
    OpConflict,
    OpError,
    agenda_item,
    edited_record,
    forget,
    insert,
    int_arg,
    known_edit,
    live,
    locked_record,
    remember,
    text_arg,
    tier_arg,
    writable,
    writer_agency,
)
from conferences.live.data import record_data, review_data
from conferences.models import ActionItem, Conference, Decision, Invitation, LiveRecord, Note
from permissions.models import Agency, Membership
from permissions.policy import case_access

KIND_MODEL: dict[str, type[LiveRecord]] = {"note": Note, "decision": Decision}


def text_add(kind: str) -> Callable[[Op], dict[str, Any]]:
    def apply(op: Op) -> dict[str, Any]:
        live(op.conference)
        item = agenda_item(op)
        writable(op.access, item.case_id)
        text = text_arg(op.args)
        tier = tier_arg(op.args, op.access, item.case_id)
        now = timezone.now()
        record = cast(Any, KIND_MODEL[kind])(
            conference=op.conference,
            agenda_item=item,
            case_id=item.case_id,
            tier=tier,
            text=text,
            author=op.actor,
            agency=writer_agency(op.actor, op.access),
            created_at=now,
            updated_at=now,
            updated_by=op.actor,
        )
        insert(record)
        remember(record)
        events.record(
            op.conference,
            f"{kind}.created",
            {kind: record_data(record)},
            case_id=item.case_id,
            tier=tier,
        )
        return {kind: {"id": record.pk, "version": record.version}}

    return apply


def text_edit(kind: str) -> Callable[[Op], dict[str, Any]]:
    def apply(op: Op) -> dict[str, Any]:
        live(op.conference)
        text = text_arg(op.args)
        base = int_arg(op.args, "base_version")
        model = KIND_MODEL[kind]
        if not op.hints:
            forget(model, int_arg(op.args, kind))  # it was wrong: read the row, then keep it
        # The usual edit of a record this process knows: no statement before the operation's
        # last (checked there against the row). Else the usual edit (the record exists, the
        # base version is current) in one statement; the checks on what it returns raise, and
        # so roll the update back, if the reader may not make it. Anything else goes the long
        # way, which names the refusal.
        found = known_edit(model, op, kind, text, base) or edited_record(
            model, op, kind, text, base
        )
        if found is not None:
            record, old_tier = found
            if not op.access.reads(record.case_id, old_tier):
                raise OpError("not_found", _("That entry no longer exists."))
            writable(op.access, record.case_id)
            tier = tier_arg(op.args, op.access, record.case_id) if "tier" in op.args else old_tier
        else:
            record = locked_record(model, op, kind)
            writable(op.access, record.case_id)
            tier = (
                tier_arg(op.args, op.access, record.case_id) if "tier" in op.args else record.tier
            )
            if base != record.version:
                raise OpConflict(record_data(record), {"text": text, "tier": tier})
            # Current (SQLite; or it changed between the two statements): write it here.
            old_tier = record.tier
            record.text, record.tier = text, tier
            record.version += 1
            record.updated_at, record.updated_by = timezone.now(), op.actor
            record.save(update_fields=["text", "tier", "version", "updated_at", "updated_by"])
        if tier > old_tier:
            # Readers who held the old tier but not the new one lose the record: a removal
            # carrying only its id, the same as a deletion.
            events.record(
                op.conference,
                f"{kind}.deleted",
                {kind: {"id": record.pk}},
                case_id=record.case_id,
                tier=old_tier,
                below_tier=tier,
            )
        events.record(
            op.conference,
            f"{kind}.updated",
            {kind: record_data(record)},
            case_id=record.case_id,
            tier=tier,
        )
        remember(record)
        return {kind: {"id": record.pk, "version": record.version}}

    return apply


def record_delete(kind: str, model: type[LiveRecord]) -> Callable[[Op], dict[str, Any]]:
    def apply(op: Op) -> dict[str, Any]:
        live(op.conference)
        record = locked_record(model, op, kind)
        writable(op.access, record.case_id)
        if record.author_id != op.actor.pk and not op.access.is_chair:
            raise OpError("forbidden", _("Only the author or the chair deletes an entry."))
        if "base_version" in op.args and int_arg(op.args, "base_version") != record.version:
            raise OpConflict(record_data(record), {"delete": True})
        record.deleted_at = timezone.now()
        record.updated_by = op.actor
        record.save(update_fields=["deleted_at", "updated_by"])
        forget(model, record.pk)
        events.record(
            op.conference,
            f"{kind}.deleted",
            {kind: {"id": record.pk}},
            case_id=record.case_id,
            tier=record.tier,
        )
        return {kind: {"id": record.pk}}

    return apply


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


def action_add(op: Op) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from conferences.actions import action_created

    args = op.args
    live(op.conference)
    item = agenda_item(op)
    writable(op.access, item.case_id)
    title = text_arg(args, "title")[:300]
    details = text_arg(args, "details", required=False)
    tier = tier_arg(args, op.access, item.case_id)
    raw_due = args.get("due_on")
    try:
        due_on = dt.date.fromisoformat(str(raw_due))
    except ValueError:
        raise OpError("invalid", _("Give the due date as a date.")) from None
    if due_on < timezone.localdate():
        raise OpError("past_due", _("The due date is in the past: choose today or later."))
    users, agencies = meeting_people(op.conference)
    owner_user = owner_agency = None
    if args.get("owner_user"):
        uid = int_arg(args, "owner_user")
        owner_user = get_user_model().objects.filter(pk=uid, is_active=True).first()
        if owner_user is None or uid not in users:
            raise OpError("owner", _("The owner must be someone in this meeting."))
        case = item.case if item.case_id is not None else None
        ca = case_access(owner_user, case) if case is not None else None
        if case is not None and (ca is None or ca.tier < tier):
            raise OpError("owner", _("The owner cannot read this case at that tier."))
    if args.get("owner_agency"):
        aid = int_arg(args, "owner_agency")
        owner_agency = Agency.objects.filter(pk=aid).first()
        if owner_agency is None or aid not in agencies:
            raise OpError("owner", _("The owning agency must be invited to this meeting."))
    if owner_user is None and owner_agency is None:
        raise OpError("owner", _("Name who does it: a person, an agency, or both."))
    now = timezone.now()
    action = ActionItem.objects.create(
        conference=op.conference,
        agenda_item=item,
        case_id=item.case_id,
        tier=tier,
        title=title,
        details=details,
        owner_user=owner_user,
        owner_agency=owner_agency,
        due_on=due_on,
        author=op.actor,
        agency=writer_agency(op.actor, op.access),
        created_at=now,
        updated_at=now,
        updated_by=op.actor,
    )
    action_created(action=action, actor=op.actor)
    events.record(
        op.conference,
        "action.created",
        {"action": record_data(action)},
        case_id=item.case_id,
        tier=tier,
    )
    return {"action": {"id": action.pk, "version": action.version}}


def action_review(op: Op) -> dict[str, Any]:
    """Review of actions: a carried-forward item is done, continued or closed with a reason."""
    from django.core.exceptions import ValidationError

    from conferences.actions import action_review as review_action
    from conferences.models import ActionReview

    args = op.args
    live(op.conference)
    review = (
        ActionReview.objects.select_related("action", "conference")
        .filter(pk=int_arg(args, "review"), conference=op.conference)
        .first()
    )
    if review is None or op.access.tier_for(review.action.case_id) < review.action.tier:
        raise OpError("not_found", _("That item does not exist."))
    writable(op.access, review.action.case_id)
    raw_due = args.get("new_due_on")
    new_due = None
    if raw_due:
        try:
            new_due = dt.date.fromisoformat(str(raw_due))
        except ValueError:
            raise OpError("invalid", _("Give the due date as a date.")) from None
    try:
        review_action(
            actor=op.actor,
            review=review,
            outcome=str(args.get("outcome", "")),
            new_due_on=new_due,
            reason=str(args.get("reason", "")),
            reason_text=text_arg(args, "reason_text", required=False)[:500],
            note=text_arg(args, "note", required=False),
        )
    except ValidationError as exc:
        raise OpError("invalid", " ".join(exc.messages)) from None
    action = ActionItem.objects.select_related("author", "agency", "owner_user", "owner_agency")
    record = action.get(pk=review.action_id)
    # Not an "action.*" event: the item belongs to an earlier conference's record.
    events.record(
        op.conference,
        "action_review.updated",
        {"review": review_data(review, record)},
        case_id=record.case_id,
        tier=record.tier,
    )
    return {"review": review.pk, "outcome": review.outcome}
