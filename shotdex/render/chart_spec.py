"""The shotdex chart spec: a small JSON/YAML file naming a data file and how to draw it.

    title: Monthly rainfall in Bergen 2023
    description: Rain per month, from the Met office  # optional; with the title, in the caption band
    data: bergen_rainfall_2023.csv      # relative to the spec; CSV/TSV/JSON records
    mark: bar                           # bar | line | scatter | pie | area
    x: month
    y: rainfall_mm                      # a column or a list of columns
    xlabel: Month                       # optional; default: the column name
    ylabel: Rainfall (mm)               # optional

Drawn with matplotlib's Agg canvas at a fixed size and DPI, with a fixed hash salt and no date or
software metadata in the PNG, so the same spec always gives the same pixels.
"""

from __future__ import annotations

import json
import os

from ..errors import RenderError, SealedError
from .decode import read_text
from .discover import suffix_of

__all__ = ["draw_chart_spec", "load_chart_spec", "MARKS"]

MARKS = ("bar", "line", "scatter", "pie", "area")


def _safe_yaml(source: str, text: str):
    """yaml.safe_load, but a document with aliases (*name) is refused before it is built: a few
    nested aliases expand a 1 KB file into gigabytes ('billion laughs'), and a chart spec needs none."""
    import yaml

    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise RenderError(source, f"chart spec uses YAML aliases (*{event.anchor}); they are not allowed "
                                      "(a few nested ones can expand to gigabytes)")
    return yaml.safe_load(text)


def load_chart_spec(source: str, warnings: list[str]) -> dict:
    text, _ = read_text(source, warnings, 1_000_000)
    try:
        spec = json.loads(text) if suffix_of(source) == ".chart.json" else _safe_yaml(source, text)
    except RenderError:
        raise
    except RecursionError:
        raise RenderError(source, "invalid chart spec: nested too deeply") from None
    except Exception as e:  # yaml.YAMLError / JSONDecodeError: one line either way
        raise RenderError(source, f"invalid chart spec: {str(e).splitlines()[0]}") from None
    if not isinstance(spec, dict):
        raise RenderError(source, "chart spec must be a mapping with data, mark, x, y")
    missing = [k for k in ("data", "mark", "x", "y") if not spec.get(k)]
    if missing:
        raise RenderError(source, f"chart spec lacks {', '.join(missing)}")
    if not isinstance(spec["data"], str):
        raise RenderError(source, "chart spec's data must be a file name")
    for key in ("x", "y", "title", "description", "xlabel", "ylabel", "mark"):
        value = spec.get(key)
        if value is not None and not isinstance(value, (str, int, float, list)):
            raise RenderError(source, f"chart spec's {key} must be a name, not {type(value).__name__}")
    if not isinstance(spec["mark"], str) or spec["mark"] not in MARKS:
        raise RenderError(source, f"unknown mark {spec['mark']!r}; use one of {', '.join(MARKS)}")
    return spec


def _number(value: str):
    try:
        return float(value.replace(",", "")) if value.strip() else float("nan")
    except ValueError:
        return None


def _columns(source: str, spec: dict, read_table):
    data = spec["data"]
    if "://" in data or data.startswith("//"):
        raise SealedError(source, f"remote data is not allowed: rendering is sealed ({data})")
    folder = os.path.realpath(os.path.dirname(source))
    path = os.path.realpath(os.path.join(folder, data))
    if os.path.commonpath([path, folder]) != folder:
        raise SealedError(source, f"data outside the spec's folder is not allowed: {data}")
    if not os.path.isfile(path):
        raise RenderError(source, f"data file not found: {data}")
    sheet = read_table(path)
    ys = spec["y"] if isinstance(spec["y"], list) else [spec["y"]]
    for col in [spec["x"], *ys]:
        if col not in sheet.header:
            raise RenderError(source, f"column {col!r} not in {data} (columns: {', '.join(sheet.header)})")
    xi = sheet.header.index(spec["x"])
    xs = [r[xi] for r in sheet.rows]
    series = {}
    for y in ys:
        yi = sheet.header.index(y)
        values = [_number(r[yi]) for r in sheet.rows]
        if any(v is None for v in values):
            raise RenderError(source, f"column {y!r} holds non-numeric values")
        series[y] = values
    return xs, series


def draw_chart_spec(job):
    """(PIL image, text on the chart) for a shotdex chart spec."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    spec = job.read("chart_spec", job.source)
    xs, series = _columns(job.source, spec, lambda path: job.read("read_table", path, 100_000, 1000, job.deadline)[0])
    s = job.settings
    dpi = 100 * s.device_scale
    with matplotlib.rc_context({"svg.hashsalt": "shotdex", "font.family": "DejaVu Sans",
                                "font.size": 13, "axes.titlesize": 18, "path.simplify": True}):
        fig = Figure(figsize=(s.tile_width / 100, s.tile_height / 100), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        mark = spec["mark"]
        numeric_x = all(_number(x) is not None for x in xs) and mark in ("line", "scatter", "area")
        xv = [_number(x) for x in xs] if numeric_x else list(range(len(xs)))
        width = 0.8 / max(1, len(series))
        for i, (name, ys) in enumerate(series.items()):
            if mark == "bar":
                ax.bar([x + (i - (len(series) - 1) / 2) * width for x in xv], ys, width=width, label=name)
            elif mark == "line":
                ax.plot(xv, ys, marker="o", label=name)
            elif mark == "area":
                ax.fill_between(xv, ys, alpha=0.5, label=name)
                ax.plot(xv, ys, label="_nolegend_")
            elif mark == "scatter":
                ax.scatter(xv, ys, label=name)
            elif mark == "pie":
                ax.pie(ys, labels=xs, autopct="%1.0f%%", startangle=90, counterclock=False)
                ax.axis("equal")
                break
        if mark != "pie":
            if not numeric_x:
                ax.set_xticks(xv, xs, rotation=45 if max(map(len, xs), default=0) > 4 else 0, ha="right")
            ax.set_xlabel(str(spec.get("xlabel") or spec["x"]))
            ylabel = spec.get("ylabel") or (next(iter(series)) if len(series) == 1 else "")
            ax.set_ylabel(str(ylabel))
            ax.grid(True, axis="y", alpha=0.3)
            if len(series) > 1:
                ax.legend()
        if spec.get("title"):
            ax.set_title(str(spec["title"]))
        # One draw straight into pixels: tight layout inside it, no PNG encode/decode round trip.
        fig.set_layout_engine("tight")
        canvas = fig.canvas
        canvas.draw()
        img = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    words = [str(spec.get("title") or ""), str(spec.get("xlabel") or spec["x"]),
             str(spec.get("ylabel") or " ".join(series)), " ".join(xs[:50])]
    return img, " ".join(w for w in words if w)
