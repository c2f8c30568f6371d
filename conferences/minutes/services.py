"""State changes of minutes: draft at close, chair's edits, approval into an immutable version,
export of a variant as PDF (disclosure ledger and audit trail)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences.minutes import content as minutes_content
from conferences.minutes.models import MinutesDraft, MinutesExport, MinutesVersion
from conferences.models import Conference
from permissions.audit import audit_record
from permissions.conferences import ConferenceAccess
from permissions.minutes import Variant, may_edit_minutes
from permissions.models import AuditEvent, DisclosureRecord
from permissions.people import display_name


def minutes_draft_create(*, conference: Conference) -> MinutesDraft:
    """Assemble the draft from the closed conference (once; later closes keep the edits)."""
    draft, _created = MinutesDraft.objects.get_or_create(
        conference=conference,
        defaults={"content": minutes_content.assemble(conference)},
    )
    return draft


@transaction.atomic
def minutes_draft_update(
    *,
    actor: Any,
    access: ConferenceAccess,
    person_attended: str,
    next_date: str,
    fields: dict[tuple[int, str], str],
) -> MinutesDraft:
    """The chair's edits. Only fields of cases the chair reads at their tier are taken."""
    if not may_edit_minutes(access):
        raise PermissionDenied
    conference = access.conference
    if not conference.is_closed:
        raise ValidationError(_("Minutes are written once the meeting is closed."))
    draft = MinutesDraft.objects.select_for_update().get(
        pk=minutes_draft_create(conference=conference).pk
    )
    content = draft.content
    content["person_attended"] = person_attended
    content["meeting"]["next_date"] = next_date
    for case in content["cases"]:
        tier = access.tier_for(case["case_id"])
        for key, field in case["fields"].items():
            if (case["case_id"], key) in fields and field["tier"] <= tier:
                field["text"] = fields[(case["case_id"], key)]
    draft.content = content
    draft.updated_at = timezone.now()
    draft.updated_by = actor
    draft.save(update_fields=["content", "updated_at", "updated_by"])
    return draft


@transaction.atomic
def minutes_approve(*, actor: Any, access: ConferenceAccess, reason: str = "") -> MinutesVersion:
    """Freeze the draft as the next version. A correction (any version after the first) needs
    a reason; earlier versions stay as they were."""
    if not may_edit_minutes(access):
        raise PermissionDenied
    conference = Conference.objects.select_for_update().get(pk=access.conference.pk)
    if not conference.is_closed:
        raise ValidationError(_("Minutes are approved once the meeting is closed."))
    draft = minutes_draft_create(conference=conference)
    last = conference.minutes_versions.aggregate(n=Max("number"))["n"] or 0
    reason = reason.strip()
    if last and not reason:
        raise ValidationError(_("A correction needs a reason."))
    snapshot = draft.content
    version = MinutesVersion.objects.create(
        conference=conference,
        number=last + 1,
        content=snapshot,
        sha256=minutes_content.content_hash(snapshot),
        reason=reason,
        approved_by=actor,
        approved_by_label=display_name(actor),
    )
    if conference.state != Conference.State.MINUTES_APPROVED:
        conference.state = Conference.State.MINUTES_APPROVED
        conference.save(update_fields=["state"])
    # The trail says who froze which text (its hash), and why a correction was made.
    audit_record(
        actor=actor,
        action=AuditEvent.Action.MINUTES_APPROVE,
        reason=reason,
        conference=conference.pk,
        version=version.number,
        sha256=version.sha256,
    )
    return version


def minutes_export(
    *,
    actor: Any,
    access: ConferenceAccess,
    version: MinutesVersion,
    variant: Variant,
    request: HttpRequest | None = None,
) -> bytes:
    """The PDF of one variant of one version, for `actor`; written to the disclosure ledger
    and the audit trail in one transaction."""
    from casework import pdf
    from conferences.minutes.pdf import render_minutes_pdf

    data, redacted = render_minutes_pdf(
        actor=actor, access=access, version=version, variant=variant
    )
    case_ids = [c["case_id"] for c in redacted["cases"]]
    tier = minutes_content.highest_tier(redacted)
    audience = variant.agency.name if variant.agency else variant.label
    with transaction.atomic():
        record = DisclosureRecord.objects.create(
            actor=actor,
            actor_label=display_name(actor),
            agency_id=access.agency_id,
            kind="minutes_pdf",
            description=_("Minutes of %(title)s, version %(n)d, %(audience)s")
            % {"title": version.conference.title, "n": version.number, "audience": audience},
            basis=DisclosureRecord.Basis.SHARE,
            case_ids=case_ids,
            tier=tier,
            sha256=pdf.sha256(data),
        )
        MinutesExport.objects.create(
            version=version,
            disclosure=record,
            variant=variant.key,
            audience_agency=variant.agency,
        )
        audit_record(
            actor=actor,
            action=AuditEvent.Action.EXPORT,
            tier=tier,
            request=request,
            what="minutes_pdf",
            conference=version.conference_id,
            version=version.number,
            variant=variant.key,
        )
    return data
