"""``manage.py archive_audit_log --before DATE --out FILE``: retention.

Writes every record recorded before DATE (a prefix of the chain) to a JSON Lines file, removes
them from the database and appends a checkpoint record anchoring the remaining chain. Refuses
to archive a chain that does not verify. The file verifies on its own with
``verify_audit_log --archive FILE``.
"""

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from apps.audit import services


def _parse_before(value: str) -> dt.datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--before: {value!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time")
        moment = dt.datetime.combine(day, dt.time.min)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


class Command(BaseCommand):
    help = "Move audit records recorded before a date to a JSON Lines file, leaving a checkpoint."

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, help="YYYY-MM-DD (UTC midnight) or ISO 8601 date-time")
        parser.add_argument("--out", required=True, help="JSON Lines file to write (must not exist)")
        parser.add_argument("--database", default=None)

    def handle(self, *args, **options):
        before = _parse_before(options["before"])
        out = Path(options["out"])
        if out.exists():
            raise CommandError(f"--out: {out} exists; archives are never overwritten")
        if not out.parent.is_dir():
            raise CommandError(f"--out: folder {out.parent} does not exist")
        try:
            result = services.archive(before=before, out=out, using=options["database"])
        except services.ArchiveRefused as exc:
            raise CommandError(str(exc)) from exc
        if result.archived == 0:
            self.stdout.write(f"No records recorded before {before.isoformat()}; nothing archived.")
            return
        self.stdout.write(self.style.SUCCESS(
            f"Archived {result.archived} records (#{result.first_sequence}..#{result.last_sequence}) to {out} "
            f"(sha256 {result.archive_sha256}); checkpoint #{result.checkpoint_sequence} anchors the rest."
        ))
