"""The Renderer: one browser for a whole run, one function per source kind, errors as results."""

from __future__ import annotations

import os
import time
from typing import Callable

from ..errors import ChromiumNotFound, ShotdexError, SourceError
from ..pids import scratch
from .browser import Browser, BrowserGone
from .chart import render_chart
from .discover import content_hash, is_url, kind_of
from .epub import render_epub
from .mail import render_mail
from .office import OfficeConverter, render_office
from .pdf import render_pdf
from .photo import render_image
from .style import document, esc
from .table import render_table
from .text import render_text
from .tiling import Job, capture_page
from .types import RenderResult, RenderSettings, Tile
from .web import render_web
from .worker import ReaderWorker

__all__ = ["Renderer", "RENDERERS", "render_query_text"]

# One function per kind. Each takes a Job, adds tiles and warnings, raises SourceError on bad input.
RENDERERS = {
    "text": render_text,
    "table": render_table,
    "chart": render_chart,
    "web": render_web,
    "pdf": render_pdf,
    "office": render_office,
    "image": render_image,
    "epub": render_epub,
    "mail": render_mail,
}

_CRASH_WORDS = ("Target crashed", "has been closed", "Target closed", "Browser closed", "crashed",
                "Connection closed", "browser has disconnected")


def _crashed(e: Exception) -> bool:
    text = str(e)
    return any(w in text for w in _CRASH_WORDS)


# Python's own words for these name its internals; say what is wrong with the file instead.
_IN_WORDS = {
    RecursionError: "nested too deeply to read",
    MemoryError: "too large to read into memory",
    UnicodeError: "holds text in an encoding that could not be read",
}


def _in_words(e: Exception) -> str:
    for kind, words in _IN_WORDS.items():
        if isinstance(e, kind):
            return words
    return f"{type(e).__name__}: {_one_line(e)}"


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


