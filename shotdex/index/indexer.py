"""Incremental, pipelined indexing: render (a thread) -> embed (batched) -> write (batched)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..render.discover import BENIGN_SKIPS
from .store import Store, now

MAX_TILES_AHEAD = 96

__all__ = ["AddReport", "ProgressEvent", "run_add", "tile_id", "encode_image", "decode_image"]


@dataclass
class AddReport:
    """What an add run did, source by source."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # not indexable (hidden, unknown ending)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    tiles: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted

    @property
    def problems(self) -> list[tuple[str, str]]:
        """Ignored entries worth a line of their own (symlink loops, pipes, unreadable folders), unlike
        the hidden files and unknown endings that any real folder is full of."""
        return [(p, why) for p, why in self.ignored if why not in BENIGN_SKIPS]

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.skipped)} unchanged, "
            f"{len(self.failed)} failed, {len(self.pruned)} pruned, {len(self.ignored)} ignored; "
            f"{self.tiles} tiles in {self.seconds:.1f}s"
        )


@dataclass(frozen=True)
class ProgressEvent:
    """Sent to the progress callback after each source (and once at the start)."""

    sources_total: int
    sources_done: int
    tiles_done: int
    current: str = ""


def tile_id(source: str, page: int, tile: int, content_hash: str, settings_hash: str) -> str:
    """Stable id: the same source bytes under the same render settings give the same ids."""
    key = f"{source}\0{page}\0{tile}\0{content_hash}\0{settings_hash}"
    return hashlib.sha1(key.encode()).hexdigest()[:24]


def encode_image(image) -> bytes:
    """Lossless WebP: a text screenshot shrinks ~20x against raw pixels and re-reads identically."""
    buf = io.BytesIO()
    image.save(buf, "WEBP", lossless=True, method=4)
    return buf.getvalue()


def decode_image(data: bytes):
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def _stat(source: str) -> tuple[int, float]:
    if "://" in source:
        return -1, -1.0
    st = os.stat(source)
    return st.st_size, st.st_mtime


def under_roots(source: str, roots: list[str]) -> bool:
    """True when source is one of roots or lies below one of them."""
    return any(source == r or source.startswith(r.rstrip("/") + "/") for r in roots)


class _Plan:
    """Which discovered sources need rendering, and which can be skipped untouched."""

    def __init__(self, store: Store, sources: list[str], settings_hash: str, report: AddReport):
        from ..render import content_hash

        self.todo: list[tuple[str, int, float, dict | None]] = []
        touched: list[dict] = []
        known = store.source_rows()
        dirty = store.pending()
        for src in sources:
            row = known.get(src)
            try:
                size, mtime = _stat(src)
            except OSError as exc:
                report.failed.append((src, f"cannot read: {exc.strerror or exc}"))
                continue
            fresh = (row is not None and row["status"] == "indexed" and row["settings_hash"] == settings_hash
                     and src not in dirty)
            if fresh and size >= 0 and row["size"] == size and row["mtime"] == mtime:
                report.skipped.append(src)
                continue
            if fresh and size >= 0:
                # Touched but maybe unchanged: hashing is far cheaper than rendering and reading.
                try:
                    same = content_hash(src) == row["content_hash"]
                except OSError:
                    same = False
                if same:
                    touched.append(dict(row, size=size, mtime=mtime))
                    report.skipped.append(src)
                    continue
            self.todo.append((src, size, mtime, row))
        store.write_sources(touched)


def run_add(
    store: Store,
    embedder,
    settings,
    paths: Iterable[str],
    *,
    prune: bool = False,
    progress: Callable[[ProgressEvent], None] | None = None,
    stop: threading.Event | None = None,
) -> AddReport:
    """Index paths into store. Library code: never prints; the report says everything."""
    from ..render import Renderer, RenderSettings, discover

    t0 = time.perf_counter()
    report = AddReport()
    rs = RenderSettings.from_settings(settings)
    paths = list(paths)
    found = discover(paths, follow_links=rs.follow_links)
    report.ignored = list(found.skipped)
    plan = _Plan(store, found.sources, rs.hash, report)
    if prune:
        roots = [str(Path(p).resolve()) for p in paths if "://" not in p]
        alive = set(found.sources)
        gone = [s for s in store.source_rows(["status"]) if under_roots(s, roots) and s not in alive and not os.path.exists(s)]
        store.delete_sources(gone)
        report.pruned = gone

    total = len(plan.todo)
    emit = progress or (lambda e: None)
    emit(ProgressEvent(total, 0, 0))
    stop = stop or threading.Event()
    results: queue.Queue = queue.Queue()
    done_marker = object()
    # Rendering runs ahead of reading by at most this many tiles (~2.4 MB each in memory).
    budget = threading.BoundedSemaphore(MAX_TILES_AHEAD)
    held: dict[int, int] = {}

    live: list = []  # the producer's Renderer, so an interrupt can stop its Chromium

    def produce() -> None:
        try:
            with Renderer(rs, chromium=settings.chromium) as renderer:
                live.append(renderer)
                for item in plan.todo:
                    if stop.is_set():
                        break
                    res = renderer.render(item[0])
                    n = min(len(res.tiles), MAX_TILES_AHEAD)
                    for _ in range(n):
                        while not budget.acquire(timeout=0.2):
                            if stop.is_set():
                                return
                    held[id(res)] = n
                    results.put((item, res))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises
            results.put(exc)
        finally:
            results.put(done_marker)

    producer = threading.Thread(target=produce, name="shotdex-render", daemon=True)
    producer.start()
    batch: list = []
    batch_tiles = 0
    want = max(8, settings.batch_size)
    done = 0
    try:
        while True:
            got = results.get()
            if got is done_marker:
                break
            if isinstance(got, BaseException):
                raise got
            batch.append(got)
            batch_tiles += len(got[1].tiles)
            if batch_tiles >= want:
                done += _flush(store, embedder, rs.hash, batch, report)
                _release(budget, held, batch)
                emit(ProgressEvent(total, done, report.tiles, got[0][0]))
                batch, batch_tiles = [], 0
        if batch:
            done += _flush(store, embedder, rs.hash, batch, report)
            _release(budget, held, batch)
            emit(ProgressEvent(total, done, report.tiles))
    except KeyboardInterrupt:
        stop.set()
        report.interrupted = True
        _stop_producer(producer, results, live)
        raise
    finally:
        stop.set()
        report.seconds = time.perf_counter() - t0
    if done:
        store.maintain()
    report.seconds = time.perf_counter() - t0
    return report


