"""Dramatiq actors of the tasks context: one generic actor that runs jobs.

A message is a wake-up for a queue: the actor claims the best eligible job from the database
(see ``services.claim_next``), so priorities are exact and duplicate messages are no-ops.
Retries are the job's (backoff in the database), never Dramatiq's: ``max_retries=0``.
"""

from __future__ import annotations

import dramatiq
from django.conf import settings

from apps.tasks import services


@dramatiq.actor(
    actor_name=services.ACTOR_NAME,
    queue_name=services.DEFAULT_QUEUE,
    max_retries=0,
    time_limit=settings.JOB_TIME_LIMIT_SECONDS * 1000,
)
def run_job(job_id: str, queue: str = services.DEFAULT_QUEUE) -> None:
    services.execute_next(queue)
