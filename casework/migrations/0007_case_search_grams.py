"""A GIN index for one- and two-character name searches on PostgreSQL (casework.search).

pg_trgm cannot serve `LIKE '%井上%'`: a two-character pattern has no trigram, so PostgreSQL
read every case (200–300 ms at 100,000 cases, docs/performance.md). `otagai_grams(text)` is
every character and every pair of adjacent characters of the folded search text; the
expression index `case_search_grams` over it answers `otagai_grams(search_text) @>
otagai_query_grams('井上')` from the index. Both functions are IMMUTABLE (the index needs
it) and depend only on their argument. pg_bigm would do the same but is not packaged for
the PostgreSQL we deploy on. SQLite needs nothing.
"""

from django.db import migrations

FORWARD = [
    # Every character and every adjacent pair, once each (an index key per gram).
    """
    CREATE OR REPLACE FUNCTION otagai_grams(t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT coalesce(array_agg(DISTINCT g), '{}') FROM (
            SELECT substr(t, i, 1) AS g FROM generate_series(1, char_length(t)) AS i
            UNION ALL
            SELECT substr(t, i, 2) FROM generate_series(1, char_length(t) - 1) AS i
        ) AS grams
    $$
    """,
    # What a query must find among a text's grams: itself when it is one or two characters
    # long (exact), else its adjacent pairs (a pre-filter; LIKE decides).
    """
    CREATE OR REPLACE FUNCTION otagai_query_grams(t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT CASE WHEN char_length(t) <= 2 THEN ARRAY[t] ELSE (
            SELECT array_agg(DISTINCT substr(t, i, 2))
            FROM generate_series(1, char_length(t) - 1) AS i
        ) END
    $$
    """,
    "CREATE INDEX IF NOT EXISTS case_search_grams ON casework_case "
    "USING gin (otagai_grams(search_text))",
]
BACKWARD = [
    "DROP INDEX IF EXISTS case_search_grams",
    "DROP FUNCTION IF EXISTS otagai_query_grams(text)",
    "DROP FUNCTION IF EXISTS otagai_grams(text)",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in FORWARD:
            schema_editor.execute(sql, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in BACKWARD:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("casework", "0006_case_purged_at")]
    operations = [migrations.RunPython(forward, backward)]