def _release(budget: threading.BoundedSemaphore, held: dict, batch: list) -> None:
    for _, res in batch:
        for _ in range(held.pop(id(res), 0)):
            budget.release()


def _stop_producer(producer: threading.Thread, results: queue.Queue, live: list, wait_s: float = 1.0) -> None:
    """After an interrupt: give the render thread a second to end, so the process can exit cleanly
    (a Playwright thread still running at interpreter exit can crash it). Killing Chromium ends the
    source being rendered; draining the queue unblocks a thread waiting to hand one over."""
    for renderer in live:
        renderer.browser.kill()
    deadline = time.monotonic() + wait_s
    while producer.is_alive() and time.monotonic() < deadline:
        try:
            results.get(timeout=0.05)
        except queue.Empty:
            pass
    producer.join(timeout=max(0.0, deadline - time.monotonic()))


def _flush(store: Store, embedder, settings_hash: str, batch: list, report: AddReport) -> int:
    """Embed every tile of the batch together (so OCR workers stay busy), then write."""
    tiles = [t for _, res in batch for t in res.tiles]
    embedded = embedder.embed_tiles([t.image for t in tiles], hints=[t.text for t in tiles]) if tiles else []
    rows, replaced, source_rows = [], [], []
    at = 0
    for (src, size, mtime, old), res in batch:
        for w in res.warnings:
            # the renderer's warnings name their source (they stand alone there); the report pairs them
            report.warnings.append((src, w[len(src) + 2 :] if w.startswith(src + ": ") else w))
        if not res.ok:
            report.failed.append((src, res.error))
            source_rows.append(_source_row(src, res.kind, size, mtime, "", settings_hash, 0, "failed", res.error, res.warnings))
            continue
        for t in res.tiles:
            emb = embedded[at]
            at += 1
            rows.append(_tile_row(tile_id(src, t.page, t.tile, t.content_hash, t.settings_hash), t, emb))
        if old is not None or src in store.pending():
            replaced.append(src)
        report.tiles += len(res.tiles)
        (report.updated if old is not None and old["status"] == "indexed" else report.added).append(src)
        source_rows.append(
            _source_row(src, res.kind, size, mtime, res.content_hash or "", settings_hash, len(res.tiles), "indexed", "", res.warnings)
        )
    # A source's new tiles replace its old ones in one commit (searches see old or new, never a mix),
    # and its source row follows. The journal names the sources in between, so a run killed after the
    # tiles' commit re-renders them even if the file is changed back to what its old row says.
    batch_sources = {src for (src, *_), _ in batch}
    store.set_pending(store.pending() | batch_sources)
    store.replace_tiles(rows, replaced)
    store.write_sources(source_rows)
    store.set_pending(store.pending() - batch_sources)
    return len(batch)


def _tile_row(tid: str, t, emb) -> dict:
    return {
        "id": tid, "source": t.source, "kind": t.kind, "page": t.page, "tile": t.tile,
        "x": t.x, "y": t.y, "w": t.w, "h": t.h, "page_width": t.page_width, "page_height": t.page_height,
        "content_hash": t.content_hash, "settings_hash": t.settings_hash, "label": t.label or "",
        "text": emb.text or "", "true_text": t.text or "",
        "words": json.dumps([[w.text, w.x, w.y, w.w, w.h] for w in emb.words], separators=(",", ":")),
        "image": encode_image(t.image), "vector": emb.vector.astype("float32"),
    }


def _source_row(src, kind, size, mtime, chash, shash, ntiles, status, reason, warnings) -> dict:
    return {
        "source": src, "kind": kind or "", "size": size, "mtime": mtime, "content_hash": chash,
        "settings_hash": shash, "tiles": ntiles, "status": status, "reason": reason or "",
        "warnings": "\n".join(warnings), "indexed_at": now(),
    }
