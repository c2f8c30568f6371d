"""The case list's name search under row-level security, checked once per match (issue 3).

A search of the list under RLS ran `otagai_rls_case_search` (0012) for the matches, then read
every match from the case table again — its policy (the reader's share, probed per row), the
application's own share filter (probed again) and its `LIKE` — to sort them and keep the
first 1,001: three share checks per match, 27 ms of a council search's ~31 ms of database CPU
at 100,000 cases (1,671 matches for いのうえ; docs/performance.md, "Ninth round").

`otagai_rls_case_search_list(folded, lim)` returns, in the list's order (`updated_at` then id,
newest first) and at most `lim` of them, the matches open to the reader through an active
share of one of their agencies — the list's own rule (`policy.cases_visible_to`) whenever
shares are the only path open to the reader (`CaseScope.shares_only`: no break-glass, no
declared disaster). It sorts the index's matches first and checks the reader's share of each
in that order until it has `lim`, so a council search checks 1,001 shares instead of 1,671.
The caller (casework.search.rls_list_matches) still checks each returned id against the
reader's active shares in the application's terms, on the share table under its own policy;
the page's rows are read through `cases_visible_to` and the case table's policy, as before.
Readers with other paths, and searches combined with other filters, keep 0012's function.

It returns no more than the reader's own shares open: the same ids the application role may
already learn from 0012's function (a superset), whoever calls it. Each statement is planned
with the pattern's value (EXECUTE ... USING), as in 0012.
"""

import importlib

from django.db import migrations

_rls = importlib.import_module("permissions.migrations.0009_row_level_security")
_by_size = importlib.import_module("permissions.migrations.0012_rls_search_by_reader_size")

SMALL_READER = _by_size.SMALL_READER
_SHARED = _rls._probe("otagai_rls_reader_share v WHERE v.case_id = m.id")
# $1 pattern, $2 folded query, $3 limit, $4 the reader's agencies.
_ARGS = "USING pattern, folded, lim, agencies"
# The matches in list order, sorted before their shares are checked (OFFSET 0 keeps the
# check out of the sort's input), then checked in that order until `lim` pass.
_IN_ORDER = """
    SELECT coalesce(array_agg(m.id ORDER BY m.updated_at DESC, m.id DESC), '{{}}')
    FROM (SELECT m.id, m.updated_at FROM (
            SELECT c.id, c.updated_at FROM {source} WHERE {condition}
            ORDER BY c.updated_at DESC, c.id DESC OFFSET 0) m
          WHERE {shared}
          ORDER BY m.updated_at DESC, m.id DESC LIMIT $3) m"""


def _matches(source: str, condition: str) -> str:
    return _IN_ORDER.format(source=source, condition=condition, shared=_SHARED)


# Three characters or more: the trigram index; one or two: the gram index and `strpos` (the
# trigram index has nothing for them: see 0012). A reader with few shares: their cases, one
# probe each for the text.
_LONG = _matches("casework_case c", "c.search_text LIKE $1")
_SHORT = _matches(
    "casework_case c",
    "otagai_grams(c.search_text) @> otagai_query_grams($2) AND strpos(c.search_text, $2) > 0",
)
_SMALL = _matches(
    "(SELECT DISTINCT s.case_id FROM permissions_share s WHERE s.agency_id = ANY ($4)) mine"
    " JOIN casework_case c ON c.id = mine.case_id",
    "c.search_text LIKE $1",
)

SEARCH_LIST = rf"""
CREATE OR REPLACE FUNCTION otagai_rls_case_search_list(folded text, lim integer)
RETURNS bigint[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    pattern text := '%' || replace(replace(replace(folded, '\', '\\'), '%', '\%'), '_', '\_')
                    || '%';
    agencies bigint[] := otagai_rls_agencies();
    shares integer;
    found bigint[];
BEGIN
    IF cardinality(agencies) = 0 OR coalesce(folded, '') = '' THEN
        RETURN '{{}}';
    END IF;
    SELECT count(*) INTO shares FROM (
        SELECT 1 FROM permissions_share s
        WHERE s.agency_id = ANY (agencies) LIMIT {SMALL_READER}) x;
    IF shares < {SMALL_READER} THEN
        EXECUTE $q${_SMALL}$q$ INTO found {_ARGS};
    ELSIF char_length(folded) >= 3 THEN
        EXECUTE $q${_LONG}$q$ INTO found {_ARGS};
    ELSE
        EXECUTE $q${_SHORT}$q$ INTO found {_ARGS};
    END IF;
    RETURN found;
END
$$;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SEARCH_LIST, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP FUNCTION IF EXISTS otagai_rls_case_search_list(text, integer)", params=None
        )


class Migration(migrations.Migration):
    dependencies = [("permissions", "0015_rls_case_children")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
