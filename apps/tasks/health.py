"""Sections of ``/health/`` provided by the tasks context: workers and queues."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.tasks import selectors, services
from apps.tasks.models import WorkerHeartbeat


def workers() -> dict:
    now = timezone.now()
    stale_after = dt.timedelta(seconds=3 * services.lease_seconds())
    rows = []
    for hb in WorkerHeartbeat.objects.order_by("worker_id"):
        age = (now - hb.seen_at).total_seconds()
        rows.append(
            {
                "worker_id": hb.worker_id,
                "hostname": hb.hostname,
                "pid": hb.pid,
                "broker": hb.broker,
                "queues": hb.queues,
                "running_jobs": hb.running_jobs,
                "started_at": hb.started_at.isoformat(),
                "seen_at": hb.seen_at.isoformat(),
                "seconds_since_seen": round(age, 1),
                "alive": now - hb.seen_at <= stale_after,
            }
        )
    return {"alive": sum(1 for r in rows if r["alive"]), "workers": rows}


def queues() -> dict:
    depths = selectors.queue_depths()
    return {
        "queued": sum(d["queued"] for d in depths),
        "running": sum(d["running"] for d in depths),
        "by_queue": depths,
        "broker_ready_messages": {q: services.pending_messages(q) for q in sorted(services.known_queues())},
    }
