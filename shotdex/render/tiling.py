"""Cutting a tall page into overlapping fixed-size tiles, and the per-source job that collects them."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Callable

from .types import RenderSettings, Tile

__all__ = ["Job", "positions", "capture_page", "page_size", "tile_texts", "open_png"]

# The text of every tile: text nodes whose box intersects the tile, in document order. Computed in the
# page (one round trip, small result). Works with JS disabled (Playwright evaluates in its own world).
_TILE_TEXTS_JS = """([x, w, h, ys]) => {
  const out = ys.map(() => []);
  const root = document.body || document.documentElement;
  if (!root) return out.map(() => "");
  const skip = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "TITLE"]);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  const sx = window.scrollX, sy = window.scrollY, last = ys[ys.length - 1] + h;
  let n;
  while ((n = walker.nextNode())) {
    const t = n.nodeValue;
    if (!t || !t.trim() || (n.parentElement && skip.has(n.parentElement.tagName))) continue;
    range.selectNodeContents(n);
    const b = range.getBoundingClientRect();
    if (!b.width && !b.height) continue;
    const top = b.top + sy, bottom = top + b.height, left = b.left + sx;
    if (top >= last || left >= x + w || left + b.width <= x) continue;
    for (let i = 0; i < ys.length; i++) {
      if (!(top < ys[i] + h && bottom > ys[i])) continue;
      if (b.height <= h) { out[i].push(t); continue; }
      // a text taller than a tile (one long paragraph or line): the share of it that lies in this
      // tile, by height, widened to whole words; not all of it in every tile (megabytes times tiles)
      let s = Math.floor(t.length * Math.max(0, ys[i] - top) / b.height);
      let e = Math.ceil(t.length * Math.min(1, (ys[i] + h - top) / b.height));
      for (let k = 0; k < 64 && s > 0 && !/\\s/.test(t[s - 1]); k++) s--;
      for (let k = 0; k < 64 && e < t.length && !/\\s/.test(t[e]); k++) e++;
      out[i].push(t.slice(s, e));
    }
  }
  return out.map(parts => parts.join(" ").split(/\\s+/).filter(Boolean).join(" "));
}"""

_SIZE_JS = """() => {
  const d = document.documentElement, b = document.body;
  const h = Math.max(d.scrollHeight, d.offsetHeight, b ? b.scrollHeight : 0, b ? b.offsetHeight : 0);
  const w = Math.max(d.scrollWidth, b ? b.scrollWidth : 0);
  return [Math.ceil(w), Math.ceil(h)];
}"""


_SCROLL_JS = "(y) => { window.scrollTo(0, y); return window.scrollY; }"


def positions(total: int, size: int, overlap: int, max_n: int) -> tuple[list[int], bool]:
    """Start offsets of tiles of `size` covering `total` with at least `overlap` shared between
    neighbours; the last tile is pulled back to end at the page's end. Returns (offsets, capped)."""
    if total <= size:
        return [0], False
    step = max(1, size - overlap)
    starts = list(range(0, total - size, step)) + [total - size]
    if len(starts) > max_n:
        return starts[:max_n], True
    return starts, False


def open_png(data: bytes, width: int | None = None, height: int | None = None):
    """Decode PNG bytes into an RGB image, padded with white to (width, height) when given."""
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.load()
    if img.mode != "RGB":
        img = img.convert("RGB")
    if width and height and img.size != (width, height):
        canvas = Image.new("RGB", (width, height), "white")
        canvas.paste(img, (0, 0))
        img = canvas
    return img


def page_size(page) -> tuple[int, int]:
    w, h = page.evaluate(_SIZE_JS)
    return int(w), int(h)


def tile_texts(page, ys: list[int], width: int, height: int) -> list[str]:
    """For each tile top in `ys` (page coordinates), the text shown in that tile."""
    return page.evaluate(_TILE_TEXTS_JS, [0, width, height, list(ys)])


