"""Charts: the figure tagger on real charts it never trained on, retrieval on the two chart sets, image ->
spec search, and what the tagger costs on the index path.

    nice -n 5 .venv/bin/python benchmarks/charts.py [--parts tagger retrieval image cost] [--scratch DIR]
    nice -n 5 .venv/bin/python benchmarks/charts.py --parts tagger --weights CANDIDATE.npz   # printed only

- tagger: every vega-gallery PNG (images/*.png), labelled from its own spec by `label()` below (the
  mapping is printed in the results), scored on the coarse figure types; per class and a confusion matrix.
  Beside it, the same score on fresh pictures from the training generator (scripts/train_tagger.py, a
  seed it never trained on): how far the real charts are from what it learned on.
- retrieval: vega-gallery and sklearn-gallery with benchmarks/quality.py's set definitions, through
  `shotdex.evaluate.evaluate` (what `shotdex eval` runs), into databases under --scratch.
- image: each vega-gallery PNG as an image query (`shotdex search --image`) against an index of the
  specs alone; Recall@1 / @5 (the relevant source is the PNG's own spec).
- cost: read-stage tiles/s (OCR + sentence model, the index path's bound) with and without the tagger on
  the same tiles, median of 5 runs each, interleaved (each going first in turn), one thread each; then the
  tagger alone on those tiles (ms a tile, one thread, median of 5 runs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("LANCEDB_LOG", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from common import RESULTS, SHARED, fmt, header, write_result  # noqa: E402

VEGA = SHARED / "vega-gallery"
SCRATCH = Path(os.environ.get("SHOTDEX_BENCH_SCRATCH", "/tmp/shotdex-bench"))
CHART_GROUPS = ("bar", "histogram", "line", "area", "scatter", "pie", "heatmap", "boxplot", "map")
MAPPING = """A spec's label comes from its mark and encodings: a facet/repeat takes its inner spec, a layer its
first layer that has a mark and draws something (a layer at opacity 0 until hovered or selected is not on
the picture; with the outer encoding); concatenations of several views are left out
(no single type). bar with a binned x or y -> histogram, else bar; line, trail -> line; area -> area;
point, circle, square -> scatter; arc -> pie; rect -> heatmap; boxplot -> boxplot; geoshape -> map;
tick, rule, text, image, errorbar and others -> left out (no class of the tagger)."""
_MARKS = {"bar": "bar", "line": "line", "trail": "line", "area": "area", "point": "scatter", "circle": "scatter",
          "square": "scatter", "arc": "pie", "rect": "heatmap", "boxplot": "boxplot", "geoshape": "map"}


def label(spec: dict, outer: dict | None = None, skip_unseen: bool = True) -> str | None:
    """The coarse figure type a Vega-Lite spec draws (see MAPPING), or None. `skip_unseen=False`: the
    mapping before 2026-12-07, which took a layer drawn at opacity 0 too."""
    types = drawn(spec, outer, skip_unseen)
    return types[0] if types else None


def drawn(spec: dict, outer: dict | None = None, skip_unseen: bool = True) -> list[str]:
    """Every figure type a spec draws, in drawing order: each of a layer's layers (label() is the first)."""
    enc = {**(outer or {}), **(spec.get("encoding") or {})}
    if isinstance(spec.get("spec"), dict):
        return drawn(spec["spec"], enc, skip_unseen)
    if isinstance(spec.get("layer"), list):
        return [k for layer in spec["layer"] if not (skip_unseen and _unseen(layer)) for k in drawn(layer, enc, skip_unseen)]
    if any(k in spec for k in ("hconcat", "vconcat", "concat")):
        return []
    mark = spec.get("mark")
    mark = mark.get("type") if isinstance(mark, dict) else mark
    kind = _MARKS.get(mark)
    if kind == "bar" and any(isinstance(enc.get(c), dict) and enc[c].get("bin") for c in ("x", "y")):
        return ["histogram"]
    return [kind] if kind else []


def _unseen(layer: dict) -> bool:
    """A mark layer drawn at opacity 0 (its mark's, or an opacity encoding's value without a field: a
    condition, such as a hover, only shows it on interaction); a static picture does not show it."""
    mark, op = layer.get("mark"), (layer.get("encoding") or {}).get("opacity")
    return mark is not None and ((isinstance(mark, dict) and mark.get("opacity") == 0)
                                 or (isinstance(op, dict) and "field" not in op and op.get("value") == 0))


