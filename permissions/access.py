"""Fetch-and-authorise helpers for views and consumers.

A case the reader may not see answers 404 whether it is missing or forbidden; a reader who
may see it but lacks the right for an action gets 403.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from permissions.policy import CaseAccess, case_access_by_pk


def access_case(user: Any, pk: int | str, action: str = "view") -> CaseAccess:
    access = case_access_by_pk(user, _int_pk(pk))
    if access is None:
        raise Http404
    if not access.allows(action):
        raise PermissionDenied
    return access


# Primary keys are 64-bit: a longer number in a URL is a missing object, not a database error.
_PK_MAX = 2**63 - 1


def _int_pk(pk: int | str) -> int:
    try:
        value = int(pk)
    except (TypeError, ValueError):
        raise Http404 from None
    if not 0 < value <= _PK_MAX:
        raise Http404
    return value


def access_concern(user: Any, pk: int | str, action: str = "triage") -> Any:
    """A concern: its reporter may follow it ("follow"); coordinators of its life area triage
    it ("triage"). Anyone else: not found."""
    from permissions import policy

    pk = _int_pk(pk)
    qs = (
        policy.concerns_to_triage(user) if action == "triage" else policy.concerns_reported_by(user)
    )
    concern = qs.select_related("life_area", "small_area", "case").filter(pk=pk).first()
    if concern is None:
        raise Http404
    return concern


def access_declaration(user: Any, pk: int | str, action: str = "manage") -> Any:
    """A declaration: council coordinators and administrators manage it and read its report
    ("manage"); designated supporters open its safety check ("check")."""
    from permissions import policy
    from permissions.models import Declaration

    declaration = Declaration.objects.filter(pk=_int_pk(pk)).first()
    if declaration is None:
        raise Http404
    if action == "manage" and policy.is_council_manager(user):
        return declaration
    if action == "check" and policy.supporter_agencies(user):
        return declaration
    raise Http404


def access_break_glass(user: Any, pk: int | str) -> Any:
    """A break-glass, for the coordinators who review it."""
    from permissions import policy

    glass = (
        policy.break_glasses_to_review(user)
        .select_related("user", "agency", "case", "reviewed_by")
        .filter(pk=_int_pk(pk))
        .first()
    )
    if glass is None:
        raise Http404
    return glass
