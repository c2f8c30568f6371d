"""Remove the personal content of cases closed longer than the retention period.

Run it from cron or a systemd timer as the owner role (docs/deploy.md, "Retention"); safe to
run as often as you like: a case is emptied once.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from casework.retention import RetentionReport, retention_apply, retention_counts


class Command(BaseCommand):
    help = (
        "Empty closed cases past the retention period (RETENTION_CLOSED_CASE_DAYS): delete "
        "their personal content, keep a stub, the audit trail and the disclosure ledger."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print what would be removed; change nothing.",
        )
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Retention period in days (default: RETENTION_CLOSED_CASE_DAYS, "
            f"now {settings.RETENTION_CLOSED_CASE_DAYS}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = retention_apply(dry_run=options["dry_run"], days=options["days"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self._print(report)

    def _print(self, report: RetentionReport) -> None:
        verb = "would empty" if report.dry_run else "emptied"
        self.stdout.write(
            f"{'DRY RUN: ' if report.dry_run else ''}cases closed before "
            f"{report.cutoff:%Y-%m-%d %H:%M %Z} ({report.days} days)"
        )
        for plan in report.cases:
            if plan.held_back:
                self.stdout.write(f"  {plan.reference}: held back: {plan.held_back}")
                continue
            parts = ", ".join(
                f"{name} {count}"
                for name, count in {**plan.removed, **plan.emptied}.items()
                if count
            )
            self.stdout.write(
                f"  {plan.reference} (closed {plan.closed_at:%Y-%m-%d}): {verb}"
                + (f": {parts}" if parts else "")
            )
        totals = ", ".join(f"{n} {c}" for n, c in retention_counts(report.purged).items() if c)
        self.stdout.write(
            f"{verb} {len(report.purged)} case(s), held back {len(report.held_back)}"
            + (f"; rows: {totals}" if totals else "")
        )
