"""Who reads which variant of approved minutes.

A variant is a map case id -> tier; `conferences.minutes.content.redact` applies it to the
version's snapshot. The variants:

- ``mine``: the reader's own tiers (what they read of each case now);
- ``watch`` / ``support`` / ``sensitive``: every case at that tier, for a reader who reads every
  case of the minutes at least at that tier (the watch variant is the one for residents' groups);
- ``agency-<id>``: what agency <id>'s active shares allow, never more than the reader's own
  tiers; for the conference's managers (coordinators) about an invited agency, and for members
  of that agency.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from permissions.conferences import ConferenceAccess
from permissions.models import Agency, Share, Tier
from permissions.policy import agency_ids

TIER_VARIANTS = {"watch": Tier.WATCH, "support": Tier.SUPPORT, "sensitive": Tier.SENSITIVE}


@dataclass
class Variant:
    key: str
    label: str
    tiers: dict[int, int]
    agency: Agency | None = None


def _tier_label(tier: Tier) -> str:
    return str(_("%(tier)s tier") % {"tier": tier.label})


def agency_tiers(agency_id: int, case_ids: list[int]) -> dict[int, int]:
    tiers = dict.fromkeys(case_ids, 0)
    for case_id, tier in Share.objects.filter(
        Share.active_q(), agency_id=agency_id, case_id__in=case_ids
    ).values_list("case_id", "tier"):
        tiers[case_id] = max(tiers[case_id], tier)
    return tiers


def minutes_variants(access: ConferenceAccess, case_ids: list[int]) -> list[Variant]:
    """The variants this reader may read of minutes about `case_ids`, their own first."""
    mine = {cid: access.tier_for(cid) for cid in case_ids}
    variants = [Variant("mine", str(_("My copy")), mine)]
    floor = min(mine.values(), default=Tier.SENSITIVE)
    for key, tier in TIER_VARIANTS.items():
        if tier <= floor:
            variants.append(Variant(key, _tier_label(tier), dict.fromkeys(case_ids, int(tier))))
    mine_agencies = agency_ids(access.user)
    invited = {i.agency_id for i in access.conference.invitations.all()}
    candidates = invited if access.is_manager else invited & set(mine_agencies)
    for agency in Agency.objects.filter(pk__in=candidates).order_by("name"):
        theirs = agency_tiers(agency.pk, case_ids)
        capped = {cid: min(theirs[cid], mine[cid]) for cid in case_ids}
        label = str(_("For %(agency)s") % {"agency": agency.name})
        variants.append(Variant(f"agency-{agency.pk}", label, capped, agency))
    return variants


def minutes_variant(access: ConferenceAccess, case_ids: list[int], key: str) -> Variant | None:
    return next((v for v in minutes_variants(access, case_ids) if v.key == key), None)


def may_edit_minutes(access: ConferenceAccess) -> bool:
    return access.is_chair


def may_see_minutes_ledger(access: ConferenceAccess) -> bool:
    return access.is_manager
