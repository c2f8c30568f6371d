from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from casework.demo import DEMO_PASSWORD, USERS, seed_demo
from casework.demo import counts as counts_now
from casework.report_demo import seed_report_demo
from conferences.demo import seed_conferences


class Command(BaseCommand):
    help = gettext_lazy("Create (or complete) the demo data set. Safe to run more than once.")

    def handle(self, *args, **options) -> None:
        seed_demo()
        conferences = seed_conferences()
        report = seed_report_demo()
        counts = {**counts_now(), **conferences, **report}
        self.stdout.write(", ".join(f"{k}={v}" for k, v in counts.items()))
        self.stdout.write(_("Demo users (password for all: %s):") % DEMO_PASSWORD)
        for u in USERS:
            self.stdout.write(f"  {u.username:<14} {u.last} {u.first}  {u.title}")
