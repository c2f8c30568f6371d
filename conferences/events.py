"""The live page's events: written to the per-conference log inside the service's transaction,
broadcast on the channel layer only after that transaction commits.

Each consumer receives every event of its conference's group and forwards only those its
reader may read (`ConferenceAccess.reads`); the group message carries the case and tier so
that this filter needs no database access.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Model
from django.utils import timezone

from conferences.models import Conference, ConferenceEvent
from permissions import rls
from permissions.models import Tier

log = logging.getLogger(__name__)


_local = threading.local()
_pending: set[asyncio.Task] = set()  # keep scheduled broadcasts referenced until done


@contextlib.contextmanager
def _stashed(name: str) -> Iterator[list[Any]]:
    """A new list as this thread's `name` for the block (the outer one put back after it)."""
    items: list[Any] = []
    previous = getattr(_local, name, None)
    setattr(_local, name, items)
    try:
        yield items
    finally:
        setattr(_local, name, previous)


@contextlib.contextmanager
def collect() -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Collect the broadcasts of committed events instead of sending them from this thread.

    A consumer applies an operation in a worker thread, then sends the collected messages
    from its own event loop (still only after the commit: messages are collected by
    `on_commit`). This keeps the worker thread free for the next operation."""
    with _stashed("outbox") as outbox:
        yield outbox


@dataclass
class Deferred:
    """What an operation left for `write_deferred`: its events, and its writes (`defer_row`,
    `defer_update`): each the SQL of one data-modifying statement, its parameters, and
    whether it must touch a row for the operation to be written."""

    events: list[tuple[Conference, dict[str, Any]]] = field(default_factory=list)
    writes: list[tuple[str, list[Any], bool]] = field(default_factory=list)


@contextlib.contextmanager
def deferred() -> Iterator[Deferred]:
    """Within the block `record` numbers and writes nothing: it collects the events, which
    `write_deferred` then writes, numbered, in one statement with the operation's own row
    (the live socket's note and decision operations: one round trip fewer each); on
    PostgreSQL a new note or decision joins that statement too (`defer_row`), and so does
    the edit of one this process knows (`defer_update`)."""
    collected = Deferred()
    with _stashed("pending") as pending, _stashed("writes") as writes:
        collected.events, collected.writes = pending, writes
        yield collected


def deferring() -> bool:
    """Whether a write may be left to `write_deferred` (`defer_row`, `defer_update`): inside
    `deferred()`, on PostgreSQL."""
    return getattr(_local, "writes", None) is not None and connection.vendor == "postgresql"


def defer_row(table: str, columns: list[str], values: list[Any]) -> None:
    """Inside `deferred()` on PostgreSQL: leave the INSERT of a row to `write_deferred`'s
    statement. Nothing returns from it, so its primary key must be among `columns`; `values`
    are database values."""
    if not deferring():
        raise RuntimeError("defer_row: only inside deferred(), on PostgreSQL")
    _local.writes.append((insert_sql(table, columns), values, False))


def defer_update(sql: str, params: list[Any]) -> None:
    """Inside `deferred()` on PostgreSQL: leave a data-modifying statement that returns the
    rows it touched (`UPDATE … RETURNING`) to `write_deferred`'s statement, which numbers and
    writes the events only if it touched one; if it touched none, nothing is written and
    `write_deferred` raises `Unmatched`."""
    if not deferring():
        raise RuntimeError("defer_update: only inside deferred(), on PostgreSQL")
    _local.writes.append((sql, params, True))


def _after_commit(conference_id: int, message: dict[str, Any]) -> None:
    outbox = getattr(_local, "outbox", None)
    if outbox is not None:
        outbox.append((conference_id, message))
    else:
        broadcast(conference_id, message)


def group_name(conference_id: int) -> str:
    return f"conference-{conference_id}"


def lock_conference(conference_id: int) -> Conference:
    """Lock the conference row: sequence numbers are handed out in commit order."""
    return Conference.objects.select_for_update().get(pk=conference_id)


class StateChanged(Exception):
    """The meeting's state is no longer the one the operation checked: roll back."""


class Unmatched(Exception):
    """A statement left to `write_deferred` (`defer_update`) found no row as it expected, or
    the meeting's state changed: nothing was written. The operation is applied again without
    what it assumed, and that names the refusal if there is one."""


def _next_seq(conference: Conference) -> int:
    """The next sequence number, in one statement that also locks the conference row until
    the commit (so numbers follow commit order) and checks the meeting is still in the state
    the caller saw."""
    qn = connection.ops.quote_name
    table = qn(Conference._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {qn('last_seq')} = {qn('last_seq')} + 1 "  # noqa: S608
            f"WHERE {qn('id')} = %s AND {qn('state')} = %s RETURNING {qn('last_seq')}",
            [conference.pk, conference.state],
        )
        row = cursor.fetchone()
    if row is None:
        raise StateChanged(conference.pk)
    return int(row[0])


_EVENT_COLUMNS = ("conference_id", "type", "case_id", "tier", "below_tier", "payload", "at")


def _event_params(values: dict[str, Any]) -> list[Any]:
    opts = ConferenceEvent._meta
    return [
        cast(Field, opts.get_field(c.removesuffix("_id"))).get_db_prep_save(values[c], connection)
        for c in _EVENT_COLUMNS
    ]


def _insert_event(conference: Conference, values: dict[str, Any]) -> tuple[int, int]:
    """(id, seq) of a new log row with the next sequence number (see `_next_seq`). On
    PostgreSQL one statement numbers and inserts (the hot path of every live operation: one
    round trip and no ORM instance fewer); SQLite cannot put an UPDATE in a WITH."""
    qn = connection.ops.quote_name
    opts = ConferenceEvent._meta
    params = _event_params(values)
    columns = ", ".join(qn(c) for c in (*_EVENT_COLUMNS, "seq"))
    conf_table, table = qn(Conference._meta.db_table), qn(opts.db_table)
    placeholders = ", ".join(["%s"] * len(_EVENT_COLUMNS))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH s AS (UPDATE {conf_table} SET {qn('last_seq')} = {qn('last_seq')} + 1 "  # noqa: S608
                f"WHERE {qn('id')} = %s AND {qn('state')} = %s RETURNING {qn('last_seq')}) "
                f"INSERT INTO {table} ({columns}) SELECT {placeholders}, s.{qn('last_seq')} "
                f"FROM s RETURNING {qn('id')}, {qn('seq')}",
                [conference.pk, conference.state, *params],
            )
            row = cursor.fetchone()
            if row is None:
                raise StateChanged(conference.pk)
            return int(row[0]), int(row[1])
        seq = _next_seq(conference)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders}, %s) "  # noqa: S608
            f"RETURNING {qn('id')}",
            [*params, seq],
        )
        return int(cursor.fetchone()[0]), seq


