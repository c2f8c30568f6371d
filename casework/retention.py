"""Retention: a closed case's personal content is removed once its retention period is over.

What goes and what stays (docs/deploy.md, "Retention"):

* removed: the household, the family timeline, watch-over (assignments, visits, evacuation
  plan, safety checks), consents, shares, break-glass grants, per-person rights, the concerns
  linked to the case, the preparation sheets; every text field of the case, and the text of
  its conference notes, decisions and action items (and their change history, reviews and
  notices);
* kept, without anything that names the person: the case row as a stub (reference, life
  area, need categories, coverage, opened and closed dates, lead coordinator) so that the
  unmet-needs statistics, the audit trail and the disclosure ledger still point at something;
  the rows of its notes, decisions and action items (tier, dates, status: follow-up figures);
  its place on conference agendas;
* kept untouched: the audit trail and the disclosure ledger (append-only), and approved
  minutes with their drafts: they are the conference's record, immutable and hashed, and
  their retention is the council's separate decision (the audit row counts them).

A case waits (is "held back") while a conference about it is not closed or one of its action
items is open: someone is still working on it. Each case is handled in its own transaction
and written to the audit log as one `retention` event; a second run finds nothing to do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from guardian.models import GroupObjectPermission, UserObjectPermission

from casework.models import (
    Case,
    ChronologyEntry,
    Concern,
    EvacuationPlan,
    HouseholdMember,
    SafetyMark,
    VisitLog,
    WatchAssignment,
)
from conferences.minutes.models import MinutesDraft, MinutesVersion
from conferences.models import (
    ActionChange,
    ActionItem,
    ActionReview,
    AgendaItem,
    Conference,
    ConferenceCase,
    ConferenceEvent,
    Decision,
    FollowupNotification,
    Note,
    PrepSheet,
)
from permissions.models import AuditEvent, BreakGlass, Consent, Share

# Who the audit log names for a run (no person runs it: cron or a timer does).
ACTOR_LABEL = "apply_retention"


def _retention_reason(closed_at: dt.datetime, days: int) -> str:
    # Written once, for every later reader of the audit trail: in the site's language (Japanese
    # by default), not in whatever language the command happened to run in.
    with translation.override(settings.LANGUAGE_CODE):
        return _("Closed on %(date)s; retention period %(days)s days.") % {
            "date": f"{timezone.localtime(closed_at):%Y-%m-%d}",
            "days": days,
        }


# The text fields of the case emptied on the stub (the label becomes the reference).
CASE_TEXT_FIELDS = (
    "address",
    "watch_notes",
    "disaster_needs",
    "summary",
    "situation",
    "issues",
    "support_plan",
    "health",
    "disability",
    "abuse",
    "finances",
    "search_text",
)
OPEN_CONFERENCE_STATES = (Conference.State.SCHEDULED, Conference.State.LIVE)

# What the command prints for each kind of row. The keys stay English in the audit event's
# detail (a stable record); people read the labels, in their language.
ROW_LABELS = {
    "household members": gettext_lazy("household members"),
    "watch-over visits": gettext_lazy("watch-over visits"),
    "timeline entries": gettext_lazy("timeline entries"),
    "watch-over assignments": gettext_lazy("watch-over assignments"),
    "evacuation plans": gettext_lazy("evacuation plans"),
    "safety checks": gettext_lazy("safety checks"),
    "concerns": gettext_lazy("concerns"),
    "shares": gettext_lazy("shares"),
    "consents": gettext_lazy("consents"),
    "emergency accesses": gettext_lazy("emergency accesses"),
    "per-person rights": gettext_lazy("per-person rights"),
    "per-group rights": gettext_lazy("per-group rights"),
    "preparation sheets": gettext_lazy("preparation sheets"),
    "follow-up notices": gettext_lazy("follow-up notices"),
    "notes": gettext_lazy("notes"),
    "decisions": gettext_lazy("decisions"),
    "action items": gettext_lazy("action items"),
    "action item changes": gettext_lazy("action item changes"),
    "action item reviews": gettext_lazy("action item reviews"),
    "live events": gettext_lazy("live events"),
    "agenda items": gettext_lazy("agenda items"),
    "conference titles": gettext_lazy("conference titles"),
}


@dataclass
class CasePlan:
    """What retention does (or would do) to one case: rows removed and rows emptied."""

    case_id: int
    reference: str
    closed_at: dt.datetime
    held_back: str = ""
    removed: dict[str, int] = field(default_factory=dict)
    emptied: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)


@dataclass
class RetentionReport:
    cutoff: dt.datetime
    days: int
    dry_run: bool
    cases: list[CasePlan] = field(default_factory=list)

    @property
    def purged(self) -> list[CasePlan]:
        return [plan for plan in self.cases if not plan.held_back]

    @property
    def held_back(self) -> list[CasePlan]:
        return [plan for plan in self.cases if plan.held_back]


def retention_cutoff(*, now: dt.datetime | None = None, days: int | None = None) -> dt.datetime:
    days = settings.RETENTION_CLOSED_CASE_DAYS if days is None else days
    if days < 1:
        raise ValueError(_("The retention period must be at least one day."))
    return (now or timezone.now()) - dt.timedelta(days=days)


def cases_due_for_retention(cutoff: dt.datetime) -> QuerySet[Case]:
    """Closed before the cutoff and not yet emptied. Nothing else: open cases, cases closed
    more recently and stubs are never touched."""
    return Case.objects.filter(
        status=Case.Status.CLOSED, closed_at__lt=cutoff, purged_at__isnull=True
    ).order_by("closed_at", "pk")


def _conference_ids(case: Case) -> set[int]:
    ids = set(ConferenceCase.objects.filter(case=case).values_list("conference_id", flat=True))
    ids |= set(AgendaItem.objects.filter(case=case).values_list("conference_id", flat=True))
    for model in (Note, Decision, ActionItem):
        ids |= set(
            model.objects.filter(case=case, conference__isnull=False).values_list(
                "conference_id", flat=True
            )
        )
    return ids


def _held_back(case: Case, conference_ids: set[int]) -> str:
    if Conference.objects.filter(pk__in=conference_ids, state__in=OPEN_CONFERENCE_STATES).exists():
        return _("a conference about the case is not closed")
    open_actions = ActionItem.objects.filter(
        case=case, status__in=ActionItem.OPEN_STATUSES, deleted_at__isnull=True
    )
    if open_actions.exists():
        return _("the case has open action items")
    return ""


def _object_permissions(case: Case) -> tuple[QuerySet[Any], QuerySet[Any]]:
    content_type = ContentType.objects.get_for_model(Case)
    where = {"content_type": content_type, "object_pk": str(case.pk)}
    return (
        UserObjectPermission.objects.filter(**where),
        GroupObjectPermission.objects.filter(**where),
    )


def _querysets(case: Case) -> tuple[dict[str, QuerySet[Any]], dict[str, QuerySet[Any]]]:
    """(rows to delete, rows whose text is emptied), in an order the foreign keys allow."""
    actions = ActionItem.objects.filter(case=case)
    user_perms, group_perms = _object_permissions(case)
    delete: dict[str, QuerySet[Any]] = {
        "household members": HouseholdMember.objects.filter(case=case),
        # Visits point at their timeline line (PROTECT): they go first.
        "watch-over visits": VisitLog.objects.filter(case=case),
        "timeline entries": ChronologyEntry.objects.filter(case=case),
        "watch-over assignments": WatchAssignment.objects.filter(case=case),
        "evacuation plans": EvacuationPlan.objects.filter(case=case),
        "safety checks": SafetyMark.objects.filter(case=case),
        "concerns": Concern.objects.filter(case=case),
        # Shares point at consents (PROTECT): shares first.
        "shares": Share.objects.filter(case=case),
        "consents": Consent.objects.filter(case=case),
        "emergency accesses": BreakGlass.objects.filter(case=case),
        "per-person rights": user_perms,
        "per-group rights": group_perms,
        "preparation sheets": PrepSheet.objects.filter(conference_case__case=case),
        "follow-up notices": FollowupNotification.objects.filter(action__in=actions),
    }
    empty: dict[str, QuerySet[Any]] = {
        "notes": Note.objects.filter(case=case),
        "decisions": Decision.objects.filter(case=case),
        "action items": actions,
        "action item changes": ActionChange.objects.filter(action__in=actions),
        "action item reviews": ActionReview.objects.filter(action__in=actions).exclude(note=""),
        "live events": ConferenceEvent.objects.filter(case=case),
        "agenda items": AgendaItem.objects.filter(case=case),
    }
    return delete, empty


def _kept(case: Case, conference_ids: set[int]) -> dict[str, int]:
    return {
        "minutes versions": MinutesVersion.objects.filter(conference_id__in=conference_ids).count(),
        "minutes drafts": MinutesDraft.objects.filter(conference_id__in=conference_ids).count(),
        "audit events": AuditEvent.objects.filter(case_id=case.pk).count(),
    }


def _plan(case: Case) -> CasePlan:
    if case.closed_at is None:  # cases_due_for_retention never yields one
        raise ValueError(f"{case.reference} has no closing date")
    conference_ids = _conference_ids(case)
    plan = CasePlan(case_id=case.pk, reference=case.reference, closed_at=case.closed_at)
    plan.held_back = _held_back(case, conference_ids)
    delete, empty = _querysets(case)
    plan.removed = {name: qs.count() for name, qs in delete.items()}
    plan.emptied = {name: qs.count() for name, qs in empty.items()}
    plan.emptied["conference titles"] = len(_new_conference_titles(case, conference_ids))
    plan.kept = _kept(case, conference_ids)
    return plan


def _new_conference_titles(case: Case, conference_ids: set[int]) -> dict[int, str]:
    """Conferences whose cases are all emptied (this one included) lose their title, which
    often names the household: the date and the references instead. Their minutes are kept
    as approved."""
    titles: dict[int, str] = {}
    for conference in Conference.objects.filter(pk__in=conference_ids).order_by("pk"):
        links = ConferenceCase.objects.filter(conference=conference).exclude(case=case)
        if links.filter(case__purged_at__isnull=True).exists():
            continue
        references = sorted(
            {case.reference} | {link.case.reference for link in links.select_related("case")}
        )
        title = f"{timezone.localdate(conference.starts_at):%Y-%m-%d} {' '.join(references)}"
        titles[conference.pk] = title[:200]
    return titles


@transaction.atomic
def _purge(case_id: int, cutoff: dt.datetime, days: int) -> CasePlan | None:
    # Locked and checked again: the case may have been reopened or purged meanwhile.
    case = (
        cases_due_for_retention(cutoff).select_for_update(of=("self",)).filter(pk=case_id).first()
    )
    if case is None:
        return None
    plan = _plan(case)
    if plan.held_back:
        return plan
    delete, _empty = _querysets(case)
    # Conference agendas keep the case's place, not the consent it relied on.
    ConferenceCase.objects.filter(case=case).update(consent=None)
    for qs in delete.values():
        qs.delete()
    Note.objects.filter(case=case).update(text="")
    Decision.objects.filter(case=case).update(text="")
    actions = ActionItem.objects.filter(case=case)
    ActionChange.objects.filter(action__in=actions).update(detail={})
    ActionReview.objects.filter(action__in=actions).update(note="")
    actions.update(title="", details="", completion_note="", reason_text="")
    ConferenceEvent.objects.filter(case=case).update(payload={"removed": "retention"})
    # Their headings name the case by its label, which becomes the reference below.
    AgendaItem.objects.filter(case=case).update(title="")
    for conference_id, title in _new_conference_titles(case, _conference_ids(case)).items():
        Conference.objects.filter(pk=conference_id).update(title=title)
    now = timezone.now()
    Case.objects.filter(pk=case.pk).update(
        label=case.reference,
        small_area=None,
        watch_over=False,
        disaster_support=False,
        purged_at=now,
        updated_at=now,
        **dict.fromkeys(CASE_TEXT_FIELDS, ""),
    )
    AuditEvent.objects.create(
        actor=None,
        actor_label=ACTOR_LABEL,
        action=AuditEvent.Action.RETENTION,
        case_id=case.pk,
        reason=_retention_reason(case.closed_at, days),
        detail={
            "reference": plan.reference,
            "closed_at": plan.closed_at.isoformat(),
            "retention_days": days,
            "removed": plan.removed,
            "emptied": plan.emptied,
            "kept": plan.kept,
        },
    )
    return plan


def retention_apply(
    *, dry_run: bool, now: dt.datetime | None = None, days: int | None = None
) -> RetentionReport:
    """Empty every closed case past its retention period (or, dry run, say what would go)."""
    days = settings.RETENTION_CLOSED_CASE_DAYS if days is None else days
    cutoff = retention_cutoff(now=now, days=days)
    report = RetentionReport(cutoff=cutoff, days=days, dry_run=dry_run)
    case_ids = list(cases_due_for_retention(cutoff).values_list("pk", flat=True))
    for case_id in case_ids:
        if dry_run:
            plan: CasePlan | None = _plan(Case.objects.get(pk=case_id))
        else:
            plan = _purge(case_id, cutoff, days)
        if plan is not None:
            report.cases.append(plan)
    return report


def retention_counts(plans: list[CasePlan]) -> dict[str, int]:
    """Totals over several cases, for the command's summary."""
    totals: dict[str, int] = {}
    for plan in plans:
        for name, count in {**plan.removed, **plan.emptied}.items():
            totals[name] = totals.get(name, 0) + count
    return totals
