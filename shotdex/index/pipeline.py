"""The index pipeline's stages: plain callables over one typed row per tile, with no threads in them.

    plan -> render -> read -> embed -> encode -> write

Each stage holds its state (a Chromium page, the OCR engine, a model, the store) and is created once.
The local runner (runner.py) overlaps them with bounded queues; another runner (a cluster) can map the
same stages over its workers. `read` is the per-tile, parallel part (OCR): it exists only for
embedders that read text (`Embedder.reads_text`); for the others `embed` does everything.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .layout import page_fields
from .store import PAGE_FIELDS, STALE, Store, figure_columns, now

if TYPE_CHECKING:  # pragma: no cover
    from ..embed.base import TileEmbedding
    from ..render.types import RenderResult, Tile
    from .indexer import AddReport

__all__ = [
    "SourceJob", "TileRow", "SourceDone", "Commit", "RenderStage", "ReadStage", "EmbedStage", "EncodeStage", "WriteStage",
    "tile_id", "encode_image", "decode_image",
]

# Lossless WebP's effort (Pillow's method and, for lossless, quality): benchmarks/pipeline_speed.py measures
# the trade. Quality 0 encodes a table tile ~2x faster than Pillow's default 80 (0.017 vs 0.031 CPU-s there)
# for ~40% more bytes (29 vs 21 KiB); the pixels are the same either way.
WEBP_METHOD = 4
WEBP_QUALITY = 0


@dataclass(frozen=True)
class SourceJob:
    """A source the plan says must be (re)rendered, with what its stat said, its old row and whether
    the pending journal names it (then it is rewritten even if it renders the same)."""

    source: str
    size: int  # -1 for a URL
    mtime: float
    old: dict | None = None
    pending: bool = False


@dataclass
class TileRow:
    """One tile on its way through the stages; each stage fills its part and may drop what it used."""

    job: SourceJob
    tile: "Tile"
    attempt: int = 1  # the render attempt that made it (a crash makes the renderer start again)
    reading: tuple | None = None  # (text, words) from the read stage
    embedding: "TileEmbedding | None" = None
    image: bytes = b""  # the encoded screenshot (the tile's pixels are dropped once encoded)


@dataclass
class SourceDone:
    """A source whose every tile went through the stages (or which failed, or rendered exactly as it is
    stored): one write, one commit."""

    job: SourceJob
    result: "RenderResult"
    rows: list[TileRow] = field(default_factory=list)
    unchanged: bool = False
    # The source of each of its tiles, when the tiles themselves are already written elsewhere (the
    # Ray runner's workers write them as Lance fragments): then rows is empty.
    tile_sources: list[str] | None = None

    def sources_of_tiles(self) -> list[str]:
        return self.tile_sources if self.tile_sources is not None else [r.tile.source for r in self.rows]


@dataclass
class Commit:
    """What one write puts in the store: new tile rows, the sources whose old tiles they replace, the
    sources' rows, parts gone from their parent (to delete), and every source named (the journal)."""

    rows: list[dict]
    replaced: list[str]
    source_rows: list[dict]
    stale: list[str]
    names: set[str]
    pending: set[str]


def tile_id(source: str, page: int, tile: int, content_hash: str, settings_hash: str) -> str:
    """Stable id: the same source bytes under the same render settings give the same ids."""
    key = f"{source}\0{page}\0{tile}\0{content_hash}\0{settings_hash}"
    return hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def encode_image(image) -> bytes:
    """Lossless WebP: a text screenshot shrinks ~15x against raw pixels and re-reads identically."""
    buf = io.BytesIO()
    image.save(buf, "WEBP", lossless=True, method=WEBP_METHOD, quality=WEBP_QUALITY)
    return buf.getvalue()


def decode_image(data: bytes):
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.load()
    return img


class RenderStage:
    """A source -> its RenderResult (tiles or the reason it failed). Owns one Chromium."""

    def __init__(self, render_settings, chromium: str | None = None):
        from ..render import Renderer

        self.renderer = Renderer(render_settings, chromium=chromium)

    def __call__(self, job: SourceJob, on_tile=None) -> "RenderResult":
        """Render a source. With on_tile(tile, attempt), its tiles are streamed to it as they are made
        (see Renderer.render); a URL is never streamed: whether it changed is known from all its tiles."""
        if on_tile is not None and job.size >= 0:
            return self.renderer.render(job.source, on_tile=on_tile)
        res = self.renderer.render(job.source)
        res.tile_count = len(res.tiles)
        if job.size < 0 and res.ok and res.tiles:
            # A URL's bytes are not known before it renders, so its hash is its tiles': a render that
            # draws the same tiles is unchanged (unchanged_url), neither embedded nor written again.
            res.content_hash = pixels_hash(res.tiles)
        return res

    def unchanged_url(self, job: SourceJob, res: "RenderResult") -> bool:
        """Whether a URL rendered exactly as it is stored (same tiles, same render settings)."""
        old = job.old
        return (job.size < 0 and res.ok and bool(res.tiles) and not job.pending and old is not None
                and old["status"] == "indexed" and old["settings_hash"] == self.renderer.settings.hash
                and old["content_hash"] == res.content_hash)

    def kill(self) -> None:
        """End the source being rendered now (from another thread, after an interrupt)."""
        self.renderer.browser.kill()
        self.renderer.office.kill()

    def close(self) -> None:
        self.renderer.close()


