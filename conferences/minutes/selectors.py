"""Reads of minutes, scoped to the reader."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from conferences.minutes import content as minutes_content
from conferences.minutes.models import MinutesDraft, MinutesExport, MinutesVersion
from conferences.minutes.pdf import minutes_context
from conferences.models import Conference
from permissions.conferences import ConferenceAccess
from permissions.minutes import Variant, minutes_variants


def minutes_versions(conference: Conference) -> list[MinutesVersion]:
    return list(
        MinutesVersion.objects.filter(conference=conference)
        .select_related("approved_by")
        .order_by("number")
    )


def minutes_draft(conference: Conference) -> MinutesDraft | None:
    return MinutesDraft.objects.filter(conference=conference).first()


def case_ids_of(version: MinutesVersion) -> list[int]:
    return [c["case_id"] for c in version.content["cases"]]


def version_for_reader(
    access: ConferenceAccess, version: MinutesVersion
) -> tuple[dict[str, Any], list[Variant]]:
    """The reader's own variant of `version` (ready for the template) and every variant they
    may export."""
    variants = minutes_variants(access, case_ids_of(version))
    redacted = minutes_content.redact(version.content, variants[0].tiers)
    return minutes_context(redacted), variants


def minutes_panel(access: ConferenceAccess) -> dict[str, Any] | None:
    """For the conference page: the latest approved version in the reader's variant."""
    versions = minutes_versions(access.conference)
    if not versions or not access.acknowledged:
        return None
    latest = versions[-1]
    context, variants = version_for_reader(access, latest)
    return {"version": latest, "versions": versions, "variants": variants, **context}


def ledger_for_conference(conference: Conference) -> QuerySet[MinutesExport]:
    return (
        MinutesExport.objects.filter(version__conference=conference)
        .select_related("version", "disclosure", "audience_agency")
        .order_by("-disclosure__at", "-pk")
    )


def ledger_for_case(case: Any) -> list[MinutesExport]:
    """Exports of minutes that included this case (a per-agency copy may have left it out)."""
    rows = (
        MinutesExport.objects.filter(version__conference__items__case=case)
        .select_related("version__conference", "disclosure", "audience_agency")
        .order_by("-disclosure__at", "-pk")
        .distinct()
    )
    return [row for row in rows if case.pk in row.disclosure.case_ids]
