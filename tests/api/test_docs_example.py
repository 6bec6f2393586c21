"""The Python example of docs/api.md runs as written against the live product (daphne subprocess
with embedded workers, websockets included): log in, upload, segment, wait, download the CSV."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow]


def example_code() -> str:
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("## Example: log in, upload, segment", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_docs_example_runs_against_a_live_server(live_server_url, live_user, monkeypatch, capsys):
    monkeypatch.setenv("SPHEROSEG_URL", live_server_url)
    monkeypatch.setenv("SPHEROSEG_EMAIL", live_user.email)
    monkeypatch.setenv("SPHEROSEG_PASSWORD", live_user.raw_password)
    monkeypatch.setenv("SPHEROSEG_IMAGE", str(ROOT / "demo" / "spheroids" / "spheroid_single.png"))
    namespace: dict = {"__name__": "docs_example"}
    exec(compile(example_code(), "docs/api.md", "exec"), namespace)  # noqa: S102 (our own docs)
    assert namespace["status"] == "succeeded"
    rows = list(csv.DictReader(io.StringIO("\n".join(namespace["rows"]))))
    assert rows and all(float(r["area_px"]) > 0 for r in rows)
    assert {"area_px", "area_um2", "model_name", "result_version"} <= set(rows[0])
    assert float(rows[0]["area_um2"]) == pytest.approx(float(rows[0]["area_px"]) * 0.65 ** 2, rel=1e-3)
    printed = capsys.readouterr().out
    assert "object(s) measured" in printed
