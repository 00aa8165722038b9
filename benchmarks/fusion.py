"""Choose the hybrid fusion rule by measurement: vector only, full text only, and fusion rules, per set.

    .venv/bin/python benchmarks/fusion.py [--sets wtq-dev pydocs-dev ...] [--refresh]

Runs over the databases that benchmarks/quality.py builds (same sources, same queries). For every
query it asks the index once for the top tiles by vector and by full text (LanceDB FTS over the text
the reader read), exactly as `shotdex search` does (`shotdex.index.search.candidates`), keeps each
source's best tile in each list, and then ranks the sources by each rule below. The candidate lists
are cached next to the database (<scratch>/<set>.cands.pkl) so rules can be compared in seconds.

To guard against tuning to the test queries, each set's queries are split in two by a hash of their id.
The rule is chosen in code on the "tune" half alone (the best mean nDCG@10 over the sets it is chosen on;
then, since margins between rules are small, the simplest rule whose paired bootstrap 95% interval of the
difference to that best one reaches 0), and reported on the "held-out" half, with bootstrap 95% intervals
for its nDCG@10 and for its difference to the better of its two inputs (vector only, full text only).
A candidate cache older than its index is never used: it is recomputed.
Writes benchmarks/results/fusion.md.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import pickle
import random
import sys
from pathlib import Path
from typing import Callable

os.environ.setdefault("LANCEDB_LOG", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from common import write_result  # noqa: E402
from quality import SETS, db_for, eval_args  # noqa: E402

from shotdex.evaluate import DEPTH, rank_metrics  # noqa: E402
from shotdex.index.search import FUSION, Fusion, fuse, page_text_scores  # noqa: E402

KEYS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
Scores = dict[str, float]


# -- rules: (vector scores, text scores) per source -> fused scores (higher is better) ---------------
def _minmax(d: Scores) -> Scores:
    if not d:
        return {}
    lo, hi = min(d.values()), max(d.values())
    return {k: (v - lo) / (hi - lo) if hi - lo > 1e-12 else 1.0 for k, v in d.items()}


def _maxnorm(d: Scores) -> Scores:
    top = max(d.values(), default=0.0)
    return {k: v / top if top > 0 else 0.0 for k, v in d.items()}


def _z(d: Scores) -> Scores:
    if len(d) < 2:
        return {k: 1.0 for k in d}
    vals = list(d.values())
    mu = sum(vals) / len(vals)
    sd = math.sqrt(sum((x - mu) ** 2 for x in vals) / len(vals)) or 1.0
    return {k: (v - mu) / sd for k, v in d.items()}


def _ranks(d: Scores) -> dict[str, int]:
    return {k: i for i, k in enumerate(sorted(d, key=lambda s: (-d[s], s)), 1)}


def weighted(nv: Callable, nt: Callable, w: float, floor: float = 0.0):
    def rule(v: Scores, t: Scores, q=None, p=None) -> Scores:
        if not t:
            return dict(v)
        a, b = nv(v), nt(t)
        return {k: (1 - w) * a.get(k, floor) + w * b.get(k, floor) for k in set(a) | set(b)}
    return rule


def zsum(w: float):
    def rule(v: Scores, t: Scores, q=None, p=None) -> Scores:
        if not t:
            return dict(v)
        a, b = _z(v), _z(t)
        fa, fb = min(a.values(), default=0) - 1, min(b.values(), default=0) - 1  # missing: below the list
        return {k: (1 - w) * a.get(k, fa) + w * b.get(k, fb) for k in set(a) | set(b)}
    return rule


def text_only(v: Scores, t: Scores, q=None, p=None) -> Scores:
    return dict(t)


def vector_only(v: Scores, t: Scores, q=None, p=None) -> Scores:
    return dict(v)


def margin(t: Scores) -> float:
    """How far the best full-text source stands above the second, as a share of the best score."""
    top = sorted(t.values(), reverse=True)[:2]
    if not top or top[0] <= 0:
        return 0.0
    return (top[0] - (top[1] if len(top) > 1 else 0.0)) / top[0]


def adaptive(w0: float, gain: float, base_norm: Callable = _minmax):
    """Text weight grows with the full-text margin: w = min(0.95, w0 + gain * margin)."""
    def rule(v: Scores, t: Scores, q=None, p=None) -> Scores:
        if not t:
            return dict(v)
        w = min(0.95, w0 + gain * margin(t))
        a, b = base_norm(v), _maxnorm(t)
        return {k: (1 - w) * a.get(k, 0.0) + w * b.get(k, 0.0) for k in set(a) | set(b)}
    return rule


def via(f: Fusion):
    """A rule computed by the production code (shotdex.index.search.fuse) with these settings."""
    rule = lambda v, t, q=None, p=None: fuse(v, page_text_scores(t, p or {}, f), f, q)  # noqa: E731
    rule.fusion = f
    return rule


def fixed(**kw) -> Fusion:
    """A Fusion without the per-query choice by query length."""
    return Fusion(short_query_words=0, **kw)


def rules() -> dict[str, Callable]:
    out: dict[str, Callable] = {
        "vector only": vector_only,
        "full text only (read text)": text_only,
        "**default** (shotdex.index.search.FUSION)": via(FUSION),
        "old default: scores, minmax(vec) + max(text), w=0.5": via(fixed(text_weight=0.5)),
    }
    for w in (0.3, 0.4, 0.6, 0.7, 0.8):
        out[f"scores, w={w}"] = via(fixed(text_weight=w))
    out["minmax both, w=0.5"] = weighted(_minmax, _minmax, 0.5)
    for w in (0.5, 0.7):
        out[f"z-score sum, w={w}"] = zsum(w)
    for k in (5, 20, 60):
        out[f"RRF k={k}"] = via(fixed(method="rrf", rrf_k=k, text_weight=0.5))
        out[f"RRF k={k}, text weight 0.67"] = via(fixed(method="rrf", rrf_k=k, text_weight=0.67))
    for theta in (0.1, 0.2, 0.3, 0.5):
        out[f"choice: text first if margin>={theta}, else RRF k=60"] = via(fixed(method="rrf", text_first_margin=theta, text_weight=0.5))
        out[f"choice: text first if margin>={theta}, else scores w=0.5"] = via(fixed(text_first_margin=theta, text_weight=0.5))
    for words, short, long_ in ((4, 0.8, 0.6), (5, 0.8, 0.6), (6, 0.8, 0.6), (4, 0.8, 0.5), (4, 0.7, 0.6), (4, 0.9, 0.6)):
        out[f"choice: w={short} if query <= {words} words, else w={long_}"] = via(
            Fusion(short_query_words=words, short_text_weight=short, text_weight=long_))
    for w0, gain in ((0.3, 1.0), (0.4, 1.0), (0.5, 1.0), (0.4, 2.0)):
        out[f"adaptive: w = {w0} + {gain} x margin"] = adaptive(w0, gain)
    return out


# -- candidates -------------------------------------------------------------------------------------
def split_of(qid: str) -> str:
    return "tune" if int(hashlib.sha1(qid.encode()).hexdigest(), 16) % 2 == 0 else "held-out"


def load_candidates(name: str, refresh: bool = False) -> list[dict]:
    """Per text query: id, relevant, per-source best vector and full-text scores (cached)."""
    cache = db_for(name).with_suffix(".cands.pkl")
    if cache.exists() and not refresh and cache.stat().st_mtime >= _db_mtime(name):
        out = pickle.loads(cache.read_bytes())
        if all("p" in c for c in out):  # else written before the page scores were kept: recompute
            return out
    from shotdex.index import open_index
    from shotdex.evaluate import prepare
    from shotdex.index.search import candidates, source_scores

    cfg = SETS[name]
    sources, queries = prepare(cfg["queries"], cfg["corpus"], **eval_args(name))
    present = set(sources)
    queries = [q for q in queries if q.query and any(r in present for r in q.relevant)]
    idx = open_index(db=db_for(name))
    try:
        vecs = idx.embedder.embed_queries([q.query for q in queries])
        out = []
        for q, vec in zip(queries, vecs):
            c = candidates(idx.store, vec, q.query, depth=max(DEPTH * 10, 50))
            v, t = source_scores(c)
            out.append({"id": q.id, "q": q.query, "relevant": q.relevant, "v": v, "t": t, "p": c.pages})
    finally:
        idx.close()
    cache.write_bytes(pickle.dumps(out))
    return out


def _db_mtime(name: str) -> float:
    files = [p.stat().st_mtime for p in db_for(name).rglob("*") if p.is_file()]
    return max(files, default=0.0)


def score(cands: list[dict], rule: Callable, which: str | None = None) -> dict:
    """Metrics of a rule over the queries of one half (or all), plus each query's nDCG@10 (`_ndcg`)."""
    chosen = [c for c in cands if which is None or split_of(c["id"]) == which]
    rankings = []
    for c in chosen:
        f = rule(c["v"], c["t"], c.get("q"), c.get("p"))
        rankings.append(sorted(f, key=lambda s: (-f[s], s))[:DEPTH])
    per_query = [rank_metrics([r], [c["relevant"]])["ndcg@10"] for r, c in zip(rankings, chosen)]
    return {"queries": len(chosen), **rank_metrics(rankings, [c["relevant"] for c in chosen]), "_ndcg": per_query}


