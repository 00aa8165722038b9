"""The vector index shotdex builds past ann.ANN_MIN_ROWS, and the imports a fresh `shotdex search` defers.

Real LanceDB on disk, real index builds; the threshold is lowered so that a few thousand rows cross it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shotdex.index import ann
from shotdex.index.search import candidates
from shotdex.index.store import Store

ROOT = Path(__file__).resolve().parents[1]
DIM = 64


def _vectors(rng, n: int, centers: np.ndarray) -> np.ndarray:
    # Clustered like text embeddings (tiles on shared topics); queries are fresh draws, not stored rows.
    v = centers[rng.integers(0, len(centers), n)] + 0.5 * rng.standard_normal((n, DIM)).astype("float32")
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype("float32")


def _fill(folder: Path, vecs: np.ndarray, model: str = "toy", fingerprint: str = "fp") -> Store:
    store = Store(folder)
    store.create(model, fingerprint, DIM)
    words = ["rainfall", "oslo", "bergen", "revenue", "coffee", "kayak", "volcano", "budget"]
    store.write_tiles([
        {"id": f"t{i:06d}", "source": f"/corpus/doc{i // 3}.md", "kind": "text", "page": 0, "tile": i % 3,
         "x": 0, "y": 0, "w": 64, "h": 48, "page_width": 64, "page_height": 144, "content_hash": f"c{i // 3}",
         "settings_hash": "s", "label": "", "text": f"{words[i % 8]} {words[(i * 3) % 8]} item {i}", "true_text": "",
         "words": "[]", "image": b"", "vector": vecs[i]}
        for i in range(len(vecs))
    ])
    return store


def test_below_the_threshold_search_stays_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 2000)
    rng = np.random.default_rng(0)
    store = _fill(tmp_path / "db", _vectors(rng, 1999, rng.standard_normal((40, DIM)).astype("float32")))
    store.maintain()
    assert not store.has_ann()
    assert ann.vector_index(1999, DIM) is None


def test_maintain_builds_the_chosen_index_and_it_agrees_with_exact_search(tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 2000)
    monkeypatch.setattr(ann, "PARTITION_ROWS", 500)
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((40, DIM)).astype("float32")
    vecs = _vectors(rng, 4000, centers)
    store = _fill(tmp_path / "db", vecs)
    store.maintain()

    assert store.has_ann()
    stats = store.tiles.index_stats("vector_idx")
    cfg = ann.vector_index(4000, DIM)
    assert stats.index_type == "IVF_PQ" == {"IvfPq": "IVF_PQ"}[type(cfg).__name__]
    assert stats.distance_type == "cosine" and stats.num_indexed_rows == 4000
    assert cfg.target_partition_size == 500 and cfg.num_sub_vectors == DIM // ann.SUB_VECTOR_DIMS

    def partitions() -> int:
        return store.tiles.to_lance().stats.index_stats("vector_idx")["indices"][0]["num_partitions"]

    # maintain ends with lance's optimize(); an index given num_partitions comes out of it with one partition
    assert partitions() == 8  # 4000 rows / 500
    store.maintain()  # a later run's maintenance keeps them too
    assert partitions() == 8

    queries = _vectors(rng, 40, centers)
    hits = 0
    for q in queries:
        got = candidates(store, q, None, depth=10)
        exact = np.argsort(-(vecs @ q))[:10]
        assert len(got.vector) == 10
        hits += len(set(got.vector) & {f"t{i:06d}" for i in exact})
        # the scores it reports are the true cosines of the tiles it returns (refined on the full vectors)
        for tid, score in got.vector.items():
            assert abs(score - float(vecs[int(tid[1:])] @ q)) < 1e-3
    assert hits / (10 * len(queries)) >= 0.9


def _toy_db(folder: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from toy_embedder import ToyEmbedder

    emb = ToyEmbedder()
    texts = ["rainfall in oslo by month", "coffee exports of brazil", "kayak rental prices bergen"]
    vecs = emb.embed_queries(texts)
    store = Store(folder)
    store.create(emb.name, emb.fingerprint, emb.dim)
    store.write_tiles([
        {"id": f"t{i}", "source": f"/corpus/doc{i}.md", "kind": "text", "page": 0, "tile": 0, "x": 0, "y": 0,
         "w": 64, "h": 48, "page_width": 64, "page_height": 48, "content_hash": f"c{i}", "settings_hash": "s",
         "label": "", "text": t, "true_text": "", "words": "[]", "image": b"", "vector": vecs[i]}
        for i, t in enumerate(texts)
    ])
    store.maintain()


DEFERRED = ["lance_namespace_urllib3_client.api", "lance_namespace_urllib3_client.api_client", "urllib3", "pandas"]
PROBE = (
    "import json, sys\n"
    "from shotdex.cli import run\n"
    "rc = run(['search', 'rainfall oslo', '--db', sys.argv[1], '--json', '--no-server', '-k', '1'])\n"
    "sys.stdout.flush()\n"
    "print(json.dumps({'rc': rc, 'loaded': [m for m in %r if m in sys.modules]}))\n" % DEFERRED
)


@pytest.mark.parametrize("eager", [False, True])
def test_cli_search_does_not_load_the_deferred_modules(tmp_path, eager):
    _toy_db(tmp_path / "db")
    env = dict(os.environ, LANCEDB_LOG="error", SHOTDEX_PLUGINS="toy_embedder", SHOTDEX_MODEL="toy",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(Path(__file__).parent)]))
    env.pop("SHOTDEX_EAGER_LANCEDB", None)
    if eager:
        env["SHOTDEX_EAGER_LANCEDB"] = "1"
    p = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "db")], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    *hits, last = p.stdout.strip().splitlines()
    report = json.loads(last)
    assert report["rc"] == 0
    assert [json.loads(h)["source"] for h in hits] == ["/corpus/doc0.md"]
    if eager:  # the switch the benchmark compares against: lancedb as it ships loads all of them
        assert report["loaded"] == DEFERRED
    else:
        assert report["loaded"] == []


@pytest.mark.slow
def test_the_deferred_client_still_works_when_used(tmp_path):
    code = (
        "import sys\n"
        "from shotdex.index.lance_import import import_lancedb\n"
        "db = import_lancedb()\n"
        "assert 'lance_namespace_urllib3_client.api_client' not in sys.modules\n"
        "import lance_namespace_urllib3_client as c\n"
        "conf = c.Configuration(host='http://127.0.0.1:9')\n"  # the package's own __init__ runs now
        "api = c.NamespaceApi(c.ApiClient(conf))\n"
        "assert c.__version__ and 'lance_namespace_urllib3_client.api_client' in sys.modules\n"
        "import lance_namespace\n"
        "assert lance_namespace.ListTablesResponse is c.ListTablesResponse\n"
        f"t = db.connect({str(tmp_path / 'db')!r}).create_table('t', data=[{{'a': 1}}])\n"
        "print(t.count_rows())\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, LANCEDB_LOG="error"), timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "1"