def record(
    conference: Conference,
    type: str,
    payload: dict[str, Any],
    *,
    case_id: int | None,
    tier: int = Tier.WATCH,
    below_tier: int | None = None,
) -> ConferenceEvent | None:
    """Append an event with the next sequence number; broadcast it once committed.

    Must run inside a transaction; raises `StateChanged` if the meeting's state is no longer
    `conference.state`. Inside `deferred()`: only collected (None), for `write_deferred`."""
    values = {
        "conference_id": conference.pk,
        "type": type,
        "case_id": case_id,
        "tier": tier,
        "below_tier": below_tier,
        "payload": payload,
        "at": timezone.now(),
    }
    pending = getattr(_local, "pending", None)
    if pending is not None:
        pending.append((conference, values))
        return None
    pk, conference.last_seq = _insert_event(conference, values)
    return _recorded(conference, pk, conference.last_seq, values)


def _recorded(conference: Conference, pk: int, seq: int, values: dict[str, Any]) -> ConferenceEvent:
    """A written event: broadcast it once committed."""
    event = ConferenceEvent(pk=pk, seq=seq, **values)
    message = message_for(event, with_text=True)
    transaction.on_commit(lambda: _after_commit(conference.pk, message))
    return event


@functools.lru_cache(maxsize=64)
def _deferred_sql(
    table: str, columns: tuple[str, ...], n: int, writes: tuple[tuple[str, bool], ...]
) -> str:
    """`write_deferred`'s statement for its shape: the stamped row's table and columns, `n`
    events, and the deferred writes' SQL (and whether each must touch a row). The parameters
    go in this order: the writes', then the events' count, the conference's id and state,
    then each event's, then the stamped row's. A few shapes recur on every live operation,
    so their text is built once per process (as it is prepared once per connection)."""
    qn = connection.ops.quote_name
    conf_table = qn(Conference._meta.db_table)
    last = f"(SELECT {qn('last_seq')} FROM s)"  # noqa: S608
    ctes: list[str] = []
    matched = ""
    for k, (write_sql, must_match) in enumerate(writes):
        ctes.append(f"r{k} AS ({write_sql})")
        if must_match:
            matched += f" AND EXISTS (SELECT FROM r{k})"
    # Without a number (the state changed, or an update touched nothing) the events are
    # refused by their NOT NULL column, and the statement writes nothing.
    ctes.append(
        f"s AS (UPDATE {conf_table} SET {qn('last_seq')} = {qn('last_seq')} + %s "  # noqa: S608
        f"WHERE {qn('id')} = %s AND {qn('state')} = %s{matched} RETURNING {qn('last_seq')})"
    )
    event_columns = (*_EVENT_COLUMNS, "seq")
    for k in range(n):
        # One INSERT each (not one over VALUES): a NULL takes its column's type.
        event = insert_sql(ConferenceEvent._meta.db_table, event_columns, f"{last} - {n - 1 - k}")
        ctes.append(f"e{k} AS ({event} RETURNING {qn('id')}, {qn('seq')})")
    ctes.append(f"o AS ({insert_sql(table, (*columns, 'seq'), last)})")
    union = " UNION ALL ".join(
        f"SELECT {qn('id')}, {qn('seq')} FROM e{k}"  # noqa: S608
        for k in range(n)
    )
    return f"WITH {', '.join(ctes)} {union} ORDER BY 2"


