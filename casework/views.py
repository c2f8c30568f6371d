"""Case pages. Every view starts with access_case (or a scoped selector)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from casework import selectors, services
from casework.forms import (
    CaseFilterForm,
    CaseForm,
    ChronologyForm,
    ConsentForm,
    MemberForm,
    ShareForm,
)
from casework.tiers import MEMBER_FIELD_TIERS, fields_at, tier_sections
from casework.watch_services import audit_declared_reads
from permissions import services as share_services
from permissions.access import access_case
from permissions.audit import audit_record
from permissions.models import AuditEvent, Consent, Share
from permissions.policy import can_log_visit, can_open_cases

PAGE_SIZE = 25


def form_errors_from(form, exc: ValidationError) -> None:  # type: ignore[no-untyped-def]
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            for e in errors:
                form.add_error(field if field in form.fields else None, e)
    else:
        for e in exc.messages:
            form.add_error(None, e)


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    form = CaseFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = selectors.case_list_page(
        request.user,
        page=request.GET.get("page"),
        per_page=PAGE_SIZE,
        q=filters.get("q", ""),
        life_area=filters["life_area"].pk if filters.get("life_area") else None,
        category=filters["category"].pk if filters.get("category") else None,
        status=filters.get("status", ""),
    )
    selectors.case_page_extras(list(page.object_list))
    audit_declared_reads(
        actor=request.user,
        cases=[c for c in page.object_list if getattr(c, "via_declaration", False)],
        what="case_list",
        request=request,
    )
    searched = any(filters.get(k) for k in ("q", "life_area", "category", "status"))
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.CASE_SEARCH if searched else AuditEvent.Action.CASE_LIST,
        request=request,
        q=filters.get("q", ""),
        count=page.paginator.count,
        capped=page.paginator.capped,
    )
    querystring = request.GET.copy()
    querystring.pop("page", None)
    return render(
        request,
        "casework/case_list.html",
        {
            "form": form,
            "page": page,
            "querystring": querystring.urlencode(),
            "can_open": can_open_cases(request.user),
        },
    )


@login_required
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_case(request.user, pk, "view")
    case = access.case
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.CASE_VIEW,
        case=case,
        tier=access.tier,
        request=request,
        **access.audit_detail,  # emergency reads are reported on (break-glass, declaration)
    )
    sections = [
        (tier, [(case._meta.get_field(n).verbose_name, _field_value(case, n)) for n in names])
        for tier, names in tier_sections(access.tier)
    ]
    return render(
        request,
        "casework/case_detail.html",
        {
            "access": access,
            "case": case,
            "sections": sections,
            "members": selectors.case_members(case),
            "member_fields": fields_at(MEMBER_FIELD_TIERS, access.tier),
            "chronology": selectors.chronology_for(case, access.tier),
            "can_edit": access.allows("edit"),
            "can_contribute": access.allows("contribute"),
            "can_manage": access.allows("manage_shares"),
            "can_view_ledger": access.allows("view_audit"),
            "can_log_visit": can_log_visit(request.user, access),
        },
    )


def _field_value(case, name: str) -> str:  # type: ignore[no-untyped-def]
    if name == "need_categories":
        return "、".join(selectors.need_category_names(case)) or "—"
    field = case._meta.get_field(name)
    value = getattr(case, name)
    if field.choices:
        # As get_<name>_display(), without hashing (so translating) every label per call.
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return str(value) if value not in (None, "") else "—"


@login_required
def case_create(request: HttpRequest) -> HttpResponse:
    if not can_open_cases(request.user):
        raise PermissionDenied
    form = CaseForm(request.POST or None, tier=3)
    member_form = MemberForm(request.POST or None, tier=3, prefix="member")
    if request.method == "POST" and form.is_valid() and member_form.is_valid():
        data = dict(form.cleaned_data.items())
        try:
            case = services.case_open(
                actor=request.user,
                data=data,
                members=[member_form.cleaned_data],
                request=request,
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("The case has been opened."))
            return redirect("casework:case-detail", case.pk)
    return render(request, "casework/case_form.html", {"form": form, "member_form": member_form})


@login_required
def case_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_case(request.user, pk, "edit")
    form = CaseForm(request.POST or None, instance=access.case, tier=access.tier)
    if request.method == "POST" and form.is_valid():
        try:
            services.case_update(
                actor=request.user, access=access, data=form.cleaned_data, request=request
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("The case has been saved."))
            return redirect("casework:case-detail", pk)
    return render(request, "casework/case_form.html", {"form": form, "case": access.case})


@login_required
def member_edit(request: HttpRequest, pk: int, member_pk: int | None = None) -> HttpResponse:
    access = access_case(request.user, pk, "edit")
    member = get_object_or_404(access.case.members, pk=member_pk) if member_pk else None
    form = MemberForm(request.POST or None, instance=member, tier=access.tier)
    if request.method == "POST" and form.is_valid():
        try:
            services.member_save(
                actor=request.user,
                access=access,
                member=member,
                data={k: form.cleaned_data[k] for k in form.fields},
                request=request,
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("The household member has been saved."))
            return redirect("casework:case-detail", pk)
    return render(
        request, "casework/member_form.html", {"form": form, "case": access.case, "member": member}
    )


@login_required
def chronology_add(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_case(request.user, pk, "contribute")
    form = ChronologyForm(request.POST or None, tier=access.tier)
    if request.method == "POST" and form.is_valid():
        try:
            services.chronology_add(
                actor=request.user,
                access=access,
                request=request,
                occurred_on=form.cleaned_data["occurred_on"],
                text=form.cleaned_data["text"],
                tier=form.cleaned_data["tier"],
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("The timeline entry has been added."))
            return redirect("casework:case-detail", pk)
    return render(request, "casework/chronology_form.html", {"form": form, "case": access.case})


@login_required
def share_list(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_case(request.user, pk, "manage_shares")
    form = ShareForm(request.POST or None, case=access.case)
    if request.method == "POST" and form.is_valid():
        try:
            share_services.share_grant(
                actor=request.user, case=access.case, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("The share has been granted."))
            return redirect("casework:share-list", pk)
    return render(
        request,
        "casework/share_list.html",
        {
            "case": access.case,
            "shares": selectors.case_shares(access.case),
            "form": form,
            "has_valid_consent": selectors.case_has_valid_consent(access.case),
        },
    )


@login_required
def share_edit(request: HttpRequest, pk: int, share_pk: int) -> HttpResponse:
    access = access_case(request.user, pk, "manage_shares")
    share = get_object_or_404(Share.objects.select_related("agency"), pk=share_pk, case=access.case)
    initial = {
        "tier": share.tier,
        "basis": share.basis,
        "consent": share.consent_id,
        "may_contribute": share.may_contribute,
        "coordinates": share.coordinates,
        "expires_at": share.expires_at,
    }
    form = ShareForm(request.POST or None, case=access.case, editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            share_services.share_update(
                actor=request.user, share=share, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("The share has been changed."))
            return redirect("casework:share-list", pk)
    return render(
        request, "casework/share_form.html", {"case": access.case, "share": share, "form": form}
    )


@login_required
@require_POST
def share_revoke(request: HttpRequest, pk: int, share_pk: int) -> HttpResponse:
    access = access_case(request.user, pk, "manage_shares")
    share = get_object_or_404(Share, pk=share_pk, case=access.case)
    try:
        share_services.share_revoke(actor=request.user, share=share, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The share has been revoked."))
    return redirect("casework:share-list", pk)


@login_required
def consent_list(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_case(request.user, pk, "manage_consent")
    form = ConsentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            share_services.consent_record(
                actor=request.user,
                case=access.case,
                request=request,
                agencies=list(data["agencies"]),
                tier=data["tier"],
                given_on=data["given_on"],
                method=data["method"],
                expires_on=data["expires_on"],
                scope_note=data["scope_note"],
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("The consent has been recorded."))
            return redirect("casework:consent-list", pk)
    return render(
        request,
        "casework/consent_list.html",
        {"case": access.case, "consents": selectors.case_consents(access.case), "form": form},
    )


@login_required
@require_POST
def consent_withdraw(request: HttpRequest, pk: int, consent_pk: int) -> HttpResponse:
    access = access_case(request.user, pk, "manage_consent")
    consent = get_object_or_404(Consent, pk=consent_pk, case=access.case)
    cut_off = share_services.consent_withdraw(actor=request.user, consent=consent, request=request)
    if cut_off:
        messages.warning(
            request,
            _("Consent withdrawn. These agencies no longer have access: %(names)s")
            % {"names": "、".join(cut_off)},
        )
    else:
        messages.success(request, _("Consent withdrawn. No share rested on it."))
    return redirect("casework:consent-list", pk)


@login_required
def case_access_log(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_case(request.user, pk, "view_audit")
    # Recorded first: the page then lists this reading too, and the page count is exact.
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.AUDIT_VIEW,
        case=access.case,
        request=request,
    )
    events = Paginator(selectors.case_audit_events(access.case), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "casework/case_access_log.html", {"case": access.case, "page": events})
