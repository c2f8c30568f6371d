"""On PostgreSQL, the database itself refuses UPDATE and DELETE of audit rows."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION otagai_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'append-only table %: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER permissions_auditevent_append_only
    BEFORE UPDATE OR DELETE ON permissions_auditevent
    FOR EACH ROW EXECUTE FUNCTION otagai_refuse_change();
CREATE TRIGGER permissions_auditevent_no_truncate
    BEFORE TRUNCATE ON permissions_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION otagai_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS permissions_auditevent_append_only ON permissions_auditevent;
DROP TRIGGER IF EXISTS permissions_auditevent_no_truncate ON permissions_auditevent;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("permissions", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
