"""The live socket's database calls (`conferences.consumers.db`) as the server runs them: one
transaction per operation, as the reader, whose broadcasts come back to the socket's loop."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conferences import live, services
from conferences.consumers import db
from conferences.live import checks
from conferences.live.data import record_data
from conferences.models import ClientOp, Conference, Invitation, Note
from permissions import rls
from permissions.conferences import conference_access
from permissions.models import Share, Tier
from permissions.people import display_name
from tests.conferences.conftest import make_live
from tests.permissions.test_rls import as_app_role, ensure_app_role

pytestmark = [pytest.mark.django_db(transaction=True)]

NOTE = "支援メモ：来週ケアマネが訪問"


def _item(conference: Conference) -> int:
    return conference.agenda.filter(case__isnull=False).first().pk


def _add(access, op_id: str, item: int | None = None, text: str = NOTE):  # type: ignore[no-untyped-def]
    item = item or _item(access.conference)
    content = {"id": op_id, "op": "note.add", "args": {"item": item, "text": text, "tier": 2}}
    return db.apply_op(access, content, "ja", {}, False)


def test_an_operations_events_come_back_to_the_socket_after_the_commit(cast):
    """The broadcast is the consumer's to send (from its own loop, after the commit), on
    SQLite and on PostgreSQL, where the reader's transaction is the operation's: it used to
    commit after the outbox was closed, and each event then went out from the worker thread
    through a hop back to the loop."""
    conference = make_live(cast)
    access = conference_access(cast.professional, conference)
    with CaptureQueriesContext(connection) as queries:
        fresh, result, outbox = _add(access, "op-1")
    assert fresh is access
    assert result is not None and not result.duplicate
    assert [(cid, m["type"], m["seq"]) for cid, m in outbox] == [
        (conference.pk, "conference.event", result.seq)
    ]
    assert NOTE in outbox[0][1]["text"]
    assert not [q for q in queries.captured_queries if "SAVEPOINT" in q["sql"]]
    # A retry: the stored answer, nothing broadcast again.
    _fresh, again, outbox = _add(access, "op-1")
    assert again is not None and again.duplicate and again.seq == result.seq
    assert outbox == []
    assert Note.objects.filter(text=NOTE).count() == 1


def test_an_operation_inside_another_transaction_is_refused(cast):
    conference = make_live(cast)
    access = conference_access(cast.professional, conference)
    with pytest.raises(RuntimeError), transaction.atomic():
        _add(access, "nested")
    assert not Note.objects.filter(text=NOTE).exists()


def test_an_operation_on_a_meeting_closed_meanwhile_writes_nothing(cast):
    conference = make_live(cast)
    access = conference_access(cast.professional, conference)  # reads "live"
    services.conference_close(
        actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
    )
    with pytest.raises(live.OpError):
        _add(access, "late")
    assert access.conference.state == Conference.State.CLOSED
    assert not Note.objects.filter(text=NOTE).exists()
    assert not ClientOp.objects.filter(client_op_id="late").exists()


def test_an_edit_on_a_meeting_closed_meanwhile_changes_nothing(cast):
    """On PostgreSQL the edit's UPDATE is sent before the events, and the events' statement
    carries the COMMIT: a meeting closed in between gives the events no number, which must
    stop the message before its COMMIT and roll the UPDATE back."""
    conference = make_live(cast)
    access = conference_access(cast.professional, conference)  # reads "live"
    _f, added, _o = _add(access, "add")
    note_id = added.data["note"]["id"]
    services.conference_close(
        actor=cast.coordinator, access=conference_access(cast.coordinator, conference)
    )
    last_seq = Conference.objects.get(pk=conference.pk).last_seq
    with pytest.raises(live.OpError) as closed:
        _edit(access, "late-edit", note_id, 1, "閉会後の書き換え")
    assert closed.value.code == "closed"
    note = Note.objects.get(pk=note_id)
    assert (note.text, note.version) == (NOTE, 1)
    assert Conference.objects.get(pk=conference.pk).last_seq == last_seq
    assert not ClientOp.objects.filter(client_op_id="late-edit").exists()


@pytest.mark.postgres
def test_an_operation_runs_as_its_reader_under_row_level_security(cast):
    """As the application role (production): the operation reads and writes protected tables
    through its reader's settings, in one transaction; outside it the rows are invisible."""
    ensure_app_role()
    conference = make_live(cast)
    access = conference_access(cast.professional, conference)
    item = _item(conference)
    with as_app_role():
        _fresh, result, outbox = _add(access, "rls-1", item)
        assert not Note.objects.exists()  # no reader named: row-level security hides it
    assert result is not None and not result.duplicate
    assert [cid for cid, _m in outbox] == [conference.pk]
    note = Note.objects.get(pk=result.data["note"]["id"])
    assert (note.text, note.tier, note.author) == (NOTE, Tier.SUPPORT, cast.professional)


