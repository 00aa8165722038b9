"""The library's entry object: shotdex.open(...) -> Index with add, search, remove, stats, reembed."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..errors import QueryError
from ..settings import Settings
from .indexer import AddReport, ProgressEvent, decode_image, run_add
from .lock import WriterLock
from .query import parse_query
from .search import FUSION, Hit, search_store
from .store import Store

__all__ = ["Index", "Stats", "open_index"]


@dataclass(frozen=True)
class Stats:
    """What is in an index."""

    db: str
    model: str
    fingerprint: str
    dim: int
    sources: int
    tiles: int
    by_kind: dict = field(default_factory=dict)  # kind -> {"sources": n, "tiles": n}
    failed: list = field(default_factory=list)  # [{"source", "reason"}]
    bytes_on_disk: int = 0
    vector_index: bool = False


def open_index(db: str | Path | None = None, model: str | None = None, settings: Settings | None = None) -> "Index":
    """Open (or prepare to create) the index at db; model None means the one the index was built with."""
    settings = settings or Settings.from_env()
    settings = settings.replace(db=Path(db).expanduser() if db is not None else None, model=model)
    return Index(settings)


class Index:
    """A shotdex index on disk. Cheap to open: the embedder loads on first use."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings.db_path)
        meta = self.store.meta
        self.model = settings.model or (meta.model if meta else "reader")
        self._embedder = None

    # -- embedder -------------------------------------------------------------------------------
    @property
    def embedder(self):
        """The embedder, loaded once; checked against the index's fingerprint."""
        if self._embedder is None:
            from ..embed import get_embedder

            emb = get_embedder(self.model, self.settings)
            self.store.check_embedder(emb.name, emb.fingerprint)
            self._embedder = emb
        return self._embedder

    def close(self) -> None:
        if self._embedder is not None:
            self._embedder.close()
            self._embedder = None

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------------
    def add(
        self,
        paths: Iterable[str | Path],
        progress: Callable[[ProgressEvent], None] | None = None,
        prune: bool = False,
        stop: threading.Event | None = None,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
    ) -> AddReport:
        """Index files, folders and URLs incrementally; returns what was added, skipped and failed.
        include/exclude: globs (`*` crosses folders) on each source's path below the folder given, or
        its bare name: only sources matching an include, and none matching an exclude, are indexed."""
        paths = [str(p) for p in paths]
        with WriterLock(self.store.folder):
            emb = self.embedder
            if not self.store.exists:
                self.store.create(emb.name, emb.fingerprint, emb.dim)
            return run_add(self.store, emb, self.settings, paths, prune=prune, progress=progress, stop=stop,
                           include=include, exclude=exclude)

    def remove(self, paths: Iterable[str | Path]) -> list[str]:
        """Drop sources (files, or everything under a folder); returns the sources removed."""
        from .indexer import under_roots

        wanted = [str(p) if "://" in str(p) else str(Path(p).resolve()) for p in paths]
        with WriterLock(self.store.folder):
            known = self.store.source_rows(["status"])
            gone = [s for s in known if under_roots(s, wanted)]
            self.store.delete_sources(gone)
            if gone:
                self.store.maintain()
        return gone

    def reembed(self, progress: Callable[[ProgressEvent], None] | None = None) -> int:
        """Re-embed the stored tile images with this index's --model, without re-rendering."""
        from .reembed import reembed

        with WriterLock(self.store.folder):
            from ..embed import get_embedder

            emb = get_embedder(self.model, self.settings)
            n = reembed(self.store, emb, progress)
            self._embedder = emb
            return n

    # -- reading --------------------------------------------------------------------------------
    def search(
        self,
        text: str | None = None,
        image=None,
        k: int = 10,
        kind: str | list[str] | None = None,
        where: str | None = None,
        hybrid: bool | None = None,
        tiles: bool = False,
        url: str | None = None,
        render_query: bool = False,
    ) -> list[Hit]:
        """Answer a text, image (path or PIL image), URL, or rendered-text query; best first."""
        given = [x is not None for x in (text, image, url)]
        if sum(given) != 1:
            raise QueryError("give exactly one of a query text, --image or --url")
        if not self.store.exists:
            raise QueryError(f"no index at {self.store.folder}: run `shotdex index SRC... --db {self.store.folder}` first")
        emb = self.embedder
        query_text = text
        if text is not None and not render_query:
            if not text.strip():
                raise QueryError("the query is empty")
            vector = emb.embed_queries([parse_query(text).text or text])[0]
        else:
            img = self._query_image(None if text is None else parse_query(text).text or text, image, url)
            reading = emb.embed_tiles([img])[0]
            vector = reading.vector
            # A reading embedder also gives the words it saw, which feed the full-text side.
            query_text = reading.text or None
        hybrid_on = hybrid if hybrid is not None else True
        return search_store(
            self.store.snapshot(), vector, query_text if hybrid_on else None, k=k, kind=kind, where=where,
            hybrid=hybrid_on, tiles=tiles, fusion=FUSION,
        )

    def _query_image(self, text, image, url):
        from ..render import Renderer, RenderSettings, render_query_text

        rs = RenderSettings.from_settings(self.settings)
        if text is not None:
            return render_query_text(text, rs)
        if url is not None:
            with Renderer(rs, chromium=self.settings.chromium) as r:
                res = r.render(url)
            if not res.ok:
                raise QueryError(f"cannot render {url}: {res.error}")
            return res.tiles[0].image
        if isinstance(image, (str, Path)):
            return _open_query_image(Path(image), rs.max_image_pixels)
        return image

    def tile_images(self, tile_ids: list[str]) -> dict:
        """The stored screenshots of these tiles, decoded (works after the source moved)."""
        from .store import sql_in

        if not tile_ids:
            return {}
        rows = self.store.tiles.search().where(sql_in("id", tile_ids)).select(["id", "image", "words"]).limit(len(tile_ids)).to_list()
        return {r["id"]: (decode_image(r["image"]), json.loads(r["words"] or "[]")) for r in rows}

    def stats(self) -> Stats:
        """Sources and tiles by kind, failures, embedder and size on disk."""
        meta = self.store.meta
        if meta is None:
            return Stats(str(self.store.folder), self.model, "", 0, 0, 0)
        tiles = self.store.tiles.to_arrow().select(["kind"]).column("kind").to_pylist()
        srcs = self.store.source_rows(["kind", "status", "reason"])
        by_kind: dict = {}
        for kind in tiles:
            by_kind.setdefault(kind, {"sources": 0, "tiles": 0})["tiles"] += 1
        failed = []
        for row in srcs.values():
            if row["status"] == "indexed":
                by_kind.setdefault(row["kind"], {"sources": 0, "tiles": 0})["sources"] += 1
            else:
                failed.append({"source": row["source"], "reason": row["reason"]})
        return Stats(
            db=str(self.store.folder), model=meta.model, fingerprint=meta.fingerprint, dim=meta.dim,
            sources=sum(v["sources"] for v in by_kind.values()), tiles=len(tiles), by_kind=by_kind,
            failed=failed, bytes_on_disk=self.store.size_on_disk(), vector_index=self.store.has_ann(),
        )


def _open_query_image(path: Path, max_pixels: int):
    from PIL import Image

    try:
        img = Image.open(path)
        if img.width * img.height > max_pixels:
            raise QueryError(f"{path}: image of {img.width}x{img.height} is over the {max_pixels:,} pixel limit")
        img.load()
        return img.convert("RGB")
    except OSError as exc:
        raise QueryError(f"{path}: not a readable image ({exc})") from exc
