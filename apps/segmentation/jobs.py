"""The job handler of ``segmentation.segment_image`` (registered with the tasks context).

The tasks context owns the job lifecycle (claim, lease, retries, cancellation); this handler
re-reads the image, runs the engine through the adapter, and stores exactly one result
version per job through ``handle.commit_result`` (nothing is written for a cancelled job or a
worker that lost its lease). A corrupt or missing image is a permanent error (no retry).
"""

from __future__ import annotations

import logging
import time

from django.db import transaction

from apps.common import events
from apps.images import api as images_api
from apps.images.contracts import ImageNotFound
from apps.segmentation import engine as engine_adapter
from apps.segmentation import services
from apps.segmentation.events import RunStarted
from apps.tasks.contracts import JobCancelled, JobHandle, PermanentJobError

logger = logging.getLogger(__name__)

#: Overall progress range of each stage (the engine reports the fraction of a stage done).
STAGE_RANGES = {
    "loading": (0, 10),
    "inference": (10, 75),
    "post-processing": (75, 92),
    "saving": (92, 100),
}


class _Progress:
    """Maps engine stage progress to overall job progress; skips repeated identical reports.

    Also the engine's cancellation check: every progress write is a compare-and-set on this
    claim (it raises ``JobCancelled`` when the job was cancelled or taken over), so a check
    right after one is free; otherwise it costs one query. Each stage boundary is thus
    checked once, by a write or a query.
    """

    def __init__(self, handle: JobHandle):
        self.handle = handle
        self.last: tuple[str, int] | None = None
        self.confirmed = False  # this claim was confirmed by a write since the last check

    def __call__(self, stage: str, stage_percent: int) -> None:
        if stage_percent >= 100 and stage != "saving":
            return  # the next stage's start follows at once: one write per stage boundary is enough
        stage = stage if stage in STAGE_RANGES else "post-processing" if "post" in stage else stage
        low, high = STAGE_RANGES.get(stage, (0, 100))
        overall = low + (high - low) * max(0, min(100, stage_percent)) // 100
        if self.last is not None:
            overall = max(overall, self.last[1])  # progress never goes backwards
        key = (stage, overall)
        if key != self.last:
            self.last = key
            self.handle.progress(stage, overall)
            self.confirmed = True

    def started(self, stage: str, overall: int) -> None:
        """The claim already set this stage (and told the websocket): only check the claim."""
        self.handle.check_cancelled()
        self.last, self.confirmed = (stage, overall), True

    def should_cancel(self) -> bool:
        if self.confirmed:
            self.confirmed = False
            return False
        try:
            self.handle.check_cancelled()
        except JobCancelled:
            return True
        return False


def segment_image(handle: JobHandle) -> str:
    """Run one segmentation job; returns the id of the stored result version."""
    job = handle.job
    params = dict(job.params or {})
    progress = _Progress(handle)
    if job.image_id is None:
        raise PermanentJobError("The job names no image.")
    try:
        image = images_api.get_image(image_id=job.image_id)
    except ImageNotFound:
        raise PermanentJobError("The image no longer exists.") from None
    with transaction.atomic():  # the start event, only while the claim holds
        events.publish(
            RunStarted(
                subject_id=str(job.id),
                actor_id=str(job.owner_id) if job.owner_id else None,
                project_id=str(image.project_id),
                image_id=str(image.id),
                model_name=str(params.get("model", "")),
                model_version=str(params.get("model_version", "")),
                attempt=job.attempts,
            )
        )
        progress.started("loading", 0)  # raises JobCancelled if the job was cancelled meanwhile (nothing kept)
    started = time.perf_counter()
    try:
        with images_api.open_image(image_id=image.id) as fh:
            data = fh.read()
    except ImageNotFound:
        raise PermanentJobError("The image no longer exists.") from None
    except FileNotFoundError:
        raise PermanentJobError("The stored image file is missing.") from None
    read_s = time.perf_counter() - started

    engine = engine_adapter.get_engine()
    try:
        result = engine.segment(
            data,
            model=params.get("model"),
            threshold=params.get("threshold"),
            min_area_px=params.get("min_area_px"),
            pixel_size_um=image.pixel_size_um,
            progress=progress,
            should_cancel=progress.should_cancel,
        )
    except engine_adapter.ImageDecodeError as exc:
        raise PermanentJobError(f"The image file is corrupt or unreadable: {exc}") from None
    except engine_adapter.UnknownModel as exc:
        raise PermanentJobError(f"The model cannot be used: {exc}") from None
    except engine_adapter.EngineCancelled:
        handle.check_cancelled()  # raises the precise reason (cancelled or lease lost)
        raise JobCancelled("segmentation cancelled") from None
    result.setdefault("timings", {})["read"] = round(read_s, 5)
    progress("saving", 0)
    ref = handle.commit_result(lambda: str(services.store_model_result(job=job, image=image, result=result).id))
    return ref or ""