@pytest.mark.postgres
def test_a_new_note_is_one_message_to_the_database(cast):
    """PostgreSQL, as the application role: BEGIN, the reader, the note's INSERT (its key
    reserved ahead), its event, the operation's id and COMMIT go in one message; the key
    the note, its event, the answer and the broadcast carry is the one stored."""
    ensure_app_role()
    conference = make_live(cast)
    access = conference_access(cast.professional, conference)
    item = _item(conference)
    agenda = {item: conference.agenda.get(pk=item).case_id}
    checks._reserved.__dict__.clear()  # the thread's next keys: reserved by the first note

    def add(op_id: str, text: str):  # type: ignore[no-untyped-def]
        content = {"id": op_id, "op": "note.add", "args": {"item": item, "text": text}}
        return db.apply_op(access, content, "ja", agenda, False)

    with as_app_role():
        _f, first, _o = add("first", "一件目")
        with CaptureQueriesContext(connection) as queries:
            _f, second, outbox = add("second", "二件目")
    # Django logs its BEGIN and COMMIT; psycopg sends neither (the transaction is ours).
    [statement] = [
        q["sql"] for q in queries.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")
    ]
    assert statement.startswith('WITH r0 AS (INSERT INTO "conferences_note"')
    assert "conferences_conferenceevent" in statement and "conferences_clientop" in statement
    note_id = second.data["note"]["id"]
    assert note_id == first.data["note"]["id"] + 1  # the next of the reserved block
    note = Note.objects.get(pk=note_id)
    assert (note.text, note.tier, note.author) == ("二件目", Tier.SUPPORT, cast.professional)
    event = conference.events.get(seq=second.seq)
    assert event.payload["note"]["id"] == note_id
    assert ClientOp.objects.get(client_op_id="second").result == second.data
    [(_cid, message)] = outbox
    assert json.loads(message["text"])["note"]["id"] == note_id


@pytest.mark.postgres
def test_reserved_keys_are_never_given_twice(cast):
    """Keys reserved ahead by two threads (two sockets' worker threads) never meet: each
    block comes from the table's sequence, as the database's own default would."""
    conference = make_live(cast)
    access = conference_access(cast.professional, conference)
    checks._reserved.__dict__.clear()
    ids = [_add(access, f"main-{n}", text=f"メモ{n}")[1].data["note"]["id"] for n in range(3)]

    def other_thread() -> list[int]:
        try:
            return [
                _add(access, f"other-{n}", text=f"別{n}")[1].data["note"]["id"] for n in range(3)
            ]
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        others = pool.submit(other_thread).result()
    ids += [_add(access, f"main-{n}", text=f"メモ{n}")[1].data["note"]["id"] for n in range(3, 5)]
    assert len(set(ids + others)) == 8
    assert ids == sorted(ids) and others == sorted(others)
    assert Note.objects.filter(conference=conference).count() == 8
    # A plain INSERT (the ORM, a service) takes the sequence's next value: past both blocks.
    later = Note.objects.create(
        conference=conference,
        agenda_item_id=_item(conference),
        case=conference.agenda.get(pk=_item(conference)).case,
        text="後から",
        author=cast.professional,
        updated_by=cast.professional,
    )
    assert later.pk > max(ids + others)