class ReadStage:
    """A tile -> what a reading embedder reads on it. Safe to call from several threads at once.
    With settings whose read_processes is on, start_processes() gives each worker a child process that
    runs the tile's whole chain (procs.py)."""

    def __init__(self, embedder, settings=None, chains: list | None = None):
        self.embedder = embedder
        self.workers = embedder.read_workers()
        self.settings = settings
        self.chains = chains  # chain processes started earlier by the caller (see start_processes)
        self.fallback = ""  # why the workers read on threads after all (a child could not make the embedder)

    def start_processes(self) -> list:
        """One chain process per worker (procs.py), or [] to read on the runner's threads: for one
        worker (no lock to share) or when settings.read_processes is off. Those given to the
        constructor are used when there are any: a caller may start them before its own set-up (they
        take ~1.5 CPU-s each to load), so that they load while it works."""
        if self.chains:
            return self.chains
        if self.settings is None or not self.settings.read_processes or self.workers < 2:
            return []
        from .procs import start_chain_processes

        return start_chain_processes(self.embedder, self.settings, self.workers)

    def __call__(self, row: TileRow) -> TileRow:
        row.reading = self.embedder.read_tile(row.tile.image, row.tile.kind)
        return row

    def release(self) -> None:
        """Free what the calling thread holds for reading (call it when the thread is done)."""
        self.embedder.release_read_thread()


class EmbedStage:
    """Tiles -> vectors: from what was read (reading embedders) or from the pixels (the others)."""

    def __init__(self, embedder):
        self.embedder = embedder

    def __call__(self, rows: list[TileRow]) -> list[TileRow]:
        if not rows:
            return rows
        if self.embedder.reads_text:
            embs = self.embedder.embed_readings([r.reading for r in rows])
        else:
            embs = self.embedder.embed_tiles([r.tile.image for r in rows], hints=[r.tile.text for r in rows])
        for r, e in zip(rows, embs):
            r.embedding = e
        return rows


class EncodeStage:
    """A tile's pixels -> lossless WebP bytes; the pixels are let go (they are the bulk of memory)."""

    def __call__(self, row: TileRow) -> TileRow:
        row.image = encode_image(row.tile.image)
        row.tile.image = None
        return row


class WriteStage:
    """Finished sources -> the store. Each source's new tiles replace its old ones in one commit
    (searches see old or new, never a mix), and its source row follows. The pending journal names
    the sources in between, so a run killed after the tiles' commit re-renders them on the next run
    even if the file is changed back to what its old row says."""

    def __init__(self, store: Store, settings_hash: str, report: "AddReport"):
        self.store = store
        self.settings_hash = settings_hash
        self.report = report

    def __call__(self, done: list[SourceDone]) -> None:
        commit = self.prepare(done)
        if commit is not None:
            self.apply(commit)

    def prepare(self, done: list[SourceDone]) -> Commit | None:
        """Fill the report and say what to write (None: nothing). Shared by every runner."""
        if not done:
            return None
        store, report, shash = self.store, self.report, self.settings_hash
        rows, replaced, source_rows, stale = [], [], [], []
        pending = store.pending()
        known = [k for k in store.source_rows(["status"]) if "#" in k] if any(d.result.parts or
                 (d.job.old is not None and d.job.old["kind"] == "mail") for d in done) else []
        for d in done:
            job, res = d.job, d.result
            src = job.source
            if d.unchanged:
                report.unchanged.append(src)
                continue
            for w in res.warnings:
                # the renderer's warnings name their source (they stand alone there); the report pairs them
                report.warnings.append((src, w[len(src) + 2:] if w.startswith(src + ": ") else w))
            old = job.old
            was_good = old is not None and old["status"] in ("indexed", STALE)
            if not res.ok:
                if was_good and old["tiles"]:
                    # It rendered before: its last good tiles stay searchable, and `status` says stale.
                    report.failed.append((src, f"{res.error} (its last good version stays searchable, marked stale)"))
                    source_rows.append(_source_row(job, old["kind"], old["content_hash"], old["settings_hash"],
                                                   old["tiles"], STALE, res.error, res.warnings, KEEP))
                    continue
                report.failed.append((src, res.error))
                source_rows.append(_source_row(job, res.kind, "", shash, 0, "failed", res.error, res.warnings))
                continue
            rows += [_tile_row(r) for r in d.rows]
            if old is not None or src in pending:
                replaced.append(src)
            of = d.sources_of_tiles()
            report.tiles += len(of)
            (report.updated if was_good else report.added).append(src)
            source_rows.append(
                _source_row(job, res.kind, res.content_hash or "", shash, of.count(src), "indexed", "", res.warnings,
                            _page_fields(d.rows, src))
            )
            stale += _parts(job, res, of, d.rows, shash, source_rows, replaced, known)
        names = {d.job.source for d in done if not d.unchanged}
        if not names:
            return None
        return Commit(rows, replaced, source_rows, stale, names, pending)

    def apply(self, c: Commit, write_tiles=None) -> None:
        """Write a Commit: journal, tiles (one commit; `write_tiles(rows, replaced)` when the runner
        writes them its own way), source rows, the journal cleared."""
        store = self.store
        store.set_pending(c.pending | c.names)
        (write_tiles or store.replace_tiles)(c.rows, c.replaced)
        derive = [r["source"] for r in c.source_rows if r.pop("_derive", False)]
        if derive:  # their tiles are committed now: their page fields come from the stored words
            fields = store.page_fields_from_tiles(derive)
            for r in c.source_rows:
                r.update(fields.get(r["source"], {}))
        store.write_sources(c.source_rows)
        if c.stale:
            store.delete_sources(c.stale)
        store.set_pending(store.pending() - c.names)


