"""shotdex's own reading engine: lines.py finds the segments, glyphs.py reads them, Tesseract takes
what it was not made for.

It reads tiles of the kinds shotdex itself lays out (OWN_KINDS: text, Markdown and code, tables,
local web pages). Any other tile (charts, photos, PDF pages, office documents), and a picture of no
known kind (a query's image), goes to Tesseract whole; so does a tile where more than TILE_FALLBACK of
the segments are unsure. A segment whose least sure character is below LINE_CONF has its unsure words
(each run of them, with a sure word on either side for context) read again by Tesseract as one line
(psm 7). A line cut by the tile's
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
VERSION = 2  # 2: word boxes are their letters' (were the line's height); unsure words, not lines, handed over
INK_STEP = 80  # grey levels from the line's background that make a pixel part of a letter
LINE_MARGIN = 4  # px of background around a segment handed to Tesseract
WEIGHTS = Path(__file__).parent / "weights" / "glyphs.npz"  # glyphs.weights_path(), without importing it


def config() -> str:
    """What in this engine changes what is read (a fingerprint part): the weights' sha256 (first 16 hex
    digits) and the thresholds. Reads the weights file's bytes only: no model is loaded."""
    digest = hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()[:16] if WEIGHTS.exists() else "missing"
    return f"shotdex-glyphs:{digest}:line{LINE_CONF}:tile{TILE_FALLBACK}:v{VERSION}"


@dataclass
class Counts:
    """What the engine read itself and what it handed to Tesseract."""

    tiles: int = 0
    tiles_tesseract: int = 0  # whole tiles: another kind, or too many unsure segments
    segments: int = 0
    segments_tesseract: int = 0  # segments it was unsure of (some of their words went to Tesseract)
    words_tesseract: int = 0  # the words in them it was unsure of: Tesseract read those again

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def read_segments(recogniser: "Recogniser", gray: np.ndarray, segs: list[Segment]) -> list[tuple[list[Word], float]]:
    """Each segment's words (boxes in tile px around their letters, as Tesseract gives them: layout.py
    sizes words from their boxes; confidence 0-100) and its confidence (least sure character, 0-1;
    1.0 for a segment read as empty)."""
    from .glyphs import prepare

    prepared = [prepare(gray, s) for s in segs]
    results = recogniser.read([p[0] for p in prepared])
    out = []
    for seg, (pic, scale, x_left), (text, spans) in zip(segs, prepared, results):
        words = _inked(_words(text, spans, seg, scale, x_left), seg, gray)
        out.append((words, min((p for _, _, p in spans), default=1.0)))
    return out


def _inked(words: list[Word], seg: Segment, gray: np.ndarray) -> list[Word]:
    """Each word's box made its letters', as in Tesseract's boxes: a short word ("once") is no taller
    than its letters rather than as tall as its line. The frames place each letter's centre only, so
    a word's letters are looked for up to a third of the line's height past its frames (never past
    half-way to a neighbour); a letter is the pixels far from the line's background (its commonest grey)."""
    band = gray[seg.y : seg.y + seg.h, seg.x : seg.x + seg.w]
    if not band.size:
        return words
    background = int(np.bincount(band.ravel(), minlength=256).argmax())
    dark = np.abs(band.astype(np.int16) - background) > INK_STEP
    reach = max(1, seg.h // 3)
    out = []
    for i, w in enumerate(words):
        left, right = w.x - reach, w.x + w.w + reach
        if i:
            left = max(left, (words[i - 1].x + words[i - 1].w + w.x) // 2)
        if i + 1 < len(words):
            right = min(right, (w.x + w.w + words[i + 1].x) // 2)
        left, right = max(left, seg.x) - seg.x, min(right, seg.x + seg.w) - seg.x
        part = dark[:, left:right]
        cols, rows = np.flatnonzero(part.any(axis=0)), np.flatnonzero(part.any(axis=1))
        if not len(cols):
            out.append(w)
            continue
        out.append(Word(w.text, seg.x + left + int(cols[0]), seg.y + int(rows[0]), int(cols[-1] - cols[0] + 1),
                        int(rows[-1] - rows[0] + 1), w.conf))
    return out


def _words(text: str, spans, seg: Segment, scale: float, x_left: int) -> list[Word]:
    """Words from the characters' frames: a character sits at the centre of its frames; a word spans
    its first to its last character, widened by half a character on each side. A word's confidence
    (0-100) takes in the spaces on either side of it."""
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
        # a word is as sure as its least sure letter and the spaces around it (an unsure space is an
        # unsure word break: both words are then unsure)
        conf = 100.0 * min(p for _, _, p in spans[max(0, i - 1) : j + 1])
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

        if kind not in OWN_KINDS:  # another kind, or none known (a query's picture: a chart, a photo, ...)
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
        handed = 0
        for i in unsure:
            words, n = self._hand_over(image, segs[i], read[i][0])
            read[i] = (words, LINE_CONF)
            handed += n
        self._count(tiles=1, segments=len(segs), segments_tesseract=len(unsure), words_tesseract=handed)
        return Reading(_text(segs, read), [w for words, _ in read for w in words])

    def _hand_over(self, image: "Image", seg: Segment, words: list[Word]) -> tuple[list[Word], int]:
        """The segment's words with each run of unsure words (below LINE_CONF) read again by Tesseract,
        and how many words were handed over. Tesseract reads the run with the sure word on either
        side of it, for context, as one line (its time grows with the width it reads); of what it
        reads, the words between those two sure words replace the run."""
        out: list[Word] = []
        handed = 0
        i = 0
        while i < len(words):
            if not _unsure(words[i]):
                out.append(words[i])
                i += 1
                continue
            j = i
            while j < len(words) and _unsure(words[j]):
                j += 1
            before, after = (words[i - 1] if i else None), (words[j] if j < len(words) else None)
            left = before.x if before else seg.x - LINE_MARGIN
            right = after.x + after.w if after else seg.x + seg.w + LINE_MARGIN
            lo = before.x + before.w if before else -1
            hi = after.x if after else image.width + 1
            out += [w for w in self._line_words(image, seg, left, right) if lo < w.x + w.w / 2 < hi]
            handed += j - i
            i = j
        return out, handed

    def _line_words(self, image: "Image", seg: Segment, left: int, right: int) -> list[Word]:
        """Tesseract's words in the segment's band from x = left to right, the cut laid on a margin
        of its own background (Tesseract misreads letters that touch the picture's edge)."""
        from PIL import Image as PILImage

        x0, y0 = max(0, left), max(0, seg.y - LINE_MARGIN)
        box = (x0, y0, min(image.width, max(right, x0 + 1)), min(image.height, seg.y + seg.h + LINE_MARGIN))
        crop = image.crop(box)
        pad = seg.h // 2 + LINE_MARGIN
        back = crop.getpixel((0, 0))
        canvas = PILImage.new(crop.mode, (crop.width + 2 * pad, crop.height), back)
        canvas.paste(crop, (pad, 0))
        got = self._line.read(canvas)
        return [Word(w.text, w.x - pad + x0, w.y + y0, w.w, w.h, w.conf) for w in got.words]

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


def _unsure(word: Word) -> bool:
    return word.conf < 100 * LINE_CONF  # word confidences are 0-100, LINE_CONF 0-1


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