@pytest.mark.postgres
def test_a_reserved_key_taken_meanwhile_fails_once_and_the_retry_succeeds(cast):
    """A database flushed with its sequences reset under a running server hands a thread's
    reserved keys out again: the operation that meets one fails without writing anything,
    the thread drops its reserved keys, and the client's retry (same id) is applied."""
    conference = make_live(cast)
    access = conference_access(cast.professional, conference)
    checks._reserved.__dict__.clear()
    first = _add(access, "first", text="一件目")[1].data["note"]["id"]
    item = conference.agenda.get(pk=_item(conference))
    for pk in (first + 1, first + 2):  # what a reset sequence gives the next plain INSERTs
        Note.objects.create(
            pk=pk,
            conference=conference,
            agenda_item=item,
            case=item.case,
            text=f"別の経路{pk}",
            author=cast.coordinator,
            updated_by=cast.coordinator,
        )
    last_seq = Conference.objects.get(pk=conference.pk).last_seq
    with pytest.raises(IntegrityError):
        _add(access, "taken", text="衝突")
    assert not Note.objects.filter(text="衝突").exists()
    assert Conference.objects.get(pk=conference.pk).last_seq == last_seq
    _f, retried, outbox = _add(access, "taken", text="衝突")
    assert not retried.duplicate and len(outbox) == 1
    assert Note.objects.get(text="衝突").pk == retried.data["note"]["id"] > first + 2


@pytest.mark.postgres
def test_the_periodic_reread_sees_every_readers_shares_under_row_level_security(cast):
    """The refresher re-reads all of a meeting's sockets at once, as the application role:
    each agency's shares are read as one of its members (a share is visible to its agency's
    members), so every reader keeps the tiers `conference_access` gives them."""
    ensure_app_role()
    conference = make_live(cast)
    people = [cast.coordinator, cast.professional, cast.resident]
    accesses = [conference_access(user, conference) for user in people]
    expected = [(a.tiers, a.contributes, a.is_manager) for a in accesses]
    assert {t for a in accesses for t in a.tiers.values()} == {Tier.WATCH, Tier.SUPPORT, 3}
    item = _item(conference)
    _add(accesses[1], "before-refresh", item)
    with as_app_role():
        fresh, messages = db.refresh(accesses, 0)
    assert [(a.tiers, a.contributes, a.is_manager) for a in fresh if a] == expected
    conference.refresh_from_db()
    assert [m["seq"] for m in messages] == list(range(1, conference.last_seq + 1))
    assert NOTE in messages[-1]["data"]["note"]["text"]


def _edit(access, op_id: str, note: int, base: int, text: str, **args):  # type: ignore[no-untyped-def]
    content = {
        "id": op_id,
        "op": "note.edit",
        "args": {"note": note, "text": text, "base_version": base, **args},
    }
    return db.apply_op(access, content, "ja", {}, False)


def test_a_refused_edit_writes_nothing(cast):
    """An edit is written in one statement and checked after it (PostgreSQL): a refusal must
    roll the write back. The professional reads the case at the support tier."""
    conference = make_live(cast)
    prof = conference_access(cast.professional, conference)
    resident = conference_access(cast.resident, conference)  # watch tier, reads no note
    _f, added, _o = _add(prof, "add")
    note_id = added.data["note"]["id"]
    with pytest.raises(live.OpError) as above:
        _edit(prof, "above", note_id, 1, "要配慮にしたい", tier=Tier.SENSITIVE)
    assert above.value.code == "forbidden"
    with pytest.raises(live.OpError) as unseen:
        _edit(resident, "unseen", note_id, 1, "見えないはずのメモ")
    assert unseen.value.code == "not_found"
    note = Note.objects.get(pk=note_id)
    assert (note.text, note.tier, note.version) == (NOTE, Tier.SUPPORT, 1)
    assert not ClientOp.objects.filter(client_op_id__in=["above", "unseen"]).exists()
    conference.refresh_from_db()
    assert conference.last_seq == added.seq  # no event numbered and rolled back


