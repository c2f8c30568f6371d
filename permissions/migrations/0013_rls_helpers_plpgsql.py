"""The row-level-security helpers keep their plans for the session (docs/performance.md).

The policies (0009) call small helper functions — the reader's agencies, whether a council
report or a break-glass lookup is on, whether the reader is a designated supporter — once per
statement (as `InitPlan`s), and some once per row. Written in SQL and not inlinable, each call
parsed and planned its body again: 0.4–0.9 ms a call, two to three milliseconds of every
statement on a protected table (`EXPLAIN ANALYZE` of the case detail's share query: the
InitPlans of `otagai_rls_council_report()` 0.93 ms, `otagai_rls_lookup_case()` 0.80 ms,
`otagai_rls_agencies()` 0.46 ms). In PL/pgSQL the same bodies are planned once per connection
and then cost a few microseconds a call. Same bodies, same volatility, same owner's rights
where they had them: what each returns does not change (tests/permissions/test_rls.py).

`otagai_rls_reader()` stays in SQL: it is inlined into the policies, which is cheaper still.
"""

import importlib

from django.db import migrations

_rls = importlib.import_module("permissions.migrations.0009_row_level_security")

DEFINER = "SECURITY DEFINER SET search_path FROM CURRENT"

HELPERS = f"""
CREATE OR REPLACE FUNCTION otagai_rls_agencies(roles text[] DEFAULT NULL) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT m.agency_id), '{{}}')
            FROM permissions_membership m
            JOIN permissions_agency a ON a.id = m.agency_id
            WHERE m.user_id = otagai_rls_reader() AND a.is_active
              AND ($1 IS NULL OR m.role = ANY ($1)));
END
$$;

CREATE OR REPLACE FUNCTION otagai_rls_triage_areas() RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT la.area_id), '{{}}')
            FROM permissions_membership m
            JOIN permissions_agency a ON a.id = m.agency_id
            JOIN permissions_membership_life_areas la ON la.membership_id = m.id
            WHERE m.user_id = otagai_rls_reader() AND a.is_active AND a.kind = 'council'
              AND m.role = 'coordinator');
END
$$;

CREATE OR REPLACE FUNCTION otagai_rls_council_report() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce(current_setting('otagai.purpose', true), '') = 'council_report'
       AND EXISTS (
        SELECT 1 FROM auth_user u
        WHERE u.id = otagai_rls_reader() AND u.is_active AND (
            u.is_staff OR EXISTS (
                SELECT 1 FROM permissions_membership m
                JOIN permissions_agency a ON a.id = m.agency_id
                WHERE m.user_id = u.id AND a.is_active AND a.kind = 'council'
                  AND m.role IN ('coordinator', 'agency_admin'))));
END
$$;

CREATE OR REPLACE FUNCTION otagai_rls_staff() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM auth_user u
                   WHERE u.id = otagai_rls_reader() AND u.is_active AND u.is_staff);
END
$$;

CREATE OR REPLACE FUNCTION otagai_rls_lookup_case() RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- Cheap test first: no lookup named (the usual case) reads no membership.
    IF coalesce(current_setting('otagai.lookup_case', true), '') = '' THEN
        RETURN NULL;
    END IF;
    IF cardinality(otagai_rls_agencies(ARRAY['coordinator', 'professional'])) > 0 THEN
        RETURN current_setting('otagai.lookup_case', true)::bigint;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION otagai_rls_is_supporter() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM permissions_membership m
        JOIN permissions_agency a ON a.id = m.agency_id
        WHERE m.user_id = otagai_rls_reader() AND a.is_active AND a.disaster_supporter
          AND m.role IN ('coordinator', 'professional', 'resident'));
END
$$;

CREATE OR REPLACE FUNCTION otagai_rls_unshared(case_id bigint) RETURNS boolean
LANGUAGE plpgsql STABLE {DEFINER} AS $$
BEGIN
    RETURN NOT EXISTS (SELECT 1 FROM permissions_share s WHERE s.case_id = $1);
END
$$;

CREATE OR REPLACE FUNCTION otagai_rls_invoker_unrestricted() RETURNS boolean
LANGUAGE plpgsql STABLE {DEFINER} AS $$
BEGIN
    RETURN (SELECT coalesce(bool_or(r.rolsuper OR r.rolbypassrls OR r.oid = t.relowner), false)
            FROM pg_roles r, pg_class t
            WHERE t.oid = 'casework_case'::regclass
              AND r.rolname = CASE current_setting('role') WHEN 'none' THEN session_user
                                                           ELSE current_setting('role') END);
END
$$;
"""


def _sql_helpers() -> str:
    """0009's SQL definitions of the same helpers (to go back)."""
    names = (
        "otagai_rls_agencies",
        "otagai_rls_triage_areas",
        "otagai_rls_council_report",
        "otagai_rls_staff",
        "otagai_rls_lookup_case",
        "otagai_rls_is_supporter",
        "otagai_rls_unshared",
        "otagai_rls_invoker_unrestricted",
    )
    text = _rls.FUNCTIONS + _rls.SEARCH
    parts = [p for p in text.split("CREATE OR REPLACE ") if p.strip()]
    keep = [p for p in parts if any(p.startswith(f"FUNCTION {n}(") for n in names)]
    return "".join(f"CREATE OR REPLACE {p.split('$$;')[0]}$$;\n" for p in keep)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # A function's language changes in place: CREATE OR REPLACE keeps its grants.
        schema_editor.execute(HELPERS, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from django.conf import settings

        schema_editor.execute(_sql_helpers().replace("{tz}", settings.TIME_ZONE), params=None)


class Migration(migrations.Migration):
    dependencies = [("permissions", "0012_rls_search_by_reader_size")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
