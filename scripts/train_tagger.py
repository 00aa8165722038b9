"""Rebuild the figure tagger's weights (shotdex/embed/weights/tagger.npz) from nothing.

    nice -n 5 .venv/bin/python scripts/train_tagger.py [--cache /tmp/tagger-data.npz] [--epochs 20]

Training pictures are drawn here, with a fixed seed, by shotdex's own renderers: random Vega-Lite specs
through vl-convert (the chart renderer's engine) and random matplotlib figures (the chart-spec renderer's
engine), each with random data, sizes, palettes, themes, titles, legends and facets; random CSV tables,
text, Markdown and code files through shotdex's Renderer (Chromium) for the non-charts; procedural
pictures for "photo or other". Nothing is downloaded. Each class has its own random stream, so
`--workers` processes (2) draw the same pictures as one would. The tagger is an ensemble of `--models`
(2) models trained on the same pictures from seeds 13, 14, ...; each trains on one thread
(torch.set_num_threads(1)), `--workers` at a time, so the bytes do not depend on the machine. About
32 min on this 2-core machine (6 drawing, 26 training the two models side by side).
Inference (shotdex/embed/tagger.py) never imports this file.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shotdex.embed.tagger import CHARTS, CLASSES, SIZE, prepare, weights_path  # noqa: E402

WORDS = ("revenue sales growth users rate share income cost price volume count score index region north south "
         "east west alpha beta gamma delta population weather rainfall temperature energy traffic market "
         "budget profit loss visits clicks errors latency votes age height weight yield stock fund city "
         "country year month week day hour model group series sample value total mean median").split()
THEMES = [None] * 6 + ["ggplot2", "quartz", "vox", "fivethirtyeight", "latimes", "urbaninstitute", "googlecharts",
                       "powerbi", "carbon-white", "excel"]
SCHEMES = [None] * 4 + ["category10", "tableau20", "set2", "dark2", "paired", "accent", "pastel1", "set3", "tableau10"]
CONT = ["blues", "viridis", "orangered", "greens", "reds", "purples", "plasma", "magma", "inferno", "yelloworangered",
        "redblue", "blueorange", "greys", "teals", "goldred", "cividis", "turbo"]
MPL_STYLES = ["default", "default", "ggplot", "seaborn-v0_8", "seaborn-v0_8-whitegrid", "bmh", "fivethirtyeight",
              "classic", "seaborn-v0_8-darkgrid", "grayscale", "tableau-colorblind10", "seaborn-v0_8-pastel"]
MPL_CMAPS = ["viridis", "Blues", "magma", "coolwarm", "YlOrRd", "RdBu", "Greens", "plasma", "cividis", "hot", "Purples"]


def words(rng, n) -> str:
    return " ".join(rng.choice(WORDS, n)).capitalize()


# -- Vega-Lite --------------------------------------------------------------------------------------------
def vega_spec(kind: str, rng) -> dict:
    n = int(rng.integers(3, 14))
    long = rng.random() < 0.25  # labels of several words (titles, places), as on many horizontal bars
    cats = [words(rng, int(rng.integers(1, 4)) if long else 1) + ("" if rng.random() < 0.7 else f" {i}") for i in range(n)]
    cats = list(dict.fromkeys(cats)) or ["a"]
    many = kind in ("bar_stacked", "area_stacked", "line")  # these often carry ten series or more
    series = [f"S{i} {w}" for i, w in enumerate(rng.choice(WORDS, int(rng.integers(2, 13 if many else 6))))]
    q = lambda: float(np.round(rng.gamma(2.0, 20.0), 1))  # noqa: E731
    enc: dict = {}
    mark: dict = {"type": "bar"}
    values: list = []
    layers: list = []
    color = {"scale": {"scheme": rng.choice(SCHEMES[4:])}} if rng.random() < 0.5 else {}
    if kind in ("bar", "bar_horizontal"):
        if rng.random() < 0.25:  # many thin bars over ordered years: a bar chart that is not a histogram
            start = int(rng.integers(1900, 2000))
            cats = [str(start + i) for i in range(int(rng.integers(10, 40)))]
        neg = rng.random() < 0.15
        values = [{"c": c, "v": float(np.round(rng.normal(0, 30), 1)) if neg else q()} for c in cats]
        a, b = ("x", "y") if kind == "bar" else ("y", "x")
        enc = {a: {"field": "c", "type": "nominal" if not cats[0].isdigit() else "ordinal",
                   "sort": None if rng.random() < 0.5 or cats[0].isdigit() else f"-{b}"},
               b: {"field": "v", "type": "quantitative", "title": words(rng, 2)}}
        if rng.random() < 0.15:  # one bar a month (a time unit on the axis)
            values = [{"c": f"2020-{m:02d}-15", "v": q()} for m in range(1, 13)]
            enc[a] = {"field": "c", "timeUnit": str(rng.choice(["month", "yearmonth"])), "type": "ordinal"}
        if rng.random() < 0.3:
            enc["color"] = {"field": "c", "type": "nominal", "legend": None if rng.random() < 0.5 else {}, **color}
        if rng.random() < 0.3:
            mark["cornerRadiusEnd"] = int(rng.integers(0, 5))
    elif kind in ("bar_grouped", "bar_stacked"):
        if rng.random() < 0.35:  # many bars over ordered values (ages, years), as in population charts
            start, step = int(rng.integers(0, 2000)), int(rng.choice([1, 5, 10]))
            cats = [str(start + i * step) for i in range(int(rng.integers(6, 25 if kind == "bar_stacked" else 12)))]
            series = series[: int(rng.integers(2, 5))]
        else:
            cats = cats[: int(rng.integers(2, 7))]
        values = [{"c": c, "s": s, "v": q()} for c in cats for s in series]
        horiz = rng.random() < (0.2 if kind == "bar_grouped" else 0.35)
        a, b = ("y", "x") if horiz else ("x", "y")
        enc = {a: {"field": "c", "type": "nominal"}, b: {"field": "v", "type": "quantitative"},
               "color": {"field": "s", "type": "nominal", **color}}
        if kind == "bar_grouped":
            if rng.random() < 0.65:
                enc[a + "Offset"] = {"field": "s"}
            else:  # the older way: a facet column per category
                enc = {"column": {"field": "c", "type": "nominal"}, a: {"field": "s", "type": "nominal", "axis": None
                       if rng.random() < 0.5 else {}}, b: enc[b], "color": enc["color"]}
        elif rng.random() < 0.35:
            enc[b]["stack"] = "normalize"
        elif rng.random() < 0.2:  # diverging: half the series drawn below zero
            for r in values:
                if r["s"] in series[: len(series) // 2 + 1]:
                    r["v"] = -r["v"]
    elif kind == "histogram":
        values = [{"v": float(x)} for x in rng.normal(rng.uniform(0, 50), rng.uniform(2, 20), int(rng.integers(80, 400)))]
        enc = {"x": {"bin": {"maxbins": int(rng.integers(8, 40))}, "field": "v"}, "y": {"aggregate": "count"}}
        if rng.random() < 0.25:
            for r in values:
                r["s"] = str(rng.choice(series[:3]))
            enc["color"] = {"field": "s", **color}
    elif kind in ("line", "area", "area_stacked"):
        m = int(rng.integers(12, 80) if rng.random() < 0.7 else rng.integers(80, 300))  # daily data is dense
        k = 1 if kind == "area" else int(rng.integers(2 if kind == "area_stacked" else 1, len(series) + 1))
        smooth = kind != "line" and rng.random() < 0.5  # a density-like curve, not a random walk
        style = rng.random() if kind == "line" else 1.0
        slope = style < 0.2  # a slope chart (few x positions, several series) or parallel coordinates (many)
        if slope:
            m, k = (int(rng.integers(2, 4)), int(rng.integers(4, 14))) if style < 0.1 else \
                (int(rng.integers(3, 7)), int(rng.integers(20, 120)))
            series = [f"S{i} {w}" for i, w in enumerate(rng.choice(WORDS, k))]
        elif style < 0.26:  # a dumbbell: one line from a low to a high value per category
            return _dumbbell(cats, rng)
        # small multiples: one series a panel, in rows (often many thin ones: a ridgeline) or columns
        panel = None if slope or rng.random() >= 0.25 else str(rng.choice(["row", "row", "column"]))
        if panel:
            k = int(rng.integers(8, 25) if panel == "row" and rng.random() < 0.35 else rng.integers(2, 7))
            smooth = smooth or k > 7  # a ridgeline's rows are bumps
            series = [f"{w} {i}" for i, w in enumerate(rng.choice(WORDS, k))]
        grid = np.linspace(0, 1, m)
        for s in series[:k]:
            if smooth:
                y = sum(rng.uniform(0.3, 1) * np.exp(-((grid - rng.uniform(0.1, 0.9)) / rng.uniform(0.04, 0.25)) ** 2 / 2)
                        for _ in range(int(rng.integers(1, 4)))) * rng.uniform(5, 50)
            else:
                y = np.cumsum(rng.normal(0, 1, m)) + rng.uniform(5, 30)
            y = np.abs(y) if kind != "line" else y
            values += [{"t": i, "s": s, "v": float(np.round(v, 2))} for i, v in enumerate(y)]
        enc = {"x": {"field": "t", "type": "ordinal" if slope else "quantitative", "title": words(rng, 1)},
               "y": {"field": "v", "type": "quantitative"}}
        if rng.random() < 0.3 and not slope:  # a date axis
            for r in values:
                r["t"] = f"{2000 + r['t'] // 12}-{r['t'] % 12 + 1:02d}-01"
            enc["x"]["type"] = "temporal"
        if k > 1:
            enc["color"] = {"field": "s", "type": "nominal", **color}
            if k > 15:
                enc["color"]["legend"] = None
        if panel:
            enc[panel] = {"field": "s", "type": "nominal", "title": None if rng.random() < 0.5 else words(rng, 1)}
            if rng.random() < 0.5:
                enc.pop("color", None)
            if k > 7:  # a ridgeline: no y axis or frame on the thin rows
                enc["y"]["axis"] = None
                enc[panel]["header"] = {"labelAngle": 0, "labelAlign": "left"}
        mark = {"type": "line" if kind == "line" else "area"}
        if k > 15:
            mark["opacity"] = float(rng.uniform(0.3, 0.7))
        if kind == "line":
            mark["point"] = bool(slope or rng.random() < 0.3)
            mark["interpolate"] = str(rng.choice(["linear", "linear", "monotone", "step"]))
            if k > 1 and rng.random() < 0.15:
                enc["strokeDash"] = {"field": "s", "type": "nominal"}
        else:
            mark["opacity"] = float(rng.uniform(0.5, 1.0))
            if kind == "area" and rng.random() < 0.3:
                mark["line"] = True
            if kind == "area_stacked" and rng.random() < 0.4:
                enc["y"]["stack"] = str(rng.choice(["center", "normalize"]))
    elif kind in ("scatter", "bubble"):
        m = int(rng.integers(20, 300) if rng.random() < 0.75 else rng.integers(300, 1200))
        values = [{"a": float(x), "b": float(y), "s": str(rng.choice(series[:3])), "z": float(z)}
                  for x, y, z in zip(rng.normal(0, 1, m), rng.normal(0, 1, m) + rng.uniform(-1, 1) * rng.normal(0, 1, m),
                                     rng.uniform(1, 100, m))]
        mark = {"type": str(rng.choice(["point", "circle", "square"] if kind == "scatter" else ["circle", "point"]))}
        if kind == "scatter" and mark["type"] == "point":
            mark["filled"] = bool(rng.random() < 0.5)
        enc = {"x": {"field": "a", "type": "quantitative"}, "y": {"field": "b", "type": "quantitative"}}
        style = rng.random() if kind == "scatter" else 1.0
        if style < 0.12:  # a dot plot: equal values stacked up
            seen: dict = {}
            for r in values:
                r["a"] = float(np.round(r["a"] * 4) / 4)
                seen[r["a"]] = seen.get(r["a"], 0) + 1
                r["b"] = seen[r["a"]]
        elif style < 0.24:  # a strip plot: points along a few categories (sized: a bubble strip)
            enc["y"] = {"field": "s", "type": "nominal"}
            if rng.random() < 0.3:
                enc["size"] = {"field": "z", "type": "quantitative"}
        elif style < 0.32:  # a dot plot: one point per category
            values = [{"c": c, "b": q(), "s": str(rng.choice(series[:3]))} for c in cats]
            a, b = ("y", "x") if rng.random() < 0.7 else ("x", "y")
            enc = {a: {"field": "c", "type": "nominal", "sort": None if rng.random() < 0.5 else f"{b}"},
                   b: {"field": "b", "type": "quantitative", "scale": {"zero": bool(rng.random() < 0.3)}}}
        elif style < 0.45:  # points with error bars, upright or lying
            values = [{"c": c, "b": q(), "e": float(rng.uniform(2, 15))} for c in cats]
            for r in values:
                r["lo"], r["hi"] = r["b"] - r["e"], r["b"] + r["e"]
            a, b = ("x", "y") if rng.random() < 0.5 else ("y", "x")
            enc = {a: {"field": "c", "type": "nominal"}, b: {"field": "b", "type": "quantitative", "scale": {"zero": False}}}
            layers = [{"mark": {"type": "rule"}, "encoding": {a: enc[a], b: {"field": "lo", "type": "quantitative"},
                                                               b + "2": {"field": "hi"}}}]
        elif style < 0.55:  # a noisy series as points, often with its smoothed curve drawn over them
            t = np.arange(m)
            curve = np.sin(t / rng.uniform(5, 60)) * rng.uniform(5, 20) + rng.uniform(10, 30)
            values = [{"a": int(i), "b": float(c + rng.normal(0, rng.uniform(1, 6)))} for i, c in zip(t, curve)]
            enc["x"]["title"] = words(rng, 1)
            if rng.random() < 0.6:
                layers = [{"mark": {"type": "line", "color": str(rng.choice(["red", "firebrick", "black", "orange"])),
                                    "size": float(rng.uniform(1, 3))},
                           "transform": [{"loess": "b", "on": "a", "bandwidth": float(rng.uniform(0.02, 0.2))}],
                           "encoding": {"x": enc["x"], "y": enc["y"]}}]
        if rng.random() < 0.5 and not layers:
            enc["color"] = ({"field": "s", "type": "nominal", **color} if rng.random() < 0.7 or "z" not in values[0] else
                            {"field": "z", "type": "quantitative", "scale": {"scheme": str(rng.choice(CONT))}})
        if kind == "bubble":
            enc["size"] = {"field": "z", "type": "quantitative"}
            mark["opacity"] = float(rng.uniform(0.4, 0.9))
    elif kind in ("pie", "donut"):
        values = [{"c": c, "v": q()} for c in cats[:8]]
        mark = {"type": "arc"}
        if kind == "donut":
            mark["innerRadius"] = int(rng.integers(25, 70))
        enc = {"theta": {"field": "v", "type": "quantitative"}, "color": {"field": "c", "type": "nominal", **color}}
    elif kind == "heatmap":
        few = rng.random() < 0.4  # a few big cells (counts by two categories, a confusion matrix), some empty
        rows, cols = cats[: int(rng.integers(2 if few else 3, 7 if few else 12))], list(range(int(rng.integers(2, 9) if few else rng.integers(4, 25))))
        values = [{"r": r, "c": c, "v": float(rng.gamma(0.6, 30) if few else rng.normal(0, 1) + i * 0.1)}
                  for i, r in enumerate(rows) for c in cols]
        if few:
            drop = rng.uniform(0, 0.45)
            values = [r for r in values if rng.random() >= drop] or values
        mark = {"type": "rect"}
        enc = {"x": {"field": "c", "type": "ordinal"}, "y": {"field": "r", "type": "ordinal"},
               "color": {"field": "v", "type": "quantitative", "scale": {"scheme": str(rng.choice(CONT))}}}
        if rng.random() < 0.2:  # a binned 2-D count
            values = [{"a": float(x), "b": float(x * rng.uniform(-1, 1) + y)} for x, y in
                      zip(rng.normal(0, 1, 500), rng.normal(0, 1, 500))]
            enc = {"x": {"field": "a", "bin": {"maxbins": int(rng.integers(10, 40))}}, "y": {"field": "b", "bin": {"maxbins": int(rng.integers(10, 30))}},
                   "color": {"aggregate": "count", "scale": {"scheme": str(rng.choice(CONT))}}}
        elif len(cols) < 14 and rng.random() < 0.3:  # the values written in the cells
            layers = [{"mark": {"type": "text", "fontSize": int(rng.integers(7, 15 if few else 10))},
                       "encoding": {"x": enc["x"], "y": enc["y"], "text": {"field": "v", "format": ".0f" if few else ".1f"}}}]
    elif kind == "boxplot":
        cats = cats[: int(rng.integers(2, 9))]
        values = [{"c": c, "v": float(v)} for c in cats for v in rng.normal(rng.uniform(0, 50), rng.uniform(2, 12), 40)]
        mark = {"type": "boxplot", "extent": "min-max" if rng.random() < 0.3 else 1.5}
        a, b = ("x", "y") if rng.random() < 0.6 else ("y", "x")
        enc = {a: {"field": "c", "type": "nominal"}, b: {"field": "v", "type": "quantitative", "scale": {"zero": False}}}
        if rng.random() < 0.4:
            enc["color"] = {"field": "c", "type": "nominal", "legend": None}
    elif kind == "map":
        return _vega_map(rng)
    if kind in ("bar", "bar_horizontal", "line", "scatter") and not layers and "column" not in enc and rng.random() < 0.2:
        layers = _overlay(kind, enc, rng)
    spec = {"data": {"values": values}, "mark": mark, "encoding": enc,
            "width": int(rng.integers(80, 700)), "height": int(rng.integers(60, 450))}
    if layers:  # drawn over the main mark, as in charts with labels, means or error bars
        spec["layer"] = [{"mark": spec.pop("mark"), "encoding": spec.pop("encoding")}, *layers]
    if "column" in enc:
        spec["width"] = int(rng.integers(30, 90) if kind == "bar_grouped" else rng.integers(60, 250))
    if "row" in enc:
        spec["height"] = int(rng.integers(8, 25) if len({r.get("s") for r in values}) > 7 else rng.integers(25, 100))
        if spec["height"] < 25:
            spec.update(spacing=0, config={"view": {"stroke": None}})
    if rng.random() < 0.5:
        spec["title"] = words(rng, int(rng.integers(2, 6)))
    if rng.random() < 0.2 and kind not in ("pie", "donut", "bar_grouped") and not layers and "encoding" in spec \
            and not {"row", "column"} & set(spec["encoding"]):  # a facet grid of the same chart
        panels = ["P", "Q", "R", "S", "T", "U"][: int(rng.integers(2, 7))]
        for r in values:
            r["f"] = str(rng.choice(panels))
            r["g"] = str(rng.choice(panels[:3]))
        if kind in ("scatter", "bubble") and rng.random() < 0.4:  # rows and columns: a scatter-plot matrix
            spec["encoding"].update(row={"field": "g"}, column={"field": "f"})
            spec["width"], spec["height"] = int(rng.integers(50, 150)), int(rng.integers(50, 150))
        else:
            spec["encoding"]["column" if rng.random() < 0.6 else "row"] = {"field": "f"}
            spec["width"], spec["height"] = int(spec["width"] * 0.5), int(spec["height"] * 0.6)
    return spec


def _overlay(kind: str, enc: dict, rng) -> list:
    """One more layer over a bar, line or scatter chart: value labels, a mean rule or a fitted line."""
    x, y = enc["x"], enc["y"]
    pick = rng.random()
    if kind == "bar_horizontal" and pick < 0.35:  # each bar's label written inside it, the axis dropped
        enc["y"].update(axis=None, sort=None)
        y = enc["y"]
        if rng.random() < 0.5:
            enc.pop("color", None)
        return [{"mark": {"type": "text", "align": "left", "dx": 3, "fontSize": int(rng.integers(9, 14))},
                 "encoding": {"y": y, "x": {"datum": 0}, "text": {"field": y["field"]}}}]
    if kind in ("bar", "bar_horizontal") and pick < 0.6:
        a, b = ("x", "y") if kind == "bar" else ("y", "x")
        return [{"mark": {"type": "text", "dy" if kind == "bar" else "dx": -6 if kind == "bar" else 8, "fontSize": 9},
                 "encoding": {a: enc[a], b: enc[b], "text": {"field": enc[b]["field"], "type": "quantitative"}}}]
    if kind == "scatter" and pick < 0.6 and x.get("type") == y.get("type") == "quantitative":
        return [{"mark": {"type": "line", "color": str(rng.choice(["firebrick", "black", "orange"]))},
                 "transform": [{"regression" if rng.random() < 0.6 else "loess": y["field"], "on": x["field"]}],
                 "encoding": {"x": x, "y": y}}]
    b = "x" if kind == "bar_horizontal" or y.get("type") != "quantitative" else "y"
    return [{"mark": {"type": "rule", "color": str(rng.choice(["firebrick", "black", "gray"])), "size": 2},
             "encoding": {b: {"aggregate": "mean", "field": enc[b]["field"], "type": "quantitative"}}}]


def _dumbbell(cats: list, rng) -> dict:
    """A line from a low to a high value for each category, a dot at each end (a ranged dot plot)."""
    cats = cats[: int(rng.integers(3, 12))]
    years = [str(y) for y in sorted(rng.choice(np.arange(1950, 2020), 2, replace=False))]
    values = []
    for c in cats:
        lo = float(rng.uniform(10, 60))
        values += [{"c": c, "y": years[0], "v": lo}, {"c": c, "y": years[1], "v": lo + float(rng.uniform(2, 30))}]
    a, b = ("y", "x") if rng.random() < 0.75 else ("x", "y")
    base = {a: {"field": "c", "type": "nominal"}, b: {"field": "v", "type": "quantitative", "title": words(rng, 2)}}
    return {"data": {"values": values}, "width": int(rng.integers(150, 500)), "height": int(rng.integers(100, 350)),
            "layer": [{"mark": {"type": "line", "color": str(rng.choice(["#db646f", "gray", "steelblue", "black"]))},
                       "encoding": {**base, "detail": {"field": "c"}}},
                      {"mark": {"type": "point", "filled": True, "size": int(rng.integers(30, 120)), "opacity": 1},
                       "encoding": {**base, "color": {"field": "y", "type": "ordinal"}}}]}


def _cells(rng):
    """A jittered grid of quadrilateral 'regions' (lon, lat) over a random part of the world, some
    removed: a made-up map; and the (lon, lat) box it covers."""
    gx, gy = int(rng.integers(4, 12)), int(rng.integers(3, 9))
    if rng.random() < 0.5:
        box = (-120.0, -70.0, 25.0, 50.0)  # the size of a country
    else:
        w, h = float(rng.uniform(20, 200)), float(rng.uniform(10, 90))
        lon, lat = float(rng.uniform(-170 + w / 2, 170 - w / 2)), float(rng.uniform(-75 + h / 2, 75 - h / 2))
        box = (lon - w / 2, lon + w / 2, lat - h / 2, lat + h / 2)
    pts = np.stack(np.meshgrid(np.linspace(box[0], box[1], gx + 1), np.linspace(box[2], box[3], gy + 1)), -1)
    pts = pts + rng.normal(0, 1.5 * (box[1] - box[0]) / 50, pts.shape) * [1, 0.5]
    cells = []
    for i in range(gx):
        for j in range(gy):
            if rng.random() < 0.15:
                continue
            ring = [pts[j, i], pts[j, i + 1], pts[j + 1, i + 1], pts[j + 1, i], pts[j, i]]
            ring = _wiggle(rng, ring)
            cells.append(ring)
    return cells, box


def _wiggle(rng, ring):
    out = []
    for p, q in zip(ring[:-1], ring[1:]):
        for t in np.linspace(0, 1, 4, endpoint=False):
            out.append(p + (q - p) * t + rng.normal(0, 0.25, 2))
    out.append(out[0])
    return [[float(x), float(y)] for x, y in out]


def _clockwise(ring: list) -> list:
    """The ring clockwise in (lon, lat), as d3-geo wants an outer ring (else it fills the rest of the globe)."""
    a = np.asarray(ring)
    area = float(np.sum(a[:-1, 0] * a[1:, 1] - a[1:, 0] * a[:-1, 1]))
    return ring[::-1] if area > 0 else ring


def _vega_map(rng) -> dict:
    cells, box = _cells(rng)
    feats = [{"type": "Feature", "properties": {f"v{i}": float(rng.gamma(2, 10)) for i in range(6)},
              "geometry": {"type": "Polygon", "coordinates": [_clockwise(ring)]}} for ring in cells]
    choro = rng.random() < 0.55
    shape = {"mark": {"type": "geoshape", "stroke": "white" if choro else str(rng.choice(["white", "#888", "black", "black"])),
                      **({} if choro else {"fill": str(rng.choice(["#ddd", "#eee", "lightgray", "#e0e8d0", "white", "#fafafa"]))})},
             "data": {"values": {"type": "FeatureCollection", "features": feats}, "format": {"type": "json", "property": "features"}}}
    if choro:
        shape["encoding"] = {"color": {"field": "properties.v0", "type": "quantitative", "scale": {"scheme": str(rng.choice(CONT))}}}
    proj = str(rng.choice(["mercator", "equalEarth", "albers", "equirectangular", "orthographic"]))
    spec = {"width": int(rng.integers(200, 600)), "height": int(rng.integers(150, 400)), "projection": {"type": proj}}
    if proj == "orthographic":  # a globe, turned to face the regions
        spec["projection"]["rotate"] = [-(box[0] + box[1]) / 2, -(box[2] + box[3]) / 2, 0]
    under = []
    if proj in ("orthographic", "equalEarth") and rng.random() < 0.6:  # the sphere and its graticule beneath
        under = [{"data": {"sphere": True}, "mark": {"type": "geoshape", "fill": str(rng.choice(["#dde8f0", "aliceblue", "#eee"]))}},
                 {"data": {"graticule": True}, "mark": {"type": "geoshape", "stroke": "#ccc", "strokeWidth": 0.5, "filled": False}}]
    if rng.random() < 0.35:
        m = int(rng.integers(5, 300))
        pts = {"data": {"values": [{"lon": float(rng.uniform(box[0], box[1])), "lat": float(rng.uniform(box[2], box[3])), "z": float(rng.uniform(1, 50))}
                                   for _ in range(m)]},
               "mark": {"type": "circle", "color": str(rng.choice(["steelblue", "orange", "red", "black"]))},
               "encoding": {"longitude": {"field": "lon", "type": "quantitative"}, "latitude": {"field": "lat", "type": "quantitative"},
                            "size": {"field": "z", "type": "quantitative", "legend": None}}}
        spec["layer"] = [*under, shape, pts]
    elif rng.random() < 0.25:  # routes (roads, lines, tracks) drawn over the regions
        lines = []
        for i in range(int(rng.integers(2, 12))):
            p = np.array([rng.uniform(box[0], box[1]), rng.uniform(box[2], box[3])])
            step = rng.normal(0, 1, 2) * [(box[1] - box[0]) / 40, (box[3] - box[2]) / 40]
            for j in range(int(rng.integers(4, 12))):
                lines.append({"lon": float(p[0]), "lat": float(p[1]), "r": f"r{i}", "o": j})
                p = p + step + rng.normal(0, 0.3, 2) * step
        spec["layer"] = [*under, shape, {"data": {"values": lines}, "mark": {"type": "line", "strokeWidth": float(rng.uniform(1, 3))},
                                         "encoding": {"longitude": {"field": "lon", "type": "quantitative"},
                                                      "latitude": {"field": "lat", "type": "quantitative"},
                                                      "order": {"field": "o"}, "color": {"field": "r", "type": "nominal", "legend": None}}}]
    elif under:
        spec["layer"] = [*under, shape]
    else:
        spec.update(shape)
    if rng.random() < 0.4:
        spec["title"] = words(rng, 3)
    if choro and "layer" not in spec and rng.random() < 0.2:  # small multiples: the same map, one value each
        n = int(rng.integers(2, 7))
        w, h = int(rng.integers(60, 180)), int(rng.integers(50, 140))
        panels = [{**spec, "width": w, "height": h, "title": words(rng, 1),
                   "encoding": {"color": {**spec["encoding"]["color"], "field": f"properties.v{i}"}}} for i in range(n)]
        spec = {"concat": panels, "columns": int(rng.integers(1, n + 1))}
    return spec


def draw_vega(kind: str, rng):
    import vl_convert as vlc
    from PIL import Image

    spec = vega_spec(kind, rng)
    theme = THEMES[int(rng.integers(len(THEMES)))]
    png = vlc.vegalite_to_png(spec, scale=float(rng.choice([1.0, 1.0, 1.5, 2.0])), theme=theme, allowed_base_urls=[])
    return _flat(Image.open(io.BytesIO(png)))


def _flat(img):
    from shotdex.render.images import flatten_rgb

    return flatten_rgb(img)


# -- matplotlib -------------------------------------------------------------------------------------------
def draw_mpl(kind: str, rng):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from PIL import Image

    style = MPL_STYLES[int(rng.integers(len(MPL_STYLES)))]
    with plt.style.context(style):
        w, h = float(rng.uniform(3, 9)), float(rng.uniform(2.2, 6))
        nf = 1 if rng.random() < 0.8 or kind in ("pie", "donut", "map") else int(rng.choice([2, 3, 4]))
        fig = plt.figure(figsize=(w, h), dpi=int(rng.integers(50, 100)))
        axes = [fig.add_subplot(1 if nf < 4 else 2, nf if nf < 4 else 2, i + 1) for i in range(nf)]
        cmap = str(rng.choice(MPL_CMAPS))
        for ax in axes:
            _mpl_one(ax, kind, rng, cmap, PolyCollection)
            if rng.random() < 0.5:
                ax.set_title(words(rng, int(rng.integers(1, 5))))
        if rng.random() < 0.3:
            fig.suptitle(words(rng, 4))
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
    return _flat(Image.open(buf))


def _mpl_one(ax, kind, rng, cmap, PolyCollection):
    n = int(rng.integers(3, 12))
    x = np.arange(n)
    labels = [str(w)[:6] for w in rng.choice(WORDS, n)]
    k = int(rng.integers(2, 5))
    ys = rng.gamma(2.0, 10.0, (k, n))
    legend = rng.random() < 0.6
    if kind in ("bar", "bar_horizontal"):
        color = None if rng.random() < 0.6 else [f"C{i % 10}" for i in range(n)]
        bars = (ax.bar if kind == "bar" else ax.barh)(x, ys[0], color=color, edgecolor="black" if rng.random() < 0.2 else None)
        (ax.set_xticks if kind == "bar" else ax.set_yticks)(x, labels)
        if rng.random() < 0.2:
            ax.bar_label(bars, fmt="%.0f", fontsize=7)
    elif kind == "bar_grouped":
        wd = 0.8 / k
        for i in range(k):
            if rng.random() < 0.8:
                ax.bar(x + (i - (k - 1) / 2) * wd, ys[i], width=wd, label=f"s{i}")
            else:
                ax.barh(x + (i - (k - 1) / 2) * wd, ys[i], height=wd, label=f"s{i}")
        legend and ax.legend()
    elif kind == "bar_stacked":
        bottom = np.zeros(n)
        horiz = rng.random() < 0.3
        for i in range(k):
            if horiz:
                ax.barh(x, ys[i], left=bottom, label=f"s{i}")
            else:
                ax.bar(x, ys[i], bottom=bottom, label=f"s{i}")
            bottom += ys[i]
        legend and ax.legend()
    elif kind == "histogram":
        for i in range(1 if rng.random() < 0.7 else 2):
            ax.hist(rng.normal(i * 2, 1 + i, int(rng.integers(100, 2000))), bins=int(rng.integers(8, 50)),
                    alpha=0.6 if i else 1.0, edgecolor="black" if rng.random() < 0.3 else None)
    elif kind == "line":
        m = int(rng.integers(10, 200))
        for i in range(int(rng.integers(1, 5))):
            ax.plot(np.cumsum(rng.normal(0, 1, m)), marker="o" if m < 30 and rng.random() < 0.4 else None, label=f"s{i}")
        legend and ax.legend()
    elif kind in ("area", "area_stacked"):
        m = int(rng.integers(10, 100))
        yy = np.abs(np.cumsum(rng.normal(0, 1, (k if kind == "area_stacked" else 1, m)), axis=1)) + 1
        if rng.random() < 0.4:  # density-like curves
            g = np.linspace(0, 1, m)
            yy = np.stack([sum(np.exp(-((g - rng.uniform(0.1, 0.9)) / rng.uniform(0.04, 0.25)) ** 2 / 2)
                               for _ in range(int(rng.integers(1, 4)))) for _ in yy])
        if kind == "area":
            ax.fill_between(np.arange(m), yy[0], alpha=float(rng.uniform(0.4, 1)))
            if rng.random() < 0.5:
                ax.plot(yy[0])
        else:
            ax.stackplot(np.arange(m), yy, labels=[f"s{i}" for i in range(len(yy))], baseline="zero" if rng.random() < 0.8 else "wiggle")
            legend and ax.legend(loc="upper left")
    elif kind in ("scatter", "bubble"):
        m = int(rng.integers(20, 400))
        a, b = rng.normal(0, 1, m), rng.normal(0, 1, m)
        c = rng.integers(0, 3, m) if rng.random() < 0.5 else None
        s = rng.uniform(10, 600, m) if kind == "bubble" else float(rng.uniform(5, 40))
        if kind == "scatter" and rng.random() < 0.15:  # points with error bars
            ax.errorbar(x, ys[0], yerr=rng.uniform(1, 8, n), fmt=str(rng.choice(["o", "s", "D"])), capsize=float(rng.uniform(0, 4)))
            return
        b = b + a * rng.uniform(-1, 1)
        ax.scatter(a, b, s=s, c=c, cmap=cmap if c is not None else None,
                   alpha=float(rng.uniform(0.4, 1)), marker=str(rng.choice(["o", "o", "s", "^", "x"])) if kind == "scatter" else "o")
        if kind == "scatter" and rng.random() < 0.15:  # a fitted line
            fit = np.polyfit(a, b, 1)
            ax.plot(np.sort(a), np.polyval(fit, np.sort(a)), color="black")
    elif kind in ("pie", "donut"):
        wedge = {"width": float(rng.uniform(0.25, 0.6))} if kind == "donut" else {}
        ax.pie(ys[0][:8], labels=labels[:8] if rng.random() < 0.6 else None, wedgeprops=wedge,
               autopct="%1.0f%%" if rng.random() < 0.3 and kind == "pie" else None)
    elif kind == "heatmap":
        data = rng.normal(0, 1, (int(rng.integers(4, 30)), int(rng.integers(4, 30))))
        data = data.cumsum(axis=int(rng.integers(0, 2)))
        im = ax.imshow(data, cmap=cmap, aspect="auto")
        if data.size <= 120 and rng.random() < 0.3:  # the values written in the cells
            for (i, j), v in np.ndenumerate(data):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=6)
        if rng.random() < 0.6:
            ax.figure.colorbar(im, ax=ax)
    elif kind == "boxplot":
        ax.boxplot([rng.normal(rng.uniform(0, 5), rng.uniform(0.5, 2), 50) for _ in range(int(rng.integers(2, 9)))],
                   vert=bool(rng.random() < 0.7), patch_artist=bool(rng.random() < 0.5))
    elif kind == "map":
        cells, box = _cells(rng)
        vals = rng.gamma(2, 10, len(cells))
        choro = rng.random() < 0.6
        coll = PolyCollection(cells, cmap=cmap if choro else None, edgecolors=str(rng.choice(["white", "gray", "black"])),
                              facecolors=None if choro else str(rng.choice(["#dddddd", "#e0e8d0", "#eeeeee"])), linewidths=0.6)
        if choro:
            coll.set_array(vals)
        ax.add_collection(coll)
        ax.autoscale()
        if rng.random() < 0.5:
            ax.set_axis_off()
        if rng.random() < 0.3:
            ax.scatter(rng.uniform(box[0], box[1], 30), rng.uniform(box[2], box[3], 30), s=rng.uniform(5, 80, 30), color="C1")


# -- pages and pictures -----------------------------------------------------------------------------------
def page_files(rng, folder: Path, kind: str, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        if kind == "table":
            cols = int(rng.integers(2, 12))
            head = [words(rng, int(rng.integers(1, 3))) for _ in range(cols)]
            rows = []
            for _ in range(int(rng.integers(4, 60))):
                rows.append([str(round(float(rng.gamma(2, 100)), int(rng.integers(0, 3)))) if rng.random() < 0.5
                             else words(rng, int(rng.integers(1, 4))) for _ in range(cols)])
            p = folder / f"t{i}.csv"
            p.write_text("\n".join(",".join(r) for r in [head, *rows]))
        elif kind == "text":
            paras = []
            for _ in range(int(rng.integers(1, 12))):
                if rng.random() < 0.25:
                    paras.append("#" * int(rng.integers(1, 4)) + " " + words(rng, 3))
                elif rng.random() < 0.2:
                    paras.append("\n".join("- " + words(rng, int(rng.integers(2, 9))) for _ in range(int(rng.integers(2, 7)))))
                else:
                    paras.append(" ".join(words(rng, int(rng.integers(5, 15))) + "." for _ in range(int(rng.integers(1, 8)))))
            p = folder / f"x{i}.{rng.choice(['txt', 'md', 'md'])}"
            p.write_text("\n\n".join(paras))
        else:
            lines = []
            for _ in range(int(rng.integers(2, 10))):
                name = "_".join(rng.choice(WORDS, 2))
                lines.append(f"def {name}({', '.join(rng.choice(WORDS, int(rng.integers(0, 4))))}):")
                for _ in range(int(rng.integers(1, 8))):
                    ind = "    " * int(rng.integers(1, 4))
                    lines.append(f"{ind}{rng.choice(WORDS)} = {rng.choice(WORDS)}({int(rng.integers(0, 100))}) + {rng.choice(WORDS)}"
                                 if rng.random() < 0.6 else f"{ind}if {rng.choice(WORDS)} > {int(rng.integers(0, 9))}: return {rng.choice(WORDS)!r}")
                lines.append("")
            p = folder / f"c{i}.{rng.choice(['py', 'js', 'sh'])}"
            p.write_text("\n".join(lines))
        paths.append(p)
    return paths


def draw_photo(rng):
    from PIL import Image, ImageDraw, ImageFilter

    w, h = int(rng.integers(120, 900)), int(rng.integers(120, 700))
    base = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
    img = Image.fromarray(base).resize((w, h), Image.BICUBIC)
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, 25))):
        box = sorted(rng.integers(0, w, 2).tolist()), sorted(rng.integers(0, h, 2).tolist())
        fill = tuple(int(c) for c in rng.integers(0, 255, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([box[0][0], box[1][0], box[0][1], box[1][1]], fill=fill)
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 6))))
    noise = rng.normal(0, rng.uniform(0, 25), (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img, dtype=np.float32) + noise, 0, 255).astype(np.uint8))


def class_data(seed: int, ci: int, per_vega: int, per_mpl: int, per_page: int, per_photo: int) -> list[np.ndarray]:
    """The prepared training pictures of class CLASSES[ci]: its own random stream, so classes can be drawn
    in parallel and still give the same pictures."""
    kind = CLASSES[ci]
    rng = np.random.default_rng([seed, ci])
    xs = []
    if kind in ("table", "text", "code"):
        from shotdex.render import Renderer, RenderSettings

        # a long time limit: a page that fails to render on a busy machine would change the data
        with tempfile.TemporaryDirectory() as tmp, Renderer(RenderSettings(render_timeout_s=600)) as r:
            for p in page_files(rng, Path(tmp), kind, per_page):
                res = r.render(str(p))
                if not res.ok:
                    raise SystemExit(f"training page did not render: {res.error}")
                xs += [prepare(t.image) for t in res.tiles[:2]]
    elif kind == "photo":
        xs = [prepare(draw_photo(rng)) for _ in range(per_photo)]
    else:
        xs = [prepare(draw_vega(kind, rng)) for _ in range(per_vega)] + [prepare(draw_mpl(kind, rng)) for _ in range(per_mpl)]
    return [(x * 255).round().astype(np.uint8) for x in xs]


def worker_pool(workers: int):
    """`workers` fresh processes (spawned: no torch threads inherited) that die with this one, so a
    stopped rebuild does not leave them training on every core."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    from shotdex.index.procs import die_with_parent

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent)


