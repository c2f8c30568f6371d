"""Row-level security on PostgreSQL: telling the database who is reading.

The policies (permissions/migrations/0009_row_level_security.py, docs/permissions.md) let a
row of a case-bearing table through only for the reader named by these per-transaction
settings; with none set, they let nothing through. The application role (env
`DATABASE_APP_ROLE`, default `otagai_app`, without BYPASSRLS) is subject to them; the owner
role that runs migrations and management commands is not.

- `otagai.user_id` — the reader's user id; empty for anonymous and inactive users.
- `otagai.purpose` — `council_report` while a council manager reads a council-wide report
  (the unmet-needs statistics, a declaration's safety tally and report), which covers every
  case; otherwise empty.
- `otagai.lookup_case` — the one case a professional names to open it by break-glass.

Settings are transaction-local (`set_config(..., true)`): a request runs in one transaction
(`ReaderMiddleware`), each consumer database call in `reader_context(user)`. Code that forgets
to set them reads nothing, rather than someone else's rows. SQLite: every helper is a no-op.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from psycopg import ClientCursor, adapt, generators, pq, sql
from psycopg import errors as psycopg_errors

USER_SETTING = "otagai.user_id"
PURPOSE_SETTING = "otagai.purpose"
LOOKUP_SETTING = "otagai.lookup_case"
SETTINGS = (USER_SETTING, PURPOSE_SETTING, LOOKUP_SETTING)
COUNCIL_REPORT = "council_report"

# The tables under row-level security, and what decides whether a row is visible
# (the policies themselves are in the migration; tests check that the two agree).
PROTECTED_TABLES: dict[str, str] = {
    "casework_case": "the reader may read the case (policy.cases_visible_to)",
    "casework_case_need_categories": "its case",
    "casework_householdmember": "its case",
    "casework_chronologyentry": "its case",
    "casework_watchassignment": "its case",
    "casework_visitlog": "its case",
    "casework_evacuationplan": "its case",
    "casework_safetymark": "its case",
    "casework_concern": "its reporter, its life area's triagers, or its case",
    "permissions_share": "its case",
    "permissions_consent": "its case",
    "permissions_consent_agencies": "its consent",
    "permissions_breakglass": "its user, its case, or staff (the admin's oversight list)",
    "conferences_conferencecase": "a member of the conference, or its case",
    "conferences_agendaitem": "a member of the conference, or its case",
    "conferences_note": "a member of the conference, or its case",
    "conferences_decision": "a member of the conference, or its case",
    "conferences_actionitem": "a member of its conference, its case, or (no case) its owners",
    "conferences_actionchange": "its action item",
    "conferences_actionreview": "a member of the conference, or its action item",
    "conferences_followupnotification": "its recipient, or its action item",
    "conferences_conferenceevent": "a member of the conference",
    "conferences_prepsheet": "its conference case",
    "conferences_prepask": "its preparation sheet",
    "conferences_minutesdraft": "a member of the conference",
    "conferences_minutesversion": "a member of the conference",
    "conferences_minutesexport": "its minutes version",
}


def enabled(using: str = DEFAULT_DB_ALIAS) -> bool:
    return connections[using].vendor == "postgresql"


def reader_id(user: Any) -> str:
    """The value of `otagai.user_id` for this user: empty unless an active, logged-in user."""
    if (
        user is None
        or not getattr(user, "is_authenticated", False)
        or not getattr(user, "is_active", False)
    ):
        return ""
    return str(int(user.pk))


def _values(user: Any, purpose: str, lookup_case: int | None) -> list[str]:
    return [reader_id(user), purpose, "" if lookup_case is None else str(int(lookup_case))]


# JIT off for the reader's transaction: the policies' sub-plans lift the planner's cost
# estimates over `jit_above_cost`, and compiling them took ~300 ms a statement for queries
# that run in a few milliseconds (docs/performance.md, "Row-level security").
_SET_SQL = (
    "SELECT "
    + ", ".join("current_setting(%s, true)" for _ in SETTINGS)
    + ", "
    + ", ".join("set_config(%s, %s, true)" for _ in SETTINGS)
    + ", set_config('jit', 'off', true)"
)


def _set(connection: BaseDatabaseWrapper, values: list[str]) -> list[str]:
    """Set the three settings (and `jit = off`) for the current transaction; returns the
    settings' previous values.

    One statement, on the driver's connection: like BEGIN, it is the transaction's context
    rather than a query of the page, so Django's query log (and the query-count tests) do
    not list it. At the start of a transaction, BEGIN and the settings go in one round trip
    (`_begin_as`)."""
    connection.ensure_connection()
    driver = connection.connection
    with connection.wrap_database_errors:
        pending = _PENDING.pop(connection, None)
        if pending is not None:
            _begin_as(driver, pending)  # a deferred reader (`reader_context`) goes first
        if not driver.autocommit and driver.pgconn.transaction_status == pq.TransactionStatus.IDLE:
            return _begin_as(driver, values)
        params = [*SETTINGS, *(p for pair in zip(SETTINGS, values, strict=True) for p in pair)]
        row = driver.execute(_SET_SQL, params).fetchone()
    return [v or "" for v in row[: len(SETTINGS)]]


def _begin_as(driver: Any, values: list[str]) -> list[str]:
    """Start the transaction that Django's `atomic` has opened (psycopg sends BEGIN only before
    its first statement) together with the reader's settings: one round trip instead of two
    on every request and every live operation (docs/performance.md). A new transaction has no
    reader yet: the previous values are empty.

    Several statements in one message need the simple query protocol, so the values are
    quoted here, by psycopg (`sql.Literal`); psycopg sees the transaction open and sends no
    BEGIN of its own."""
    _exec(driver, _begin_sql(driver, values))
    return ["" for _ in SETTINGS]


# `_begin_sql`'s text per reader (their settings' values) and plan mode: the same few readers
# begin a transaction on every request and live operation. Quoted by the first connection
# that asks; every connection of the process is to the same database, with the same client
# encoding and string syntax, so the quoting is the same for all of them.
_BEGIN_SQL: dict[tuple[tuple[str, ...], bool], str] = {}
_BEGIN_SQL_MAX = 1024


def _begin_sql(driver: Any, values: list[str], *, generic: bool = False) -> str:
    """BEGIN and the reader's settings; `generic`: the transaction's prepared statements use
    their generic plan (`execute(..., prepare=True)`)."""
    key = (tuple(values), generic)
    text = _BEGIN_SQL.get(key)
    if text is None:
        text = _quoted_begin_sql(driver, values, generic)
        if len(_BEGIN_SQL) < _BEGIN_SQL_MAX:
            _BEGIN_SQL[key] = text
    return text


def _quoted_begin_sql(driver: Any, values: list[str], generic: bool) -> str:
    pairs = ", ".join(
        f"set_config({sql.Literal(name).as_string(driver)}, "
        f"{sql.Literal(value).as_string(driver)}, true)"
        for name, value in zip(SETTINGS, values, strict=True)
    )
    plans = ", set_config('plan_cache_mode', 'force_generic_plan', true)" if generic else ""
    return f"BEGIN; SELECT {pairs}{plans}, set_config('jit', 'off', true)"


def _send(driver: Any, command: str) -> list[Any]:
    """Send `command` (several statements: the simple query protocol) and return each
    statement's result, up to and including the first error (PostgreSQL runs none after
    it)."""
    with driver.lock:
        driver.pgconn.send_query(command.encode(driver.info.encoding))
        return driver.wait(generators.execute(driver.pgconn))


def _error(driver: Any, results: list[Any]) -> psycopg_errors.Error | None:
    for result in results:
        if result.status not in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
            return psycopg_errors.error_from_result(result, encoding=driver.info.encoding)
    return None


def _exec(driver: Any, command: str) -> list[Any]:
    """Send `command` (several statements: the simple query protocol) and return each
    statement's result; an error in any of them raises it (PostgreSQL runs none after it)."""
    results = _send(driver, command)
    if (error := _error(driver, results)) is not None:
        raise error
    return results


