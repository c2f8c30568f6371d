"""A covering index for "the active shares of these agencies" (benchmarks/case_list.py).

Every list and count asks, per agency, which cases it holds an active share on: expiry, basis
and consent are checked at query time. On PostgreSQL this index answers that from the index
alone (an index-only scan), without visiting the share rows. SQLite has no INCLUDE; the
declared `share_agency_case` index serves it there.
"""

from django.db import migrations

FORWARD = (
    "CREATE INDEX IF NOT EXISTS share_agency_case_active ON permissions_share "
    "(agency_id, case_id) INCLUDE (tier, expires_at, basis, consent_id)"
)
BACKWARD = "DROP INDEX IF EXISTS share_agency_case_active"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("permissions", "0002_audit_append_only")]
    operations = [migrations.RunPython(forward, backward)]
