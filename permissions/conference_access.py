"""Fetch-and-authorise for conferences: 404 for outsiders (missing or forbidden alike), 403 for
members lacking the right for an action."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from permissions.conferences import CONFERENCE_ACTIONS, ConferenceAccess, conference_access


def access_conference(user: Any, pk: int | str, action: str = "view") -> ConferenceAccess:
    from conferences.models import Conference

    if action not in CONFERENCE_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    try:
        conference = Conference.objects.select_related("chair", "minute_taker", "created_by").get(
            pk=int(pk)
        )
    except (Conference.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    access = conference_access(user, conference)
    if access is None:
        raise Http404
    if not access.allows(action):
        raise PermissionDenied
    return access
