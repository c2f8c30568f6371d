"""The content of minutes: assembled from a closed conference, redacted by rule for an
audience, hashed for the immutable version.

Every piece of content carries the tier it belongs to (and, inside a case, that case), so a
variant is computed from the snapshot alone: `redact(content, tiers)` keeps what the audience
reads and drops the rest entirely. Nothing is redacted by hand.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from permissions.models import Tier
from permissions.people import display_name

# The per-case fields of Japanese record forms, in order, with the tier each belongs to.
CASE_FIELDS: list[tuple[str, Tier, Any]] = [
    ("consent", Tier.SUPPORT, _("Consent status (同意の状況)")),
    ("household", Tier.SUPPORT, _("Household (世帯の状況)")),
    ("situation", Tier.SUPPORT, _("Situation (現状)")),
    ("risk", Tier.SUPPORT, _("Risk and urgency (危険度・緊急度)")),
    ("sensitive", Tier.SENSITIVE, _("Health, disability, abuse, finances (要配慮事項)")),
    ("review", Tier.SUPPORT, _("Review of previous actions (前回の役割分担の振り返り)")),
    ("discussion", Tier.SUPPORT, _("Discussion (検討内容)")),
    ("issues", Tier.SUPPORT, _("Issues (課題の整理)")),
    ("goal_short", Tier.SUPPORT, _("Support direction: short-term goals (支援方針・短期目標)")),
    ("goal_long", Tier.SUPPORT, _("Support direction: long-term goals (支援方針・長期目標)")),
    ("lead", Tier.SUPPORT, _("Lead agency and key person (主担当機関・キーパーソン)")),
    ("remaining", Tier.SUPPORT, _("Remaining issues (残された課題)")),
]
FIELD_TIERS = {key: int(tier) for key, tier, _label in CASE_FIELDS}
FIELD_LABELS = {key: label for key, _tier, label in CASE_FIELDS}


def _date(value: Any) -> str:
    return value.isoformat() if value else ""


def _records(model: Any, conference: Any, case_id: int | None) -> list[dict[str, Any]]:
    rows = (
        model.objects.filter(conference=conference, case_id=case_id, deleted_at__isnull=True)
        .select_related("agency", "author")
        .order_by("created_at", "pk")
    )
    return [
        {"tier": r.tier, "text": r.text, "agency": r.agency.name if r.agency else ""} for r in rows
    ]


def _action(a: Any) -> dict[str, Any]:
    return {
        "tier": a.tier,
        "title": a.title,
        "details": a.details,
        "agency": a.owner_agency.name if a.owner_agency else "",
        "owner": display_name(a.owner_user) if a.owner_user else "",
        "due": _date(a.due_on),
        "status": str(a.get_status_display()),
    }


def _series_number(conference: Any, case_ids: list[int]) -> int:
    """Which meeting of the series: conferences on the same cases up to this one."""
    from conferences.models import Conference

    if not case_ids:
        return 1
    return (
        Conference.objects.filter(items__case_id__in=case_ids, starts_at__lte=conference.starts_at)
        .distinct()
        .count()
    )


def _consent_text(link: Any) -> str:
    consent = link.consent
    if consent is None:
        return str(_("No consent relied on (members share under the meeting's legal basis)."))
    return str(_("Consent given %(date)s (%(method)s).")) % {
        "date": consent.given_on.isoformat(),
        "method": consent.get_method_display(),
    }


def assemble(conference: Any) -> dict[str, Any]:
    """The draft content of a closed conference, everything at its own tier."""
    from conferences.models import ActionItem, Decision, Note, Participant

    links = list(conference.items.select_related("case", "consent", "prep"))
    case_ids = [link.case_id for link in links]
    people = list(
        Participant.objects.filter(conference=conference).select_related("user", "agency")
    )
    local = timezone.localtime(conference.starts_at)
    end = timezone.localtime(conference.ends_at)
    cases = []
    for link in links:
        case = link.case
        prep = getattr(link, "prep", None)
        previous = (
            ActionItem.objects.filter(case=case, deleted_at__isnull=True)
            .filter(Q(conference__isnull=True) | ~Q(conference=conference))
            .filter(created_at__lt=conference.started_at or conference.starts_at)
            .select_related("owner_agency", "owner_user")
            .order_by("due_on", "pk")
        )
        review = "\n".join(
            f"・{a.title}（{a.owner_agency.name if a.owner_agency else display_name(a.owner_user)}"
            f"、{_date(a.due_on)}）: {a.get_status_display()}"
            for a in previous
        )
        sensitive = "\n".join(
            text for text in (case.health, case.disability, case.abuse, case.finances) if text
        )
        texts = {
            "consent": _consent_text(link),
            "household": prep.household if prep else "",
            "situation": case.situation,
            "risk": "",
            "sensitive": sensitive,
            "review": review,
            "discussion": "",
            "issues": case.issues,
            "goal_short": "",
            "goal_long": case.support_plan,
            "lead": "",
            "remaining": "",
        }
        actions = (
            ActionItem.objects.filter(conference=conference, case=case, deleted_at__isnull=True)
            .select_related("owner_agency", "owner_user")
            .order_by("due_on", "pk")
        )
        cases.append(
            {
                "case_id": case.pk,
                "label": case.label,
                "fields": {
                    key: {"tier": FIELD_TIERS[key], "text": texts[key] or ""} for key in FIELD_TIERS
                },
                "notes": _records(Note, conference, case.pk),
                "decisions": _records(Decision, conference, case.pk),
                "actions": [_action(a) for a in actions],
            }
        )
    other_actions = (
        ActionItem.objects.filter(conference=conference, case__isnull=True, deleted_at__isnull=True)
        .select_related("owner_agency", "owner_user")
        .order_by("due_on", "pk")
    )
    return {
        "meeting": {
            "kind": conference.kind,
            "kind_label": str(conference.get_kind_display()),
            "legal_basis": conference.legal_basis,
            "title": conference.title,
            "date": local.date().isoformat(),
            "start": f"{local:%H:%M}",
            "end": f"{end:%H:%M}",
            "place": conference.place,
            "series": _series_number(conference, case_ids),
            "chair": display_name(conference.chair),
            "minute_taker": display_name(conference.minute_taker),
            "next_date": _date(conference.next_date),
        },
        "attendees": [
            {
                "agency": p.agency.name if p.agency else "",
                "role": str(_role(p)),
                "name": display_name(p.user),
            }
            for p in people
            if not p.apologies and (p.joined_at or p.acknowledged_at)
        ],
        "person_attended": "",
        "apologies": [
            {"agency": p.agency.name if p.agency else "", "name": display_name(p.user)}
            for p in people
            if p.apologies
        ],
        "acknowledgements": [
            {
                "agency": p.agency.name if p.agency else "",
                "name": display_name(p.user),
                "at": timezone.localtime(p.acknowledged_at).isoformat(timespec="minutes"),
            }
            for p in people
            if p.acknowledged_at
        ],
        "cases": cases,
        # Other business is written and read at the watch tier.
        "other": {
            "notes": _records(Note, conference, None),
            "decisions": _records(Decision, conference, None),
            "actions": [_action(a) for a in other_actions],
        },
    }


def _role(p: Any) -> Any:
    conference = p.conference
    if p.user_id == conference.chair_id:
        return _("Chair")
    if p.user_id == conference.minute_taker_id:
        return _("Minute-taker")
    return _("Member")


def _keep(rows: list[dict[str, Any]], tier: int) -> list[dict[str, Any]]:
    return [r for r in rows if r["tier"] <= tier]


def redact(content: dict[str, Any], tiers: dict[int, int]) -> dict[str, Any]:
    """The variant of `content` for an audience reading case c at `tiers[c]` (0 or absent: the
    case is left out, as if never on the agenda). Other business is read at the watch tier."""
    cases = []
    for case in content["cases"]:
        tier = tiers.get(case["case_id"], 0)
        if tier < Tier.WATCH:
            continue
        cases.append(
            {
                "case_id": case["case_id"],
                "label": case["label"],
                "tier": tier,
                "fields": {k: f for k, f in case["fields"].items() if f["tier"] <= tier},
                "notes": _keep(case["notes"], tier),
                "decisions": _keep(case["decisions"], tier),
                "actions": _keep(case["actions"], tier),
            }
        )
    other = content["other"]
    return {
        **content,
        "cases": cases,
        "other": {key: _keep(other[key], Tier.WATCH) for key in ("notes", "decisions", "actions")},
    }


def canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(content)).hexdigest()


def highest_tier(variant: dict[str, Any]) -> int:
    """The highest tier of anything a variant contains (for the disclosure ledger)."""
    found = [Tier.WATCH]
    for case in variant["cases"]:
        found += [f["tier"] for f in case["fields"].values() if f["text"]]
        found += [r["tier"] for key in ("notes", "decisions", "actions") for r in case[key]]
    return int(max(found))
