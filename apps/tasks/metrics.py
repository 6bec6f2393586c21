"""Prometheus metrics of the tasks context, derived from the database at scrape time.

Worker processes are many and short-lived; the job table is the truth. So the web process
exposes, through a custom collector on the default registry (served by ``/metrics``):

* ``spheroseg_jobs{status,kind}``: jobs by status (gauge);
* ``spheroseg_job_queue_depth{queue,priority}``: queued jobs (gauge);
* ``spheroseg_job_wait_seconds`` and ``spheroseg_job_run_seconds``: histograms over every
  started/finished job still in the table (created -> started, started -> finished);
* ``spheroseg_job_workers``: workers with a heartbeat in the last 3 lease periods.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import REGISTRY, Collector

logger = logging.getLogger(__name__)

BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class JobCollector(Collector):
    def describe(self):
        # Names only: registering must not query the database (it may not exist yet).
        yield GaugeMetricFamily("spheroseg_jobs", "Jobs by status and kind", labels=["status", "kind"])
        yield GaugeMetricFamily("spheroseg_job_queue_depth", "Queued jobs", labels=["queue", "priority"])
        yield HistogramMetricFamily("spheroseg_job_wait_seconds", "Seconds from submission to start")
        yield HistogramMetricFamily("spheroseg_job_run_seconds", "Seconds from start to finish")
        yield GaugeMetricFamily("spheroseg_job_workers", "Worker processes with a recent heartbeat")

    def collect(self):
        try:
            yield from self._collect()
        except Exception:  # never break /metrics because the database is away
            logger.warning("job metrics unavailable", exc_info=True)

    def _collect(self):
        from apps.tasks.models import Job, WorkerHeartbeat
        from apps.tasks.services import lease_seconds

        jobs = GaugeMetricFamily("spheroseg_jobs", "Jobs by status and kind", labels=["status", "kind"])
        for row in Job.objects.order_by().values("status", "kind").annotate(n=Count("id")):
            jobs.add_metric([row["status"], row["kind"]], row["n"])
        yield jobs

        depth = GaugeMetricFamily(
            "spheroseg_job_queue_depth", "Queued jobs per queue and priority", labels=["queue", "priority"]
        )
        for row in Job.objects.filter(status="queued").order_by().values("queue", "priority").annotate(n=Count("id")):
            depth.add_metric([row["queue"], str(row["priority"])], row["n"])
        yield depth

        yield self._histogram(
            "spheroseg_job_wait_seconds", "Seconds from submission to start", "created_at", "started_at"
        )
        yield self._histogram("spheroseg_job_run_seconds", "Seconds from start to finish", "started_at", "finished_at")

        alive = WorkerHeartbeat.objects.filter(
            seen_at__gte=timezone.now() - dt.timedelta(seconds=3 * lease_seconds())
        ).count()
        yield GaugeMetricFamily("spheroseg_job_workers", "Worker processes with a recent heartbeat", value=alive)

    @staticmethod
    def _histogram(name: str, doc: str, start: str, end: str) -> HistogramMetricFamily:
        from apps.tasks.models import Job

        duration = ExpressionWrapper(F(end) - F(start), output_field=DurationField())
        qs = Job.objects.filter(**{f"{start}__isnull": False, f"{end}__isnull": False}).annotate(d=duration)
        aggregates = {f"b{i}": Count("id", filter=Q(d__lte=dt.timedelta(seconds=b))) for i, b in enumerate(BUCKETS)}
        row = qs.aggregate(total=Count("id"), sum=Sum("d"), **aggregates)
        buckets = [(str(float(b)), row[f"b{i}"]) for i, b in enumerate(BUCKETS)]
        buckets.append(("+Inf", row["total"]))
        total = row["sum"]
        seconds = total.total_seconds() if isinstance(total, dt.timedelta) else float(total or 0) / 1000000.0
        return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=seconds)


_collector: JobCollector | None = None


def register() -> None:
    global _collector
    if _collector is None:
        _collector = JobCollector()
        REGISTRY.register(_collector)
