"""PostgreSQL: ``audit_chain_head()`` takes the chain lock and reads the head in one round trip.

``pg_advisory_xact_lock`` is held until the calling transaction ends. The function is VOLATILE,
so its SELECT takes a fresh snapshot after the lock is granted and sees the head committed by
the previous holder (a single ``SELECT lock, (subquery)`` would read with the statement's
earlier snapshot and fork the chain). The key must stay equal to services.AUDIT_LOCK_KEY.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION audit_chain_head() RETURNS TABLE(seq bigint, h varchar) AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(6003377765855740245);
    RETURN QUERY SELECT a.sequence, a.hash FROM audit_auditrecord a ORDER BY a.sequence DESC LIMIT 1;
END;
$$ LANGUAGE plpgsql VOLATILE;
"""
BACKWARD = "DROP FUNCTION IF EXISTS audit_chain_head();"


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False)]