def test_an_edit_writes_the_new_version_and_its_events(cast):
    conference = make_live(cast)
    prof = conference_access(cast.professional, conference)
    _f, added, _o = _add(prof, "add")
    note_id = added.data["note"]["id"]
    _f, edited, outbox = _edit(prof, "edit", note_id, 1, "書き直し", tier=Tier.WATCH)
    assert edited.data == {"note": {"id": note_id, "version": 2}}
    note = Note.objects.get(pk=note_id)
    assert (note.text, note.tier, note.version, note.updated_by) == (
        "書き直し",
        Tier.WATCH,
        2,
        cast.professional,
    )
    [(_cid, message)] = outbox
    assert message["seq"] == edited.seq == added.seq + 1
    assert (message["event"], message["tier"]) == ("note.updated", Tier.WATCH)
    frame = json.loads(message["text"])["note"]
    assert (frame["text"], frame["version"], frame["tier"]) == ("書き直し", 2, Tier.WATCH)
    assert frame["author"] == display_name(cast.professional)
    assert frame["created_at"] == note.created_at.isoformat()


def test_a_retried_edit_gets_its_stored_answer_even_after_later_edits(cast):
    """Retries are not looked up first: a retry of an edit whose note was edited again since
    would be a conflict, but its id is stored, so it gets the first answer."""
    conference = make_live(cast)
    prof = conference_access(cast.professional, conference)
    _f, added, _o = _add(prof, "add")
    note_id = added.data["note"]["id"]
    _f, first, _o = _edit(prof, "edit-1", note_id, 1, "一回目")
    _edit(prof, "edit-2", note_id, 2, "二回目")
    _f, again, outbox = _edit(prof, "edit-1", note_id, 1, "一回目")
    assert again.duplicate and (again.seq, again.data) == (first.seq, first.data)
    assert outbox == []
    assert Note.objects.get(pk=note_id).text == "二回目"
    # A retried addition: nothing added twice, nothing numbered.
    conference.refresh_from_db()
    seq = conference.last_seq
    _f, add_again, outbox = _add(prof, "add")
    assert add_again.duplicate and add_again.seq == added.seq and outbox == []
    assert Note.objects.filter(conference=conference).count() == 1
    conference.refresh_from_db()
    assert conference.last_seq == seq


def test_an_edit_that_raises_the_tier_numbers_both_its_events_and_stores_the_last(cast):
    """Two events of one operation (the removal for readers who lose the note, then the
    update), written with the operation's id in one statement on PostgreSQL: consecutive
    numbers in that order, the stored answer carrying the last."""
    conference = make_live(cast)
    coord = conference_access(cast.coordinator, conference)  # reads the sensitive tier
    _f, added, _o = _add(coord, "add")
    note_id = added.data["note"]["id"]
    _f, raised, outbox = _edit(coord, "raise", note_id, 1, "要配慮へ", tier=Tier.SENSITIVE)
    messages = [m for _cid, m in outbox]
    assert [(m["event"], m["seq"], m["tier"], m["below"]) for m in messages] == [
        ("note.deleted", added.seq + 1, Tier.SUPPORT, Tier.SENSITIVE),
        ("note.updated", added.seq + 2, Tier.SENSITIVE, None),
    ]
    assert raised.seq == added.seq + 2
    assert ClientOp.objects.get(client_op_id="raise").seq == raised.seq
    conference.refresh_from_db()
    assert conference.last_seq == raised.seq
    assert list(
        conference.events.filter(seq__gt=added.seq).values_list("seq", "type", "below_tier")
    ) == [(added.seq + 1, "note.deleted", Tier.SENSITIVE), (added.seq + 2, "note.updated", None)]


def _note_as_app_role(cast):  # type: ignore[no-untyped-def]
    """A live meeting, the professional's access to it, its case's agenda item and the answer
    to a note he added there as the application role."""
    ensure_app_role()
    conference = make_live(cast)
    access = conference_access(cast.professional, conference)
    item = _item(conference)
    with as_app_role():
        _f, added, _o = _add(access, "add", item)
    return conference, access, item, added