# Prepared statements (`execute(..., prepare=True)`: the live operations' last statement).
# That statement has a few shapes (a new note or decision; an edit; an edit that raises the
# tier), and parsing and planning it was over a third of PostgreSQL's time for it on every
# operation (docs/performance.md, live fan-out, "Twelfth round"). Each shape is prepared once
# per physical connection, by a `PREPARE` at the head of the message that first runs it, and
# executed with the operation's values (quoted by psycopg, as before) in the same one message.
# The names prepared on a connection are kept with it (_PHYSICAL: "prepared"). PostgreSQL
# keeps a prepared statement when the transaction after it fails, so a name is kept once its
# PREPARE succeeded, whatever followed; one that has gone meanwhile (DEALLOCATE, DISCARD) is
# prepared again. A connection that does not keep them (a pooler in transaction mode, which
# hands each transaction whichever server session is free) misses twice in a row: it then
# runs its statements unprepared from then on. At most PREPARED_MAX per connection; beyond,
# statements run unprepared.
PREPARED_MAX = 32
_DUPLICATE_PREPARED = "42P05"
_UNKNOWN_PREPARED = "26000"


@functools.lru_cache(maxsize=PREPARED_MAX * 8)
def _statement_name(query: str, n_params: int) -> str | None:
    """The name `query` goes by when prepared (None: it has `%` other than its placeholders),
    built once per process: the same few statements run on every live operation."""
    if query.count("%") != n_params or query.count("%s") != n_params:
        return None
    return "otagai_" + hashlib.blake2b(query.encode(), digest_size=8).hexdigest()


