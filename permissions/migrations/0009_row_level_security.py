"""Row-level security on PostgreSQL (docs/permissions.md, "Row-level security").

Every table that carries case content gets a policy that lets a row through only when the
reader named by the per-transaction setting `otagai.user_id` (permissions/rls.py) may read the
case it belongs to — or, for conference records, is a member of the conference. A query that
forgets the application's filter still returns nothing it should not. The owner role (that
runs this migration and the management commands) is not subject to RLS: FORCE is never set.

The policies mirror permissions/policy.py (the database must never hide what the application
shows): active shares of the reader's agencies with expiry and consent checked at query time,
the reader's active break-glasses, the disaster-support list for designated supporters, and
the unmet-needs statistics for council managers. Tiers (columns) stay in the application.

SQLite: nothing (the embedded default has a single user, the application).
"""

import re

from django.conf import settings
from django.db import migrations

# Helpers. The views run as their owner (the migrating role), so the policies that read them
# do not recurse into the shares' own policy; they return the reader's rows only, and the
# application role may only SELECT them.
FUNCTIONS = """
CREATE OR REPLACE FUNCTION otagai_rls_reader() RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NULLIF(current_setting('otagai.user_id', true), '')::bigint
$$;

CREATE OR REPLACE FUNCTION otagai_rls_agencies(roles text[] DEFAULT NULL) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT m.agency_id), '{}')
    FROM permissions_membership m
    JOIN permissions_agency a ON a.id = m.agency_id
    WHERE m.user_id = otagai_rls_reader() AND a.is_active
      AND (roles IS NULL OR m.role = ANY (roles))
$$;

CREATE OR REPLACE FUNCTION otagai_rls_triage_areas() RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT la.area_id), '{}')
    FROM permissions_membership m
    JOIN permissions_agency a ON a.id = m.agency_id
    JOIN permissions_membership_life_areas la ON la.membership_id = m.id
    WHERE m.user_id = otagai_rls_reader() AND a.is_active AND a.kind = 'council'
      AND m.role = 'coordinator'
$$;

CREATE OR REPLACE FUNCTION otagai_rls_council_report() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('otagai.purpose', true), '') = 'council_report'
       AND EXISTS (
        SELECT 1 FROM auth_user u
        WHERE u.id = otagai_rls_reader() AND u.is_active AND (
            u.is_staff OR EXISTS (
                SELECT 1 FROM permissions_membership m
                JOIN permissions_agency a ON a.id = m.agency_id
                WHERE m.user_id = u.id AND a.is_active AND a.kind = 'council'
                  AND m.role IN ('coordinator', 'agency_admin'))))
$$;

CREATE OR REPLACE FUNCTION otagai_rls_staff() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM auth_user u
                   WHERE u.id = otagai_rls_reader() AND u.is_active AND u.is_staff)
$$;

CREATE OR REPLACE FUNCTION otagai_rls_lookup_case() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting('otagai.lookup_case', true), '')::bigint
    WHERE cardinality(otagai_rls_agencies(ARRAY['coordinator', 'professional'])) > 0
$$;

CREATE OR REPLACE VIEW otagai_rls_reader_share WITH (security_barrier) AS
    SELECT s.case_id, s.agency_id, s.coordinates
    FROM permissions_share s
    WHERE s.agency_id = ANY ((SELECT otagai_rls_agencies())::bigint[])
      AND (s.expires_at IS NULL OR s.expires_at > statement_timestamp())
      AND (s.basis <> 'consent' OR EXISTS (
            SELECT 1 FROM permissions_consent c
            WHERE c.id = s.consent_id AND c.withdrawn_at IS NULL
              AND (c.expires_on IS NULL OR c.expires_on >= (statement_timestamp() AT TIME ZONE '{tz}')::date)));

CREATE OR REPLACE VIEW otagai_rls_reader_glass WITH (security_barrier) AS
    SELECT g.case_id
    FROM permissions_breakglass g
    WHERE g.user_id = (SELECT otagai_rls_reader())
      AND g.started_at <= statement_timestamp() AND g.expires_at > statement_timestamp()
      AND g.agency_id = ANY ((SELECT otagai_rls_agencies(ARRAY['coordinator', 'professional']))::bigint[]);

-- Read-only, whatever privileges a re-run of the deployment's grants gives: a write through
-- a view would run as its owner, past the tables' own policies.
CREATE OR REPLACE RULE otagai_rls_reader_share_insert AS
    ON INSERT TO otagai_rls_reader_share DO INSTEAD NOTHING;
CREATE OR REPLACE RULE otagai_rls_reader_share_update AS
    ON UPDATE TO otagai_rls_reader_share DO INSTEAD NOTHING;
CREATE OR REPLACE RULE otagai_rls_reader_share_delete AS
    ON DELETE TO otagai_rls_reader_share DO INSTEAD NOTHING;
CREATE OR REPLACE RULE otagai_rls_reader_glass_insert AS
    ON INSERT TO otagai_rls_reader_glass DO INSTEAD NOTHING;
CREATE OR REPLACE RULE otagai_rls_reader_glass_update AS
    ON UPDATE TO otagai_rls_reader_glass DO INSTEAD NOTHING;
CREATE OR REPLACE RULE otagai_rls_reader_glass_delete AS
    ON DELETE TO otagai_rls_reader_glass DO INSTEAD NOTHING;

CREATE OR REPLACE FUNCTION otagai_rls_supporter_cases() RETURNS SETOF bigint
LANGUAGE sql STABLE ROWS 100 SECURITY DEFINER SET search_path FROM CURRENT AS $$
    WITH sup AS (
        SELECT a.area_id
        FROM permissions_membership m
        JOIN permissions_agency a ON a.id = m.agency_id
        WHERE m.user_id = otagai_rls_reader() AND a.is_active AND a.disaster_supporter
          AND m.role IN ('coordinator', 'professional', 'resident'))
    SELECT c.id FROM casework_case c
    WHERE c.disaster_support
      AND EXISTS (SELECT 1 FROM sup WHERE sup.area_id IS NULL
                  OR sup.area_id = c.life_area_id OR sup.area_id = c.small_area_id)
      AND (EXISTS (SELECT 1 FROM permissions_declaration_areas da
                   JOIN permissions_declaration d ON d.id = da.declaration_id
                   WHERE d.ended_at IS NULL
                     AND (da.area_id = c.life_area_id OR da.area_id = c.small_area_id))
           OR (c.status <> 'closed' AND EXISTS (
                   SELECT 1 FROM casework_evacuationplan e
                   WHERE e.case_id = c.id AND e.list_consent = 'consented')))
$$;

CREATE OR REPLACE FUNCTION otagai_rls_is_supporter() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM permissions_membership m
        JOIN permissions_agency a ON a.id = m.agency_id
        WHERE m.user_id = otagai_rls_reader() AND a.is_active AND a.disaster_supporter
          AND m.role IN ('coordinator', 'professional', 'resident'))
$$;

CREATE OR REPLACE FUNCTION otagai_rls_unshared(case_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT NOT EXISTS (SELECT 1 FROM permissions_share s WHERE s.case_id = $1)
$$;

CREATE OR REPLACE FUNCTION otagai_rls_conferences() RETURNS SETOF bigint
LANGUAGE sql STABLE ROWS 100 SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT c.id FROM conferences_conference c
    WHERE c.chair_id = otagai_rls_reader() OR c.minute_taker_id = otagai_rls_reader()
       OR c.created_by_id = otagai_rls_reader()
    UNION
    SELECT i.conference_id FROM conferences_invitation i
    WHERE i.user_id = otagai_rls_reader()
       OR (i.user_id IS NULL AND i.agency_id = ANY (otagai_rls_agencies()))
    UNION
    SELECT cc.conference_id FROM conferences_conferencecase cc
    JOIN otagai_rls_reader_share s ON s.case_id = cc.case_id
    WHERE s.coordinates AND s.agency_id = ANY (otagai_rls_agencies(ARRAY['coordinator']))
$$;
"""

