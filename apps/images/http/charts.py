"""Per-project charts rendered server-side as inline SVG (no script, CSP-safe, printable).

Histograms of area, equivalent diameter and circularity over every object of the latest
result of every image, and a per-image summary table. Figures come from the server-side
metrics stored with each result (one implementation, in ml/); nothing is invented: objects
without a metric are left out of that histogram.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

WIDTH, HEIGHT = 440, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 14, 48
BINS = 20


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10_000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 1:
        return f"{value:.1f}"
    return f"{value:.2f}"


def histogram(values: list[float], *, lo: float | None = None, hi: float | None = None, bins: int = BINS):
    """Equal-width bins over [lo, hi] (data range by default): list of (start, end, count)."""
    if not values:
        return []
    lo = min(values) if lo is None else lo
    hi = max(values) if hi is None else hi
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0) * 0.01
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        index = min(bins - 1, max(0, int((v - lo) / width)))
        counts[index] += 1
    return [(lo + i * width, lo + (i + 1) * width, c) for i, c in enumerate(counts)]


def histogram_svg(values: list[float], *, title: str, unit: str, lo=None, hi=None) -> SafeString:
    """An accessible SVG histogram (role=img, title and description, a tooltip per bar)."""
    bins = histogram(values, lo=lo, hi=hi)
    if not bins:
        return format_html('<p class="muted">{}</p>', _("No data yet."))
    peak = max(c for _s, _e, c in bins) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bar_w = plot_w / len(bins)
    bars = []
    for i, (start, end, count) in enumerate(bins):
        h = plot_h * count / peak
        bars.append((
            f"{LEFT + i * bar_w + 0.5:.1f}", f"{TOP + plot_h - h:.1f}", f"{max(bar_w - 1, 1):.1f}", f"{h:.1f}",
            _("%(start)s – %(end)s %(unit)s: %(count)s objects")
            % {"start": _fmt(start), "end": _fmt(end), "unit": unit, "count": count},
        ))
    x_ticks = []
    for k in range(5):
        value = bins[0][0] + (bins[-1][1] - bins[0][0]) * k / 4
        x_ticks.append((f"{LEFT + plot_w * k / 4:.1f}", f"{HEIGHT - BOTTOM + 16:.1f}", _fmt(value)))
    y_ticks = []
    step = max(1, math.ceil(peak / 4))
    for value in range(0, peak + 1, step):
        y = TOP + plot_h - plot_h * value / peak
        y_ticks.append((f"{LEFT - 6}", f"{y + 4:.1f}", str(value), f"{LEFT}", f"{WIDTH - RIGHT}", f"{y:.1f}"))
    desc = _("%(n)s objects; median %(median)s %(unit)s; range %(lo)s to %(hi)s %(unit)s.") % {
        "n": len(values), "median": _fmt(statistics.median(values)), "unit": unit,
        "lo": _fmt(min(values)), "hi": _fmt(max(values)),
    }
    return format_html(
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-t {id}-d" '
        'xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{title}</title><desc id="{id}-d">{desc}</desc>'
        '{grid}<g class="bars">{bars}</g>'
        '<line class="axis" x1="{l}" y1="{b}" x2="{r}" y2="{b}"/>'
        '<g class="ticks" text-anchor="middle">{xt}</g><g class="ticks" text-anchor="end">{yt}</g>'
        '<text class="axis-label" x="{cx}" y="{ly}" text-anchor="middle">{xlabel}</text></svg>',
        w=WIDTH, h=HEIGHT, id=_slug(title), title=title, desc=desc,
        grid=format_html_join("", '<line class="grid" x1="{3}" y1="{5}" x2="{4}" y2="{5}"/>', y_ticks),
        bars=format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>', bars),
        l=LEFT, r=WIDTH - RIGHT, b=HEIGHT - BOTTOM,
        xt=format_html_join("", '<text x="{}" y="{}">{}</text>', x_ticks),
        yt=format_html_join("", '<text x="{}" y="{}">{}</text>', [t[:3] for t in y_ticks]),
        cx=LEFT + plot_w / 2, ly=HEIGHT - 6, xlabel=f"{title} ({unit})" if unit else title,
    )


def _slug(text: str) -> str:
    return "c-" + "".join(ch if ch.isalnum() else "-" for ch in text.lower())[:40]


def _metric(metrics: dict, key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.fmean(values) if values else None


def project_charts(*, images: list, results: dict) -> dict:
    """Context for the charts page: three SVG histograms and one summary row per image.

    Areas and diameters are in µm when every measured image has a pixel size, else in px.
    """
    measured = [img for img in images if img.id in results]
    use_um = bool(measured) and all(results[img.id].pixel_size_um for img in measured)
    area_key, diam_key = ("area_um2", "equivalent_diameter_um") if use_um else ("area_px", "equivalent_diameter_px")
    area_unit, length_unit = ("µm²", "µm") if use_um else ("px²", "px")
    areas: list[float] = []
    diameters: list[float] = []
    circularities: list[float] = []
    rows = []
    for img in images:
        result = results.get(img.id)
        if result is None:
            rows.append({"image": img, "result": None})
            continue
        a = [v for p in result.polygons if (v := _metric(p.metrics, area_key)) is not None]
        d = [v for p in result.polygons if (v := _metric(p.metrics, diam_key)) is not None]
        c = [v for p in result.polygons if (v := _metric(p.metrics, "circularity")) is not None]
        areas += a
        diameters += d
        circularities += c
        rows.append({
            "image": img, "result": result, "objects": len(result.polygons), "area_mean": _mean(a),
            "area_total": sum(a) if a else None, "diameter_mean": _mean(d), "circularity_mean": _mean(c),
        })
    return {
        "charts": [
            {"title": _("Area"), "svg": histogram_svg(areas, title=_("Area"), unit=area_unit)},
            {"title": _("Equivalent diameter"),
             "svg": histogram_svg(diameters, title=_("Equivalent diameter"), unit=length_unit)},
            {"title": _("Circularity"),
             "svg": histogram_svg(circularities, title=_("Circularity"), unit="", lo=0.0, hi=1.0)},
        ],
        "rows": rows,
        "object_total": len(areas),
        "measured_images": len(measured),
        "area_unit": area_unit,
        "length_unit": length_unit,
        "use_um": use_um,
    }
