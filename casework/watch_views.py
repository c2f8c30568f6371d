"""Watch-over, concerns, disaster support, safety checks and emergency access.

Every view starts with an access helper or a scoped selector; rules live in permissions/.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from casework import watch_selectors as selectors
from casework import watch_services as services
from casework.models import Case, Concern, SafetyMark
from casework.views import form_errors_from
from casework.watch_forms import (
    BreakGlassForm,
    BreakGlassReviewForm,
    ConcernForm,
    DeclarationEndForm,
    DeclarationForm,
    EvacuationPlanForm,
    SafetyMarkForm,
    TriageCloseForm,
    TriageLinkForm,
    TriageOpenForm,
    VisitForm,
    WatchAssignForm,
    supporter_agencies_for,
)
from permissions import emergency, policy, rls
from permissions.access import (
    access_break_glass,
    access_case,
    access_concern,
    access_declaration,
)
from permissions.audit import audit_record
from permissions.models import Area, AuditEvent, BreakGlass


def _posted(request: HttpRequest) -> Any:
    """The POST data on a POST (even an empty one: it must show errors), else None."""
    return request.POST if request.method == "POST" else None


@login_required
def watch_home(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "watch/home.html",
        {
            "can_triage": bool(policy.triage_area_ids(user)),
            "is_manager": policy.is_council_manager(user),
            "is_supporter": bool(policy.supporter_agencies(user)),
            "can_break_glass": policy.can_break_glass(user),
            "declarations": policy.active_declarations().prefetch_related("areas"),
            "reviews": selectors.break_glass_queue(user)
            .filter(review=BreakGlass.Review.PENDING)
            .count(),
        },
    )


# --- Concerns -------------------------------------------------------------------------------


@login_required
def concern_report(request: HttpRequest) -> HttpResponse:
    if not policy.can_report_concern(request.user):
        raise PermissionDenied
    form = ConcernForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            services.concern_report(actor=request.user, request=request, **form.cleaned_data)
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("Thank you. The council has received your report."))
            return redirect("watch:my-concerns")
    return render(request, "watch/concern_form.html", {"form": form})


@login_required
def my_concerns(request: HttpRequest) -> HttpResponse:
    return render(
        request, "watch/my_concerns.html", {"concerns": selectors.my_concerns(request.user)}
    )


@login_required
def concern_queue(request: HttpRequest) -> HttpResponse:
    if not policy.triage_area_ids(request.user):
        raise PermissionDenied
    show = request.GET.get("show", "open")
    concerns = selectors.concern_queue(request.user, status="done" if show == "done" else "open")
    return render(request, "watch/concern_queue.html", {"concerns": concerns, "show": show})


@login_required
def concern_triage(request: HttpRequest, pk: int) -> HttpResponse:
    concern = access_concern(request.user, pk, "triage")
    cases = policy.cases_visible_to(request.user).filter(life_area=concern.life_area)[:200]
    data = request.POST if request.method == "POST" else None
    action = request.POST.get("action", "")
    forms: dict[str, Any] = {
        "link": TriageLinkForm(data if action == "link" else None, cases=cases),
        "open": TriageOpenForm(
            data if action == "open" else None, initial={"label": concern.who or ""}
        ),
        "close": TriageCloseForm(data if action == "close" else None),
    }
    if request.method == "POST":
        try:
            if action == "take":
                services.concern_take(actor=request.user, concern=concern, request=request)
                return redirect("watch:concern-triage", pk)
            form = forms.get(action)
            if form is not None and form.is_valid():
                done = _triage(request, concern, action, form.cleaned_data)
                messages.success(request, _("The concern has been dealt with."))
                return done
        except ValidationError as exc:
            if action in forms:
                form_errors_from(forms[action], exc)
            else:
                messages.error(request, " ".join(exc.messages))
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.CONCERN_TRIAGE,
        request=request,
        concern=concern.pk,
        status="viewed",
    )
    return render(request, "watch/concern_triage.html", {"concern": concern, "forms": forms})


def _triage(request: HttpRequest, concern: Concern, action: str, data: dict) -> HttpResponse:
    if action == "link":
        services.concern_link(
            actor=request.user, concern=concern, case_pk=data["case"], request=request
        )
        return redirect("casework:case-detail", data["case"])
    if action == "open":
        case = services.concern_open_case(
            actor=request.user, concern=concern, label=data["label"], request=request
        )
        return redirect("casework:case-edit", case.pk)
    services.concern_close(
        actor=request.user, concern=concern, reason=data["reason"], request=request
    )
    return redirect("watch:concern-queue")


# --- Watch-over -----------------------------------------------------------------------------


def _area_param(request: HttpRequest) -> Area | None:
    value = request.GET.get("area", "")
    return Area.objects.filter(pk=value).first() if value.isdigit() else None


@login_required
def watch_register(request: HttpRequest) -> HttpResponse:
    area = _area_param(request)
    cases = list(selectors.watch_register(request.user, small_area=area.pk if area else None))
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.CASE_LIST,
        request=request,
        what="watch_register",
        count=len(cases),
    )
    pack_areas = sorted({(c.small_area_id, c.small_area.name) for c in cases if c.small_area})
    return render(
        request,
        "watch/register.html",
        {
            "cases": cases,
            "area": area,
            "areas": Area.objects.filter(parent__isnull=False),
            "pack_areas": pack_areas,
        },
    )


@login_required
def register_pack(request: HttpRequest, area_pk: int) -> HttpResponse:
    area = get_object_or_404(Area, pk=area_pk, parent__isnull=False)
    data = services.watch_register_export(actor=request.user, small_area=area, request=request)
    return _pdf_response(data, f"watch-register-{area.pk}")


def _pdf_response(data: bytes, name: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.pdf"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
def visit_add(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_case(request.user, pk, "view")
    if not policy.can_log_visit(request.user, access):
        raise PermissionDenied
    form = VisitForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            services.visit_log(
                actor=request.user, access=access, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("Thank you. The visit has been recorded."))
            return redirect("watch:register")
    return render(
        request,
        "watch/visit_form.html",
        {"form": form, "case": access.case, "visits": selectors.case_visits(access.case)},
    )


@login_required
def watch_assign(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_case(request.user, pk, "manage_shares")
    form = WatchAssignForm(_posted(request), agencies=supporter_agencies_for(access.case))
    if request.method == "POST":
        remove = request.POST.get("remove")
        if remove:
            assignment = get_object_or_404(access.case.watch_assignments, pk=remove)
            services.watch_unassign(
                actor=request.user, access=access, assignment=assignment, request=request
            )
            return redirect("watch:watch-assign", pk)
        if form.is_valid():
            try:
                services.watch_assign(
                    actor=request.user, access=access, request=request, **form.cleaned_data
                )
            except ValidationError as exc:
                form_errors_from(form, exc)
            else:
                messages.success(request, _("The watch-over has been assigned."))
                return redirect("watch:watch-assign", pk)
    assignments = access.case.watch_assignments.select_related("agency", "watcher")
    return render(
        request,
        "watch/watch_assign.html",
        {"form": form, "case": access.case, "assignments": assignments},
    )


# --- Disaster-support list ------------------------------------------------------------------


@login_required
def evacuation_plan(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_case(request.user, pk, "manage_consent")
    plan = selectors.plan_of(access.case)
    form = EvacuationPlanForm(_posted(request), instance=plan)
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in form.fields}
        try:
            services.evacuation_plan_save(
                actor=request.user, access=access, data=data, request=request
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("The evacuation plan has been saved."))
            return redirect("casework:case-detail", pk)
    return render(request, "watch/plan_form.html", {"form": form, "case": access.case})


def _audit_declared_reads(request: HttpRequest, entries: list[Case], what: str) -> None:
    declared = [c for c in entries if getattr(c, "declared", False)]
    services.audit_declared_reads(actor=request.user, cases=declared, what=what, request=request)


@login_required
def disaster_list(request: HttpRequest) -> HttpResponse:
    area = _area_param(request)
    entries = list(selectors.disaster_list(request.user, small_area=area.pk if area else None))
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.LIST_VIEW,
        request=request,
        what="disaster_list",
        count=len(entries),
    )
    _audit_declared_reads(request, entries, "disaster_list")
    areas = sorted({(c.small_area_id, c.small_area.name) for c in entries if c.small_area})
    return render(
        request,
        "watch/disaster_list.html",
        {
            "entries": entries,
            "area": area,
            "pack_areas": areas,
            "is_supporter": bool(policy.supporter_agencies(request.user)),
            "managed": selectors.disaster_list_managed(request.user)[:500],
        },
    )


@login_required
def disaster_pack(request: HttpRequest, area_pk: int) -> HttpResponse:
    area = get_object_or_404(Area, pk=area_pk, parent__isnull=False)
    if not policy.supporter_agencies(request.user):
        raise PermissionDenied
    data = services.disaster_pack_export(actor=request.user, small_area=area, request=request)
    return _pdf_response(data, f"disaster-list-{area.pk}")


# --- Declarations and safety check ----------------------------------------------------------


@login_required
def declaration_list(request: HttpRequest) -> HttpResponse:
    if not policy.is_council_manager(request.user):
        raise PermissionDenied
    form = DeclarationForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            declaration = emergency.declaration_start(
                actor=request.user,
                areas=list(form.cleaned_data["areas"]),
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.warning(
                request,
                _(
                    "Disaster declared. Designated supporters of these areas now see the "
                    "whole list."
                ),
            )
            return redirect("watch:declaration-detail", declaration.pk)
    return render(
        request,
        "watch/declaration_list.html",
        {"form": form, "declarations": selectors.declarations()},
    )


@login_required
def declaration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    declaration = access_declaration(request.user, pk, "manage")
    form = DeclarationEndForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            emergency.declaration_end(
                actor=request.user,
                declaration=declaration,
                note=form.cleaned_data["note"],
                request=request,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The declaration has ended. The list is closed again."))
        return redirect("watch:declaration-detail", pk)
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.REPORT_VIEW,
        request=request,
        report_of=declaration.pk,
    )
    with rls.council_report_context(request.user):  # every case under the declaration
        return render(
            request,
            "watch/declaration_detail.html",
            {
                "declaration": declaration,
                "form": form,
                "statuses": SafetyMark.Status.choices,
                **selectors.declaration_report(declaration),
            },
        )


@login_required
def safety_check(request: HttpRequest, pk: int) -> HttpResponse:
    declaration = access_declaration(request.user, pk, "check")
    entries = list(selectors.safety_list(request.user, declaration))
    for c in entries:
        c.declared = True  # type: ignore[attr-defined]
        # Without JavaScript, the form's own id makes a resubmitted mark count once.
        c.form_client_id = uuid.uuid4()  # type: ignore[attr-defined]
    _audit_declared_reads(request, entries, "safety_check")
    return render(
        request,
        "watch/safety_check.html",
        {"declaration": declaration, "entries": entries, "statuses": SafetyMark.Status.choices},
    )


def _mark_payload(request: HttpRequest) -> tuple[dict[str, Any], bool]:
    if request.content_type == "application/json":
        try:
            payload = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            raise ValidationError(_("The mark could not be read."))
        return payload, True
    return request.POST.dict(), False


@login_required
@require_POST
def safety_mark(request: HttpRequest, pk: int) -> HttpResponse:
    declaration = access_declaration(request.user, pk, "check")
    try:
        payload, as_json = _mark_payload(request)
    except ValidationError as exc:
        return JsonResponse({"ok": False, "errors": {"__all__": exc.messages}}, status=400)
    form = SafetyMarkForm(payload)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        data = form.cleaned_data
        marked_at = data["marked_at"] or parse_datetime(str(payload.get("marked_at", "")))
        mark, created = services.safety_mark(
            actor=request.user,
            declaration=declaration,
            case_pk=data["case"],
            status=data["status"],
            client_id=data["client_id"],
            evacuated_to=data["evacuated_to"],
            note=data["note"],
            marked_at=marked_at,
            request=request,
        )
    except ValidationError as exc:
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        if as_json:
            return JsonResponse({"ok": False, "errors": errors}, status=400)
        messages.error(request, " ".join(str(m) for v in errors.values() for m in v))
        return redirect("watch:safety-check", pk)
    if as_json:
        return JsonResponse({"ok": True, "created": created, "client_id": str(mark.client_id)})
    messages.success(request, _("Saved."))
    return redirect("watch:safety-check", pk)


@login_required
def safety_tally(request: HttpRequest, pk: int) -> HttpResponse:
    declaration = access_declaration(request.user, pk, "manage")
    with rls.council_report_context(request.user):
        tally = selectors.safety_tally(declaration)
    return render(
        request,
        "watch/safety_tally.html",
        {"declaration": declaration, "tally": tally, "statuses": SafetyMark.Status.choices},
    )


# --- Break-glass ----------------------------------------------------------------------------


@login_required
def break_glass(request: HttpRequest) -> HttpResponse:
    if not policy.can_break_glass(request.user):
        raise PermissionDenied
    form = BreakGlassForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        # The case does not exist for the professional yet: let its one row through.
        with rls.break_glass_lookup(request.user, form.cleaned_data["reference"]):
            case = (
                Case.objects.select_related("lead_coordinator")
                .filter(pk=form.cleaned_data["reference"])
                .first()
            )
            if case is None:
                audit_record(
                    actor=request.user,
                    action=AuditEvent.Action.ACCESS_DENIED,
                    request=request,
                    what="break_glass",
                    reference=form.cleaned_data["reference"],
                )
                form.add_error("reference", _("There is no case with this number."))
            else:
                try:
                    glass = emergency.break_glass_open(
                        actor=request.user,
                        case=case,
                        reason=form.cleaned_data["reason"],
                        hours=form.cleaned_data["hours"],
                        request=request,
                    )
                except ValidationError as exc:
                    form_errors_from(form, exc)
                else:
                    until = timezone.localtime(glass.expires_at).strftime("%H:%M")
                    messages.warning(
                        request,
                        _(
                            "Emergency access until %(until)s. The lead coordinator and the "
                            "council administrators have been alerted; "
                            "a coordinator will review it."
                        )
                        % {"until": until},
                    )
                    return redirect("casework:case-detail", case.pk)
    return render(request, "watch/break_glass_form.html", {"form": form})


@login_required
def break_glass_queue(request: HttpRequest) -> HttpResponse:
    if not policy.is_coordinator(request.user):
        raise PermissionDenied
    return render(
        request,
        "watch/break_glass_queue.html",
        {"glasses": selectors.break_glass_queue(request.user)},
    )


@login_required
def break_glass_review(request: HttpRequest, pk: int) -> HttpResponse:
    glass = access_break_glass(request.user, pk)
    form = BreakGlassReviewForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            emergency.break_glass_review(
                actor=request.user,
                glass=glass,
                decision=form.cleaned_data["decision"],
                note=form.cleaned_data["note"],
                request=request,
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("Thank you. The review has been recorded."))
            return redirect("watch:break-glass-queue")
    reads = AuditEvent.objects.filter(detail__break_glass=glass.pk).order_by("at")
    return render(
        request, "watch/break_glass_review.html", {"glass": glass, "form": form, "reads": reads}
    )
