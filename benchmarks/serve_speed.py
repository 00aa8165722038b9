"""`shotdex serve` speed: warm text queries through HTTP, 8 concurrent clients, and `shotdex search` in a
fresh process going through the running server.

    python benchmarks/serve_speed.py [--tiles 100000] [--model reader] [--requests 200] [--clients 8]
                                     [--per-client 25] [--cli-runs 10]

The index is synthetic (clustered unit vectors, varied text, one small WebP per tile) but real: a
LanceDB on disk written through the same Store code, with the indexer's own maintenance (full-text index,
the vector index shotdex/index/ann.py picks), opened as a shotdex.Index with the named embedder, served by uvicorn on
127.0.0.1. Every request is a full GET /api/search (embedding, hybrid search, JSON), over keep-alive
connections. Bounded: a fixed number of requests, each with a 60 s timeout.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "tests"))  # the toy embedder, for --model toy

from common import percentile, write_result  # noqa: E402

WORDS = ("rainfall oslo bergen revenue quarter chart table population coffee export lighthouse kayak "
         "sourdough garden volcano budget invoice meeting report sales region summer winter").split()


def build(folder: Path, n: int, settings) -> None:
    from PIL import Image

    from shotdex.embed import get_embedder
    from shotdex.index.store import Store

    emb = get_embedder(settings.model, settings)
    store = Store(folder)
    store.create(emb.name, emb.fingerprint, emb.dim)
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((2000, emb.dim)).astype("float32")
    buf = io.BytesIO()
    Image.new("RGB", (256, 192), "white").save(buf, "WEBP", lossless=True)
    image = buf.getvalue()
    step = 20_000
    for start in range(0, n, step):
        m = min(step, n - start)
        vecs = centers[rng.integers(0, len(centers), m)] + 0.6 * rng.standard_normal((m, emb.dim)).astype("float32")
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        words = rng.integers(0, len(WORDS), (m, 12))
        store.tiles.add([
            {"id": f"{start + i:024x}", "source": f"/corpus/doc{(start + i) // 3}.md", "kind": "text", "page": 0,
             "tile": (start + i) % 3, "x": 0, "y": 0, "w": 256, "h": 192, "page_width": 256, "page_height": 600,
             "content_hash": "c", "settings_hash": "s", "label": "", "true_text": "", "words": "[]", "image": image,
             "text": " ".join(WORDS[j] for j in words[i]) + f" item {start + i}", "vector": vecs[i]}
            for i in range(m)
        ])
    store.maintain()


def connect(port: int) -> http.client.HTTPConnection:
    """A keep-alive connection with Nagle off, as requests/urllib3 and browsers do."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def one(conn, q: str) -> float:
    t0 = time.perf_counter()
    conn.request("GET", "/api/search?" + urlencode({"q": q, "k": 10}))
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"{resp.status}: {body[:200]!r}")
    return (time.perf_counter() - t0) * 1000


def query(i: int) -> str:
    return f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7) % len(WORDS)]} in {WORDS[(i * 13) % len(WORDS)]}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiles", type=int, default=100_000)
    ap.add_argument("--model", default="reader")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-client", type=int, default=25)
    ap.add_argument("--cli-runs", type=int, default=10)
    args = ap.parse_args()

    import shotdex
    from shotdex.serve.server import start

    plugins = "toy_embedder" if args.model.startswith("toy") else ""
    settings = shotdex.Settings(model=args.model, plugins=plugins)
    tmp = Path(tempfile.mkdtemp(prefix="shotdex-serve-bench-"))
    lines = [f"## `shotdex serve` speed ({args.tiles:,} synthetic tiles, model {args.model})", "",
             f"Command: `python benchmarks/serve_speed.py --tiles {args.tiles} --model {args.model}`", ""]
    try:
        t0 = time.perf_counter()
        build(tmp / "db", args.tiles, settings)
        lines.append(f"- index built in {time.perf_counter() - t0:.0f} s (rows, full-text index, vector index)")
        idx = shotdex.open(db=tmp / "db", settings=settings)
        running = start(idx)
        try:
            conn = connect(running.port)
            for i in range(10):
                one(conn, query(i))  # warm: model, caches, index pages
            seq = [one(conn, query(i)) for i in range(args.requests)]
            conn.close()
            lines.append(f"- warm query through HTTP (GET /api/search, k=10, one client, {len(seq)} requests): "
                         f"p50 {percentile(seq, 50):.1f} ms, p95 {percentile(seq, 95):.1f} ms; goal p50 <= 50 ms, p95 <= 120 ms")

            lat: list[float] = []
            errors: list[str] = []
            lock = threading.Lock()

            def client(c: int) -> None:
                cn = connect(running.port)
                try:
                    for i in range(args.per_client):
                        ms = one(cn, query(c * 1000 + i))
                        with lock:
                            lat.append(ms)
                except Exception as exc:  # noqa: BLE001
                    errors.append(str(exc))
                finally:
                    cn.close()

            threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join(600)
            wall = time.perf_counter() - t0
            lines.append(f"- {args.clients} concurrent clients x {args.per_client} requests: {len(lat) / wall:.1f} requests/s, "
                         f"p50 {percentile(lat, 50):.1f} ms, p95 {percentile(lat, 95):.1f} ms, {len(errors)} errors")

            env = dict(os.environ, LANCEDB_LOG="error", PYTHONPATH=str(ROOT / "tests"))
            cli = []
            for i in range(args.cli_runs):
                t0 = time.perf_counter()
                p = subprocess.run([sys.executable, "-m", "shotdex.cli", "search", query(i), "--db", str(tmp / "db"), "--json"],
                                   capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
                cli.append(time.perf_counter() - t0)
                if p.returncode != 0:
                    raise RuntimeError(p.stderr)
            lines.append(f"- `shotdex search` in a fresh process through the running server: median {statistics.median(cli):.2f} s "
                         f"(min {min(cli):.2f}, max {max(cli):.2f}, n={len(cli)}); goal <= 0.5 s")
        finally:
            running.stop()
            idx.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(lines)
    print(text)
    write_result("serve_speed", text)


if __name__ == "__main__":
    main()
