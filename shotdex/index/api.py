"""The library's entry object: shotdex.open(...) -> Index with add, search, remove, stats, reembed."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..errors import QueryError, SourceNotFound
from ..settings import Settings
from .indexer import AddReport, ProgressEvent, decode_image, on_disk, run_add, under_roots
from .lock import writer_lock
from .query import parse_query
from .search import FUSION, Fusion, Hit, search_store
from .store import STALE, TILE_COLUMNS, Store, real_name

__all__ = ["Index", "Stats", "SourceInfo", "open_index", "check_sources", "parse_kinds", "source_key", "unmatched"]

# What a `where` filter can name, and what each column holds (README lists the same).
WHERE_COLUMNS = {
    "source": "absolute path or URL of the source",
    "kind": "text, table, chart, web, pdf, office, image, epub or mail",
    "page": "page from 0 (PDF page, sheet, column group; 0 for one-page sources)",
    "tile": "tile from 0, counted across the whole source",
    "x": "tile's left edge on its page, CSS px",
    "y": "tile's top edge on its page, CSS px",
    "w": "tile width, CSS px",
    "h": "tile height, CSS px",
    "page_width": "page width, CSS px",
    "page_height": "page height, CSS px",
    "label": "e.g. 'page 3 of 35', a sheet name, 'columns 1-12 of 40'",
    "text": "the text the embedder read in the tile",
    "true_text": "the text the renderer put in the tile",
    "content_hash": "sha256 of the source's bytes",
    "settings_hash": "hash of the render settings",
    "id": "the tile's id",
    "words": "JSON word boxes",
}
assert set(WHERE_COLUMNS) == set(TILE_COLUMNS)


def path_list(paths: str | Path | Iterable[str | Path]) -> list[str | Path]:
    """One path or URL, or an iterable of them, as a list; QueryError naming the type for anything else
    (None, a number), rather than a TypeError from deep inside."""
    if isinstance(paths, (str, Path)):
        return [paths]
    if not isinstance(paths, Iterable):
        raise QueryError(f"paths must be a path, a URL or a list of them, not {type(paths).__name__}")
    return list(paths)


def check_sources(paths: str | Path | Iterable[str | Path]) -> list[str]:
    """The sources as strings, file:// URLs turned into paths; SourceNotFound (nothing done) when a path
    does not exist or a URL's scheme is not http(s)."""
    from urllib.parse import unquote, urlsplit

    out, missing = [], []
    for p in path_list(paths):
        p = str(p)
        scheme = p.split("://", 1)[0].lower() if "://" in p else ""
        if scheme in ("http", "https"):
            out.append(p)
            continue
        if scheme == "file":
            p = unquote(urlsplit(p).path)
        elif scheme:
            raise SourceNotFound(f"{p}: unsupported URL scheme '{scheme}' (shotdex fetches http:// and https:// pages)")
        if not os.path.lexists(os.path.expanduser(p)):
            missing.append(p)
        out.append(p)
    if missing:
        raise SourceNotFound(f"no such file or folder: {', '.join(missing)}" + ("" if len(missing) == 1 else f" ({len(missing)} paths)"))
    return out


def source_key(path: str | Path) -> str:
    """How the index names the source PATH: a URL as it is, a path absolute and resolved."""
    return str(path) if "://" in str(path) else str(Path(path).expanduser().resolve())


def unmatched(paths: Iterable[str | Path], removed: Iterable[str]) -> list[str]:
    """The PATHS (as given) that named no source of `removed` (`Index.remove`'s answer for them): neither
    a removed source nor a folder above one."""
    removed = list(removed)
    return [str(p) for p in paths if not any(under_roots(s, [source_key(p)]) for s in removed)]


def parse_kinds(kind: str | Iterable[str] | None) -> list[str] | None:
    """`kind` as a list of valid kinds: a name, a comma list, or a list of them, any case."""
    from ..render import KINDS

    if kind is None:
        return None
    items = [kind] if isinstance(kind, str) else list(kind)
    kinds: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise QueryError(f"kind must be a string or a list of strings, not {item!r}")
        for k in item.split(","):
            k = k.strip().lower()
            if not k:
                continue
            if k not in KINDS:
                raise QueryError(f"unknown kind {k!r}; the kinds are: {', '.join(KINDS)}")
            if k not in kinds:
                kinds.append(k)
    return kinds or None


