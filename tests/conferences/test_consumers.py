"""The live socket on the real database: access, tiers on raw frames, sequence, replay,
idempotent retries, conflicts, bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path

from conferences.consumers import ConferenceConsumer
from conferences.models import ConferenceEvent, Note
from permissions.people import display_name
from tests.conferences.conftest import make_live, schedule

pytestmark = [pytest.mark.django_db(transaction=True)]

APP = URLRouter([path("ws/conferences/<int:pk>/", ConferenceConsumer.as_asgi())])
SENSITIVE_NOTE = "要配慮メモ：長男に暴力の疑い"
SUPPORT_NOTE = "支援メモ：来週ケアマネが訪問"
WATCH_NOTE = "見守りメモ：新聞が溜まっていないか確認"


class Client:
    """A communicator that keeps every raw frame it received."""

    def __init__(self, conference_id: int, user: Any, lang: str = "ja") -> None:
        headers = [(b"accept-language", lang.encode()), (b"origin", b"http://127.0.0.1")]
        self.comm = WebsocketCommunicator(APP, f"/ws/conferences/{conference_id}/", headers)
        self.comm.scope["user"] = user
        self.raw: list[str] = []
        self.n = 0

    async def connect(self, last_seq: int = 0) -> tuple[bool, Any]:
        ok, code = await self.comm.connect()
        if ok:
            await self.send({"type": "hello", "last_seq": last_seq})
        return ok, code

    async def send(self, frame: dict[str, Any]) -> None:
        await self.comm.send_to(text_data=json.dumps(frame))

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        text = await self.comm.receive_from(timeout=timeout)
        self.raw.append(text)
        return json.loads(text)

    async def until(self, type_: str, timeout: float = 5, **match: Any) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                if frame["type"] == type_ and all(frame.get(k) == v for k, v in match.items()):
                    return frame

    async def drain(self, wait: float = 0.3) -> list[dict[str, Any]]:
        # receive_nothing does not cancel the application on timeout (receive_from does).
        frames = []
        while not await self.comm.receive_nothing(timeout=wait):
            frames.append(await self.recv())
        return frames

    async def op(self, op: str, op_id: str | None = None, **args: Any) -> str:
        self.n += 1
        op_id = op_id or f"{id(self)}-{self.n}"
        await self.send({"type": "op", "id": op_id, "op": op, "args": args})
        return op_id

    async def close(self) -> None:
        await self.comm.disconnect()


async def joined(conference, user) -> Client:  # type: ignore[no-untyped-def]
    c = Client(conference.pk, user)
    ok, _ = await c.connect()
    assert ok
    await c.until("synced")
    return c


def socket_of(user: Any) -> Any:
    """This event loop's joined live socket of `user` (conferences.consumers.local): one."""
    from conferences.consumers import local

    [socket] = [s for s in local.joined().values() if s.user.pk == user.pk]  # type: ignore[attr-defined]
    return socket


async def first_item(conference) -> int:  # type: ignore[no-untyped-def]
    return await database_sync_to_async(
        lambda: conference.agenda.filter(case__isnull=False).first().pk
    )()


@pytest.fixture
def live(cast):  # type: ignore[no-untyped-def]
    return make_live(cast)


async def test_anonymous_socket_refused(live):
    from django.contrib.auth.models import AnonymousUser

    c = Client(live.pk, AnonymousUser())
    ok, code = await c.comm.connect()
    assert not ok and code == 4401


async def test_outsider_socket_refused(live, cast):
    c = Client(live.pk, cast.outsider)
    ok, code = await c.comm.connect()
    assert not ok and code == 4404


async def test_missing_conference_refused(cast):
    c = Client(999999, cast.coordinator)
    ok, code = await c.comm.connect()
    assert not ok and code == 4404


async def test_no_content_before_confidentiality_acknowledgement(cast):
    conference = await database_sync_to_async(schedule)(cast)
    c = Client(conference.pk, cast.professional)
    ok, _ = await c.connect()
    assert ok
    frame = await c.recv()
    assert frame["type"] == "ack_required"
    assert "守秘" in frame["statement"] or frame["statement"]
    await c.op("note.add", item=await first_item(conference), text="x")
    err = await c.until("error")
    assert err["code"] == "ack_required"
    assert await c.drain() == []
    assert not any("山﨑" in r for r in c.raw)
    await c.send({"type": "acknowledge"})
    await c.until("welcome")
    snap = await c.until("snapshot")
    assert any("山﨑" in i["title"] for i in snap["agenda"])
    await c.close()


