"""The job handler of ``segmentation.segment_image`` (registered with the tasks context).

The tasks context owns the job lifecycle (claim, lease, retries, cancellation); this handler
re-reads the image, runs the engine through the adapter, and stores exactly one result
version per job through ``handle.commit_result`` (nothing is written for a cancelled job or a
worker that lost its lease). A corrupt or missing image is a permanent error (no retry).
"""

from __future__ import annotations

import logging
import time

from apps.common import events
from apps.images import api as images_api
from apps.images.contracts import ImageNotFound
from apps.segmentation import engine as engine_adapter
from apps.segmentation import services
from apps.segmentation.events import RunStarted
from apps.tasks.contracts import JobCancelled, JobHandle, JobInfo, PermanentJobError

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
    right before or after one is free; otherwise it costs one query. Each stage boundary is
    thus checked once, by a write or a query. The claim set ``loading`` (and told the
    websocket) already.
    """

    def __init__(self, handle: JobHandle):
        self.handle = handle
        self.last: tuple[str, int] | None = ("loading", 0)
        self.confirmed = True  # this claim was confirmed (by the claim, a write, or a pending write)

    def __call__(self, stage: str, stage_percent: int) -> None:
        if stage_percent >= 100 and stage != "saving":
            # The next stage's start follows at once, and its write checks the claim: one
            # write per stage boundary is enough, and the check in between is free.
            self.confirmed = True
            return
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

    def should_cancel(self) -> bool:
        if self.confirmed:
            self.confirmed = False
            return False
        try:
            self.handle.check_cancelled()
        except JobCancelled:
            return True
        return False


def announce_start(job: JobInfo) -> None:
    """``on_start`` of the job kind: the run's start event, in the claim's transaction."""
    params = job.params or {}
    events.publish(
        RunStarted(
            subject_id=str(job.id),
            actor_id=str(job.owner_id) if job.owner_id else None,
            project_id=str(job.project_id) if job.project_id else None,
            image_id=str(job.image_id) if job.image_id else "",
            model_name=str(params.get("model", "")),
            model_version=str(params.get("model_version", "")),
            attempt=job.attempts,
        )
    )


def segment_image(handle: JobHandle) -> str:
    """Run one segmentation job; returns the id of the stored result version."""
    job = handle.job
    params = dict(job.params or {})
    progress = _Progress(handle)  # the claim (just committed) is the check of the loading stage
    if job.image_id is None:
        raise PermanentJobError("The job names no image.")
    try:
        image = images_api.get_image(image_id=job.image_id)
    except ImageNotFound:
        raise PermanentJobError("The image no longer exists.") from None
    started = time.perf_counter()
    try:
        with images_api.open_image(image_id=image.id, image=image) as fh:
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
