"""Page-level evidence and layout against text retrieval: weights chosen on one half, reported on the other.

    .venv/bin/python benchmarks/pages.py [--sets wtq-dev pydocs-dev] [--refresh]

Needs the databases and per-query files that benchmarks/quality.py writes (run it first: it indexes each
set and scores the text-only baselines over the renderer's true text, tile by tile and whole page).
For every query the index is asked once for its candidates, exactly as `shotdex search` does
(`shotdex.index.search.candidates`: top tiles by vector and by full text, and each candidate source's
BM25 over its page fields: whole read text, heading lines, title; see shotdex/index/layout.py). Then
each setting of page_weight x heading_boost x title_boost (shotdex.index.search.Fusion; the other
fusion settings are the default's) ranks the sources. Queries are split in two by a hash of their id
(benchmarks/fusion.py's split): the setting is chosen on the tune half of all sets together (best mean
nDCG@10; then, since margins are small, the one with the fewest non-zero weights whose paired
bootstrap 95% interval of the difference to the best reaches 0), and only the held-out half reports it,
against every text-only baseline of quality.py on the same queries, with bootstrap 95% intervals.
Latency: the held-out queries through `Index.search` with the chosen setting (p50, p95).
Writes benchmarks/results/pages.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("LANCEDB_LOG", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

from common import percentile, write_result  # noqa: E402
from fusion import boot_ci, load_candidates, paired, score, split_of, via  # noqa: E402
from quality import SCRATCH, SETS, db_for  # noqa: E402

from shotdex.index.search import FUSION  # noqa: E402

PAGE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
BOOSTS = (0.0, 0.5, 1.0, 2.0)
TODAY = replace(FUSION, page_weight=0.0, heading_boost=0.0, title_boost=0.0)  # tile evidence only


def settings() -> dict[tuple, object]:
    out = {}
    for p, h, t in itertools.product(PAGE_WEIGHTS, BOOSTS, BOOSTS):
        if p == 0 and (h or t):
            continue  # without the page side the boosts do nothing
        out[(p, h, t)] = replace(FUSION, page_weight=p, heading_boost=h, title_boost=t)
    return out


def label(key: tuple) -> str:
    p, h, t = key
    return "tile evidence only (before)" if p == 0 else f"page_weight={p}, heading_boost={h}, title_boost={t}"


def choose(per: dict, sets: list[str]) -> tuple[tuple, tuple, dict]:
    """(best, chosen, tune means) over the tune halves of `sets`."""
    mean = {k: sum(sum(per[s][k]) / len(per[s][k]) for s in sets) / len(sets) for k in per[sets[0]]}
    best = max(mean, key=lambda k: (mean[k], -sum(1 for x in k if x)))
    tied = [k for k in mean if boot_ci(paired([per[s][k] for s in sets], [per[s][best] for s in sets]))[1] >= 0]
    chosen = min(tied, key=lambda k: (sum(1 for x in k if x), -mean[k]))
    return best, chosen, mean


def baselines(name: str, ids: list[str]) -> dict[str, list[float]]:
    """Each system's per-query nDCG@10 from quality.py's run, in the order of ids."""
    path = SCRATCH / f"{name}.perquery.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run benchmarks/quality.py --sets {name} first")
    data = json.loads(path.read_text())
    pos = {q: i for i, q in enumerate(data["ids"])}
    missing = [q for q in ids if q not in pos]
    if missing:
        raise SystemExit(f"{path} lacks {len(missing)} of the queries (stale): rerun benchmarks/quality.py")
    return {sysname: [vals[pos[q]] for q in ids] for sysname, vals in data["systems"].items()}


def latency(name: str, queries: list[dict], fusion) -> dict:
    from shotdex.index import open_index

    idx = open_index(db=db_for(name))
    try:
        idx.search(text=queries[0]["q"], k=10, fusion=fusion)  # warm: model and tables loaded
        ms = []
        for c in queries:
            t0 = time.perf_counter()
            idx.search(text=c["q"], k=10, fusion=fusion)
            ms.append((time.perf_counter() - t0) * 1000)
    finally:
        idx.close()
    return {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "n": len(ms)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["wtq-dev", "pydocs-dev"], choices=list(SETS))
    ap.add_argument("--refresh", action="store_true", help="Recompute the cached candidate lists.")
    args = ap.parse_args()
    grid = settings()
    cands = {s: load_candidates(s, args.refresh) for s in args.sets}
    tune = {s: {k: score(cands[s], via(f), "tune")["_ndcg"] for k, f in grid.items()} for s in args.sets}
    best, chosen, mean = choose(tune, args.sets)
    out = [
        "## Page-level evidence and layout (`benchmarks/pages.py`)", "",
        __doc__.split("\n\n", 2)[2].split("Writes")[0].strip().replace("\n", " "), "",
        f"**Chosen on the tune half** (mean nDCG@10 over {', '.join(args.sets)}): `{label(chosen)}` "
        f"(tune mean {mean[chosen]:.3f}); best on tune `{label(best)}` ({mean[best]:.3f}); before (tile evidence "
        f"only) {mean[(0.0, 0.0, 0.0)]:.3f}. {len(grid)} settings compared.", "",
    ]
    goals = []
    for s in args.sets:
        held = [c for c in cands[s] if split_of(c["id"]) == "held-out"]
        ids = [c["id"] for c in held]
        base = baselines(s, ids)
        mine = score(cands[s], via(grid[chosen]), "held-out")["_ndcg"]
        before = score(cands[s], via(TODAY), "held-out")["_ndcg"]
        text_only = {k: v for k, v in base.items() if not k.startswith("shotdex")}
        strongest = max(text_only, key=lambda k: sum(text_only[k]))
        lat = latency(s, held[:300], grid[chosen])
        mean_of = lambda xs: sum(xs) / len(xs)  # noqa: E731
        out += [f"### {s}: held-out half ({len(held)} queries)", "",
                "| system | nDCG@10 [95% CI] | difference to the strongest text-only baseline [95% CI] |", "|---|---|---|"]
        rows = [(f"**shotdex, chosen setting** ({label(chosen)})", mine), ("shotdex, tile evidence only (before)", before)]
        rows += sorted(text_only.items(), key=lambda kv: -sum(kv[1]))
        for nm, xs in rows:
            lo, hi = boot_ci([xs])
            dlo, dhi = boot_ci(paired([xs], [text_only[strongest]]))
            out.append(f"| {nm} | {mean_of(xs):.3f} [{lo:.3f}, {hi:.3f}] | {mean_of(xs) - mean_of(text_only[strongest]):+.3f} "
                       f"[{dlo:+.3f}, {dhi:+.3f}] |")
        ratio = mean_of(mine) / mean_of(text_only[strongest]) if mean_of(text_only[strongest]) else float("nan")
        dlo, dhi = boot_ci(paired([mine], [before]))
        out += ["", f"- strongest text-only baseline: {strongest}; shotdex / it = **{ratio:.3f}**",
                f"- chosen minus before: {mean_of(mine) - mean_of(before):+.3f} [{dlo:+.3f}, {dhi:+.3f}]",
                f"- query latency through `Index.search` with the chosen setting ({lat['n']} held-out queries): "
                f"p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms", ""]
        if s == "pydocs-dev":
            goals.append({"issue": 17, "goal": "pydocs-dev nDCG@10 >= 1.03 x the best text-only baseline (held-out half)",
                          "measured": f"{ratio:.3f} x {strongest} ({mean_of(mine):.3f} vs {mean_of(text_only[strongest]):.3f})",
                          "met": ratio >= 1.03})
        if s == "wtq-dev":
            d = mean_of(mine) - mean_of(before)
            goals.append({"issue": 17, "goal": "wtq-dev nDCG@10 not lower than before by more than 0.005 (held-out half)",
                          "measured": f"{d:+.3f} ({mean_of(mine):.3f} vs {mean_of(before):.3f})", "met": d >= -0.005})
        goals.append({"issue": 17, "goal": f"query latency p50 <= 60 ms ({s})", "measured": f"{lat['p50']:.1f} ms",
                      "met": lat["p50"] <= 60})
    out += ["### Tune-half means of every setting", "", "| setting | tune mean nDCG@10 |", "|---|---|"]
    out += [f"| {label(k)} | {mean[k]:.3f} |" for k in sorted(mean, key=lambda k: -mean[k])]
    path = write_result("pages", "\n".join(out) + "\n", goals=goals)
    print(path.read_text())


if __name__ == "__main__":
    main()
