"""Follow-ups: every state change of an action item after it is agreed (docs/follow-ups.md).

Each change writes one `ActionChange` row (who, when, what) in the same transaction. A status
change names the version it was based on: a second person updating the same item at once gets
`ActionConflict` and nothing is overwritten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences.models import (
    ActionChange,
    ActionItem,
    ActionReview,
    AgendaItem,
    Conference,
    FollowupNotification,
    FollowupProfile,
)
from permissions.followups import owner_problem
from permissions.models import Agency, Tier
from permissions.policy import CaseAccess, primary_agency_id

Status = ActionItem.Status
Reason = ActionItem.NotDoneReason

# Which status may follow which. Done / cancelled / not done are final.
TRANSITIONS: dict[str, set[str]] = {
    Status.OPEN: {Status.IN_PROGRESS, Status.DONE, Status.CANCELLED, Status.NOT_DONE},
    Status.IN_PROGRESS: {Status.OPEN, Status.DONE, Status.CANCELLED, Status.NOT_DONE},
}
NEEDS_REASON = {Status.CANCELLED, Status.NOT_DONE}


class ActionConflict(Exception):
    """The item changed since the reader loaded it: nothing was saved."""

    def __init__(self, current: ActionItem) -> None:
        super().__init__("conflict")
        self.current = current


def _owner_errors(case: Any, tier: int, owner_user: Any, owner_agency: Any) -> dict[str, str]:
    if owner_user is None and owner_agency is None:
        return {"owner_user": _("Name who does it: a person, an agency, or both.")}
    problem = owner_problem(case, tier, owner_user, owner_agency)
    if problem == "user":
        return {"owner_user": _("That person's agency has no share of this case at that tier.")}
    if problem == "agency":
        return {"owner_agency": _("That agency has no share of this case at that tier.")}
    return {}


def _notify(action: ActionItem, kind: str, actor: Any, note: str = "") -> None:
    if action.owner_user_id and action.owner_user_id != actor.pk:
        FollowupNotification.objects.create(
            user_id=action.owner_user_id, action=action, kind=kind, note=note[:500]
        )


@transaction.atomic
def action_create(
    *,
    actor: Any,
    access: CaseAccess,
    title: str,
    details: str = "",
    tier: int = Tier.SUPPORT,
    owner_user: Any = None,
    owner_agency: Agency | None = None,
    due_on: dt.date,
) -> ActionItem:
    """An action item from a case page (conference items are created by the live page)."""
    errors: dict[str, str] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = _("Say what is to be done.")
    if tier not in Tier.values or tier > access.tier:
        errors["tier"] = _("You cannot write above the tier you read.")
    if due_on < timezone.localdate():
        errors["due_on"] = _("The due date is in the past: choose today or later.")
    if not errors:
        errors.update(_owner_errors(access.case, tier, owner_user, owner_agency))
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    action = ActionItem.objects.create(
        conference=None,
        case=access.case,
        tier=tier,
        title=title[:300],
        details=details.strip(),
        owner_user=owner_user,
        owner_agency=owner_agency,
        due_on=due_on,
        author=actor,
        agency_id=primary_agency_id(actor),
        created_at=now,
        updated_at=now,
        updated_by=actor,
    )
    action_created(action=action, actor=actor)
    return action


def action_created(*, action: ActionItem, actor: Any) -> None:
    """History and notice for a new item (called by the live page's `action.add` too)."""
    ActionChange.objects.create(
        action=action,
        kind=ActionChange.Kind.CREATED,
        by=actor,
        conference=action.conference,
        detail={
            "status": [None, action.status],
            "due_on": [None, action.due_on.isoformat()],
            "owner_user": [None, action.owner_user_id],
            "owner_agency": [None, action.owner_agency_id],
        },
    )
    _notify(action, FollowupNotification.Kind.ASSIGNED, actor)


def _reason_errors(status: str, reason: str, reason_text: str) -> dict[str, str]:
    if status not in NEEDS_REASON:
        return {}
    if reason not in Reason.values:
        return {"reason": _("Say why: circumstances changed, not undertaken, or other.")}
    if reason == Reason.OTHER and not reason_text.strip():
        return {"reason_text": _("Say in a few words what the other reason is.")}
    return {}


@transaction.atomic
def action_set_status(
    *,
    actor: Any,
    action: ActionItem,
    status: str,
    base_version: int,
    reason: str = "",
    reason_text: str = "",
    note: str = "",
    conference: Conference | None = None,
) -> ActionItem:
    """Change the status. Raises ValidationError (nothing saved) or ActionConflict."""
    locked = ActionItem.objects.select_for_update().get(pk=action.pk)
    if locked.version != base_version:
        raise ActionConflict(locked)
    if status not in TRANSITIONS.get(locked.status, set()):
        raise ValidationError(
            {
                "status": _("This item is %(status)s: it cannot become that.")
                % {"status": locked.get_status_display()}
            }
        )
    errors = _reason_errors(status, reason, reason_text)
    if errors:
        raise ValidationError(errors)
    old = locked.status
    locked.status = status
    locked.status_reason = reason if status in NEEDS_REASON else ""
    locked.reason_text = reason_text.strip()[:500] if reason == Reason.OTHER else ""
    if note.strip():
        locked.completion_note = note.strip()
    locked.closed_at = None if status in ActionItem.OPEN_STATUSES else timezone.now()
    locked.version += 1
    locked.updated_at, locked.updated_by = timezone.now(), actor
    locked.save(
        update_fields=[
            "status",
            "status_reason",
            "reason_text",
            "completion_note",
            "closed_at",
            "version",
            "updated_at",
            "updated_by",
        ]
    )
    detail: dict[str, Any] = {"status": [old, status]}
    if locked.status_reason:
        detail["reason"] = locked.status_reason
    if locked.reason_text:
        detail["reason_text"] = locked.reason_text
    if note.strip():
        detail["note"] = note.strip()
    ActionChange.objects.create(
        action=locked, kind=ActionChange.Kind.STATUS, by=actor, conference=conference, detail=detail
    )
    return locked


@transaction.atomic
def action_reassign(
    *,
    actor: Any,
    actions: Iterable[ActionItem],
    owner_user: Any = None,
    owner_agency: Agency | None = None,
    note: str = "",
) -> list[ActionItem]:
    """Give one or many items to a new owner, with a note to them. All or nothing."""
    items = list(
        ActionItem.objects.select_for_update(of=("self",))
        .select_related("case")
        .filter(pk__in=[a.pk for a in actions])
    )
    if not items:
        raise ValidationError({"actions": _("Choose at least one item.")})
    errors: dict[str, str] = {}
    for item in items:
        errors.update(_owner_errors(item.case, item.tier, owner_user, owner_agency))
        if errors:
            break
    if errors:
        raise ValidationError(errors)
    for item in items:
        detail: dict[str, Any] = {
            "owner_user": [item.owner_user_id, getattr(owner_user, "pk", None)],
            "owner_agency": [item.owner_agency_id, getattr(owner_agency, "pk", None)],
        }
        if note.strip():
            detail["note"] = note.strip()
        item.owner_user, item.owner_agency = owner_user, owner_agency
        item.version += 1
        item.updated_at, item.updated_by = timezone.now(), actor
        item.save(
            update_fields=["owner_user", "owner_agency", "version", "updated_at", "updated_by"]
        )
        ActionChange.objects.create(
            action=item, kind=ActionChange.Kind.REASSIGNED, by=actor, detail=detail
        )
        _notify(item, FollowupNotification.Kind.REASSIGNED, actor, note.strip())
    return items


# --- carry-forward into the next conference --------------------------------------------------


def carry_forward(conference: Conference) -> int:
    """Open items of the conference's cases join each case's "review of actions" agenda item.
    Idempotent: run when the conference is scheduled and again when it starts."""
    today = timezone.localdate()
    added = 0
    reviews = AgendaItem.objects.filter(conference=conference, kind=AgendaItem.Kind.REVIEW)
    for agenda_item in reviews.exclude(case__isnull=True):
        items = ActionItem.objects.filter(
            case=agenda_item.case,
            deleted_at__isnull=True,
            status__in=ActionItem.OPEN_STATUSES,
        ).exclude(conference=conference)
        for item in items:
            _, created = ActionReview.objects.get_or_create(
                conference=conference,
                action=item,
                defaults={
                    "agenda_item": agenda_item,
                    "due_on_before": item.due_on,
                    "was_overdue": item.due_on < today,
                },
            )
            added += created
    return added


def action_review(
    *,
    actor: Any,
    review: ActionReview,
    outcome: str,
    new_due_on: dt.date | None = None,
    reason: str = "",
    reason_text: str = "",
    note: str = "",
) -> ActionReview:
    """At the meeting: done, continued (new due date) or closed with a reason. Minuted: the
    review row keeps the outcome for the minutes. Call inside the live operation's
    transaction."""
    action = ActionItem.objects.select_for_update().get(pk=review.action_id)
    if review.outcome:
        raise ValidationError({"outcome": _("This item has already been reviewed.")})
    if outcome == ActionReview.Outcome.DONE:
        action_set_status(
            actor=actor,
            action=action,
            status=Status.DONE,
            base_version=action.version,
            note=note,
            conference=review.conference,
        )
    elif outcome == ActionReview.Outcome.CONTINUED:
        if new_due_on is None or new_due_on < timezone.localdate():
            raise ValidationError(
                {"new_due_on": _("The due date is in the past: choose today or later.")}
            )
        old = action.due_on
        action.due_on = new_due_on
        action.version += 1
        action.updated_at, action.updated_by = timezone.now(), actor
        action.save(update_fields=["due_on", "version", "updated_at", "updated_by"])
        ActionChange.objects.create(
            action=action,
            kind=ActionChange.Kind.DUE,
            by=actor,
            conference=review.conference,
            detail={"due_on": [old.isoformat(), new_due_on.isoformat()], "note": note.strip()},
        )
    elif outcome == ActionReview.Outcome.CLOSED:
        action_set_status(
            actor=actor,
            action=action,
            status=Status.NOT_DONE,
            base_version=action.version,
            reason=reason,
            reason_text=reason_text,
            note=note,
            conference=review.conference,
        )
    else:
        raise ValidationError({"outcome": _("Choose done, continued or closed.")})
    review.outcome = outcome
    review.new_due_on = new_due_on if outcome == ActionReview.Outcome.CONTINUED else None
    review.reason = reason if outcome == ActionReview.Outcome.CLOSED else ""
    review.note = note.strip()
    review.reviewed_by, review.reviewed_at = actor, timezone.now()
    review.save()
    ActionChange.objects.create(
        action=action,
        kind=ActionChange.Kind.REVIEWED,
        by=actor,
        conference=review.conference,
        detail={"outcome": outcome},
    )
    return review


# --- calendar token ----------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def calendar_token_regenerate(*, user: Any) -> str:
    """A new private feed token (the old one stops working). Returned once; stored hashed."""
    token = secrets.token_urlsafe(32)
    profile, _ = FollowupProfile.objects.get_or_create(user=user)
    profile.calendar_token_hash = _hash(token)
    profile.save(update_fields=["calendar_token_hash"])
    return token


def calendar_token_revoke(*, user: Any) -> None:
    FollowupProfile.objects.filter(user=user).update(calendar_token_hash="")


def calendar_user(token: str) -> Any | None:
    if not token or len(token) > 100:
        return None
    profile = (
        FollowupProfile.objects.select_related("user")
        .filter(calendar_token_hash=_hash(token), user__is_active=True)
        .first()
    )
    return profile.user if profile else None


def notifications_mark_read(*, user: Any) -> None:
    FollowupNotification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def user_language(user: Any) -> str:
    profile = FollowupProfile.objects.filter(user=user).first()
    return profile.language if profile else "ja"


def user_language_remember(*, user: Any, language: str) -> None:
    """The language a person chose on screen is the language of their reminder mail."""
    if language not in dict(settings.LANGUAGES):
        return
    FollowupProfile.objects.update_or_create(user=user, defaults={"language": language})
