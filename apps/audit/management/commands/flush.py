"""``flush`` that may empty the append-only audit table.

Django's ``flush`` (also run by TransactionTestCase between tests) deletes every table's
rows; the audit triggers refuse that. This override opens the archive gate in the same
transaction, runs the stock command, and closes the gate. Flushing is destroying the whole
database on purpose: the audit table is not spared, but it is no longer a silent side door.
"""

from django.core.management.commands.flush import Command as FlushCommand
from django.db import DEFAULT_DB_ALIAS


class Command(FlushCommand):
    def handle(self, **options):
        from apps.audit.services import gate_open_in

        with gate_open_in(options.get("database") or DEFAULT_DB_ALIAS):
            return super().handle(**options)
