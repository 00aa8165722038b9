"""Speed of the `reader` embedder: OCR per tile, the two-core reading ceiling, query latency, cold load.

    .venv/bin/python benchmarks/embed_speed.py [--tiles 12] [--runs 3]

Tiles are screenshot-like 1024x768 images drawn with PIL (a heading, paragraphs and a ruled table in
DejaVu Sans, like the renderer's pages and tables), so the script runs without Chromium.
Prints a markdown section and writes it to benchmarks/results/embed_speed.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
WORDS = (
    "the index stores every screenshot tile with its vector text and word boxes so that search can "
    "rank tiles by meaning and show snippets asyncio tasks run coroutines concurrently while the event "
    "loop waits for sockets files and timers a table lists each country with its population capital "
    "area currency and the year it joined the union values are given in thousands unless noted "
    "otherwise the function returns a new list sorted in ascending order and raises an error when "
    "the key is missing data frames group rows by column and aggregate them with sum mean or count"
).split()


def make_tiles(n: int, seed: int = 0, size: tuple[int, int] = (1024, 768)):
    """n screenshot-like tiles: heading, two paragraphs, a ruled table with numbers."""
    from PIL import Image, ImageDraw, ImageFont

    rng = random.Random(seed)
    body, head, small = ImageFont.truetype(FONT, 16), ImageFont.truetype(BOLD, 26), ImageFont.truetype(FONT, 14)
    tiles = []
    for _ in range(n):
        im = Image.new("RGB", size, "white")
        d = ImageDraw.Draw(im)
        d.text((40, 24), " ".join(rng.choice(WORDS) for _ in range(5)).title(), font=head, fill=(20, 20, 20))
        y = 80
        for _ in range(2):
            for _ in range(4):
                d.text((40, y), " ".join(rng.choice(WORDS) for _ in range(14)), font=body, fill=(30, 30, 30))
                y += 24
            y += 16
        cols, x0, cw, rh = 5, 40, 185, 26
        for r in range(10):
            for c in range(cols):
                x = x0 + c * cw
                d.rectangle([x, y, x + cw, y + rh], outline=(160, 160, 160))
                cell = rng.choice(WORDS).capitalize() if c == 0 or r == 0 else f"{rng.randint(1, 99999):,}"
                d.text((x + 6, y + 5), cell, font=small if r else ImageFont.truetype(BOLD, 14), fill=(0, 0, 0))
            y += rh
        tiles.append(im)
    return tiles


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.3f} (min {min(xs):.3f}, max {max(xs):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiles", type=int, default=12)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "embed_speed.md")
    args = ap.parse_args()

    from shotdex.embed import get_embedder
    from shotdex.embed.ocr import OcrPool, _has_tesserocr, choose_engine, ocr_config
    from shotdex.settings import Settings

    load_before = os.getloadavg()[0]
    tiles = make_tiles(args.tiles)
    n = len(tiles)
    rows: list[tuple[str, str]] = []

    # 1. bare tesseract, one process at a time: the per-core reading speed that defines the ceiling
    bare = OcrPool(workers=1, engine="process")
    bare_runs = [_timed(lambda: bare.read(tiles)) / n for _ in range(args.runs)]
    bare.close()
    ceiling = 2 / statistics.median(bare_runs)  # tiles/s of two bare processes on two cores
    rows.append(("bare `tesseract` process, 1 at a time (s/tile)", _spread(bare_runs)))

    engines = ["process"] + (["api"] if _has_tesserocr() and choose_engine() == "api" else [])
    for engine in engines:
        for workers in (1, 2):
            pool = OcrPool(workers=workers, engine=engine)
            runs = [n / _timed(lambda: pool.read(tiles)) for _ in range(args.runs)]
            pool.close()
            label = "tesserocr API" if engine == "api" else "tesseract processes"
            rows.append((f"OCR, {label}, {workers} worker(s) (tiles/s)", _spread(runs)))

    # 2. the whole reader (OCR in parallel + sentence model), cold load, then tiles/s
    t0 = time.perf_counter()
    emb = get_embedder("reader", Settings(ocr_workers=2))
    emb.embed_queries(["warm up"])
    cold_in_process = time.perf_counter() - t0
    reader_runs = [n / _timed(lambda: emb.embed_tiles(tiles)) for _ in range(args.runs)]
    rows.append(("`reader` embed_tiles, 2 workers (tiles/s)", _spread(reader_runs)))
    rows.append(("two-core ceiling = 2 x bare process (tiles/s)", f"{ceiling:.3f}"))
    rows.append(("`reader` / ceiling", f"{statistics.median(reader_runs) / ceiling:.2f}"))

    texts = [t.text for t in emb.embed_tiles(tiles[:4])]
    model_runs = [_timed(lambda: emb.model.encode(texts)) / len(texts) for _ in range(args.runs)]
    windows = statistics.mean(len(emb.model.windows(t)) for t in texts)
    rows.append((f"sentence model per tile text (s; {windows:.1f} windows of 256 tokens)", _spread(model_runs)))

    # 3. queries, warm
    qs = ["how do asyncio tasks run", "population of each country", "sorted list key error"] * 40
    lat = []
    for q in qs:
        t = time.perf_counter()
        emb.embed_queries([q])
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    rows.append(("query, warm, p50 / p95 (ms)", f"{lat[len(lat) // 2]:.1f} / {lat[int(len(lat) * 0.95)]:.1f}"))
    emb.close()

    # 4. cold: a fresh process that imports shotdex.embed, loads the reader and embeds one query
    code = (
        "import time; t=time.perf_counter(); from shotdex.embed import get_embedder; "
        "e=get_embedder('reader'); e.embed_queries(['hello']); e.fingerprint; print(time.perf_counter()-t)"
    )
    cold = []
    for _ in range(args.runs):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
        cold.append((float(out.stdout.strip()), time.perf_counter() - t))
    rows.append(("cold: import + load reader + first query + fingerprint, in process (s)", _spread([c[0] for c in cold])))
    rows.append(("cold: the same as a fresh `python -c` (s)", _spread([c[1] for c in cold])))
    rows.append(("load reader in this process (s)", f"{cold_in_process:.3f}"))

    md = [
        "## Embedder speed (`benchmarks/embed_speed.py`)",
        "",
        f"{n} drawn 1024x768 tiles, {args.runs} runs each, median (min, max); {os.cpu_count()} cores; "
        f"OCR `{ocr_config()}`; default engine `{choose_engine()}`; 1-min load average {load_before:.1f} "
        f"before, {os.getloadavg()[0]:.1f} after (above ~0.5, other processes share the cores and the "
        "2-worker figures and the ratio fall).",
        "",
        "| measure | value |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
    ]
    text = "\n".join(md)
    print(text)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from common import write_out

    write_out(args.out, text)


if __name__ == "__main__":
    main()
