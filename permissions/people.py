"""How a person is named on screen: Japanese order, family name first (高橋 和子)."""

from __future__ import annotations

from typing import Any


def display_name(user: Any) -> str:
    if user is None:
        return ""
    full = " ".join(part for part in (user.last_name, user.first_name) if part)
    return full or user.get_username()
