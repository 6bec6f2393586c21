"""The one adapter between the segmentation context and the engine in ``ml/``.

Nothing else in ``apps/segmentation`` imports ``ml`` (import-linter ``protected`` contract).
The interface is deliberately narrow and serialisable, so the in-process implementation can
be replaced by a remote engine (its own service) without touching callers:

* in: encoded image bytes (or an already decoded array) and plain parameters;
* out: plain dicts and lists (JSON-ready): no engine object crosses this module.

The backend is chosen by ``settings.ENGINE_BACKEND`` (``"inprocess"``). The
in-process engine keeps its loaded models in ``ml.engine``'s per-process cache, so a worker
process loads a model once and reuses it for every image.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from django.conf import settings

ProgressCallback = Callable[[str, int], None]  # (stage, percent of that stage 0-100)
CancelCheck = Callable[[], bool]

STAGES = ("loading", "inference", "post-processing", "saving")


class EngineError(RuntimeError):
    """The engine failed for a reason that may be transient (out of memory, a crash)."""


class ImageDecodeError(ValueError):
    """The image bytes cannot be decoded: retrying will not help."""


class UnknownModel(ValueError):
    """The engine has no such model, or its weights are missing or do not match their card."""


class EngineCancelled(Exception):
    """``should_cancel`` returned true at a stage boundary: the run stopped without a result."""


class Engine(Protocol):
    """What the segmentation context needs from an engine."""

    def list_models(self) -> list[dict[str, Any]]:
        """Model cards: name, version, kind, sha256, parameters, description, metrics, default, defaults."""

    def segment(
        self,
        image: bytes | Any,
        *,
        model: str | None,
        threshold: float | None = None,
        min_area_px: int | None = None,
        pixel_size_um: float | None = None,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> dict[str, Any]:
        """Segment one image (encoded bytes or a decoded array).

        Returns ``{"width", "height", "model_name", "model_version", "polygons": [{"exterior",
        "holes", "confidence", "metrics"}], "timings": {stage: seconds}}``.
        """

    def measure(self, polygons: list[dict[str, Any]], *, pixel_size_um: float | None = None) -> list[dict[str, Any]]:
        """Metrics (px and µm) for each polygon ``{"exterior", "holes"}``, in order."""


def _plain(value: Any) -> Any:
    """Turn engine output (numpy scalars/arrays, tuples, dataclasses) into plain JSON values."""
    import dataclasses as _dc
    import math

    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if _dc.is_dataclass(value) and not isinstance(value, type):
        return _plain(_dc.asdict(value))
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return _plain(tolist())
    item = getattr(value, "item", None)
    if callable(item):
        return _plain(item())
    return value


class InProcessEngine:
    """Runs ``ml.engine`` inside this process (models cached per process by the engine)."""

    def list_models(self) -> list[dict[str, Any]]:
        from ml import engine as ml_engine

        return [_plain(card) for card in ml_engine.list_models()]

    def decode(self, data: bytes) -> Any:
        from ml import io as ml_io

        try:
            array, _info = ml_io.read_image(data)
            return array
        except ml_io.ImageReadError as exc:
            raise ImageDecodeError(str(exc)) from exc
        except (OSError, ValueError, SyntaxError) as exc:  # decoders raise these on corrupt data
            raise ImageDecodeError(f"The image cannot be decoded: {exc}") from exc

    def segment(
        self,
        image: bytes | Any,
        *,
        model: str | None,
        threshold: float | None = None,
        min_area_px: int | None = None,
        pixel_size_um: float | None = None,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> dict[str, Any]:
        from ml import engine as ml_engine

        decode_s = None
        if isinstance(image, bytes | bytearray | memoryview):
            start = time.perf_counter()
            image = self.decode(bytes(image))
            decode_s = time.perf_counter() - start
        kwargs: dict[str, Any] = {"model": model, "pixel_size_um": pixel_size_um}
        if threshold is not None:
            kwargs["threshold"] = threshold
        if min_area_px is not None:
            kwargs["min_area_px"] = min_area_px
        if progress is not None:
            kwargs["progress"] = _progress_adapter(progress)
        if should_cancel is not None:
            kwargs["should_cancel"] = should_cancel
        try:
            result = ml_engine.segment(image, **kwargs)
        except ml_engine.Cancelled as exc:
            raise EngineCancelled(str(exc) or "cancelled") from exc
        except ml_engine.ModelLoadError as exc:
            raise UnknownModel(str(exc)) from exc
        out = _plain(result)
        if decode_s is not None:
            out.setdefault("timings", {})["decode"] = round(decode_s, 5)
        return out

    def measure(self, polygons: list[dict[str, Any]], *, pixel_size_um: float | None = None) -> list[dict[str, Any]]:
        from ml import engine as ml_engine

        shapes = [{"exterior": p["exterior"], "holes": p.get("holes") or []} for p in polygons]
        return [_plain(m) for m in ml_engine.measure_polygons(shapes, pixel_size_um)]


def _progress_adapter(progress: ProgressCallback) -> Callable[..., None]:
    """The engine reports ``(stage, fraction of the stage done)``; callers get integer percent of the stage."""

    def report(stage: str, fraction: float = 0.0, *args: Any, **kwargs: Any) -> None:
        progress(str(stage), max(0, min(100, int(round(float(fraction) * 100)))))

    return report


_BACKENDS: dict[str, Callable[[], Engine]] = {"inprocess": InProcessEngine}
_engine: Engine | None = None
_engine_key: str | None = None
_lock = threading.Lock()


def get_engine() -> Engine:
    """The engine chosen by ``ENGINE_BACKEND`` (one instance per process)."""
    global _engine, _engine_key
    key = getattr(settings, "ENGINE_BACKEND", "inprocess")
    with _lock:
        if _engine is None or _engine_key != key:
            try:
                factory = _BACKENDS[key]
            except KeyError:
                raise EngineError(f"unknown ENGINE_BACKEND {key!r} (known: {', '.join(_BACKENDS)})") from None
            _engine, _engine_key = factory(), key
        return _engine


# --------------------------------------------------------------------------- geometry (exports)


def rasterize(polygons: list[dict[str, Any]], height: int, width: int) -> Any:
    """Label mask (uint16 numpy array, 0 background, 1..N in input order) of ``{"exterior", "holes"}``
    polygons: the one rasteriser (``ml.geometry``), used by the mask, COCO RLE and archive exports."""
    from ml import geometry

    shapes = [{"exterior": p["exterior"], "holes": p.get("holes") or []} for p in polygons]
    return geometry.rasterize(shapes, int(height), int(width))



def timed_segment(data: bytes, model: str | None) -> tuple[float, int]:
    """Segment encoded bytes with the in-process engine: (seconds, objects). Top-level and
    picklable, so benchmarks can run the engine alone in worker processes."""
    start = time.perf_counter()
    result = InProcessEngine().segment(data, model=model)
    return time.perf_counter() - start, len(result["polygons"])
