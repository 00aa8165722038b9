"""A query that is a whole page (`search --url`): every tile of it searches, each index tile keeps its
best match.

Why the best match (max over the query's tiles of the cosine similarity) and not the mean of the tile
vectors: a page query asks where its content lives, and that content may sit on any one of its tiles.
Averaging a page of n tiles gives the matching tile 1/n of the say, so a long page's one relevant
paragraph drowns among unrelated ones; the max keeps each tile's match whole. Scores of one embedder
are cosine similarities of normalised vectors, so they compare across query tiles. The full-text side
gets the words of all tiles as one query, as it would for one long tile.
"""

from __future__ import annotations

from .search import FUSION, Candidates, Fusion, Hit, candidates, rank_candidates

__all__ = ["search_page"]


def search_page(
    store, vectors, text: str | None, *, k: int = 10, kind=None, where: str | None = None,
    hybrid: bool | None = None, tiles: bool = False, fusion: Fusion = FUSION,
) -> list[Hit]:
    """Rank index tiles by their best cosine similarity to any of `vectors` (plus full text), like
    search_store does for one vector."""
    from ..errors import QueryError

    if k <= 0:
        raise QueryError("k must be at least 1")
    depth = max(k * 10, 50)
    merged = Candidates(rows={}, vector={}, text={})
    for i, vector in enumerate(vectors):
        c = candidates(store, vector, text if i == 0 else None, depth=depth, kind=kind, where=where, hybrid=hybrid,
                       page_fields=fusion.page_fields())
        merged.rows.update(c.rows)
        if i == 0:
            merged.text, merged.pages = c.text, c.pages
        for tid, score in c.vector.items():
            if tid not in merged.vector or score > merged.vector[tid]:
                merged.vector[tid] = score
    return rank_candidates(merged, text, k=k, tiles=tiles, fusion=fusion)
