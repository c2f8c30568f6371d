"""Reminder mail for follow-ups (`manage.py send_reminders`), idempotent and cron-safe.

Each owner gets one digest a day of their items due within `DUE_SOON_DAYS` and overdue, in
their language. Every item mentioned is written to `ReminderSent` (unique per recipient and
key) *before* the mail goes out, in one transaction per recipient: a second run, or a run
alongside, finds the rows and sends nothing twice; a failed send rolls the rows back. Items
overdue by `ESCALATE_DAYS` go once to the case's lead coordinator. Mail carries titles only
for watch-tier items and never a case's text: the reader follows the link and signs in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from conferences.actions import user_language
from conferences.models import ActionItem, FollowupNotification, ReminderSent
from permissions.followups import actions_owned_by
from permissions.models import Tier

DUE_SOON_DAYS = 3
ESCALATE_DAYS = 14


@dataclass
class RunReport:
    digests: int = 0
    escalations: int = 0
    items: list[int] = field(default_factory=list)


def mail_title(action: ActionItem) -> str:
    """What a mail or a feed may say of an item: its title at the watch tier, else nothing."""
    if action.tier <= Tier.WATCH:
        return action.title
    return _("Follow-up #%(id)s (details in Otagai)") % {"id": action.pk}


def _claim(user: Any, key: str, action_ids: list[int]) -> bool:
    try:
        with transaction.atomic():
            ReminderSent.objects.create(user=user, key=key, actions=action_ids)
    except IntegrityError:
        return False
    return True


def _base_url() -> str:
    return settings.SITE_URL.rstrip("/")


def _digest(user: Any, today: dt.date) -> list[ActionItem]:
    horizon = today + dt.timedelta(days=DUE_SOON_DAYS)
    return list(
        actions_owned_by(user)
        .filter(status__in=ActionItem.OPEN_STATUSES, due_on__lte=horizon)
        .order_by("due_on", "pk")
    )


def send_reminders(*, today: dt.date | None = None) -> RunReport:
    today = today or timezone.localdate()
    report = RunReport()
    horizon = today + dt.timedelta(days=DUE_SOON_DAYS)
    due = ActionItem.objects.filter(
        deleted_at__isnull=True, status__in=ActionItem.OPEN_STATUSES, due_on__lte=horizon
    )
    User = get_user_model()
    owner_ids = set(due.exclude(owner_user=None).values_list("owner_user_id", flat=True))
    agency_ids = set(due.filter(owner_user=None).values_list("owner_agency_id", flat=True))
    recipients = User.objects.filter(is_active=True).filter(pk__in=owner_ids) | User.objects.filter(
        is_active=True, memberships__agency_id__in=agency_ids
    )
    for user in recipients.distinct().order_by("pk"):
        if not user.email:
            continue
        items = [a for a in _digest(user, today) if a.owner_user_id in (None, user.pk)]
        with transaction.atomic():
            fresh = [a for a in items if _claim(user, f"due:{a.pk}:{today.isoformat()}", [a.pk])]
            if not fresh:
                continue
            with translation.override(user_language(user)):
                lines = []
                for a in fresh:
                    late = (today - a.due_on).days
                    when = (
                        _("OVERDUE by %(n)s days") % {"n": late}
                        if late > 0
                        else _("due %(date)s") % {"date": a.due_on.isoformat()}
                    )
                    url = _base_url() + reverse("followups:detail", args=[a.pk])
                    lines.append(f"- {mail_title(a)} — {when}\n  {url}")
                subject = _("Otagai: %(n)s follow-ups due soon or overdue") % {"n": len(fresh)}
                body = _("Your follow-ups that are due within %(days)s days or overdue:") % {
                    "days": DUE_SOON_DAYS
                }
                send_mail(subject, body + "\n\n" + "\n".join(lines), None, [user.email])
            report.digests += 1
            report.items.extend(a.pk for a in fresh)
    _escalate(today, report)
    return report


def _escalate(today: dt.date, report: RunReport) -> None:
    limit = today - dt.timedelta(days=ESCALATE_DAYS)
    late = (
        ActionItem.objects.filter(
            deleted_at__isnull=True,
            status__in=ActionItem.OPEN_STATUSES,
            due_on__lte=limit,
            case__isnull=False,
        )
        .select_related("case__lead_coordinator")
        .order_by("case__lead_coordinator_id", "due_on", "pk")
    )
    by_lead: dict[Any, list[ActionItem]] = defaultdict(list)
    for a in late:
        lead = a.case.lead_coordinator if a.case else None
        if lead is not None and lead.is_active:
            by_lead[lead].append(a)
    for lead, items in by_lead.items():
        with transaction.atomic():
            fresh = [a for a in items if _claim(lead, f"escalate:{a.pk}", [a.pk])]
            if not fresh:
                continue
            for a in fresh:
                FollowupNotification.objects.create(
                    user=lead, action=a, kind=FollowupNotification.Kind.ESCALATED
                )
            if lead.email:
                with translation.override(user_language(lead)):
                    lines = [
                        f"- {mail_title(a)} — "
                        + _("due %(date)s") % {"date": a.due_on.isoformat()}
                        + f"\n  {_base_url()}{reverse('followups:detail', args=[a.pk])}"
                        for a in fresh
                    ]
                    send_mail(
                        _("Otagai: %(n)s follow-ups overdue by %(days)s days or more")
                        % {"n": len(fresh), "days": ESCALATE_DAYS},
                        _("Follow-ups on cases you lead that are long overdue:")
                        + "\n\n"
                        + "\n".join(lines),
                        None,
                        [lead.email],
                    )
            report.escalations += 1
