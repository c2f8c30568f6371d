"""Set-up shared by the one-process cost benchmarks (live_op_cost.py, presence_cost.py): Django
on DATABASE_URL (or a fresh SQLite file under var/), migrated, and one conference of five
participants made as live_fanout.py makes them."""

from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Meeting:
    conference: Any
    user: Any  # its first participant
    access: Any  # that participant's access (permissions.conferences)
    cookies: Any  # as live_fanout.make_data gives them
    run: str  # the token in the participants' user names


def setup(sqlite_name: str) -> Meeting:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if not os.environ.get("DATABASE_URL"):
        db_file = ROOT / "var" / f"{sqlite_name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{db_file}"

    import django

    django.setup()

    import live_fanout as lf
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from conferences.models import Conference
    from permissions.conferences import conference_access

    call_command("migrate", verbosity=0)
    run = uuid.uuid4().hex[:6]
    [(pk, cookies)] = lf.make_data(1, 5, run)
    conference = Conference.objects.get(pk=pk)
    user = get_user_model().objects.get(username=f"p-{run}-0-0")
    return Meeting(conference, user, conference_access(user, conference), cookies, run)
