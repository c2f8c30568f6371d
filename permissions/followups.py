"""The rules of follow-ups (action items): who sees an item, who updates its status, who
reassigns it, and who may own one.

An item is read only by someone who reads its case at the item's tier (their agency's active
share, capped by role: `policy.cases_visible_to`); an item of no case (other business at a
conference) is read by its owners. Owners and the owning agency's writers update the status;
the case's coordinators update and reassign. Lists are filtered in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from permissions.models import Membership, Share
from permissions.policy import (
    WRITER_ROLES,
    _memberships,
    agency_ids,
    case_access,
    cases_visible_to,
)

if TYPE_CHECKING:
    from conferences.models import ActionItem


def _readable_q(user: Any) -> Q:
    # reader_tier is an annotation of cases_visible_to (the stubs cannot see it).
    lookups: dict[str, Any] = {"pk": OuterRef("case_id"), "reader_tier__gte": OuterRef("tier")}
    visible = cases_visible_to(user).filter(**lookups)
    mine = Q(owner_user_id=getattr(user, "pk", None)) | Q(owner_agency_id__in=agency_ids(user))
    return Q(Exists(visible)) | (Q(case__isnull=True) & mine)


def actions_visible_to(user: Any) -> QuerySet[ActionItem]:
    """Every live (not deleted) action item this user may read."""
    from conferences.models import ActionItem

    if not agency_ids(user):
        return ActionItem.objects.none()
    return ActionItem.objects.filter(deleted_at__isnull=True).filter(_readable_q(user))


def actions_owned_by(user: Any) -> QuerySet[ActionItem]:
    """My follow-ups: mine and my agency's, that I may read."""
    mine = Q(owner_user_id=user.pk) | Q(owner_agency_id__in=agency_ids(user))
    return actions_visible_to(user).filter(mine)


def actions_coordinated_by(user: Any) -> QuerySet[ActionItem]:
    """The coordinator overview: every item on the cases this user coordinates."""
    agencies = [m.agency_id for m in _memberships(user) if m.role == Membership.Role.COORDINATOR]
    if not agencies:
        from conferences.models import ActionItem

        return ActionItem.objects.none()
    coordinating = Share.objects.filter(
        Share.active_q(), case=OuterRef("case_id"), agency_id__in=agencies, coordinates=True
    )
    return actions_visible_to(user).filter(Exists(coordinating))


def is_followup_coordinator(user: Any) -> bool:
    return any(m.role == Membership.Role.COORDINATOR for m in _memberships(user))


@dataclass
class ActionAccess:
    action: ActionItem
    may_update: bool = False
    may_reassign: bool = False


def action_access(user: Any, action: ActionItem) -> ActionAccess | None:
    """None when the item must not exist for this reader."""
    if not actions_visible_to(user).filter(pk=action.pk).exists():
        return None
    access = ActionAccess(action=action)
    writer_agencies = {m.agency_id for m in _memberships(user) if m.role in WRITER_ROLES}
    if action.owner_user_id == user.pk or action.owner_agency_id in writer_agencies:
        access.may_update = True
    if action.case is not None:
        ca = case_access(user, action.case)
        if ca is not None and ca.coordinates:
            access.may_update = access.may_reassign = True
    return access


def access_action(user: Any, pk: int | str, action: str = "view") -> ActionAccess:
    """Fetch-and-authorise: 404 for a missing or unreadable item, 403 for a missing right."""
    from django.core.exceptions import PermissionDenied

    from conferences.models import ActionItem

    try:
        item = (
            ActionItem.objects.select_related("case", "owner_user", "owner_agency", "author")
            .filter(deleted_at__isnull=True)
            .get(pk=int(pk))
        )
    except (ActionItem.DoesNotExist, TypeError, ValueError):
        raise Http404 from None
    access = action_access(user, item)
    if access is None:
        raise Http404
    if action == "update" and not access.may_update:
        raise PermissionDenied
    if action == "reassign" and not access.may_reassign:
        raise PermissionDenied
    return access


def owner_problem(case: Any, tier: int, owner_user: Any, owner_agency: Any) -> str | None:
    """Why this owner may not own an item of `case` at `tier` (None: they may).

    A person must read the case at the item's tier; an agency must hold an active share of
    the case at that tier. Returns a code: "user" or "agency"."""
    if case is None:
        return None
    if owner_user is not None:
        ca = case_access(owner_user, case)
        if ca is None or ca.tier < tier or not ca.shares:
            return "user"
    if owner_agency is not None:
        share = Share.objects.filter(Share.active_q(), case=case, agency=owner_agency).first()
        if share is None or share.tier < tier:
            return "agency"
    return None
