"""The one place a field's tier is declared. Pages, exports and the live page read it here."""

from __future__ import annotations

from permissions.models import Tier

CASE_FIELD_TIERS: dict[str, Tier] = {
    "label": Tier.WATCH,
    "life_area": Tier.WATCH,
    "small_area": Tier.WATCH,
    "address": Tier.WATCH,
    "watch_notes": Tier.WATCH,
    "disaster_needs": Tier.WATCH,
    "watch_over": Tier.WATCH,
    "disaster_support": Tier.WATCH,
    "status": Tier.WATCH,
    "summary": Tier.SUPPORT,
    "situation": Tier.SUPPORT,
    "issues": Tier.SUPPORT,
    "support_plan": Tier.SUPPORT,
    "need_categories": Tier.SUPPORT,
    "coverage": Tier.SUPPORT,
    "health": Tier.SENSITIVE,
    "disability": Tier.SENSITIVE,
    "abuse": Tier.SENSITIVE,
    "finances": Tier.SENSITIVE,
}

MEMBER_FIELD_TIERS: dict[str, Tier] = {
    "name": Tier.WATCH,
    "kana": Tier.WATCH,
    "relationship": Tier.WATCH,
    "is_subject": Tier.WATCH,
    "birth_date": Tier.SUPPORT,
    "age": Tier.SUPPORT,
}

# Fields a form may edit (the rest are set by services).
CASE_EDITABLE = [
    "label",
    "life_area",
    "small_area",
    "address",
    "watch_notes",
    "disaster_needs",
    "watch_over",
    "disaster_support",
    "status",
    "summary",
    "situation",
    "issues",
    "support_plan",
    "need_categories",
    "coverage",
    "health",
    "disability",
    "abuse",
    "finances",
]


def fields_at(
    tiers: dict[str, Tier], tier: int | None, names: list[str] | None = None
) -> list[str]:
    """Field names readable at `tier`, in declaration order (or the order of `names`)."""
    if tier is None:
        return []
    order = names if names is not None else list(tiers)
    return [name for name in order if tiers[name] <= tier]


def tier_sections(tier: int | None) -> list[tuple[Tier, list[str]]]:
    """Case fields grouped by tier, only the tiers the reader holds."""
    if tier is None:
        return []
    return [
        (t, [name for name, ft in CASE_FIELD_TIERS.items() if ft == t]) for t in Tier if t <= tier
    ]