def tagger_part(weights: Path | None = None) -> dict:
    from PIL import Image

    from shotdex.embed.tagger import Tagger, prepare

    tagger = Tagger(weights)
    rows, left_out, members, earlier, layers = [], [], [], [], []
    for png in sorted((VEGA / "images").glob("*.png")):
        spec_path = VEGA / "specs" / (png.stem + ".vl.json")
        spec = json.loads(spec_path.read_text()) if spec_path.exists() else {}
        truth = label(spec)
        if truth is None:
            left_out.append(png.stem)
            continue
        with Image.open(png) as im:
            x = prepare(im.convert("RGB"))
        rows.append((png.stem, truth, _group_of(tagger, tagger.forward(x)[0])))
        members.append([_group_of(tagger, p) == truth for p, _ in tagger.runs(x)])
        earlier.append(label(spec, skip_unseen=False))
        layers.append(drawn(spec))
    right = sum(t == p for _, t, p in rows)
    relabelled = [(s, e, t) for (s, t, _), e in zip(rows, earlier) if e != t]
    per = {g: (sum(1 for _, t, p in rows if t == g and p == g), sum(1 for _, t, _ in rows if t == g)) for g in CHART_GROUPS}
    preds = sorted({p for _, _, p in rows} | set(CHART_GROUPS), key=lambda g: (g not in CHART_GROUPS, g))
    confusion = {t: {p: sum(1 for _, a, b in rows if a == t and b == p) for p in preds} for t in CHART_GROUPS}
    halves = {h: [i for i, (s, _, _) in enumerate(rows) if split_of(s) == h] for h in ("tune", "held-out")}
    return {"n": len(rows), "accuracy": right / max(1, len(rows)), "per_class": per, "confusion": confusion,
            "halves": {h: (sum(rows[i][1] == rows[i][2] for i in ix), len(ix)) for h, ix in halves.items()},
            "members": [{h: sum(members[i][j] for i in ix) for h, ix in halves.items()} for j in range(len(tagger.models))],
            "preds": preds, "left_out": left_out, "wrong": [(s, t, p) for s, t, p in rows if t != p],
            "weights": tagger.hash, "synthetic": synthetic_accuracy(tagger), "relabelled": relabelled,
            "earlier_accuracy": sum(e == p for (_, _, p), e in zip(rows, earlier)) / max(1, len(rows)),
            "other_layer": [(s, t, p) for (s, t, p), kinds in zip(rows, layers) if t != p and p in kinds]}


