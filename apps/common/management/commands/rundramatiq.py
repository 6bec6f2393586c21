"""Start Dramatiq worker processes for this project (distributed mode)."""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run Dramatiq workers: processes x threads consuming the configured broker."

    def add_arguments(self, parser):
        parser.add_argument("--processes", "-p", type=int, default=int(os.environ.get("WORKER_PROCESSES", 2)))
        parser.add_argument("--threads", "-t", type=int, default=int(os.environ.get("WORKER_THREADS", 1)))
        parser.add_argument("--queues", "-Q", nargs="*", default=None, help="only these queues")
        parser.add_argument(
            "--prefetch", type=int, default=settings.DRAMATIQ["PREFETCH"],
            help="unacknowledged messages per worker thread (1: a process holds no message it cannot run now)",
        )
        parser.add_argument(
            "--idle-poll-ms", type=int, default=int(os.environ.get("WORKER_IDLE_POLL_MS", 100)),
            help="longest pause between broker polls of an idle or busy consumer (dramatiq's worker_timeout)",
        )

    def handle(self, *args, processes, threads, queues, prefetch, idle_poll_ms, **options):
        if settings.DRAMATIQ["BROKER_URL"].startswith("stub"):
            raise CommandError("BROKER_URL is not set: embedded mode runs workers inside the server (make run).")
        argv = [sys.executable, "-m", "dramatiq", "config.worker", "--processes", str(processes), "--threads", str(threads)]
        if queues:
            argv += ["--queues", *queues]
        # Dramatiq's prefetch is per process and counts messages being processed: threads x 1
        # keeps every thread busy while no message waits in a busy process's buffer.
        # A consumer whose prefetch is used up polls with a growing pause capped at worker_timeout
        # (dramatiq's default 1 s): after a job ends the next message would wait for the pause,
        # so keep it short (a Redis poll is one cheap round trip; RabbitMQ pushes anyway).
        env = dict(os.environ, dramatiq_queue_prefetch=str(max(1, prefetch) * max(1, threads)),
                   dramatiq_worker_timeout=str(max(10, idle_poll_ms)))
        # Worker threads keep their database connection between messages (health-checked);
        # Django's default of 0 would open a new one for every job (about 8 ms here).
        env.setdefault("DB_CONN_MAX_AGE", "300")
        self.stdout.write(f"starting {processes} worker process(es) x {threads} thread(s)")
        sys.stdout.flush()
        os.execve(sys.executable, argv, env)  # noqa: S606 (replace this process by the workers)
