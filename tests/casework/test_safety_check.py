"""Safety check (安否確認): marks by supporters in their declared areas, stored once per id,
and the per-area tally sent live over a WebSocket."""

from __future__ import annotations

import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from casework.models import SafetyMark
from casework.watch_selectors import safety_tally
from config.asgi import application
from permissions.emergency import declaration_end
from tests.watchcast import OTHER_AREA_LABEL, UNCONSENTED_LABEL, declare

pytestmark = pytest.mark.django_db


def mark(client, declaration, case, status="safe", client_id=None, **extra):
    body = {"case": case.pk, "status": status, "client_id": client_id or str(uuid.uuid4()), **extra}
    return client.post(
        reverse("watch:safety-mark", args=[declaration.pk]),
        json.dumps(body),
        content_type="application/json",
    )


def test_supporter_sees_everyone_of_declared_area_on_the_check_page(wcast):
    declaration = declare(wcast, wcast.area)
    html = (
        wcast.client_for("resident")
        .get(reverse("watch:safety-check", args=[declaration.pk]))
        .content.decode()
    )
    assert UNCONSENTED_LABEL in html and "山﨑さん世帯" in html
    assert OTHER_AREA_LABEL not in html
    assert "<script>" not in html  # no inline script: the page's JS is a static file


@pytest.mark.parametrize("who", ["professional", "outsider"])
def test_non_supporters_get_404_on_the_check_page(wcast, who):
    declaration = declare(wcast, wcast.area)
    response = wcast.client_for(who).get(reverse("watch:safety-check", args=[declaration.pk]))
    assert response.status_code == 404
    assert UNCONSENTED_LABEL not in response.content.decode()
    assert mark(wcast.client_for(who), declaration, wcast.unconsented).status_code == 404
    assert not SafetyMark.objects.exists()


def test_mark_is_stored_once_when_resent(wcast):
    declaration = declare(wcast, wcast.area)
    client = wcast.client_for("resident")
    cid = str(uuid.uuid4())
    first = mark(client, declaration, wcast.unconsented, "needs_help", cid)
    again = mark(client, declaration, wcast.unconsented, "needs_help", cid)
    assert first.json() == {"ok": True, "created": True, "client_id": cid}
    assert again.json() == {"ok": True, "created": False, "client_id": cid}
    assert SafetyMark.objects.count() == 1
    assert SafetyMark.objects.get().marked_by == wcast.resident


def test_offline_mark_keeps_its_time(wcast):
    from django.utils import timezone

    declaration = declare(wcast, wcast.area)
    made = timezone.now()
    mark(wcast.client_for("resident"), declaration, wcast.case, marked_at=made.isoformat())
    assert SafetyMark.objects.get().marked_at == made


def test_mark_for_a_person_outside_the_supporters_areas_is_refused(wcast):
    declaration = declare(wcast, wcast.area, wcast.other_life_area)
    response = mark(wcast.client_for("resident"), declaration, wcast.other_area)
    assert response.status_code == 400
    assert "case" in response.json()["errors"]
    assert OTHER_AREA_LABEL not in response.content.decode()
    assert not SafetyMark.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"status": "fine"},
        {"status": "evacuated", "evacuated_to": ""},
        {"client_id": "not-a-uuid"},
        {"case": "abc"},
        {"case": 999999},
    ],
)
def test_bad_marks_are_refused(wcast, body):
    declaration = declare(wcast, wcast.area)
    base = {"case": wcast.case.pk, "status": "safe", "client_id": str(uuid.uuid4())}
    response = wcast.client_for("resident").post(
        reverse("watch:safety-mark", args=[declaration.pk]),
        json.dumps({**base, **body}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert not SafetyMark.objects.exists()


def test_garbage_json_is_refused(wcast):
    declaration = declare(wcast, wcast.area)
    response = wcast.client_for("resident").post(
        reverse("watch:safety-mark", args=[declaration.pk]),
        "{nope",
        content_type="application/json",
    )
    assert response.status_code == 400


def test_no_marks_after_the_declaration_ends(wcast):
    declaration = declare(wcast, wcast.area)
    declaration_end(actor=wcast.coordinator, declaration=declaration)
    assert mark(wcast.client_for("resident"), declaration, wcast.case).status_code == 400
    html = (
        wcast.client_for("resident")
        .get(reverse("watch:safety-check", args=[declaration.pk]))
        .content.decode()
    )
    assert UNCONSENTED_LABEL not in html
    assert not SafetyMark.objects.exists()


def test_plain_form_post_without_javascript(wcast):
    declaration = declare(wcast, wcast.area)
    response = wcast.client_for("resident").post(
        reverse("watch:safety-mark", args=[declaration.pk]),
        {
            "case": wcast.case.pk,
            "status": "evacuated",
            "evacuated_to": "礫川小",
            "client_id": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 302
    assert SafetyMark.objects.get().evacuated_to == "礫川小"


def test_tally_counts_latest_mark_per_person(wcast):
    declaration = declare(wcast, wcast.area)
    client = wcast.client_for("resident")
    mark(client, declaration, wcast.case, "not_reached")
    mark(client, declaration, wcast.case, "safe")
    mark(client, declaration, wcast.unconsented, "needs_help")
    (row,) = safety_tally(declaration)
    assert row["name"] == "春日町会"
    assert row["total"] == 3
    assert (row["safe"], row["needs_help"], row["not_reached"], row["unchecked"]) == (1, 1, 0, 1)


@pytest.mark.parametrize("who", ["professional", "resident", "outsider"])
def test_tally_page_is_for_council_managers(wcast, who):
    declaration = declare(wcast, wcast.area)
    assert (
        wcast.client_for(who).get(reverse("watch:safety-tally", args=[declaration.pk])).status_code
        == 404
    )


async def _connect(user, declaration_pk):
    communicator = WebsocketCommunicator(
        application, f"/ws/safety/{declaration_pk}/", headers=[(b"origin", b"http://127.0.0.1")]
    )
    communicator.scope["user"] = user
    return communicator


@pytest.mark.django_db(transaction=True)
async def test_live_tally_over_websocket(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    await _live_tally()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_live_tally_over_websocket_through_redis():
    await _live_tally()


async def _live_tally():
    from tests.watchcast import make_watch_cast

    wcast = await database_sync_to_async(make_watch_cast)()
    declaration = await database_sync_to_async(declare)(wcast, wcast.area)

    refused = await _connect(wcast.resident, declaration.pk)
    connected, code = await refused.connect()
    assert not connected and code == 4404

    watcher = await _connect(wcast.coordinator, declaration.pk)
    connected, _ = await watcher.connect()
    assert connected
    first = await watcher.receive_json_from(timeout=5)
    assert first["tally"][0]["unchecked"] == 3

    from casework.watch_services import safety_mark

    await database_sync_to_async(safety_mark)(
        actor=wcast.resident,
        declaration=declaration,
        case_pk=wcast.unconsented.pk,
        status="needs_help",
        client_id=str(uuid.uuid4()),
    )
    update = await watcher.receive_json_from(timeout=5)
    assert update["tally"][0]["needs_help"] == 1
    assert UNCONSENTED_LABEL not in json.dumps(update, ensure_ascii=False)
    await watcher.disconnect()
