"""Index speed: row writes/s, exact vs IVF-PQ search latency and recall@10 at 100k and 1M rows.

    python benchmarks/index_speed.py [--rows 100000 1000000] [--runs 200]

Synthetic unit vectors (dim 384, like the reader) in a real LanceDB on disk, written through the same
Store code the indexer uses.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).parent))

from common import fmt, percentile, write_result  # noqa: E402

from shotdex.index.search import EF  # noqa: E402
from shotdex.index.store import ANN_MIN_ROWS, Store  # noqa: E402

DIM = 384


CENTERS = np.random.default_rng(1).standard_normal((2000, DIM)).astype("float32")


def rows(start: int, n: int, rng, image: bytes) -> list[dict]:
    # Clustered like real embeddings (documents on shared topics), not uniform noise.
    vecs = CENTERS[rng.integers(0, len(CENTERS), n)] + 0.6 * rng.standard_normal((n, DIM)).astype("float32")
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return [
        {
            "id": f"t{start + i}", "source": f"/corpus/doc{(start + i) // 3}.csv", "kind": "table", "page": 0,
            "tile": (start + i) % 3, "x": 0, "y": 0, "w": 1024, "h": 768, "page_width": 1024, "page_height": 2000,
            "content_hash": "c", "settings_hash": "s", "label": "", "text": f"row {start + i} rainfall oslo",
            "true_text": "", "words": "[]", "image": image, "vector": vecs[i],
        }
        for i in range(n)
    ], vecs


def bench_writes(folder: Path, rng, image: bytes, runs: int = 5, batch: int = 2000) -> list[float]:
    store = Store(folder)
    store.create("synthetic", "fp", DIM)
    rates = []
    for r in range(runs):
        data, _ = rows(r * batch, batch, rng, image)
        t0 = time.perf_counter()
        store.write_tiles(data)
        rates.append(batch / (time.perf_counter() - t0))
    return rates


def fill(folder: Path, n: int, rng) -> tuple[Store, np.ndarray]:
    store = Store(folder)
    store.create("synthetic", "fp", DIM)
    allv = []
    step = 50_000
    for start in range(0, n, step):
        data, vecs = rows(start, min(step, n - start), rng, b"")
        store.tiles.add(data)
        allv.append(vecs)
    return store, np.concatenate(allv)


def latency(store: Store, queries: np.ndarray, ann: bool) -> tuple[list[float], list[list[str]]]:
    times, results = [], []
    for q in queries:
        t0 = time.perf_counter()
        s = store.tiles.search(q, vector_column_name="vector").distance_type("cosine")
        if ann:
            s = s.ef(EF)
        res = s.limit(10).select(["id"]).to_list()
        times.append((time.perf_counter() - t0) * 1000)
        results.append([r["id"] for r in res])
    return times, results


def exact_ids(vecs: np.ndarray, queries: np.ndarray) -> list[list[str]]:
    out = []
    for q in queries:
        top = np.argpartition(-(vecs @ q), 10)[:10]
        top = top[np.argsort(-(vecs @ q)[top])]
        out.append([f"t{i}" for i in top])
    return out


def text_query_latency(store: Store, n: int = 100) -> list[float]:
    """ms per text query the way Index.search answers it: reader encoding + hybrid search_store."""
    from shotdex.embed import get_embedder
    from shotdex.index.search import search_store

    emb = get_embedder("reader")
    emb.embed_queries(["warm up"])
    times = []
    for i in range(n):
        q = f"rainfall in oslo for row {i * 7919 % 100_000}"
        t0 = time.perf_counter()
        search_store(store, emb.embed_queries([q])[0], q, k=10)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="shotdex-bench-"))
    lines = ["## Index speed (synthetic vectors, dim 384)", "", f"Command: `python benchmarks/index_speed.py --rows {' '.join(map(str, args.rows))}`", ""]
    try:
        image = rng.integers(0, 255, 6000, dtype=np.uint8).tobytes()  # ~ a WebP tile
        rates = bench_writes(tmp / "writes", rng, image)
        lines.append(f"- Row writes (upsert by id, 2,000-row batches with a 6 KB image each): {fmt(rates, ' rows/s', 0)}; goal >= 2,000 rows/s")
        lines += ["", "| rows | search | p50 ms | p95 ms | recall@10 vs exact | index build s (vector + FTS) |", "|---|---|---|---|---|---|"]
        for n in args.rows:
            store, vecs = fill(tmp / f"n{n}", n, rng)
            queries = vecs[rng.choice(n, args.queries, replace=False)] + 0.02 * rng.standard_normal((args.queries, DIM)).astype("float32")
            queries /= np.linalg.norm(queries, axis=1, keepdims=True)
            truth = exact_ids(vecs, queries)
            if n <= 200_000:
                t, res = latency(store, queries, ann=False)
                rec = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(res, truth)])
                lines.append(f"| {n:,} | exact | {percentile(t, 50):.1f} | {percentile(t, 95):.1f} | {rec:.3f} | - |")
            if n >= ANN_MIN_ROWS:
                t0 = time.perf_counter()
                store.maintain()  # the same call the indexer makes: builds the HNSW-SQ index past ANN_MIN_ROWS
                build = time.perf_counter() - t0
                t, res = latency(store, queries, ann=True)
                rec = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(res, truth)])
                lines.append(f"| {n:,} | IVF-HNSW-SQ (ef {EF}) | {percentile(t, 50):.1f} | {percentile(t, 95):.1f} | {rec:.3f} | {build:.0f} |")
                tq = text_query_latency(store)
                lines.append(f"| {n:,} | text query incl. reader encoding, hybrid (vector + full text), per source | {percentile(tq, 50):.1f} | {percentile(tq, 95):.1f} | - | - |")
            print("\n".join(lines[-1:]), flush=True)
            shutil.rmtree(tmp / f"n{n}", ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(lines)
    print(text)
    write_result("index_speed", text)


if __name__ == "__main__":
    main()
