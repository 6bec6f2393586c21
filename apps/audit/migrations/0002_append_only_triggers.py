"""Database triggers that make audit_auditrecord append-only (PostgreSQL and SQLite).

UPDATE is always rejected. DELETE (and TRUNCATE on PostgreSQL) is rejected unless the
archive gate is open in the current transaction:

* PostgreSQL: ``SET LOCAL spheroseg.audit_archive = 'on'`` (read with
  ``current_setting('spheroseg.audit_archive', true)``; SET LOCAL ends with the transaction);
* SQLite: a row in the one-row control table ``audit_archive_gate``, inserted and deleted in
  the same transaction by the archive service (SQLite serialises writers, and readers never see
  the uncommitted row).

Only ``manage.py archive_audit_log`` (and the overridden ``flush`` used by test teardown)
opens the gate. Anyone who can ALTER the table can drop the trigger: the triggers stop
application bugs and casual SQL; the hash chain makes anything else visible.
"""

from django.db import migrations

PG_FORWARD = [
    """
    CREATE OR REPLACE FUNCTION audit_record_append_only() RETURNS trigger AS $$
    BEGIN
        IF TG_OP IN ('DELETE', 'TRUNCATE')
           AND coalesce(current_setting('spheroseg.audit_archive', true), '') = 'on' THEN
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'audit records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql;
    """,
    """
    CREATE TRIGGER audit_record_no_update_delete
        BEFORE UPDATE OR DELETE ON audit_auditrecord
        FOR EACH ROW EXECUTE FUNCTION audit_record_append_only();
    """,
    """
    CREATE TRIGGER audit_record_no_truncate
        BEFORE TRUNCATE ON audit_auditrecord
        FOR EACH STATEMENT EXECUTE FUNCTION audit_record_append_only();
    """,
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS audit_record_no_truncate ON audit_auditrecord;",
    "DROP TRIGGER IF EXISTS audit_record_no_update_delete ON audit_auditrecord;",
    "DROP FUNCTION IF EXISTS audit_record_append_only();",
]

SQLITE_FORWARD = [
    "CREATE TABLE IF NOT EXISTS audit_archive_gate (id INTEGER PRIMARY KEY CHECK (id = 1));",
    """
    CREATE TRIGGER IF NOT EXISTS audit_record_no_update
    BEFORE UPDATE ON audit_auditrecord
    BEGIN
        SELECT RAISE(ABORT, 'audit records are append-only: UPDATE refused');
    END;
    """,
    """
    CREATE TRIGGER IF NOT EXISTS audit_record_no_delete
    BEFORE DELETE ON audit_auditrecord
    WHEN NOT EXISTS (SELECT 1 FROM audit_archive_gate)
    BEGIN
        SELECT RAISE(ABORT, 'audit records are append-only: DELETE refused');
    END;
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS audit_record_no_delete;",
    "DROP TRIGGER IF EXISTS audit_record_no_update;",
    "DROP TABLE IF EXISTS audit_archive_gate;",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        for sql in statements:
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
            elidable=False,
        ),
    ]
