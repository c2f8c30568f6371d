"""How a person is named on screen: Japanese order, family name first (高橋 和子)."""

from __future__ import annotations

from typing import Any


def display_name(user: Any) -> str:
    if user is None:
        return ""
    return name_of(user.last_name, user.first_name, user.get_username())


def name_of(last_name: str, first_name: str, username: str) -> str:
    """`display_name` from the fields alone (rows read with `values()`)."""
    full = " ".join(part for part in (last_name, first_name) if part)
    return full or username
