"""Reads about the logged-in person: how to name them, which agencies they belong to."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from permissions.models import Membership
from permissions.people import display_name

__all__ = ["display_name", "memberships_of"]


def memberships_of(user: Any) -> QuerySet[Membership]:
    """The person's own memberships, with what the profile and dashboard show of them."""
    return (
        Membership.objects.filter(user=user)  # type: ignore[misc]
        .select_related("agency")
        .prefetch_related("life_areas")
        .order_by("agency__name")
    )
