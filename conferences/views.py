"""Conference pages. Every view starts with access_conference (or a scoped selector)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from casework.models import Case
from casework.views import form_errors_from
from conferences import selectors, services
from conferences.forms import (
    ApologyForm,
    AskAnswerForm,
    FeedbackForm,
    PrepAskForm,
    PrepSheetForm,
    ScheduleForm,
)
from conferences.minutes.selectors import minutes_panel
from conferences.models import (
    ActionItem,
    Conference,
    ConferenceCase,
    Feedback,
    Invitation,
    PrepAsk,
)
from permissions.audit import audit_record
from permissions.conference_access import access_conference
from permissions.conferences import ConferenceAccess, may_schedule, schedulable_cases
from permissions.models import Agency, AuditEvent, Tier


@login_required
def conference_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "conferences/conference_list.html",
        {
            "conferences": selectors.conference_list(request.user),
            "can_schedule": may_schedule(request.user),
        },
    )


@login_required
def conference_create(request: HttpRequest) -> HttpResponse:
    if not may_schedule(request.user):
        raise PermissionDenied
    cases = schedulable_cases(request.user).order_by("label")
    initial = {"token": services.new_schedule_token(), "chair": request.user.pk}
    for key in ("kind", "title"):
        if request.GET.get(key):
            initial[key] = request.GET[key]
    for key in ("cases", "agencies", "people"):
        if request.GET.getlist(key):
            initial[key] = request.GET.getlist(key)
    form = ScheduleForm(request.POST or None, cases=cases, initial=initial)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        children = set(d["children_cases"])
        try:
            conference = services.conference_schedule(
                actor=request.user,
                token=d["token"],
                kind=d["kind"],
                title=d["title"],
                starts_at=d["starts_at"],
                duration_minutes=d["duration_minutes"],
                place=d["place"],
                online_url=d["online_url"],
                chair=d["chair"],
                minute_taker=d["minute_taker"],
                cases=[services.CaseOnAgenda(c, c in children) for c in d["cases"]],
                agencies=list(d["agencies"]),
                people=list(d["people"]),
                member_tier=d["member_tier"],
                members_contribute=d["members_contribute"],
                confidentiality_statement=d["confidentiality_statement"],
                request=request,
            )
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("The conference is scheduled."))
            return redirect("conferences:conference-detail", conference.pk)
    return render(request, "conferences/conference_form.html", {"form": form})


def _prep_sections(access: ConferenceAccess, links: list[ConferenceCase]) -> list[dict]:
    """Each agenda case's preparation sheet, asks and moves, as this reader may see them."""
    conference = access.conference
    sections = []
    for link in links:
        asks = selectors.asks_for(access, link)
        sections.append(
            {
                "link": link,
                "sheet": link.prep if access.tier_for(link.case_id) >= link.prep.tier else None,
                "asks": asks,
                # The answer link only for those who may answer (the asked agency's writers).
                "answerable": {a.pk for a in asks if access.may_answer_ask(a, link.case_id)},
                "can_edit": access.may_edit_prep(link.case_id),
                "move": services.multilayer_move_status(link.case, conference)
                if access.is_manager and conference.kind == Conference.Kind.SUPPORT_MEETING
                else None,
            }
        )
    return sections


@login_required
def conference_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "view")
    conference = access.conference
    links = selectors.conference_cases(access) if access.acknowledged else []
    if links:
        _audit_case_views(request, access)
    prep = _prep_sections(access, links)
    return render(
        request,
        "conferences/conference_detail.html",
        {
            "access": access,
            "conference": conference,
            "prep": prep,
            "agenda": selectors.agenda_for(access) if access.acknowledged else [],
            "invitations": Invitation.objects.filter(conference=conference).select_related(
                "agency", "user"
            ),
            "attendance": selectors.attendance(conference),
            "apology_form": ApologyForm(),
            "community_issues": conference.community_issues.select_related("area"),
            "community_form": _community_form() if access.is_manager else None,
            "feedback_given": Feedback.objects.filter(
                conference=conference, user=request.user
            ).exists(),
            "minutes": minutes_panel(access),
        },
    )


@login_required
@require_POST
def conference_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "join")
    if request.POST.get("agree") != "yes":
        messages.error(request, _("Tick the box to acknowledge the confidentiality statement."))
        return redirect("conferences:conference-detail", pk)
    try:
        services.conference_acknowledge(actor=request.user, access=access)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("conferences:conference-detail", pk)
    return redirect("conferences:conference-live", pk)


