"""The approximate vector index: which one Store.maintain builds at a given size, and how search queries it.

Chosen by benchmarks/index_speed.py (real text vectors, real queries, recall@10 against exact search):
see benchmarks/results/index_speed.md for the table behind every number here.
"""

from __future__ import annotations

__all__ = ["ANN_MIN_ROWS", "vector_index", "search_params", "tune"]

# Exact search stays under ~30 ms below this many rows on 2 cores; past it the index below pays.
ANN_MIN_ROWS = 25_000
# IVF_PQ partitions are given as a target size, not a count: lance's optimize() (run by every
# Store.maintain) rebuilds an index made with num_partitions=N as if none were given (30,000 rows: 100
# partitions -> 1), while one made with target_partition_size keeps its partitions as the table grows.
PARTITION_ROWS = 4096
# dim / 4 sub-vectors: 4 dims per 256-entry PQ codebook. With 8 dims (48 sub-vectors at dim 384) the
# codes were too coarse at 1,000,000 rows: recall@10 at most 0.89 even re-ranking 20 x k candidates.
SUB_VECTOR_DIMS = 4
# Search: partitions probed and how many times k candidates are re-ranked on the stored full vectors
# (1,000,000 rows, ~240 partitions: nprobes 20 loses ~3% of recall against 40).
NPROBES = 40
REFINE_FACTOR = 10
EF = 100  # only read by an IVF_HNSW_* index (made by shotdex before IVF_PQ was chosen)


def vector_index(rows: int, dim: int):
    """The lancedb index config for a tiles table of `rows` vectors of `dim`, or None (exact search)."""
    if rows < ANN_MIN_ROWS:
        return None
    from lancedb.index import IvfPq

    sub = dim // SUB_VECTOR_DIMS if dim % SUB_VECTOR_DIMS == 0 else _divisor(dim)
    return IvfPq(distance_type="cosine", target_partition_size=PARTITION_ROWS, num_sub_vectors=sub)


def search_params() -> dict:
    """Search settings for a table with an ANN index (query builder method -> value)."""
    return {"nprobes": NPROBES, "refine_factor": REFINE_FACTOR, "ef": EF}


def tune(query):
    """Apply search_params to a lancedb vector query builder."""
    for name, value in search_params().items():
        query = getattr(query, name)(value)
    return query


def _divisor(dim: int) -> int:
    # A dimension not divisible by SUB_VECTOR_DIMS: the largest sub-vector count <= dim / SUB_VECTOR_DIMS that divides it.
    for sub in range(max(1, dim // SUB_VECTOR_DIMS), 0, -1):
        if dim % sub == 0:
            return sub
    return 1
