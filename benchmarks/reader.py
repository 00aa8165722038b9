"""shotdex's own reader (--reader-engine shotdex) against Tesseract, same run, same tiles.

    .venv/bin/python benchmarks/reader.py [--tables 60] [--pages 30] [--runs 3] [--retrieval] [--index-tables 40]

1. Words: --tables wtq-dev tables and --pages pydocs-dev pages (seed 1; sources the recogniser never
   trained on: its training text is made up) are rendered by shotdex's Renderer, and each tile's true
   words (every word whose box lies wholly inside the tile, from the page itself) are compared with
   what each engine reads: word recall and precision, exact (case and punctuation kept) and in search
   form (lower case, punctuation around a word stripped).
2. Speed: core-seconds per tile on one core (process CPU time, one thread, BLAS and OpenMP limited to
   one thread), fallbacks to Tesseract included; median of --runs passes. Fallback counts.
3. --retrieval: the quality databases (benchmarks/quality.py's scratch, read by Tesseract) are copied
   and re-read with the shotdex engine (`shotdex reembed --reader-engine shotdex`), and both are
   evaluated on the same queries: nDCG@10 of each, and the ratio.
4. --index-tables N: `shotdex index` of N wtq-dev tables into a fresh database with each engine, in
   turn, --runs times: tiles/s, median.
Writes benchmarks/results/reader.md (+ reader.goals.json).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_THREAD_LIMIT"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import unicodedata  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ.setdefault("LANCEDB_LOG", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from common import SHARED, write_result  # noqa: E402

PYDOCS = Path("/usr/share/doc/python3.11/html")
STRIP = ".,;:!?()[]{}\"'“”‘’«»*"


def sample_sources(tables: int, pages: int, seed: int = 1) -> dict[str, list[str]]:
    rng = random.Random(seed)
    wtq = sorted(str(p) for p in (SHARED / "wtq-dev" / "corpus").glob("20[0-3]-csv/*.csv"))
    docs = sorted(str(p) for p in PYDOCS.rglob("*.html") if "_static" not in p.parts)
    return {"wtq-dev": rng.sample(wtq, min(tables, len(wtq))), "pydocs-dev": rng.sample(docs, min(pages, len(docs)))}


def true_words(tile, words) -> list[str]:
    W, H = tile.image.width, tile.image.height
    return [w for w, x, y, ww, hh in words if w != "\u0000" and x >= 0 and y >= 0 and x + ww <= W and y + hh <= H]


def forms(words: list[str], search: bool) -> Counter:
    out = Counter()
    for w in words:
        w = unicodedata.normalize("NFKC", w)
        if search:
            w = w.strip(STRIP).lower()
        if w:
            out[w] += 1
    return out


def score(truth: list[list[str]], read: list[list[str]], search: bool) -> tuple[float, float]:
    hit = n_true = n_read = 0
    for t, r in zip(truth, read):
        ct, cr = forms(t, search), forms(r, search)
        hit += sum((ct & cr).values())
        n_true += sum(ct.values())
        n_read += sum(cr.values())
    return hit / max(1, n_true), hit / max(1, n_read)


def engines():
    from shotdex.embed.ocr import LINE_PSM, PSM, OcrPool

    tess = OcrPool(1, "auto", "tesseract")
    own = OcrPool(1, "auto", "shotdex")
    return tess, own, (PSM, LINE_PSM)


def read_all(pool, tiles) -> tuple[list, float]:
    c0 = time.process_time()
    out = [pool.read_one(t.image, t.kind) for t in tiles]
    return out, (time.process_time() - c0) / max(1, len(tiles))


def words_and_speed(sets: dict[str, list[str]], runs: int) -> dict:
    from shotdex.render import RenderSettings
    from shotdex.render.words import render_with_words

    tess, own, _ = engines()
    res = {}
    for name, srcs in sets.items():
        got = render_with_words(srcs, RenderSettings(max_tiles=3))
        tiles = [t for t, _ in got]
        truth = [true_words(t, w) for t, w in got]
        tess.read_one(tiles[0].image), own.read_one(tiles[0].image, tiles[0].kind)  # warm both
        own.counts.__init__()
        cpu = {"tesseract": [], "shotdex": []}
        reads = {}
        for r in range(runs):
            for label, pool in (("tesseract", tess), ("shotdex", own)) if r % 2 == 0 else (("shotdex", own), ("tesseract", tess)):
                readings, per = read_all(pool, tiles)
                cpu[label].append(per)
                reads[label] = [[w.text for w in rd.words] for rd in readings]
        counts = own.counts.as_dict()
        counts = {k: v // runs for k, v in counts.items()}
        res[name] = {"sources": len(srcs), "tiles": len(tiles), "true_words": sum(len(t) for t in truth),
                     "counts": counts, "cpu": {k: statistics.median(v) for k, v in cpu.items()},
                     "cpu_runs": cpu,
                     "exact": {k: score(truth, v, False) for k, v in reads.items()},
                     "search": {k: score(truth, v, True) for k, v in reads.items()}}
        print(json.dumps({name: {k: res[name][k] for k in ("tiles", "cpu", "exact", "search", "counts")}}), flush=True)
    tess.close()
    own.close()
    return res


def retrieval(sets: list[str]) -> dict:
    from quality import SCRATCH, SETS, eval_args

    from shotdex.evaluate import evaluate
    from shotdex.index import open_index
    from shotdex.settings import Settings

    out = {}
    for name in sets:
        src = SCRATCH / name
        if not (src / "shotdex.json").exists():
            print(f"{name}: no quality database at {src} (run benchmarks/quality.py --sets {name} first)", flush=True)
            continue
        cfg = SETS[name]
        res = {}
        with tempfile.TemporaryDirectory(prefix=f"shotdex-reader-{name}-") as d:
            copy = Path(d) / "db"
            shutil.copytree(src, copy)
            t0 = time.perf_counter()
            # everything as the Tesseract database was made but the engine (the tagger too)
            opts = json.loads((src / "shotdex.json").read_text()).get("options") or {}
            s = Settings.from_env(db=copy, model="reader", reader_engine="shotdex", tagger=bool(opts.get("tagger", False)))
            with open_index(settings=s) as idx:
                n = idx.reembed()
            reread = time.perf_counter() - t0
            for label, db in (("tesseract", src), ("shotdex", copy)):
                with open_index(db=db) as idx:
                    r = evaluate(idx, cfg["queries"], cfg["corpus"], baselines=False, **eval_args(name))
                res[label] = r["ndcg@10"]
        res["tiles"] = n
        res["reread_s"] = round(reread, 1)
        out[name] = res
        print(json.dumps({name: res}), flush=True)
    return out


def index_speed(n: int, runs: int) -> dict:
    rng = random.Random(2)
    wtq = sorted(str(p) for p in (SHARED / "wtq-dev" / "corpus").glob("20[0-3]-csv/*.csv"))
    srcs = rng.sample(wtq, n)
    rates = {"tesseract": [], "shotdex": []}
    for r in range(runs):
        order = ("tesseract", "shotdex") if r % 2 == 0 else ("shotdex", "tesseract")
        for label in order:
            with tempfile.TemporaryDirectory(prefix="shotdex-reader-index-") as d:
                cmd = [sys.executable, "-m", "shotdex.cli", "index", *srcs, "--db", str(Path(d) / "db"), "--json",
                       "--reader-engine", label]
                env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                                        "MKL_NUM_THREADS")}
                t0 = time.perf_counter()
                p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
                secs = time.perf_counter() - t0
                if p.returncode != 0:
                    raise SystemExit(f"index with {label} failed: {p.stderr[-1500:]}")
                tiles = json.loads(p.stdout)["tiles"]
                rates[label].append(tiles / secs)
                print(f"index run {r + 1} {label}: {tiles} tiles in {secs:.1f} s", flush=True)
    return {"tables": n, "rates": rates, "median": {k: statistics.median(v) for k, v in rates.items()}}


def markdown(ws: dict, ret: dict, idx: dict, args) -> tuple[str, list[dict]]:
    lines = ["## shotdex's own reader vs Tesseract (issue 16)", "",
             f"`benchmarks/reader.py --tables {args.tables} --pages {args.pages} --runs {args.runs}"
             + (" --retrieval" if args.retrieval else "") + (f" --index-tables {args.index_tables}" if args.index_tables else "")
             + "`. Same tiles, same run. The recogniser trained only on made-up text (scripts/train_reader.py).", "",
             "| set | tiles | true words | engine | word recall | word precision | recall (search form) | precision (search form) | core-s / tile |",
             "|---|---|---|---|---|---|---|---|---|"]
    goals = []
    for name, r in ws.items():
        for eng in ("tesseract", "shotdex"):
            ex, se = r["exact"][eng], r["search"][eng]
            lines.append(f"| {name} | {r['tiles']} | {r['true_words']} | {eng} | {ex[0]:.3f} | {ex[1]:.3f} | {se[0]:.3f} | "
                         f"{se[1]:.3f} | {r['cpu'][eng]:.3f} |")
    lines.append("")
    for name, r in ws.items():
        c = r["counts"]
        lines.append(f"- {name}: of {c['tiles']} tiles, {c['tiles_tesseract']} went to Tesseract whole; of "
                     f"{c['segments']} segments (lines) read, {c['segments_tesseract']} "
                     f"({c['segments_tesseract'] / max(1, c['segments']):.1%}) had unsure words, and Tesseract read "
                     f"those {c['words_tesseract']} words again (with a sure word on either side for context). "
                     f"CPU per pass (s/tile): tesseract {', '.join(f'{v:.3f}' for v in r['cpu_runs']['tesseract'])}; "
                     f"shotdex {', '.join(f'{v:.3f}' for v in r['cpu_runs']['shotdex'])}.")
        t, o = r["search"]["tesseract"], r["search"]["shotdex"]
        goals.append({"issue": 16, "goal": f"{name} word recall >= Tesseract's", "measured": f"{o[0]:.3f} vs {t[0]:.3f}",
                      "met": o[0] >= t[0]})
        goals.append({"issue": 16, "goal": f"{name} word precision >= Tesseract's", "measured": f"{o[1]:.3f} vs {t[1]:.3f}",
                      "met": o[1] >= t[1]})
        ratio = r["cpu"]["shotdex"] / r["cpu"]["tesseract"]
        goals.append({"issue": 16, "goal": f"{name} core-s per tile <= 1/4 of Tesseract's", "measured": f"{ratio:.2f}x",
                      "met": ratio <= 0.25})
    if ret:
        lines += ["", "| set | tiles re-read | nDCG@10 tesseract | nDCG@10 shotdex | ratio |", "|---|---|---|---|---|"]
        for name, r in ret.items():
            ratio = r["shotdex"] / r["tesseract"]
            lines.append(f"| {name} | {r['tiles']} | {r['tesseract']:.3f} | {r['shotdex']:.3f} | {ratio:.3f} |")
            goals.append({"issue": 16, "goal": f"{name} nDCG@10 >= 0.99x Tesseract's", "measured": f"{ratio:.3f}x",
                          "met": ratio >= 0.99})
    if idx:
        m = idx["median"]
        lines += ["", f"Index path, `shotdex index` of {idx['tables']} wtq-dev tables, fresh database, median of "
                      f"{len(idx['rates']['tesseract'])}: tesseract {m['tesseract']:.2f} tiles/s, shotdex "
                      f"{m['shotdex']:.2f} tiles/s ({m['shotdex'] / m['tesseract']:.2f}x)."]
    return "\n".join(lines), goals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", type=int, default=60)
    ap.add_argument("--pages", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--retrieval", action="store_true")
    ap.add_argument("--index-tables", type=int, default=0)
    args = ap.parse_args()
    ws = words_and_speed(sample_sources(args.tables, args.pages), args.runs)
    ret = retrieval(["wtq-dev", "pydocs-dev"]) if args.retrieval else {}
    idx = index_speed(args.index_tables, args.runs) if args.index_tables else {}
    md, goals = markdown(ws, ret, idx, args)
    print(write_result("reader", md, goals))


if __name__ == "__main__":
    main()
