"""Export doors against the database: REST (streamed and background), the download, the command.

Each format downloads, parses with its ecosystem's standard tool, and its areas agree with the
metrics the REST API returns for the same result.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import zipfile

import dramatiq
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from apps.common import events
from apps.images import api as images_api
from apps.segmentation import api
from apps.segmentation.tests.conftest import SQUARE, upload

RING = [[150, 150], [450, 150], [450, 420], [150, 420]]
HOLE = [[200, 200], [260, 200], [260, 260], [200, 260]]
BOX = [[500, 500], [700, 500], [700, 650], [500, 650]]


def export_url(project_id, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/v1/projects/{project_id}/export/?{query}"


@contextlib.contextmanager
def recording(name):
    seen: list = []
    record = seen.append
    events.subscribe(name, record, phase="in_transaction")  # also seen inside a test's transaction
    try:
        yield seen
    finally:
        events.unsubscribe(name, record, phase="in_transaction")


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def edited(world):
    """Image 0: an object with a hole and a plain square (version 1), then one square (version 2)."""
    api.save_edit(user_id=world.editor.id, image_id=world.image_id, base_version=None,
                  polygons=[{"exterior": RING, "holes": [HOLE]}, {"exterior": BOX, "holes": []}])
    return world


@pytest.mark.django_db
def test_every_format_downloads_for_a_viewer_and_agrees_with_the_api(edited, client_for, tmp_path):
    from openpyxl import load_workbook
    from PIL import Image
    from pycocotools.coco import COCO
    from shapely.geometry import shape

    viewer = client_for(edited.viewer)
    result = viewer.get(f"/api/v1/images/{edited.image_id}/segmentation/").json()
    areas = [p["metrics"]["area_px"] for p in result["polygons"]]
    assert len(areas) == 2 and areas[0] == pytest.approx(300 * 270 - 60 * 60)
    files = {}
    with recording("segmentation.export.created") as seen:
        for fmt in ("coco", "csv", "xlsx", "masks", "geojson", "imagej", "archive"):
            response = viewer.get(export_url(edited.project_id, format=fmt))
            assert response.status_code == 200, (fmt, response.content[:200])
            assert response["Content-Disposition"].startswith("attachment; filename=")
            files[fmt] = body(response)
    assert [e.payload()["format"] for e in seen] == ["coco", "csv", "xlsx", "masks", "geojson", "imagej", "archive"]
    assert {(e.actor_id, e.project_id) for e in seen} == {(str(edited.viewer.id), str(edited.project_id))}

    path = tmp_path / "coco.json"
    path.write_bytes(files["coco"])
    coco = COCO(str(path))
    anns = coco.loadAnns(coco.getAnnIds())
    assert [a["area"] for a in anns] == pytest.approx(areas)
    assert isinstance(anns[0]["segmentation"], dict) and isinstance(anns[1]["segmentation"], list)

    rows = list(csv.DictReader(io.StringIO(files["csv"].decode("utf-8-sig"))))
    assert [float(r["area_px"]) for r in rows] == pytest.approx(areas)
    assert [float(r["area_um2"]) for r in rows] == pytest.approx([a * 0.65 ** 2 for a in areas], rel=1e-4)
    assert {r["image_name"] for r in rows} == {images_api.get_image(image_id=edited.image_id).original_name}

    sheet = list(load_workbook(io.BytesIO(files["xlsx"]), read_only=True)["objects"].iter_rows(values_only=True))
    col = sheet[0].index("area_px")
    assert [r[col] for r in sheet[1:]] == pytest.approx(areas)

    [mask_name] = zipfile.ZipFile(io.BytesIO(files["masks"])).namelist()
    mask = np.array(Image.open(io.BytesIO(zipfile.ZipFile(io.BytesIO(files["masks"])).read(mask_name))))
    assert mask.dtype == np.uint16 and mask.shape == (result["height"], result["width"])
    assert (mask == 1).sum() == pytest.approx(areas[0], abs=(2 * 570 + 2 * 240) / 2 + 2)

    [geo_name] = zipfile.ZipFile(io.BytesIO(files["geojson"])).namelist()
    collection = json.loads(zipfile.ZipFile(io.BytesIO(files["geojson"])).read(geo_name))
    assert [shape(f["geometry"]).area for f in collection["features"]] == pytest.approx(areas)

    archive = zipfile.ZipFile(io.BytesIO(files["archive"]))
    manifest = json.loads(archive.read("manifest.json"))
    originals = [f for f in manifest["files"] if f["path"].startswith("originals/")]
    assert len(originals) == len(edited.image_ids) == len(manifest["images"])
    stored = {i.sha256 for i in images_api.get_images(ids=edited.image_ids).values()}
    assert {hashlib.sha256(archive.read(f["path"])).hexdigest() for f in originals} == stored
    assert sum(1 for e in manifest["images"] if e["segmented"]) == 1


@pytest.mark.django_db
def test_non_members_get_404_and_anonymous_401(edited, client_for, api_client):
    outsider = client_for(edited.outsider)
    for query in ({"format": "csv"}, {"format": "bogus"}, {"format": "csv", "version": "0"}):
        response = outsider.get(export_url(edited.project_id, **query))
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert outsider.get(export_url("not-a-uuid", format="csv")).status_code == 404
    assert api_client.get(export_url(edited.project_id, format="csv")).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "field"), [
    ({"format": "bogus"}, "format"),
    ({}, "format"),
    ({"format": "csv", "table": "nope"}, "table"),
    ({"format": "csv", "version": "0"}, "version"),
    ({"format": "csv", "version": "x"}, "version"),
    ({"format": "csv", "version": "7"}, "version"),
    ({"format": "csv", "images": "not-a-uuid"}, "images"),
    ({"format": "csv", "images": "00000000-0000-0000-0000-000000000001"}, "images"),
])
def test_bad_parameters_are_clear_400s(edited, client_for, query, field):
    with recording("segmentation.export.created") as seen:
        response = client_for(edited.viewer).get(export_url(edited.project_id, **query))
    assert response.status_code == 400, response.content
    data = response.json()
    assert set(data) >= {"detail", "code", "errors"} and field in data["errors"]
    assert seen == []


@pytest.mark.django_db
def test_selection_and_chosen_version(edited, client_for):
    api.save_edit(user_id=edited.editor.id, image_id=edited.image_id, base_version=1,
                  polygons=[{"exterior": SQUARE, "holes": []}])
    client = client_for(edited.viewer)
    latest = list(csv.DictReader(io.StringIO(body(client.get(export_url(
        edited.project_id, format="csv", images=edited.image_id))).decode("utf-8-sig"))))
    assert [r["result_version"] for r in latest] == ["2"]
    first = list(csv.DictReader(io.StringIO(body(client.get(export_url(
        edited.project_id, format="csv", images=edited.image_id, version=1))).decode("utf-8-sig"))))
    assert [r["result_version"] for r in first] == ["1", "1"] and first[0]["holes"] == "1"
    summary = list(csv.DictReader(io.StringIO(body(client.get(export_url(
        edited.project_id, format="csv", table="summary"))).decode("utf-8-sig"))))
    assert [r["object_count"] for r in summary] == ["1", ""]  # the second image was never segmented


@pytest.mark.django_db
def test_export_project_command(edited, tmp_path):
    tmp_path = tmp_path / "out"  # (media files live in tmp_path/media)
    out = tmp_path / "sub" / "objects.csv"
    with recording("segmentation.export.created") as seen:
        call_command("export_project", "--project", str(edited.project_id), "--format", "csv", "--out", str(out),
                     "--version", "1")
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))))
    assert len(rows) == 2 and len(seen) == 1 and seen[0].actor_id is None
    with pytest.raises(CommandError, match="Version 3"):
        call_command("export_project", "--project", str(edited.project_id), "--format", "csv",
                     "--out", str(tmp_path / "x.csv"), "--version", "3")
    with pytest.raises(CommandError, match="No project"):
        call_command("export_project", "--project", "00000000-0000-0000-0000-000000000001", "--format", "csv",
                     "--out", str(tmp_path / "y.csv"))
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["objects.csv"]  # nothing half-written


def run_worker():
    broker = dramatiq.get_broker()
    if not hasattr(broker, "join"):
        pytest.skip("needs a broker that can be drained")
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        for queue in list(broker.get_declared_queues()):
            broker.join(queue, timeout=120_000)
        worker.join()
    finally:
        worker.stop()


@pytest.mark.django_db(transaction=True)
def test_large_export_runs_as_a_job_with_an_expiring_member_only_download(world, client_for, settings, make_user):
    """Real engine results (classical model through the job pipeline), exported in the background."""
    from apps.tasks import api as tasks_api
    from apps.tasks.contracts import JobStatus

    api.request_segmentation(user_id=world.editor.id, image_ids=world.image_ids, model="classical")
    run_worker()
    results = api.get_latest_results(image_ids=world.image_ids)
    assert len(results) == 2
    settings.EXPORT_ASYNC_THRESHOLD_IMAGES = 1
    viewer = client_for(world.viewer)
    with recording("segmentation.export.created") as seen:
        response = viewer.get(export_url(world.project_id, format="csv"))
        assert response.status_code == 202, response.content
        data = response.json()
        job_id = data["job"]["id"]
        assert data["download_url"] == f"/api/v1/exports/{job_id}/download/"
        pending = viewer.get(data["download_url"])
        assert pending.status_code == 409 and pending.json()["code"] == "not_ready"
        run_worker()
    job = tasks_api.get_job(job_id=job_id)
    assert job.status == JobStatus.SUCCEEDED and job.progress == 100
    assert len(seen) == 1 and seen[0].payload()["job_id"] == job_id

    assert client_for(world.outsider).get(data["download_url"]).status_code == 404
    assert client_for(world.viewer).get("/api/v1/exports/not-a-uuid/download/").status_code == 404
    response = viewer.get(data["download_url"])
    assert response.status_code == 200 and "Expires" in response
    rows = list(csv.DictReader(io.StringIO(body(response).decode("utf-8-sig"))))
    expected = [p.metrics["area_px"] for i in world.image_ids for p in results[i].polygons]
    assert [float(r["area_px"]) for r in rows] == pytest.approx(expected)

    # a segmentation job id is not an export
    other = tasks_api.latest_jobs_for_images(image_ids=world.image_ids)
    assert viewer.get(f"/api/v1/exports/{next(iter(other.values())).id}/download/").status_code == 404

    settings.EXPORT_DOWNLOAD_TTL_SECONDS = 0
    gone = viewer.get(data["download_url"])
    assert gone.status_code == 410 and gone.json()["code"] == "expired"
    from django.core.files.storage import default_storage

    assert not default_storage.exists(job.result_ref)
    assert job.finished_at <= dt.datetime.now(dt.UTC)


@pytest.mark.django_db
def test_upload_then_export_includes_new_images(world, client_for):
    new = upload(world.owner.id, world.project_id, [__import__("pathlib").Path(__file__).resolve().parents[3]
                                                   / "demo" / "spheroids" / "spheroid_single.png"])
    response = client_for(world.viewer).get(export_url(world.project_id, format="csv", table="summary"))
    ids = [r["image_id"] for r in csv.DictReader(io.StringIO(body(response).decode("utf-8-sig")))]
    assert str(new[0]) in ids and len(ids) == 3