@pytest.mark.postgres
def test_an_edit_of_a_note_this_process_wrote_is_one_message_to_the_database(cast):
    """PostgreSQL, as the application role: the edit of a note this server process wrote
    is not read first. BEGIN, the reader, the UPDATE (which matches only the row as this
    process knows it), the event, the operation's id and COMMIT go in one message; the event
    is the same as one built from the row."""
    conference, access, _item_id, added = _note_as_app_role(cast)
    note_id = added.data["note"]["id"]
    with as_app_role(), CaptureQueriesContext(connection) as queries:
        _f, edited, outbox = _edit(access, "edit", note_id, 1, "書き直し")
    [statement] = [
        q["sql"] for q in queries.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")
    ]
    assert statement.startswith('WITH r0 AS (UPDATE "conferences_note"')
    assert edited.data == {"note": {"id": note_id, "version": 2}}
    assert edited.seq == added.seq + 1
    note = Note.objects.select_related("author", "agency").get(pk=note_id)
    assert (note.text, note.version, note.updated_by) == ("書き直し", 2, cast.professional)
    [(_cid, message)] = outbox
    assert json.loads(message["text"])["note"] == record_data(note)
    assert conference.events.get(seq=edited.seq).payload["note"] == record_data(note)
    assert ClientOp.objects.get(client_op_id="edit").seq == edited.seq


def test_an_edit_of_a_note_changed_elsewhere_answers_from_the_row(cast):
    """What this process knows of a note may be out of date: another server process, or an
    administrator, changed it or its author since. The edit then writes nothing on that
    knowledge, takes no sequence number, and is answered from the row as it is."""
    conference = make_live(cast)
    prof = conference_access(cast.professional, conference)

    def fresh_note(n: int) -> int:
        """A note this process wrote, and so knows."""
        return _add(prof, f"add-{n}", text=f"メモ{n}")[1].data["note"]["id"]

    # Edited by someone else since the version this reader holds: a conflict, both texts.
    stale = fresh_note(1)
    Note.objects.filter(pk=stale).update(text="他の人の文", version=2)
    with pytest.raises(live.OpConflict) as conflict:
        _edit(prof, "stale", stale, 1, "私の文")
    assert (conflict.value.current["text"], conflict.value.yours["text"]) == (
        "他の人の文",
        "私の文",
    )
    # Raised to the sensitive tier elsewhere: for this reader it no longer exists.
    raised = fresh_note(2)
    Note.objects.filter(pk=raised).update(tier=Tier.SENSITIVE)
    with pytest.raises(live.OpError) as gone:
        _edit(prof, "unseen", raised, 1, "見えないはずの書き換え")
    assert gone.value.code == "not_found"
    # Deleted elsewhere.
    deleted = fresh_note(3)
    Note.objects.filter(pk=deleted).update(deleted_at=timezone.now())
    with pytest.raises(live.OpError) as missing:
        _edit(prof, "deleted", deleted, 1, "消えたメモ")
    assert missing.value.code == "not_found"
    assert list(
        Note.objects.filter(pk__in=[stale, raised, deleted])
        .order_by("pk")
        .values_list("text", "tier", "version")
    ) == [("他の人の文", Tier.SUPPORT, 2), ("メモ2", Tier.SENSITIVE, 1), ("メモ3", Tier.SUPPORT, 1)]
    assert not ClientOp.objects.filter(client_op_id__in=["stale", "unseen", "deleted"]).exists()
    # Nothing numbered and rolled back: the last event is the last note's.
    last = Conference.objects.get(pk=conference.pk).last_seq
    assert conference.events.get(seq=last).payload["note"]["id"] == deleted
    # The author's name changed since the note was written: the event carries the new one.
    renamed = fresh_note(4)
    get_user_model().objects.filter(pk=cast.professional.pk).update(last_name="新姓")
    before = Conference.objects.get(pk=conference.pk).last_seq
    _f, edited, outbox = _edit(prof, "renamed", renamed, 1, "書き直し")
    assert edited.seq == before + 1  # the first try took no number
    note = Note.objects.select_related("author", "agency").get(pk=renamed)
    [(_cid, message)] = outbox
    frame = json.loads(message["text"])["note"]
    assert frame == record_data(note)
    assert frame["author"] == display_name(note.author) and "新姓" in frame["author"]


