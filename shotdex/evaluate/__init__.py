"""Evaluation: metrics, text-only baselines and `shotdex eval`. Uses the library from outside, as a
user's script would (evaluate -> index -> render, embed); indexing never imports it."""

from .metrics import DEPTH, first_rank, metric_keys, rank_metrics, recall_curve
from .run import EvalQuery, evaluate, load_queries, plot_recall, prepare, sample_sources, select_sources

__all__ = [
    "DEPTH", "first_rank", "metric_keys", "rank_metrics", "recall_curve",
    "EvalQuery", "evaluate", "load_queries", "plot_recall", "prepare", "sample_sources", "select_sources",
]
