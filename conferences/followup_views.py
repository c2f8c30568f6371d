"""Follow-up pages: my follow-ups, one item (history, status), new item from a case page, the
coordinator overview, the private calendar feed. Each view first asks `permissions`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from casework.views import form_errors_from
from conferences import actions, followup_selectors
from conferences.followup_forms import ActionForm, ReassignForm, StatusForm
from conferences.ical import calendar_feed
from conferences.models import ActionItem
from permissions import rls
from permissions.access import access_case
from permissions.audit import audit_record
from permissions.followups import access_action, is_followup_coordinator
from permissions.models import Agency, Area, AuditEvent, Share


def _case_owners(case):  # type: ignore[no-untyped-def]
    agencies = Agency.objects.filter(
        pk__in=Share.objects.filter(Share.active_q(), case=case).values("agency_id")
    ).order_by("name")
    people = (
        get_user_model()
        .objects.filter(is_active=True, memberships__agency__in=agencies)
        .distinct()
        .prefetch_related("memberships__agency")
        .order_by("last_name", "first_name")
    )
    return people, agencies


def _reason_label(item: ActionItem) -> str:
    if not item.status_reason:
        return ""
    return str(dict(ActionItem.NotDoneReason.choices).get(item.status_reason, ""))


@login_required
def my_followups(request: HttpRequest) -> HttpResponse:
    notices = list(followup_selectors.unread_notices(request.user))
    actions.notifications_mark_read(user=request.user)
    return render(
        request,
        "conferences/followups.html",
        {
            "items": followup_selectors.my_followups(request.user),
            "notices": notices,
            "is_coordinator": is_followup_coordinator(request.user),
        },
    )


@login_required
def action_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_action(request.user, pk)
    item = access.action
    if item.case is not None:
        # Reading an item reads its case at the item's tier: on the case's access log.
        audit_record(
            actor=request.user,
            action=AuditEvent.Action.CASE_VIEW,
            case=item.case,
            tier=item.tier,
            request=request,
            action_item=item.pk,
        )
    form = StatusForm(initial={"status": item.status, "version": item.version})
    return render(
        request,
        "conferences/action_detail.html",
        {
            "item": item,
            "access": access,
            "form": form,
            "history": followup_selectors.history(item),
            "overdue": item.is_overdue(),
            "reason_label": _reason_label(item),
        },
    )


@login_required
@require_POST
def action_status(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_action(request.user, pk, "update")
    form = StatusForm(request.POST)
    status_code = 400
    if form.is_valid():
        try:
            actions.action_set_status(
                actor=request.user,
                action=access.action,
                status=form.cleaned_data["status"],
                base_version=form.cleaned_data["version"],
                reason=form.cleaned_data["reason"],
                reason_text=form.cleaned_data["reason_text"],
                note=form.cleaned_data["note"],
            )
        except actions.ActionConflict as conflict:
            status_code = 409
            form.add_error(
                None,
                _(
                    "Someone else changed this item a moment ago (now: %(status)s). Nothing "
                    "was saved: check it and try again."
                )
                % {"status": conflict.current.get_status_display()},
            )
            access.action = conflict.current
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("Status saved."))
            nxt = request.POST.get("next", "")
            if not url_has_allowed_host_and_scheme(nxt, {request.get_host()}):
                nxt = reverse("followups:detail", args=[pk])
            return redirect(nxt)
    response = render(
        request,
        "conferences/action_detail.html",
        {
            "item": access.action,
            "access": access,
            "form": form,
            "history": followup_selectors.history(access.action),
            "overdue": access.action.is_overdue(),
            "reason_label": _reason_label(access.action),
        },
    )
    response.status_code = status_code
    return response


@login_required
def action_create(request: HttpRequest, case_pk: int) -> HttpResponse:
    access = access_case(request.user, case_pk, "contribute")
    people, agencies = _case_owners(access.case)
    form = ActionForm(request.POST or None, people=people, agencies=agencies)
    form.fields["tier"].choices = [c for c in form.fields["tier"].choices if c[0] <= access.tier]  # type: ignore[attr-defined]
    if request.method == "POST" and form.is_valid():
        try:
            item = actions.action_create(actor=request.user, access=access, **form.cleaned_data)
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("Follow-up added."))
            return redirect("followups:detail", item.pk)
    return render(
        request,
        "conferences/action_form.html",
        {"form": form, "case": access.case},
        status=400 if form.errors else 200,
    )


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    if not is_followup_coordinator(request.user):
        raise PermissionDenied
    filters = {k: request.GET.get(k, "") for k in ("area", "agency", "owner", "status", "overdue")}
    items = followup_selectors.overview(request.user, filters)
    form = ReassignForm(
        request.POST or None,
        actions=items,
        people=get_user_model()
        .objects.filter(is_active=True, memberships__isnull=False)
        .distinct()
        .prefetch_related("memberships__agency")
        .order_by("last_name", "first_name"),
        agencies=Agency.objects.filter(is_active=True).order_by("name"),
    )
    if request.method == "POST" and form.is_valid():
        for item in form.cleaned_data["actions"]:
            access_action(request.user, item.pk, "reassign")
        try:
            moved = actions.action_reassign(
                actor=request.user,
                actions=form.cleaned_data["actions"],
                owner_user=form.cleaned_data["owner_user"],
                owner_agency=form.cleaned_data["owner_agency"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("%(n)s items reassigned.") % {"n": len(moved)})
            return redirect(request.get_full_path())
    return render(
        request,
        "conferences/followup_overview.html",
        {
            "items": items,
            "form": form,
            "filters": filters,
            "areas": Area.objects.filter(parent__isnull=True).order_by("name"),
            "agencies": Agency.objects.filter(is_active=True).order_by("name"),
            "statuses": ActionItem.Status.choices,
        },
        status=400 if form.errors else 200,
    )


@login_required
def calendar_settings(request: HttpRequest) -> HttpResponse:
    token = None
    if request.method == "POST":
        if request.POST.get("do") == "revoke":
            actions.calendar_token_revoke(user=request.user)
            messages.success(request, _("The calendar link no longer works."))
        else:
            token = actions.calendar_token_regenerate(user=request.user)
    url = (
        request.build_absolute_uri(reverse("followups:calendar-feed", args=[token]))
        if token
        else ""
    )
    return render(request, "conferences/calendar_settings.html", {"feed_url": url})


def calendar(request: HttpRequest, token: str) -> HttpResponse:
    user = actions.calendar_user(token)
    if user is None:
        raise Http404
    rls.set_reader(user)  # no session: the feed's token names the reader
    body = calendar_feed(user, followup_selectors.calendar_items(user), request)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response
