"""The unmet-needs report (政策提言) page and its downloads."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from casework import report_services
from casework.models import Case
from casework.report_charts import report_charts
from casework.reporting import PERIODS, Filters, fiscal_year_of, unmet_needs_report
from permissions import policy
from permissions.rls import council_report_context


def _filters(data: QueryDict) -> Filters:
    current = fiscal_year_of(timezone.now())
    try:
        fy = int(data.get("fy", current))
    except ValueError:
        fy = current
    fy = min(max(fy, 2000), current + 1)
    period = data.get("period", "month")
    coverage = data.get("coverage", "")
    return Filters(
        fy=fy,
        period=period if period in PERIODS else "month",
        coverage=coverage if coverage in Case.Coverage.values else "",
    )


def _allowed(request: HttpRequest) -> None:
    if not policy.can_view_reports(request.user):
        raise PermissionDenied


@login_required
def report(request: HttpRequest) -> HttpResponse:
    _allowed(request)
    filters = _filters(request.GET)
    with council_report_context(request.user):
        result = unmet_needs_report(filters)
    current = fiscal_year_of(timezone.now())
    return render(
        request,
        "reports/report.html",
        {
            "report": result,
            "charts": report_charts(result),
            "years": list(range(current, current - 6, -1)),
            "periods": PERIODS,
            "coverages": Case.Coverage.choices,
        },
    )


# A download writes the disclosure ledger, so it is a POST (a form on the report page), never a
# GET link that a prefetcher or a pasted address could trigger.
@require_POST
@login_required
def report_download(request: HttpRequest, fmt: str) -> HttpResponse:
    _allowed(request)
    if fmt not in ("csv", "pdf"):
        raise Http404
    filters = _filters(request.POST)
    with council_report_context(request.user):
        report = unmet_needs_report(filters)
    data = report_services.report_export(
        actor=request.user, report=report, fmt=fmt, request=request
    )
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/pdf"
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="unmet-needs-FY{filters.fy}-{filters.period}.{fmt}"'
    )
    response["Cache-Control"] = "no-store"
    return response
