"""The conference member test of the live tables, once per statement and planned once.

The policies of the conference tables (0009) asked `conference_id IN (SELECT
otagai_rls_conferences())`: a `SECURITY DEFINER` SQL function (so never inlined) whose body —
a three-way `UNION` over conferences, invitations and coordinating shares, calling
`otagai_rls_agencies()` per invitation row — was parsed and planned again on every call, and
an `UPDATE` calls it twice (`USING` and `WITH CHECK`): 2–5 ms of database time per statement
on a live note against 0.2–0.5 ms as the owner (docs/performance.md, "Live conference
fan-out").

Now the same set comes from `otagai_rls_conference_ids()`, in PL/pgSQL with generic plans
kept for the connection (with custom plans, the plan cache's default here, it planned its
union on every call: ~1 ms), as an array computed once per statement (an `InitPlan`, as the
reader's agencies already are): `conference_id = ANY ((SELECT
otagai_rls_conference_ids())::bigint[])`. It reads the reader's memberships once per call, and
skips the coordinating-share branch for a reader who coordinates nowhere. Who is a member does
not change: the conference's chair, minute-taker or creator, a person invited by name, a
member of an invited agency, a coordinator of an agency coordinating one of its cases through
an active share.

The case path of the same tables (a reader of the case who is not a member) expanded the
whole case condition into every statement, planned with it (~0.5 ms) even when the member
test lets the row through; it is now `otagai_rls_case_visible(case_id)`, PL/pgSQL run as the
caller (the case table's own policy decides), planned once per connection.

tests/permissions/test_rls_members.py compares both with `conferences_visible_to` and
`cases_visible_to`. The old set-returning function is dropped (nothing else calls it); going
back restores it and the old policies.
"""

import importlib

from django.db import migrations

_rls = importlib.import_module("permissions.migrations.0009_row_level_security")

MEMBER = "conference_id = ANY ((SELECT otagai_rls_conference_ids())::bigint[])"

FUNCTION = """
CREATE OR REPLACE FUNCTION otagai_rls_conference_ids() RETURNS bigint[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    reader bigint := otagai_rls_reader();
    agencies bigint[];
    coordinating bigint[];
    ids bigint[];
BEGIN
    IF reader IS NULL THEN
        RETURN '{}';
    END IF;
    -- otagai_rls_agencies() and otagai_rls_agencies(ARRAY['coordinator']) in one read.
    SELECT coalesce(array_agg(DISTINCT m.agency_id), '{}'),
           coalesce(array_agg(DISTINCT m.agency_id) FILTER (WHERE m.role = 'coordinator'), '{}')
      INTO agencies, coordinating
      FROM permissions_membership m
      JOIN permissions_agency a ON a.id = m.agency_id
     WHERE m.user_id = reader AND a.is_active;
    SELECT array_agg(x.id) INTO ids FROM (
        SELECT c.id FROM conferences_conference c
        WHERE c.chair_id = reader OR c.minute_taker_id = reader OR c.created_by_id = reader
        UNION
        SELECT i.conference_id FROM conferences_invitation i
        WHERE i.user_id = reader OR (i.user_id IS NULL AND i.agency_id = ANY (agencies))
    ) x;
    IF cardinality(coordinating) > 0 THEN
        -- Conferences on a case that one of the reader's coordinator agencies coordinates.
        SELECT array_agg(DISTINCT x.id) INTO ids FROM (
            SELECT unnest(ids) AS id
            UNION ALL
            SELECT cc.conference_id FROM conferences_conferencecase cc
            JOIN otagai_rls_reader_share s ON s.case_id = cc.case_id
            WHERE s.coordinates AND s.agency_id = ANY (coordinating)
        ) x;
    END IF;
    RETURN coalesce(ids, '{}');
END
$$;

CREATE OR REPLACE FUNCTION otagai_rls_case_visible(case_id bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- As the caller (not SECURITY DEFINER): the case table's own policy decides.
    RETURN EXISTS (SELECT 1 FROM casework_case c WHERE c.id = $1);
END
$$;
"""


def _old_conferences_function() -> str:
    """0009's `otagai_rls_conferences()` (to go back)."""
    body = _rls.FUNCTIONS.split("CREATE OR REPLACE FUNCTION otagai_rls_conferences()")[1]
    return "CREATE OR REPLACE FUNCTION otagai_rls_conferences()" + body.split("$$;")[0] + "$$;"


def _member_tables() -> dict[str, str]:
    """The tables whose policy asks the member test, with their 0009 condition."""
    return {t: c for t, c in _rls.POLICIES.items() if _rls.MEMBER in c}


def _new_condition(table: str, condition: str) -> str:
    condition = condition.replace(_rls.MEMBER, MEMBER)
    probe = _rls._case(f"{table}.case_id")
    if probe in condition:
        condition = condition.replace(probe, f"otagai_rls_case_visible({table}.case_id)")
    return condition


def _set_policies(schema_editor, new: bool) -> None:
    for table, condition in _member_tables().items():
        if new:
            condition = _new_condition(table, condition)
        # FOR ALL without WITH CHECK: the same condition checks the rows written.
        schema_editor.execute(
            f"ALTER POLICY otagai_reader ON {table} USING ({condition})", params=None
        )


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # Functions are executable by PUBLIC (as 0009's): the application role may call it.
    schema_editor.execute(FUNCTION, params=None)
    _set_policies(schema_editor, new=True)
    schema_editor.execute("DROP FUNCTION IF EXISTS otagai_rls_conferences()", params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(_old_conferences_function(), params=None)
    _set_policies(schema_editor, new=False)
    schema_editor.execute("DROP FUNCTION IF EXISTS otagai_rls_conference_ids()", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS otagai_rls_case_visible(bigint)", params=None)


class Migration(migrations.Migration):
    dependencies = [("permissions", "0013_rls_helpers_plpgsql")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