def _prepared_name(driver: Any, query: str, params: list[Any]) -> str | None:
    """The name `query` is prepared under on this connection (None: run it unprepared: a
    query with `%` other than its placeholders, or a connection with PREPARED_MAX already)."""
    name = _statement_name(query, len(params))
    if name is None:
        return None
    state = _PHYSICAL.setdefault(driver, {"role": ""})
    prepared = state.setdefault("prepared", set())
    if state.get("unprepared") or (name not in prepared and len(prepared) >= PREPARED_MAX):
        return None
    return name


def _numbered(query: str) -> str:
    """`query` with PostgreSQL's placeholders ($1, $2…) for psycopg's (%s)."""
    parts = query.split("%s")
    return parts[0] + "".join(f"${k}{part}" for k, part in enumerate(parts[1:], start=1))


def _run_prepared(
    driver: Any, name: str, query: str, params: list[Any], begin: str, tail: str
) -> Any:
    """Run `begin`, the statement prepared as `name` (preparing it first on this connection
    if it is not yet) with `params`, and `tail`, in one message; return the statement's
    result. Raises the first error, as `_exec`. None: this connection does not keep prepared
    statements, and nothing was run (the caller runs the statement unprepared)."""
    state = _PHYSICAL[driver]
    prepared = state["prepared"]
    values = ClientCursor(driver).mogrify(", ".join(["%s"] * len(params)), params)
    run = f"EXECUTE {name}({values})" if params else f"EXECUTE {name}"
    for _attempt in range(2):
        fresh = name not in prepared
        head = f"PREPARE {name} AS {_numbered(query)}; " if fresh else ""
        results = _send(driver, f"{head}{begin}; {run}{tail}")
        if fresh and results[0].status == pq.ExecStatus.COMMAND_OK:
            prepared.add(name)
        error = _error(driver, results)
        if error is None:
            return results[3 if fresh else 2]
        if fresh and error.sqlstate == _DUPLICATE_PREPARED and len(results) == 1:
            # Prepared already: what this process knew of the connection was forgotten
            # (`forget_role`, a role set anew). Nothing else of the message ran.
            prepared.add(name)
            continue
        if not fresh and error.sqlstate == _UNKNOWN_PREPARED:
            # Gone from the connection (DEALLOCATE, DISCARD): nothing of the transaction ran
            # after its reader's settings, which the rollback drops; again, preparing it.
            prepared.discard(name)
            _exec(driver, "ROLLBACK")
            continue
        raise error
    # Missed twice: the connection does not keep what is prepared on it.
    state["unprepared"] = True
    if driver.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        _exec(driver, "ROLLBACK")
    return None


