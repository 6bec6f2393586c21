"""Operator command: ``manage.py jobs list|requeue|purge``.

* ``jobs list [--status S] [--kind K] [--project ID] [--limit N]``
* ``jobs requeue ID... | --dead | --stuck``: dead/failed jobs are replayed, queued ones get a
  fresh broker message; ``--stuck`` re-queues running jobs whose lease has expired now.
* ``jobs purge --older-than DAYS [--status S ...] [--dry-run]``: delete finished jobs.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.tasks import services
from apps.tasks.contracts import JobStatus
from apps.tasks.models import Job
from apps.tasks.selectors import TERMINAL


class Command(BaseCommand):
    help = "List, requeue or purge background jobs."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ls = sub.add_parser("list", help="list jobs, newest first")
        ls.add_argument("--status", choices=[s.value for s in JobStatus])
        ls.add_argument("--kind")
        ls.add_argument("--project")
        ls.add_argument("--limit", type=int, default=50)
        rq = sub.add_parser("requeue", help="replay dead/failed jobs, re-send queued ones")
        rq.add_argument("ids", nargs="*")
        rq.add_argument("--dead", action="store_true", help="every dead job")
        rq.add_argument("--stuck", action="store_true", help="running jobs whose lease expired")
        pg = sub.add_parser("purge", help="delete finished jobs")
        pg.add_argument("--older-than", type=float, required=True, metavar="DAYS")
        pg.add_argument("--status", action="append", choices=TERMINAL)
        pg.add_argument("--dry-run", action="store_true")

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    def _list(self, *, status=None, kind=None, project=None, limit=50, **_):
        qs = Job.objects.order_by("-created_at")
        if status:
            qs = qs.filter(status=status)
        if kind:
            qs = qs.filter(kind=kind)
        if project:
            qs = qs.filter(project_id=project)
        self.stdout.write(f"{'id':36}  {'kind':18} {'status':9} {'pri':>3} {'att':>5} {'prog':>4}  stage / error")
        for job in qs[:limit]:
            detail = job.error.splitlines()[0][:60] if job.error else job.stage
            self.stdout.write(
                f"{job.id}  {job.kind[:18]:18} {job.status:9} {job.priority:>3} "
                f"{job.attempts:>2}/{job.max_attempts:<2} {job.progress:>4}  {detail}"
            )

    def _requeue(self, *, ids=(), dead=False, stuck=False, **_):
        if not (ids or dead or stuck):
            raise CommandError("give job ids, --dead or --stuck")
        done = 0
        if stuck:
            done += services.reap_expired_leases(limit=10_000)
        targets = list(ids)
        if dead:
            targets += [str(i) for i in Job.objects.filter(status=JobStatus.DEAD.value).values_list("id", flat=True)]
        for job_id in targets:
            try:
                ok = services.requeue_job(job_id=job_id)
            except Exception as exc:
                self.stderr.write(f"{job_id}: {exc}")
                continue
            if ok:
                done += 1
            else:
                self.stderr.write(f"{job_id}: not found, or neither dead, failed nor queued")
        self.stdout.write(f"requeued {done} job(s)")

    def _purge(self, *, older_than, status=None, dry_run=False, **_):
        cutoff = timezone.now() - dt.timedelta(days=older_than)
        qs = Job.objects.filter(status__in=status or TERMINAL, finished_at__lt=cutoff)
        count = qs.count()
        if not dry_run:
            qs.delete()
        self.stdout.write(f"{'would delete' if dry_run else 'deleted'} {count} job(s)")