async def test_no_acknowledgement_over_the_socket_once_the_meeting_is_closed(cast):
    from conferences import services
    from permissions.conferences import conference_access

    def closed_without_the_professional() -> Any:
        conference = schedule(cast)
        services.conference_acknowledge(
            actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
        )
        chair = conference_access(cast.coordinator, conference)
        services.conference_start(actor=cast.coordinator, access=chair)
        services.conference_close(actor=cast.coordinator, access=chair)
        return conference

    conference = await database_sync_to_async(closed_without_the_professional)()
    c = Client(conference.pk, cast.professional, lang="en")
    ok, _ = await c.connect()
    assert ok
    assert (await c.recv())["type"] == "ack_required"
    await c.send({"type": "acknowledge"})
    err = await c.until("error")
    assert err["code"] == "closed" and "can no longer be acknowledged" in err["message"]
    assert await c.drain() == []
    assert not any("山﨑" in r for r in c.raw)
    await c.close()


async def test_read_only_agency_cannot_write(live, cast):
    c = await joined(live, cast.resident)
    await c.op("note.add", item=await first_item(live), text="書けないはず", tier=1)
    err = await c.until("error")
    assert err["code"] == "forbidden"
    assert err["message"]
    assert not await database_sync_to_async(Note.objects.exists)()
    # Nor edit a note it reads: the edit is refused, and the note is as it was (the edit
    # writes first and checks after, so the refusal must roll the write back).
    coord = await joined(live, cast.coordinator)
    await coord.op("note.add", item=await first_item(live), text="見守りメモ", tier=1)
    note_id = (await coord.until("ack"))["result"]["note"]["id"]
    await c.until("event", event="note.created")
    await c.op("note.edit", note=note_id, text="書き換えられないはず", base_version=1)
    assert (await c.until("error"))["code"] == "forbidden"
    note = await database_sync_to_async(Note.objects.get)(pk=note_id)
    assert (note.text, note.version) == ("見守りメモ", 1)
    await c.close()
    await coord.close()


async def test_watch_tier_never_receives_higher_tier_notes(live, cast):
    coord = await joined(live, cast.coordinator)
    prof = await joined(live, cast.professional)
    res = await joined(live, cast.resident)
    item = await first_item(live)
    await coord.op("note.add", text=SENSITIVE_NOTE, tier=3, item=item)
    await coord.until("ack")
    await prof.op("note.add", text=SUPPORT_NOTE, tier=2, item=item)
    await prof.until("ack")
    await prof.op("note.add", text=WATCH_NOTE, tier=1, item=item)
    ack = await prof.until("ack")
    watch_id = ack["result"]["note"]["id"]
    # Raising the watch note to support: the resident gets a bare removal, never the text.
    await prof.op(
        "note.edit", note=watch_id, text=WATCH_NOTE + "（詳細：支援）", tier=2, base_version=1
    )
    await prof.until("ack")
    await asyncio.sleep(0.3)
    res_frames = await res.drain()
    prof_frames = await prof.drain()
    await coord.drain()
    raw_res = "".join(res.raw)
    assert WATCH_NOTE in raw_res  # it was at the watch tier when written
    assert SUPPORT_NOTE not in raw_res and SENSITIVE_NOTE not in raw_res
    assert "（詳細：支援）" not in raw_res
    removal = [f for f in res_frames if f.get("event") == "note.deleted"]
    assert removal == [
        {
            "type": "event",
            "seq": removal[0]["seq"],
            "event": "note.deleted",
            "note": {"id": watch_id},
        }
    ]
    raw_prof = "".join(prof.raw)
    assert SUPPORT_NOTE in raw_prof and SENSITIVE_NOTE not in raw_prof
    assert not [f for f in prof_frames if f.get("event") == "note.deleted"]
    assert SENSITIVE_NOTE in "".join(coord.raw)
    for c in (coord, prof, res):
        await c.close()
    # A fresh connection and a replay from the start say nothing of them either.
    late = Client(live.pk, cast.resident)
    await late.connect(last_seq=1)
    resumed = await late.until("synced")
    # Resuming (no snapshot): the list of who is here now comes with `synced`.
    assert [p["user"] for p in resumed["presence"]] == [cast.resident.pk]
    again = Client(live.pk, cast.resident)
    await again.connect()
    await again.until("synced")
    for c in (late, again):
        raw = "".join(c.raw)
        assert SUPPORT_NOTE not in raw and SENSITIVE_NOTE not in raw
        assert "（詳細：支援）" not in raw
        await c.close()
    assert WATCH_NOTE not in "".join(late.raw)  # raised since: not replayed


