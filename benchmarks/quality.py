"""Retrieval quality on the four shared sets, through the same code as `shotdex eval --baselines`.

    .venv/bin/python benchmarks/quality.py [--sets wtq-dev pydocs-dev ...] [--scratch /tmp/shotdex-bench]

Each set is indexed into its own database under --scratch (outside the repo, so reruns are
incremental and only run the queries), then evaluated with `shotdex.evaluate.evaluate`, the
function behind `shotdex eval`, with the text-only baselines over the renderer's true text.
Writes benchmarks/results/quality.md, one Recall@k plot per set (quality-<set>.png) and the raw
figures (quality.json, read by run_all.py and fusion.py).

Which sources each set indexes (SETS below), and why:
- wtq-dev: the whole corpus (1,679 tables) and all 2,000 queries (a 300-table sample made the
  baselines look far better than on a large corpus: bm25s R@10 0.765 there vs ~0.41 on the whole).
- pydocs-dev: the corpus root also holds the reST sources of every page (`_sources/*.txt`, near
  copies of the pages but a different source, so a hit there would count as a miss) and scripts;
  only the `*.html` pages are indexed, all of them, with all 800 queries.
- vega-gallery: every spec (`specs/*.vl.json`) and every image (`images/*.png`), not the data files
  that specs read (`specs/data/`).
- sklearn-gallery: only the gallery figures (`_images/*.png`, thumbnails included: near copies that
  are not relevant, the hardest distractors); 200 of 788: 100 asked-about figures, 100 others.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("LANCEDB_LOG", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from common import RESULTS, SHARED, write_result  # noqa: E402

SCRATCH = Path(os.environ.get("SHOTDEX_BENCH_SCRATCH", "/tmp/shotdex-bench"))

SETS: dict[str, dict] = {
    "wtq-dev": dict(queries=SHARED / "wtq-dev" / "queries.jsonl", corpus=SHARED / "wtq-dev" / "corpus",
                    seed=0),
    "pydocs-dev": dict(queries=SHARED / "pydocs-dev" / "queries.jsonl", corpus=Path("/usr/share/doc/python3.11/html"),
                       include=["*.html"], seed=0),
    "vega-gallery": dict(queries=SHARED / "vega-gallery" / "queries.jsonl", corpus=SHARED / "vega-gallery",
                         include=["specs/*.vl.json", "images/*.png"], seed=0),
    "sklearn-gallery": dict(queries=SHARED / "sklearn-gallery" / "queries.jsonl",
                            corpus=Path("/usr/share/doc/python-sklearn-doc/html"),
                            include=["_images/*.png"], sample=200, relevant_share=0.5, seed=0),
}
KEYS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")


def db_for(name: str) -> Path:
    return SCRATCH / name


def eval_args(name: str) -> dict:
    """The keyword arguments of evaluate()/prepare() for a set (without queries and corpus)."""
    cfg = SETS[name]
    return {k: v for k, v in cfg.items() if k not in ("queries", "corpus", "dense_baselines")}


def command_line(name: str) -> str:
    """The `shotdex eval` line that this set's figures correspond to."""
    cfg = SETS[name]
    parts = [f"shotdex eval {cfg['queries']} --corpus {cfg['corpus']} --db {db_for(name)} --baselines"]
    for pat in cfg.get("include") or []:
        parts.append(f"--include '{pat}'")
    if cfg.get("sample"):
        parts.append(f"--sample {cfg['sample']} --seed {cfg.get('seed', 0)}")
    if cfg.get("relevant_share") is not None:
        parts.append(f"--relevant-share {cfg['relevant_share']:.3g}")
    parts.append(f"--plot benchmarks/results/quality-{name}.png")
    return " ".join(parts)


def run_set(name: str) -> dict:
    from shotdex.index import open_index
    from shotdex.evaluate import evaluate, plot_recall

    cfg = SETS[name]
    db_for(name).parent.mkdir(parents=True, exist_ok=True)
    idx = open_index(db=db_for(name))
    t0 = time.perf_counter()
    try:
        result = evaluate(idx, cfg["queries"], cfg["corpus"], baselines=True,
                          dense_baselines=cfg.get("dense_baselines", True), **eval_args(name))
        result["_stats"] = {"tiles": idx.stats().tiles, "failed": idx.stats().failed}
    finally:
        idx.close()
    result["_seconds"] = round(time.perf_counter() - t0, 1)
    plot_recall(result, RESULTS / f"quality-{name}.png", title=name)
    shrink_png(RESULTS / f"quality-{name}.png")
    return result


def save_per_query(name: str, r: dict) -> None:
    """Each query's nDCG@10 for shotdex and every baseline, next to the database (read by pages.py for
    paired comparisons on halves of the set); the results file keeps only the totals."""
    ids = [q["id"] for q in r.get("per_query", [])]
    out = {"ids": ids, "systems": {"shotdex (default, hybrid)": [q.get("ndcg@10", 0.0) for q in r.get("per_query", [])]}}
    for bname, m in (r.get("baselines") or {}).items():
        if "_ndcg" in m and len(m["_ndcg"]) == len(ids):
            out["systems"][bname] = m.pop("_ndcg")
    SCRATCH.mkdir(parents=True, exist_ok=True)
    (SCRATCH / f"{name}.perquery.json").write_text(json.dumps(out))


