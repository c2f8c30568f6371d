"""Refusals and argument checks shared by the live operations.

Every check asks `permissions.conferences.ConferenceAccess` (the reader's tiers per case, what
they may write); a record or agenda item the reader may not read is "not found", exactly as a
missing one."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Field
from django.utils import timezone
from django.utils.translation import gettext as _

from conferences import events
from conferences.models import AgendaItem, Conference, LiveRecord
from permissions import rls
from permissions.conferences import ConferenceAccess
from permissions.models import Agency, Tier

MAX_TEXT = settings.OTAGAI_MAX_TEXT
MAX_OP_ID = 64


class OpError(Exception):
    """A refused operation: `message` is translated and safe to show to the sender."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class OpConflict(Exception):
    """An edit based on a version that is no longer current: nothing was overwritten."""

    def __init__(self, current: dict[str, Any], yours: dict[str, Any]) -> None:
        super().__init__("conflict")
        self.current = current
        self.yours = yours


@dataclass
class Op:
    """One operation being applied: who, with which access, on which (locked) conference.

    `agenda` maps the conference's agenda item ids to their case (None: other business). The
    consumer keeps it between operations: items never move between conferences or cases and
    are never deleted, so a known item needs no query; an unknown one is looked up and added.
    """

    actor: Any
    access: ConferenceAccess
    conference: Conference
    args: dict[str, Any]
    agenda: dict[int, int | None]
    # Whether an edit may assume what this process knows of its record (`known_edit`); off
    # when the operation is applied again after that turned out wrong (`events.Unmatched`).
    hints: bool = True


def text_arg(args: dict[str, Any], key: str = "text", *, required: bool = True) -> str:
    value = args.get(key, "")
    if not isinstance(value, str):
        raise OpError("invalid", _("The text must be a string."))
    value = value.strip()
    if required and not value:
        raise OpError("invalid", _("Write something first."))
    if len(value) > MAX_TEXT:
        raise OpError(
            "too_long",
            _("The text is too long: at most %(max)s characters (it has %(n)s).")
            % {"max": f"{MAX_TEXT:,}", "n": f"{len(value):,}"},
        )
    return value


def int_arg(args: dict[str, Any], key: str) -> int:
    value = args.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise OpError("invalid", _("Missing or invalid field: %(field)s.") % {"field": key})
    try:
        return int(value)
    except ValueError:
        raise OpError(
            "invalid", _("Missing or invalid field: %(field)s.") % {"field": key}
        ) from None


def tier_choice(args: dict[str, Any]) -> int:
    """The tier the operation asks for (default `support`), if it is one of the tiers."""
    raw = args.get("tier", Tier.SUPPORT)
    try:
        tier = int(raw)
    except (TypeError, ValueError):
        tier = 0
    if tier not in Tier.values:
        raise OpError("invalid", _("Choose one of the tiers: watch-over, support or sensitive."))
    return tier


def tier_arg(args: dict[str, Any], access: ConferenceAccess, case_id: int | None) -> int:
    tier = tier_choice(args)
    if tier > access.tier_for(case_id):
        raise OpError("forbidden", _("You cannot write above the tier you read."))
    return tier


def agenda_item(op: Op) -> AgendaItem:
    """The agenda item named by `item`, if it is this conference's and the reader sees it."""
    pk = int_arg(op.args, "item")
    if pk in op.agenda:
        item = AgendaItem(pk=pk, conference_id=op.conference.pk, case_id=op.agenda[pk])
    else:
        found = AgendaItem.objects.filter(pk=pk, conference=op.conference).first()
        if found is None:
            raise OpError("not_found", _("That agenda item does not exist."))
        item = found
        op.agenda[pk] = item.case_id
    if op.access.tier_for(item.case_id) < Tier.WATCH:
        raise OpError("not_found", _("That agenda item does not exist."))
    return item


def writable(access: ConferenceAccess, case_id: int | None) -> None:
    if not access.may_write(case_id):
        raise OpError("forbidden", _("Your agency may read but not write here."))


def live(conference: Conference) -> None:
    if conference.state != Conference.State.LIVE:
        if conference.state == Conference.State.SCHEDULED:
            raise OpError("not_live", _("The meeting has not started yet."))
        raise OpError("closed", _("The meeting is closed: no more changes."))


def chair(access: ConferenceAccess) -> None:
    if not access.is_chair:
        raise OpError("forbidden", _("Only the chair does this."))