async def test_sequence_numbers_are_gap_free(live, cast):
    coord = await joined(live, cast.coordinator)
    item = await first_item(live)
    for i in range(15):
        await coord.op("note.add", text=f"メモ{i}", tier=2 + i % 2, item=item)
    acks = [await coord.until("ack") for _ in range(15)]
    seqs = await database_sync_to_async(
        lambda: list(ConferenceEvent.objects.filter(conference=live).values_list("seq", flat=True))
    )()
    assert seqs == list(range(1, len(seqs) + 1))
    await asyncio.sleep(0.2)
    frames = [f for f in await coord.drain() if f["type"] == "event"]
    got = sorted({a["seq"] for a in acks})
    assert got == sorted(a["seq"] for a in acks)
    # The chair reads every tier: every event since sync reaches them, in order, once.
    all_seen = [json.loads(r)["seq"] for r in coord.raw if json.loads(r)["type"] == "event"]
    assert all_seen == sorted(set(all_seen))
    assert all_seen[-1] == seqs[-1] and len(all_seen) == 15
    assert frames or all_seen
    await coord.close()


async def test_replay_after_reconnect(live, cast):
    prof = await joined(live, cast.professional)
    snap_seq = json.loads(next(r for r in prof.raw if '"snapshot"' in r))["seq"]
    await prof.close()
    coord = await joined(live, cast.coordinator)
    item = await first_item(live)
    for text in ("再接続前のメモ1", "再接続前のメモ2"):
        await coord.op("note.add", text=text, tier=2, item=item)
        await coord.until("ack")
    back = Client(live.pk, cast.professional)
    await back.connect(last_seq=snap_seq)
    events = []
    async with asyncio.timeout(3):
        while True:
            f = await back.recv()
            if f["type"] == "event":
                events.append(f)
            if f["type"] == "synced":
                break
    assert [e["note"]["text"] for e in events] == ["再接続前のメモ1", "再接続前のメモ2"]
    assert not any('"snapshot"' in r for r in back.raw)
    await back.close()
    await coord.close()


async def test_idempotent_retry(live, cast):
    coord = await joined(live, cast.coordinator)
    item = await first_item(live)
    await coord.op("note.add", op_id="retry-1", text="一度だけ", tier=2, item=item)
    first = await coord.until("ack")
    await coord.op("note.add", op_id="retry-1", text="一度だけ", tier=2, item=item)
    second = await coord.until("ack", id="retry-1", duplicate=True)
    assert first["seq"] == second["seq"] and first["result"] == second["result"]
    count = await database_sync_to_async(Note.objects.filter(text="一度だけ").count)()
    assert count == 1
    await coord.close()


