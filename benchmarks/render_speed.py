"""Render speed: tiles/s (and sources/s) for text, table, web and chart sources with one reused page.

    python benchmarks/render_speed.py [--runs 3] [--n 100] [--out benchmarks/results/render_speed.md]

Corpora (read-only, nothing is downloaded):
  table  ../shared/benchmarks/wtq-dev/corpus/*/*.csv         (WikiTableQuestions CSVs)
  chart  ../shared/benchmarks/vega-gallery/specs/*.vl.json   (Vega-Lite gallery, data next to specs)
  web    /usr/share/doc/python3.11/html/**/*.html             (Debian python3.11-doc)
  text   samples/ text sources + /usr/lib/python3.11/*.py     (Markdown, plain text, source code)
Each kind is rendered `runs` times by one Renderer (the browser is started and warmed up before timing);
the table reports the median and the spread (min-max) over runs. Prints a Markdown section.
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared", "benchmarks"))
sys.path.insert(0, ROOT)

from shotdex.render import Renderer, RenderSettings, discover  # noqa: E402


def corpora(n: int) -> dict[str, list[str]]:
    text = [s for s in discover([os.path.join(ROOT, "samples")]).sources
            if s.endswith((".md", ".txt", ".py", ".js")) and "_make" not in s]
    text += sorted(glob.glob("/usr/lib/python3.11/*.py"))
    return {
        "text": text[:n],
        "table": sorted(glob.glob(os.path.join(SHARED, "wtq-dev", "corpus", "*", "*.csv")))[: n * 2],
        "web": sorted(glob.glob("/usr/share/doc/python3.11/html/**/*.html", recursive=True))[:n],
        "chart": sorted(glob.glob(os.path.join(SHARED, "vega-gallery", "specs", "*.vl.json")))[:n],
    }


def run(renderer: Renderer, sources: list[str]) -> tuple[float, int, int, int]:
    start = time.perf_counter()
    tiles = failed = 0
    for s in sources:
        r = renderer.render(s)
        tiles += len(r.tiles)
        failed += not r.ok
    return time.perf_counter() - start, tiles, len(sources), failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n", type=int, default=100, help="sources per kind (tables: twice this)")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "render_speed.md"))
    ap.add_argument("--kinds", default="text,table,web,chart")
    args = ap.parse_args()
    settings = RenderSettings()
    sets = corpora(args.n)
    rows = []
    with Renderer(settings) as renderer:
        renderer.render(os.path.join(ROOT, "samples", "notes", "sourdough-baking.md"))  # start Chromium
        renderer.render(os.path.join(ROOT, "samples", "charts", "tea_consumption.vl.json"))  # warm vl-convert
        for kind in args.kinds.split(","):
            sources = sets[kind]
            if not sources:
                print(f"skipping {kind}: no corpus found", file=sys.stderr)
                continue
            results = [run(renderer, sources) for _ in range(args.runs)]
            tiles_s = [t / sec for sec, t, _, _ in results]
            docs_s = [n / sec for sec, _, n, _ in results]
            _, tiles, n, failed = results[0]
            rows.append((kind, n, tiles, failed, statistics.median(tiles_s), min(tiles_s), max(tiles_s),
                         statistics.median(docs_s), min(docs_s), max(docs_s)))
            print(f"{kind}: {rows[-1]}", file=sys.stderr)
    lines = [
        "## Render speed",
        "",
        f"`python benchmarks/render_speed.py --runs {args.runs} --n {args.n}` on {os.cpu_count()} CPU cores "
        f"({platform.machine()}, {platform.python_implementation()} {platform.python_version()}), one Renderer "
        f"(one Chromium page reused), default settings ({settings.tile_width}x{settings.tile_height} tiles, "
        f"max {settings.max_tiles} per source). Median of {args.runs} runs, spread min-max.",
        "",
        "| kind | corpus | sources | tiles | failed | tiles/s (median) | spread | sources/s (median) | spread |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    names = {"text": "samples text + stdlib .py", "table": "wtq-dev CSV", "web": "python3.11-doc HTML",
             "chart": "vega-gallery specs"}
    for kind, n, tiles, failed, tm, tlo, thi, dm, dlo, dhi in rows:
        lines.append(f"| {kind} | {names[kind]} | {n} | {tiles} | {failed} | {tm:.1f} | {tlo:.1f}-{thi:.1f} "
                     f"| {dm:.1f} | {dlo:.1f}-{dhi:.1f} |")
    lines += ["", "Targets (2 cores): >= 12 tiles/s for short HTML, table and text sources; >= 8 charts/s.",
              "Charts are bound by vl-convert itself (about 0.03-2.5 s per gallery spec, many gallery specs inline 1 MB of data);\nthe one gallery spec with a remote data URL fails by design (rendering is sealed) when it is in the set."]
    text = "\n".join(lines) + "\n"
    print(text)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from common import write_out

    write_out(args.out, text)


if __name__ == "__main__":
    main()