def synthetic_accuracy(tagger, seed: int = 99, per_vega: int = 24, per_mpl: int = 8) -> dict:
    """The tagger's coarse-type accuracy on fresh pictures of every chart class from its own training
    generator, with a seed the shipped weights were not trained on (they used 13)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_tagger as tt

    from shotdex.embed.tagger import CHARTS, GROUPS, prepare

    right = n = 0
    for ci, kind in enumerate(CHARTS):
        rng = np.random.default_rng([seed, ci])
        pics = [tt.draw_vega(kind, rng) for _ in range(per_vega)] + [tt.draw_mpl(kind, rng) for _ in range(per_mpl)]
        for pic in pics:
            right += _group_of(tagger, tagger.forward(prepare(pic))[0]) == GROUPS[kind]
            n += 1
    return {"seed": seed, "n": n, "accuracy": right / n}


def _group_of(tagger, probs) -> str:
    from shotdex.embed.tagger import GROUPS

    groups: dict[str, float] = {}
    for c, p in zip(tagger.classes, probs):
        groups[GROUPS[c]] = groups.get(GROUPS[c], 0.0) + float(p)
    return max(groups, key=groups.get)


def retrieval_part(names: list[str], file_names: bool = True) -> dict:
    """file_names=False: the ablation, with SHOTDEX_CAPTION_NAMES=0 into databases of their own, in rows of
    their own ("<set> (file names off)")."""
    from quality import SETS, command_line, eval_args

    from shotdex.evaluate import evaluate
    from shotdex.index import open_index
    from shotdex.settings import Settings

    quality = ROOT / "benchmarks" / "results" / "quality.json"
    before = json.loads(quality.read_text()) if quality.exists() else {}
    out = {}
    for set_name in names:
        cfg, name, db = SETS[set_name], set_name, SCRATCH / set_name
        if not file_names:
            name, db = f"{set_name} (file names off)", SCRATCH / f"{set_name}-no-names"
        idx = open_index(db=db, settings=Settings.from_env().replace(caption_names=file_names))
        try:
            t0 = time.perf_counter()
            r = evaluate(idx, cfg["queries"], cfg["corpus"], **eval_args(set_name))
            out[name] = {k: r[k] for k in ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "queries")}
            out[name]["seconds"] = round(time.perf_counter() - t0)
            out[name]["date"] = time.strftime("%Y-%m-%d")  # sets not given keep their own row and date
            out[name]["before"] = before.get(set_name, {}).get("ndcg@10")
            out[name]["command"] = ("" if file_names else "SHOTDEX_CAPTION_NAMES=0 ") + command_line(set_name).replace(
                " --baselines", "").split(" --plot")[0].replace(str(Path("/tmp/shotdex-bench")), str(SCRATCH)).replace(
                f"--db {SCRATCH / set_name}", f"--db {db}")
        finally:
            idx.close()
        print(f"[charts] {name}: {out[name]}", flush=True)
    return out


VISUAL_WEIGHTS = (0.0, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)  # below 1: an image query keeps its reading path


def split_of(qid: str) -> str:
    return "tune" if int(hashlib.sha1(qid.encode()).hexdigest(), 16) % 2 == 0 else "held-out"


def image_part() -> dict:
    """Image -> spec through `shotdex eval` at the default weight, then every visual weight (for query
    pictures the tagger does not call text, Fusion.for_picture) on the same candidates: chosen on the
    tune half (a hash of the chart's name), reported on the held-out half."""
    from dataclasses import replace

    from shotdex.evaluate import evaluate
    from shotdex.index import open_index
    from shotdex.index.api import _open_query_image
    from shotdex.index.search import FUSION, candidates, rank_candidates

    pngs = [p for p in sorted((VEGA / "images").glob("*.png")) if (VEGA / "specs" / f"{p.stem}.vl.json").exists()]
    queries = SCRATCH / "vega-image-queries.jsonl"
    queries.parent.mkdir(parents=True, exist_ok=True)
    queries.write_text("".join(json.dumps({"id": p.stem, "image": f"images/{p.name}", "relevant": [f"specs/{p.stem}.vl.json"]}) + "\n"
                               for p in pngs))
    idx = open_index(db=SCRATCH / "vega-specs")
    try:
        r = evaluate(idx, queries, VEGA, include=["specs/*.vl.json"], k=10)
        right: dict[float, dict[str, list[int]]] = {w: {"tune": [], "held-out": []} for w in VISUAL_WEIGHTS}
        snap = idx.store.snapshot()
        for p in pngs:
            reading = idx.embedder.embed_tiles([_open_query_image(p, 10**9)])[0]
            text = reading.text or None
            # the candidates `shotdex eval` ranks (it searches 20 deep: search_store's depth for k = 20)
            cands = candidates(snap, reading.vector, text, depth=200, hybrid=True, visual=reading.visual,
                               page_fields=FUSION.page_fields())
            for w in VISUAL_WEIGHTS:
                hits = rank_candidates(cands, text, k=1, fusion=replace(FUSION, visual_weight=w).for_picture(reading.tag))
                right[w][split_of(p.stem)].append(int(bool(hits) and hits[0].source.endswith(f"specs/{p.stem}.vl.json")))
    finally:
        idx.close()
    mean = lambda xs: sum(xs) / max(1, len(xs))  # noqa: E731
    table = {w: {part: mean(v) for part, v in parts.items()} | {"n": {part: len(v) for part, v in parts.items()}}
             for w, parts in right.items()}
    chosen = max(VISUAL_WEIGHTS, key=lambda w: (table[w]["tune"], -abs(w - FUSION.visual_weight)))
    return {k: r[k] for k in ("recall@1", "recall@5", "recall@10", "queries")} | {
        "command": f"shotdex eval {queries} --corpus {VEGA} --db {SCRATCH / 'vega-specs'} --include 'specs/*.vl.json'",
        "default_weight": FUSION.visual_weight, "chosen": chosen, "weights": {str(w): t for w, t in table.items()}}


def cost_part(n: int = 40, runs: int = 5) -> dict:
    from shotdex import Settings
    from shotdex.embed.reader import ReaderEmbedder
    from shotdex.render import Renderer

    sources = sorted((VEGA / "specs").glob("*.vl.json"))[:n // 2] + sorted((SHARED / "wtq-dev" / "corpus").rglob("*.csv"))[:n // 2]
    images = []
    with Renderer() as r:
        for s in sources:
            res = r.render(str(s))
            images += [t.image for t in res.tiles[:1]]
    embedders = {"without": ReaderEmbedder(settings=Settings(ocr_workers=1), tagger=False),
                 "with": ReaderEmbedder(settings=Settings(ocr_workers=1), tagger=True)}
    out: dict = {name: [] for name in embedders}
    try:
        for emb in embedders.values():
            emb.embed_readings([emb.read_tile(images[0])])  # load the model, OCR and tagger first
        for run in range(runs):  # interleaved, each going first in turn: drift on a shared machine hits both
            for name in (("without", "with") if run % 2 == 0 else ("with", "without")):
                emb = embedders[name]
                t0 = time.perf_counter()
                emb.embed_readings([emb.read_tile(im) for im in images])
                out[name].append(len(images) / (time.perf_counter() - t0))
    finally:
        for emb in embedders.values():
            emb.close()
    from threadpoolctl import threadpool_limits

    from shotdex.embed.tagger import Tagger

    tagger, ms = Tagger(), []
    with threadpool_limits(1):  # the limit is per tile on one core
        for _ in range(runs):
            t0 = time.perf_counter()
            for im in images:
                tagger.figure(im)
            ms.append((time.perf_counter() - t0) * 1000 / len(images))
    return out | {"tiles": len(images), "tagger_ms": ms}


def markdown(res: dict) -> str:
    out = ["## Charts: figure tagger, caption band, visual vector (`benchmarks/charts.py`)", "",
           "Each section names the command that measured it.", ""]
    t = res.get("tagger")
    if t:
        out += [f"### Tagger on the vega-gallery PNGs (never trained on; weights {t['weights']})", "",
                f"`{t['argv']}`", "", f"Accuracy **{t['accuracy']:.3f}** over {t['n']} charts ({len(t['left_out'])} left out: no single type).", "",
                *([f"By half (split by a hash of the chart's name, as for the image queries below; changes to the "
                   "training generator are chosen from the tune half's errors only): " + ", ".join(
                       f"{h} {r}/{n} = {r / max(1, n):.3f}" for h, (r, n) in t["halves"].items()) + ". Each model of "
                   "the ensemble alone (how much a retrained model moves by its seed alone): " + "; ".join(
                       f"model {j}: " + ", ".join(f"{h} {r}" for h, r in m.items()) for j, m in enumerate(t["members"]))
                   + ".", ""] if "halves" in t else []),
                *([f"On {t['synthetic']['n']} fresh pictures from its own training generator (scripts/train_tagger.py, "
                   f"seed {t['synthetic']['seed']}, never trained on): {t['synthetic']['accuracy']:.3f}; the gap is "
                   "how far the real charts are from what it learned on.", ""] if "synthetic" in t else []),
                MAPPING, "",
                *([f"With the earlier mapping (a layer at opacity 0 taken too, until 2026-12-07) the same weights score "
                   f"{t['earlier_accuracy']:.3f}; it labels {len(t['relabelled'])} charts otherwise: " + ", ".join(
                       f"{s} ({e} then, {n} now)" for s, e, n in t["relabelled"]) + ".", ""] if "relabelled" in t else []),
                "| class | right | charts | accuracy |", "|---|---|---|---|"]
        for g, (a, b) in t["per_class"].items():
            out.append(f"| {g} | {a} | {b} | {a / b:.2f} |" if b else f"| {g} | 0 | 0 | - |")
        out += ["", "Confusion (rows: label from the spec, columns: tagger):", "",
                "| label | " + " | ".join(t["preds"]) + " |", "|---" * (len(t["preds"]) + 1) + "|"]
        for g, row in t["confusion"].items():
            out.append(f"| {g} | " + " | ".join(str(row[p]) for p in t["preds"]) + " |")
        out += ["", "Wrong: " + ", ".join(f"{s} ({a} -> {b})" for s, a, b in t["wrong"]), ""]
        if "other_layer" in t:
            k = len(t["other_layer"])
            out += [f"For information, not the measure above: {k} of the {len(t['wrong'])} wrong tags name the type of "
                    "another layer the same spec draws (a layered chart is labelled by its first drawn layer): "
                    + ", ".join(f"{s} ({a} -> {b})" for s, a, b in t["other_layer"])
                    + f". Taking any drawn layer's type as right would give {(t['accuracy'] * t['n'] + k) / max(1, t['n']):.3f}; "
                    "the target stays scored by the first-layer mapping.", ""]
    r = res.get("retrieval")
    if r:
        out += ["### Retrieval (default embedder: caption band, file-name titles, tagger)", "", f"`{r['argv']}`", "",
                "nDCG@10 before: what benchmarks/results/quality.json (benchmarks/quality.py) last measured on the "
                "same set, with the tagger weights shipped when it ran.", "",
                "| set | measured | queries | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 | nDCG@10 before | command |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for name, m in r.items():
            if name == "argv":
                continue
            before = "-" if m.get("before") is None else f"{m['before']:.3f}"
            out.append(f"| {name} | {m.get('date', 'an earlier run')} | {m['queries']} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['recall@10']:.3f} | "
                       f"{m['mrr@10']:.3f} | {m['ndcg@10']:.3f} | {before} | `{m['command']}` |")
        out.append("")
    i = res.get("image")
    if i:
        out += ["### Image -> spec (each vega-gallery PNG as `--image` query, corpus: the specs alone)", "",
                f"`{i['argv']}`", "",
                f"At the default visual weight ({i['default_weight']}), all {i['queries']} queries, as `{i['command']}`: "
                f"Recall@1 **{i['recall@1']:.3f}**, Recall@5 {i['recall@5']:.3f}, Recall@10 {i['recall@10']:.3f}.", "",
                "Recall@1 at each visual weight (the share of visual similarity in an image query's ranking), on the "
                "same candidates; the halves are split by a hash of the chart's name, the weight is chosen on the tune "
                "half only:", "", "| visual weight | tune | held-out | all |", "|---|---|---|---|"]
        for w, t in i["weights"].items():
            n = t["n"]
            both = (t["tune"] * n["tune"] + t["held-out"] * n["held-out"]) / max(1, n["tune"] + n["held-out"])
            out.append(f"| {w}{' (chosen)' if float(w) == i['chosen'] else ''} | {t['tune']:.3f} | {t['held-out']:.3f} | {both:.3f} |")
        held = i["weights"][str(i["chosen"])]
        out += ["", f"Chosen on the tune half ({held['n']['tune']} queries): {i['chosen']}; held-out half "
                f"({held['n']['held-out']} queries) Recall@1 **{held['held-out']:.3f}**.", ""]
    c = res.get("cost")
    if c:
        import statistics

        w, wo = statistics.median(c["with"]), statistics.median(c["without"])
        out += ["### Cost on the index path", "", f"`{c['argv']}`", "",
                f"Read stage (OCR + sentence model, one thread) over {c['tiles']} tiles (vega specs and wtq tables), "
                "runs interleaved:",
                f"without the tagger {fmt(c['without'], ' tiles/s')}; with it {fmt(c['with'], ' tiles/s')}: "
                f"**{(1 - w / wo) * 100:+.1f}%** slower.", "",
                *([f"The tagger alone (`Tagger.figure`: caption cut, trim, resize, every model; one thread) on the same "
                   f"tiles: {fmt(c['tagger_ms'], ' ms a tile')}.", ""] if "tagger_ms" in c else [])]
    return "\n".join(out)


def goals(res: dict) -> list[dict]:
    """The issue's targets that the parts on record measure."""
    out = []
    if "tagger" in res:
        a = res["tagger"]["accuracy"]
        out.append({"issue": 13, "goal": "tagger accuracy >= 0.85 on the vega-gallery PNGs", "measured": f"{a:.3f}", "met": a >= 0.85,
                    "date": res["tagger"].get("date")})
    for name, target in (("vega-gallery", 0.25), ("sklearn-gallery", 0.42)):
        m = res.get("retrieval", {}).get(name)
        if m:
            out.append({"issue": 13, "goal": f"{name} nDCG@10 >= {target}", "measured": f"{m['ndcg@10']:.3f}",
                        "met": m["ndcg@10"] >= target, "date": m.get("date")})
    for name in ("wtq-dev", "pydocs-dev"):
        m = res.get("retrieval", {}).get(name)
        if m and m.get("before") is not None:
            d = m["ndcg@10"] - m["before"]
            out.append({"issue": 13, "goal": f"{name} nDCG@10 no worse than before the tagger change (within 0.005)",
                        "measured": f"{d:+.3f} ({m['ndcg@10']:.3f} vs {m['before']:.3f}; measured {m.get('date', 'before 2026-12-06')})",
                        "met": d >= -0.005, "date": m.get("date")})
    i = res.get("image")
    if i and "weights" in i:
        held = i["weights"][str(i["chosen"])]["held-out"]
        out.append({"issue": 13, "goal": "image -> spec Recall@1 >= 0.90 (held-out half; all queries at the default weight)",
                    "measured": f"{held:.3f} ({i['recall@1']:.3f})", "met": held >= 0.90 and i["recall@1"] >= 0.90,
                    "date": i.get("date")})
    c = res.get("cost")
    if c:
        import statistics

        slower = 1 - statistics.median(c["with"]) / statistics.median(c["without"])
        out.append({"issue": 13, "goal": "index path <= 10% slower with the tagger", "measured": f"{slower * 100:+.1f}%",
                    "met": slower <= 0.10, "date": c.get("date")})
        if "tagger_ms" in c:
            ms = statistics.median(c["tagger_ms"])
            out.append({"issue": 13, "goal": "tagger <= 15 ms a tile on one core", "measured": f"{ms:.1f} ms",
                        "met": ms <= 15, "date": c.get("date")})
    return out


def main() -> None:
    global SCRATCH
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["tagger", "retrieval", "image", "cost"],
                    choices=["tagger", "retrieval", "image", "cost"])
    ap.add_argument("--sets", nargs="+", default=["vega-gallery", "sklearn-gallery"])
    ap.add_argument("--scratch", type=Path, default=SCRATCH)
    ap.add_argument("--weights", type=Path, help="tagger: score these candidate weights (a scripts/train_tagger.py "
                    "--out file) instead of the shipped ones; printed only, the results on record stay the shipped ones")
    ap.add_argument("--no-file-names", action="store_true",
                    help="retrieval: the ablation without file-name titles (SHOTDEX_CAPTION_NAMES=0), in rows of its own")
    args = ap.parse_args()
    SCRATCH = args.scratch
    argv = ("nice -n 5 .venv/bin/python benchmarks/charts.py " + " ".join(sys.argv[1:])).strip()
    if args.weights:
        if args.parts != ["tagger"]:
            ap.error("--weights scores a candidate tagger: use it with --parts tagger alone")
        print(markdown({"tagger": {**tagger_part(args.weights), "argv": argv}}))
        return
    raw = ROOT / "benchmarks" / "results" / "charts.json"
    res = json.loads(raw.read_text()) if raw.exists() else {}
    if "tagger" in args.parts:
        res["tagger"] = tagger_part()
        print(f"[charts] tagger accuracy {res['tagger']['accuracy']:.3f} over {res['tagger']['n']}", flush=True)
    if "image" in args.parts:
        res["image"] = image_part()
        print(f"[charts] image -> spec {res['image']}", flush=True)
    if "retrieval" in args.parts:
        res["retrieval"] = {**res.get("retrieval", {}), **retrieval_part(args.sets, not args.no_file_names)}
    if "cost" in args.parts:
        res["cost"] = cost_part()
        print(f"[charts] cost {res['cost']}", flush=True)
    for part in args.parts:
        res[part]["argv"] = argv
    # parts may run as separate processes at once: merge into what is on disk now
    res = {**(json.loads(raw.read_text()) if raw.exists() else {}), **{p: res[p] for p in args.parts}}
    # each part's goals carry the day it was measured (a part recorded before parts were dated: the
    # day of the charts.md it was last written into, at the latest); retrieval dates each set itself
    before = header(RESULTS / "charts.md")["date"][:10] or None
    for name, part in res.items():
        if name != "retrieval":
            part["date"] = time.strftime("%Y-%m-%d") if name in args.parts else part.get("date", before)
    raw.write_text(json.dumps(res, indent=1))
    print(f"wrote {write_result('charts', markdown(res), goals(res))}")


if __name__ == "__main__":
    main()
