"""Email follow-up reminders and escalations. Safe to run from cron as often as you like."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from conferences.reminders import send_reminders


class Command(BaseCommand):
    help = gettext_lazy(
        "Email each owner a digest of follow-ups due within 3 days or overdue; escalate."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = send_reminders()
        self.stdout.write(
            _("digests: %(digests)d, escalations: %(escalations)d, items: %(items)d")
            % {
                "digests": report.digests,
                "escalations": report.escalations,
                "items": len(report.items),
            }
        )