def _params(model: type[Model], row: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """Columns and database values of `row` (field name -> value) for `model`."""
    fields = [cast(Field, model._meta.get_field(name)) for name in row]
    return (
        [cast(str, f.column) for f in fields],
        [f.get_db_prep_save(v, connection) for f, v in zip(fields, row.values(), strict=True)],
    )


def insert_sql(table: str, columns: Sequence[str], last: str = "") -> str:
    """`INSERT INTO table (columns) VALUES (%s, …)`, names quoted, a placeholder per column;
    with `last`, that SQL expression is the value of the last column instead."""
    return _insert_sql(table, tuple(columns), last)


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], last: str) -> str:
    qn = connection.ops.quote_name
    values = ["%s"] * (len(columns) - 1 if last else len(columns)) + ([last] if last else [])
    return (
        f"INSERT INTO {qn(table)} ({', '.join(qn(c) for c in columns)}) "  # noqa: S608
        f"VALUES ({', '.join(values)})"
    )


def insert_row(model: type[Model], row: dict[str, Any]) -> None:
    """Insert `row` (field name -> value) into `model`'s table: one hand-written statement,
    not an ORM instance and its compiled INSERT (the live operations' hot path)."""
    columns, values = _params(model, row)
    with connection.cursor() as cursor:
        cursor.execute(insert_sql(model._meta.db_table, columns), values)


