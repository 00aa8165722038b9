"""shotdex's own reading engine: lines.py finds the segments, glyphs.py reads them, Tesseract takes
what it was not made for.

It reads tiles of the kinds shotdex itself lays out (OWN_KINDS: text, Markdown and code, tables,
local web pages). Any other tile (charts, photos, PDF pages, office documents) goes to Tesseract
whole; so does a tile where more than TILE_FALLBACK of the segments are unsure. A segment whose least
sure character is below LINE_CONF is read by Tesseract as one line (psm 7). A line cut by the tile's
top or bottom edge is left to the neighbouring tile, which shows it whole. Every hand-over is
counted (`counts`), so a benchmark can say how often it happens.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .base import Word
from .lines import Segment, find_segments, gray_array, ink_mask

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

    from .glyphs import Recogniser

__all__ = ["OWN_KINDS", "LINE_CONF", "TILE_FALLBACK", "Counts", "OwnEngine", "read_segments", "config"]

OWN_KINDS = frozenset({"text", "table", "web"})
LINE_CONF = 0.5
TILE_FALLBACK = 0.5
LINE_MARGIN = 4  # px of background around a segment handed to Tesseract
WEIGHTS = Path(__file__).parent / "weights" / "glyphs.npz"  # glyphs.weights_path(), without importing it


def config() -> str:
    """What in this engine changes what is read (a fingerprint part): the weights' sha256 (first 16 hex
    digits) and the thresholds. Reads the weights file's bytes only: no model is loaded."""
    digest = hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()[:16] if WEIGHTS.exists() else "missing"
    return f"shotdex-glyphs:{digest}:line{LINE_CONF}:tile{TILE_FALLBACK}"


@dataclass
class Counts:
    """What the engine read itself and what it handed to Tesseract."""

    tiles: int = 0
    tiles_tesseract: int = 0  # whole tiles: another kind, or too many unsure segments
    segments: int = 0
    segments_tesseract: int = 0  # single segments it was unsure of

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def read_segments(recogniser: "Recogniser", gray: np.ndarray, segs: list[Segment]) -> list[tuple[list[Word], float]]:
    """Each segment's words (boxes in tile px, confidence 0-100) and its confidence (least sure
    character, 0-1; 1.0 for a segment read as empty)."""
    from .glyphs import prepare

    prepared = [prepare(gray, s) for s in segs]
    results = recogniser.read([p[0] for p in prepared])
    out = []
    for seg, (pic, scale, x_left), (text, spans) in zip(segs, prepared, results):
        out.append((_words(text, spans, seg, scale, x_left), min((p for _, _, p in spans), default=1.0)))
    return out


def _words(text: str, spans, seg: Segment, scale: float, x_left: int) -> list[Word]:
    """Words from the characters' frames: a character sits at the centre of its frames; a word spans
    its first to its last character, widened by half a character on each side."""
    from .glyphs import STRIDE

    words: list[Word] = []
    i = 0
    n = len(text)
    while i < n:
        if text[i] == " ":
            i += 1
            continue
        j = i
        while j < n and text[j] != " ":
            j += 1
        centres = [x_left + (STRIDE * (a + b + 1) / 2) / scale for a, b, _ in spans[i:j]]
        half = (centres[-1] - centres[0]) / (2 * (j - i - 1)) if j - i > 1 else 0.3 * seg.h
        x0 = max(seg.x, int(round(centres[0] - half)))
        x1 = min(seg.x + seg.w, int(round(centres[-1] + half)))
        conf = 100.0 * min(p for _, _, p in spans[i:j])
        words.append(Word(text[i:j], x0, seg.y, max(1, x1 - x0), seg.h, round(conf, 2)))
        i = j
    return words


class OwnEngine:
    """Reads one tile at a time (thread-safe): own segments first, Tesseract for the rest."""

    def __init__(self, tile_engine, line_engine, recogniser: "Recogniser | None" = None):
        from .glyphs import Recogniser

        self._tile = tile_engine  # a Tesseract engine (psm 3): whole tiles
        self._line = line_engine  # a Tesseract engine (psm 7): single segments
        self.recogniser = recogniser or Recogniser.shared()
        self.counts = Counts()
        self._lock = threading.Lock()

    def read(self, image: "Image", kind: str | None = None):
        from .ocr import Reading

        if kind is not None and kind not in OWN_KINDS:
            self._count(tiles=1, tiles_tesseract=1)
            return self._tile.read(image)
        gray = gray_array(image)
        # a line the tile's top or bottom edge cuts is whole in the neighbouring tile (tiles overlap by
        # more than a line), and cut glyphs only misread
        segs = [s for s in find_segments(ink_mask(gray)) if s.y > 0 and s.y + s.h < gray.shape[0]]
        read = read_segments(self.recogniser, gray, segs)
        unsure = [i for i, (_, conf) in enumerate(read) if conf < LINE_CONF]
        if segs and len(unsure) > TILE_FALLBACK * len(segs):
            self._count(tiles=1, tiles_tesseract=1, segments=len(segs))
            return self._tile.read(image)
        for i in unsure:
            read[i] = (self._line_words(image, segs[i]), LINE_CONF)
        self._count(tiles=1, segments=len(segs), segments_tesseract=len(unsure))
        return Reading(_text(segs, read), [w for words, _ in read for w in words])

    def _line_words(self, image: "Image", seg: Segment) -> list[Word]:
        x0, y0 = max(0, seg.x - LINE_MARGIN), max(0, seg.y - LINE_MARGIN)
        box = (x0, y0, min(image.width, seg.x + seg.w + LINE_MARGIN), min(image.height, seg.y + seg.h + LINE_MARGIN))
        got = self._line.read(image.crop(box))
        return [Word(w.text, w.x + x0, w.y + y0, w.w, w.h, w.conf) for w in got.words]

    def _count(self, **add) -> None:
        with self._lock:
            for k, v in add.items():
                setattr(self.counts, k, getattr(self.counts, k) + v)

    def release_thread(self) -> None:
        self._tile.release_thread()
        self._line.release_thread()

    def close(self) -> None:
        self._tile.close()
        self._line.close()


def _text(segs: list[Segment], read) -> str:
    """Segments in reading order; those on one band share a line of text."""
    lines: list[str] = []
    last = None
    for seg, (words, _) in zip(segs, read):
        if not words:
            continue
        text = " ".join(w.text for w in words)
        if last is not None and seg.y == last.y and seg.x > last.x:
            lines[-1] += " " + text
        else:
            lines.append(text)
        last = seg
    return "\n".join(lines)