# Readers named by `reader_context(..., deferred=True)` whose transaction has not begun yet:
# BEGIN and their settings go with the transaction's first statement (`execute`), or before
# any other statement (`_flush_pending`, `_set`).
_PENDING: weakref.WeakKeyDictionary[BaseDatabaseWrapper, list[str]] = weakref.WeakKeyDictionary()


def _flush_pending(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    connection = context["connection"]
    pending = _PENDING.pop(connection, None)
    if pending is not None:
        with connection.wrap_database_errors:
            _begin_as(connection.connection, pending)
    return execute(sql, params, many, context)


def execute(
    query: str,
    params: list[Any],
    using: str = DEFAULT_DB_ALIAS,
    *,
    commit: bool = False,
    prepare: bool = False,
) -> list[tuple]:
    """Run one statement and return its rows. If the transaction's reader is still pending
    (`reader_context(..., deferred=True)`), BEGIN and the reader's settings go in the same
    message: one round trip for all three (the live operations' first statement).

    `commit` (PostgreSQL; the statement is the last of a transaction begun by the caller's
    outermost `atomic`): COMMIT goes in the same message. An error stops the message before
    it, and the caller's `atomic` rolls back as after any error.

    `prepare` (with a pending reader): the statement is prepared once per connection and then
    executed, with its generic plan (`_run_prepared`): for a statement of a few fixed shapes
    run on every live operation. Django's query log still shows it with its values."""
    connection = connections[using]
    pending = _PENDING.pop(connection, None) if connection.vendor == "postgresql" else None
    tail = "; COMMIT" if commit else ""
    if pending is None:
        with connection.cursor() as cursor:
            cursor.execute(query + tail, params)  # the rows are the first statement's
            return cursor.fetchall() if cursor.description is not None else []
    connection.ensure_connection()
    driver = connection.connection
    started = time.monotonic()
    name = _prepared_name(driver, query, params) if prepare else None
    statement = ""
    with connection.wrap_database_errors:
        begin = _begin_sql(driver, pending, generic=name is not None)
        result = None if name is None else _run_prepared(driver, name, query, params, begin, tail)
        if result is None:
            # The parameters are quoted by psycopg, as Django's client-side binding cursor
            # does (whatever cursor the connection makes by default).
            statement = ClientCursor(driver).mogrify(query, params)
            # BEGIN, the reader's SELECT, the statement, and COMMIT if asked: the third.
            result = _exec(driver, f"{begin}; {statement}{tail}")[2]
    if connection.queries_logged:
        statement = statement or ClientCursor(driver).mogrify(query, params)
        connection.queries_log.append(
            {"sql": statement, "time": f"{time.monotonic() - started:.3f}"}
        )
    loader = adapt.Transformer(driver)
    loader.set_pgresult(result)
    return [loader.load_row(i, tuple) for i in range(result.ntuples)]


def refused_by_policy(exc: BaseException) -> bool:
    """Whether `exc`, a database error, is PostgreSQL refusing a row the reader may not write
    (a row-level security policy: SQLSTATE 42501, as for a missing privilege)."""
    return getattr(exc.__cause__, "sqlstate", None) == "42501"


def set_reader(
    user: Any,
    *,
    purpose: str = "",
    lookup_case: int | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> None:
    """Name the reader for the rest of the current transaction (e.g. after a log-in, or a
    calendar feed's token). Outside a transaction it would last one statement: refused."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    if not connection.in_atomic_block:
        raise RuntimeError("set_reader needs a transaction: use reader_context()")
    _set(connection, _values(user, purpose, lookup_case))


@contextlib.contextmanager
def reader_context(
    user: Any,
    *,
    purpose: str = "",
    lookup_case: int | None = None,
    using: str = DEFAULT_DB_ALIAS,
    deferred: bool = False,
) -> Iterator[None]:
    """Run the block in a transaction whose reader is `user` (PostgreSQL; else a no-op).

    `deferred` (outermost only): BEGIN and the reader's settings are not sent on entering
    but with the block's first statement when it goes through `execute`, else before it.

    Nested in another transaction, the outer reader is put back on leaving the block.
    `on_commit` hooks of an outermost block run after the commit, without a reader: they
    must open their own `reader_context` if they read protected tables."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    nested = connection.in_atomic_block
    # Nested: no savepoint of its own (it would cost two statements on every request in
    # tests and in nested uses); an error that leaves the block marks the outer transaction
    # for rollback, as an error in any `atomic(savepoint=False)` does.
    with transaction.atomic(using=using, savepoint=not nested):
        if deferred and not nested:
            # BEGIN and the settings go with the first statement: `execute` sends them in
            # its message, any other statement after them (`_flush_pending`).
            _PENDING[connection] = _values(user, purpose, lookup_case)
            try:
                with connection.execute_wrapper(_flush_pending):
                    yield
            finally:
                _PENDING.pop(connection, None)
            return
        previous = _set(connection, _values(user, purpose, lookup_case))
        yield
        if nested and not connection.needs_rollback:
            _set(connection, previous)


def council_report_context(user: Any, using: str = DEFAULT_DB_ALIAS) -> Any:
    """For the council-wide reports (the unmet-needs statistics, a declaration's safety tally
    and report): the database lets every case through only if `user` is a council manager
    (policy.is_council_manager); callers check the right first (can_view_reports,
    access_declaration). Wrap the rendering too: querysets are evaluated there."""
    return reader_context(user, purpose=COUNCIL_REPORT, using=using)


def break_glass_lookup(user: Any, case_id: int, using: str = DEFAULT_DB_ALIAS) -> Any:
    """While a professional opens a case by its number (break-glass), that one case row is
    visible to them if their role may break glass; once opened, the break-glass shows it."""
    return reader_context(user, lookup_case=case_id, using=using)


def with_reader(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a consumer method run by `database_sync_to_async`: it runs inside
    `reader_context(self.scope["user"])`."""

    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        with reader_context(self.scope.get("user")):
            return fn(self, *args, **kwargs)

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


class ReaderMiddleware:
    """On PostgreSQL, each request runs in one transaction whose reader is the request's user.

    Placed after the authentication middlewares. Responses here are built in the view (no
    streaming); a streaming response that read protected tables while being sent would read
    nothing, and would need its own `reader_context`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            return self.get_response(request)
        with reader_context(getattr(request, "user", None)):
            return self.get_response(request)


@receiver(user_logged_in)
def _reader_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    # The log-in view changes the reader half-way through its request.
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        set_reader(user)


@receiver(user_logged_out)
def _reader_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        set_reader(None)


# --- Roles ------------------------------------------------------------------------------------

_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
RLS_VIEWS = ("otagai_rls_reader_share", "otagai_rls_reader_glass")


def grant_app_role(connection: BaseDatabaseWrapper, role: str) -> bool:
    """Give the application role what it needs on every table and sequence of the current
    schema, if the role exists (the deployment creates it; docs/deploy.md). Idempotent.
    The helper views run as their owner: the application role may only read them."""
    if connection.vendor != "postgresql" or not role:
        return False
    if not _ROLE.fullmatch(role):
        raise ValueError(f"unexpected role name {role!r}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            return False
        cursor.execute("SELECT current_schema()")
        schema = connection.ops.quote_name(cursor.fetchone()[0])
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")
        views = ", ".join(RLS_VIEWS)
        cursor.execute(f"REVOKE ALL ON {views} FROM PUBLIC, {role}")
        cursor.execute(f"GRANT SELECT ON {views} TO {role}")
    return True


def grant_after_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """After `migrate` has applied migrations, grant the application role (if it exists) what
    it needs on every table, those the migrations just created included: migration 0009
    grants only on the tables that exist when it runs, and without this a table created
    later (the sessions' table, on a database migrated from empty) was refused to the web
    processes until someone re-ran the grant by hand. Once per command (the signal comes for
    every app), and not after `flush` (no plan: the tests' flush between transactional
    tests)."""
    if not kwargs.get("plan") or sender.label != "permissions":
        return
    grant_app_role(connections[using], settings.DATABASE_APP_ROLE)


# What is known about one physical connection, kept with it (weakly: gone when it is). With
# the pool (settings.DATABASE_POOL_MAX_SIZE) Django's wrapper gets another physical connection
# at every checkout, and a physical connection outlives the request that used it:
# - "role": the role `set_role_on_connect` left it in ("" for the login role); _UNKNOWN after
#   `forget_role` (someone changed it by hand); no entry: a new connection, the login role;
# - "restricted": whether its role is subject to row-level security (no key: not read yet);
# - "prepared": the names of the statements prepared on it (`_run_prepared`); "unprepared":
#   it does not keep them (its statements run unprepared).
_PHYSICAL: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_UNKNOWN = object()


def set_role_on_connect(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """`DATABASE_SET_ROLE`: a login role that acts as the application role (SET ROLE) — for a
    pooler with one login, and for tests. Django sends `connection_created` at every checkout
    from the pool as well as for a new connection: the statement is sent only when the
    physical connection is not already in the configured role (a new one, or one whose role
    was set otherwise), so a pooled connection pays it once, and one returned in another role
    (the setting changed: tests) is put back. Whether the role is subject to row-level
    security is read only when a search first needs it (`restricted`)."""
    from django.conf import settings

    if connection.vendor != "postgresql":
        return
    role = getattr(settings, "DATABASE_SET_ROLE", "")
    if role and not _ROLE.fullmatch(role):
        raise ValueError(f"unexpected role name {role!r}")
    raw = connection.connection
    if _PHYSICAL.get(raw, {}).get("role", "") == role:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {role}" if role else "RESET ROLE")
    _PHYSICAL[raw] = {"role": role}


# Whether the current role is subject to row-level security at all (not a superuser, not
# BYPASSRLS, not the tables' owner); before the first migration: no.
_RESTRICTED_SQL = (
    "SELECT NOT coalesce(r.rolsuper OR r.rolbypassrls OR r.oid = ("
    "  SELECT relowner FROM pg_class WHERE oid = to_regclass('casework_case')), true)"
    " FROM pg_roles r WHERE r.rolname = current_user"
)


def forget_role(connection: BaseDatabaseWrapper) -> None:
    """After a `SET ROLE` / `RESET ROLE` on an open connection (tests and benchmarks): read the
    role again at the next `restricted()`, and have the next checkout of this physical
    connection set the configured role whatever it was."""
    raw = getattr(connection, "connection", None)
    if raw is not None:
        _PHYSICAL[raw] = {"role": _UNKNOWN}


def restricted(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether the connection's role is subject to row-level security. A name search then
    takes its matches from `otagai_rls_case_search`, which can use the search indexes; the
    owner and superusers read the indexes directly, and the function would only add its cost
    (a 2-character search: 24 → 185 ms at 100,000 cases). Only speed depends on it: the
    result is the same either way.

    Read once per physical connection, when first asked (most requests never search), then
    kept with it across checkouts from the pool; on the driver's connection: like the
    reader's settings, it is context rather than a query of the page, and query counts do
    not list it."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    connection.ensure_connection()
    raw = connection.connection
    state = _PHYSICAL.setdefault(raw, {"role": ""})
    if "restricted" not in state:
        with connection.wrap_database_errors:
            row = raw.execute(_RESTRICTED_SQL).fetchone()
        state["restricted"] = bool(row and row[0])
    return bool(state["restricted"])
