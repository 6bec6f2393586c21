"""manage.py import_images, seed_demo and bench_api."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.images import api
from apps.images.models import Image, Project
from apps.images.tests import factories as f

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]


def _run(*args):
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        failed = None
    except CommandError as exc:
        failed = exc
    return out.getvalue(), err.getvalue(), failed


def test_import_folder_recursively_with_summary_and_safe_rerun(tmp_path, make_user):
    owner = make_user()
    project = api.create_project(actor_id=owner.id, name="Lab")
    nested = tmp_path / "plate1" / "day3"
    nested.mkdir(parents=True)
    for p in f.DEMO_IMAGES:
        shutil.copy(p, nested / p.name)
    (tmp_path / "plate1" / "notes.tif").write_bytes(f.TEXT)
    (tmp_path / "plate1" / ".DS_Store").write_bytes(b"\x00\x01")
    single = tmp_path / "extra.tif"
    single.write_bytes(f.tiff16_bytes())

    out, err, failed = _run("import_images", "--project", str(project.id), str(tmp_path / "plate1"), str(single))
    assert "3 imported" not in out  # 4 images: three demo PNGs and the TIFF
    assert "4 imported, 0 skipped (already in the project), 1 rejected, of 5 files" in out
    assert "notes.tif" in out and "[not_an_image]" in out
    assert isinstance(failed, CommandError)  # a rejected file makes the exit status non-zero
    assert Image.objects.filter(project_id=project.id).count() == 4
    assert set(Image.objects.values_list("uploaded_by", flat=True)) == {owner.id}
    assert "%" in err or "file" in err  # the tqdm progress bar went to stderr

    out, _, _ = _run("import_images", "--project", str(project.id), str(tmp_path / "plate1"), str(single),
                     "--no-progress")
    assert "0 imported, 4 skipped (already in the project), 1 rejected" in out
    assert Image.objects.filter(project_id=project.id).count() == 4


def test_import_checks_the_importing_member(tmp_path, make_user):
    owner, viewer = make_user(), make_user()
    project = api.create_project(actor_id=owner.id, name="Lab")
    api.add_member(actor_id=owner.id, project_id=project.id, email=viewer.email, role="viewer")
    with pytest.raises(CommandError, match="may not add images"):
        call_command("import_images", "--project", str(project.id), "--as", viewer.email, str(f.DEMO_IMAGES[0]))
    with pytest.raises(CommandError, match="No project"):
        call_command("import_images", "--project", "00000000-0000-0000-0000-000000000000", str(tmp_path))
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_images", "--project", str(project.id), str(tmp_path / "missing"))
    assert not Image.objects.exists()


def test_import_with_segment_queues_jobs(tmp_path, make_user):
    owner = make_user()
    project = api.create_project(actor_id=owner.id, name="Lab")
    out, _, failed = _run("import_images", "--project", str(project.id), str(f.DEMO_IMAGES[0]), "--segment",
                          "--no-progress")
    assert failed is None, out
    assert "1 imported" in out and "Queued segmentation of 1 image(s)." in out


def test_rerun_with_segment_queues_the_images_an_earlier_run_imported(make_user):
    owner = make_user()
    project = api.create_project(actor_id=owner.id, name="Lab")
    _run("import_images", "--project", str(project.id), str(f.DEMO_IMAGES[0]), "--no-progress")
    out, _, failed = _run("import_images", "--project", str(project.id), str(f.DEMO_IMAGES[0]), "--segment",
                          "--no-progress")
    assert failed is None, out
    assert "0 imported, 1 skipped" in out and "Queued segmentation of 1 image(s)." in out
    out, _, _ = _run("import_images", "--project", str(project.id), str(f.DEMO_IMAGES[0]), "--segment",
                     "--no-progress")
    assert "Nothing to segment" in out  # queued already: not queued twice


def test_an_unreadable_file_is_reported_and_the_others_imported(tmp_path, make_user, monkeypatch):
    owner = make_user()
    project = api.create_project(actor_id=owner.id, name="Lab")
    for p in f.DEMO_IMAGES:
        shutil.copy(p, tmp_path / p.name)
    locked = tmp_path / f.DEMO_IMAGES[0].name
    real_open = Path.open

    def open_or_refuse(self, *args, **kwargs):  # tests run as root: chmod 000 would not stop a read
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_or_refuse)
    out, _, failed = _run("import_images", "--project", str(project.id), str(tmp_path), "--no-progress")
    assert isinstance(failed, CommandError)
    assert f"{len(f.DEMO_IMAGES) - 1} imported, 0 skipped (already in the project), 1 rejected" in out
    assert f"rejected {locked}: The file cannot be read: Permission denied. [unreadable]" in out
    assert Image.objects.filter(project_id=project.id).count() == len(f.DEMO_IMAGES) - 1


def test_seed_demo_is_idempotent(settings):
    out1, _, _ = _run("seed_demo")
    out2, _, _ = _run("seed_demo")
    assert settings.DEMO_USER_EMAIL in out1 and settings.DEMO_USER_PASSWORD in out1
    assert "images: 3 added" in out1 and "images: 0 added" in out2
    project = Project.objects.get(name="Demo spheroids")
    assert Image.objects.filter(project=project).count() == 3
    assert Project.objects.filter(name="Demo spheroids").count() == 1


def test_bench_api_measures_in_a_throwaway_database_and_leaves_the_real_one_alone(tmp_path):
    """End to end in a subprocess: the product's own SQLite file gains no benchmark user or image."""
    env = {**os.environ, "DJANGO_ENV": "test", "VAR_DIR": str(tmp_path), "DEBUG": "0"}
    env.pop("DATABASE_URL", None)  # the embedded default: var/spheroseg.sqlite3 under VAR_DIR

    def manage(*args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)

    assert manage("migrate", "--noinput").returncode == 0
    done = manage("bench_api", "--images", "120", "--runs", "3", "--page-size", "20")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "120 images" in out and out.count("p95") == 4 and out.count("count 120") == 3
    throwaway = re.search(r"Throw-away database (\S+)", out).group(1)
    assert not Path(throwaway).exists()
    with sqlite3.connect(tmp_path / "spheroseg.sqlite3") as db:
        assert db.execute("select count(*) from images_image").fetchone() == (0,)
        assert db.execute("select count(*) from images_project").fetchone() == (0,)
    refused = manage("bench_api", "--page-size", "0")
    assert refused.returncode != 0 and "--page-size" in refused.stderr
