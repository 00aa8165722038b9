"""Text-only baselines over the renderer's own (true) text of the same tiles, for `shotdex eval`."""

from __future__ import annotations

import numpy as np

from ..index.search import FUSION, fuse
from ..index.store import real_name
from ..pids import scratch
from .metrics import DEPTH, rank_metrics, recall_curve

__all__ = ["run_baselines"]


def _per_source(tile_scores: np.ndarray, sources: list[str], depth: int) -> list[str]:
    best: dict[str, float] = {}
    for i in np.argsort(-tile_scores)[: depth * 20]:
        s = sources[i]
        if s not in best:
            best[s] = float(tile_scores[i])
        if len(best) >= depth:
            break
    return sorted(best, key=lambda s: -best[s])


def _text_model(index):
    """The sentence model as a text encoder: the index's own when it reads text (`reader`), else the
    default reader's. The reader embeds a tile's read text and a query through the same call
    (`embed_queries`: same windows, same pooling), so documents go through it too."""
    emb = index.embedder
    if hasattr(emb, "embed_texts"):
        return emb.embed_texts, emb.embed_queries
    if getattr(emb, "name", "").startswith("reader"):
        return emb.embed_queries, emb.embed_queries
    from ..embed import get_embedder

    reader = get_embedder("reader", index.settings)
    return reader.embed_queries, reader.embed_queries


def run_baselines(index, queries, k: int = 10, dense: bool = True) -> dict:
    """Text-only systems over the true text of the same tiles: BM25 (bm25s; LanceDB full text, the
    index shotdex uses), the sentence model alone, and each BM25 fused with it by the default rule.
    dense=False leaves out the sentence model and the fusions (it embeds every tile's true text, which
    costs about as much CPU as reading did)."""
    table = index.store.tiles.to_arrow().select(["source", "true_text"]).to_pylist()
    sources = [real_name(r["source"]) for r in table]
    texts = [r["true_text"] or "" for r in table]
    text_queries = [q for q in queries if q.query]
    relevants = [q.relevant for q in text_queries]
    out: dict = {}

    def report(rankings):
        # _ndcg: each query's nDCG@10, in query order (for paired comparisons on halves of the set)
        return {**rank_metrics(rankings, relevants, k), "_curve": recall_curve(rankings, relevants),
                "_ndcg": [rank_metrics([r], [rel], k)[f"ndcg@{k}"] for r, rel in zip(rankings, relevants)]}

    if text_queries:
        out.update(_with_names(table, sources, text_queries, report))
    if not any(t.strip() for t in texts) or not text_queries:
        return out  # images have no true text (nothing else for a text-only system to search)

    bm25_scores = _bm25(texts, text_queries)

    if dense:
        encode_docs, encode_queries = _text_model(index)
        doc_vecs = encode_docs(texts)
        q_vecs = encode_queries([q.query for q in text_queries])
        dense_scores = [doc_vecs @ qv for qv in q_vecs]

    fts = _lancedb_fts(table, text_queries)
    out["full text, LanceDB FTS (true text)"] = report([sorted(b, key=lambda s: -b[s])[:DEPTH] for b in fts])
    bm25_rank = []  # ties at zero (no shared word) are not a ranking: they are left out
    for s in bm25_scores:
        ranked, vals = _best(s, sources, DEPTH)
        bm25_rank.append([src for src, v in zip(ranked, vals) if v > 0])
    out["bm25, bm25s (true text)"] = report(bm25_rank)
    if not dense:
        out.update(_whole_page(table, sources, text_queries, None, report))
        return out
    dense_rank = [_per_source(s, sources, DEPTH) for s in dense_scores]
    out["sentence model (true text)"] = report(dense_rank)
    fused = []
    for q, bs, ds in zip(text_queries, bm25_scores, dense_scores):
        # Like LanceDB's full-text search, BM25 lists only sources that share a word with the query.
        b = {s: v for s, v in zip(*_best(bs, sources)) if v > 0}
        d = dict(zip(*_best(ds, sources)))
        f = fuse(d, b, FUSION, q.query)  # the same fusion rule as shotdex's default
        fused.append(sorted(f, key=lambda s: -f[s])[:DEPTH])
    out["bm25s + sentence fusion (true text)"] = report(fused)
    # What shotdex does, with the true text in place of the read text: the strongest text-only system.
    fused = []
    for q, b, ds in zip(text_queries, fts, dense_scores):
        f = fuse(dict(zip(*_best(ds, sources))), b, FUSION, q.query)
        fused.append(sorted(f, key=lambda s: -f[s])[:DEPTH])
    out["LanceDB FTS + sentence fusion (true text)"] = report(fused)
    out.update(_whole_page(table, sources, text_queries, dense_scores, report))
    return out


