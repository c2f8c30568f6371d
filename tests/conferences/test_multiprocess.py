"""Two real server processes sharing the channel layer on Redis: a note written through one
reaches a client of the other, once, in order, after commit."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.conferences.conftest import make_live
from tests.conftest import make_cast

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _socket(server: Any, user: Any, conference_id: int):  # type: ignore[no-untyped-def]
    from websockets.sync.client import connect

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    ws = connect(
        f"ws://127.0.0.1:{server.port}/ws/conferences/{conference_id}/",
        additional_headers={
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}",
            "Origin": server.url,
        },
        open_timeout=10,
    )
    ws.send(json.dumps({"type": "hello", "last_seq": 0}))
    return ws


def _until(ws, predicate, timeout: float = 5) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if predicate(frame):
            return frame


def test_note_through_one_process_reaches_a_client_of_the_other():
    if settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer"):
        pytest.skip("needs the Redis channel layer (REDIS_URL)")
    from tests.e2e.conftest import ServerProcess

    cast = make_cast()
    conference = make_live(cast)
    item = conference.agenda.filter(case__isnull=False).first().pk
    env = {"REDIS_URL": os.environ["REDIS_URL"]}
    one, two = ServerProcess(extra_env=env), ServerProcess(extra_env=env)
    try:
        writer = _socket(one, cast.coordinator, conference.pk)
        reader = _socket(two, cast.professional, conference.pk)
        watcher = _socket(two, cast.resident, conference.pk)
        for ws in (writer, reader, watcher):
            _until(ws, lambda f: f["type"] == "synced")
        texts = [f"プロセス間メモ{i}" for i in range(10)]
        for n, text in enumerate(texts):
            writer.send(
                json.dumps(
                    {
                        "type": "op",
                        "id": f"mp-{n}",
                        "op": "note.add",
                        "args": {"item": item, "text": text, "tier": 2},
                    }
                )
            )
        got = []
        while len(got) < len(texts):
            frame = _until(reader, lambda f: f["type"] == "event")
            got.append(frame)
        assert [f["note"]["text"] for f in got] == texts
        seqs = [f["seq"] for f in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        # The watch-tier reader on the same process received none of them.
        watcher.send(json.dumps({"type": "ping"}))
        frames = []
        while True:
            frame = json.loads(watcher.recv(timeout=2))
            if frame["type"] == "pong":
                break
            frames.append(frame)
        assert not any("プロセス間メモ" in json.dumps(f, ensure_ascii=False) for f in frames)
        for ws in (writer, reader, watcher):
            ws.close()
    finally:
        one.stop()
        two.stop()