class Renderer:
    """Renders sources into tiles. A context manager owning one Chromium (started on first need).

    >>> with Renderer() as r:
    ...     result = r.render("notes.md")
    """

    def __init__(self, settings: RenderSettings | None = None, chromium: str | None = None):
        self.settings = settings or RenderSettings()
        self.browser = Browser(self.settings, chromium)
        self.worker = ReaderWorker(getattr(self.settings, "reader_memory_mb", 2048))
        # started on the first office document; its own time and memory budget per document
        self.office = OfficeConverter(self.settings.render_timeout_s, self.settings.max_converter_mb)
        self._limit = self.settings.render_timeout_s

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the browser, the readers' process and the office converter, if they were started."""
        self.browser.close()
        self.worker.close()
        self.office.close()

    def render(self, source: str, on_tile: Callable[[Tile, int], None] | None = None) -> RenderResult:
        """Render one source. Never raises for a bad source: failures come back as result.error (one
        line); warnings (e.g. the tile cap biting) name the source. Raises only ChromiumNotFound.

        With on_tile, each tile goes to on_tile(tile, attempt) as soon as it is made instead of into
        result.tiles (result.tile_count says how many were made): a long document is never held whole.
        A source retried after a Chromium crash streams again with attempt 2; only the tiles of
        result.attempt belong to the result, and none do when it failed. Either way the time limit
        (render_timeout_s) bounds the loading and the making of each tile, not the whole source (time
        spent inside on_tile, waiting for room downstream, is not counted): a long document that keeps
        making tiles is never cut short by it, a browser that hangs is."""
        source = source if is_url(source) else os.path.abspath(source)
        kind = kind_of(source)
        result = RenderResult(source=source, kind=kind)
        if kind is None:
            result.error = "unknown file ending; not a kind shotdex renders"
            return result
        if not is_url(source):
            if not os.path.exists(source):
                result.error = "not found"
                return result
            if not os.path.isfile(source):
                result.error = "not a regular file"
                return result
            try:
                result.content_hash = content_hash(source)
            except OSError as e:
                result.error = f"cannot read: {e.strerror or e}"
                return result
        else:
            result.content_hash = content_hash(source)
        for attempt in (1, 2):
            kept: list[Tile] = []  # this attempt's tiles, without on_tile
            deliver = on_tile if on_tile is not None else (lambda tile, _attempt, kept=kept: kept.append(tile))
            job = Job(source, kind, self.settings, result.content_hash, lambda: self.browser, worker=self.worker, office=self.office,
                      sink=self._sink(deliver, attempt))
            result.attempt = attempt
            try:
                self._run(job)
            except ChromiumNotFound:
                raise
            except (BrowserGone, Exception) as e:  # noqa: BLE001 - never raise for a bad source
                retry = self._failed(result, job, e, attempt)
                if retry:
                    continue
                return result
            result.tiles, result.warnings, result.tile_count = kept, job.warnings, job.count
            if job.parts:
                self._render_parts(result, job.parts)
            return result
        return result

    def _sink(self, on_tile, attempt: int):
        """on_tile with the watchdog stopped while it runs (it may wait for room downstream), and started
        afresh after it: the time limit bounds the making of each tile."""
        def sink(tile: Tile) -> None:
            self._timer.cancel()
            try:
                on_tile(tile, attempt)
            finally:
                self._timer = self.browser.watchdog(self._limit)
        return sink

    def _render_parts(self, result: RenderResult, parts: list[tuple[str, bytes]]) -> None:
        """Render embedded files (mail attachments) as their own sources named 'parent#name'; their tiles
        join the parent's (one write, one commit), their failures become the parent's warnings."""
        seen: set[str] = set()
        for name, data in parts:
            unique, n = name, 1
            while unique in seen:
                n += 1
                stem, dot, ext = name.rpartition(".")
                unique = f"{stem}-{n}.{ext}" if dot else f"{name}-{n}"
            seen.add(unique)
            with scratch("part") as folder:
                path = os.path.join(folder, unique)
                with open(path, "wb") as f:
                    f.write(data)
                sub = self.render(path)
            name_in_index = f"{result.source}#{unique}"
            sub.source = name_in_index
            sub.warnings = [w.replace(path, name_in_index) for w in sub.warnings]
            result.warnings += sub.warnings
            if not sub.ok:
                result.warnings.append(f"{result.source}: attachment {unique} not indexed: {sub.error}")
                continue
            for t in sub.tiles:
                t.source = name_in_index
            result.parts.append(sub)
            result.tiles += sub.tiles

    def _run(self, job: Job) -> None:
        s = self.settings
        limit = s.render_timeout_s
        if s.js and job.kind == "web":
            # a script that starts looping after 'load' blocks the renderer; only a kill ends it
            limit = min(limit, 2 * s.js_timeout_s + 5)
        self._limit = limit
        self.browser.killed = False
        self.browser.seal()
        # Readers that loop in Python stop themselves by half the limit, leaving Chromium the rest
        # (the watchdog below can kill Chromium, not a Python loop).
        job.deadline = time.monotonic() + limit / 2
        self._timer = self.browser.watchdog(limit)
        try:
            RENDERERS[job.kind](job)
        finally:
            self._timer.cancel()
        if self.browser.killed:
            raise BrowserGone(f"timed out after {limit:g} s")

    def _failed(self, result: RenderResult, job: Job, e: Exception, attempt: int) -> bool:
        """Fill result.error; True when the source should be tried once more (after a crash)."""
        result.warnings = job.warnings
        if isinstance(e, SourceError):
            result.error = e.reason
            return False
        if isinstance(e, ShotdexError):
            result.error = _one_line(e)
            return False
        if self.browser.killed:
            self.browser.restart()
            result.error = f"timed out after {self._limit:g} s (browser restarted)"
            return False
        if _crashed(e) or isinstance(e, BrowserGone):
            self.browser.restart()
            if attempt == 1:
                return True
            result.error = f"Chromium crashed twice on this source ({_one_line(e)})"
            return False
        if "Timeout" in type(e).__name__:
            self.browser.restart()
        result.error = _in_words(e)
        return False

    def render_html(self, html: str, source: str = "query", kind: str = "text") -> list[Tile]:
        """Screenshot a given HTML document (inline content only; nothing loads) as tiles."""
        import hashlib

        digest = hashlib.sha256(html.encode()).hexdigest()
        job = Job(source, kind, self.settings, digest, lambda: self.browser)
        self.browser.seal()
        job.page.set_content(html, wait_until="load")
        capture_page(job, what="query")
        return job.tiles


def query_html(text: str) -> str:
    """A text query laid out like a text source, in a larger font."""
    body = f"<div style='font-size:26px;line-height:1.45;white-space:pre-wrap'>{esc(text)}</div>"
    return document(body, title="query")


def render_query_text(text: str, settings: RenderSettings | None = None):
    """A text query as one screenshot (the first tile), for embedders that search image-to-image."""
    with Renderer(settings) as r:
        return r.render_html(query_html(text), source="query", kind="text")[0].image

