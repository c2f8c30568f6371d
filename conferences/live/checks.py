"""Refusals and argument checks shared by the live operations.

Every check asks `permissions.conferences.ConferenceAccess` (the reader's tiers per case, what
they may write); a record or agenda item the reader may not read is "not found", exactly as a
missing one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from conferences.models import AgendaItem, Conference, LiveRecord
from permissions.conferences import ConferenceAccess
from permissions.models import Agency, Tier

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
class Op:
    """One operation being applied: who, with which access, on which (locked) conference.

    `agenda` maps the conference's agenda item ids to their case (None: other business). The
    consumer keeps it between operations: items never move between conferences or cases and
    are never deleted, so a known item needs no query; an unknown one is looked up and added.
    """

    actor: Any
    access: ConferenceAccess
    conference: Conference
    args: dict[str, Any]
    agenda: dict[int, int | None]


def text_arg(args: dict[str, Any], key: str = "text", *, required: bool = True) -> str:
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


def int_arg(args: dict[str, Any], key: str) -> int:
    value = args.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise OpError("invalid", _("Missing or invalid field: %(field)s.") % {"field": key})
    try:
        return int(value)
    except ValueError:
        raise OpError(
            "invalid", _("Missing or invalid field: %(field)s.") % {"field": key}
        ) from None


def tier_arg(args: dict[str, Any], access: ConferenceAccess, case_id: int | None) -> int:
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


def agenda_item(op: Op) -> AgendaItem:
    """The agenda item named by `item`, if it is this conference's and the reader sees it."""
    pk = int_arg(op.args, "item")
    if pk in op.agenda:
        item = AgendaItem(pk=pk, conference_id=op.conference.pk, case_id=op.agenda[pk])
    else:
        found = AgendaItem.objects.filter(pk=pk, conference=op.conference).first()
        if found is None:
            raise OpError("not_found", _("That agenda item does not exist."))
        item = found
        op.agenda[pk] = item.case_id
    if op.access.tier_for(item.case_id) < Tier.WATCH:
        raise OpError("not_found", _("That agenda item does not exist."))
    return item


def writable(access: ConferenceAccess, case_id: int | None) -> None:
    if not access.may_write(case_id):
        raise OpError("forbidden", _("Your agency may read but not write here."))


def live(conference: Conference) -> None:
    if conference.state != Conference.State.LIVE:
        if conference.state == Conference.State.SCHEDULED:
            raise OpError("not_live", _("The meeting has not started yet."))
        raise OpError("closed", _("The meeting is closed: no more changes."))


def chair(access: ConferenceAccess) -> None:
    if not access.is_chair:
        raise OpError("forbidden", _("Only the chair does this."))


def locked_record(model: type[LiveRecord], op: Op, key: str):  # type: ignore[no-untyped-def]
    pk = int_arg(op.args, key)
    # A slice, not .first(): no ORDER BY to build for a lookup by primary key.
    found = list(
        model._default_manager.select_for_update(of=("self",))
        .select_related("author", "agency")
        .filter(pk=pk, conference=op.conference, deleted_at__isnull=True)[:1]
    )
    record = found[0] if found else None
    # A record above the reader's tier does not exist for them, as a deleted one.
    if record is None or not op.access.reads(record.case_id, record.tier):
        raise OpError("not_found", _("That entry no longer exists."))
    return record


def writer_agency(actor: Any, access: ConferenceAccess) -> Agency | None:
    """The writer's agency, from their (cached) memberships: no query per operation."""
    from permissions.policy import _memberships

    for m in _memberships(actor):
        if m.agency_id == access.agency_id:
            return m.agency
    return Agency.objects.filter(pk=access.agency_id or 0).first()
