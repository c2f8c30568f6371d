"""On PostgreSQL, the database itself refuses UPDATE and DELETE of disclosure-ledger rows."""

from django.db import migrations

FORWARD = """
CREATE TRIGGER permissions_disclosurerecord_append_only
    BEFORE UPDATE OR DELETE ON permissions_disclosurerecord
    FOR EACH ROW EXECUTE FUNCTION otagai_refuse_change();
CREATE TRIGGER permissions_disclosurerecord_no_truncate
    BEFORE TRUNCATE ON permissions_disclosurerecord
    FOR EACH STATEMENT EXECUTE FUNCTION otagai_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS permissions_disclosurerecord_append_only ON permissions_disclosurerecord;
DROP TRIGGER IF EXISTS permissions_disclosurerecord_no_truncate ON permissions_disclosurerecord;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("permissions", "0003_emergency_access_and_disclosures")]
    operations = [migrations.RunPython(forward, backward)]
