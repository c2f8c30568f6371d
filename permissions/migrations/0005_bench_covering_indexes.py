"""Covering indexes for "the active shares of these agencies" (benchmarks/case_list.py).

Every list and count asks, per agency, which cases it holds an active share on: expiry, basis
and consent are checked at query time. On PostgreSQL these answer it from the indexes alone
(index-only scans), without visiting share or consent rows:

- `share_agency_case_active`: an agency's shares with what decides whether they grant;
- `consent_validity`: a consent's withdrawal and expiry, so that for a small agency the
  planner looks up its few consents instead of hashing every consent of the council.

SQLite has no INCLUDE; the declared `share_agency_case` index serves it there.
"""

from django.db import migrations

FORWARD = [
    "CREATE INDEX IF NOT EXISTS share_agency_case_active ON permissions_share "
    "(agency_id, case_id) INCLUDE (tier, expires_at, basis, consent_id)",
    "CREATE INDEX IF NOT EXISTS consent_validity ON permissions_consent "
    "(id) INCLUDE (withdrawn_at, expires_on)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS share_agency_case_active",
    "DROP INDEX IF EXISTS consent_validity",
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
    dependencies = [("permissions", "0004_disclosure_append_only")]
    operations = [migrations.RunPython(forward, backward)]
