"""A live socket on the Redis channel layer survives a quiet spell longer than the layer's
5-s blocking wait (redis-py 8 times reads out after 5 s by default: without a longer socket
timeout the consumer died and the socket dropped whenever nobody spoke for 5 s)."""

from __future__ import annotations

import json
import os
import time

import pytest
from django.conf import settings

from tests.conferences.conftest import make_live
from tests.conferences.test_multiprocess import _socket, _until
from tests.conftest import make_cast

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_a_socket_quiet_for_longer_than_the_layer_wait_still_receives_notes():
    if settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer"):
        pytest.skip("needs the Redis channel layer (REDIS_URL)")
    from tests.e2e.conftest import ServerProcess

    cast = make_cast()
    conference = make_live(cast)
    item = conference.agenda.filter(case__isnull=False).first().pk
    server = ServerProcess(extra_env={"REDIS_URL": os.environ["REDIS_URL"]})
    try:
        reader = _socket(server, cast.professional, conference.pk)
        _until(reader, lambda f: f["type"] == "synced")
        time.sleep(7)  # nobody speaks: longer than the layer's 5-s BZPOPMIN
        writer = _socket(server, cast.coordinator, conference.pk)
        _until(writer, lambda f: f["type"] == "synced")
        writer.send(
            json.dumps(
                {
                    "type": "op",
                    "id": "quiet-1",
                    "op": "note.add",
                    "args": {"item": item, "text": "静かな後のメモ", "tier": 2},
                }
            )
        )
        frame = _until(reader, lambda f: f["type"] == "event" and "note" in f, timeout=10)
        assert frame["note"]["text"] == "静かな後のメモ"
        reader.close()
        writer.close()
    finally:
        server.stop()