def pixels_hash(tiles) -> str:
    """sha256 of a rendered source's tiles: their pixels, boxes and text."""
    h = hashlib.sha256()
    for t in tiles:
        h.update(f"{t.page}|{t.tile}|{t.x}|{t.y}|{t.w}|{t.h}|{t.image.size}|".encode())
        h.update(t.image.tobytes())
        h.update((t.text or "").encode("utf-8", "surrogateescape"))
    return "px:" + h.hexdigest()


def _parts(job: SourceJob, res, of: list[str], rows: list[TileRow], shash: str, source_rows: list, replaced: list,
           known: list[str]) -> list[str]:
    """Source rows for a source's embedded parts ('mail.eml#a.pdf'), each replacing its old tiles; returns
    the parent's old parts that are gone (to delete)."""
    prefix = job.source + "#"
    old = [k for k in known if k.startswith(prefix)]
    replaced += old
    for part in res.parts:
        source_rows.append(_source_row(SourceJob(part.source, job.size, job.mtime), part.kind, part.content_hash or "",
                                       shash, of.count(part.source), "indexed", "", part.warnings,
                                       _page_fields(rows, part.source)))
    alive = {p.source for p in res.parts}
    return [k for k in old if k not in alive]


def _tile_row(r: TileRow) -> dict:
    t, emb = r.tile, r.embedding
    return {
        "id": tile_id(t.source, t.page, t.tile, t.content_hash, t.settings_hash), "source": t.source,
        "kind": t.kind, "page": t.page, "tile": t.tile, "x": t.x, "y": t.y, "w": t.w, "h": t.h,
        "page_width": t.page_width, "page_height": t.page_height, "content_hash": t.content_hash,
        "settings_hash": t.settings_hash, "label": t.label or "", "text": emb.text or "", "true_text": t.text or "",
        "words": json.dumps([[w.text, w.x, w.y, w.w, w.h] for w in emb.words], separators=(",", ":")),
        "image": r.image, "vector": emb.vector.astype("float32"),
        **figure_columns(emb, len(emb.visual) if emb.visual is not None else 0),
    }


def _page_fields(rows: list[TileRow], source: str) -> dict | None:
    """The source's page-level fields (layout.py) from the words its tiles were read as; None when the
    rows are not here (the Ray runner's workers wrote them): apply() then derives them from the store."""
    if not rows:
        return None
    return page_fields([
        {"kind": r.tile.kind, "page": r.tile.page, "x": r.tile.x, "y": r.tile.y, "w": r.tile.w, "h": r.tile.h,
         "words": [[w.text, w.x, w.y, w.w, w.h] for w in r.embedding.words]}
        for r in rows if r.tile.source == source
    ])


KEEP = "keep"  # _source_row(pages=KEEP): no page fields in the row, so write_sources keeps the stored ones


def _source_row(job: SourceJob, kind, chash, shash, ntiles, status, reason, warnings, pages: dict | str | None = None) -> dict:
    if pages == KEEP:
        row = _source_row(job, kind, chash, shash, ntiles, status, reason, warnings, {})
        return {k: v for k, v in row.items() if k not in PAGE_FIELDS}
    return {
        "source": job.source, "kind": kind or "", "size": job.size, "mtime": job.mtime, "content_hash": chash,
        "settings_hash": shash, "tiles": ntiles, "status": status, "reason": reason or "",
        "warnings": "\n".join(warnings), "indexed_at": now(), **dict.fromkeys(PAGE_FIELDS, ""), **(pages or {}),
        **({"_derive": True} if pages is None and status == "indexed" else {}),
    }


def stat_source(source: str) -> tuple[int, float]:
    """(size, mtime) of a file; (-1, -1.0) for a URL."""
    if "://" in source:
        return -1, -1.0
    st = os.stat(source)
    return st.st_size, st.st_mtime
