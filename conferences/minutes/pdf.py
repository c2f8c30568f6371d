"""The PDF of one variant of approved minutes, through the shared WeasyPrint machinery
(casework/pdf.py, templates/pdf/_base.html with IPAex Gothic embedded)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from conferences.minutes import content as minutes_content
from conferences.minutes.models import MinutesVersion
from permissions.conferences import ConferenceAccess
from permissions.minutes import Variant
from permissions.models import Agency


def render_minutes_pdf(
    *, actor: Any, access: ConferenceAccess, version: MinutesVersion, variant: Variant
) -> tuple[bytes, dict[str, Any]]:
    from casework import pdf

    redacted = minutes_content.redact(version.content, variant.tiers)
    agency = Agency.objects.filter(pk=access.agency_id or 0).first()
    basis = _("%(basis)s. Audience: %(audience)s. Version %(n)d, SHA-256 %(sha)s") % {
        "basis": version.conference.legal_basis,
        "audience": variant.label,
        "n": version.number,
        "sha": version.sha256[:16],
    }
    data = pdf.render_pdf(
        "conferences/minutes/minutes.pdf.html",
        {
            **pdf.confidentiality(reader=actor, agency=agency, basis=basis),
            **minutes_context(redacted),
            "version": version,
            "variant": variant,
            "list_mark": "・",
        },
        stylesheets=("conferences/minutes/minutes.pdf.css",),
    )
    return data, redacted


def minutes_context(redacted: dict[str, Any]) -> dict[str, Any]:
    """Template context shared by the page and the PDF: labels and era dates added."""
    import datetime as dt

    from conferences.minutes.era import wareki

    meeting = redacted["meeting"]

    def day(value: str) -> str:
        return wareki(dt.date.fromisoformat(value)) if value else ""

    cases = []
    for case in redacted["cases"]:
        fields = [
            {"key": k, "label": minutes_content.FIELD_LABELS[k], **f}
            for k, f in case["fields"].items()
        ]
        actions = [{**a, "due_ja": day(a["due"])} for a in case["actions"]]
        cases.append({**case, "field_list": fields, "actions": actions})
    other = redacted["other"]
    return {
        "minutes": redacted,
        "meeting": meeting,
        "meeting_date_ja": day(meeting["date"]),
        "next_date_ja": day(meeting["next_date"]),
        "cases": cases,
        "other": {**other, "actions": [{**a, "due_ja": day(a["due"])} for a in other["actions"]]},
    }
