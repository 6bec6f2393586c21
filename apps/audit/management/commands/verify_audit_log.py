"""``manage.py verify_audit_log [--archive FILE ...]``: walk the hash chain.

Exit 0 with "N records verified" when intact; otherwise names the first broken record
(sequence and id) and exits 1. ``--archive`` verifies JSON Lines archives (or unfiltered
exports) on their own, several in order when given more than once.
"""

from django.core.management.base import BaseCommand, CommandError

from apps.audit import verification


class Command(BaseCommand):
    help = "Verify the audit log's hash chain (or JSON Lines archives) and name the first broken record."

    def add_arguments(self, parser):
        parser.add_argument("--archive", action="append", default=[], metavar="FILE",
                            help="verify this JSON Lines archive instead of the database (repeat for several, in order)")
        parser.add_argument("--database", default=None)

    def handle(self, *args, **options):
        if options["archive"]:
            result = verification.verify_archives(options["archive"])
            where = ", ".join(options["archive"])
        else:
            result = verification.verify_database(options["database"])
            where = "the database"
        if not result.ok:
            raise CommandError(f"audit log BROKEN in {where} after {result.count} good record(s): {result.error}")
        if result.count == 0:
            self.stdout.write(f"0 records verified in {where} (empty).")
            return
        self.stdout.write(self.style.SUCCESS(
            f"{result.count} records verified in {where} "
            f"(#{result.first_sequence}..#{result.head_sequence}, head hash {result.head_hash})."
        ))
        if options["archive"] and result.first_sequence != 1:
            self.stdout.write(f"The archive continues a chain whose record #{result.first_sequence - 1} "
                              f"has hash {result.start_prev_hash} (the previous archive's last line).")