def _audit_case_views(request: HttpRequest, access: ConferenceAccess) -> None:
    """Reading a conference page is reading its cases: one audit row per case shown."""
    for case in Case.objects.filter(pk__in=access.readable_case_ids):
        audit_record(
            actor=request.user,
            action=AuditEvent.Action.CASE_VIEW,
            case=case,
            tier=access.tier_for(case.pk),
            request=request,
            reason=f"conference {access.conference.pk}",
        )


@login_required
def conference_live(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "join")
    if not access.acknowledged:
        return redirect("conferences:conference-detail", pk)
    _audit_case_views(request, access)
    snap = selectors.snapshot(access)
    people, agencies = selectors.meeting_people(access.conference)
    agenda = selectors.agenda_for(access)
    max_tier = max(access.tiers.values(), default=Tier.WATCH) or Tier.WATCH
    writable_items = [i for i in agenda if access.may_write(i.case_id)]
    return render(
        request,
        "conferences/conference_live.html",
        {
            "access": access,
            "conference": access.conference,
            "snap": snap,
            "agenda": agenda,
            "current": snap["current_item"],
            "writable_items": writable_items,
            "tiers_json": json.dumps({str(k): v for k, v in access.tiers.items()}),
            "tier_choices": Tier.choices,
            # A writer chooses among the tiers they read; support is the default.
            "write_tiers": [(v, label) for v, label in Tier.choices if v <= max_tier],
            "default_tier": min(Tier.SUPPORT, max_tier),
            "people": people,
            "agencies": agencies,
            "read_only_notice": _read_only_notice(access, bool(writable_items)),
            "ws_path": f"/ws/conferences/{access.conference.pk}/",
            "not_done_reasons": ActionItem.NotDoneReason.choices,
        },
    )


def _read_only_notice(access: ConferenceAccess, writes: bool) -> str:
    """What the live page says to a reader who may write nothing, and why ("" for a writer);
    `writes`: whether any agenda item is open to them."""
    reason = access.read_only_reason() or (None if writes else "read_only")
    if reason == "closed":
        return _("The meeting is closed: no more changes.")
    if reason == "not_started":
        return _("The meeting has not started yet.")
    if reason == "read_only":
        return _("Your agency may read this meeting but not write in it.")
    return ""


@login_required
def prep_edit(request: HttpRequest, pk: int, link_pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "view")
    link = get_object_or_404(
        ConferenceCase.objects.select_related("case", "prep"), pk=link_pk, conference_id=pk
    )
    if access.tier_for(link.case_id) < 1:
        raise Http404
    if not access.may_edit_prep(link.case_id):
        raise PermissionDenied
    form = PrepSheetForm(request.POST or None, instance=link.prep)
    invited = Agency.objects.filter(
        pk__in=Invitation.objects.filter(conference_id=pk).values("agency_id")
    )
    ask_form = PrepAskForm(agencies=invited, max_tier=access.tier_for(link.case_id))
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        services.prep_sheet_update(actor=request.user, access=access, sheet=link.prep, **d)
        messages.success(request, _("The preparation sheet is saved."))
        return redirect("conferences:conference-detail", pk)
    return render(
        request,
        "conferences/prep_form.html",
        {
            "conference": access.conference,
            "link": link,
            "form": form,
            "ask_form": ask_form,
            # What was asked already, and what came back: the coordinator prepares from it.
            "asks": selectors.asks_for(access, link),
        },
    )


@login_required
@require_POST
def prep_ask_add(request: HttpRequest, pk: int, link_pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "view")
    link = get_object_or_404(
        ConferenceCase.objects.select_related("prep"), pk=link_pk, conference_id=pk
    )
    if access.tier_for(link.case_id) < 1:
        raise Http404
    if not access.may_edit_prep(link.case_id):
        raise PermissionDenied
    invited = Agency.objects.filter(
        pk__in=Invitation.objects.filter(conference_id=pk).values("agency_id")
    )
    form = PrepAskForm(request.POST, agencies=invited, max_tier=access.tier_for(link.case_id))
    if form.is_valid():
        services.prep_ask_add(
            actor=request.user, access=access, sheet=link.prep, **form.cleaned_data
        )
        messages.success(request, _("The ask is sent to the agency."))
    else:
        messages.error(request, _("The ask was not saved: check the agency, tier and text."))
    return redirect("conferences:prep-edit", pk, link_pk)


