"""Fetch-and-authorise helpers for views and consumers.

A case the reader may not see answers 404 whether it is missing or forbidden; a reader who
may see it but lacks the right for an action gets 403.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from permissions.policy import CaseAccess, case_access


def access_case(user: Any, pk: int | str, action: str = "view") -> CaseAccess:
    from casework.models import Case

    try:
        case = Case.objects.select_related("life_area", "small_area", "lead_coordinator").get(
            pk=int(pk)
        )
    except (Case.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    access = case_access(user, case)
    if access is None:
        raise Http404
    if not access.allows(action):
        raise PermissionDenied
    return access
