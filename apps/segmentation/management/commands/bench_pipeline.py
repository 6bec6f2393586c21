"""Benchmark the whole segmentation pipeline in distributed mode (``make bench-pipeline``).

Starts a live daphne and ``manage.py rundramatiq`` (2 worker processes by default), uploads
``--images`` real-size demo spheroid images (``demo/spheroids/*.png`` cycled, each made unique
by one pixel so the duplicate check keeps them all), submits each one through the REST API
(``POST /api/v1/images/{id}/segment/``) while listening on the project websocket, and prints:

* images per minute through the pipeline (first submit to last job finished);
* the overhead against the engine alone, two ways, each run once before and once after the
  pipeline (their mean is compared): (1) as ``python -m ml.bench`` runs it (the issue's
  reference): the same images one after the other in one process on ``--bench-threads``
  threads (2); (2) the stricter one: the same images in as many processes as there are
  workers, with the workers' thread setting (the best the engine alone does on this machine);
* the pipeline's wall time per job and worker against the engine time inside the jobs (one
  run, so immune to load changes between runs);
* submit-to-first-websocket-event p95 (how fast a client learns about its job), and
  submit-to-start (includes the queue wait: informational);
* progress-event latency p95: the timestamp in each job message against its receipt (when
  the messages carry one).

Needs DATABASE_URL (PostgreSQL), BROKER_URL (redis:// or amqp://) and REDIS_URL. The bench
project is deleted afterwards (``--keep`` keeps it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import io
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.accounts import api as accounts_api
from apps.images import api as images_api
from apps.segmentation import api as segmentation_api
from apps.segmentation import engine as engine_adapter
from apps.tasks import api as tasks_api

ROOT = Path(settings.BASE_DIR)
DEMO = ROOT / "demo" / "spheroids"
BENCH_EMAIL = "bench-pipeline@spheroseg.local"
BENCH_PASSWORD = "bench-pipeline-only-" + "x7Kq9"  # a local throwaway account
TERMINAL = {"succeeded", "failed", "cancelled", "dead"}
TIMESTAMP_KEYS = ("sent_at", "ts", "timestamp", "at", "updated_at")


def pctl(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.1f} ms"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def variants(count: int) -> list[tuple[str, bytes]]:
    """``count`` distinct real-size PNGs: the demo images cycled, one pixel changed per copy."""
    import numpy as np
    from PIL import Image

    sources = sorted(DEMO.glob("*.png"))
    if not sources:
        raise CommandError(f"no demo images in {DEMO}")
    arrays = [np.array(Image.open(p)) for p in sources]
    out = []
    for k in range(count):
        arr = arrays[k % len(arrays)].copy()
        flat = arr.reshape(-1)
        flat[0], flat[1] = k % 256, (k // 256) % 256
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
        out.append((f"bench-{k:03d}-{sources[k % len(sources)].name}", buf.getvalue()))
    return out


def message_timestamp(msg: dict) -> float | None:
    for key in TIMESTAMP_KEYS:
        value = msg.get(key)
        if isinstance(value, int | float) and value > 1e9:
            return float(value) / (1000.0 if value > 1e12 else 1.0)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


class Command(BaseCommand):
    help = "Pipeline benchmark: live daphne + rundramatiq workers, N images through REST and websocket."

    def add_arguments(self, parser):
        parser.add_argument("--images", type=int, default=50)
        parser.add_argument("--model", default=None, help="registry model name (default model if omitted)")
        parser.add_argument("--workers", type=int, default=2, help="worker processes")
        parser.add_argument("--threads", type=int, default=1, help="threads per worker process (and engine threads)")
        parser.add_argument("--bench-threads", type=int, default=2,
                            help="threads of the one-process engine run, as python -m ml.bench uses (2)")
        parser.add_argument("--batch", action="store_true",
                            help="submit all images with one POST /api/v1/projects/{id}/segment/ (default: one "
                                 "POST /api/v1/images/{id}/segment/ per image)")
        parser.add_argument("--rounds", type=int, default=1,
                            help="pipeline runs, each between two runs of the engine alone; with more than "
                                 "one, the medians over the rounds are printed at the end")
        parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the jobs")
        parser.add_argument("--keep", action="store_true", help="keep the bench project and its results")

    # ------------------------------------------------------------------ orchestration

    def handle(self, *args, images, model, workers, threads, bench_threads, batch, rounds, timeout, keep, **options):
        if rounds < 1:
            raise CommandError("--rounds must be at least 1")
        self._check_mode()
        self.load_before = os.getloadavg()
        call_command("migrate", verbosity=0, interactive=False)
        model_info = self._model(model)
        self.stdout.write(f"model {model_info.name} {model_info.version} ({model_info.kind}); "
                          f"{images} images; {workers} worker process(es) x {threads} thread(s)")
        user, _ = accounts_api.ensure_user(email=BENCH_EMAIL, password=BENCH_PASSWORD, name="Pipeline benchmark")
        project = images_api.create_project(actor_id=user.id, name=f"bench-pipeline {dt.datetime.now():%Y-%m-%d %H:%M}")
        logdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
        try:
            files = variants(images + workers)
            uploaded = images_api.upload_images(
                actor_id=user.id, project_id=project.id,
                files=[images_api.UploadInput(name=n, file=io.BytesIO(b)) for n, b in files],
            )
            bad = [r.detail for r in uploaded if not r.accepted]
            if bad:
                raise CommandError(f"upload refused: {bad[:3]}")
            image_ids = [r.image.id for r in uploaded]
            warm_ids, timed_ids = image_ids[:workers], image_ids[workers:]
            # The engine alone runs before and after each pipeline run (the mean is compared), so
            # a change of the machine's load during the run biases the comparison less.
            engine_args = ([b for _, b in files[workers:]], [b for _, b in files[:workers]], model_info.name,
                           workers, threads)
            ml_bench_args = (*engine_args[:3], 1, bench_threads)
            engine_walls = [self._engine_alone(*engine_args)[0]]
            ml_bench_walls = [self._engine_alone(*ml_bench_args)[0]]
            summaries = []
            for n in range(rounds):
                self.load_before = os.getloadavg()
                report = self._pipeline_run(project.id, model_info.name, warm_ids, timed_ids, timeout, batch,
                                            workers, threads, logdir)
                engine_walls.append(self._engine_alone(*engine_args)[0])
                ml_bench_walls.append(self._engine_alone(*ml_bench_args)[0])
                if rounds > 1:
                    self.stdout.write(f"\nround {n + 1} of {rounds}")
                summaries.append(self._print(report, engine_walls[-2:], ml_bench_walls[-2:], bench_threads,
                                             images, workers, threads, model_info, batch))
            if rounds > 1:
                self._print_medians(summaries)
        finally:
            if not keep:
                images_api.delete_project(actor_id=user.id, project_id=project.id)

    def _pipeline_run(self, project_id, model, warm_ids, timed_ids, timeout, batch, workers, threads, logdir) -> dict:
        """One pipeline run: daphne and the workers started afresh (the model loads in the warm-up
        jobs), the images submitted through REST, the jobs' end heard on the websocket."""
        procs: list[subprocess.Popen] = []
        try:
            port = free_port()
            env = self._child_env(threads)
            procs.append(self._start([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                                      "config.asgi:application"], env, logdir / "daphne.log"))
            procs.append(self._start([sys.executable, "manage.py", "rundramatiq", "--processes", str(workers),
                                      "--threads", str(threads)], env, logdir / "workers.log"))
            self._wait_http(port, procs, logdir)
            return asyncio.run(self._drive(port, project_id, model, warm_ids, timed_ids, timeout, batch))
        except BaseException:
            for log in sorted(logdir.glob("*.log")):
                self.stderr.write(f"--- {log.name} (tail)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
            raise
        finally:
            self._stop(procs)

    def _print_medians(self, summaries: list[dict]) -> None:
        keys = ("overhead_vs_ml_bench_pct", "overhead_pct", "per_job_vs_engine_in_job_pct", "images_per_min",
                "submit_to_first_event_p95_ms", "progress_latency_p95_ms")
        medians = {}
        for key in keys:
            values = [s[key] for s in summaries if s.get(key) is not None]
            medians[key] = round(statistics.median(values), 1) if values else None
            medians[key + "_range"] = [min(values), max(values)] if values else None

        def fmt(key: str) -> str:
            if medians[key] is None:
                return "n/a"
            return f"median {medians[key]:+.1f} % (rounds: {', '.join(f'{s[key]:+.1f}' for s in summaries)})"

        self.stdout.write("\n".join([
            "",
            f"Medians over {len(summaries)} rounds:",
            f"  overhead vs python -m ml.bench:                        {fmt('overhead_vs_ml_bench_pct')}",
            f"  overhead vs engine alone in the workers' configuration: {fmt('overhead_pct')}",
            f"  pipeline time per job against the engine inside it:    {fmt('per_job_vs_engine_in_job_pct')}",
            f"  images per minute: median {medians['images_per_min']}",
            f"  submit -> first websocket event p95: median {medians['submit_to_first_event_p95_ms']} ms; "
            f"progress-event latency p95: median {medians['progress_latency_p95_ms']} ms",
        ]))
        self.stdout.write("JSON-MEDIANS " + json.dumps({"rounds": len(summaries), **medians}))

    def _check_mode(self) -> None:
        missing = []
        if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
            missing.append("DATABASE_URL (PostgreSQL)")
        if settings.DRAMATIQ["BROKER_URL"].startswith("stub"):
            missing.append("BROKER_URL (redis:// or amqp://)")
        if not settings.REDIS_URL:
            missing.append("REDIS_URL (channel layer)")
        if missing:
            raise CommandError(
                "bench_pipeline measures the distributed mode and needs: " + ", ".join(missing) + ".\n"
                "Example: DATABASE_URL=postgres://spheroseg:spheroseg@127.0.0.1:5432/spheroseg "
                "BROKER_URL=redis://127.0.0.1:6379/2 REDIS_URL=redis://127.0.0.1:6379/3 make bench-pipeline"
            )

    def _model(self, name):
        models = segmentation_api.list_models()
        if not models:
            raise CommandError("no segmentation model is available")
        if name:
            for m in models:
                if m.name == name:
                    return m
            raise CommandError(f"unknown model {name!r}; available: {', '.join(m.name for m in models)}")
        return next((m for m in models if m.default), models[0])

    def _child_env(self, threads: int) -> dict:
        env = dict(os.environ)
        env.update({"EMBEDDED_WORKERS": "0", "ML_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
                    "PYTHONUNBUFFERED": "1"})
        return env

    def _start(self, argv, env, log: Path) -> subprocess.Popen:
        fh = open(log, "wb")  # noqa: SIM115 (closed with the process)
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def _stop(self, procs) -> None:
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)

    def _wait_http(self, port, procs, logdir) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for p in procs:
                if p.poll() is not None:
                    raise CommandError(f"{p.args[2] if len(p.args) > 2 else p.args} exited early (logs in {logdir})")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise CommandError(f"daphne did not answer on port {port} (logs in {logdir})")

    # ------------------------------------------------------------------ the measured part

    async def _drive(self, port, project_id, model, warm_ids, timed_ids, timeout, batch) -> dict:
        import httpx
        import websockets

        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            token = await http.post("/api/v1/auth/token/", json={"email": BENCH_EMAIL, "password": BENCH_PASSWORD})
            if token.status_code != 200:
                raise CommandError(f"token request failed: {token.status_code} {token.text[:200]}")
            headers = {"Authorization": f"Bearer {token.json()['access']}"}
            received: list[tuple[float, dict]] = []
            finished: set[str] = set()  # job ids whose end the websocket told
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/projects/{project_id}/",
                                          additional_headers=headers, origin=base, max_size=2**22) as ws:
                snapshot = json.loads(await ws.recv())
                if snapshot.get("type") != "snapshot":
                    raise CommandError(f"expected a snapshot first, got {snapshot}")

                async def listen():
                    async for raw in ws:
                        msg = json.loads(raw)
                        received.append((time.time(), msg))
                        if msg.get("status") in TERMINAL:
                            finished.add(msg.get("job_id"))

                listener = asyncio.create_task(listen())
                try:
                    warm_jobs = [await self._submit(http, headers, i, model) for i in warm_ids]
                    await self._wait_jobs([j for j, _ in warm_jobs], timeout)
                    received.clear()
                    submits: dict[str, float] = {}
                    t0 = time.time()
                    if batch:
                        for job_id in await self._submit_batch(http, headers, project_id, timed_ids, model):
                            submits[job_id] = t0
                    else:
                        for image_id in timed_ids:
                            job_id, started = await self._submit(http, headers, image_id, model)
                            submits[job_id] = started
                    jobs = await self._wait_jobs(list(submits), timeout, finished)
                    await asyncio.sleep(0.5)  # the last messages in flight
                finally:
                    listener.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await listener
        return {"t0": t0, "submits": submits, "jobs": jobs, "received": received}

    async def _submit(self, http, headers, image_id, model) -> tuple[str, float]:
        started = time.time()
        resp = await http.post(f"/api/v1/images/{image_id}/segment/", json={"model": model}, headers=headers)
        if resp.status_code not in (200, 202):
            raise CommandError(f"segment request failed: {resp.status_code} {resp.text[:300]}")
        return resp.json()["id"], started

    async def _submit_batch(self, http, headers, project_id, image_ids, model) -> list[str]:
        resp = await http.post(f"/api/v1/projects/{project_id}/segment/", headers=headers,
                               json={"model": model, "image_ids": [str(i) for i in image_ids]})
        if resp.status_code not in (200, 202):
            raise CommandError(f"batch segment request failed: {resp.status_code} {resp.text[:300]}")
        return [j["id"] for j in resp.json()["jobs"]]

    async def _wait_jobs(self, job_ids, timeout, finished=None) -> dict:
        """Until every job is finished: told by the websocket (``finished``: the ids it reported
        ended), confirmed from the database (read every 5 s otherwise, so the benchmark client
        takes little CPU from the workers on a small machine)."""
        deadline = time.monotonic() + timeout
        wanted = set(job_ids)
        next_read = last_read = 0.0
        while True:
            now = time.monotonic()
            if now >= next_read or (finished is not None and wanted <= finished and now - last_read >= 0.25):
                last_read = now
                jobs = await asyncio.to_thread(self._jobs, job_ids)
                if all(str(j.status) in TERMINAL for j in jobs.values()) and len(jobs) == len(job_ids):
                    return jobs
                next_read = time.monotonic() + (1.0 if finished is None else 5.0)
                if time.monotonic() > deadline:
                    pending = sum(1 for j in jobs.values() if str(j.status) not in TERMINAL)
                    raise CommandError(f"{pending} job(s) still unfinished after {timeout:.0f} s")
            await asyncio.sleep(0.05)

    @staticmethod
    def _jobs(job_ids):
        from django.db import close_old_connections

        try:
            return {str(k): v for k, v in tasks_api.get_jobs(ids=[uuid.UUID(j) for j in job_ids]).items()}
        finally:
            close_old_connections()

    def _engine_alone(self, timed: list[bytes], warm: list[bytes], model, workers, threads) -> tuple[float, int]:
        """The same images through the engine alone, in ``workers`` processes."""
        for key in ("ML_NUM_THREADS", "OMP_NUM_THREADS"):
            os.environ[key] = str(threads)
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            list(pool.map(engine_adapter.timed_segment, warm * 2, [model] * (2 * len(warm))))
            start = time.perf_counter()
            results = list(pool.map(engine_adapter.timed_segment, timed, [model] * len(timed)))
            wall = time.perf_counter() - start
        return wall, sum(n for _, n in results)

    # ------------------------------------------------------------------ report

    def _print(self, report, engine_walls, ml_bench_walls, bench_threads, images, workers, threads, model,
               batch) -> dict:
        engine_wall = statistics.fmean(engine_walls)
        ml_bench_wall = statistics.fmean(ml_bench_walls)
        jobs, submits, received, t0 = report["jobs"], report["submits"], report["received"], report["t0"]
        ok = [j for j in jobs.values() if str(j.status) == "succeeded"]
        finished = max(j.finished_at.timestamp() for j in jobs.values() if j.finished_at)
        wall = finished - t0
        first_event: dict[str, float] = {}
        first_running: dict[str, float] = {}
        lags: list[float] = []
        for at, msg in received:
            job_id = msg.get("job_id")
            if job_id not in submits:
                continue
            first_event.setdefault(job_id, at)
            if msg.get("status") == "running":
                first_running.setdefault(job_id, at)
            stamp = message_timestamp(msg)
            if stamp is not None:
                lags.append(at - stamp)
        timed_jobs = [jobs[j] for j in submits if j in jobs]
        runs = [(j.finished_at - j.started_at).total_seconds() for j in timed_jobs if j.started_at and j.finished_at]
        waits = [(j.started_at - j.created_at).total_seconds() for j in timed_jobs if j.started_at]
        results = segmentation_api.get_latest_results(image_ids=[j.image_id for j in timed_jobs])
        engine_in_job = [float(r.timings.get("total", 0.0)) + float(r.timings.get("decode", 0.0)) for r in results.values()]
        to_first = [first_event[j] - submits[j] for j in first_event]
        to_start = [first_running[j] - submits[j] for j in first_running]
        per_worker_job = wall * workers / len(timed_jobs) if timed_jobs else 0.0
        mean_run = statistics.fmean(runs) if runs else 0.0
        mean_engine_in_job = statistics.fmean(engine_in_job) if engine_in_job else 0.0
        # Same run, same load: the pipeline's own time per job against the engine time inside it.
        own_pct = (per_worker_job / mean_engine_in_job - 1) * 100 if mean_engine_in_job > 0 else float("nan")
        load = (self.load_before[0], os.getloadavg()[0], os.cpu_count())
        pipeline_rate = len(ok) / wall * 60 if wall > 0 else 0.0
        engine_rate = images / engine_wall * 60 if engine_wall > 0 else 0.0
        overhead = (wall / engine_wall - 1) * 100 if engine_wall > 0 else float("nan")
        ml_bench_rate = images / ml_bench_wall * 60 if ml_bench_wall > 0 else 0.0
        ml_bench_overhead = (wall / ml_bench_wall - 1) * 100 if ml_bench_wall > 0 else float("nan")
        submission = "one batch request" if batch else "one request per image"
        lines = [
            "",
            f"Pipeline benchmark: {images} images ({len(ok)} succeeded), model {model.name} {model.version}, "
            f"{workers} worker process(es) x {threads} thread(s), broker {settings.DRAMATIQ['BROKER_URL'].split(':')[0]}, "
            f"submitted with {submission}",
            f"  pipeline (REST submit -> result stored):  {wall:8.2f} s  {pipeline_rate:8.1f} images/min",
            f"  engine alone as python -m ml.bench runs it (same images, 1 process x {bench_threads} threads): "
            f"{ml_bench_wall:8.2f} s  {ml_bench_rate:8.1f} images/min"
            f"  (mean of {ml_bench_walls[0]:.2f} s before and {ml_bench_walls[1]:.2f} s after the pipeline)",
            f"  overhead vs python -m ml.bench:           {ml_bench_overhead:+8.1f} %",
            f"  engine alone, same images, {workers} processes x {threads} thread(s): {engine_wall:8.2f} s  "
            f"{engine_rate:8.1f} images/min"
            f"  (mean of {engine_walls[0]:.2f} s before and {engine_walls[1]:.2f} s after the pipeline)",
            f"  overhead vs engine alone in the workers' configuration (stricter): {overhead:+8.1f} %",
            f"  per job: run (claim -> result stored) mean {mean_run:.3f} s, "
            f"engine (decode + segment) inside the job mean {mean_engine_in_job:.3f} s, "
            f"queue wait mean {statistics.fmean(waits) if waits else 0:.2f} s",
            f"  per worker: {per_worker_job:.3f} s of wall time per job, of which {max(0.0, per_worker_job - mean_run):.3f} s "
            f"outside any run (broker delivery, claim, start and end of the batch)",
            f"  pipeline time per job against the engine time inside it (same run, same load): {own_pct:+.1f} %",
            f"  submit -> first websocket event:  p50 {ms(pctl(to_first, 50))}  p95 {ms(pctl(to_first, 95))}"
            f"  ({len(to_first)}/{len(submits)} jobs)",
            f"  submit -> running (incl. queue wait):  p50 {ms(pctl(to_start, 50))}  p95 {ms(pctl(to_start, 95))}",
            (f"  progress-event latency (message timestamp -> receipt):  p50 {ms(pctl(lags, 50))}  "
             f"p95 {ms(pctl(lags, 95))}  ({len(lags)} events)") if lags else
            "  progress-event latency: n/a (the job messages carry no timestamp)",
            f"  websocket messages received: {len(received)}",
            f"  load average (1 min) {load[0]:.2f} at start, {load[1]:.2f} at the end, {load[2]} CPUs",
        ]
        self.stdout.write("\n".join(lines))
        summary = {
            "images": images, "succeeded": len(ok), "model": f"{model.name} {model.version}", "workers": workers,
            "threads": threads, "pipeline_s": round(wall, 3), "images_per_min": round(pipeline_rate, 1),
            "engine_alone_s": round(engine_wall, 3), "engine_alone_before_s": round(engine_walls[0], 3),
            "engine_alone_after_s": round(engine_walls[1], 3), "overhead_pct": round(overhead, 1),
            "ml_bench_config_s": round(ml_bench_wall, 3), "ml_bench_config_before_s": round(ml_bench_walls[0], 3),
            "ml_bench_config_after_s": round(ml_bench_walls[1], 3),
            "overhead_vs_ml_bench_pct": round(ml_bench_overhead, 1), "batch_submit": batch,
            "per_job_vs_engine_in_job_pct": round(own_pct, 1),
            "submit_to_first_event_p95_ms": None if not to_first else round(pctl(to_first, 95) * 1000, 1),
            "progress_latency_p95_ms": None if not lags else round(pctl(lags, 95) * 1000, 1),
            "messages": len(received), "mean_job_run_s": round(statistics.fmean(runs), 4) if runs else None,
            "mean_engine_in_job_s": round(statistics.fmean(engine_in_job), 4) if engine_in_job else None,
            "median_submit_to_running_s": round(statistics.median(to_start), 3) if to_start else None,
            "per_worker_job_s": round(per_worker_job, 4),
            "submit_to_first_event_p50_ms": None if not to_first else round(pctl(to_first, 50) * 1000, 1),
            "progress_latency_p50_ms": None if not lags else round(pctl(lags, 50) * 1000, 1),
            "load_1min_start": round(load[0], 2), "load_1min_end": round(load[1], 2), "cpus": load[2],
        }
        self.stdout.write("JSON " + json.dumps(summary))
        return summary