STATS = "(SELECT otagai_rls_council_report())"
READER = "(SELECT otagai_rls_reader())"
MEMBER = "conference_id IN (SELECT otagai_rls_conferences())"


def _probe(select_from_where: str) -> str:
    """`EXISTS`, as a scalar sub-query: one index probe per row. The planner may turn an
    `EXISTS` into a hash of every row the reader may see, built for each statement (and again
    for each outer row when nested): 40,000 shares for a large agency's list."""
    return f"((SELECT true FROM {select_from_where} LIMIT 1) IS NOT NULL)"


def _case(column: str) -> str:
    return _probe(f"casework_case rls_c WHERE rls_c.id = {column}")


# The case itself: cheap branches first (the executor stops at the first true one).
def _case_condition(t: str) -> str:
    return f"""
    {STATS}
    OR {t}.id = (SELECT otagai_rls_lookup_case())
    OR {_probe(f"otagai_rls_reader_share v WHERE v.case_id = {t}.id")}
    OR {_probe(f"otagai_rls_reader_glass g WHERE g.case_id = {t}.id")}
    OR ({t}.disaster_support AND (SELECT otagai_rls_is_supporter())
        AND {t}.id IN (SELECT otagai_rls_supporter_cases()))
    OR ({t}.lead_coordinator_id = {READER} AND otagai_rls_unshared({t}.id))
"""