def write_deferred(
    conference: Conference,
    collected: Deferred,
    stamped: tuple[type[Model], dict[str, Any]],
    *,
    commit: bool = False,
) -> None:
    """Write the events `deferred` collected, with the next sequence numbers, and `stamped`,
    a row of another table (field name -> value) whose `seq` is the last of them. On
    PostgreSQL one statement runs the collected writes (`defer_row`, `defer_update`), numbers
    the events (locking the conference row until the commit, and checking the meeting is
    still in the state `conference` says, as `record` does) and inserts them all. Raises
    `StateChanged` as `record` does; with a `defer_update` among the writes, `Unmatched`
    instead (that update touched no row, or the state changed: the caller cannot tell which
    from here). A reader still pending (`rls.reader_context(..., deferred=True)`) goes in
    the same message: a new note, or an edit of a note this process knows, is then one round
    trip, BEGIN to COMMIT.

    `commit` (PostgreSQL; the caller's transaction ends here, and was begun by the caller's
    outermost `atomic`): COMMIT goes in the same message as the statement, one round trip
    fewer. It is then never reached with part of the operation written: a meeting no longer
    in its state gives the events no number, which their NOT NULL column refuses, and an
    error stops the message before its COMMIT."""
    model, row = stamped
    columns, values = _params(model, row)
    pending = collected.events
    ours = [v for c, v in pending if c.pk == conference.pk]
    if collected.writes and (connection.vendor != "postgresql" or not ours):
        raise RuntimeError("writes are deferred only into a PostgreSQL statement with events")
    for other, v in pending:
        if other.pk != conference.pk:  # not the operation's meeting: written on its own
            pk, other.last_seq = _insert_event(other, v)
            _recorded(other, pk, other.last_seq, v)
    if connection.vendor != "postgresql" or not ours:
        for v in ours:
            pk, conference.last_seq = _insert_event(conference, v)
            _recorded(conference, pk, conference.last_seq, v)
        insert_row(model, {**row, "seq": conference.last_seq})
        return
    n = len(ours)
    writes = tuple((write_sql, must_match) for write_sql, _p, must_match in collected.writes)
    matched = any(must_match for _sql, must_match in writes)
    params: list[Any] = []
    for _sql, write_params, _must in collected.writes:
        params += write_params
    params += [n, conference.pk, conference.state]
    for v in ours:
        params += _event_params(v)
    params += values
    try:
        # Prepared (once per connection): a few shapes, one of them on every live operation.
        rows = rls.execute(
            _deferred_sql(model._meta.db_table, tuple(columns), n, writes),
            params,
            commit=commit,
            prepare=True,
        )
    except IntegrityError as exc:
        if _unnumbered(exc):
            raise (Unmatched if matched else StateChanged)(conference.pk) from exc
        raise
    for v, (pk, seq) in zip(ours, rows, strict=True):
        _recorded(conference, int(pk), int(seq), v)
    conference.last_seq = int(rows[-1][1])


def _unnumbered(exc: IntegrityError) -> bool:
    """Whether `exc` is the log's refusal of an event without a sequence number (the meeting
    was no longer in the state checked: `write_deferred`)."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    return (
        getattr(cause, "sqlstate", None) == "23502"
        and diag is not None
        and diag.table_name == ConferenceEvent._meta.db_table
        and diag.column_name == "seq"
    )


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def message_for(event: ConferenceEvent, *, with_text: bool = False) -> dict[str, Any]:
    message = {
        "type": "conference.event",
        "seq": event.seq,
        "event": event.type,
        "case": event.case_id,
        "tier": event.tier,
        "below": event.below_tier,
        "data": event.payload,
    }
    if with_text and event.type not in PER_READER_EVENTS:
        # The frame, encoded once; each consumer still decides whether its reader gets it.
        # The payload then travels only inside the frame (half the bytes on the layer).
        message["text"] = encode(frame_for(message))
        if event.type != "conference.state":
            del message["data"]
    return message


def frame_for(message: dict[str, Any], reads: Any = None) -> dict[str, Any]:
    """What a reader receives: never the tier bookkeeping, only the event itself.

    A new agenda order names items of every case; a reader gets only the items of cases they
    can see (`reads(case_id, tier)`); without `reads`, the frame for every reader is the same
    and may be encoded once."""
    data = message["data"]
    if message["event"] == "agenda.order":
        cases = data.get("cases", {})
        visible = [
            pk
            for pk in data["order"]
            if cases.get(str(pk)) is None or (reads is not None and reads(cases[str(pk)], 1))
        ]
        data = {"order": visible}
    return {"type": "event", "seq": message["seq"], "event": message["event"], **data}


PER_READER_EVENTS = {"agenda.order"}


def shares_changed(case_id: int) -> None:
    """A share of `case_id` changed (revoked, lowered, raised): once committed, the live
    meetings about that case re-read their readers' access before delivering anything more."""

    def send() -> None:
        from conferences.models import ConferenceCase

        live = ConferenceCase.objects.filter(
            case_id=case_id, conference__state=Conference.State.LIVE
        ).values_list("conference_id", flat=True)
        for conference_id in live:
            broadcast(conference_id, {"type": "conference.shares"})

    transaction.on_commit(send)


def broadcast(conference_id: int, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            async_to_sync(layer.group_send)(group_name(conference_id), message)
        else:  # called from async code (or a thread running a loop): schedule, don't block
            task = loop.create_task(layer.group_send(group_name(conference_id), message))
            _pending.add(task)
            task.add_done_callback(_pending.discard)
    except Exception:
        # The event is in the log: clients catch up from it on their next sync.
        log.exception("broadcast of conference %s event failed", conference_id)