def locked_record(model: type[LiveRecord], op: Op, key: str):  # type: ignore[no-untyped-def]
    pk = int_arg(op.args, key)
    # A slice, not .first(): no ORDER BY to build for a lookup by primary key.
    found = list(
        model._default_manager.select_for_update(of=("self",))
        .select_related("author", "agency")
        .filter(pk=pk, conference=op.conference, deleted_at__isnull=True)[:1]
    )
    record = found[0] if found else None
    # A record above the reader's tier does not exist for them, as a deleted one.
    if record is None or not op.access.reads(record.case_id, record.tier):
        raise OpError("not_found", _("That entry no longer exists."))
    return record


def writer_agency(actor: Any, access: ConferenceAccess) -> Agency | None:
    """The writer's agency, from their (cached) memberships: no query per operation."""
    from permissions.policy import _memberships

    for m in _memberships(actor):
        if m.agency_id == access.agency_id:
            return m.agency
    return Agency.objects.filter(pk=access.agency_id or 0).first()


@dataclass(frozen=True)
class Known:
    """What an edit's event repeats of a note or decision besides the edit itself, as this
    process last wrote or read it: its agenda item, case and tier, its author's and agency's
    names, its creation time."""

    item: int | None
    case: int | None
    tier: int
    author: int
    username: str
    first_name: str
    last_name: str
    agency: int | None
    agency_name: str
    created_at: dt.datetime


def _names(model: type[LiveRecord]) -> tuple[str, str, str, str]:
    """Quoted: the record's table, the user and agency tables, the username column."""
    user_model = get_user_model()
    qn = connection.ops.quote_name
    username = cast(Field, user_model._meta.get_field(user_model.USERNAME_FIELD))
    return (
        qn(model._meta.db_table),
        qn(user_model._meta.db_table),
        qn(Agency._meta.db_table),
        qn(cast(str, username.column)),
    )


def _edited(
    model: type[LiveRecord],
    op: Op,
    pk: int,
    known: Known,
    *,
    tier: int,
    text: str,
    version: int,
    now: dt.datetime,
) -> LiveRecord:
    """The record as `op`'s edit writes it, at `now`."""
    user_model = get_user_model()
    author = user_model(pk=known.author, first_name=known.first_name, last_name=known.last_name)
    setattr(author, user_model.USERNAME_FIELD, known.username)
    agency = Agency(pk=known.agency, name=known.agency_name) if known.agency is not None else None
    return cast(Any, model)(
        pk=pk,
        conference_id=op.conference.pk,
        agenda_item_id=known.item,
        case_id=known.case,
        tier=tier,
        text=text,
        author=author,
        agency=agency,
        version=version,
        created_at=known.created_at,
        updated_at=now,
        updated_by=op.actor,
    )


def edited_record(
    model: type[LiveRecord], op: Op, key: str, text: str, base: int
) -> tuple[LiveRecord, int] | None:
    """The usual edit of a note or decision, in one statement: lock the record named by
    `key`, and if its version is still `base`, write `text` (and the tier asked for, if any)
    and count the version up. Returns the record as written and its tier before, or None when
    no such record has version `base` (missing, deleted, another conference's, or changed
    since: the caller goes the long way, through `locked_record`, to say which). On SQLite,
    two statements (`_edited_in_sqlite`).

    It writes before the caller's checks (may this reader read the record's old tier, write
    in its case, give it the new tier?): a refusal raises, which rolls the write back with
    the operation's transaction. Row-level security applies to the statement as to any.
    The ORM's building of the two statements it replaces cost more than running them
    (docs/performance.md, "Live conference fan-out")."""
    pk = int_arg(op.args, key)
    new_tier = tier_choice(op.args) if "tier" in op.args else None
    table, users, agencies, username = _names(model)
    now = timezone.now()
    if connection.vendor != "postgresql":
        rows = _edited_in_sqlite(
            table, users, agencies, username, op, pk, new_tier, text, base, now
        )
    else:
        rows = rls.execute(
            f"UPDATE {table} AS r SET text = %s, tier = COALESCE(%s, o.tier), "  # noqa: S608
            "version = o.version + 1, updated_at = %s, updated_by_id = %s "
            "FROM (SELECT n.id, n.tier, n.version, "
            f"u.{username} AS username, u.first_name, u.last_name, a.name AS agency_name "
            f"FROM {table} n JOIN {users} u ON u.id = n.author_id "
            f"LEFT JOIN {agencies} a ON a.id = n.agency_id "
            "WHERE n.id = %s AND n.conference_id = %s AND n.deleted_at IS NULL "
            "FOR UPDATE OF n) AS o "
            "WHERE r.id = o.id AND o.version = %s "
            # What `Known` holds, in its order, then the new version.
            "RETURNING r.agenda_item_id, r.case_id, o.tier, r.author_id, o.username, "
            "o.first_name, o.last_name, r.agency_id, COALESCE(o.agency_name, ''), r.created_at, "
            "r.version",
            [text, new_tier, now, op.actor.pk, pk, op.conference.pk, base],
        )
    if not rows:
        return None
    *fields, version = rows[0]
    known = Known(*fields)
    old_tier = known.tier
    tier = old_tier if new_tier is None else new_tier
    return _edited(model, op, pk, known, tier=tier, text=text, version=version, now=now), old_tier


