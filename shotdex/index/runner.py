"""The local runner: the pipeline's stages on threads of one process, overlapped by bounded queues.

    render (1 thread, its own Chromium) -> per tile: read + embed + encode (one thread per OCR worker,
    each driving a child process of its own, procs.py, when there are two or more)
    -> collect (1 thread: a source's tiles together) -> write (the calling thread)

For embedders that do not read text, the collect thread embeds (in batches) and encodes. Every stage
runs at once: the workers never wait for a write, and the writer commits whatever sources are
finished instead of waiting for a batch to fill. A tile's whole chain runs on one worker because a
single embed + encode thread was the bound (pipeline_speed.md: it was busy all the time while the
readers waited half of it). Tiles are streamed from the renderer as they are made, so memory is
bounded by the queues, not by the documents: at most QUEUE_TILES tiles waiting to be read and
QUEUE_TILES waiting to be collected (~2.4 MB each at 1024x768 before encoding), one per worker and
one embed batch, plus the encoded tiles (lossless WebP, ~30-80 KB each) of sources not yet committed:
a 2,000-page PDF is never held whole, its pages wait encoded for the last one and then go in one
commit. Each worker process adds its models (~150 MB) and one tile at a time. BLAS runs one thread per
worker for the whole run (the workers are the parallelism).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .pipeline import EmbedStage, EncodeStage, ReadStage, RenderStage, SourceDone, SourceJob, TileRow, WriteStage

__all__ = ["run_local", "QUEUE_TILES"]

QUEUE_TILES = 16  # tiles waiting between two stages; a 1024x768 tile is ~2.4 MB before encoding
COMMIT_TILES = 64  # commit once this many finished tiles wait (or when nothing else is ready)
EMBED_BATCH = 16
_DONE = object()


class _Stopped(BaseException):
    """Raised inside the renderer's tile callback when the run stops (a BaseException, so that the
    renderer does not take it for a failure of the source)."""


@dataclass(frozen=True)
class _Check:
    """Sent to the embed stage when a source is fully rendered: it may already hold all its tiles."""

    key: int


def run_local(
    jobs: list[SourceJob],
    render: RenderStage,
    read: ReadStage | None,
    embed: EmbedStage,
    encode: EncodeStage,
    write: WriteStage,
    *,
    stop: threading.Event,
    on_tile: Callable[[str], None] = lambda current: None,
    on_sources: Callable[[int, str], None] = lambda done, current: None,
) -> int:
    """Run the jobs through the stages; returns the number of sources written. on_tile(current source)
    is called after each tile is embedded, on_sources(done, current) after each commit."""
    from ..embed.sentence import one_blas_thread

    with one_blas_thread():
        return _run(jobs, render, read, embed, encode, write, stop=stop, on_tile=on_tile, on_sources=on_sources)


def _run(jobs, render, read, embed, encode, write, *, stop, on_tile, on_sources) -> int:
    read_q: queue.Queue = queue.Queue(QUEUE_TILES)
    embed_q: queue.Queue = queue.Queue(QUEUE_TILES)
    write_q: queue.Queue = queue.Queue()
    errors: list[BaseException] = []
    expected: dict[int, tuple[SourceJob, object, int]] = {}  # id(job) -> (job, result, tiles)
    lock = threading.Lock()
    current = [""]

    def put(q: queue.Queue, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - raised again in the calling thread
                errors.append(exc)
                stop.set()
        return run

    first_q = read_q if read is not None else embed_q

    def do_render():
        try:
            for job in jobs:
                if stop.is_set():
                    return
                current[0] = job.source
                made = [0]

                def stream(tile, attempt, job=job):
                    made[0] += 1
                    if not put(first_q, TileRow(job, tile, attempt)):
                        raise _Stopped

                try:
                    res = render(job, stream)
                    if render.unchanged_url(job, res):
                        write_q.put(SourceDone(job, res, unchanged=True))
                        continue
                    tiles, res.tiles = res.tiles, []  # a source that was not streamed (a URL)
                    for t in tiles:
                        stream(t, res.attempt)
                except _Stopped:
                    return
                if not made[0]:
                    write_q.put(SourceDone(job, res))
                    continue
                with lock:
                    expected[id(job)] = (job, res, made[0])
                put(embed_q, _Check(id(job)))  # its tiles may all be embedded already
        finally:
            render.close()  # Playwright's objects belong to the thread that made them
            put(first_q, _DONE)

    readers_left = [read.workers if read is not None else 0]
    chains = read.start_processes() if read is not None else []

    def do_read(i: int):
        chain = chains[i] if chains else None
        try:
            if chain is not None:
                why = chain.wait_ready(stop)
                if why:  # it cannot rebuild this embedder: read on this thread (the chain is closed with
                    read.fallback = why  # the others: closing the first would end its forks mid-answer)
                    chain = None
            while not stop.is_set():
                try:
                    row = read_q.get(timeout=0.1)
                except queue.Empty:
                    continue
                if row is _DONE:
                    put(read_q, _DONE)  # for the other readers
                    with lock:
                        readers_left[0] -= 1
                        last = readers_left[0] == 0
                    if last:
                        put(embed_q, _DONE)
                    return
                row = chain(row, stop) if chain is not None else encode(embed([read(row)])[0])
                if row is None or not put(embed_q, row):
                    return
        finally:
            read.release()  # this thread's OCR engine: the next run has threads of its own

    def do_collect():
        done_rows: dict[int, list[TileRow]] = {}

        def complete(key: int) -> None:
            with lock:
                entry = expected.get(key)
                if entry is None or len(done_rows.get(key, ())) < entry[2]:
                    return
                del expected[key]
            job, res, _ = entry
            rows = done_rows.pop(key, [])
            # only the last attempt's tiles belong to the source, and none when it failed
            keep = sorted((r for r in rows if r.attempt == res.attempt), key=lambda r: r.tile.tile) if res.ok else []
            write_q.put(SourceDone(job, res, keep))

        finished = False
        while not finished and not stop.is_set():
            try:
                batch = [embed_q.get(timeout=0.1)]
            except queue.Empty:
                continue
            while len(batch) < EMBED_BATCH:  # take what is ready; never wait for a batch to fill
                try:
                    batch.append(embed_q.get_nowait())
                except queue.Empty:
                    break
            finished = _DONE in batch
            checks = [b.key for b in batch if isinstance(b, _Check)]
            rows = [b for b in batch if isinstance(b, TileRow)]
            if read is None:  # the workers did the rest for reading embedders
                rows = [encode(r) for r in embed(rows)]
            for row in rows:
                on_tile(row.job.source)
                done_rows.setdefault(id(row.job), []).append(row)
                checks.append(id(row.job))
            for key in dict.fromkeys(checks):
                complete(key)
        write_q.put(_DONE)

    threads = [threading.Thread(target=guarded(do_render), name="shotdex-render", daemon=True),
               threading.Thread(target=guarded(do_collect), name="shotdex-collect", daemon=True)]
    if read is not None:
        threads += [threading.Thread(target=guarded(lambda i=i: do_read(i)), name=f"shotdex-read-{i}", daemon=True)
                    for i in range(read.workers)]
    for t in threads:
        t.start()
    written = 0
    try:
        finished = False
        while not finished:
            if errors:
                raise errors[0]
            try:
                first = write_q.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set() and not errors:
                    break
                continue
            ready = [first]
            while True:  # commit whatever is finished, up to COMMIT_TILES tiles
                if sum(len(d.rows) for d in ready if d is not _DONE) >= COMMIT_TILES:
                    break
                try:
                    ready.append(write_q.get_nowait())
                except queue.Empty:
                    break
            finished = _DONE in ready
            done = [d for d in ready if d is not _DONE]
            write(done)
            written += len(done)
            on_sources(written, current[0])
        if errors:
            raise errors[0]
    except BaseException:
        stop.set()
        _stop(threads, render)
        raise
    finally:
        stop.set()
        for c in chains:
            c.close()
    for t in threads:
        t.join(timeout=5)
    return written


def _stop(threads: list[threading.Thread], render: RenderStage, wait_s: float = 1.0) -> None:
    """After an interrupt or a failure: kill Chromium (ends the source being rendered) and give the
    threads a second to see the stop flag, so the process can exit cleanly (a Playwright thread
    still running at interpreter exit can crash it)."""
    render.kill()
    deadline = time.monotonic() + wait_s
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