def shrink_png(path: Path, colors: int = 48) -> None:
    """Palette PNG: a line chart needs few colours, and the file is committed."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=colors)
    small.save(path, optimize=True)


def row(name: str, m: dict) -> str:
    return f"| {name} | " + " | ".join(f"{m[k]:.3f}" for k in KEYS) + " |"


def markdown(results: dict[str, dict]) -> str:
    out = [
        "## Retrieval quality (`benchmarks/quality.py`)",
        "",
        "shotdex default (`reader` embedder: Tesseract-read text + all-MiniLM-L6-v2; hybrid search with the "
        "default fusion, see fusion.md) against text-only baselines over the renderer's own true text of the "
        "same tiles, in the same run. Per-source results; a query counts as found at k when any tile of any "
        "relevant source is in the top k.",
        "",
    ]
    for name, r in results.items():
        corpus = r["_corpus"]
        out += [
            f"### {name}",
            "",
            f"{r['queries']} queries over {corpus['sources']} sources ({corpus['tiles']} tiles, "
            f"{corpus['failed']} failed to render); {r['missing']['count']} queries skipped (relevant source "
            f"not in the sample). Query latency p50 {r['latency_ms']['p50']} ms, p95 {r['latency_ms']['p95']} ms.",
            "",
            f"`{command_line(name)}`",
            "",
            "| system | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 |",
            "|---|---|---|---|---|---|",
            row("**shotdex (default, hybrid)**", r),
        ]
        for part, m in (r.get("_parts") or {}).items():
            out.append(row(f"shotdex {part}", m))
        for bname, m in (r.get("baselines") or {}).items():
            out.append(row(bname, m))
        for kind, m in r.get("by_kind", {}).items():
            out.append(row(f"shotdex, {kind} sources only ({m['queries']} queries)", m))
        out += ["", f"![Recall@k on {name}](quality-{name}.png)", ""]
    out += goals(results)
    return "\n".join(out)


def goals(results: dict[str, dict]) -> list[str]:
    """The two goals these figures are held against, computed from the rows above."""
    out = ["### Goals", "",
           "Issue 5: shotdex's default nDCG@10 >= the best text-only baseline over the true text (same run). "
           "Issue 3: reading keeps >= 0.97 of the true-text Recall@10 and nDCG@10 (the same retriever over "
           "the read text vs over the true text).", "",
           "| set | shotdex nDCG@10 | best true-text baseline | its nDCG@10 | met | best single true-text retriever "
           "(no fusion) | met | vector: read / true, R@10 | nDCG@10 | full text: read / true, R@10 | nDCG@10 |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("wtq-dev", "pydocs-dev"):
        r = results.get(name)
        if not r or not r.get("baselines") or not r.get("_parts"):
            continue
        b = r["baselines"]
        best = max(b, key=lambda n: b[n]["ndcg@10"])
        single = max((n for n in b if "fusion" not in n), key=lambda n: b[n]["ndcg@10"])

        def met(x, y):
            return "yes" if x >= y else f"no, {x - y:+.3f}"
        vec, txt = r["_parts"]["vector only"], r["_parts"]["full text only (read text)"]
        sv, ft = b.get("sentence model (true text)"), b["full text, LanceDB FTS (true text)"]

        def ratio(a, c, key):
            if c is None:
                return "n/a (not run)"
            x = a[key] / c[key] if c[key] else float("nan")
            return f"{x:.3f}" + ("" if x >= 0.97 else " (below 0.97)")

        out.append(f"| {name} | {r['ndcg@10']:.3f} | {best} | {b[best]['ndcg@10']:.3f} | {met(r['ndcg@10'], b[best]['ndcg@10'])} | "
                   f"{single}: {b[single]['ndcg@10']:.3f} | {met(r['ndcg@10'], b[single]['ndcg@10'])} | "
                   f"{ratio(vec, sv, 'recall@10')} | {ratio(vec, sv, 'ndcg@10')} | {ratio(txt, ft, 'recall@10')} | {ratio(txt, ft, 'ndcg@10')} |")
    return out + [""]


def parts(name: str) -> dict:
    """Vector-only and full-text-only rankings of the same index (from fusion.py's candidates)."""
    from fusion import run_rules

    return run_rules(name, only=("vector only", "full text only (read text)"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--report", action="store_true", help="Only rewrite quality.md from quality.json.")
    args = ap.parse_args()
    raw_path = RESULTS / "quality.json"
    old = json.loads(raw_path.read_text()) if raw_path.exists() else {}
    for name in [] if args.report else args.sets:
        print(f"[quality] {name} ...", flush=True)
        r = run_set(name)
        try:
            r["_parts"] = parts(name)
        except Exception as exc:  # the parts are extra rows; the main figures stand without them
            print(f"[quality] {name}: parts failed: {exc}", flush=True)
        print(f"[quality] {name}: {r['queries']} queries in {r['_seconds']} s: "
              + ", ".join(f"{k} {r[k]:.3f}" for k in KEYS), flush=True)
        save_per_query(name, r)
        r.pop("per_query", None)
        old[name] = r
    RESULTS.mkdir(parents=True, exist_ok=True)
    # Sets may run in separate processes at once: keep what the others wrote meanwhile.
    latest = json.loads(raw_path.read_text()) if raw_path.exists() else {}
    old = {**latest, **{n: old[n] for n in ([] if args.report else args.sets)}}
    raw_path.write_text(json.dumps(old, indent=1))
    ordered = {n: old[n] for n in SETS if n in old}
    path = write_result("quality", markdown(ordered))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
