"""The table of live operations and `live_apply`, their one entry point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import events
from conferences.live import agenda, records
from conferences.live.checks import (
    MAX_OP_ID,
    Op,
    OpConflict,
    OpError,
    forget_reserved_ids,
    live,
)
from conferences.models import ActionItem, ClientOp, Conference, Decision, Note, Participant
from permissions.conferences import ConferenceAccess


@dataclass
class OpResult:
    seq: int
    data: dict[str, Any] = field(default_factory=dict)
    duplicate: bool = False


OPS: dict[str, Callable[[Op], dict[str, Any]]] = {
    "note.add": records.text_add("note"),
    "note.edit": records.text_edit("note"),
    "note.delete": records.record_delete("note", Note),
    "decision.add": records.text_add("decision"),
    "decision.edit": records.text_edit("decision"),
    "decision.delete": records.record_delete("decision", Decision),
    "action.add": records.action_add,
    "action.delete": records.record_delete("action", ActionItem),
    "action.review": records.action_review,
    "agenda.current": agenda.agenda_current,
    "agenda.reorder": agenda.agenda_reorder,
    "agenda.add": agenda.agenda_add,
    "conference.start": agenda.state_change(Conference.State.LIVE),
    "conference.close": agenda.state_change(Conference.State.CLOSED),
}
# Operations that read nothing of the conference row but its state: they do not lock it
# first. Their events take their numbers with `UPDATE … WHERE state = <the state checked>`,
# which locks the row from there to the commit (numbers still follow commit order) and fails
# if the meeting was closed in between (then nothing is written).
UNLOCKED_OPS = {
    "note.add",
    "note.edit",
    "note.delete",
    "decision.add",
    "decision.edit",
    "decision.delete",
}


def validate_op_id(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_OP_ID:
        raise OpError("invalid", _("Every operation needs an id (a short string)."))
    return value


def done_before(access: ConferenceAccess, client_op_id: str, actor: Any) -> OpResult | None:
    """The stored answer if this operation id was already applied (a retry), else None."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        # Hand-written: the lookup precedes every operation, and the ORM's query building
        # cost more than the query (docs/performance.md, "Live conference fan-out").
        cursor.execute(
            f"SELECT {qn('user_id')}, {qn('seq')}, {qn('result')} "  # noqa: S608
            f"FROM {qn(ClientOp._meta.db_table)} "
            f"WHERE {qn('conference_id')} = %s AND {qn('client_op_id')} = %s",
            [access.conference.pk, client_op_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    user_id, seq, result = row
    if user_id != actor.pk:
        raise OpError("invalid", _("That operation id is already used."))
    result = _field("result").from_db_value(result, None, connection)
    return OpResult(seq=seq or 0, data=result, duplicate=True)


def _field(name: str) -> Any:
    return ClientOp._meta.get_field(name)


def _op_row(conference: Conference, client_op_id: str, actor: Any, data: dict) -> dict[str, Any]:
    """The operation's id and answer, to store (without its `seq`)."""
    return {
        "conference": conference.pk,
        "client_op_id": client_op_id,
        "user": actor.pk,
        "result": data,
        "at": timezone.now(),
    }


def _record_op(conference: Conference, client_op_id: str, actor: Any, data: dict) -> None:
    """Store the operation id with its answer (a racing twin fails here: IntegrityError)."""
    events.insert_row(
        ClientOp, {"seq": conference.last_seq, **_op_row(conference, client_op_id, actor, data)}
    )


# What rolls an operation back whole; a retry's stored answer may still be due
# (`answer_after_rollback`).
ROLLED_BACK = (IntegrityError, OpError, OpConflict, events.StateChanged)


def live_apply(
    *,
    actor: Any,
    access: ConferenceAccess,
    client_op_id: str,
    op: str,
    args: dict[str, Any],
    agenda_cases: dict[int, int | None] | None = None,
    savepoint: bool = True,
    commit: bool = False,
    hints: bool = True,
) -> OpResult:
    """Apply one client operation, exactly once per (conference, client_op_id).

    One transaction: the operation, its events (sequence number and log row) and the
    operation id, whose unique constraint makes a retry fail (IntegrityError) once it has
    done its work again; it is then rolled back whole and answered with the stored result
    (`done_before`). A retry the current state refuses (OpError, OpConflict: an edit of a
    version since changed by itself, a deletion of what it deleted) is answered the same way;
    only a refusal whose id is not stored reaches the client. `access` is the reader's access
    as the caller last read it (the consumer re-reads it every few seconds and when shares
    change); `agenda_cases` is the caller's cache of the agenda's items (see `checks.Op`).

    Inside a caller's transaction the operation runs in a savepoint, so that a retry
    (IntegrityError, a refusal) or a meeting closed meanwhile (StateChanged) is answered
    here. With `savepoint=False` the caller's transaction is the operation's (two statements
    fewer): those exceptions then leave it, and the caller, once its transaction is rolled
    back, calls `answer_after_rollback` and, if that finds nothing, re-raises (the live socket
    does: `conferences.consumers.db.apply_op`). With `commit` as well (the caller's outermost
    transaction is the operation's, and nothing follows it), a note's or decision's last
    statement commits it (`events.write_deferred`).

    An edit may first assume what this process knows of its record (`checks.known_edit`);
    if the record turns out otherwise, nothing is written (`events.Unmatched`) and the
    operation is applied again with `hints` off, reading the record: here, or with
    `savepoint=False` by the caller once its transaction is rolled back."""
    handler = OPS.get(op)
    if handler is None:
        raise OpError("unknown_op", _("Unknown operation: %(op)s.") % {"op": op[:40]})
    if not isinstance(args, dict):
        raise OpError("invalid", _("The operation's arguments must be an object."))
    try:
        with transaction.atomic(savepoint=savepoint):
            last = commit and not savepoint
            return _apply(actor, access, client_op_id, op, handler, args, agenda_cases, last, hints)
    except events.Unmatched:
        if not savepoint and transaction.get_connection().in_atomic_block:
            raise
        return live_apply(
            actor=actor,
            access=access,
            client_op_id=client_op_id,
            op=op,
            args=args,
            agenda_cases=agenda_cases,
            savepoint=savepoint,
            commit=commit,
            hints=False,
        )
    except ROLLED_BACK as exc:
        if not savepoint and transaction.get_connection().in_atomic_block:
            raise
        result = answer_after_rollback(access, client_op_id, actor, exc)
        if result is None:
            raise
        return result


def answer_after_rollback(
    access: ConferenceAccess, client_op_id: str, actor: Any, exc: Exception
) -> OpResult | None:
    """Once `exc` (one of ROLLED_BACK) has rolled an operation back whole: the stored result
    if it was a retry — its id is stored (IntegrityError), or the state its original left
    refuses it (a note it added is edited since, it closed the meeting…). None otherwise:
    the caller re-raises `exc`, after a state change having raised the refusal for the
    meeting's state now, if there is one (`state_changed`)."""
    if isinstance(exc, IntegrityError):
        forget_reserved_ids()
    result = done_before(access, client_op_id, actor)
    if result is None and isinstance(exc, events.StateChanged):
        state_changed(access)
    return result


def state_changed(access: ConferenceAccess) -> None:
    """After StateChanged, once its transaction is rolled back: the meeting was closed (or not
    yet started) since the reader's state was read, and nothing was written. Raises the
    refusal for the state now (returns if it is live again)."""
    state = Conference.objects.values_list("state", flat=True).get(pk=access.conference.pk)
    access.conference.state = state
    live(access.conference)


def _apply(
    actor: Any,
    access: ConferenceAccess,
    client_op_id: str,
    op: str,
    handler: Callable[[Op], dict[str, Any]],
    args: dict[str, Any],
    agenda_cases: dict[int, int | None] | None,
    commit: bool,
    hints: bool,
) -> OpResult:
    # Not looked up first: a retry is rare, and is recognised when storing its id fails
    # (IntegrityError) or the operation is refused (`live_apply`): one statement fewer on
    # every operation.
    if op not in UNLOCKED_OPS:
        access.conference = events.lock_conference(access.conference.pk)
    conference = access.conference
    if not access.acknowledged:
        raise OpError("ack_required", _("Acknowledge the confidentiality statement first."))
    agenda = {} if agenda_cases is None else agenda_cases
    one = Op(actor, access, conference, args, agenda, hints)
    if op not in UNLOCKED_OPS:
        data = handler(one)
        _record_op(conference, client_op_id, actor, data)
        return OpResult(seq=conference.last_seq, data=data)
    # The hot path (notes and decisions): the events and the operation's id in one statement,
    # which also takes the conference row's lock, at the end (held until the commit).
    with events.deferred() as collected:
        data = handler(one)
    events.write_deferred(
        conference,
        collected,
        (ClientOp, _op_row(conference, client_op_id, actor, data)),
        commit=commit,
    )
    return OpResult(seq=conference.last_seq, data=data)


def participant_exists(conference: Conference, user: Any) -> bool:
    return Participant.objects.filter(conference=conference, user=user).exists()
