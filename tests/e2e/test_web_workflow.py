"""A lab's day in a real browser: sign up, project, upload, live statuses, editor, export, access.

Runs the real product (daphne with embedded workers, websockets included) through headless
Chromium. Screenshots of every main page go to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DEMO = Path(__file__).resolve().parents[2] / "demo" / "spheroids"
PASSWORD = "a-long-unusual-pass-77"


def sign_up(page, base: str, email: str, name: str) -> None:
    page.goto(f"{base}/accounts/signup/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{base}/")


def test_lab_day(page, browser, asgi_server, screenshot):
    base = str(asgi_server)
    # Anonymous visitors are sent to the log-in page.
    page.goto(f"{base}/")
    assert "/accounts/login/" in page.url

    sign_up(page, base, "scientist@example.org", "Marie Scientist")
    page.get_by_label("Project name").fill("Spheroid growth, week 1")
    page.get_by_label("Pixel size (µm per pixel)").fill("0.65")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(r".*/projects/[0-9a-f-]{36}/$"))
    project_url = page.url
    page.wait_for_selector("#live-state[data-state='open']")

    # Upload the real spheroid images (drag-and-drop shares this path), with per-file progress.
    page.evaluate("window.__noReload = true")
    page.get_by_label("Segment uploaded images right away (default model)").uncheck()
    files = sorted(str(p) for p in DEMO.glob("*.png"))
    page.set_input_files("#file-input", files)
    page.wait_for_function(f"() => document.querySelectorAll('#upload-list .upload-row.ok').length === {len(files)}")
    assert page.locator("#gallery .tile").count() == len(files)
    # A file that is not an image gets its own error, the others are unaffected.
    page.set_input_files("#file-input", files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a png"}])
    page.wait_for_selector("#upload-list .upload-row.failed")
    assert "Upload failed" in page.locator("#upload-list .upload-row.failed").inner_text()

    # Select all, resegment with the fast classical model; badges turn done without a reload.
    page.get_by_label("Select all on this page").check()
    page.get_by_label("Model", exact=True).select_option("classical")
    page.get_by_role("button", name="Segment / resegment").click()
    page.wait_for_function(
        f"() => document.querySelectorAll('#gallery .tile[data-status=\"done\"]').length === {len(files)}",
        timeout=120_000,
    )
    assert page.evaluate("window.__noReload") is True  # same document: updated over the websocket
    assert "objects" in page.locator("#gallery .tile").first.inner_text()
    # The header counts follow too (rendered by the server, fetched again after changes).
    page.wait_for_function(
        f"() => document.getElementById('project-counts').textContent.includes('{len(files)} of {len(files)} segmented')")
    assert f"{len(files)} images" in page.locator("#project-counts").inner_text()
    screenshot("project")

    # The image page: outlines over the image, metrics, versions.
    page.locator("#gallery .tile-link").first.click()
    page.wait_for_url(re.compile(r".*/images/[0-9a-f-]{36}/$"))
    image_url = page.url
    page.wait_for_function("() => window.spheroseg && window.spheroseg.objectCount > 0")
    count = page.evaluate("window.spheroseg.objectCount")
    version = page.evaluate("window.spheroseg.version")
    area_before = page.evaluate("window.spheroseg.metrics(0).area_px")
    assert page.evaluate("window.spheroseg.metrics(0).area_um2") is not None  # pixel size known: µm too
    screenshot("image")

    # Editor: select object 1, drag its first vertex outwards, save; the server's area changes.
    x, y = page.evaluate("window.spheroseg.insideOnScreen(0)")
    page.mouse.click(x, y)
    vx, vy = page.evaluate("window.spheroseg.vertexOnScreen(0, 0)")
    dx, dy = (vx - x), (vy - y)
    norm = max((dx * dx + dy * dy) ** 0.5, 1.0)
    page.mouse.move(vx, vy)
    page.mouse.down()
    page.mouse.move(vx + 40 * dx / norm, vy + 40 * dy / norm, steps=5)
    page.mouse.up()
    assert page.evaluate("window.spheroseg.dirty") is True
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_function(f"() => window.spheroseg.version === {version + 1} && !window.spheroseg.dirty")
    area_after = page.evaluate("window.spheroseg.metrics(0).area_px")
    assert area_after != pytest.approx(area_before, abs=1.0)
    assert "Saved as version" in page.locator("#flash").inner_text()
    page.wait_for_selector("#versions li:nth-child(2)")
    screenshot("image-edited")

    # Delete an object and undo it.
    x, y = page.evaluate("window.spheroseg.insideOnScreen(0)")
    page.mouse.click(x, y)
    page.keyboard.press("Delete")
    assert page.evaluate("window.spheroseg.objectCount") == count - 1
    page.keyboard.press("Control+z")
    assert page.evaluate("window.spheroseg.objectCount") == count
    page.keyboard.press("?")
    page.wait_for_selector("dialog#shortcuts[open]")
    screenshot("shortcuts", full_page=False)
    page.keyboard.press("Escape")

    # Charts, models and the dashboard.
    page.goto(f"{project_url}charts/")
    assert page.locator("svg.chart").count() == 3
    screenshot("charts")
    page.goto(f"{base}/models/")
    assert page.get_by_text("classical").first.is_visible()
    screenshot("models")
    page.goto(f"{base}/")
    assert page.get_by_role("link", name="Spheroid growth, week 1").is_visible()
    screenshot("dashboard")

    # Export CSV from the exports page.
    page.goto(f"{project_url}exports/")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV", exact=True).click()
    download = download_info.value
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert len(rows) >= len(files)
    screenshot("exports")
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors

    # A second user is refused the project and its image (404, no existence leak).
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page2 = other.new_page()
        sign_up(page2, base, "stranger@example.org", "Stranger")
        assert page2.goto(project_url).status == 404
        assert page2.goto(image_url).status == 404
        assert page2.goto(f"{project_url}exports/").status == 404
        page2.goto(f"{base}/")
        assert page2.get_by_role("link", name="Spheroid growth, week 1").count() == 0
    finally:
        other.close()
