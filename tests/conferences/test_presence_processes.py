"""A real server process killed with SIGKILL: the people whose sockets it held leave the other
processes' pages within the bound (PRESENCE_STALE_SECONDS + PRESENCE_HEARTBEAT_SECONDS, here
2 + 0.5 s), and a page opened afterwards does not list them.

Two real server processes on the test database; with the Redis channel layer (the
deployment's) or, where there is no Redis, each with its own in-memory layer (the sweep and
its frame are the surviving process's, and its page learns of the victim's socket from the
database)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from django.conf import settings

from conferences import selectors
from conferences.models import Presence
from tests.conferences.conftest import make_live
from tests.conferences.test_multiprocess import _socket, _until
from tests.conftest import make_cast

pytestmark = [pytest.mark.django_db(transaction=True)]

QUICK = {"PRESENCE_HEARTBEAT_SECONDS": "0.5", "PRESENCE_STALE_SECONDS": "2"}


def _presence_of(ws: Any) -> tuple[dict[int, int], dict[int, int]]:
    """(who is here, who left), each person with their version, from a new page's snapshot."""
    snap = _until(ws, lambda f: f["type"] == "snapshot", timeout=10)
    return (
        {p["user"]: p["version"] for p in snap["presence"]},
        {p["user"]: p["version"] for p in snap["presence_gone"]},
    )


def _killed_process_people_leave_the_pages(layer_env: dict[str, str]) -> None:
    from tests.e2e.conftest import ServerProcess

    cast = make_cast()
    conference = make_live(cast)
    env = {**QUICK, **layer_env}
    victim, survivor = ServerProcess(extra_env=env), ServerProcess(extra_env=env)
    try:
        prof = _socket(victim, cast.professional, conference.pk)
        _until(prof, lambda f: f["type"] == "synced", timeout=10)
        coord = _socket(survivor, cast.coordinator, conference.pk)
        here, _gone = _presence_of(coord)
        assert cast.professional.pk in here
        _until(coord, lambda f: f["type"] == "synced", timeout=10)

        victim.kill()  # SIGKILL: its sockets' presence rows stay behind

        gone = _until(
            coord,
            lambda f: f["type"] == "presence" and f["user"] == cast.professional.pk,
            timeout=30,  # a deadline for the test, not a timing assertion: the bound is 2.5 s
        )
        assert not gone["online"] and gone["version"] > here[cast.professional.pk]
        assert not Presence.objects.filter(user=cast.professional).exists()
        late = _socket(survivor, cast.resident, conference.pk)
        here_now, gone_now = _presence_of(late)
        assert cast.professional.pk not in here_now
        assert gone_now[cast.professional.pk] == gone["version"]
        assert set(here_now) == {cast.coordinator.pk, cast.resident.pk}
        assert here_now == {
            p["user"]: p["version"] for p in selectors.presence(conference)["presence"]
        }
        for ws in (coord, late):
            ws.send(json.dumps({"type": "ping"}))
            ws.close()
    finally:
        victim.kill()
        survivor.stop()
        time.sleep(0.3)


def test_killed_process_people_leave_the_pages_of_another_process():
    _killed_process_people_leave_the_pages({"REDIS_URL": ""})


@pytest.mark.redis
def test_killed_process_people_leave_the_pages_on_redis():
    if settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer"):
        pytest.skip("needs the Redis channel layer (REDIS_URL)")
    _killed_process_people_leave_the_pages({"REDIS_URL": os.environ["REDIS_URL"]})
