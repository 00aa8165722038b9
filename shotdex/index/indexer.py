"""Incremental indexing: plan what changed, then run the pipeline's stages (pipeline.py) locally
(runner.py) or on a Ray cluster (ray_runner.py)."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..render.discover import BENIGN_SKIPS
from .pipeline import SourceJob, decode_image, encode_image, stat_source, tile_id
from .store import Store

__all__ = ["AddReport", "ProgressEvent", "run_add", "tile_id", "encode_image", "decode_image"]


@dataclass
class AddReport:
    """What an add run did, source by source."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # already indexed as they are: not rendered again
    failed: list[tuple[str, str]] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # not indexable (hidden, unknown ending)
    missing: list[str] = field(default_factory=list)  # indexed under the given folders, gone from disk
    warnings: list[tuple[str, str]] = field(default_factory=list)
    tiles: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted

    @property
    def skipped(self) -> list[str]:
        """Deprecated name of `unchanged`."""
        return self.unchanged

    @property
    def problems(self) -> list[tuple[str, str]]:
        """Ignored entries worth a line of their own (symlink loops, pipes, unreadable folders), unlike
        the hidden files and unknown endings that any real folder is full of."""
        return [(p, why) for p, why in self.ignored if why not in BENIGN_SKIPS]

    def summary(self) -> str:
        tiles = "1 tile" if self.tiles == 1 else f"{self.tiles} tiles"
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.failed)} failed, {len(self.pruned)} pruned, {len(self.ignored)} ignored; "
            f"{tiles} in {self.seconds:.1f}s"
        )


@dataclass(frozen=True)
class ProgressEvent:
    """Sent to the progress callback at the start, after each tile is embedded and after each commit.

    sources_done counts sources written; tiles_done tiles embedded (written soon after); current is the
    source being rendered."""

    sources_total: int
    sources_done: int
    tiles_done: int
    current: str = ""


def under_roots(source: str, roots: list[str]) -> bool:
    """True when source is one of roots, lies below one of them, or is a part of one ('mail.eml#a.pdf')."""
    return any(source == r or source.startswith(r.rstrip("/") + "/") or source.startswith(r + "#") for r in roots)


def on_disk(source: str) -> bool:
    """Whether a file source (or, for an embedded part 'mail.eml#a.pdf', the file holding it) exists."""
    if os.path.exists(source):
        return True
    i = source.find("#")
    while i != -1:
        if os.path.isfile(source[:i]):
            return True
        i = source.find("#", i + 1)
    return False


def part_of(source: str, alive: set[str]) -> bool:
    """True for an embedded part ('mail.eml#a.pdf') of a source in alive."""
    i = source.find("#")
    while i != -1:
        if source[:i] in alive:
            return True
        i = source.find("#", i + 1)
    return False


class _Plan:
    """Which discovered sources need rendering, and which can be skipped untouched."""

    def __init__(self, store: Store, sources: list[str], settings_hash: str, report: AddReport):
        from ..render import content_hash

        self.todo: list[SourceJob] = []
        touched: list[dict] = []
        torn = store.recover_journal()
        if torn:  # said through the report's warnings: the CLI prints each as one line
            report.warnings.append((f"{store.loc}/pending.json", torn))
        known = store.source_rows()
        dirty = store.pending()
        for src in sources:
            row = known.get(src)
            try:
                size, mtime = stat_source(src)
            except OSError as exc:
                report.failed.append((src, f"cannot read: {exc.strerror or exc}"))
                continue
            fresh = (row is not None and row["status"] == "indexed" and row["settings_hash"] == settings_hash
                     and src not in dirty)
            if fresh and size >= 0 and row["size"] == size and row["mtime"] == mtime:
                report.unchanged.append(src)
                continue
            if fresh and size >= 0:
                # Touched but maybe unchanged: hashing is far cheaper than rendering and reading.
                try:
                    same = content_hash(src) == row["content_hash"]
                except OSError:
                    same = False
                if same:
                    touched.append(dict(row, size=size, mtime=mtime))
                    report.unchanged.append(src)
                    continue
            self.todo.append(SourceJob(src, size, mtime, row, src in dirty))
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
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    runner: str = "local",
    ray_address: str | None = None,
    chains: list | None = None,
) -> AddReport:
    """Index paths into store. Library code: never prints; the report says everything.
    include/exclude: globs on the path below each folder given (or the bare name); see render/globs.py.
    runner: "local" (threads here) or "ray" (Ray Data on the cluster at ray_address, else a local one).
    chains: read worker processes already started for the local runner (ReadStage.start_processes)."""
    from ..render import RenderSettings, discover
    from ..render.globs import filter_sources

    from .pipeline import EmbedStage, EncodeStage, ReadStage, RenderStage, WriteStage
    from .runner import run_local

    t0 = time.perf_counter()
    report = AddReport()
    rs = RenderSettings.from_settings(settings)
    paths = list(paths)
    found = filter_sources(discover(paths, follow_links=rs.follow_links), paths, include, exclude)
    report.ignored = list(found.skipped)
    plan = _Plan(store, found.sources, rs.hash, report)
    if prune:
        roots = [str(Path(p).resolve()) for p in paths if "://" not in p]
        alive = set(found.sources)
        gone = [s for s in store.source_rows(["status"]) if under_roots(s, roots) and s not in alive
                and not os.path.exists(s) and not part_of(s, alive)]
        store.delete_sources(gone)
        report.pruned = gone

    total = len(plan.todo)
    emit = progress or (lambda e: None)
    emit(ProgressEvent(total, 0, 0))
    counts = {"sources": 0, "tiles": 0}

    def on_tile(current: str) -> None:
        counts["tiles"] += 1
        emit(ProgressEvent(total, counts["sources"], counts["tiles"], current))

    def on_sources(done: int, current: str) -> None:
        counts["sources"] = done
        emit(ProgressEvent(total, done, counts["tiles"], current))

    done = 0
    if plan.todo and runner == "ray":
        from .ray_runner import run_ray

        done = run_ray(plan.todo, rs, settings, embedder, WriteStage(store, rs.hash, report), address=ray_address,
                       stop=stop or threading.Event(), on_tile=on_tile, on_sources=on_sources)
    elif plan.todo:
        read = ReadStage(embedder, settings, chains) if embedder.reads_text else None
        done = run_local(
            plan.todo, RenderStage(rs, settings.chromium), read,
            EmbedStage(embedder), EncodeStage(), WriteStage(store, rs.hash, report),
            stop=stop or threading.Event(), on_tile=on_tile, on_sources=on_sources,
        )
        if read is not None and read.fallback:  # slower, same rows: said, not silent
            report.warnings.append(("read workers", f"read on threads: a worker process could not make the "
                                                    f"embedder ({read.fallback})"))
    report.seconds = time.perf_counter() - t0
    if done or store.text_index_outdated() or (store.has_pages() and not store.page_index_ready()):
        store.maintain()
    report.seconds = time.perf_counter() - t0
    return report