async def test_conflicting_edits_reported_nothing_lost(live, cast):
    coord = await joined(live, cast.coordinator)
    prof = await joined(live, cast.professional)
    item = await first_item(live)
    await coord.op("note.add", text="元の文", tier=2, item=item)
    note_id = (await coord.until("ack"))["result"]["note"]["id"]
    # Both started from version 1; the coordinator saves first.
    await coord.op("note.edit", note=note_id, text="佐藤の修正", base_version=1)
    await coord.until("ack")
    await prof.op("note.edit", note=note_id, text="鈴木の修正", base_version=1)
    conflict = await prof.until("conflict")
    assert conflict["current"]["text"] == "佐藤の修正"
    assert conflict["yours"]["text"] == "鈴木の修正"
    # In the reader's language (the socket's is Japanese), like every message of the page.
    assert conflict["message"].startswith("ほかの人がこの項目を")
    note = await database_sync_to_async(Note.objects.get)(pk=note_id)
    assert note.text == "佐藤の修正" and note.version == 2
    # The second person chooses: here, to keep both, based on the current version.
    await prof.op("note.edit", note=note_id, text="佐藤の修正\n鈴木の修正", base_version=2)
    await prof.until("ack")
    await coord.close()
    await prof.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "malformed"),
        ("[1,2]", "malformed"),
        ('{"type": "op", "id": "x1", "op": "note.explode", "args": {}}', "unknown_op"),
        ('{"type": "nonsense"}', "unknown_type"),
        ('{"type": "op", "op": "note.add", "args": {}}', "invalid"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(live, cast, frame, code):
    c = await joined(live, cast.coordinator)
    await c.comm.send_to(text_data=frame)
    err = await c.until("error")
    assert err["code"] == code
    assert err["message"]
    await c.send({"type": "ping"})
    await c.until("pong")
    await c.close()


async def test_bad_operations_are_refused_with_a_translated_message(live, cast):
    c = await joined(live, cast.coordinator)
    item = await first_item(live)
    await c.op("note.add", item=item, text="あ" * 20_001, tier=2)
    err = await c.until("error")
    assert err["code"] == "too_long" and "20,000" in err["message"]
    await c.op(
        "action.add",
        item=item,
        title="訪問",
        due_on="2000-01-01",
        owner_user=cast.professional.pk,
        tier=2,
    )
    err = await c.until("error")
    assert err["code"] == "past_due" and err["message"]
    await c.op(
        "action.add",
        item=item,
        title="訪問",
        due_on="2999-01-01",
        owner_user=cast.outsider.pk,
        tier=2,
    )
    err = await c.until("error")
    assert err["code"] == "owner"
    await c.op("note.add", item=item, text="<script>alert(1)</script>", tier=2)
    ack = await c.until("ack")
    note = await database_sync_to_async(Note.objects.get)(pk=ack["result"]["note"]["id"])
    assert note.text == "<script>alert(1)</script>"  # stored as text; rendered inert
    await c.close()


async def test_error_messages_follow_the_users_language(live, cast):
    c = Client(live.pk, cast.coordinator, lang="en")
    await c.connect()
    await c.until("synced")
    await c.comm.send_to(text_data="{oops")
    err = await c.until("error")
    assert err["message"] == "The message is not valid JSON."
    await c.close()


async def test_snapshot_names_generated_agenda_items_in_the_readers_language(live, cast):
    headings = {}
    for lang in ("ja", "en"):
        c = Client(live.pk, cast.professional, lang=lang)
        await c.connect()
        snap = await c.until("snapshot")
        headings[lang] = [i["title"] for i in snap["agenda"]]
        await c.close()
    assert "山﨑さん世帯: 役割分担" in headings["ja"] and "その他" in headings["ja"]
    assert "山﨑さん世帯: Role allocation" in headings["en"] and "Other business" in headings["en"]
    assert len(headings["ja"]) == len(headings["en"])


async def test_joining_with_a_snapshot_tells_the_socket_the_agendas_cases(live, cast):
    """The operations' checks look up an agenda item's case (`checks.agenda_item`); the
    socket learns them from the snapshot it sends, so a participant's first note on an
    item needs no statement of its own before the operation's (test_live_db: one message
    to the database with the item known)."""
    prof = await joined(live, cast.professional)
    socket = socket_of(cast.professional)
    items = await database_sync_to_async(lambda: dict(live.agenda.values_list("pk", "case_id")))()
    assert socket.agenda_cases == items  # type: ignore[attr-defined]
    item = await first_item(live)
    op_id = await prof.op("note.add", item=item, text=WATCH_NOTE, tier=1)
    assert (await prof.until("ack", id=op_id))["seq"] > 0
    await prof.close()


async def test_presence_shows_who_is_here(live, cast):
    coord = await joined(live, cast.coordinator)
    prof = await joined(live, cast.professional)
    p = await coord.until("presence", user=cast.professional.pk)
    assert p["online"] and p["agency"] == "ケアプランセンター"
    await prof.close()
    p = await coord.until("presence", user=cast.professional.pk, online=False)
    await coord.close()


async def test_closed_conference_refuses_edits(live, cast):
    coord = await joined(live, cast.coordinator)
    await coord.op("conference.close")
    await coord.until("ack")
    await coord.op("note.add", item=await first_item(live), text="閉会後", tier=2)
    err = await coord.until("error")
    assert err["code"] == "closed"
    await coord.close()


async def test_chair_sets_current_item_and_reorders_others_may_not(live, cast):
    coord = await joined(live, cast.coordinator)
    prof = await joined(live, cast.professional)
    items = await database_sync_to_async(lambda: list(live.agenda.values_list("pk", flat=True)))()
    await prof.op("agenda.current", item=items[2])
    assert (await prof.until("error"))["code"] == "forbidden"
    await coord.op("agenda.current", item=items[2])
    await coord.until("ack")
    event = await prof.until("event", event="agenda.current")
    assert event["item"] == items[2]
    new_order = [items[-1], *items[:-1]]
    await coord.op("agenda.reorder", order=new_order)
    await coord.until("ack")
    assert (await prof.until("event", event="agenda.order"))["order"] == new_order
    await coord.op("agenda.reorder", order=items[:2])
    assert (await coord.until("error"))["code"] == "invalid"
    for c in (coord, prof):
        await c.close()


async def test_raising_then_lowering_a_tier(live, cast):
    coord = await joined(live, cast.coordinator)
    prof = await joined(live, cast.professional)
    item = await first_item(live)
    await prof.op("note.add", item=item, text="段階メモ", tier=2)
    note_id = (await prof.until("ack"))["result"]["note"]["id"]
    await coord.op("note.edit", note=note_id, text="段階メモ（要配慮）", tier=3, base_version=1)
    await coord.until("ack")
    removed = await prof.until("event", event="note.deleted")
    assert removed["note"] == {"id": note_id}
    await coord.op("note.edit", note=note_id, text="段階メモ（支援に戻す）", tier=2, base_version=2)
    await coord.until("ack")
    back = await prof.until("event", event="note.updated")
    assert back["note"]["text"] == "段階メモ（支援に戻す）"
    # The edit's event repeats the note's author and creation time as stored.
    note = await database_sync_to_async(Note.objects.select_related("author", "agency").get)(
        pk=note_id
    )
    assert back["note"]["author"] == display_name(note.author)
    assert back["note"]["agency"] == note.agency.name
    assert back["note"]["created_at"] == note.created_at.isoformat()
    assert back["note"]["updated_at"] == note.updated_at.isoformat()
    assert back["note"]["version"] == note.version == 3
    assert "段階メモ（要配慮）" not in "".join(prof.raw)
    # The professional cannot edit a note above their tier: it does not exist for them.
    await coord.op("note.edit", note=note_id, text="再び要配慮", tier=3, base_version=3)
    await coord.until("ack")
    await prof.op("note.edit", note=note_id, text="x", base_version=4)
    assert (await prof.until("error"))["code"] == "not_found"
    note = await database_sync_to_async(Note.objects.get)(pk=note_id)
    assert (note.text, note.tier, note.version) == ("再び要配慮", 3, 4)
    for c in (coord, prof):
        await c.close()


def _apply_without_broadcast(conference, user, op_id: str, text: str) -> dict:  # type: ignore[no-untyped-def]
    """An operation committed whose broadcast the channel layer 'dropped'."""
    from conferences import events, live
    from permissions.conferences import conference_access

    item = conference.agenda.filter(case__isnull=False).first()
    with events.collect() as outbox:
        live.live_apply(
            actor=user,
            access=conference_access(user, conference),
            client_op_id=op_id,
            op="note.add",
            args={"item": item.pk, "text": text, "tier": 2},
        )
    return dict(outbox[0][1])


async def test_a_dropped_event_is_read_from_the_log(live, cast, monkeypatch):
    from channels.layers import get_channel_layer

    from conferences.consumers import conference as consumer
    from conferences.events import group_name

    monkeypatch.setattr(consumer, "GAP_WAIT", 0.1)
    prof = await joined(live, cast.professional)
    await database_sync_to_async(_apply_without_broadcast)(
        live, cast.coordinator, "drop-1", "落ちた"
    )
    # The next event arrives: the consumer sees the gap and reads the missing one.
    message = await database_sync_to_async(_apply_without_broadcast)(
        live, cast.coordinator, "drop-2", "次の"
    )
    await get_channel_layer().group_send(group_name(live.pk), message)
    first = await prof.until("event")
    second = await prof.until("event")
    assert [first["note"]["text"], second["note"]["text"]] == ["落ちた", "次の"]
    assert second["seq"] == first["seq"] + 1
    await prof.close()


async def test_a_dropped_last_event_arrives_with_the_periodic_check(live, cast, monkeypatch):
    from conferences.consumers import conference as consumer

    monkeypatch.setattr(consumer, "ACCESS_MAX_AGE", 0.2)
    prof = await joined(live, cast.professional)
    await database_sync_to_async(_apply_without_broadcast)(live, cast.coordinator, "tail-1", "最後")
    frame = await prof.until("event")
    assert frame["note"]["text"] == "最後"
    await prof.close()


@pytest.mark.redis
async def test_a_socket_that_joins_while_an_operation_commits_gets_its_event_once(
    live, cast, monkeypatch
):
    """An operation's consumer reads the meeting's sockets while the operation is in the
    database (config/layers.py). A socket that joined in between is not among them: it gets
    the event from the log, here from the periodic check, its catch-up having come first."""
    from channels.layers import get_channel_layer

    from conferences.consumers import conference as consumer
    from conferences.events import group_name

    monkeypatch.setattr(consumer, "ACCESS_MAX_AGE", 0.2)
    layer = get_channel_layer()
    prof = await joined(live, cast.professional)
    members = await layer.group_members(group_name(live.pk))
    late = await joined(live, cast.coordinator)
    message = await database_sync_to_async(_apply_without_broadcast)(
        live, cast.coordinator, "race-1", "間に合った"
    )
    await layer.deliver(group_name(live.pk), members, message)

    assert (await prof.until("event"))["note"]["text"] == "間に合った"
    assert (await late.until("event"))["note"]["text"] == "間に合った"
    assert not [f for f in await late.drain(wait=0.6) if f["type"] == "event"]
    for c in (prof, late):
        await c.close()


def _two_case_conference(cast):  # type: ignore[no-untyped-def]
    """A live conference with a second case the professional's agency has no share of."""
    from conferences import services
    from permissions.conferences import conference_access
    from permissions.models import Share, Tier
    from tests.conferences.conftest import acknowledge
    from tests.factories import CaseFactory, ShareFactory

    other = CaseFactory(label="非公開の世帯", lead_coordinator=cast.coordinator)
    ShareFactory(
        case=other,
        agency=cast.council,
        tier=Tier.SENSITIVE,
        coordinates=True,
        basis=Share.Basis.INTAKE,
    )
    conference = schedule(
        cast,
        cases=[services.CaseOnAgenda(cast.case), services.CaseOnAgenda(other)],
        agencies=[cast.council, cast.professional_agency],
    )
    Share.objects.filter(case=other, agency=cast.professional_agency).delete()
    acknowledge(conference, cast.coordinator, cast.professional)
    services.conference_start(
        actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
    )
    return conference, other


async def test_a_case_without_a_share_stays_invisible_in_agenda_and_notes(cast):
    conference, other = await database_sync_to_async(_two_case_conference)(cast)
    coord = await joined(conference, cast.coordinator)
    prof = await joined(conference, cast.professional)
    hidden_items, all_items = await database_sync_to_async(
        lambda: (
            list(conference.agenda.filter(case=other).values_list("pk", flat=True)),
            list(conference.agenda.values_list("pk", flat=True)),
        )
    )()
    await coord.op("note.add", item=hidden_items[0], text="見えない世帯のメモ", tier=1)
    await coord.until("ack")
    new_order = list(reversed(all_items))
    await coord.op("agenda.reorder", order=new_order)
    await coord.until("ack")
    frame = await prof.until("event", event="agenda.order")
    assert not set(frame["order"]) & set(hidden_items)
    assert frame["order"] == [pk for pk in new_order if pk not in hidden_items]
    assert (await coord.until("event", event="agenda.order"))["order"] == new_order
    raw = "".join(prof.raw)
    assert "非公開の世帯" not in raw and "見えない世帯のメモ" not in raw
    await prof.op("note.add", item=hidden_items[0], text="x", tier=1)
    assert (await prof.until("error"))["code"] == "not_found"
    for c in (coord, prof):
        await c.close()
