"""Benchmark of the project image list endpoint on a project of 10,000 images.

    manage.py bench_api [--images 10000] [--runs 200] [--page-size 50]

Runs in a throw-away database created next to the configured one and dropped at the end
(``apps.common.benchdb``: the real data is never touched; use PostgreSQL through DATABASE_URL
for the reference figures). Seeds a user, the benchmark project and as many images again in
other projects (records only, no files, bulk inserts), then times
GET /api/v1/projects/{id}/images/ in-process through the whole Django stack (middleware,
session auth, DRF, serialisation) and prints p50 / p95 / max latency, this process's CPU time
and the SQL queries per request for a few variants, with the load average.
Target: p95 under 50 ms for the default page.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client

from apps.accounts import api as accounts_api
from apps.common.benchdb import throwaway_database
from apps.images import api
from apps.images.models import Image

BENCH_EMAIL = "bench-api@spheroseg.local"
BENCH_PROJECT = "API benchmark"
OTHER_PROJECTS = 10  # as many images again, in other projects: the list must not scan them


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


class _QueryCounter:
    """Counts the SQL statements executed (without DEBUG's per-query bookkeeping)."""

    count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


class Command(BaseCommand):
    help = ("Time the image list endpoint on a project of 10,000 images (p50/p95, queries) "
            "in a throw-away database.")

    def add_arguments(self, parser):
        parser.add_argument("--images", type=int, default=10_000)
        parser.add_argument("--runs", type=int, default=200)
        parser.add_argument("--page-size", type=int, default=50)

    def handle(self, *args, **options):
        n, runs, page_size = options["images"], options["runs"], options["page_size"]
        if n < 1 or runs < 1 or not 1 <= page_size <= 500:
            raise CommandError("--images and --runs must be positive, --page-size between 1 and 500.")
        vendor = connection.vendor
        if vendor != "postgresql":
            self.stderr.write(f"Note: database is {vendor}; the reference figures use PostgreSQL (DATABASE_URL).")
        if settings.DEBUG:
            self.stderr.write("Note: DEBUG is on (query logging adds overhead); DEBUG=false gives product figures.")
        with throwaway_database("bench_api") as name:
            self.stdout.write(f"Throw-away database {name} (dropped at the end)")
            self.measure(n=n, runs=runs, page_size=page_size)

    def measure(self, *, n: int, runs: int, page_size: int) -> None:
        """Seed ``n`` image records in the current database and time the list endpoint."""
        vendor = connection.vendor
        user, _ = accounts_api.ensure_user(email=BENCH_EMAIL, password=uuid.uuid4().hex, name="API benchmark")
        project_id = self._seed(user.id, n)

        client = Client()
        from django.contrib.auth import get_user_model

        client.force_login(get_user_model().objects.get(id=user.id))
        url = f"/api/v1/projects/{project_id}/images/"
        variants = [
            ("default page (newest first)", {"page_size": page_size}),
            ("page 100, ordered by name", {"page_size": page_size, "page": 100, "ordering": "name"}),
            ("search by name", {"page_size": page_size, "search": "0042"}),
            ("status filter (new)", {"page_size": page_size, "status": "new"}),
        ]
        self.stdout.write(f"GET {url} on {vendor}, {n:,} images (+{n:,} in {OTHER_PROJECTS} other projects), "
                          f"page size {page_size}; load average {_load()}")
        for label, params in variants:
            for _ in range(max(5, runs // 20)):  # warm-up
                client.get(url, params)
            counter = _QueryCounter()
            with connection.execute_wrapper(counter):
                response = client.get(url, params)
            if response.status_code != 200:
                raise CommandError(f"{url} answered {response.status_code}: {response.content[:300]!r}")
            timings, cpu = [], []
            for _ in range(runs):
                start, start_cpu = time.perf_counter(), time.process_time()
                response = client.get(url, params)
                timings.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - start_cpu) * 1000)
            timings.sort()
            p50 = statistics.median(timings)
            p95 = timings[min(len(timings) - 1, int(round(0.95 * len(timings))) - 1)]
            self.stdout.write(
                f"  {label:28s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {timings[-1]:6.1f} ms  "
                f"cpu p50 {statistics.median(cpu):5.1f} ms  queries {counter.count}  "
                f"count {response.json()['count']}  runs {runs}"
            )
        self.stdout.write(f"Load average at the end: {_load()} ({os.cpu_count()} CPUs); "
                          "cpu = this process's CPU time per request (the rest is waiting for the database).")

    def _seed(self, user_id, n: int):
        """The benchmark project with ``n`` image records, and as many again in other projects."""
        start = time.perf_counter()
        project = api.create_project(actor_id=user_id, name=BENCH_PROJECT, description="Records only (no files).")
        others = [api.create_project(actor_id=user_id, name=f"Other {k}") for k in range(OTHER_PROJECTS)]
        plan = [(project.id, n)] + [(o.id, -(-n // OTHER_PROJECTS)) for o in others]
        with transaction.atomic():
            for pid, count in plan:
                Image.objects.bulk_create(
                    (Image(
                        project_id=pid, original_name=f"spheroid-{i:06d}.tif",
                        storage_name=f"bench/{pid}/{i}.tif", thumbnail_name=f"bench/{pid}/{i}.png",
                        format="TIFF", width=1024, height=1024, bit_depth=16, channels=1, pages=1,
                        pixel_size_um=0.65, pixel_size_source="project", file_size=2_100_000 + i,
                        sha256=f"{uuid.uuid5(pid, str(i)).hex}{i:032x}"[:64], uploaded_by=user_id,
                    ) for i in range(count)),
                    batch_size=5000,
                )
        total = sum(count for _, count in plan)
        self.stdout.write(f"Seeded {total:,} image records in {time.perf_counter() - start:.1f} s")
        if connection.vendor == "postgresql":  # what autovacuum does to a settled table
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM ANALYZE {Image._meta.db_table}")
        return project.id