@dataclass(frozen=True)
class SourceInfo:
    """One source the index knows: indexed (with its tiles) or failed (with the reason)."""

    source: str
    kind: str
    status: str  # indexed | failed
    tiles: int
    indexed_at: float  # seconds since the epoch
    reason: str = ""
    exists: bool = True  # False: the file is gone (prune=True on add drops it)


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
    failed: list = field(default_factory=list)  # [{"source", "reason"}]: nothing of these is searchable
    stale: list = field(default_factory=list)  # [{"source", "reason", "tiles"}]: failing now, last good tiles kept
    bytes_on_disk: int = 0
    vector_index: bool = False
    page_fields: bool = False  # sources carry current page-level fields (layout.py) that search ranks by
    figures: dict | None = None  # tag -> tiles, for tiles the figure tagger is sure of; None: no tagger here


def open_index(db: str | Path | None = None, model=None, settings: Settings | None = None) -> "Index":
    """Open (or prepare to create) the index at db. model: a name (see `shotdex models`), an Embedder
    instance, or None for the one the index was built with (with the options it recorded)."""
    from ..embed import Embedder
    from ..errors import SettingsError

    if db is not None and not isinstance(db, (str, os.PathLike)):
        raise SettingsError(f"db must be a path, not {db!r}")
    if model is not None and not isinstance(model, (str, Embedder)):
        raise SettingsError(f"model must be a name or an Embedder, not {model!r}")
    if settings is not None and not isinstance(settings, Settings):
        raise SettingsError(f"settings must be a shotdex.Settings, not {type(settings).__name__}")
    embedder = None
    if isinstance(model, Embedder):
        embedder, model = model, model.name
    settings = settings or Settings.from_env()
    if db is not None and not (isinstance(db, str) and "://" in db):
        db = Path(db).expanduser()
    settings = settings.replace(db=db, model=model)
    return Index(settings, embedder=embedder)


