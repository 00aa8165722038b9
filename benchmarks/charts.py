"""Charts: the figure tagger on real charts it never trained on, retrieval on the two chart sets, image ->
spec search, and what the tagger costs on the index path.

    nice -n 5 .venv/bin/python benchmarks/charts.py [--parts tagger retrieval image cost] [--scratch DIR]

- tagger: every vega-gallery PNG (images/*.png), labelled from its own spec by `label()` below (the
  mapping is printed in the results), scored on the coarse figure types; per class and a confusion matrix.
- retrieval: vega-gallery and sklearn-gallery with benchmarks/quality.py's set definitions, through
  `shotdex.evaluate.evaluate` (what `shotdex eval` runs), into databases under --scratch.
- image: each vega-gallery PNG as an image query (`shotdex search --image`) against an index of the
  specs alone; Recall@1 / @5 (the relevant source is the PNG's own spec).
- cost: read-stage tiles/s (OCR + sentence model, the index path's bound) with and without the tagger on
  the same tiles, median of 3 runs, one thread each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LANCEDB_LOG", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from common import SHARED, fmt, write_result  # noqa: E402

VEGA = SHARED / "vega-gallery"
SCRATCH = Path(os.environ.get("SHOTDEX_BENCH_SCRATCH", "/tmp/shotdex-bench"))
CHART_GROUPS = ("bar", "histogram", "line", "area", "scatter", "pie", "heatmap", "boxplot", "map")
MAPPING = """A spec's label comes from its mark and encodings: a facet/repeat takes its inner spec, a layer its
first layer that has a mark (with the outer encoding); concatenations of several views are left out
(no single type). bar with a binned x or y -> histogram, else bar; line, trail -> line; area -> area;
point, circle, square -> scatter; arc -> pie; rect -> heatmap; boxplot -> boxplot; geoshape -> map;
tick, rule, text, image, errorbar and others -> left out (no class of the tagger)."""
_MARKS = {"bar": "bar", "line": "line", "trail": "line", "area": "area", "point": "scatter", "circle": "scatter",
          "square": "scatter", "arc": "pie", "rect": "heatmap", "boxplot": "boxplot", "geoshape": "map"}


def label(spec: dict, outer: dict | None = None) -> str | None:
    """The coarse figure type a Vega-Lite spec draws (see MAPPING), or None."""
    enc = {**(outer or {}), **(spec.get("encoding") or {})}
    if isinstance(spec.get("spec"), dict):
        return label(spec["spec"], enc)
    if isinstance(spec.get("layer"), list):
        for layer in spec["layer"]:
            got = label(layer, enc)
            if got:
                return got
        return None
    if any(k in spec for k in ("hconcat", "vconcat", "concat")):
        return None
    mark = spec.get("mark")
    mark = mark.get("type") if isinstance(mark, dict) else mark
    kind = _MARKS.get(mark)
    if kind == "bar" and any(isinstance(enc.get(c), dict) and enc[c].get("bin") for c in ("x", "y")):
        return "histogram"
    return kind


def tagger_part() -> dict:
    from PIL import Image

    from shotdex.embed.tagger import GROUPS, Tagger, prepare

    tagger = Tagger()
    rows, left_out = [], []
    for png in sorted((VEGA / "images").glob("*.png")):
        spec_path = VEGA / "specs" / (png.stem + ".vl.json")
        truth = label(json.loads(spec_path.read_text())) if spec_path.exists() else None
        if truth is None:
            left_out.append(png.stem)
            continue
        with Image.open(png) as im:
            probs, _ = tagger.forward(prepare(im.convert("RGB")))
        groups: dict[str, float] = {}
        for c, p in zip(tagger.classes, probs):
            groups[GROUPS[c]] = groups.get(GROUPS[c], 0.0) + float(p)
        rows.append((png.stem, truth, max(groups, key=groups.get)))
    right = sum(t == p for _, t, p in rows)
    per = {g: (sum(1 for _, t, p in rows if t == g and p == g), sum(1 for _, t, _ in rows if t == g)) for g in CHART_GROUPS}
    preds = sorted({p for _, _, p in rows} | set(CHART_GROUPS), key=lambda g: (g not in CHART_GROUPS, g))
    confusion = {t: {p: sum(1 for _, a, b in rows if a == t and b == p) for p in preds} for t in CHART_GROUPS}
    return {"n": len(rows), "accuracy": right / max(1, len(rows)), "per_class": per, "confusion": confusion,
            "preds": preds, "left_out": left_out, "wrong": [(s, t, p) for s, t, p in rows if t != p],
            "weights": tagger.hash}


def retrieval_part(names: list[str]) -> dict:
    from quality import SETS, command_line, eval_args

    from shotdex.evaluate import evaluate
    from shotdex.index import open_index

    out = {}
    for name in names:
        cfg = SETS[name]
        idx = open_index(db=SCRATCH / name)
        try:
            t0 = time.perf_counter()
            r = evaluate(idx, cfg["queries"], cfg["corpus"], **eval_args(name))
            out[name] = {k: r[k] for k in ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "queries")}
            out[name]["seconds"] = round(time.perf_counter() - t0)
            out[name]["command"] = command_line(name).replace(" --baselines", "").split(" --plot")[0].replace(
                str(Path("/tmp/shotdex-bench")), str(SCRATCH))
        finally:
            idx.close()
        print(f"[charts] {name}: {out[name]}", flush=True)
    return out


def image_part() -> dict:
    from shotdex.evaluate import evaluate
    from shotdex.index import open_index

    queries = SCRATCH / "vega-image-queries.jsonl"
    lines = [json.dumps({"id": p.stem, "image": f"images/{p.name}", "relevant": [f"specs/{p.stem}.vl.json"]})
             for p in sorted((VEGA / "images").glob("*.png")) if (VEGA / "specs" / f"{p.stem}.vl.json").exists()]
    queries.parent.mkdir(parents=True, exist_ok=True)
    queries.write_text("\n".join(lines) + "\n")
    idx = open_index(db=SCRATCH / "vega-specs")
    try:
        r = evaluate(idx, queries, VEGA, include=["specs/*.vl.json"], k=10)
    finally:
        idx.close()
    return {k: r[k] for k in ("recall@1", "recall@5", "recall@10", "queries")} | {
        "command": f"shotdex eval {queries} --corpus {VEGA} --db {SCRATCH / 'vega-specs'} --include 'specs/*.vl.json'"}


def cost_part(n: int = 40, runs: int = 3) -> dict:
    from shotdex import Settings
    from shotdex.embed.reader import ReaderEmbedder
    from shotdex.render import Renderer

    sources = sorted((VEGA / "specs").glob("*.vl.json"))[:n // 2] + sorted((SHARED / "wtq-dev" / "corpus").rglob("*.csv"))[:n // 2]
    images = []
    with Renderer() as r:
        for s in sources:
            res = r.render(str(s))
            images += [t.image for t in res.tiles[:1]]
    out = {}
    for on in (False, True):
        emb = ReaderEmbedder(settings=Settings(ocr_workers=1), tagger=on)
        emb.embed_readings([emb.read_tile(images[0])])  # load the model, OCR and tagger first
        rates = []
        for _ in range(runs):
            t0 = time.perf_counter()
            emb.embed_readings([emb.read_tile(im) for im in images])
            rates.append(len(images) / (time.perf_counter() - t0))
        emb.close()
        out["with" if on else "without"] = rates
    return out | {"tiles": len(images)}


def markdown(res: dict) -> str:
    out = ["## Charts: figure tagger, caption band, visual vector (`benchmarks/charts.py`)", "",
           "Each section names the command that measured it.", ""]
    t = res.get("tagger")
    if t:
        out += [f"### Tagger on the vega-gallery PNGs (never trained on; weights {t['weights']})", "",
                f"`{t['argv']}`", "", f"Accuracy **{t['accuracy']:.3f}** over {t['n']} charts ({len(t['left_out'])} left out: no single type).", "",
                MAPPING, "", "| class | right | charts | accuracy |", "|---|---|---|---|"]
        for g, (a, b) in t["per_class"].items():
            out.append(f"| {g} | {a} | {b} | {a / b:.2f} |" if b else f"| {g} | 0 | 0 | - |")
        out += ["", "Confusion (rows: label from the spec, columns: tagger):", "",
                "| label | " + " | ".join(t["preds"]) + " |", "|---" * (len(t["preds"]) + 1) + "|"]
        for g, row in t["confusion"].items():
            out.append(f"| {g} | " + " | ".join(str(row[p]) for p in t["preds"]) + " |")
        out += ["", "Wrong: " + ", ".join(f"{s} ({a} -> {b})" for s, a, b in t["wrong"]), ""]
    r = res.get("retrieval")
    if r:
        out += ["### Retrieval (default embedder with caption band and tagger)", "", f"`{r['argv']}`", "",
                "| set | queries | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 | command |", "|---|---|---|---|---|---|---|---|"]
        for name, m in r.items():
            if name == "argv":
                continue
            out.append(f"| {name} | {m['queries']} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['recall@10']:.3f} | "
                       f"{m['mrr@10']:.3f} | {m['ndcg@10']:.3f} | `{m['command']}` |")
        out.append("")
    i = res.get("image")
    if i:
        out += ["### Image -> spec (each vega-gallery PNG as `--image` query, corpus: the specs alone)", "",
                f"{i['queries']} queries: Recall@1 **{i['recall@1']:.3f}**, Recall@5 {i['recall@5']:.3f}, "
                f"Recall@10 {i['recall@10']:.3f}.", "", f"`{i['argv']}` (as `{i['command']}`)", ""]
    c = res.get("cost")
    if c:
        import statistics

        w, wo = statistics.median(c["with"]), statistics.median(c["without"])
        out += ["### Cost on the index path", "", f"`{c['argv']}`", "",
                f"Read stage (OCR + sentence model, one thread) over {c['tiles']} tiles (vega specs and wtq tables):",
                f"without the tagger {fmt(c['without'], ' tiles/s')}; with it {fmt(c['with'], ' tiles/s')}: "
                f"**{(1 - w / wo) * 100:+.1f}%** slower.", ""]
    return "\n".join(out)


def main() -> None:
    global SCRATCH
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["tagger", "retrieval", "image", "cost"],
                    choices=["tagger", "retrieval", "image", "cost"])
    ap.add_argument("--sets", nargs="+", default=["vega-gallery", "sklearn-gallery"])
    ap.add_argument("--scratch", type=Path, default=SCRATCH)
    args = ap.parse_args()
    SCRATCH = args.scratch
    raw = ROOT / "benchmarks" / "results" / "charts.json"
    res = json.loads(raw.read_text()) if raw.exists() else {}
    argv = ("nice -n 5 .venv/bin/python benchmarks/charts.py " + " ".join(sys.argv[1:])).strip()
    if "tagger" in args.parts:
        res["tagger"] = tagger_part()
        print(f"[charts] tagger accuracy {res['tagger']['accuracy']:.3f} over {res['tagger']['n']}", flush=True)
    if "image" in args.parts:
        res["image"] = image_part()
        print(f"[charts] image -> spec {res['image']}", flush=True)
    if "retrieval" in args.parts:
        res["retrieval"] = {**res.get("retrieval", {}), **retrieval_part(args.sets)}
    if "cost" in args.parts:
        res["cost"] = cost_part()
        print(f"[charts] cost {res['cost']}", flush=True)
    for part in args.parts:
        res[part]["argv"] = argv
    # parts may run as separate processes at once: merge into what is on disk now
    res = {**(json.loads(raw.read_text()) if raw.exists() else {}), **{p: res[p] for p in args.parts}}
    raw.write_text(json.dumps(res, indent=1))
    print(f"wrote {write_result('charts', markdown(res))}")


if __name__ == "__main__":
    main()
