"""The row-level-security search function (0009) learns the gram index (casework 0007).

`otagai_rls_case_search` runs as its owner so that the search indexes can serve a name search
under row-level security. A pattern of one or two characters has no trigram: such a search
now reads `case_search_grams` (every character and adjacent pair, exact at that length)
instead of every case. Each branch is gated by a one-time filter on the query's length, so
each is planned with its own index.
"""

import importlib

from django.db import migrations

_rls = importlib.import_module("permissions.migrations.0009_row_level_security")

_LIKE = (
    "c.search_text LIKE '%' || replace(replace(replace(folded, E'\\\\', E'\\\\\\\\'),"
    " '%', E'\\\\%'), '_', E'\\\\_') || '%'"
)


def _search(with_grams: bool) -> str:
    short = (
        """
    UNION ALL
    SELECT c.id FROM casework_case c
    WHERE char_length(folded) < 3
      AND otagai_grams(c.search_text) @> otagai_query_grams(folded)
      AND ((SELECT otagai_rls_invoker_unrestricted()) OR {cond})"""
        if with_grams
        else ""
    )
    gate = "char_length(folded) >= 3 AND " if with_grams else ""
    return f"""
CREATE OR REPLACE FUNCTION otagai_rls_case_search(folded text) RETURNS SETOF bigint
LANGUAGE sql STABLE ROWS 100 SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT c.id FROM casework_case c
    WHERE {gate}{_LIKE}
      AND ((SELECT otagai_rls_invoker_unrestricted()) OR {{cond}}){short}
$$;
""".replace("{cond}", _rls._case_condition("c"))


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_search(with_grams=True), params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_search(with_grams=False), params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("permissions", "0009_row_level_security"),
        ("casework", "0007_case_search_grams"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
