"""Indexes for the case list at council scale (benchmarks/case_list.py, docs/performance.md).

- `case_updated_desc`: the list's order, so a page is read from an index, not a full sort.
- On PostgreSQL only, a trigram index (pg_trgm) on `search_text`, so a name or kana search
  (`search_text LIKE '%…%'`, three characters or more) reads the index instead of every case.
  pg_trgm is a trusted extension: the database owner may create it. SQLite needs neither.
"""

from django.db import migrations, models

TRGM_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS case_search_trgm ON casework_case "
    "USING gin (search_text gin_trgm_ops)",
]
TRGM_BACKWARD = ["DROP INDEX IF EXISTS case_search_trgm"]


def trgm_forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in TRGM_FORWARD:
            schema_editor.execute(sql, params=None)


def trgm_backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in TRGM_BACKWARD:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [("casework", "0004_watch_concerns_disaster")]
    operations = [
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["-updated_at", "-id"], name="case_updated_desc"),
        ),
        migrations.RunPython(trgm_forward, trgm_backward),
    ]