def make_data(seed: int, per_vega: int, per_mpl: int, per_page: int, per_photo: int, workers: int = 1):
    """All classes' pictures (uint8, SIZE x SIZE x 3) and labels; `workers` processes draw them."""
    t0 = time.time()
    args = [(seed, ci, per_vega, per_mpl, per_page, per_photo) for ci in range(len(CLASSES))]
    xs, ys = [], []
    pool = worker_pool(workers) if workers > 1 else None
    try:
        done = pool.map(class_data, *zip(*args)) if pool else (class_data(*a) for a in args)
        for ci, pics in enumerate(done):
            xs += pics
            ys += [ci] * len(pics)
            print(f"[data] {CLASSES[ci]}: {len(pics)} pictures, {time.time() - t0:.0f} s", flush=True)
    finally:
        if pool:
            pool.shutdown()
    return np.stack(xs), np.array(ys, dtype=np.int64)


# -- the model --------------------------------------------------------------------------------------------
WIDTHS = (16, 32, 64, 96, 128)


def build_model(n_classes: int):
    import torch.nn as nn

    layers, c = [], 3
    for i, w in enumerate(WIDTHS):
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
        if i < len(WIDTHS) - 1:
            layers.append(nn.MaxPool2d(2))
        c = w
    return nn.Sequential(*layers), nn.Sequential(nn.Dropout(0.2), nn.Linear(c, n_classes))