@login_required
def prep_ask_answer(request: HttpRequest, pk: int, ask_pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "view")
    ask = get_object_or_404(
        PrepAsk.objects.select_related("sheet__conference_case__case", "agency"),
        pk=ask_pk,
        sheet__conference_case__conference_id=pk,
    )
    case_id = ask.sheet.conference_case.case_id
    if not access.may_read_ask(ask, case_id):
        raise Http404
    if not access.may_answer_ask(ask, case_id):
        raise PermissionDenied
    form = AskAnswerForm(request.POST or None, initial={"answer": ask.answer})
    if request.method == "POST" and form.is_valid():
        services.prep_ask_answer(
            actor=request.user, access=access, ask=ask, answer=form.cleaned_data["answer"]
        )
        messages.success(request, _("Your answer is saved."))
        return redirect("conferences:conference-detail", pk)
    return render(
        request,
        "conferences/ask_answer.html",
        {"conference": access.conference, "ask": ask, "form": form},
    )


@login_required
@require_POST
def apologies(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "view")
    form = ApologyForm(request.POST)
    user = request.user
    if request.POST.get("user"):
        user = get_object_or_404(get_user_model(), pk=request.POST["user"])
    try:
        if not form.is_valid():
            raise ValidationError(_("The note is too long."))
        services.apologies_record(
            actor=request.user, access=access, user=user, note=form.cleaned_data["note"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Apologies recorded."))
    return redirect("conferences:conference-detail", pk)


@login_required
@require_POST
def conference_start(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "chair")
    try:
        services.conference_start(actor=request.user, access=access)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("conferences:conference-detail", pk)
    return redirect("conferences:conference-live", pk)


@login_required
@require_POST
def conference_close(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "chair")
    services.conference_close(actor=request.user, access=access)
    messages.success(request, _("The meeting is closed. Participants can now give feedback."))
    return redirect("conferences:conference-detail", pk)


@login_required
def feedback(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "feedback")
    existing = Feedback.objects.filter(conference=access.conference, user=request.user).first()
    form = FeedbackForm(request.POST or None, instance=existing)
    if request.method == "POST" and form.is_valid():
        try:
            services.feedback_give(actor=request.user, access=access, **form.cleaned_data)
        except ValidationError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, _("Thank you for your feedback."))
            return redirect("conferences:conference-detail", pk)
    # Before the meeting is closed the page says when feedback opens instead of offering a
    # form that the service would refuse.
    return render(
        request,
        "conferences/feedback_form.html",
        {"conference": access.conference, "form": form if access.conference.is_closed else None},
    )


@login_required
def feedback_results(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "manage")
    return render(
        request,
        "conferences/feedback_results.html",
        {
            "conference": access.conference,
            "results": selectors.feedback_results(access.conference),
            "answers": Feedback.Answer.choices,
        },
    )


@login_required
@require_POST
def move_to_multilayer(request: HttpRequest, pk: int, link_pk: int) -> HttpResponse:
    access = access_conference(request.user, pk, "manage")
    link = get_object_or_404(
        ConferenceCase.objects.select_related("case"), pk=link_pk, conference_id=pk
    )
    try:
        consent, missing = services.case_move_to_multilayer(
            actor=request.user, case=link.case, request=request
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("conferences:conference-detail", pk)
    if missing:
        messages.warning(
            request,
            _("Not covered by the consent (they stay support-meeting members): %(names)s")
            % {"names": "、".join(a.name for a in missing)},
        )
    messages.success(
        request,
        _("The shares now rest on the person's consent. Schedule the multi-layered meeting."),
    )
    # The new meeting's form starts from this meeting's invitees the consent covers.
    agencies, people = services.multilayer_invitees(
        case=link.case, conference=access.conference, consent=consent
    )
    query = urlencode(
        [("kind", Conference.Kind.MULTILAYER), ("cases", link.case_id)]
        + [("agencies", a.pk) for a in agencies]
        + [("people", p.pk) for p in people]
    )
    return redirect(f"{reverse('conferences:conference-create')}?{query}")


def _community_form() -> object:
    from conferences.forms import CommunityIssueForm

    return CommunityIssueForm()


@login_required
@require_POST
def community_issues(request: HttpRequest, pk: int) -> HttpResponse:
    """Tag (or untag) community issues (地域課題) for the unmet-needs report. Managers only."""
    from conferences.forms import CommunityIssueForm

    access = access_conference(request.user, pk, "manage")
    remove = request.POST.get("remove", "")
    if remove:
        if not remove.isdigit():
            raise Http404
        services.community_issue_untag(
            actor=request.user, conference=access.conference, pk=int(remove)
        )
    else:
        form = CommunityIssueForm(request.POST)
        if form.is_valid():
            services.community_issue_tag(
                actor=request.user, conference=access.conference, **form.cleaned_data
            )
            messages.success(request, _("Community issue recorded."))
    return redirect("conferences:conference-detail", pk)