@dataclass
class Job:
    """One source being rendered: collects tiles and warnings, enforces the tile cap."""

    source: str
    kind: str
    settings: RenderSettings
    content_hash: str
    browser_getter: Callable[[], object] | None = None
    office: object = None  # the run's OfficeConverter (office.py), for the office kind
    parts: list = field(default_factory=list)  # (name, bytes) of embedded sources (mail attachments)
    tiles: list[Tile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    capped: bool = False
    # Takes each tile as soon as it is made (then `tiles` stays empty): the caller streams a long
    # document instead of holding all of it; the sink may block until there is room downstream.
    sink: Callable[[Tile], None] | None = None
    count: int = 0  # tiles made so far, streamed or kept
    deadline: float | None = None  # time.monotonic() by which Python-side reading must be done
    worker: object | None = None  # a ReaderWorker: Python-side readers run there, under a budget

    def read(self, task: str, source: str, *args):
        """Run a reader task (worker.TASKS) under the time and memory budget; its warnings join the job's."""
        from .worker import TASKS

        if self.worker is None:
            result, warnings = TASKS[task](source, *args)
        else:
            result, warnings = self.worker.call(task, source, *args, deadline=self.deadline)
        self.warnings.extend(warnings)
        return result

    @property
    def browser(self):
        return self.browser_getter()

    @property
    def page(self):
        return self.browser.page

    @property
    def room(self) -> int:
        return max(0, self.settings.max_tiles - self.count)

    def cap(self, detail: str = "") -> None:
        """Record (once) that the tile cap cut this source short."""
        if not self.capped:
            self.capped = True
            more = f"; {detail}" if detail else ""
            self.warnings.append(
                f"{self.source}: stopped at max_tiles={self.settings.max_tiles} tiles{more}"
            )

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.source}: {message}")

    def add(self, image, *, x=0, y=0, w=None, h=None, page_width=None, page_height=None,
            page=0, text="", label="") -> bool:
        """Append a tile; False (and a cap warning) when the cap is already reached."""
        if self.room <= 0:
            self.cap()
            return False
        w = image.width if w is None else w
        h = image.height if h is None else h
        tile = (
            Tile(
                image=image, source=self.source, kind=self.kind, page=page, tile=self.count,
                x=int(x), y=int(y), w=int(w), h=int(h),
                page_width=int(page_width if page_width is not None else w),
                page_height=int(page_height if page_height is not None else h),
                content_hash=self.content_hash, settings_hash=self.settings.hash,
                text=text, label=label,
            )
        )
        self.count += 1
        if self.sink is not None:
            self.sink(tile)
        else:
            self.tiles.append(tile)
        return True


def capture_page(job: Job, page=None, *, page_index: int = 0, label: str = "", what: str = "page") -> None:
    """Screenshot the page now loaded in the browser as overlapping tiles (clip offsets, so pages taller
    than Chromium's 16,384 px texture limit work), each exactly tile_width x tile_height CSS px."""
    s = job.settings
    page = page or job.page
    width, height = page_size(page)
    if width > s.tile_width + 2:
        job.warn(f"{what} is {width} px wide; only the left {s.tile_width} px are shown")
    starts, capped = positions(height, s.tile_height, s.tile_overlap, job.room)
    if not starts or job.room == 0:
        job.cap()
        return
    texts = tile_texts(page, starts, s.tile_width, s.tile_height)
    px_w, px_h = round(s.tile_width * s.device_scale), round(s.tile_height * s.device_scale)
    for y, text in zip(starts, texts):
        # Scroll, then capture the viewport: 3-4x faster than full_page clips on tall pages, and no
        # texture-size limit since only one viewport is ever drawn.
        if len(starts) > 1:
            y = int(page.evaluate(_SCROLL_JS, y))
        data = job.browser.screenshot()
        job.add(
            open_png(data, px_w, px_h), x=0, y=y, w=s.tile_width, h=s.tile_height,
            page_width=max(width, s.tile_width),
            page_height=max(height, s.tile_height), page=page_index, label=label,
            text=text,
        )
    if capped:
        shown = starts[-1] + s.tile_height
        job.cap(f"{what} is {height} px tall, shown to {shown} px")