CASE_POLICY = _case_condition("casework_case")

# Name search. A policy's condition is applied before the query's own conditions, and a
# LIKE (not leakproof) may then not use the trigram index: under RLS a search would read
# every case. This function runs as the owner, uses the index, and returns the matching
# cases the reader may see (all of them only to a caller that bypasses RLS anyway); the
# query still applies the policy and its own LIKE (casework.selectors.case_list).
SEARCH = f"""
CREATE OR REPLACE FUNCTION otagai_rls_invoker_unrestricted() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT coalesce(bool_or(r.rolsuper OR r.rolbypassrls OR r.oid = t.relowner), false)
    FROM pg_roles r, pg_class t
    WHERE t.oid = 'casework_case'::regclass
      AND r.rolname = CASE current_setting('role') WHEN 'none' THEN session_user
                                                   ELSE current_setting('role') END
$$;

CREATE OR REPLACE FUNCTION otagai_rls_case_search(folded text) RETURNS SETOF bigint
LANGUAGE sql STABLE ROWS 100 SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT c.id FROM casework_case c
    WHERE c.search_text LIKE '%' || replace(replace(replace(folded, E'\\\\', E'\\\\\\\\'),
                                                    '%', E'\\\\%'), '_', E'\\\\_') || '%'
      AND ((SELECT otagai_rls_invoker_unrestricted()) OR {_case_condition("c")})
$$;
"""

# table -> the condition a row must meet (USING and WITH CHECK alike).
POLICIES = {
    "casework_case": CASE_POLICY,
    "casework_case_need_categories": _case("casework_case_need_categories.case_id"),
    "casework_householdmember": _case("casework_householdmember.case_id"),
    "casework_chronologyentry": _case("casework_chronologyentry.case_id"),
    "casework_watchassignment": _case("casework_watchassignment.case_id"),
    "casework_visitlog": _case("casework_visitlog.case_id"),
    "casework_evacuationplan": _case("casework_evacuationplan.case_id"),
    "casework_safetymark": _case("casework_safetymark.case_id"),
    "casework_concern": f"""
        {STATS}
        OR casework_concern.reporter_id = {READER}
        OR casework_concern.life_area_id = ANY ((SELECT otagai_rls_triage_areas())::bigint[])
        OR (casework_concern.case_id IS NOT NULL AND {_case("casework_concern.case_id")})
    """,
    # The application's own filter reads the reader's active shares on every list: they pass
    # on the first branch (its case is visible through them), without probing the case.
    "permissions_share": f"""
        (permissions_share.agency_id = ANY ((SELECT otagai_rls_agencies())::bigint[])
         AND (permissions_share.expires_at IS NULL
              OR permissions_share.expires_at > statement_timestamp())
         AND (permissions_share.basis <> 'consent'
              OR {_probe("otagai_rls_reader_share v WHERE v.case_id = permissions_share.case_id "
                         "AND v.agency_id = permissions_share.agency_id")}))
        OR {_case("permissions_share.case_id")}
    """,
    "permissions_consent": _case("permissions_consent.case_id"),
    "permissions_consent_agencies": (
        "EXISTS (SELECT 1 FROM permissions_consent c "
        "WHERE c.id = permissions_consent_agencies.consent_id)"
    ),
    # Administrators (staff) oversee every break-glass in the admin (no case content there).
    "permissions_breakglass": f"""
        permissions_breakglass.user_id = {READER}
        OR (SELECT otagai_rls_staff())
        OR {_case("permissions_breakglass.case_id")}
    """,
    "conferences_conferencecase": f"""
        {STATS} OR {MEMBER} OR {_case("conferences_conferencecase.case_id")}
    """,
    "conferences_agendaitem": f"""
        {MEMBER} OR (conferences_agendaitem.case_id IS NOT NULL
                     AND {_case("conferences_agendaitem.case_id")})
    """,
    "conferences_note": f"""
        {MEMBER} OR (conferences_note.case_id IS NOT NULL AND {_case("conferences_note.case_id")})
    """,
    "conferences_decision": f"""
        {MEMBER} OR (conferences_decision.case_id IS NOT NULL
                     AND {_case("conferences_decision.case_id")})
    """,
    "conferences_actionitem": f"""
        {STATS}
        OR (conferences_actionitem.conference_id IS NOT NULL AND {MEMBER})
        OR (conferences_actionitem.case_id IS NOT NULL
            AND {_case("conferences_actionitem.case_id")})
        OR (conferences_actionitem.case_id IS NULL
            AND (conferences_actionitem.owner_user_id = {READER}
                 OR conferences_actionitem.owner_agency_id = ANY ((SELECT otagai_rls_agencies())::bigint[])))
    """,
    "conferences_actionchange": (
        "EXISTS (SELECT 1 FROM conferences_actionitem a "
        "WHERE a.id = conferences_actionchange.action_id)"
    ),
    "conferences_actionreview": f"""
        {MEMBER} OR EXISTS (SELECT 1 FROM conferences_actionitem a
                            WHERE a.id = conferences_actionreview.action_id)
    """,
    "conferences_followupnotification": f"""
        conferences_followupnotification.user_id = {READER}
        OR EXISTS (SELECT 1 FROM conferences_actionitem a
                   WHERE a.id = conferences_followupnotification.action_id)
    """,
    "conferences_conferenceevent": MEMBER,
    "conferences_prepsheet": (
        "EXISTS (SELECT 1 FROM conferences_conferencecase cc "
        "WHERE cc.id = conferences_prepsheet.conference_case_id)"
    ),
    "conferences_prepask": (
        "EXISTS (SELECT 1 FROM conferences_prepsheet p WHERE p.id = conferences_prepask.sheet_id)"
    ),
    "conferences_minutesdraft": MEMBER,
    "conferences_minutesversion": MEMBER,
    "conferences_minutesexport": (
        "EXISTS (SELECT 1 FROM conferences_minutesversion v "
        "WHERE v.id = conferences_minutesexport.version_id)"
    ),
}