class Index:
    """A shotdex index on disk. Cheap to open: the embedder loads on first use. Opening creates
    nothing; add() creates the folder, and every reading method raises NoIndex where there is none.
    `embedder` (an Embedder instance) is used as given, and left open by close(): its owner closes it."""

    def __init__(self, settings: Settings, embedder=None):
        self.settings = settings
        self.store = Store(settings.db_path)
        meta = self.store.meta
        self.model = embedder.name if embedder is not None else settings.model or (meta.model if meta else "reader")
        self._given = embedder
        self._embedder = None
        # One query at a time through the embedder and the query renderer: a server calls search()
        # from many threads, and neither a tokenizer nor a Playwright driver may be shared across them.
        self._query_lock = threading.RLock()

    def __repr__(self) -> str:
        state = "" if self.store.exists else ", empty"
        return f"<shotdex.Index {str(self.store.folder)!r} model={self.model!r}{state}>"

    # -- embedder -------------------------------------------------------------------------------
    def _make_embedder(self):
        if self._given is not None:
            return self._given
        from ..embed import get_embedder

        meta = self.store.meta
        # The index's own model comes back with the options it was built with (window, engine, ...).
        options = meta.options if meta is not None and meta.model == self.model else None
        return get_embedder(self.model, self.settings, options=options)

    def _check_reader_engine(self) -> None:
        """An explicit reader engine (not auto) that differs from the one the index reads with is an
        error, not silently ignored: the index's tiles must all be read one way."""
        from ..errors import SettingsError

        meta, wanted = self.store.meta, self.settings.reader_engine
        if meta is None or wanted == "auto" or meta.model != self.model or not meta.model.startswith("reader"):
            return
        has = (meta.options or {}).get("reader_engine", "tesseract")
        if has != wanted:
            raise SettingsError(f"this index reads with the {has} engine, not {wanted}; "
                                f"`shotdex reembed --model {meta.model} --reader-engine {wanted}` re-reads it")

    @property
    def embedder(self):
        """The embedder, loaded once; checked against the index's fingerprint."""
        with self._query_lock:
            if self._embedder is None:
                emb = self._make_embedder()
                self.store.check_embedder(emb.name, emb.fingerprint)
                self._embedder = emb
            return self._embedder

    def close(self) -> None:
        if self._embedder is not None:
            if self._embedder is not self._given:
                self._embedder.close()
            self._embedder = None

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------------
    def add(
        self,
        paths: str | Path | Iterable[str | Path],
        progress: Callable[[ProgressEvent], None] | None = None,
        prune: bool = False,
        stop: threading.Event | None = None,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
        runner: str = "local",
        ray_address: str | None = None,
    ) -> AddReport:
        """Index files, folders and URLs incrementally; returns what was added, updated, left
        unchanged, ignored and failed. A path that does not exist raises SourceNotFound before any work.
        include/exclude: globs (`*` crosses folders) on each source's path below the folder given, or
        its bare name: only sources matching an include, and none matching an exclude, are indexed.
        runner="ray" runs the stages on Ray Data (on the cluster at ray_address, else a local instance),
        with the same plan, report and commits (pip install 'shotdex[ray]')."""
        from ..errors import SettingsError

        if runner not in ("local", "ray"):
            raise SettingsError(f"runner must be 'local' or 'ray', not {runner!r}")
        paths = check_sources(paths)
        if runner == "ray":  # a missing Ray or an unreachable cluster: one line before any work
            from .ray_runner import connect

            connect(ray_address)
        self._check_reader_engine()
        emb = self.embedder  # a model that cannot load leaves no folder behind
        chains = []
        if runner == "local" and emb.reads_text and not self.store.exists:
            # A new index has everything to do: its read workers load (~1.5 CPU-s each) while this
            # process makes the tables (LanceDB's import) and finds the sources, instead of after.
            from .pipeline import ReadStage

            chains = ReadStage(emb, self.settings).start_processes()
        try:
            self.store.make_folder()
            with writer_lock(self.store):
                if not self.store.exists:
                    self.store.create(emb.name, emb.fingerprint, emb.dim, options=emb.options,
                                      visual_dim=getattr(emb, "visual_dim", 0))
                self.store.upgrade_pages()  # an index made before page fields gets them, from its stored words
                report = run_add(self.store, emb, self.settings, paths, prune=prune, progress=progress, stop=stop,
                                 include=include, exclude=exclude, runner=runner, ray_address=ray_address,
                                 chains=chains)
        finally:
            for chain in chains:  # the runner closes those it used; these are for a failure before it
                chain.close()
        if not prune:
            roots = [str(Path(p).resolve()) for p in paths if "://" not in p]
            report.missing = sorted(
                s for s in self.store.source_rows([]) if "://" not in s and under_roots(s, roots) and not on_disk(s)
            )
        return report

    def remove(self, paths: str | Path | Iterable[str | Path], dry_run: bool = False) -> list[str]:
        """Drop sources (files, or everything under a folder); returns the sources removed (with
        dry_run=True: the sources that would be, and nothing is changed)."""
        paths = path_list(paths)
        self.store.require()
        wanted = [source_key(p) for p in paths]
        if dry_run:
            return sorted(s for s in self.store.source_rows([]) if under_roots(s, wanted))
        with writer_lock(self.store):
            known = self.store.source_rows(["status"])
            gone = [s for s in known if under_roots(s, wanted)]
            self.store.delete_sources(gone)
            if gone:
                self.store.maintain()
        return gone

    def reembed(self, progress: Callable[[ProgressEvent], None] | None = None) -> int:
        """Re-embed the stored tile images with this index's model, without re-rendering."""
        from .reembed import reembed

        self.store.require()
        with writer_lock(self.store):
            from ..embed import get_embedder

            emb = self._given if self._given is not None else get_embedder(self.model, self.settings)
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
        fusion: Fusion | None = None,
    ) -> list[Hit]:
        """Answer a text, image (path or PIL image), URL, or rendered-text query; best first.

        kind: a kind, a comma list or a list of kinds (any case); where: an SQL filter on the columns
        in WHERE_COLUMNS (page and tile count from 0); fusion: how the rankings combine (default FUSION)."""
        fusion = FUSION if fusion is None else fusion
        given = [x is not None for x in (text, image, url)]
        if sum(given) != 1:
            raise QueryError("give exactly one of text, image or url")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise QueryError(f"k must be a whole number of at least 1, not {k!r}")
        if text is not None and not isinstance(text, str):
            raise QueryError(f"text must be a string, not {type(text).__name__}")
        if where is not None and not isinstance(where, str):
            raise QueryError(f"where must be a string, not {type(where).__name__}")
        if text is not None and not text.strip():
            raise QueryError("the query is empty")
        kind = parse_kinds(kind)
        if url is not None:
            url = _query_url(url)
        self.store.require()
        query_text = text
        # one query at a time through the lazy embedder and the query renderer (a server's threads)
        visual = None
        if text is not None and not render_query:
            plain = parse_query(text).text or text

            def encode():  # called by search.candidates once the full-text searches are under way
                with self._query_lock:
                    return self.embedder.embed_queries([plain])[0]
            vectors = [encode]
        else:
            with self._query_lock:
                emb = self.embedder
                plain = None if text is None else parse_query(text).text or text
                images, hints = self._query_images(plain, image, url)
                readings = emb.embed_tiles(images, hints=hints)
            vectors = [r.vector for r in readings]
            if image is not None and readings:  # a picture also searches by its looks
                visual = readings[0].visual
                fusion = fusion.for_picture(readings[0].tag)
            # A reading embedder also gives the words it saw, which feed the full-text side.
            query_text = " ".join(r.text for r in readings if r.text) or None
        hybrid_on = hybrid if hybrid is not None else True
        snap, query_text = self.store.snapshot(), query_text if hybrid_on else None
        try:
            if len(vectors) > 1:  # a page of several tiles (--url): every tile searches, see page_query
                from .page_query import search_page

                return search_page(snap, vectors, query_text, k=k, kind=kind, where=where, hybrid=hybrid_on,
                                   tiles=tiles, fusion=fusion)
            return search_store(snap, vectors[0], query_text, k=k, kind=kind, where=where, hybrid=hybrid_on,
                                tiles=tiles, fusion=fusion, visual=visual)
        except QueryError as exc:
            if where is None or "where" not in str(exc):
                raise
            reason = str(exc).split(": ", 1)[-1].split(" Valid fields")[0].rstrip(". ")
            raise QueryError(
                f"bad where filter {where!r}: {reason[:120]}; the columns are: {', '.join(WHERE_COLUMNS)}"
            ) from None

    def positions(self, hits: list[Hit]) -> dict[str, tuple[int, int]]:
        """For people: each hit's (page, tile within that page), both counted from 1, by tile id.
        (Hit.page and Hit.tile, like `where`, count from 0 and the tile runs across the source.)"""
        from .store import sql_in

        if not hits:
            return {}
        firsts: dict[tuple[str, int], int] = {}
        rows = (self.store.tiles.search().where(sql_in("source", {h.source for h in hits}))
                .select(["source", "page", "tile"]).limit(None).to_list())
        for r in rows:
            key = (real_name(r["source"]), r["page"])
            firsts[key] = min(firsts.get(key, r["tile"]), r["tile"])
        return {h.tile_id: (h.page + 1, h.tile - firsts.get((h.source, h.page), h.tile) + 1) for h in hits}

    def sources(self) -> list[SourceInfo]:
        """Every source the index knows, sorted: its status, kind, tiles and when it was indexed."""
        self.store.require()
        rows = self.store.source_rows(["kind", "status", "reason", "tiles", "indexed_at"])
        return [
            SourceInfo(source=s, kind=r["kind"], status=r["status"], tiles=int(r["tiles"] or 0),
                       indexed_at=float(r["indexed_at"] or 0.0), reason=r["reason"] or "",
                       exists="://" in s or on_disk(s))
            for s, r in sorted(rows.items())
        ]

    def _query_images(self, text, image, url) -> tuple[list, list[str] | None]:
        """The query's screenshots, with the renderer's own text of each where it rendered them (the
        `hints` of embed_tiles: real embedders read the pixels and ignore them)."""
        from ..render import Renderer, RenderSettings, render_query_text

        rs = RenderSettings.from_settings(self.settings)
        if text is not None:
            return [render_query_text(text, rs)], [text]
        if url is not None:
            with Renderer(rs, chromium=self.settings.chromium) as r:
                res = r.render(url)
            if not res.ok or not res.tiles:
                raise QueryError(f"cannot render {url}: {res.error or 'no tiles'}")
            return [t.image for t in res.tiles], [t.text for t in res.tiles]  # every tile, not the first
        if isinstance(image, (str, Path)):
            return [_open_query_image(Path(image), rs.max_image_pixels)], None
        from ..render.images import flatten_rgb

        return [flatten_rgb(image)], None

    def tile_images(self, tile_ids: list[str]) -> dict:
        """The stored screenshots of these tiles, decoded (works after the source moved)."""
        from .store import sql_in

        if not tile_ids:
            return {}
        rows = self.store.tiles.search().where(sql_in("id", tile_ids)).select(["id", "image", "words"]).limit(len(tile_ids)).to_list()
        return {r["id"]: (decode_image(r["image"]), json.loads(r["words"] or "[]")) for r in rows}

    def stats(self) -> Stats:
        """Sources and tiles by kind, failures, embedder and size on disk."""
        self.store.require()
        meta = self.store.meta
        cols = ["kind", "tag"] if meta.visual_dim else ["kind"]
        table = self.store.tiles.to_lance().to_table(columns=cols)
        tiles = table.column("kind").to_pylist()
        figures = None
        if meta.visual_dim:
            figures = {}
            for tag in table.column("tag").to_pylist():
                if tag:
                    figures[tag] = figures.get(tag, 0) + 1
        srcs = self.store.source_rows(["kind", "status", "reason", "tiles"])
        by_kind: dict = {}
        for kind in tiles:
            by_kind.setdefault(kind, {"sources": 0, "tiles": 0})["tiles"] += 1
        failed, stale = [], []
        for row in srcs.values():
            if row["status"] in ("indexed", STALE):
                by_kind.setdefault(row["kind"], {"sources": 0, "tiles": 0})["sources"] += 1
            if row["status"] == STALE:
                stale.append({"source": row["source"], "reason": row["reason"], "tiles": row["tiles"]})
            elif row["status"] != "indexed":
                failed.append({"source": row["source"], "reason": row["reason"]})
        return Stats(
            db=str(self.store.folder), model=meta.model, fingerprint=meta.fingerprint, dim=meta.dim,
            sources=sum(v["sources"] for v in by_kind.values()), tiles=len(tiles), by_kind=by_kind,
            failed=failed, stale=stale, bytes_on_disk=self.store.size_on_disk(), vector_index=self.store.has_ann(),
            page_fields=self.store.has_pages(), figures=figures,
        )


def _query_url(url: str) -> str:
    """An http(s) URL as it is; a file:// URL as its local path (rendered like any file)."""
    if not isinstance(url, str):
        raise QueryError(f"url must be a string, not {type(url).__name__}")
    if url.lower().startswith("file://"):
        return check_sources([url])[0]
    if not url.lower().startswith(("http://", "https://")):
        raise QueryError(f"{url}: not an http(s) or file:// URL")
    return url


def _open_query_image(path: Path, max_pixels: int):
    from PIL import Image

    from ..render.images import flatten_rgb

    try:
        img = Image.open(path)
        if img.width * img.height > max_pixels:
            raise QueryError(f"{path}: image of {img.width}x{img.height} is over the {max_pixels:,} pixel limit")
        img.load()
        return flatten_rgb(img)  # transparency on white, as an indexed picture
    except OSError as exc:
        raise QueryError(f"{path}: not a readable image ({exc})") from exc