def test_what_the_process_knows_of_notes_is_bounded(cast, monkeypatch):
    """The oldest remembered note is forgotten first; its next edit reads the row."""
    monkeypatch.setattr(checks, "KNOWN_MAX", 2)
    conference = make_live(cast)
    prof = conference_access(cast.professional, conference)
    ids = [_add(prof, f"add-{n}", text=f"メモ{n}")[1].data["note"]["id"] for n in range(3)]
    known = {pk for (table, pk) in checks._known if table == Note._meta.db_table}
    assert known == set(ids[1:])
    _f, edited, _o = _edit(prof, "edit-0", ids[0], 1, "最初のメモを書き直し")
    assert edited.data == {"note": {"id": ids[0], "version": 2}}
    assert Note.objects.get(pk=ids[0]).text == "最初のメモを書き直し"


def _take_off_the_meeting(cast, conference) -> None:  # type: ignore[no-untyped-def]
    """In the database only (the socket's access still allows it): the professional's agency
    uninvited, his minute-taking gone, his agency's share of the case expired."""
    Invitation.objects.filter(conference=conference, agency=cast.professional_agency).delete()
    Conference.objects.filter(pk=conference.pk).update(minute_taker=None)
    Share.objects.filter(case=cast.case, agency=cast.professional_agency).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )


@pytest.mark.postgres
@pytest.mark.parametrize("op", ["edit", "add"])
def test_a_write_the_database_no_longer_allows_closes_the_meeting_to_its_reader(cast, op):
    """The socket's access (read up to ACCESS_MAX_AGE ago) and this process's memory of the
    note both still allow the write, but meanwhile the professional was taken off the meeting
    (his agency's invitation, his minute-taking) and his agency's share of the case expired.
    As the application role, row-level security (a member of the meeting, or a reader of its
    case) refuses the write: nothing is written, and the socket is told the meeting is no
    longer open to him (as when its periodic re-read finds that), not a server error."""
    conference, access, item, added = _note_as_app_role(cast)
    note_id = added.data["note"]["id"]
    _take_off_the_meeting(cast, conference)
    with as_app_role():
        if op == "edit":
            answer = _edit(access, "late", note_id, 1, "外された後の書き換え")
        else:  # the agenda item as the socket keeps it: no query before the INSERT
            content = {"id": "late", "op": "note.add", "args": {"item": item, "text": "後"}}
            answer = db.apply_op(access, content, "ja", {item: cast.case.pk}, False)
    assert answer == (None, None, [])
    assert list(Note.objects.values_list("text", "version")) == [(NOTE, 1)]
    assert not ClientOp.objects.filter(client_op_id="late").exists()
    assert Conference.objects.get(pk=conference.pk).last_seq == added.seq


# --- the live statement, prepared once per connection (rls.execute(prepare=True)) ------------


def _prepared() -> list[str]:
    """The statements Otagai prepared on this test's connection: for each, the message that
    prepared it (PostgreSQL shows the whole message), oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE name LIKE 'otagai%%' "
            "ORDER BY prepare_time"
        )
        return [row[0] for row in cursor.fetchall()]


def _nothing_prepared() -> None:
    """A connection with no statement prepared (the pool hands back connections that earlier
    tests used), as this process knows it too."""
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    rls.forget_role(connection)  # what the process knew of the connection, prepared names too


def _add_to(access, op_id: str, item: int, text: str, case: int):  # type: ignore[no-untyped-def]
    """A new note as the socket adds it, its agenda item (of `case`) known: one message."""
    content = {"id": op_id, "op": "note.add", "args": {"item": item, "text": text}}
    return db.apply_op(access, content, "ja", {item: case}, False)


@pytest.mark.postgres
def test_the_live_statement_is_prepared_once_per_connection_and_run_with_each_operations_values(
    cast,
):
    """Parsing and planning it was a third of PostgreSQL's time for a new note: a new note's
    statement is prepared by the first, run with each one's values after; an edit's is
    another shape, prepared once too. What is written is each operation's own."""
    conference, access, item, added = _note_as_app_role(cast)
    _nothing_prepared()
    with as_app_role():
        _f, second, _o = _add_to(access, "second", item, "二件目", cast.case.pk)
        _f, third, _o = _add_to(access, "third", item, "三件目'); DROP TABLE x; --", cast.case.pk)
        [add] = _prepared()
        _f, edited, _o = _edit(access, "edit", second.data["note"]["id"], 1, "二件目を書き直し")
        _f, again, _o = _edit(access, "edit-2", third.data["note"]["id"], 1, "三件目を書き直し")
    assert (
        add.startswith("PREPARE otagai_")
        and ' AS WITH r0 AS (INSERT INTO "conferences_note"' in add
    )
    assert "$1" in add and "EXECUTE otagai_" in add
    [_add, edit] = _prepared()
    assert ' AS WITH r0 AS (UPDATE "conferences_note"' in edit
    notes = dict(Note.objects.values_list("pk", "text"))
    assert notes[second.data["note"]["id"]] == "二件目を書き直し"
    assert notes[third.data["note"]["id"]] == "三件目を書き直し"
    assert notes[added.data["note"]["id"]] == NOTE
    assert [again.seq, edited.seq, third.seq, second.seq] == list(range(again.seq, added.seq, -1))
    assert conference.events.get(seq=third.seq).payload["note"]["text"] == (
        "三件目'); DROP TABLE x; --"
    )