def augment(x, charts, rng_t):
    """Random shrink and shift (white padding), colour-channel order, brightness, and a mirror image for
    charts (`charts`: a bool per picture): sizes, palettes and placement vary, and a chart mirrored is
    still the same kind of chart."""
    import torch

    n = x.shape[0]
    if float(torch.rand(1, generator=rng_t)) < 0.3:  # drawn smaller on the same square
        side = int(SIZE * (0.6 + 0.4 * float(torch.rand(1, generator=rng_t))))
        small = torch.nn.functional.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
        x = torch.zeros_like(x)
        o = (SIZE - side) // 2
        x[:, :, o:o + side, o:o + side] = small
    pad = torch.nn.functional.pad(x, (6, 6, 6, 6))
    i, j = torch.randint(0, 13, (2,), generator=rng_t).tolist()
    x = pad[:, :, i:i + SIZE, j:j + SIZE]
    flip = charts & (torch.rand(n, generator=rng_t) < 0.5)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    perm = torch.randperm(3, generator=rng_t)
    x = x[:, perm]
    return x * (0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=rng_t))


def build(X: np.ndarray, y: np.ndarray, seed: int, epochs: int, out: Path, models: int = 2, workers: int = 2) -> str:
    """Train `models` models on the same pictures, model j from seed + j, `workers` processes at a time
    (each on one thread: the same bytes however many), and save them as one ensemble file (tagger.py
    reads it); returns the file's hash."""
    args = [(X, y, seed + j, epochs, f"m{j}" if models > 1 else "") for j in range(models)]
    if workers > 1 and models > 1:
        with worker_pool(min(workers, models)) as pool:
            members = list(pool.map(train, *zip(*args)))
    else:
        members = [train(*a) for a in args]
    return save_ensemble(members, out)


