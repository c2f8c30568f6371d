"""The case check of the casework child tables with few rows per case, as a function.

The policies of the case's child tables (0009) ask `((SELECT true FROM casework_case rls_c
WHERE rls_c.id = case_id LIMIT 1) IS NOT NULL)`: the case table's whole policy is expanded
into, and planned with, every statement on them (0.3–0.45 ms of planning each, 100k cases, as
the application role; the detail page reads several), then run per row with its `InitPlan`s
(the reader's agencies, ...) shared by the statement: ~0.005 ms per further row.

Household members, need categories, watch-over assignments, the evacuation plan, safety marks
and the case branch of concerns now ask `otagai_rls_case_visible(case_id)` (0014): PL/pgSQL
run as the caller, so the case table's own policy still decides, planned once per connection
(0.03 ms of planning). Each call is its own statement, so the case policy and its helpers run
again per row: ~0.12 ms per row. A case has a few rows in those tables, so this wins; the
chronology and visit logs grow with a case's history (past ~3 rows the old form is cheaper)
and keep 0009's condition.

What a reader sees does not change: both are true exactly when the reader may see a case with
that id (false for a missing case or a NULL id). Writes are checked by the same condition
(FOR ALL without WITH CHECK). Going back restores 0009's conditions; the function stays (0014's).
"""

import importlib

from django.db import migrations

_rls = importlib.import_module("permissions.migrations.0009_row_level_security")

# Not the chronology nor visit logs: a case's rows there grow with its history (see above).
TABLES = (
    "casework_case_need_categories",
    "casework_householdmember",
    "casework_watchassignment",
    "casework_evacuationplan",
    "casework_safetymark",
    "casework_concern",
)


def _condition(table: str, new: bool) -> str:
    condition = _rls.POLICIES[table]
    if new:
        probe = _rls._case(f"{table}.case_id")
        assert probe in condition, table
        condition = condition.replace(probe, f"otagai_rls_case_visible({table}.case_id)")
    return condition


def _set_policies(schema_editor, new: bool) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f"ALTER POLICY otagai_reader ON {table} USING ({_condition(table, new)})",
            params=None,
        )


def forward(apps, schema_editor):
    _set_policies(schema_editor, new=True)


def backward(apps, schema_editor):
    _set_policies(schema_editor, new=False)


class Migration(migrations.Migration):
    dependencies = [("permissions", "0014_rls_live_member_check")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
