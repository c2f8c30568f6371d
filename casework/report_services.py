"""Exports of the unmet-needs report: every file is written to the disclosure ledger and the
audit trail. The files hold suppressed counts only (no case ids, names or free text)."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils.translation import gettext as _

from casework import pdf
from casework.report_charts import report_charts
from casework.reporting import Report, report_rows
from permissions import policy
from permissions.audit import audit_record
from permissions.models import Agency, AuditEvent, DisclosureRecord, Tier
from permissions.people import display_name

if TYPE_CHECKING:
    from django.http import HttpRequest


def report_csv(report: Report) -> bytes:
    """UTF-8 with a BOM, so that Excel in Japan opens it with the right encoding."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(report_rows(report))
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def report_pdf(report: Report, *, actor: Any, agency: Agency | None) -> bytes:
    return pdf.render_pdf(
        "reports/report.pdf.html",
        {
            **pdf.confidentiality(
                reader=actor,
                agency=agency,
                basis=str(DisclosureRecord.Basis.STATISTICS.label),
            ),
            "report": report,
            "charts": report_charts(report),
        },
        stylesheets=("reports/report.pdf.css",),
    )


def report_export(
    *, actor: Any, report: Report, fmt: str, request: HttpRequest | None = None
) -> bytes:
    if not policy.can_view_reports(actor):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    agency = Agency.objects.filter(pk=policy.primary_agency_id(actor) or 0).first()
    data = report_csv(report) if fmt == "csv" else report_pdf(report, actor=actor, agency=agency)
    what = f"unmet_needs_{fmt}"
    with transaction.atomic():
        DisclosureRecord.objects.create(
            actor=actor,
            actor_label=display_name(actor),
            agency=agency,
            kind=what,
            description=_("Unmet-needs report, FY%(fy)d (anonymised counts)")
            % {"fy": report.filters.fy},
            basis=DisclosureRecord.Basis.STATISTICS,
            case_ids=[],
            tier=Tier.WATCH,
            sha256=pdf.sha256(data),
        )
        audit_record(
            actor=actor,
            action=AuditEvent.Action.EXPORT,
            request=request,
            what=what,
            fiscal_year=report.filters.fy,
            period=report.filters.period,
            coverage=report.filters.coverage,
        )
    return data
