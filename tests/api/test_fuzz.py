"""schemathesis against the live product (daphne subprocess, real database, embedded workers)
with an authenticated user: no 5xx and no answer that breaks the schema, on every operation.

Bounded (a few examples per operation, a fixed seed) so it runs in about a minute. A finding is
fixed where it comes from, never excluded here.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "3"))
SEED = os.environ.get("FUZZ_SEED", "20261120")


def seed_project(user) -> None:
    """Give the user a project with an image, so list endpoints answer real objects too."""
    from apps.images import api as images_api

    png = Path(__file__).resolve().parents[2] / "demo" / "spheroids" / "spheroid_pair.png"
    project = images_api.create_project(actor_id=user.id, name="Fuzzed", pixel_size_um=0.5)
    images_api.upload_images(actor_id=user.id, project_id=project.id,
                             files=[images_api.UploadInput(name=png.name, file=io.BytesIO(png.read_bytes()))])


def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_server_url, live_user, access_token,
                                                                     tmp_path):
    seed_project(live_user)
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{live_server_url}/api/v1/schema/?format=json",
        "--url", live_server_url,
        "--checks", "not_a_server_error,response_schema_conformance",
        "--max-examples", str(MAX_EXAMPLES), "--seed", SEED, "--workers", "1",
        "--header", f"Authorization: Bearer {access_token}",
        "--request-timeout", "60", "--continue-on-failure", "--no-color",
        "--exclude-path-regex", "^/api/v1/auth/logout/$",  # would revoke the fuzzing user's session
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                         env={**os.environ, "NO_COLOR": "1"})
    output = run.stdout + run.stderr
    report = Path(__file__).resolve().parents[2] / "artifacts" / "fuzz-output.txt"  # git-ignored
    report.parent.mkdir(exist_ok=True)
    report.write_text(output)
    assert run.returncode == 0, output[-12000:]
    assert "No issues found" in output or " passed" in output, output[-4000:]
