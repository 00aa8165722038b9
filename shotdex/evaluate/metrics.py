"""Retrieval metrics over rankings of sources: Recall@k, MRR@k, nDCG@k (binary gains)."""

from __future__ import annotations

import math

__all__ = ["DEPTH", "first_rank", "metric_keys", "rank_metrics", "recall_curve"]

DEPTH = 20  # rankings are this deep so Recall@k can be drawn for k = 1..20


def _dcg(ranks: list[int]) -> float:
    return sum(1.0 / math.log2(r + 1) for r in ranks)


def first_rank(ranking: list[str], relevant) -> int | None:
    """1-based rank of the first relevant item, or None."""
    rel = set(relevant)
    for i, s in enumerate(ranking, 1):
        if s in rel:
            return i
    return None


def metric_keys(k: int = 10) -> tuple[str, ...]:
    """The names rank_metrics reports for a cut-off k: Recall@1/5/10 up to k, then Recall, MRR and
    nDCG at k (k = 10 gives recall@1, recall@5, recall@10, mrr@10, ndcg@10)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    cuts = [c for c in (1, 5, 10) if c < k] + [k]
    return (*(f"recall@{c}" for c in cuts), f"mrr@{k}", f"ndcg@{k}")


def rank_metrics(rankings: list[list[str]], relevants: list, k: int = 10) -> dict:
    """Recall@c (any relevant in the top c) for the cuts of metric_keys(k), MRR@k and nDCG@k (binary
    gains), averaged over the queries. Nothing past rank k counts."""
    keys = metric_keys(k)
    acc = dict.fromkeys(keys, 0.0)
    cuts = [int(key.split("@")[1]) for key in keys if key.startswith("recall@")]
    for ranking, relevant in zip(rankings, relevants):
        rel = set(relevant)
        r = first_rank(ranking[:k], rel)
        for cut in cuts:
            acc[f"recall@{cut}"] += 1.0 if r is not None and r <= cut else 0.0
        acc[f"mrr@{k}"] += 1.0 / r if r is not None else 0.0
        hits = [i for i, s in enumerate(ranking[:k], 1) if s in rel]
        ideal = _dcg(list(range(1, min(len(rel), k) + 1)))
        acc[f"ndcg@{k}"] += _dcg(hits) / ideal if ideal else 0.0
    n = len(rankings)
    return {key: round(v / n, 4) if n else 0.0 for key, v in acc.items()}


def recall_curve(rankings: list[list[str]], relevants: list) -> list[float]:
    """Recall@k for k = 1..DEPTH."""
    ranks = [first_rank(r, rel) for r, rel in zip(rankings, relevants)]
    n = max(1, len(ranks))
    return [round(sum(1 for r in ranks if r is not None and r <= k) / n, 4) for k in range(1, DEPTH + 1)]