@pytest.mark.postgres
def test_a_prepared_statement_gone_from_the_connection_is_prepared_again(cast):
    """Something else dropped the connection's prepared statements (DEALLOCATE ALL, or a
    pooler's DISCARD): the next operation still goes through, nothing lost or doubled."""
    _conference, access, item, _added = _note_as_app_role(cast)
    _nothing_prepared()
    with as_app_role():
        _add_to(access, "before", item, "前", cast.case.pk)
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")
        assert _prepared() == []
        _f, after, outbox = _add_to(access, "after", item, "後", cast.case.pk)
        assert len(_prepared()) == 1
    assert not after.duplicate and [m["seq"] for _c, m in outbox] == [after.seq]
    assert sorted(Note.objects.values_list("text", flat=True)) == sorted([NOTE, "前", "後"])
    assert ClientOp.objects.get(client_op_id="after").seq == after.seq


@pytest.mark.postgres
def test_a_statement_prepared_by_an_operation_that_failed_is_kept(cast):
    """PostgreSQL keeps a prepared statement when the transaction after it fails: a retry
    whose message prepares the statement (then refused by the operation id's unique key)
    gets its stored answer, and the next new note uses the statement it prepared."""
    _conference, access, item, added = _note_as_app_role(cast)
    _nothing_prepared()
    with as_app_role():
        _f, retry, outbox = _add_to(access, "add", item, NOTE, cast.case.pk)
        assert retry.duplicate and retry.seq == added.seq and outbox == []
        assert len(_prepared()) == 1
        _f, later, _o = _add_to(access, "later", item, "後で", cast.case.pk)
        assert len(_prepared()) == 1
    assert not later.duplicate and later.seq == added.seq + 1
    assert Note.objects.filter(text=NOTE).count() == 1


@pytest.mark.postgres
@pytest.mark.parametrize("op", ["edit", "add"])
def test_a_statement_prepared_as_the_owner_lets_no_refused_write_through(cast, op):
    """A connection may change roles (DATABASE_SET_ROLE; the tests): the statement prepared
    and last planned as the owner, whom row-level security does not apply to, must not let
    through a write the application role's policies refuse. PostgreSQL plans it again for
    the role that runs it (as in "a write the database no longer allows…", above)."""
    conference, access, item, added = _note_as_app_role(cast)
    note_id = added.data["note"]["id"]
    _nothing_prepared()
    if op == "edit":  # as the owner: the same shapes, planned without the policies
        _edit(access, "owner", note_id, 1, "所有者として")
    else:
        _add_to(access, "owner", item, "所有者として", cast.case.pk)
    assert len(_prepared()) == 1
    seq = Conference.objects.get(pk=conference.pk).last_seq
    _take_off_the_meeting(cast, conference)
    with as_app_role():
        if op == "edit":
            answer = _edit(access, "late", note_id, 2, "外された後の書き換え")
        else:
            answer = _add_to(access, "late", item, "外された後", cast.case.pk)
    assert answer == (None, None, [])
    assert not ClientOp.objects.filter(client_op_id="late").exists()
    assert not Note.objects.filter(text__startswith="外された後").exists()
    assert Conference.objects.get(pk=conference.pk).last_seq == seq
