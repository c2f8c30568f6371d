"""The case check of the casework child tables under row-level security (permissions/0009,
0015): a row of a case the reader may see is visible, one of a case they may not see is not,
and a row cannot be written onto a case the reader may not see. Raw SQL as the application
role: only the database decides."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.db.utils import ProgrammingError
from django.utils import timezone

from casework.models import (
    Case,
    ChronologyEntry,
    HouseholdMember,
)
from permissions import policy, rls
from permissions.models import Declaration, Tier
from tests.factories import CaseFactory
from tests.permissions.test_rls import as_app_role, watch_rows

pytestmark = [pytest.mark.postgres]

TABLES = (
    "casework_case_need_categories",
    "casework_householdmember",
    "casework_chronologyentry",
    "casework_watchassignment",
    "casework_visitlog",
    "casework_evacuationplan",
    "casework_safetymark",
    "casework_concern",
)


def _child_rows(cast: Any, case: Case, declaration: Declaration) -> None:
    """One row of `case` in every table of TABLES (written as the owner)."""
    HouseholdMember.objects.create(case=case, name="世帯員")
    ChronologyEntry.objects.create(
        case=case,
        agency=cast.council,
        author=cast.coordinator,
        tier=Tier.WATCH,
        occurred_on=timezone.localdate(),
        text="年表",
    )
    watch_rows(cast, case, declaration)


@pytest.fixture
def cases(cast, app_role) -> dict[str, Case]:  # type: ignore[no-untyped-def]
    """The cast's case (the professional's agency has a share), a case nobody shares with the
    professional's agency, with a row in every child table, and an empty hidden case."""
    hidden = CaseFactory(life_area=cast.area, label="見えない世帯")
    empty = CaseFactory(life_area=cast.area, label="空の世帯")
    declaration = Declaration.objects.create(reason="地震", declared_by=cast.coordinator)
    for case in (cast.case, hidden):
        _child_rows(cast, case, declaration)
    declaration.ended_at = timezone.now()
    declaration.save()
    reader = cast.professional
    visible = set(policy.cases_visible_to(reader).values_list("pk", flat=True))
    assert cast.case.pk in visible
    assert hidden.pk not in visible
    assert empty.pk not in visible
    return {"visible": cast.case, "hidden": hidden, "empty": empty}


def _case_ids(table: str, reader: Any) -> list[int]:
    with as_app_role(), rls.reader_context(reader), connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT case_id FROM {table} ORDER BY case_id")  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize("table", TABLES)
def test_child_row_is_visible_only_with_its_case(cast, cases, table):
    assert _case_ids(table, cast.professional) == [cases["visible"].pk]
    assert _case_ids(table, cast.outsider) == []
    # The council coordinator reads both cases (lead coordinator of unshared ones, or share).
    coordinator_sees = set(policy.cases_visible_to(cast.coordinator).values_list("pk", flat=True))
    expected = sorted(pk for pk in (cases["visible"].pk, cases["hidden"].pk)
                      if pk in coordinator_sees)  # fmt: skip
    assert _case_ids(table, cast.coordinator) == expected


@pytest.mark.parametrize("table", TABLES)
def test_child_row_cannot_be_moved_onto_a_hidden_case(cast, cases, table):
    with (
        as_app_role(),
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction.atomic(),
        rls.reader_context(cast.professional),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            f"UPDATE {table} SET case_id = %s WHERE case_id = %s",  # noqa: S608
            [cases["empty"].pk, cases["visible"].pk],
        )


@pytest.mark.parametrize("table", TABLES)
def test_hidden_child_row_cannot_be_changed_or_deleted(cast, cases, table):
    with as_app_role(), rls.reader_context(cast.professional), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET case_id = case_id WHERE case_id = %s",  # noqa: S608
            [cases["hidden"].pk],
        )
        assert cursor.rowcount == 0
        cursor.execute(f"DELETE FROM {table} WHERE case_id = %s", [cases["hidden"].pk])  # noqa: S608
        assert cursor.rowcount == 0
    with connection.cursor() as cursor:  # as the owner: still there
        cursor.execute(f"SELECT count(*) FROM {table} WHERE case_id = %s", [cases["hidden"].pk])  # noqa: S608
        assert cursor.fetchone()[0] == 1


def test_policies_use_the_case_function_on_the_tables_with_few_rows_per_case(app_role):
    """0015 changes these; the chronology and visit logs keep the inline probe."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(p.polqual, p.polrelid) FROM pg_policy p "
            "JOIN pg_class c ON c.oid = p.polrelid WHERE c.relname = ANY (%s)",
            [list(TABLES)],
        )
        conditions = dict(cursor.fetchall())
    uses = {t for t, c in conditions.items() if "otagai_rls_case_visible" in c}
    assert uses == set(TABLES) - {"casework_chronologyentry", "casework_visitlog"}
