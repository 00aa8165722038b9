"""`shotdex eval`: index a corpus, run a queries file through the library, score it (see metrics)."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Callable

from ..errors import QueryError, SourceNotFound
from .metrics import DEPTH, first_rank, rank_metrics, recall_curve

__all__ = ["EvalQuery", "load_queries", "evaluate", "plot_recall", "prepare", "sample_sources", "select_sources"]


@dataclass(frozen=True)
class EvalQuery:
    id: str
    query: str | None
    image: str | None  # absolute path
    relevant: tuple[str, ...]  # absolute paths
    anchor: str | None = None


def load_queries(path: str | Path, corpus: str | Path) -> list[EvalQuery]:
    """Read a queries.jsonl (see README); relevant paths are made absolute against corpus."""
    root = Path(corpus).resolve()
    out = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QueryError(f"cannot read queries file {path}: {exc.strerror or exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            rel = d["relevant"]
            if not isinstance(rel, list) or not (d.get("query") or d.get("image")):
                raise ValueError("needs 'relevant' (a list) and 'query' or 'image'")
        except (ValueError, KeyError, TypeError) as exc:
            raise QueryError(f"{path}:{n}: bad query line ({exc})") from exc
        image = str((root / d["image"]).resolve()) if d.get("image") else None
        out.append(EvalQuery(str(d.get("id", n)), d.get("query"), image, tuple(str((root / r).resolve()) for r in rel), d.get("anchor")))
    return out


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    i = min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))
    return round(s[i], 2)


def select_sources(sources: list[str], corpus: str | Path, include: list[str] | None) -> list[str]:
    """Keep the sources whose path relative to corpus matches one of the include globs (fnmatch).

    `*` also crosses folders here, so `*.html` keeps every page and `_images/*.png` every image
    there. None or an empty list keeps everything.
    """
    if not include:
        return sources
    root = Path(corpus).resolve()
    out = []
    for s in sources:
        try:
            rel = Path(s).resolve().relative_to(root).as_posix()
        except ValueError:
            continue
        if any(fnmatch(rel, pat) for pat in include):
            out.append(s)
    return out


def sample_sources(
    sources: list[str],
    queries: list[EvalQuery],
    n: int | None,
    seed: int = 0,
    relevant_share: float | None = None,
):
    """Keep n sources (fixed seed) and the queries whose relevant sources are among them.

    With relevant_share, round(n * share) sources are drawn from those that some query names as
    relevant and the rest from the others (the distractors); without it, n are drawn uniformly.
    Corpora whose relevant sources are a small part (web pages, gallery images) otherwise give a
    sample with few queries.
    """
    if not n or n >= len(sources):
        return sources, queries
    rng = random.Random(seed)
    if relevant_share is None:
        keep = set(rng.sample(sorted(sources), n))
    else:
        if not 0.0 <= relevant_share <= 1.0:
            raise QueryError("relevant_share must be between 0 and 1")
        named = {r for q in queries for r in q.relevant}
        rel = sorted(s for s in sources if s in named)
        other = sorted(s for s in sources if s not in named)
        n_rel = min(len(rel), round(n * relevant_share))
        n_other = min(len(other), n - n_rel)
        n_rel = min(len(rel), n - n_other)  # fill up from the relevant side when distractors run out
        keep = set(rng.sample(rel, n_rel)) | set(rng.sample(other, n_other))
    return sorted(keep), [q for q in queries if any(r in keep for r in q.relevant)]


def prepare(
    queries_file: str | Path,
    corpus: str | Path,
    *,
    sample: int | None = None,
    seed: int = 0,
    include: list[str] | None = None,
    relevant_share: float | None = None,
) -> tuple[list[str], list[EvalQuery]]:
    """The sources to index and the queries to run: discover, filter by include, sample. A corpus that
    is not a folder, or one holding none of the queries' relevant sources, is an error (scores of
    zero over no query would look like a result)."""
    from ..render import discover

    if not Path(corpus).is_dir():
        raise SourceNotFound(f"the corpus {corpus} is not a folder" if Path(corpus).exists()
                             else f"the corpus {corpus} does not exist")
    queries = load_queries(queries_file, corpus)
    sources = select_sources(discover([str(corpus)]).sources, corpus, include)
    sources, queries = sample_sources(sources, queries, sample, seed, relevant_share)
    present = set(sources)
    if queries and not any(r in present for q in queries for r in q.relevant):
        where = f" matching --include {' '.join(include)}" if include else ""
        raise QueryError(f"none of the {len(queries)} queries' relevant sources is in {corpus}{where} "
                         f"({len(sources)} sources found): check --corpus and --include")
    return sources, queries


def evaluate(
    index,
    queries_file: str | Path,
    corpus: str | Path,
    *,
    k: int = 10,
    baselines: bool = False,
    dense_baselines: bool = True,
    sample: int | None = None,
    seed: int = 0,
    include: list[str] | None = None,
    relevant_share: float | None = None,
    progress: Callable | None = None,
) -> dict:
    """Index the corpus (incrementally), run every query like `shotdex search`, and score it.

    include (globs relative to corpus), sample, seed and relevant_share choose the sources: see
    prepare() and sample_sources(). Only the chosen sources are indexed and searched.
    """
    if not isinstance(k, int) or k < 1:
        raise QueryError(f"k must be a whole number of at least 1, not {k!r}")
    sources, queries = prepare(
        queries_file, corpus, sample=sample, seed=seed, include=include, relevant_share=relevant_share
    )
    add_report = index.add(sources, progress=progress)
    present = set(sources)
    missing = [q.id for q in queries if not any(r in present for r in q.relevant)]
    scored = [q for q in queries if q.id not in set(missing)]
    kinds = _kinds(index)
    rankings, latencies, per_query, failed = [], [], [], []
    for q in scored:
        t0 = time.perf_counter()
        try:
            hits = index.search(text=q.query, image=q.image, k=max(k, DEPTH))
        except Exception as exc:  # noqa: BLE001 - one query's failure is reported, never the eval's end
            # A failed query is a miss: it stays in the denominator, so failures cannot raise a score.
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
            failed.append({"id": q.id, "error": error})
            rankings.append([])
            per_query.append({"id": q.id, "rank": None, "latency_ms": None, "error": error})
            continue
        ms = (time.perf_counter() - t0) * 1000
        ranking = [h.source for h in hits]
        rankings.append(ranking)
        latencies.append(ms)
        per_query.append({"id": q.id, "rank": first_rank(ranking, q.relevant), "latency_ms": round(ms, 2),
                          f"ndcg@{k}": rank_metrics([ranking], [q.relevant], k)[f"ndcg@{k}"]})
    relevants = [q.relevant for q in scored]
    result = {"queries": len(scored), **rank_metrics(rankings, relevants, k)}
    result["latency_ms"] = {"p50": _percentile(latencies, 50), "p95": _percentile(latencies, 95)}
    result["by_kind"] = _by_kind(scored, rankings, kinds, k)
    if baselines:
        from .baselines import run_baselines

        result["baselines"] = run_baselines(index, scored, k, dense=dense_baselines)
    result["missing"] = {"count": len(missing), "ids": missing}
    result["failed"] = {"count": len(failed), "queries": failed}
    result["per_query"] = per_query
    result["_curve"] = recall_curve(rankings, relevants)
    result["_corpus"] = {"sources": len(sources), "failed": len(add_report.failed), "tiles": index.stats().tiles}
    return result


def _kinds(index) -> dict[str, str]:
    return {s: row["kind"] for s, row in index.store.source_rows(["kind"]).items()}


def _by_kind(queries, rankings, kinds, k) -> dict:
    groups: dict[str, tuple[list, list]] = {}
    for q, ranking in zip(queries, rankings):
        kind = next((kinds[r] for r in q.relevant if r in kinds), "unknown")
        groups.setdefault(kind, ([], []))
        groups[kind][0].append(ranking)
        groups[kind][1].append(q.relevant)
    if len(groups) < 2:
        return {}
    return {kind: {"queries": len(r), **rank_metrics(r, rel, k)} for kind, (r, rel) in sorted(groups.items())}


def plot_recall(result: dict, out: str | Path, title: str) -> None:
    """Recall@k for k = 1..20, shotdex and each baseline, on one chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = list(range(1, DEPTH + 1))
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot(ks, result["_curve"], marker="o", lw=2.2, label="shotdex (default)")
    for name, b in (result.get("baselines") or {}).items():
        ax.plot(ks, b["_curve"], marker=".", lw=1.2, ls="--", label=name)
    ax.set_xlabel("k (results looked at)")
    ax.set_ylabel("Recall@k")
    ax.set_ylim(0, 1.02)
    ax.set_xticks([1, 5, 10, 15, 20])
    ax.grid(alpha=0.3)
    ax.set_title(f"{title}: Recall@k ({result['queries']} queries)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