DROP = """
DROP FUNCTION IF EXISTS otagai_rls_case_search(text);
DROP FUNCTION IF EXISTS otagai_rls_invoker_unrestricted();
DROP FUNCTION IF EXISTS otagai_rls_conferences();
DROP FUNCTION IF EXISTS otagai_rls_unshared(bigint);
DROP FUNCTION IF EXISTS otagai_rls_is_supporter();
DROP FUNCTION IF EXISTS otagai_rls_supporter_cases();
DROP VIEW IF EXISTS otagai_rls_reader_glass;
DROP VIEW IF EXISTS otagai_rls_reader_share;
DROP FUNCTION IF EXISTS otagai_rls_lookup_case();
DROP FUNCTION IF EXISTS otagai_rls_staff();
DROP FUNCTION IF EXISTS otagai_rls_council_report();
DROP FUNCTION IF EXISTS otagai_rls_triage_areas();
DROP FUNCTION IF EXISTS otagai_rls_agencies(text[]);
DROP FUNCTION IF EXISTS otagai_rls_reader();
"""


def forward(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    from permissions.rls import grant_app_role

    with connection.cursor() as cursor:
        # Consent is valid "today" in the council's time zone, as Consent.valid_q says.
        if not re.fullmatch(r"[A-Za-z0-9_/+-]+", settings.TIME_ZONE):
            raise ValueError(f"unexpected TIME_ZONE {settings.TIME_ZONE!r}")
        cursor.execute(FUNCTIONS.replace("{tz}", settings.TIME_ZONE))
        cursor.execute(SEARCH)
        for table, condition in POLICIES.items():
            cursor.execute(f"DROP POLICY IF EXISTS otagai_reader ON {table}")
            cursor.execute(f"CREATE POLICY otagai_reader ON {table} USING ({condition})")
            # Not FORCE: the owner (migrations, management commands) is not subject to RLS.
            cursor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    grant_app_role(connection, settings.DATABASE_APP_ROLE)


def backward(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in POLICIES:
            cursor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
            cursor.execute(f"DROP POLICY IF EXISTS otagai_reader ON {table}")
        cursor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("permissions", "0008_audit_retention_action"),
        ("casework", "0006_case_purged_at"),
        ("conferences", "0005_action_reason_choices"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
