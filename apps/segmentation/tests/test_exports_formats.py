"""Export formats as pure functions over contracts, and the agreement of their areas.

Every object's area is recomputed from every format with the standard tool of its ecosystem
(pycocotools, PIL pixel count, shapely on GeoJSON, roifile + shapely on ImageJ ROIs, csv,
openpyxl) and compared with the stored metric:

* vector formats (COCO polygons, GeoJSON, ImageJ ROIs) and the tables: within 0.5 %;
* raster representations (label masks, COCO RLE of objects with holes): the pixel count of an
  object lies in ``[A - 1, A + (P_exterior + P_holes) / 2 + 2]`` (vertices sit on boundary
  pixel centres and boundary pixels belong to the object: Pick's theorem gives
  ``pixels = A + B/2 + 1`` for a lattice polygon, with B <= P boundary lattice points), and the
  COCO RLE is the very same pixels as the label mask.

Inputs: real engine output on the demo spheroid images (objects without holes) and synthetic
objects with one or more holes, an island inside a hole, and a non-convex outline; metrics
are computed by the one implementation (engine adapter -> ml).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest

from apps.images.contracts import ImageInfo
from apps.segmentation import engine
from apps.segmentation.contracts import Polygon, ResultVersion, VersionSource
from apps.segmentation.exports import formats
from apps.segmentation.exports.base import ExportItem, ExportMeta, file_stems, safe_stem

DEMO = Path(__file__).resolve().parents[3] / "demo" / "spheroids"
PIXEL_SIZE = 0.65
VECTOR_TOLERANCE = 0.005  # 0.5 %
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def ring_length(ring) -> float:
    pts = np.asarray(ring, dtype=float)
    return float(np.sum(np.hypot(*(np.roll(pts, -1, axis=0) - pts).T)))


def circle(cx, cy, r, n=72, phase=0.0):
    return [[round(cx + r * math.cos(phase + 2 * math.pi * k / n), 2),
             round(cy + r * math.sin(phase + 2 * math.pi * k / n), 2)] for k in range(n)]


def image_info(name: str, width: int, height: int, *, project_id: uuid.UUID) -> ImageInfo:
    return ImageInfo(
        id=uuid.uuid4(), project_id=project_id, original_name=name, width=width, height=height, bit_depth=8,
        channels=1, pages=1, pixel_size_um=PIXEL_SIZE, file_size=0, sha256="0" * 64,
        storage_name="", uploaded_by=uuid.uuid4(), created_at=NOW, format="PNG",
    )


def result_for(image: ImageInfo, shapes: list[dict], *, model=("classical", "1"), version=1) -> ResultVersion:
    metrics = engine.get_engine().measure(shapes, pixel_size_um=PIXEL_SIZE)
    polygons = [Polygon(exterior=s["exterior"], holes=s.get("holes") or [], confidence=s.get("confidence"),
                        metrics=m) for s, m in zip(shapes, metrics, strict=True)]
    return ResultVersion(
        id=uuid.uuid4(), image_id=image.id, project_id=image.project_id, version=version,
        source=VersionSource.MODEL, model_name=model[0], model_version=model[1], params={},
        polygons=polygons, author_id=None, job_id=None, created_at=NOW, based_on=None, timings={},
        object_count=len(polygons), width=image.width, height=image.height, pixel_size_um=PIXEL_SIZE,
    )


SYNTHETIC = [
    # no hole, non-convex (a five-pointed star-ish outline)
    {"exterior": [[60 + (40 if k % 2 == 0 else 22) * math.cos(math.pi * k / 5),
                   70 + (40 if k % 2 == 0 else 22) * math.sin(math.pi * k / 5)] for k in range(10)],
     "confidence": 0.91},
    # one hole
    {"exterior": circle(250, 160, 110), "holes": [circle(230, 150, 30, n=40)], "confidence": 0.88},
    # two holes
    {"exterior": [[420, 40], [590, 40], [590, 230], [420, 230]],
     "holes": [[[440, 60], [500, 60], [500, 120], [440, 120]], circle(540, 180, 25, n=36)], "confidence": None},
    # an island inside the first object's hole (its own object, no hole)
    {"exterior": circle(230, 150, 12, n=24), "confidence": 0.5},
    # a plain ellipse
    {"exterior": [[120 + 70 * math.cos(t), 330 + 35 * math.sin(t)]
                  for t in np.linspace(0, 2 * math.pi, 60, endpoint=False)], "confidence": 0.77},
]


@pytest.fixture(scope="module")
def items() -> list[ExportItem]:
    project_id = uuid.uuid4()
    out = []
    synthetic = image_info("synthetic holes.png", 640, 420, project_id=project_id)
    out.append(ExportItem(synthetic, result_for(synthetic, SYNTHETIC)))
    eng = engine.get_engine()
    model = next((m for m in eng.list_models() if m.get("default")), eng.list_models()[0])
    for path in sorted(DEMO.glob("*.png"))[:2]:
        segmented = eng.segment(path.read_bytes(), model=model["name"])
        info = image_info(path.name, segmented["width"], segmented["height"], project_id=project_id)
        shapes = [{"exterior": p["exterior"], "holes": p["holes"], "confidence": p["confidence"]}
                  for p in segmented["polygons"]]
        out.append(ExportItem(info, result_for(info, shapes, model=(segmented["model_name"],
                                                                     segmented["model_version"]))))
    # an image that was never segmented: listed in summaries, no annotations/masks/ROIs
    out.append(ExportItem(image_info("not segmented.png", 100, 100, project_id=project_id), None))
    return out


@pytest.fixture(scope="module")
def meta(items) -> ExportMeta:
    return ExportMeta(project_id=items[0].image.project_id, project_name="Agreement", created_at=NOW)


@pytest.fixture(scope="module")
def exported(items, meta) -> dict[str, bytes]:
    out = {}
    for fmt in formats.FORMATS:
        buffer = io.BytesIO()
        formats.write(fmt, items, meta, buffer,
                      open_original=lambda item: io.BytesIO(b"original " + item.image.original_name.encode()),
                      open_thumbnail=lambda item: io.BytesIO(b"thumb"))
        out[fmt] = buffer.getvalue()
    buffer = io.BytesIO()
    formats.write("csv", items, meta, buffer, table="summary")
    out["csv-summary"] = buffer.getvalue()
    return out


def stored(items):
    """(image item, object number, polygon) for every exported object."""
    return [(item, n, p) for item in items if item.result for n, p in enumerate(item.result.polygons, start=1)]


def raster_bounds(polygon: Polygon) -> tuple[float, float]:
    area = polygon.metrics["area_px"]
    perimeter = ring_length(polygon.exterior) + sum(ring_length(h) for h in polygon.holes)
    return area - 1, area + perimeter / 2 + 2


def close(value, expected, tol=VECTOR_TOLERANCE):
    return abs(value - expected) <= tol * expected


def test_inputs_cover_objects_with_and_without_holes(items):
    objects = stored(items)
    assert sum(1 for _, _, p in objects if p.holes) >= 2
    assert sum(1 for _, _, p in objects if len(p.holes) >= 2) >= 1
    assert sum(1 for item, _, p in objects if not p.holes and item.image.original_name.startswith("spheroid")) >= 2
    assert all(p.metrics["area_px"] > 0 for _, _, p in objects)
    # holes belong to their own object: the holed circle's area is its exterior minus its hole
    holed = items[0].result.polygons[1]
    shapely = pytest.importorskip("shapely.geometry")
    expected = shapely.Polygon(holed.exterior, holed.holes).area
    assert holed.metrics["area_px"] == pytest.approx(expected, rel=1e-6)


def test_coco_loads_in_pycocotools_and_areas_agree(items, exported, tmp_path):
    from pycocotools import mask as coco_mask
    from pycocotools.coco import COCO
    from shapely.geometry import Polygon as ShapelyPolygon

    path = tmp_path / "coco.json"
    path.write_bytes(exported["coco"])
    dataset = COCO(str(path))
    assert [c["name"] for c in dataset.loadCats(dataset.getCatIds())] == ["spheroid"]
    images = {img["spheroseg_image_id"]: img for img in dataset.dataset["images"]}
    assert set(images) == {str(i.image.id) for i in items if i.result}  # unsegmented image left out
    labels = {i.image.id: engine.rasterize([{"exterior": p.exterior, "holes": p.holes} for p in i.polygons],
                                           i.height, i.width) for i in items if i.result}
    objects = stored(items)
    assert len(dataset.getAnnIds()) == len(objects)
    for item, number, polygon in objects:
        image = images[str(item.image.id)]
        assert (image["width"], image["height"]) == (item.width, item.height)
        [ann] = [a for a in dataset.loadAnns(dataset.getAnnIds(imgIds=[image["id"]]))
                 if a["attributes"]["object"] == number]
        area = polygon.metrics["area_px"]
        assert ann["area"] == pytest.approx(area)
        assert ann["attributes"]["metrics"] == polygon.metrics
        pixels = dataset.annToMask(ann)
        assert pixels.shape == (item.height, item.width)
        if polygon.holes:
            assert isinstance(ann["segmentation"], dict)  # RLE: COCO polygons cannot hold holes
            assert np.array_equal(pixels.astype(bool), labels[item.image.id] == number)  # no overlaps here
            low, high = raster_bounds(polygon)
            assert low <= pixels.sum() <= high
            assert coco_mask.area(dataset.annToRLE(ann)) == pixels.sum()
        else:
            assert isinstance(ann["segmentation"], list)
            xy = np.asarray(ann["segmentation"][0]).reshape(-1, 2)
            assert close(ShapelyPolygon(xy).area, area)
            # pycocotools' own rasterisation of the polygon: a raster, so the raster bound
            low, high = raster_bounds(polygon)
            assert low - ring_length(polygon.exterior) / 2 <= pixels.sum() <= high


def test_label_masks_are_16bit_and_agree(items, exported):
    from PIL import Image

    archive = zipfile.ZipFile(io.BytesIO(exported["masks"]))
    stems = file_stems(items)
    assert sorted(archive.namelist()) == sorted(f"{stems[i.image.id]}_labels.png" for i in items if i.result)
    for item in (i for i in items if i.result):
        image = Image.open(io.BytesIO(archive.read(f"{stems[item.image.id]}_labels.png")))
        mask = np.array(image)
        assert image.mode == "I;16" and mask.dtype == np.uint16
        assert mask.shape == (item.height, item.width)
        assert set(np.unique(mask)) <= set(range(len(item.polygons) + 1))
        for number, polygon in enumerate(item.polygons, start=1):
            low, high = raster_bounds(polygon)
            assert low <= (mask == number).sum() <= high, (item.image.original_name, number)
    # the island inside a hole keeps its own label; the rest of the hole is background
    synthetic = items[0]
    mask = np.array(Image.open(io.BytesIO(archive.read(f"{stems[synthetic.image.id]}_labels.png"))))
    assert mask[150, 230] == 4 and mask[150, 250] == 0 and mask[160, 300] == 2


def test_geojson_polygons_with_holes_agree(items, exported):
    from shapely.geometry import shape

    archive = zipfile.ZipFile(io.BytesIO(exported["geojson"]))
    stems = file_stems(items)
    for item in (i for i in items if i.result):
        collection = json.loads(archive.read(f"{stems[item.image.id]}.geojson"))
        assert collection["type"] == "FeatureCollection"
        assert collection["properties"]["result_version"] == item.result.version
        assert len(collection["features"]) == len(item.polygons)
        for feature, polygon in zip(collection["features"], item.polygons, strict=True):
            geometry = shape(feature["geometry"])
            assert geometry.geom_type == "Polygon"
            if item is items[0]:  # synthetic outlines are simple (engine output may touch itself)
                assert geometry.is_valid
            assert len(geometry.interiors) == len(polygon.holes)
            assert close(geometry.area, polygon.metrics["area_px"])
            assert feature["properties"]["area_px"] == polygon.metrics["area_px"]
            assert feature["properties"]["confidence"] == polygon.confidence
            rings = feature["geometry"]["coordinates"]
            assert all(r[0] == r[-1] for r in rings)  # closed rings


def test_imagej_roisets_agree(items, exported):
    import roifile
    from shapely.geometry import Polygon as ShapelyPolygon

    outer = zipfile.ZipFile(io.BytesIO(exported["imagej"]))
    stems = file_stems(items)
    for item in (i for i in items if i.result):
        roiset = zipfile.ZipFile(io.BytesIO(outer.read(f"{stems[item.image.id]}_RoiSet.zip")))
        rois = {r.name: r for r in (roifile.ImagejRoi.frombytes(roiset.read(n)) for n in roiset.namelist())}
        expected = sum(1 + len(p.holes) for p in item.polygons)
        assert len(rois) == expected
        for number, polygon in enumerate(item.polygons, start=1):
            exterior = rois[f"obj-{number:04d}"]
            assert exterior.roitype == roifile.ROI_TYPE.POLYGON
            holes = [rois[f"obj-{number:04d}-hole-{k}"] for k in range(1, len(polygon.holes) + 1)]
            area = ShapelyPolygon(exterior.coordinates()).area - sum(ShapelyPolygon(h.coordinates()).area
                                                                     for h in holes)
            assert close(area, polygon.metrics["area_px"]), (item.image.original_name, number)
            # sub-pixel coordinates in ImageJ's pixel-corner convention (stored + 0.5)
            assert np.allclose(exterior.coordinates()[0], np.asarray(polygon.exterior[0]) + 0.5, atol=1e-3)


def test_csv_and_xlsx_rows_agree(items, exported):
    from openpyxl import load_workbook

    text = exported["csv"].decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    workbook = load_workbook(io.BytesIO(exported["xlsx"]), read_only=True)
    sheet = list(workbook["objects"].iter_rows(values_only=True))
    header, sheet_rows = sheet[0], [dict(zip(sheet[0], r, strict=True)) for r in sheet[1:]]
    assert "area_px" in header and "area_um2" in header and "perimeter_um" in header
    objects = stored(items)
    assert len(rows) == len(sheet_rows) == len(objects)
    for row, xrow, (item, number, polygon) in zip(rows, sheet_rows, objects, strict=True):
        assert row["image_name"] == xrow["image_name"] == item.image.original_name
        assert int(row["object"]) == xrow["object"] == number
        assert row["model_name"] == item.result.model_name and int(row["result_version"]) == item.result.version
        area = polygon.metrics["area_px"]
        assert close(float(row["area_px"]), area) and close(xrow["area_px"], area)
        assert float(row["area_um2"]) == pytest.approx(area * PIXEL_SIZE ** 2, rel=1e-4)
        if polygon.confidence is None:  # unknown stays empty, never a placeholder
            assert row["confidence"] == "" and xrow["confidence"] is None
    summary = list(csv.DictReader(io.StringIO(exported["csv-summary"].decode("utf-8-sig"))))
    xsummary = list(workbook["summary"].iter_rows(values_only=True))
    assert len(summary) == len(items) == len(xsummary) - 1
    for row, item in zip(summary, items, strict=True):
        if item.result is None:
            assert row["object_count"] == "" and row["mean_area_px"] == ""
            continue
        areas = [p.metrics["area_px"] for p in item.polygons]
        assert int(row["object_count"]) == len(areas)
        assert float(row["mean_area_px"]) == pytest.approx(np.mean(areas), rel=1e-6)
        assert float(row["median_area_px"]) == pytest.approx(np.median(areas), rel=1e-6)


def test_archive_holds_everything_with_checksums(items, exported):
    import hashlib

    archive = zipfile.ZipFile(io.BytesIO(exported["archive"]))
    manifest = json.loads(archive.read("manifest.json"))
    names = set(archive.namelist())
    listed = {f["path"] for f in manifest["files"]}
    assert listed == names - {"manifest.json"}
    for entry in manifest["files"]:
        data = archive.read(entry["path"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size"]
    for required in ("coco/annotations.json", "tables/objects.csv", "tables/summary.csv", "tables/measurements.xlsx"):
        assert required in names
    assert sum(n.startswith("originals/") for n in names) == len(items)
    assert sum(n.startswith("thumbnails/") for n in names) == len(items)
    assert sum(n.startswith("masks/") for n in names) == sum(1 for i in items if i.result)
    assert sum(n.startswith("geojson/") for n in names) == sum(1 for i in items if i.result)
    assert sum(n.startswith("imagej/") for n in names) == sum(1 for i in items if i.result)
    assert [e["segmented"] for e in manifest["images"]] == [i.result is not None for i in items]
    assert archive.read("coco/annotations.json") == exported["coco"]


def test_unknown_metric_stays_empty(meta):
    """A metric the engine could not compute is an empty cell / null, never a number."""
    project_id = uuid.uuid4()
    image = image_info("x.png", 50, 50, project_id=project_id)
    result = result_for(image, [{"exterior": [[10, 10], [30, 10], [30, 30], [10, 30]]}])
    poly = result.polygons[0]
    broken = Polygon(poly.exterior, [], None, {**poly.metrics, "feret_min_px": None, "circularity": None})
    item = ExportItem(image, dataclass_replace(result, polygons=[broken]))
    buffer = io.BytesIO()
    formats.write("csv", [item], meta, buffer)
    [row] = list(csv.DictReader(io.StringIO(buffer.getvalue().decode("utf-8-sig"))))
    assert row["feret_min_px"] == "" and row["circularity"] == "" and row["confidence"] == ""
    buffer = io.BytesIO()
    formats.write("coco", [item], meta, buffer)
    [ann] = json.loads(buffer.getvalue())["annotations"]
    assert ann["attributes"]["metrics"]["circularity"] is None


def dataclass_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


@pytest.mark.parametrize(("name", "stem"), [
    ("../../etc/passwd", "passwd"), ("a b/c.d.tif", "c.d"), ("=cmd|x.png", "cmd_x"), ("...", "image"),
    ("spheroid.png", "spheroid"),
])
def test_safe_stems(name, stem):
    assert safe_stem(name) == stem


def test_colliding_names_get_distinct_files():
    project_id = uuid.uuid4()
    a, b = image_info("same.png", 10, 10, project_id=project_id), image_info("SAME.tif", 10, 10, project_id=project_id)
    stems = file_stems([ExportItem(a, None), ExportItem(b, None)])
    assert len(set(stems.values())) == 2 and all(s.lower().startswith("same_") for s in stems.values())
