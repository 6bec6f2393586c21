"""Each context owns its tables: no relation may cross a context boundary."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps

CONTEXTS = {"accounts", "images", "segmentation", "tasks", "audit"}
ROOT = Path(__file__).resolve().parents[2]


def _context_of(model) -> str | None:
    module = model.__module__.split(".")
    if len(module) > 1 and module[0] == "apps" and module[1] in CONTEXTS:
        return module[1]
    return None


def cross_context_relations():
    found = []
    for model in apps.get_models(include_auto_created=True):
        owner = _context_of(model)
        if owner is None:
            continue
        for field in model._meta.get_fields():
            if not field.is_relation or field.related_model is None:
                continue
            target = _context_of(field.related_model)
            if target is not None and target != owner:
                found.append(f"{model._meta.label}.{field.name} -> {field.related_model._meta.label}")
    return found


def test_no_relation_crosses_a_context():
    assert cross_context_relations() == []


def test_the_relation_walk_detects_a_crossing_foreign_key():
    """Prove the walk can fail: a throw-away model in images pointing at accounts.User."""
    from django.db import models

    class CrossingProbe(models.Model):  # noqa: DJ008
        owner = models.ForeignKey("accounts.User", on_delete=models.CASCADE)

        class Meta:
            app_label = "images"

    CrossingProbe.__module__ = "apps.images.models"
    try:
        assert any("CrossingProbe.owner -> accounts.User" in r for r in cross_context_relations())
    finally:
        del apps.all_models["images"]["crossingprobe"]
        apps.clear_cache()


def test_every_model_has_a_uuid_primary_key():
    offenders = [
        m._meta.label
        for m in apps.get_models()
        if _context_of(m) and m._meta.pk.get_internal_type() != "UUIDField"
    ]
    assert offenders == []


@pytest.mark.slow
def test_import_linter_catches_a_models_import_across_contexts(tmp_path):
    """An import from one context into another's models makes lint-imports fail."""
    probe = ROOT / "apps" / "images" / "_boundary_probe.py"
    probe.write_text("from apps.accounts import models  # noqa: F401\n")
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        probe.unlink()
    assert result.returncode != 0, result.stdout
    assert "apps.images._boundary_probe -> apps.accounts.models" in result.stdout
