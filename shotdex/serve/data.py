"""What the server reads from the index: searches, one source's tiles, tile images. Rows only, never a
file path taken from a request: a source or tile the index does not hold is a NotFound."""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from dataclasses import dataclass

from ..errors import QueryError
from ..render.types import KINDS

__all__ = ["NotFound", "Query", "run_query", "source_view", "tile_picture", "decode_upload", "KINDS"]

_TILE_ID = re.compile(r"^[0-9a-f]{24}$")
THUMB_WIDTHS = (240, 480, 960)


class NotFound(Exception):
    """The index holds no such tile or source (a 404)."""


@dataclass(frozen=True)
class Query:
    """One search as the page and the API take it (the query's state in the URL)."""

    q: str | None = None
    k: int = 10
    kind: tuple[str, ...] = ()
    where: str | None = None
    tiles: bool = False
    hybrid: bool | None = None
    render_query: bool = False
    like: str | None = None  # a tile id: search with that tile's stored image
    image: object = None  # an uploaded PIL image

    def url_params(self, **change) -> list[tuple[str, str]]:
        """The query string of this search (for links: load more, bookmarks); uploads cannot be in it."""
        d = {"q": self.q, "like": self.like, "k": self.k, "kind": self.kind, "where": self.where,
             "tiles": "1" if self.tiles else None, **change}
        out = []
        for key in ("q", "like", "k", "kind", "where", "tiles"):
            v = d[key]
            if v is None or v == "" or v == ():
                continue
            out += [(key, str(x)) for x in v] if isinstance(v, (list, tuple)) else [(key, str(v))]
        return out


def check_k(k) -> int:
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise QueryError(f"k must be a whole number, not {k!r}") from None
    if not 1 <= k <= 1000:
        raise QueryError("k must be between 1 and 1000")
    return k


def run_query(index, query: Query) -> list:
    """The hits of one search (the library's own Hit objects); QueryError for a bad one."""
    kinds = [k for k in query.kind if k] or None
    args = dict(k=check_k(query.k), kind=kinds, where=query.where or None, hybrid=query.hybrid, tiles=query.tiles)
    given = [x for x in (query.q, query.like, query.image) if x is not None]
    if len(given) != 1:
        raise QueryError("give exactly one of a query text, an image or a tile to search like")
    if query.image is not None:
        return index.search(image=query.image, **args)
    if query.like is not None:
        img, _ = tile_image(index, query.like)
        return index.search(image=img, **args)
    return index.search(text=query.q, render_query=query.render_query, **args)


def tile_image(index, tile_id: str):
    """(image, words) of one stored tile."""
    if not _TILE_ID.match(tile_id or ""):
        raise NotFound(f"no tile {tile_id!r} in this index")
    from ..index.pipeline import decode_image

    rows = _tiles(index).search().where(f"id = '{tile_id}'").select(["image", "words"]).limit(1).to_list()
    if not rows:
        raise NotFound(f"no tile {tile_id!r} in this index")
    return decode_image(rows[0]["image"]), json.loads(rows[0]["words"] or "[]")


def _tiles(index):
    """The tiles table (its connection looks for newer commits, so what `shotdex index` adds shows up)."""
    if index.store.meta is None:
        raise NotFound("this index is empty")
    return index.store.tiles


def tile_picture(index, tile_id: str, query: str | None = None, width: int | None = None) -> tuple[bytes, str]:
    """A tile as image bytes and media type: the stored WebP as is, or (with a query or a width) a
    JPEG with the query's words outlined as `--show` draws them, scaled to one of THUMB_WIDTHS."""
    if not query and not width:
        if not _TILE_ID.match(tile_id or ""):
            raise NotFound(f"no tile {tile_id!r} in this index")
        rows = _tiles(index).search().where(f"id = '{tile_id}'").select(["image"]).limit(1).to_list()
        if not rows:
            raise NotFound(f"no tile {tile_id!r} in this index")
        return rows[0]["image"], "image/webp"
    from ..index.show import outline_matches

    img, words = tile_image(index, tile_id)
    img = outline_matches(img, words, query)
    if width:
        w = min(THUMB_WIDTHS, key=lambda t: abs(t - int(width)))
        if img.width > w:
            img = img.resize((w, max(1, round(img.height * w / img.width))))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue(), "image/jpeg"


def source_view(index, source: str) -> dict:
    """One source's row (kind, status, reason) and its tiles in order, from the index alone."""
    from ..index.store import sql_str

    store = index.store
    if store.meta is None:
        raise NotFound(f"no source {source!r} in this index")
    rows = store.sources.search().where(f"source = {sql_str(source)}").limit(1).to_list()
    if not rows:
        raise NotFound(f"no source {source!r} in this index")
    row = rows[0]
    tiles = (_tiles(index).search().where(f"source = {sql_str(source)}")
             .select(["id", "kind", "page", "tile", "x", "y", "w", "h", "label", "text"]).limit(100_000).to_list())
    tiles.sort(key=lambda t: (t["page"], t["tile"]))
    return {
        "source": row["source"], "kind": row["kind"], "status": row["status"], "reason": row["reason"] or "",
        "warnings": json.loads(row["warnings"]) if (row.get("warnings") or "").startswith("[") else [],
        "indexed_at": row["indexed_at"], "size": row["size"],
        "tiles": [{k: t[k] for k in ("id", "kind", "page", "tile", "x", "y", "w", "h", "label", "text")} for t in tiles],
    }


def decode_upload(data: bytes, max_pixels: int):
    """An uploaded query image as RGB; QueryError for anything that is not a readable image."""
    from PIL import Image

    if not data:
        raise QueryError("the uploaded image is empty")
    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > max_pixels:
            raise QueryError(f"image of {img.width}x{img.height} is over the {max_pixels:,} pixel limit")
        img.load()
        return img.convert("RGB")
    except QueryError:
        raise
    except Exception as exc:  # noqa: BLE001 - PIL raises many kinds for bad bytes; all mean "not an image"
        raise QueryError(f"the upload is not a readable image ({exc.__class__.__name__})") from None


def decode_base64(text: str) -> bytes:
    if not isinstance(text, str):
        raise QueryError("image must be a base64 string")
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise QueryError("image is not valid base64") from None
