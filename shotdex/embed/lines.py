"""Text-line finding on a screenshot, in numpy: where the recogniser (glyphs.py) should look.

A tile shotdex rendered is clean: text in known fonts at device scale 1 on flat backgrounds. So ink is
simply where the 3 x 3 contrast is high (dark on light and light on dark alike), minus the rules
(table borders, underlines, block edges: straight runs far longer than any glyph). The ink is cut
recursively, XY-cut style: blank rows split it into bands; a band much taller than a line is split at
blank columns into columns, which are cut again; a band a line tall is split at wide blank gaps into
segments (table cells, columns). The segments come out in reading order: top to bottom, and a column
before the one to its right when their lines do not line up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

__all__ = ["Segment", "find_segments", "gray_array", "ink_mask"]

CONTRAST = 40  # 3x3 max - min above this is ink
RULE = 48  # a straight run of ink at least this long (px) is a rule, not a glyph
MIN_H = 5  # a band lower than this is dirt, not text
MAX_H = 120  # taller than this is a picture, not a line of text
SEGMENT_GAP = 2.2  # a blank gap wider than this x the band's height ends a segment
COLUMN_GAP = 14  # px: the narrowest blank strip that separates two columns in a tall band


@dataclass(frozen=True)
class Segment:
    """One run of text on one line: its box in tile pixels, and its order on the tile."""

    x: int
    y: int
    w: int
    h: int


def gray_array(image: "Image") -> np.ndarray:
    """The tile as a uint8 grey array, transparent parts on white."""
    if image.mode in ("RGBA", "LA", "P"):
        from PIL import Image as PILImage

        rgba = image.convert("RGBA")
        bg = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = PILImage.alpha_composite(bg, rgba)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def _long_runs(lines: np.ndarray, length: int) -> np.ndarray:
    """Per row of `lines` (bool), the pixels in runs of at least `length`, holes of up to 2 px bridged."""
    out = np.zeros_like(lines)
    for i, row in enumerate(lines):
        for a, b in _spans(row.view(np.int8), 3):
            if b - a >= length:
                out[i, a:b] = row[a:b]
    return out


def _rules(ink: np.ndarray) -> np.ndarray:
    """Ink in straight horizontal or vertical runs of RULE px or more (holes where rules cross
    bridged): table borders, underlines, block edges. No glyph is that long. Rows and columns that
    hold two whole aligned blocks of RULE // 2 px are found first (cheap), then measured exactly."""
    b = RULE // 2
    h, w = ink.shape
    out = np.zeros_like(ink)
    full = ink[:, : (w // b) * b].reshape(h, w // b, b).sum(axis=2, dtype=np.int16) >= b - 2
    rows = np.flatnonzero((full[:, 1:] & full[:, :-1]).any(axis=1))
    if len(rows):
        out[rows] = _long_runs(ink[rows], RULE)
    full = ink[: (h // b) * b].reshape(h // b, b, w).sum(axis=1, dtype=np.int16) >= b - 2
    cols = np.flatnonzero((full[1:] & full[:-1]).any(axis=0))
    if len(cols):
        out[:, cols] |= _long_runs(ink[:, cols].T, RULE).T
    return out


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Glyph pixels: a step of more than CONTRAST to the right or downward neighbour (so dark on light
    and light on dark alike, widened by one pixel at most), rules removed."""
    g = gray.astype(np.int16)
    ink = np.zeros(g.shape, dtype=bool)
    ink[:, :-1] = np.abs(g[:, 1:] - g[:, :-1]) > CONTRAST
    ink[:-1] |= np.abs(g[1:] - g[:-1]) > CONTRAST
    return ink & ~_rules(ink)


def _spans(profile: np.ndarray, min_gap: int = 1) -> list[tuple[int, int]]:
    """[start, end) runs where profile > 0, runs closer than min_gap merged."""
    on = profile > 0
    if not on.any():
        return []
    d = np.diff(np.concatenate(([0], on.view(np.int8), [0])))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    out = [[int(starts[0]), int(ends[0])]]
    for s, e in zip(starts[1:], ends[1:]):
        if s - out[-1][1] < min_gap:
            out[-1][1] = int(e)
        else:
            out.append([int(s), int(e)])
    return [(s, e) for s, e in out]


def _valleys(counts: np.ndarray, line_h: float) -> list[int]:
    """Rows where a band of touching lines should be cut: the emptiest row of each stretch of nearly
    empty rows (a few descenders and ascenders meet there), at least half a line from either end."""
    thr = max(1, int(0.04 * counts.max()))
    low = counts <= thr
    cuts = []
    for a, b in _spans(low.astype(np.int8)):
        mid = a + int(np.argmin(counts[a:b]))
        if mid >= 0.5 * line_h and len(counts) - mid >= 0.5 * line_h and (not cuts or mid - cuts[-1] >= 0.5 * line_h):
            cuts.append(mid)
    return cuts


def find_segments(ink: np.ndarray) -> list[Segment]:
    """The text segments of an ink mask, in reading order."""
    bands = [(y0, y1) for y0, y1 in _spans(ink.any(axis=1)) if y1 - y0 >= 2]
    heights = [y1 - y0 for y0, y1 in bands if MIN_H <= y1 - y0 <= MAX_H]
    line_h = float(np.median(heights)) if heights else 20.0
    out: list[Segment] = []
    _cut(ink, 0, 0, ink.shape[1], ink.shape[0], line_h, out, 0)
    return out


def _cut(ink, x0, y0, x1, y1, line_h, out, depth) -> None:
    region = ink[y0:y1, x0:x1]
    rows = _spans(region.any(axis=1))
    for r0, r1 in rows:
        band = region[r0:r1]
        profile = band.any(axis=0)  # never empty: every row of a band has ink
        h = r1 - r0
        if h > 1.8 * line_h and depth < 6:
            wide = _spans(profile, COLUMN_GAP)
            if len(wide) > 1:
                for c0, c1 in wide:
                    _cut(ink, x0 + c0, y0 + r0, x0 + c1, y0 + r1, line_h, out, depth + 1)
                continue
            cuts = _valleys(band.sum(axis=1), line_h)
            if cuts:
                for a, b in zip([0] + cuts, cuts + [h]):
                    _cut(ink, x0, y0 + r0 + a, x1, y0 + r0 + b, line_h, out, 6)
                continue
        if h < MIN_H or h > MAX_H:
            continue  # dirt, a rule's end, dots; or a picture, a block too dense to be lines of text
        gap = max(6, int(round(SEGMENT_GAP * h)))
        for s0, s1 in _spans(profile, gap):
            # the band's height, not the segment's own: a cell reading "no" is scaled like its row
            out.append(Segment(x0 + s0, y0 + r0, s1 - s0, h))