def _with_names(table, sources, queries, report) -> dict:
    """BM25 over each source's file name as words (render/caption.name_words, what the caption band
    shows where a source names no title) plus its whole true text: the text-only system that knows what
    shotdex's screenshots show of a name. Nothing when no source has a name of words."""
    from ..render.caption import name_words

    pages: dict[str, list[str]] = {}
    for r, src in zip(table, sources):
        pages.setdefault(src, [name_words(src)]).append(r["true_text"] or "")
    if not any(parts[0] for parts in pages.values()):
        return {}
    names = list(pages)
    ranked = [[names[i] for i in np.argsort(-scores, kind="stable")[:DEPTH] if scores[i] > 0]
              for scores in _bm25(["\n".join(parts) for parts in pages.values()], queries)]
    return {"bm25, bm25s (file name + true whole-page text)": report(ranked)}


def _whole_page(table, sources, queries, dense_scores, report) -> dict:
    """BM25 over each source's whole true text (its tiles' true text joined, in tile order; the 64 px
    seams between tiles repeat a line now and then), the way a text retriever sees a page, and that
    BM25 fused with the sentence model's best tile by the default rule."""
    pages: dict[str, list[str]] = {}
    for r, src in zip(table, sources):
        pages.setdefault(src, []).append(r["true_text"] or "")
    names = list(pages)
    texts = ["\n".join(parts) for parts in pages.values()]
    bm25, fused = [], []
    for i, (q, scores) in enumerate(zip(queries, _bm25(texts, queries))):
        b = {names[j]: float(scores[j]) for j in np.argsort(-scores)[:DEPTH * 2] if scores[j] > 0}
        bm25.append(sorted(b, key=lambda s: -b[s])[:DEPTH])
        if dense_scores is not None:
            f = fuse(dict(zip(*_best(dense_scores[i], sources))), b, FUSION, q.query)
            fused.append(sorted(f, key=lambda s: -f[s])[:DEPTH])
    fts = _lancedb_fts([{"source": n, "true_text": t} for n, t in zip(names, texts)], queries)
    out = {
        "bm25, bm25s (true whole-page text)": report(bm25),
        "full text, LanceDB FTS (true whole-page text)": report([sorted(b, key=lambda s: -b[s])[:DEPTH] for b in fts]),
    }
    if dense_scores is not None:
        out["whole-page bm25s + sentence fusion (true text)"] = report(fused)
    return out


def _bm25(texts: list[str], queries) -> list[np.ndarray]:
    """bm25s over texts (English stop words): each query's scores, in query order."""
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    out = []
    for q in queries:
        tokens = bm25s.tokenize([q.query], stopwords="en", return_ids=False, show_progress=False)[0]
        out.append(np.asarray(retriever.get_scores(tokens) if tokens else np.zeros(len(texts)), dtype="float32"))
    return out


def _best(scores: np.ndarray, sources: list[str], depth: int = 100):
    ranked = _per_source(scores, sources, depth)
    best = {}
    for i in np.argsort(-scores)[: depth * 20]:
        best.setdefault(sources[i], float(scores[i]))
    return ranked, [best[s] for s in ranked]


def _lancedb_fts(table: list[dict], queries, depth: int = 200) -> list[dict[str, float]]:
    """LanceDB's full-text index (the one shotdex searches, with its stemming and stop words) built
    over the true text in a throwaway database: each source's best score, per query."""
    import lancedb
    from lancedb.index import FTS
    from lancedb.query import MatchQuery

    from ..index.query import parse_query, words

    with scratch("fts") as folder:
        db = lancedb.connect(folder)
        rows = [{"i": i, "source": r["source"], "text": r["true_text"] or ""} for i, r in enumerate(table)]
        t = db.create_table("t", rows)
        t.create_index("text", config=FTS(with_position=False))
        out = []
        for q in queries:
            best: dict[str, float] = {}
            plain = parse_query(q.query).text  # the query's words, never parsed as query syntax
            if not words(plain):
                out.append(best)
                continue
            for r in t.search(MatchQuery(plain, "text"), query_type="fts").limit(depth).select(["source"]).to_list():
                best.setdefault(real_name(r["source"]), float(r["_score"]))
            out.append(best)
        return out
