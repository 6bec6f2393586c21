"""``manage.py bench_audit [-n N]``: what writing one audit record adds to a request.

Runs in a throw-away test database (created and destroyed here, the real log is untouched):
N transactions each write one row (the change), publish one event and commit, alternately with and without the audit
subscriber; prints p50/p95/max of both and of the difference. Use DATABASE_URL to measure
PostgreSQL. Figures go to docs/benchmarks.md ("Audit").
"""

from __future__ import annotations

import statistics
import time
import uuid

from django.contrib.sessions.models import Session
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from apps.audit import receivers
from apps.common import context, events
from apps.common.benchdb import throwaway_database


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Command(BaseCommand):
    help = "Measure the time one audit record adds to a committed transaction (p50/p95 ms)."

    def add_arguments(self, parser):
        parser.add_argument("-n", "--iterations", type=int, default=500)
        parser.add_argument("--warmup", type=int, default=50)

    def handle(self, *args, **options):
        n, warmup = options["iterations"], options["warmup"]
        with throwaway_database("bench_audit"):
            with_audit, without = self._measure(n, warmup)
        added = [a - b for a, b in zip(sorted(with_audit), sorted(without), strict=True)]
        vendor = connection.vendor
        self.stdout.write(f"bench_audit: {n} committed transactions each, database={vendor}")
        for label, values in (("without audit", without), ("with audit", with_audit)):
            self.stdout.write(
                f"  {label:14s} p50 {_pct(values, .5):6.3f} ms  p95 {_pct(values, .95):6.3f} ms  "
                f"max {max(values):6.3f} ms"
            )
        self.stdout.write(
            f"  added by one record (with - without, same quantile): p50 {_pct(added, .5):.3f} ms  p95 {_pct(added, .95):.3f} ms "
            f"(target < 5 ms p95); mean {statistics.fmean(with_audit) - statistics.fmean(without):.3f} ms"
        )

    def _measure(self, n: int, warmup: int) -> tuple[list[float], list[float]]:
        with_audit: list[float] = []
        without: list[float] = []
        ctx = context.RequestContext(request_id="bench", client_ip="127.0.0.1", user_agent="bench_audit")

        def one() -> float:
            event = events.AccessDeniedEvent(
                actor_id=str(uuid.uuid4()), subject_id=str(uuid.uuid4()), project_id=str(uuid.uuid4()),
                resource="project", status_code=404, method="GET", path="/api/v1/projects/x/",
            )
            start = time.perf_counter()
            with transaction.atomic():
                # The change the event describes (a request that publishes writes something).
                Session.objects.create(session_key=uuid.uuid4().hex, session_data="", expire_date=timezone.now())
                events.publish(event)
            return (time.perf_counter() - start) * 1000

        with context.bind(ctx):
            for i in range(warmup + n):
                receivers.connect()
                a = one()
                receivers.disconnect()
                b = one()
                if i >= warmup:
                    with_audit.append(a)
                    without.append(b)
            receivers.connect()
        return with_audit, without
