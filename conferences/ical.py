"""The private iCalendar feed of a user's follow-ups (RFC 5545, written by hand: no library).

No case text above the watch tier: a watch-tier item shows its title as the owner wrote it
and the case's name; any other item shows only "Follow-up #id" and a link."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from conferences.models import ActionItem
from conferences.reminders import mail_title
from permissions.models import Tier


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    out, chunk = [], ""
    for ch in line:
        if len((chunk + ch).encode()) > 73:
            out.append(chunk)
            chunk = " "
        chunk += ch
    out.append(chunk)
    return "\r\n".join(out)


def calendar_feed(user: Any, items: list[ActionItem], request: HttpRequest) -> str:
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Otagai//follow-ups//JA",
        "CALSCALE:GREGORIAN",
        "X-WR-CALNAME:Otagai",
    ]
    for item in items:
        summary = mail_title(item)
        if item.tier <= Tier.WATCH and item.case is not None:
            summary = f"{summary} ({item.case.label})"
        url = request.build_absolute_uri(reverse("followups:detail", args=[item.pk]))
        lines += [
            "BEGIN:VEVENT",
            f"UID:otagai-action-{item.pk}@otagai",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{item.due_on.strftime('%Y%m%d')}",
            f"SUMMARY:{_esc(summary)}",
            f"URL:{url}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
