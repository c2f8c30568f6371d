"""`reader_context(..., deferred=True)`: BEGIN and the reader's settings go with the
transaction's first statement (the live operations: one round trip fewer), and nothing runs
without them, whichever way the first statement is sent."""

from __future__ import annotations

import pytest
from django.db import DataError, connection
from psycopg import pq

from permissions import rls
from permissions.models import Share
from tests.permissions.test_rls import as_app_role

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

READER = "SELECT current_setting('otagai.user_id', true), current_setting('jit')"


def _status() -> pq.TransactionStatus:
    return connection.connection.pgconn.transaction_status


def test_the_first_statement_carries_begin_and_the_reader(cast, app_role):
    with as_app_role():
        with rls.reader_context(cast.professional, deferred=True):
            # Nothing sent yet: the transaction begins with the statement.
            assert _status() == pq.TransactionStatus.IDLE
            assert rls.execute(READER, []) == [(str(cast.professional.pk), "off")]
            assert _status() == pq.TransactionStatus.INTRANS
            # Later statements run in the same transaction, as the same reader.
            assert rls.execute(READER, []) == [(str(cast.professional.pk), "off")]
            shares = Share.objects.filter(case=cast.case).count()
        assert _status() == pq.TransactionStatus.IDLE
        # The settings were the transaction's: the next one starts without a reader.
        with rls.reader_context(None):
            assert rls.execute(READER, [])[0][0] == ""
    assert shares > 0  # the professional's agency's share of the case: read as the reader


def test_a_statement_through_the_orm_first_is_preceded_by_the_reader(cast, app_role):
    with as_app_role(), rls.reader_context(cast.professional, deferred=True):
        visible = Share.objects.filter(case=cast.case).count()
        assert rls.execute(READER, [])[0][0] == str(cast.professional.pk)
    with as_app_role(), rls.reader_context(None, deferred=True):
        assert Share.objects.filter(case=cast.case).count() == 0  # no reader: nothing
    assert visible > 0


def test_a_nested_reader_inside_a_deferred_one_puts_it_back(cast, app_role):
    with as_app_role(), rls.reader_context(cast.professional, deferred=True):
        with rls.reader_context(cast.coordinator):
            assert rls.execute(READER, [])[0][0] == str(cast.coordinator.pk)
        assert rls.execute(READER, [])[0][0] == str(cast.professional.pk)


def test_parameters_are_quoted_and_an_error_rolls_the_transaction_back(cast, app_role):
    hostile = "x'); DROP TABLE permissions_share; --"
    with as_app_role():
        with rls.reader_context(cast.professional, deferred=True):
            assert rls.execute("SELECT %s::text, %s::int", [hostile, 7]) == [(hostile, 7)]
        with (
            pytest.raises(DataError),
            rls.reader_context(cast.professional, deferred=True),
        ):
            rls.execute("SELECT 1 / %s", [0])
        assert _status() == pq.TransactionStatus.IDLE
    assert Share.objects.exists()


def test_a_block_that_sends_nothing_begins_nothing(cast, app_role):
    with as_app_role(), rls.reader_context(cast.professional, deferred=True):
        pass
    assert _status() == pq.TransactionStatus.IDLE
    assert not rls._PENDING


def test_a_statement_may_carry_the_commit_and_an_error_stops_it(cast, app_role):
    """`execute(..., commit=True)`: the transaction ends in the statement's message, as the
    first statement (with BEGIN and the reader) or a later one; an error in it stops the
    message before its COMMIT, and nothing of the transaction stays."""
    with as_app_role():
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE written (x int)")  # this connection's only
        with rls.reader_context(cast.professional, deferred=True):
            rows = rls.execute(READER, [], commit=True)
            assert _status() == pq.TransactionStatus.IDLE
        assert rows == [(str(cast.professional.pk), "off")]
        with rls.reader_context(cast.professional, deferred=True):
            rls.execute("INSERT INTO written VALUES (1)", [])
            assert rls.execute("SELECT count(*) FROM written", [], commit=True) == [(1,)]
            assert _status() == pq.TransactionStatus.IDLE
        for first in (True, False):
            with (
                pytest.raises(DataError),
                rls.reader_context(cast.professional, deferred=True),
            ):
                if not first:
                    rls.execute("INSERT INTO written VALUES (2)", [])
                rls.execute(
                    "WITH w AS (INSERT INTO written VALUES (3) RETURNING x) SELECT x / %s FROM w",
                    [0],
                    commit=True,
                )
            assert _status() == pq.TransactionStatus.IDLE
        with connection.cursor() as cursor:
            cursor.execute("SELECT x FROM written ORDER BY x")
            assert cursor.fetchall() == [(1,)]
            cursor.execute("DROP TABLE written")
