"""Remove the personal content of cases closed longer than the retention period.

Run it from cron or a systemd timer as the owner role (docs/deploy.md, "Retention"); safe to
run as often as you like: a case is emptied once.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from casework.retention import ROW_LABELS, RetentionReport, retention_apply, retention_counts


class Command(BaseCommand):
    help = gettext_lazy(
        "Empty closed cases past the retention period (RETENTION_CLOSED_CASE_DAYS): delete "
        "their personal content, keep a stub, the audit trail and the disclosure ledger."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Print what would be removed; change nothing."),
        )
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=_("Retention period in days (default: RETENTION_CLOSED_CASE_DAYS, now %d).")
            % settings.RETENTION_CLOSED_CASE_DAYS,
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = retention_apply(dry_run=options["dry_run"], days=options["days"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self._print(report)

    def _print(self, report: RetentionReport) -> None:
        self.stdout.write(
            (_("DRY RUN: ") if report.dry_run else "")
            + _("cases closed before %(cutoff)s (%(days)d days)")
            % {"cutoff": f"{report.cutoff:%Y-%m-%d %H:%M %Z}", "days": report.days}
        )
        for plan in report.cases:
            if plan.held_back:
                self.stdout.write(
                    "  "
                    + _("%(reference)s: held back: %(reason)s")
                    % {"reference": plan.reference, "reason": plan.held_back}
                )
                continue
            parts = _rows({**plan.removed, **plan.emptied})
            line = (
                _("%(reference)s (closed %(closed)s): would empty")
                if report.dry_run
                else _("%(reference)s (closed %(closed)s): emptied")
            ) % {"reference": plan.reference, "closed": f"{plan.closed_at:%Y-%m-%d}"}
            self.stdout.write("  " + line + (f": {parts}" if parts else ""))
        totals = _rows(retention_counts(report.purged))
        summary = (
            _("would empty %(emptied)d case(s), held back %(held)d")
            if report.dry_run
            else _("emptied %(emptied)d case(s), held back %(held)d")
        ) % {"emptied": len(report.purged), "held": len(report.held_back)}
        self.stdout.write(summary + ((_("; rows: ") + totals) if totals else ""))


def _rows(counts: dict[str, int]) -> str:
    return ", ".join(
        f"{ROW_LABELS.get(name, name)} {count}" for name, count in counts.items() if count
    )