BOOT = 2000  # bootstrap resamples


def boot_ci(per_set: list[list[float]], seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean over sets of each set's mean, resampling queries within each set."""
    rng = random.Random(seed)
    means = []
    for _ in range(BOOT):
        tot = 0.0
        for xs in per_set:
            tot += sum(xs[rng.randrange(len(xs))] for _ in xs) / len(xs) if xs else 0.0
        means.append(tot / len(per_set))
    means.sort()
    return means[int(0.025 * BOOT)], means[int(0.975 * BOOT) - 1]


def paired(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    """Per-query differences a - b, set by set (the same queries in the same order)."""
    return [[x - y for x, y in zip(xa, xb)] for xa, xb in zip(a, b)]


def complexity(name: str) -> int:
    """Free parameters of a rule (fewer is simpler): inputs alone 0, a fixed weight 1, RRF or a margin
    choice 2, a choice by query length 3."""
    if name in ("vector only", "full text only (read text)"):
        return 0
    if name.startswith("**default**") or "words, else" in name:
        return 3
    if "RRF" in name or "margin" in name or "adaptive" in name:
        return 2
    return 1


def choose(table: dict, sets: list[str]) -> dict:
    """The rule chosen on the tune half alone (see the module docstring), with its evidence."""
    names = [r for r in next(iter(table.values())) if complexity(r) > 0]
    tune = {r: [table[s][r]["tune"]["_ndcg"] for s in sets] for r in names}
    mean = {r: sum(sum(x) / len(x) for x in tune[r]) / len(sets) for r in names}
    best = max(names, key=lambda r: mean[r])
    close = {r: boot_ci(paired(tune[r], tune[best])) for r in names}
    tied = [r for r in names if close[r][1] >= 0]
    chosen = min(tied, key=lambda r: (complexity(r), -mean[r]))
    return {"best": best, "chosen": chosen, "tied": tied, "tune_mean": mean, "tune_diff_ci": close}


def run_rules(name: str, only=None, refresh: bool = False) -> dict:
    """{rule name: metrics over all queries} for one set (used by quality.py for the parts rows)."""
    cands = load_candidates(name, refresh)
    return {r: {k: v for k, v in score(cands, fn).items() if k != "_ndcg"}
            for r, fn in rules().items() if only is None or r in only}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["wtq-dev", "pydocs-dev", "vega-gallery", "sklearn-gallery"],
                    choices=list(SETS))
    ap.add_argument("--refresh", action="store_true", help="Recompute the cached candidate lists.")
    args = ap.parse_args()
    table: dict[str, dict[str, dict]] = {}
    for name in args.sets:
        cands = load_candidates(name, args.refresh)
        table[name] = {}
        for rname, fn in rules().items():
            table[name][rname] = {part: score(cands, fn, part) for part in ("tune", "held-out")}
            table[name][rname]["all"] = score(cands, fn)
    path = write_result("fusion", markdown(table))
    print(path.read_text())


def markdown(table: dict[str, dict[str, dict]]) -> str:
    sets = list(table)
    names = list(next(iter(table.values())))
    chosen_on = [s for s in ("wtq-dev", "pydocs-dev") if s in sets] or sets
    pick = choose(table, chosen_on)
    chosen, best = pick["chosen"], pick["best"]
    is_default = chosen.startswith("**default**") or getattr(rules()[chosen], "fusion", None) == FUSION
    out = [
        "## Fusion rules (`benchmarks/fusion.py`)",
        "",
        "nDCG@10 per set over the same index and the same candidate lists (top 200 tiles by vector, top 200 by "
        "LanceDB full text over the read text; each source scored by its best tile in each list). `margin` is "
        "(best - second best full-text source score) / best. Columns: tune half / held-out half / all queries "
        "(split by a hash of the query id). The rule is chosen on the tune half only; the held-out half reports it.",
        "",
        "| rule | params | " + " | ".join(f"{s} nDCG@10 (tune / held-out / all)" for s in sets) + " | tune mean, chosen-on sets |",
        "|---|---|" + "---|" * (len(sets) + 1),
    ]
    for r in names:
        cells = [f"{table[s][r]['tune']['ndcg@10']:.3f} / {table[s][r]['held-out']['ndcg@10']:.3f} / "
                 f"{table[s][r]['all']['ndcg@10']:.3f}" for s in sets]
        tm = pick["tune_mean"].get(r)
        mark = " **(chosen)**" if r == chosen else " (best on tune)" if r == best else ""
        out.append(f"| {r}{mark} | {complexity(r)} | " + " | ".join(cells) + f" | {'' if tm is None else f'{tm:.3f}'} |")
    lo, hi = pick["tune_diff_ci"][chosen]
    out += ["", f"**Choice, on the tune half of {' and '.join(chosen_on)}:** the best mean nDCG@10 is `{best}` "
                f"({pick['tune_mean'][best]:.3f}); {len(pick['tied'])} of {len(pick['tune_mean'])} rules have a paired bootstrap "
                f"95% interval of their difference to it that reaches 0; the simplest of those (fewest parameters, then "
                f"the higher tune mean) is chosen: `{chosen}` (tune mean {pick['tune_mean'][chosen]:.3f}, difference to the "
                f"best [{lo:+.3f}, {hi:+.3f}]). " + ("It is the current default (`Fusion()` in shotdex/index/search.py)."
                                                    if is_default else
                                                    "It is not the current default (`Fusion()` in shotdex/index/search.py): "
                                                    "see the held-out rows below before changing it."), "",
            "**Held out** (queries never used to choose), per set: nDCG@10 with its bootstrap 95% interval, and the "
            "difference to the better of the rule's two inputs on that half, with its paired interval:", "",
            "| set | rule | held-out nDCG@10 [95% CI] | better input | difference [95% CI] |", "|---|---|---|---|---|"]
    for s in sets:
        held = table[s]
        inputs = ("vector only", "full text only (read text)")
        better = max(inputs, key=lambda r: held[r]["held-out"]["ndcg@10"])
        for r in dict.fromkeys([chosen, best, "**default** (shotdex.index.search.FUSION)"]):
            xs = held[r]["held-out"]["_ndcg"]
            clo, chi = boot_ci([xs])
            dlo, dhi = boot_ci(paired([xs], [held[better]["held-out"]["_ndcg"]]))
            diff = held[r]["held-out"]["ndcg@10"] - held[better]["held-out"]["ndcg@10"]
            out.append(f"| {s} | {r} | {held[r]['held-out']['ndcg@10']:.3f} [{clo:.3f}, {chi:.3f}] | {better} "
                       f"({held[better]['held-out']['ndcg@10']:.3f}) | {diff:+.3f} [{dlo:+.3f}, {dhi:+.3f}] |")
    out += ["", "Queries per set: " + ", ".join(f"{s} {table[s]['vector only']['all']['queries']} "
                                               f"(tune {table[s]['vector only']['tune']['queries']})" for s in sets), ""]
    out += ["### All metrics, all queries", ""]
    for s in sets:
        out += [f"#### {s}", "", "| rule | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 |", "|---|---|---|---|---|---|"]
        for r in names:
            m = table[s][r]["all"]
            out.append(f"| {r} | " + " | ".join(f"{m[k]:.3f}" for k in KEYS) + " |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
