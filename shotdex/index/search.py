"""Search: vector ranking, full-text ranking, their fusion, and grouping per source."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace

from ..errors import QueryError
from . import ann
from .query import has_phrase, parse_query, words
from .store import Store, real_name, sql_in, sql_str

__all__ = ["Hit", "Fusion", "FUSION", "Candidates", "candidates", "fuse", "rank_candidates", "search_store", "snippet"]

_WORD = re.compile(r"\w+", re.UNICODE)
_COLUMNS = ["id", "source", "kind", "page", "tile", "x", "y", "w", "h", "label", "text"]


@dataclass(frozen=True)
class Hit:
    """One search result: a source (and its best tile), or a single tile with --tiles."""

    rank: int
    score: float
    source: str
    kind: str
    page: int
    tile: int
    tile_id: str
    x: int
    y: int
    w: int
    h: int
    label: str
    snippet: str
    vector_score: float | None = None
    text_score: float | None = None
    tag: str = ""  # the figure tagger's name for the tile ('' unsure, or an index without the tagger)
    tag_conf: float | None = None
    visual_score: float | None = None  # image queries: cosine similarity of the visual vectors


@dataclass(frozen=True)
class Fusion:
    """How the vector and full-text rankings of one query combine (per source, or per tile).

    method "scores": (1 - text_weight) * normalised vector score + text_weight * normalised BM25
    score; the vector side is min-max normalised over its candidates, the BM25 side divided by its
    best (BM25 starts at zero, so the weakest match still beats no match); a candidate missing from a
    list gets `floor` from it. method "rrf": reciprocal-rank fusion, (1 - text_weight) / (rrf_k + vector
    rank) + text_weight / (rrf_k + text rank).
    text_first_margin (a per-query choice): when the best full-text candidate leads the second by at
    least this share of its score, the query named one candidate's words clearly; the full-text order
    is kept as it is (vector scores only break ties), and candidates it lacks follow in vector order.
    None turns the choice off.
    short_query_words / short_text_weight (a per-query choice by the query's form): a query of at most
    that many words is a keyword or title lookup, whose words stand on the page it wants, so full text
    gets short_text_weight instead of text_weight; longer, question-like queries lean more on meaning.
    page_weight / heading_boost / title_boost (per source only): a source's full-text side is
    (1 - page_weight) * its best tile's BM25 + page_weight * its page score, each divided by the best
    among the candidates; the page score is BM25 over the whole page's read text + heading_boost * BM25
    over its heading lines + title_boost * BM25 over its title (layout.py), so words spread over several
    tiles add up and words the page shows large count more. These three were chosen by
    benchmarks/pages.py on the tune half of wtq-dev and pydocs-dev (a title boost did not help: 0).
    visual_weight (image queries only): the share of visual similarity in the ranking (see blend);
    chosen by benchmarks/charts.py on the tune half of the vega-gallery image queries (among weights
    below 1: an image query keeps its reading path). visual_weight_text: the share instead when the
    tagger calls the query picture text, a table or code (a page of text looks like every other; what
    it says matters more); no benchmark measures it: the earlier even split.
    The other defaults are the rule benchmarks/fusion.py chose on wtq-dev and pydocs-dev (see BENCHMARKS.md):
    the best mean nDCG@10 of the rules measured, and above both vector-only and full-text-only on each.
    """

    method: str = "scores"
    text_weight: float = 0.8
    rrf_k: float = 60.0
    floor: float = 0.0
    text_first_margin: float | None = None
    short_query_words: int = 0
    short_text_weight: float = 0.8
    page_weight: float = 0.5
    heading_boost: float = 1.0
    title_boost: float = 0.0
    visual_weight: float = 0.95
    visual_weight_text: float = 0.5

    def for_picture(self, tag: str) -> "Fusion":
        """The fusion for an image query whose picture the tagger named `tag` (see visual_weight)."""
        return replace(self, visual_weight=self.visual_weight_text) if tag in ("text", "table", "code") else self

    def page_fields(self) -> tuple[str, ...]:
        """The page fields this fusion weighs (none without a page weight; the title only when boosted)."""
        if self.page_weight <= 0:
            return ()
        return ("text",) + (("heading",) if self.heading_boost else ()) + (("title",) if self.title_boost else ())

    def weight_for(self, query: str | None) -> float:
        """The full-text weight for this query."""
        if query is not None and self.short_query_words > 0 and len(_WORD.findall(query)) <= self.short_query_words:
            return self.short_text_weight
        return self.text_weight


FUSION = Fusion()


def _norm(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    span = hi - lo
    if span <= 1e-12:
        return {k: 1.0 for k in scores}
    return {k: (v - lo) / span for k, v in scores.items()}


def _ranks(scores: dict[str, float]) -> dict[str, int]:
    return {k: i for i, k in enumerate(sorted(scores, key=lambda s: (-scores[s], s)), 1)}


def text_margin(text: dict[str, float]) -> float:
    """(best - second best) / best full-text score: how clearly one candidate matched the words."""
    top = sorted(text.values(), reverse=True)[:2]
    if not top or top[0] <= 0:
        return 0.0
    return (top[0] - (top[1] if len(top) > 1 else 0.0)) / top[0]


def fuse(
    vec: dict[str, float], text: dict[str, float], fusion: Fusion = FUSION, query: str | None = None
) -> dict[str, float]:
    """Combine two {key: score} maps (higher is better) into one; query picks the weight (see Fusion)."""
    if not text:
        return dict(vec)
    if not vec:
        return dict(text)
    top = max(text.values())
    if fusion.text_first_margin is not None and text_margin(text) >= fusion.text_first_margin:
        # Full-text scores lie in (0, 1] after dividing by the best; those it lacks sit below, in
        # vector order (cosine similarity is in [-1, 1]); the small vector term only breaks ties.
        nv = _norm(vec)
        return {k: (text[k] / top if k in text else -1.0) + 1e-3 * nv.get(k, 0.0) for k in set(vec) | set(text)}
    a = fusion.weight_for(query)
    if fusion.method == "rrf":
        rv, rt = _ranks(vec), _ranks(text)
        c = fusion.rrf_k
        return {
            k: ((1 - a) / (c + rv[k]) if k in rv else 0.0) + (a / (c + rt[k]) if k in rt else 0.0)
            for k in set(rv) | set(rt)
        }
    nv = _norm(vec)
    # BM25 scores start at zero: scale by the best, so the weakest match still beats no match.
    nt = {k: v / top for k, v in text.items()} if top > 0 else {k: 0.0 for k in text}
    return {
        k: (1 - a) * nv.get(k, fusion.floor) + a * nt.get(k, fusion.floor) for k in set(nv) | set(nt)
    }




def snippet(text: str, query: str | None, width: int = 100) -> str:
    """One line around the first query word found in text, else the start of the text."""
    flat = " ".join((text or "").split())
    if not flat:
        return ""
    start = 0
    if query:
        lowered = flat.lower()
        for word in sorted(set(_WORD.findall(query.lower())), key=lambda w: (-len(w), w)):
            if len(word) < 3:
                continue
            pos = lowered.find(word)
            if pos >= 0:
                start = max(0, pos - width // 3)
                break
    piece = flat[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")


def build_filter(kind: str | list[str] | None, where: str | None) -> str | None:
    parts = []
    if kind:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        parts.append("kind IN (" + ", ".join(sql_str(k) for k in kinds) + ")")
    if where:
        parts.append(f"({where})")
    return " AND ".join(parts) or None


def _refused(table, flt: str) -> bool:
    """Whether LanceDB refuses the filter on its own: then a failed search was the caller's --where."""
    try:
        table.count_rows(flt)
    except Exception:
        return True
    return False


@dataclass
class Candidates:
    """What one query's vector and full-text searches returned, by tile id, before fusion."""

    rows: dict[str, dict]
    vector: dict[str, float]  # tile id -> cosine similarity
    text: dict[str, float]  # tile id -> BM25 score (empty when not hybrid or no text)
    pages: dict[str, dict[str, float]] = field(default_factory=dict)  # source -> {page field: BM25}
    visual: dict[str, float] = field(default_factory=dict)  # tile id -> visual cosine (image queries)


def columns(store: Store) -> list[str]:
    """The columns a hit needs; the figure tag where the index has one."""
    return _COLUMNS + ["tag", "tag_conf"] if store.meta is not None and store.meta.visual_dim else _COLUMNS


def blend(reading: dict[str, float], visual: dict[str, float], weight: float) -> dict[str, float]:
    """An image query's ranking: (1 - weight) * the reading path's fused score + weight * visual
    similarity, each min-max normalised per query (benchmarks/charts.py chooses the weight)."""
    if not visual:
        return reading
    nr, nv = _norm(reading), _norm(visual)
    return {k: (1 - weight) * nr.get(k, 0.0) + weight * nv.get(k, 0.0) for k in set(nr) | set(nv)}


def candidates(
    store: Store,
    vector,
    text: str | None,
    *,
    depth: int,
    kind=None,
    where: str | None = None,
    hybrid: bool | None = None,
    visual=None,
    page_fields: tuple[str, ...] | None = None,
) -> Candidates:
    """The top `depth` tiles by vector and (when hybrid and there is text) by full text, and by the
    visual vector when one is given and the index has them; each candidate source's BM25 over
    `page_fields` (default: all of them). The full-text searches run on other threads while the
    query is encoded (`vector` may be a function that returns it) and the vector searches run here
    (the sentence model's matrix products and LanceDB's searches leave the GIL)."""
    table = store.tiles
    flt = build_filter(kind, where)
    cols = columns(store)
    vis_rows: list[dict] = []
    parsed = parse_query(text) if text and (hybrid is None or hybrid) else None
    if parsed is not None and not words(parsed.text):
        parsed = None
    try:
        pending_text = _pool().submit(_text_candidates, store, parsed, flt, depth, cols) if parsed else None
        if callable(vector):
            vector = vector()
        if visual is not None and store.meta is not None and store.meta.visual_dim == len(visual):
            vq = table.search(visual, vector_column_name="visual").distance_type("cosine")
            if flt:
                vq = vq.where(flt, prefilter=True)
            vis_rows = vq.limit(depth).select(cols).to_list()
        q = table.search(vector, vector_column_name="vector").distance_type("cosine")
        if store.has_ann():
            q = ann.tune(q)  # nprobes, refine factor (ann.py)
        if flt:
            q = q.where(flt, prefilter=True)
        vec_rows = q.limit(depth).select(cols).to_list()
        text_rows: dict[str, dict] = pending_text.result() if pending_text else {}
    except QueryError:
        raise
    except Exception as exc:  # lancedb reports bad SQL (syntax, columns, types) as a generic error
        if where and _refused(table, flt):
            raise QueryError(f"bad --where filter {where!r}: {str(exc).splitlines()[0][:200]}") from exc
        raise
    rows = {r["id"]: r for r in vec_rows}
    for r in [*text_rows.values(), *vis_rows]:
        rows.setdefault(r["id"], r)
    pages = _page_candidates(store, parsed, {r["source"] for r in rows.values()}, page_fields) if parsed else {}
    return Candidates(
        rows=rows,
        vector={r["id"]: 1.0 - float(r["_distance"]) for r in vec_rows},
        text=_phrase_boost({tid: float(r["_score"]) for tid, r in text_rows.items()}, rows, parsed),
        pages=pages,
        visual={r["id"]: 1.0 - float(r["_distance"]) for r in vis_rows},
    )


def _page_candidates(store: Store, parsed, sources: set[str], fields: tuple[str, ...] | None = None) -> dict[str, dict[str, float]]:
    """BM25 of each candidate source's page fields (its whole read text, headings, title), so that the
    evidence of all its tiles counts; only sources the tile searches found (so --kind and --where hold
    and every hit names a tile). Empty for an index without current page fields. One search per
    field, at the same time."""
    from .store import PAGE_FIELDS

    fields = PAGE_FIELDS if fields is None else fields
    if not sources or not fields or not words(parsed.text) or not store.page_index_ready():
        return {}
    from lancedb.query import MatchQuery

    flt = sql_in("source", sorted(sources))
    table = store.sources

    def field_scores(col: str) -> list[dict]:
        q = table.search(MatchQuery(parsed.text, col), query_type="fts").where(flt, prefilter=True)
        return q.limit(len(sources)).select(["source"]).to_list()

    out: dict[str, dict[str, float]] = {}
    for col, found in zip(fields, _pool().map(field_scores, fields)):
        for r in found:
            out.setdefault(r["source"], {})[col] = float(r["_score"])
    return out


_POOL = None
_POOL_LOCK = threading.Lock()


def _pool():
    """The threads that run a query's full-text searches next to its vector search (shared by every
    search of the process; a server's request threads submit to it too)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            from concurrent.futures import ThreadPoolExecutor

            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="shotdex-search")
        return _POOL


def _text_candidates(store: Store, parsed, flt: str | None, depth: int, cols: list[str]) -> dict[str, dict]:
    """The top tiles by BM25 over the query's words (taken literally, never parsed as syntax), plus,
    where the full-text index keeps word positions, the top tiles holding each quoted phrase."""
    from lancedb.query import MatchQuery, PhraseQuery

    queries = [MatchQuery(parsed.text, "text")]
    if parsed.phrases and store.fts_positions():
        queries += [PhraseQuery(p, "text") for p in parsed.phrases]
    out: dict[str, dict] = {}
    for fq in queries:
        tq = store.tiles.search(fq, query_type="fts")
        if flt:
            tq = tq.where(flt, prefilter=True)
        for r in tq.limit(depth).select(cols).to_list():
            if r["id"] not in out or r["_score"] > out[r["id"]]["_score"]:
                out[r["id"]] = r
    return out


def _phrase_boost(text: dict[str, float], rows: dict[str, dict], parsed) -> dict[str, float]:
    """A tile that holds the quoted phrases word for word scores up to twice its BM25 score: by the
    share of the phrases it holds, checked on the text it read (so an index without positions works)."""
    if parsed is None or not parsed.phrases or not text:
        return text
    n = len(parsed.phrases)
    out = {}
    for tid, score in text.items():
        body = rows[tid].get("text") or ""
        held = sum(1 for p in parsed.phrases if has_phrase(body, p))
        out[tid] = score * (1.0 + held / n)
    return out


def search_store(
    store: Store,
    vector,
    text: str | None,
    *,
    k: int = 10,
    kind=None,
    where: str | None = None,
    hybrid: bool | None = None,
    tiles: bool = False,
    fusion: Fusion = FUSION,
    visual=None,
) -> list[Hit]:
    """Rank tiles by vector (and full text when hybrid), then group per source unless tiles=True.
    `visual` (an image query's visual vector) blends visual similarity in (see blend)."""
    if k <= 0:
        raise QueryError("k must be at least 1")
    cands = candidates(store, vector, text, depth=max(k * 10, 50), kind=kind, where=where, hybrid=hybrid,
                       visual=visual, page_fields=fusion.page_fields())
    return rank_candidates(cands, text, k=k, tiles=tiles, fusion=fusion)


def rank_candidates(cands: Candidates, query: str | None, *, k: int, tiles: bool = False, fusion: Fusion = FUSION) -> list[Hit]:
    """Fuse the two candidate lists (per tile, or per source by each source's best tile) into hits."""
    rows, vscore, tscore, vis = cands.rows, cands.vector, cands.text, cands.visual
    if tiles:
        scores = blend(fuse(vscore, tscore, fusion, query), vis, fusion.visual_weight)
        order = sorted(scores, key=lambda i: (-scores[i], i))[:k]
        return [_hit(n + 1, scores[i], rows[i], query, vscore.get(i), tscore.get(i), vis.get(i)) for n, i in enumerate(order)]
    # Per source: each list keeps its best tile per source, then the sources are fused.
    best_v = _best_per_source(vscore, rows)
    best_t = _best_per_source(tscore, rows)
    best_i = _best_per_source(vis, rows)
    text_side = page_text_scores({s: v for s, (v, _) in best_t.items()}, cands.pages, fusion)
    scores = fuse({s: v for s, (v, _) in best_v.items()}, text_side, fusion, query)
    scores = blend(scores, {s: v for s, (v, _) in best_i.items()}, fusion.visual_weight)
    order = sorted(scores, key=lambda s: (-scores[s], s))[:k]
    hits = []
    for n, src in enumerate(order):
        tile = _pick_tile(src, best_v, best_t, best_i)
        hits.append(_hit(n + 1, scores[src], rows[tile], query, best_v.get(src, (None,))[0],
                         best_t.get(src, (None,))[0], best_i.get(src, (None,))[0]))
    return hits


def page_text_scores(best_t: dict[str, float], pages: dict[str, dict[str, float]], fusion: Fusion) -> dict[str, float]:
    """Each source's full-text side: its best tile's BM25 blended with its page score (see Fusion)."""
    p = fusion.page_weight
    if p <= 0 or not pages:
        return best_t
    page = {
        s: f.get("text", 0.0) + fusion.heading_boost * f.get("heading", 0.0) + fusion.title_boost * f.get("title", 0.0)
        for s, f in pages.items()
    }
    top_t, top_p = max(best_t.values(), default=0.0), max(page.values(), default=0.0)
    out = {}
    for s in set(best_t) | set(page):
        t = best_t.get(s, 0.0) / top_t if top_t > 0 else 0.0
        g = page.get(s, 0.0) / top_p if top_p > 0 else 0.0
        if t > 0 or g > 0:
            out[s] = (1 - p) * t + p * g
    return out


def source_scores(cands: Candidates) -> tuple[dict[str, float], dict[str, float]]:
    """Each source's best vector score and best full-text score (what per-source fusion sees)."""
    best_v = _best_per_source(cands.vector, cands.rows)
    best_t = _best_per_source(cands.text, cands.rows)
    return {s: v for s, (v, _) in best_v.items()}, {s: v for s, (v, _) in best_t.items()}


def _best_per_source(scores: dict[str, float], rows: dict[str, dict]) -> dict[str, tuple[float, str]]:
    best: dict[str, tuple[float, str]] = {}
    for tid, s in scores.items():
        src = rows[tid]["source"]
        # Ties go to the smaller tile id, so the named tile does not depend on row order.
        if src not in best or (s, best[src][1]) > (best[src][0], tid):
            best[src] = (s, tid)
    return best


def _pick_tile(src: str, best_v: dict, best_t: dict, best_i: dict | None = None) -> str:
    """The full-text match names the tile that holds the words; else the nearest vector tile (or,
    found only by its looks, the nearest visual one)."""
    if src in best_t:
        return best_t[src][1]
    return best_v[src][1] if src in best_v else best_i[src][1]


def _hit(rank: int, score: float, row: dict, query: str | None, vs, ts, visual=None) -> Hit:
    return Hit(
        rank=rank, score=round(float(score), 6), source=real_name(row["source"]), kind=row["kind"], page=int(row["page"]),
        tile=int(row["tile"]), tile_id=row["id"], x=int(row["x"]), y=int(row["y"]), w=int(row["w"]), h=int(row["h"]),
        label=real_name(row.get("label") or ""), snippet=real_name(snippet(row.get("text") or "", query)),
        vector_score=None if vs is None else round(float(vs), 6), text_score=None if ts is None else round(float(ts), 6),
        tag=row.get("tag") or "", tag_conf=None if row.get("tag_conf") is None else round(float(row["tag_conf"]), 4),
        visual_score=None if visual is None else round(float(visual), 6),
    )
