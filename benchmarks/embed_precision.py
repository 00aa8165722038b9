"""bf16 against float32 for the tiles' sentence model: same texts, same queries, one run.

    .venv/bin/python benchmarks/embed_precision.py [--queries 600] [--distractors 600] [--set DIR]

The index path embeds tiles' texts with bf16 products where the CPU has them (SHOTDEX_EMBED_PRECISION=auto,
shotdex/embed/bf16_bert.py) while queries run in float32. This measures what that costs in ranking on
real material: wtq-dev queries (seed 1) against their tables plus as many other tables, each table's first
60 lines as its text (about a tile's worth), dense retrieval only (the sentence model alone, no full
text, so any difference shows undiluted). Reports nDCG@10 with float32 and with bf16 document vectors,
the paired difference with a bootstrap 95% interval, how many queries' top 10 changed at all, the cosine
between each document's two vectors, and CPU-seconds per document of each.
Writes benchmarks/results/embed_precision.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from common import SHARED, write_result  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=600)
    ap.add_argument("--distractors", type=int, default=600)
    ap.add_argument("--set", type=Path, default=SHARED / "wtq-dev")
    args = ap.parse_args()

    from shotdex.embed import bf16_bert
    from shotdex.embed.sentence import default_model_dir, load_sentence_model, one_blas_thread
    from shotdex.evaluate.metrics import rank_metrics

    if not bf16_bert.supported():
        sys.exit("this CPU has no native bfloat16 arithmetic: auto runs float32 here, nothing to compare")
    rng = random.Random(1)
    queries = [json.loads(line) for line in (args.set / "queries.jsonl").read_text().splitlines() if line.strip()]
    queries = rng.sample(queries, min(args.queries, len(queries)))
    corpus = args.set / "corpus"
    docs = sorted({r for q in queries for r in q["relevant"]})
    others = sorted({str(p.relative_to(corpus)) for p in corpus.glob("*/*.csv")} - set(docs))
    docs += rng.sample(others, min(args.distractors, len(others)))
    texts = ["\n".join((corpus / d).read_text(errors="replace").splitlines()[:60]).replace(",", " ") for d in docs]

    model = load_sentence_model(default_model_dir())
    vecs, cpu = {}, {}
    with one_blas_thread():
        for precision in ("fp32", "bf16"):
            model.encode(texts[:2], precision=precision)  # load outside the count
            c0 = time.process_time()
            vecs[precision] = np.concatenate([model.encode([t], precision=precision) for t in texts])
            cpu[precision] = (time.process_time() - c0) / len(texts)
        qv = model.encode([q["query"] for q in queries])
    relevant = [set(q["relevant"]) for q in queries]
    rankings, per_query = {}, {}
    for precision, v in vecs.items():
        order = np.argsort(-(qv @ v.T), axis=1, kind="stable")[:, :10]
        rankings[precision] = [[docs[i] for i in row] for row in order]
        per_query[precision] = np.array([rank_metrics([r], [rel])["ndcg@10"] for r, rel in zip(rankings[precision], relevant)])
    diff = per_query["bf16"] - per_query["fp32"]
    boot = np.random.default_rng(1)
    means = [diff[boot.integers(0, len(diff), len(diff))].mean() for _ in range(2000)]
    lo, hi = np.percentile(means, [2.5, 97.5])
    changed = sum(a != b for a, b in zip(rankings["fp32"], rankings["bf16"]))
    cos = np.sum(vecs["fp32"] * vecs["bf16"], axis=1)
    lines = [
        "## Tiles' sentence model in bf16 against float32 (`benchmarks/embed_precision.py`)", "",
        f"Command: `python benchmarks/embed_precision.py --queries {args.queries} --distractors {args.distractors}`; "
        f"{len(queries)} wtq-dev queries (seed 1) against {len(docs)} tables (theirs and others), each table's first "
        "60 lines as its text; dense retrieval alone (all-MiniLM-L6-v2), queries in float32 both times.", "",
        "| documents embedded with | nDCG@10 | CPU-s per document (one thread) |", "|---|---|---|",
        f"| float32 (numpy) | {per_query['fp32'].mean():.4f} | {cpu['fp32']:.4f} |",
        f"| bf16 products (torch, the index path's default here) | {per_query['bf16'].mean():.4f} | {cpu['bf16']:.4f} |",
        "",
        f"- bf16 - float32, nDCG@10: {diff.mean():+.4f}, bootstrap 95% interval [{lo:+.4f}, {hi:+.4f}] "
        f"(2,000 resamples of the queries).",
        f"- Queries whose top 10 changed at all (order included): {changed} of {len(queries)}.",
        f"- Cosine between a document's two vectors: min {cos.min():.6f}, median {np.median(cos):.6f}.",
        f"- bf16 is {cpu['fp32'] / cpu['bf16']:.2f}x faster per document.",
    ]
    text = "\n".join(lines)
    print(text)
    write_result("embed_precision", text, goals=[
        {"issue": 12, "goal": "bf16 tile vectors rank as float32 ones do (nDCG@10 difference's 95% interval holds 0 "
                              "or lies above it, within 0.005)",
         "measured": f"{diff.mean():+.4f} [{lo:+.4f}, {hi:+.4f}]", "met": bool(hi >= 0 and lo >= -0.005)},
    ])


if __name__ == "__main__":
    main()
