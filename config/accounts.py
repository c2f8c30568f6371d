"""Reads about the logged-in person: how to name them, which agencies they belong to."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from permissions.models import Membership


def display_name(user: Any) -> str:
    """Family name first, as names are written in Japan (佐藤 美咲); the user name otherwise."""
    name = f"{user.last_name} {user.first_name}".strip()
    return name or user.get_username()


def memberships_of(user: Any) -> QuerySet[Membership]:
    """The person's own memberships, with what the profile and dashboard show of them."""
    return (
        Membership.objects.filter(user=user)  # type: ignore[misc]
        .select_related("agency")
        .prefetch_related("life_areas")
        .order_by("agency__name")
    )