def save_ensemble(members: list[dict], out: Path) -> str:
    """The members' arrays in one file: the first model's names as they are, model j's prefixed "mj_"."""
    import hashlib

    arrays = {}
    for j, member in enumerate(members):
        arrays.update({(f"m{j}_" if j else "") + k: v for k, v in member.items() if k != "classes"})
    arrays["classes"] = np.array(CLASSES)
    save_arrays(out, arrays)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {len(members)} models); WEIGHTS_HASH = {digest!r} "
          "(shotdex/embed/tagger.py)", flush=True)
    return digest


def train(X: np.ndarray, y: np.ndarray, seed: int, epochs: int, name: str = "") -> dict:
    """One model trained from `seed`; its arrays as tagger.py reads them (batch norm folded in)."""
    import torch
    import torch.nn as nn

    # One thread, as the shipped weights were trained: the same bytes on any machine, and no spinning
    # OpenMP workers on busy cores (a test calls this in a process that has other threads).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(torch, nn, X, y, seed, epochs, name)
    finally:
        torch.set_num_threads(threads)


def _train(torch, nn, X, y, seed, epochs, name) -> dict:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    feats, head = build_model(len(CLASSES))
    model = nn.Sequential(feats, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
    data = torch.from_numpy(X).permute(0, 3, 1, 2).float() / 255.0
    target = torch.from_numpy(y)
    is_chart = torch.tensor([c in CHARTS for c in CLASSES])[target]
    counts = torch.bincount(target, minlength=len(CLASSES)).float()
    weight = (counts.sum() / counts.clamp(min=1)) / len(CLASSES)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * ((len(y) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=0.05)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=g)
        total, right = 0.0, 0
        for k in range(0, len(y), 64):
            idx = order[k:k + 64]
            xb = augment(data[idx], is_chart[idx], g)
            logits = model(xb)
            loss = loss_fn(logits, target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            right += int((logits.argmax(1) == target[idx]).sum())
        print(f"[train{' ' + name if name else ''}] epoch {ep + 1}/{epochs}: loss {total / len(y):.3f}, train acc {right / len(y):.3f}, "
              f"{time.time() - t0:.0f} s", flush=True)
    return export(feats, head)


def export(feats, head) -> dict:
    """Fold each batch norm into its convolution: plain arrays (what tagger.py reads)."""
    import torch.nn as nn

    arrays, i = {}, 0
    mods = list(feats)
    for m, bn in zip(mods, mods[1:]):
        if isinstance(m, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            scale = (bn.weight / (bn.running_var + bn.eps).sqrt()).detach()
            arrays[f"c{i}_w"] = (m.weight.detach() * scale[:, None, None, None]).numpy().astype(np.float32)
            arrays[f"c{i}_b"] = (bn.bias.detach() - bn.running_mean * scale).numpy().astype(np.float32)
            i += 1
    lin = head[-1]
    arrays["fc_w"] = lin.weight.detach().numpy().astype(np.float32)
    arrays["fc_b"] = lin.bias.detach().numpy().astype(np.float32)
    arrays["classes"] = np.array(CLASSES)
    return arrays


def save_arrays(out: Path, arrays: dict) -> None:
    """An .npz (what np.load reads) whose bytes depend on the arrays only: every member dated 1980."""
    import zipfile

    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as z:
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(a), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(f"{name}.npy", (1980, 1, 1, 0, 0, 0)), buf.getvalue(), zipfile.ZIP_DEFLATED)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--epochs", type=int, default=22)
    ap.add_argument("--per-vega", type=int, default=420)
    ap.add_argument("--per-mpl", type=int, default=150)
    ap.add_argument("--per-page", type=int, default=200)
    ap.add_argument("--per-photo", type=int, default=400)
    ap.add_argument("--models", type=int, default=2, help="models in the ensemble (model j trained from seed + j)")
    ap.add_argument("--workers", type=int, default=2, help="processes drawing the pictures and training the models "
                    "(the same bytes for any number)")
    ap.add_argument("--cache", type=Path, help="keep the drawn pictures here (drawn again if absent)")
    ap.add_argument("--out", type=Path, default=weights_path())
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.cache and args.cache.exists():
        d = np.load(args.cache)
        X, y = d["X"], d["y"]
    else:
        X, y = make_data(args.seed, args.per_vega, args.per_mpl, args.per_page, args.per_photo, args.workers)
        if args.cache:
            np.savez(args.cache, X=X, y=y)
    print(f"[data] {len(y)} pictures of {SIZE} px", flush=True)
    build(X, y, args.seed, args.epochs, args.out, args.models, args.workers)


if __name__ == "__main__":
    main()
