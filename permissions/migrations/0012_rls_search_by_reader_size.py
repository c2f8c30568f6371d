"""The row-level-security name search starts from the smaller side (docs/performance.md).

`otagai_rls_case_search` (0009, 0010) checked the whole case condition of every index match:
1,671 matches for いのうえ at 100,000 cases, and for a designated supporter the hashed set of
every disaster-support case of their areas, built by reading the whole case table (~130 ms)
even when a handful of matches needed it. Now, in PL/pgSQL:

- a reader with few shares (under `SMALL_READER` share rows, in any state) takes their
  shares' cases, keeps those whose text matches (one probe per case: 241 for a small agency)
  and asks the share rule of those only; the other paths (break-glass, lookup,
  disaster-support list, unshared lead) then look at the index's matches only if the reader
  has such a path at all;
- any other reader takes the index's matches and checks each one: their share first (one
  index probe), then the other paths, with the disaster-support condition asked of the
  matching row itself instead of building the whole list.

What it returns is unchanged: the matches the case policy lets this reader see (all of them
to a caller that bypasses RLS, or during a council report); the query that calls it still
applies the policy and its own `LIKE`. tests/permissions/test_rls.py compares it with the
policy for every path.
"""

import importlib

from django.db import migrations

_rls = importlib.import_module("permissions.migrations.0009_row_level_security")
_grams = importlib.import_module("permissions.migrations.0010_rls_search_grams")

# Fewer share rows than this (any state: a cheap index-only count): start from the shares.
SMALL_READER = 2000

# One matching row may be seen through a path other than a share ($3 the reader, $4 the
# lookup case, $5 whether the reader is a designated supporter: see _ARGS). The
# disaster-support path is `otagai_rls_supporter_cases()` (0009) asked of one row: a designated
# supporter's active agency covering the case's area (or the whole ward), and a declaration
# covering it, or (not closed) the person's consent to the list.
_OTHER_PATHS = f"""
    c.id = $4
    OR {_rls._probe("otagai_rls_reader_glass g WHERE g.case_id = c.id")}
    OR (c.disaster_support AND $5
        AND EXISTS (
            SELECT 1 FROM permissions_membership m
            JOIN permissions_agency a ON a.id = m.agency_id
            WHERE m.user_id = $3 AND a.is_active AND a.disaster_supporter
              AND m.role IN ('coordinator', 'professional', 'resident')
              AND (a.area_id IS NULL OR a.area_id = c.life_area_id
                   OR a.area_id = c.small_area_id))
        AND (EXISTS (SELECT 1 FROM permissions_declaration_areas da
                     JOIN permissions_declaration d ON d.id = da.declaration_id
                     WHERE d.ended_at IS NULL
                       AND (da.area_id = c.life_area_id OR da.area_id = c.small_area_id))
             OR (c.status <> 'closed' AND EXISTS (
                     SELECT 1 FROM casework_evacuationplan e
                     WHERE e.case_id = c.id AND e.list_consent = 'consented'))))
    OR (c.lead_coordinator_id = $3
        AND NOT EXISTS (SELECT 1 FROM permissions_share s WHERE s.case_id = c.id))
"""

_SHARE = _rls._probe("otagai_rls_reader_share v WHERE v.case_id = c.id")
# Each statement is planned when run, with the pattern's value (EXECUTE ... USING): a plan
# kept for the session (PL/pgSQL's generic plan after five calls) does not know the pattern
# and read every case for a two-character search. $1 pattern, $2 folded query, $3 reader,
# $4 lookup case, $5 supporter, $6 the reader's agencies.
_LONG = "c.search_text LIKE $1"
# Short: the gram index, and the substring test written so that the trigram index (which has
# nothing to offer for one or two characters, but was ANDed in at the cost of reading all of
# it: 400 ms) is not offered; `strpos` > 0 is the escaped LIKE's own meaning.
_SHORT = "otagai_grams(c.search_text) @> otagai_query_grams($2) AND strpos(c.search_text, $2) > 0"
_ARGS = "USING pattern, folded, reader, lookup, supporter, agencies"


def _matches(condition: str) -> str:
    """The index's matches (trigrams from three characters, else grams) that meet `condition`."""
    return f"""
        IF char_length(folded) >= 3 THEN
            RETURN QUERY EXECUTE $q$SELECT c.id FROM casework_case c
                WHERE {_LONG} AND ({condition})$q$ {_ARGS};
        ELSE
            RETURN QUERY EXECUTE $q$SELECT c.id FROM casework_case c
                WHERE {_SHORT} AND ({condition})$q$ {_ARGS};
        END IF;"""


SEARCH = rf"""
CREATE OR REPLACE FUNCTION otagai_rls_case_search(folded text) RETURNS SETOF bigint
LANGUAGE plpgsql STABLE ROWS 100 SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    pattern text := '%' || replace(replace(replace(folded, '\', '\\'), '%', '\%'), '_', '\_')
                    || '%';
    reader bigint := otagai_rls_reader();
    lookup bigint := otagai_rls_lookup_case();
    agencies bigint[] := otagai_rls_agencies();
    supporter boolean;
    shares integer;
BEGIN
    IF otagai_rls_invoker_unrestricted() OR otagai_rls_council_report() THEN
        {_matches("true")}
        RETURN;
    END IF;
    supporter := otagai_rls_is_supporter();
    SELECT count(*) INTO shares FROM (
        SELECT 1 FROM permissions_share s
        WHERE s.agency_id = ANY (agencies) LIMIT {SMALL_READER}) x;
    IF shares >= {SMALL_READER} THEN
        {_matches(f"{_SHARE} OR {_OTHER_PATHS}")}
        RETURN;
    END IF;
    -- The cases of the reader's share rows (any state), one probe each for the text, and
    -- the share rule (the view) asked only of those that match.
    RETURN QUERY EXECUTE $q$SELECT mine.case_id FROM (
        SELECT DISTINCT s.case_id FROM permissions_share s WHERE s.agency_id = ANY ($6)
    ) mine
    WHERE (SELECT c.search_text LIKE $1 FROM casework_case c WHERE c.id = mine.case_id)
      AND {_rls._probe("otagai_rls_reader_share v WHERE v.case_id = mine.case_id")}$q$
    {_ARGS};
    IF lookup IS NOT NULL OR supporter
       OR EXISTS (SELECT 1 FROM otagai_rls_reader_glass)
       OR EXISTS (SELECT 1 FROM casework_case c WHERE c.lead_coordinator_id = reader) THEN
        {_matches(_OTHER_PATHS)}
    END IF;
END
$$;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SEARCH, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP FUNCTION IF EXISTS otagai_rls_case_search(text)", params=None
        )
        schema_editor.execute(_grams._search(with_grams=True), params=None)


class Migration(migrations.Migration):
    dependencies = [("permissions", "0011_audit_minutes_approve")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
