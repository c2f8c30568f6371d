"""Minutes pages. Every view starts with access_conference (or access_case)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from casework.views import form_errors_from
from conferences.minutes import selectors, services
from conferences.minutes.forms import MinutesDraftForm
from conferences.minutes.models import MinutesVersion
from permissions.access import access_case
from permissions.conference_access import access_conference
from permissions.conferences import ConferenceAccess
from permissions.minutes import may_edit_minutes, may_see_minutes_ledger, minutes_variant


def _reader(request: HttpRequest, pk: int) -> ConferenceAccess:
    access = access_conference(request.user, pk, "view")
    if not access.acknowledged:
        raise PermissionDenied  # content only after the confidentiality acknowledgement
    return access


def _version(access: ConferenceAccess, number: int) -> MinutesVersion:
    version = MinutesVersion.objects.filter(conference=access.conference, number=number).first()
    if version is None:
        raise Http404
    return version


@login_required
def minutes_draft(request: HttpRequest, pk: int) -> HttpResponse:
    access = _reader(request, pk)
    if not may_edit_minutes(access):
        raise PermissionDenied
    if not access.conference.is_closed:
        raise Http404
    draft = services.minutes_draft_create(conference=access.conference)
    form = MinutesDraftForm(request.POST or None, access=access, content=draft.content)
    if request.method == "POST" and form.is_valid():
        next_date = form.cleaned_data["next_date"]
        services.minutes_draft_update(
            actor=request.user,
            access=access,
            person_attended=form.cleaned_data["person_attended"],
            next_date=next_date.isoformat() if next_date else "",
            fields=form.field_texts(),
        )
        if "approve" not in request.POST:
            messages.success(request, _("Draft saved."))
            return redirect("conferences:minutes-draft", pk)
        try:
            version = services.minutes_approve(
                actor=request.user, access=access, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            form_errors_from(form, error)
        else:
            messages.success(request, _("Minutes approved (version %d).") % version.number)
            return redirect("conferences:minutes-version", pk, version.number)
    return render(
        request,
        "conferences/minutes/draft.html",
        {
            "access": access,
            "conference": access.conference,
            "form": form,
            "versions": selectors.minutes_versions(access.conference),
        },
    )


@login_required
def minutes_version(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    access = _reader(request, pk)
    version = _version(access, number)
    context, variants = selectors.version_for_reader(access, version)
    return render(
        request,
        "conferences/minutes/version.html",
        {
            "access": access,
            "conference": access.conference,
            "version": version,
            "versions": selectors.minutes_versions(access.conference),
            "variants": variants,
            "can_edit": may_edit_minutes(access),
            **context,
        },
    )


@login_required
@require_POST  # an export writes the disclosure ledger: never on a prefetch, crawl or replay
def minutes_pdf(request: HttpRequest, pk: int, number: int, variant: str) -> HttpResponse:
    access = _reader(request, pk)
    version = _version(access, number)
    chosen = minutes_variant(access, selectors.case_ids_of(version), variant)
    if chosen is None:
        raise Http404  # a variant one may not read does not exist for them
    data = services.minutes_export(
        actor=request.user, access=access, version=version, variant=chosen, request=request
    )
    response = HttpResponse(data, content_type="application/pdf")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    name = f"minutes-{pk}-v{number}-{chosen.key}-{stamp}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
def minutes_ledger(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "view")
    if not may_see_minutes_ledger(access):
        raise PermissionDenied
    return render(
        request,
        "conferences/minutes/ledger.html",
        {
            "conference": access.conference,
            "rows": selectors.ledger_for_conference(access.conference),
        },
    )


@login_required
def case_minutes_ledger(request: HttpRequest, case_pk: int) -> HttpResponse:
    case_access = access_case(request.user, case_pk, "view_audit")
    case = case_access.case
    return render(
        request,
        "conferences/minutes/ledger.html",
        {"case": case, "rows": selectors.ledger_for_case(case)},
    )
