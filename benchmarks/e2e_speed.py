"""End-to-end speed on wtq-dev: index tiles/s, unchanged re-index, query latency, fresh-process search, size.

    .venv/bin/python benchmarks/e2e_speed.py [--fresh-tables 120] [--runs 3] [--build-full]

1. Fresh index: `--fresh-tables` tables (seed 1) into a new, empty database: tiles/s of the whole
   path (render, read, embed, write) as `Index.add` runs it, median over --runs runs, each into a new
   database (--runs 1 when time is short).
2. The full set (all 1,679 tables) in <scratch>/wtq-dev-full: built once with --build-full, again when
   an embedder change makes it stale (about 10-20 minutes of OCR on 2 cores; its tiles/s is recorded
   in wtq-dev-full.json and reported), then
   reused: the unchanged re-index time (`Index.add` over all 1,679 again; goal <= 10 s), warm
   in-process query latency p50/p95 (text query including its encoding, 200 wtq questions), the median
   of fresh `shotdex search` processes (goal <= 3 s), and bytes on disk per tile. Without that
   database, these figures come from the 300-table quality database (benchmarks/quality.py) and the
   table says so.
Writes benchmarks/results/e2e_speed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LANCEDB_LOG", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from common import SHARED, fmt, percentile, write_result  # noqa: E402
from quality import SCRATCH  # noqa: E402

CORPUS = SHARED / "wtq-dev" / "corpus"
QUERIES = SHARED / "wtq-dev" / "queries.jsonl"
# `--full-model toy` (with SHOTDEX_PLUGINS=toy_embedder PYTHONPATH=tests) builds the full set in minutes
# instead of 20+; the unchanged re-index path never embeds, so it measures the same code.
FULL_MODEL = "reader"


def full_db() -> Path:
    return SCRATCH / ("wtq-dev-full" + ("" if FULL_MODEL == "reader" else f"-{FULL_MODEL}"))


def all_tables() -> list[str]:
    return sorted(str(p) for p in CORPUS.glob("*/*.csv"))


def bare_tesseract_rate(db: Path, n: int = 16) -> float:
    """Tiles/s of ONE bare `tesseract` process per tile, one at a time, on this run's own tiles."""
    from shotdex.index import open_index

    with open_index(db=db) as idx:
        ids = [r["id"] for r in idx.store.tiles.search().select(["id"]).limit(n).to_list()]
        images = [img for img, _ in idx.tile_images(ids).values()]
    tmp = Path(tempfile.mkdtemp(prefix="shotdex-bare-"))
    try:
        paths = []
        for i, img in enumerate(images):
            paths.append(tmp / f"{i}.png")
            img.save(paths[-1])
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        t0 = time.perf_counter()
        for path in paths:
            subprocess.run(["tesseract", str(path), "stdout", "--oem", "1", "--psm", "3", "tsv"],
                           check=True, capture_output=True, env=env)
        return len(paths) / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fresh_index(n: int, runs: int) -> tuple[list[float], int, float, list[float]]:
    """tiles/s of `Index.add` into an empty database, n tables, `runs` times; and, after each run,
    the two-core reading ceiling (2 x one bare tesseract process) on that run's tiles."""
    from shotdex.index import open_index

    tables = random.Random(1).sample(all_tables(), n)
    rates, tiles, secs, ceilings = [], 0, 0.0, []
    for _ in range(runs):
        tmp = Path(tempfile.mkdtemp(prefix="shotdex-e2e-"))
        try:
            with open_index(db=tmp / "db") as idx:
                t0 = time.perf_counter()
                report = idx.add(tables)
                secs = time.perf_counter() - t0
            tiles = report.tiles
            rates.append(tiles / secs)
            ceilings.append(2 * bare_tesseract_rate(tmp / "db"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return rates, tiles, secs, ceilings


def build_full() -> dict:
    from shotdex.index import open_index

    with open_index(db=full_db(), model=FULL_MODEL) as idx:
        t0 = time.perf_counter()
        report = idx.add(all_tables())
        secs = time.perf_counter() - t0
    info = {"model": FULL_MODEL, "tables": len(all_tables()), "added": len(report.added), "tiles": report.tiles, "seconds": round(secs, 1),
            "tiles_per_s": round(report.tiles / secs, 3) if secs else None, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_1min_after": round(os.getloadavg()[0], 2)}
    full_db().with_suffix(".json").write_text(json.dumps(info, indent=1))
    return info


def full_is_current() -> bool:
    """The full index is built, with the embedder this checkout makes (retrained tagger weights, say,
    make it stale: it is then built again, not re-embedded, so its first-index row stays true)."""
    from shotdex.errors import ModelMismatch
    from shotdex.index import open_index

    if not full_db().with_suffix(".json").exists():
        return False
    try:
        with open_index(db=full_db(), model=FULL_MODEL) as idx:
            _ = idx.embedder
    except ModelMismatch:
        return False
    return True


def reindex(db: Path, sources: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Unchanged re-index: `Index.add` in a warm process, and `shotdex index` as a fresh process."""
    from shotdex.index import open_index

    inproc, fresh = [], []
    for _ in range(runs):
        with open_index(db=db) as idx:
            _ = idx.embedder  # load the model outside the timing: this row is the add itself
            t0 = time.perf_counter()
            report = idx.add(sources)
            inproc.append(time.perf_counter() - t0)
        assert not report.added and not report.updated, "re-index of an unchanged corpus changed something"
        args = [str(CORPUS)] if len(sources) == len(all_tables()) else sources
        t0 = time.perf_counter()
        subprocess.run(_cli() + ["index", *args, "--db", str(db)], check=True, capture_output=True)
        fresh.append(time.perf_counter() - t0)
    return inproc, fresh


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("shotdex")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "shotdex.cli"]


def warm_latency(db: Path, n: int = 200) -> tuple[list[float], float]:
    from shotdex.index import open_index

    qs = [json.loads(line)["query"] for line in QUERIES.read_text().splitlines()[:n]]
    with open_index(db=db) as idx:
        t0 = time.perf_counter()
        idx.search(text="warm up the model", k=10)
        first = time.perf_counter() - t0
        times = []
        for q in qs:
            t0 = time.perf_counter()
            idx.search(text=q, k=10)
            times.append((time.perf_counter() - t0) * 1000)
        return times, first


def fresh_process(db: Path, runs: int) -> list[float]:
    cmd = _cli()
    out = []
    for q in ["which country won the most gold medals?", "who was the first president", "list of albums released in 1999",
              "how many games did the team win", "population of the largest city"][: max(runs, 1)]:
        t0 = time.perf_counter()
        subprocess.run(cmd + ["search", q, "--db", str(db), "-k", "10"], check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fresh-tables", type=int, default=120)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build-full", action="store_true", help="Index all 1,679 tables first if not done yet.")
    ap.add_argument("--full-model", default="reader", help="Model for the full set (toy needs SHOTDEX_PLUGINS=toy_embedder).")
    args = ap.parse_args()
    global FULL_MODEL
    FULL_MODEL = args.full_model
    load0 = os.getloadavg()[0]
    lines = ["## End-to-end speed on wtq-dev (`benchmarks/e2e_speed.py`)", "",
             f"Command: `python benchmarks/e2e_speed.py --fresh-tables {args.fresh_tables} --runs {args.runs}"
             f"{' --build-full' if args.build_full else ''}{'' if args.full_model == 'reader' else ' --full-model ' + args.full_model}`; 1-min load average {load0:.1f} at the start "
             "(2 cores: other processes running at the same time slow every figure here).", "",
             "| measure | value | goal |", "|---|---|---|"]
    rates, tiles, secs, ceilings = fresh_index(args.fresh_tables, args.runs)
    lines.append(f"| index from scratch, {args.fresh_tables} tables ({tiles} tiles), tiles/s | {fmt(rates, '', 2)} | >= 2 (issue 3) |")
    lines.append(f"| two-core reading ceiling: 2 x one bare `tesseract` process on the same tiles, tiles/s | {fmt(ceilings, '', 2)} | - |")
    ratios = [r / c for r, c in zip(rates, ceilings)]
    lines.append(f"| whole index path / ceiling, per run | {fmt(ratios, '', 2)} | >= 0.85 (issue 3) |")
    full = full_db().exists() or args.build_full
    if args.build_full and not full_is_current():
        shutil.rmtree(full_db(), ignore_errors=True)
        build_full()
    if full and full_db().with_suffix(".json").exists():
        info = json.loads(full_db().with_suffix(".json").read_text())
        lines.append(f"| first index of all {info['tables']} tables with model `{info.get('model', 'reader')}` ({info['tiles']} tiles, built {info['when']}) | "
                     f"{info['seconds']:.0f} s, {info['tiles_per_s']} tiles/s | - |")
        db, sources, label = full_db(), all_tables(), f"all {len(all_tables())} tables"
    else:
        from quality import SETS, eval_args
        from shotdex.evaluate import prepare

        cfg = SETS["wtq-dev"]
        sources, _ = prepare(cfg["queries"], cfg["corpus"], **eval_args("wtq-dev"))
        db, label = SCRATCH / "wtq-dev", f"{len(sources)} tables (quality.py's wtq-dev database)"
    inproc, fresh = reindex(db, sources, args.runs)
    lines.append(f"| unchanged re-index, {label}: `shotdex index` as a fresh process (s) | {fmt(fresh, '', 2)} | <= 10 s for 1,679 |")
    lines.append(f"| the same, `Index.add` alone in a warm process (s) | {fmt(inproc, '', 3)} | - |")
    if FULL_MODEL != "reader":
        # Query figures need the real model: use quality.py's reader database of wtq-dev.
        db, label = SCRATCH / "wtq-dev", "quality.py's wtq-dev database (reader)"
    times, first = warm_latency(db)
    lines.append(f"| warm query latency in process, {len(times)} wtq questions, {label} (ms) | p50 {percentile(times, 50):.1f}, "
                 f"p95 {percentile(times, 95):.1f} (first query of a new Index in this process {first * 1000:.0f} ms) | p50 <= 50, p95 <= 100 at 100k tiles |")
    fp = fresh_process(db, 5)
    lines.append(f"| fresh-process `shotdex search` (s) | {fmt(fp, '', 2)} | median <= 3 s |")
    imp = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import shotdex.cli"], check=True, capture_output=True)
        imp.append(time.perf_counter() - t0)
    lines.append(f"| of which: a fresh `python -c 'import shotdex.cli'` (s) | {fmt(imp, '', 2)} | - |")
    from shotdex.index import open_index

    with open_index(db=db) as idx:
        st = idx.stats()
    lines.append(f"| index size on disk (`shotdex status`: with the files of older versions, which the next index run "
                 f"that changes something removes once they are 5 min old) | {st.bytes_on_disk / 2**20:.1f} MiB for {st.tiles} tiles = "
                 f"{st.bytes_on_disk / max(1, st.tiles) / 1024:.1f} KiB per tile | - |")
    live = live_bytes(db)
    lines.append(f"| of which the current version's data files (images, vectors, text, word boxes) | {live / 2**20:.1f} MiB "
                 f"= {live / max(1, st.tiles) / 1024:.1f} KiB per tile; the stored images alone "
                 f"{image_bytes(db) / max(1, st.tiles) / 1024:.1f} KiB per tile (lossless WebP) | - |")
    lines += ["", f"1-min load average at the end: {os.getloadavg()[0]:.1f}."]
    text = "\n".join(lines)
    print(text)
    write_result("e2e_speed", text)


def live_bytes(db: Path) -> int:
    """Bytes of the data files that the tables' current versions use (what older versions left is not
    counted: a later index run's cleanup removes it once those versions are 5 minutes old)."""
    import lancedb

    conn, total = lancedb.connect(str(db)), 0
    for name in conn.table_names():
        ds = conn.open_table(name).to_lance()
        for frag in ds.get_fragments():
            for f in frag.data_files():
                total += (Path(ds.uri) / "data" / f.path).stat().st_size
    return total


def image_bytes(db: Path) -> int:
    """Bytes of the stored tile images (the encoded WebP bytes themselves)."""
    import lancedb

    conn = lancedb.connect(str(db))
    name = next(n for n in conn.table_names() if n.startswith("tiles"))
    return conn.open_table(name).to_arrow().column("image").nbytes


if __name__ == "__main__":
    main()
