"""The live conference socket under the application role (row-level security on).

Consumers run their database calls in worker threads with their own connections, so the
fixtures are committed (transactional test) and every new connection acts as the application
role through `DATABASE_SET_ROLE` (permissions.rls.set_role_on_connect), as a deployment may.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import connection, connections

from conferences.models import Note
from permissions.rls import reader_context
from tests.conferences.conftest import make_live
from tests.conferences.test_consumers import Client, joined
from tests.permissions.test_rls import ROLE, ensure_app_role

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SUPPORT_NOTE = "支援メモ：アプリ用ロールで書いた"


@pytest.fixture(autouse=True)
def _fresh_channel_layer():  # type: ignore[no-untyped-def]
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _close_everywhere() -> Any:
    """Close the connections of this thread and of the consumers' operation thread, so that
    the next ones are opened with the current settings."""
    connections.close_all()
    return sync_to_async(connections.close_all, thread_sensitive=True)()


def _first_item(conference: Any, reader: Any) -> int:
    with reader_context(reader):
        return conference.agenda.filter(case__isnull=False).first().pk


def _current_user() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        return cursor.fetchone()[0]


async def _snapshots(conference: Any, users: list[Any]) -> list[dict[str, Any]]:
    snaps = []
    for user in users:
        c = await joined(conference, user)
        snap = next(f for f in map(_decode, c.raw) if f["type"] == "snapshot")
        # Who is here and who left (with versions) differ between the two rounds.
        snap.pop("presence")
        snap.pop("presence_gone")
        snaps.append(snap)
        await c.close()
    return snaps


def _decode(text: str) -> dict[str, Any]:
    import json

    return json.loads(text)


@pytest.fixture
def app_role_connections(settings):  # type: ignore[no-untyped-def]
    ensure_app_role()  # committed: a transactional test
    yield lambda: setattr(settings, "DATABASE_SET_ROLE", ROLE)
    settings.DATABASE_SET_ROLE = ""
    connections.close_all()  # the flush that empties the tables runs as the owner


async def test_live_conference_under_the_app_role(cast, app_role_connections):
    live = await database_sync_to_async(make_live)(cast)
    readers = [cast.coordinator, cast.professional, cast.resident]
    as_owner = await _snapshots(live, readers)

    app_role_connections()
    await _close_everywhere()
    assert await database_sync_to_async(_current_user)() == ROLE
    assert await sync_to_async(_current_user, thread_sensitive=True)() == ROLE

    assert await _snapshots(live, readers) == as_owner
    outsider = Client(live.pk, cast.outsider)
    ok, code = await outsider.comm.connect()
    assert not ok and code == 4404

    coord = await joined(live, cast.coordinator)
    prof = await joined(live, cast.professional)
    res = await joined(live, cast.resident)
    await prof.op(
        "note.add",
        text=SUPPORT_NOTE,
        tier=2,
        item=await database_sync_to_async(_first_item)(live, cast.professional),
    )
    ack = await prof.until("ack")
    assert ack["seq"] > 0
    await coord.until("event", event="note.created")
    await res.drain()
    assert SUPPORT_NOTE in "".join(coord.raw)
    assert SUPPORT_NOTE not in "".join(res.raw)
    for c in (coord, prof, res):
        await c.close()
    # Committed under the application role. With no reader named, the database shows nothing
    # (RLS is really on in these connections); a fresh socket reads it back as its reader.
    assert await database_sync_to_async(Note.objects.filter(text=SUPPORT_NOTE).exists)() is False
    back = await joined(live, cast.professional)
    assert SUPPORT_NOTE in "".join(back.raw)
    await back.close()