def _edited_in_sqlite(
    table: str,
    users: str,
    agencies: str,
    username: str,
    op: Op,
    pk: int,
    new_tier: int | None,
    text: str,
    base: int,
    now: dt.datetime,
) -> list[tuple]:
    """`edited_record`'s statement on SQLite, whose RETURNING cannot name the FROM clause's
    columns: the record read, then written if its version is still `base`. Nothing writes
    between the two: the operation's transaction holds SQLite's write lock from its BEGIN
    (`transaction_mode` IMMEDIATE, config/settings.py). The same row as the PostgreSQL
    statement returns, or none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.agenda_item_id, n.case_id, n.tier, n.author_id, "  # noqa: S608
            f"u.{username}, u.first_name, u.last_name, n.agency_id, COALESCE(a.name, ''), "
            f"n.created_at, n.version FROM {table} n JOIN {users} u ON u.id = n.author_id "
            f"LEFT JOIN {agencies} a ON a.id = n.agency_id "
            "WHERE n.id = %s AND n.conference_id = %s AND n.deleted_at IS NULL",
            [pk, op.conference.pk],
        )
        row = cursor.fetchone()
        if row is None or row[-1] != base:
            return []
        cursor.execute(
            f"UPDATE {table} SET text = %s, tier = %s, version = %s, updated_at = %s, "  # noqa: S608
            "updated_by_id = %s WHERE id = %s AND version = %s",
            [
                text,
                row[2] if new_tier is None else new_tier,
                base + 1,
                connection.ops.adapt_datetimefield_value(now),
                op.actor.pk,
                pk,
                base,
            ],
        )
        if cursor.rowcount != 1:
            return []
    # As the ORM reads it: SQLite stores text, the backend's converter makes it a datetime.
    created_at = cast(Any, connection.ops).convert_datetimefield_value(row[9], None, connection)
    return [(*row[:9], created_at, base + 1)]


KNOWN_MAX = 4096  # records; the oldest remembered is forgotten first
_known: OrderedDict[tuple[str, int], Known] = OrderedDict()
_known_lock = threading.Lock()


def remember(record: LiveRecord) -> None:
    """Keep what an edit of `record` will need (`known_edit`), as written or read now."""
    author = record.author
    known = Known(
        item=record.agenda_item_id,
        case=record.case_id,
        tier=record.tier,
        author=record.author_id,
        username=author.get_username(),
        first_name=author.first_name,
        last_name=author.last_name,
        agency=record.agency_id,
        agency_name=record.agency.name if record.agency is not None else "",
        created_at=record.created_at,
    )
    key = (record._meta.db_table, record.pk)
    with _known_lock:
        _known[key] = known
        _known.move_to_end(key)
        while len(_known) > KNOWN_MAX:
            _known.popitem(last=False)


def forget(model: type[LiveRecord], pk: int) -> None:
    with _known_lock:
        _known.pop((model._meta.db_table, pk), None)


def _recall(model: type[LiveRecord], pk: int) -> Known | None:
    with _known_lock:
        return _known.get((model._meta.db_table, pk))


def known_edit(
    model: type[LiveRecord], op: Op, key: str, text: str, base: int
) -> tuple[LiveRecord, int] | None:
    """The usual edit of a note or decision this process wrote or edited, in the operation's
    one message (PostgreSQL, inside `events.deferred`): the record as it will be written and
    its tier before, built from what this process knows of it (`remember`), without reading
    it. None (the caller reads the row) when nothing is known, or when what is known would
    refuse the edit: the row, not a memory, names a refusal.

    What is known is never trusted: the UPDATE left to `events.write_deferred` touches the
    row only if its version is still `base` and it still has every value the event repeats
    (names included); otherwise nothing is written and the operation is applied again,
    reading the row (`events.Unmatched`, `Op.hints`). Row-level security applies to it as
    to any statement."""
    if not op.hints or not events.deferring():
        return None
    pk = int_arg(op.args, key)
    known = _recall(model, pk)
    if known is None:
        return None
    if not op.access.reads(known.case, known.tier):
        return None
    try:  # the same checks as the caller's, on what is known
        writable(op.access, known.case)
        tier = tier_arg(op.args, op.access, known.case) if "tier" in op.args else known.tier
    except OpError:
        return None
    table, users, agencies, username = _names(model)
    now = timezone.now()
    events.defer_update(
        f"UPDATE {table} AS r SET text = %s, tier = %s, version = %s, updated_at = %s, "  # noqa: S608
        "updated_by_id = %s "
        "WHERE r.id = %s AND r.conference_id = %s AND r.deleted_at IS NULL AND r.version = %s "
        "AND r.agenda_item_id = %s AND r.case_id IS NOT DISTINCT FROM %s AND r.tier = %s "
        "AND r.author_id = %s AND r.agency_id IS NOT DISTINCT FROM %s AND r.created_at = %s "
        f"AND EXISTS (SELECT FROM {users} u WHERE u.id = r.author_id AND u.{username} = %s "
        "AND u.first_name = %s AND u.last_name = %s) "
        f"AND (r.agency_id IS NULL OR EXISTS (SELECT FROM {agencies} a "
        "WHERE a.id = r.agency_id AND a.name = %s)) "
        "RETURNING r.id",
        [
            text,
            tier,
            base + 1,
            now,
            op.actor.pk,
            pk,
            op.conference.pk,
            base,
            known.item,
            known.case,
            known.tier,
            known.author,
            known.agency,
            known.created_at,
            known.username,
            known.first_name,
            known.last_name,
            known.agency_name,
        ],
    )
    return _edited(
        model, op, pk, known, tier=tier, text=text, version=base + 1, now=now
    ), known.tier


# Primary keys taken from a table's sequence ahead of need, per thread (each worker thread
# has its own connection); a block left unused when the process stops is a gap in the ids,
# nothing more. Notes and decisions are ordered by time, never by id.
ID_BLOCK = 32
_reserved = threading.local()


def reserved_id(model: type[LiveRecord]) -> int:
    """A new primary key for `model` from its table's sequence (PostgreSQL), without a round
    trip to the database for 31 of every 32."""
    opts = model._meta
    blocks: dict[str, list[int]] = vars(_reserved)  # this thread's: table -> keys left
    ids = blocks.setdefault(opts.db_table, [])
    if not ids:
        rows = rls.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [opts.db_table, opts.pk.column, ID_BLOCK],
        )
        ids.extend(sorted((int(r[0]) for r in rows), reverse=True))
    return ids.pop()


def forget_reserved_ids() -> None:
    """Drop this thread's reserved keys: after a unique violation, in case one was handed out
    again (a database flushed with its sequences reset under a running server); the next new
    record reserves a fresh block."""
    vars(_reserved).clear()


def insert(record: LiveRecord) -> None:
    """Insert a new note or decision and set its primary key: what `save()` does for a new
    row, without building the statement through the ORM on every operation.

    In a live operation on PostgreSQL (`events.deferred`) the key is taken ahead
    (`reserved_id`) and the INSERT joins the operation's last statement, with the events and
    the COMMIT (`events.write_deferred`): a new note is one message to the database. Else it
    runs now, the first statement of its transaction (`rls.execute` sends BEGIN and the
    reader with it)."""
    opts = record._meta
    qn = connection.ops.quote_name
    deferring = events.deferring()
    if deferring:
        record.pk = reserved_id(type(record))
    fields = [f for f in opts.concrete_fields if deferring or not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(record, add=True), connection) for f in fields]
    columns = [cast(str, f.column) for f in fields]
    if deferring:
        events.defer_row(opts.db_table, columns, values)
    else:
        [(record.pk,)] = rls.execute(
            f"{events.insert_sql(opts.db_table, columns)} "
            f"RETURNING {qn(cast(str, opts.pk.column))}",
            values,
        )
    record._state.adding = False
    record._state.db = connection.alias
