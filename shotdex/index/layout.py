"""Page-level text and layout fields, from the reader's word boxes.

A text retriever over the true text sees one flat string per page. The screenshot shows more: the
reader keeps a box per word, so shotdex knows which words stand large (headings, the page's title)
and what a table's header row says. This module turns the word boxes of a source's tiles into three
fields of the source's row, which the page-level full-text search ranks (see search.py):

- text: the whole page as read, each word once: tiles overlap (tiling.py), and a word that lies in
  the part of a tile already covered by an earlier tile of the same page is dropped there;
- heading: the lines set larger than the body text (and, for tables, the header row);
- title: the largest line of the source (when it is larger than the body text).

Sizes are compared in ems, not pixels: a word box is as tall as its letters reach, so "once" (no
ascenders) is about half the height of "Python" in the same font. Each word's em size is its box
height divided by the share of an em its letters span (x-height 0.55, ascenders and capitals 0.73-0.76,
descenders 0.24: DejaVu and Liberation, the fonts shotdex's styles use). A line's size is the median
of its words'; the body size is the median over all words weighted by their length. Bold is not
used: it needs the pixels, and the fields are derived from the stored word boxes alone (so an index
made before them migrates without reading again); so a bold heading set at body size (h4) is missed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from statistics import median

__all__ = ["LAYOUT_VERSION", "HEADING_RATIO", "Line", "lines", "em_size", "heading_lines", "page_fields"]

LAYOUT_VERSION = 1  # bump when the fields change: an index then derives them again
HEADING_RATIO = 1.25  # a line this much wider for its letters than the body (or more) is a heading
TALL_RATIO = 1.0  # ... and at least as tall
MAX_HEADING_WORDS = 16  # longer runs of large text are body text set large, not a heading

# How far above the baseline each letter reaches, in ems (DejaVu Sans; Liberation is within 0.02):
# x-height 0.55, t 0.66, capitals and digits 0.73, ascenders and the dots of i and j 0.76.
_TOP = {**dict.fromkeys("t", 0.66), **dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 0.73),
        **dict.fromkeys("bdfhklij", 0.76), **dict.fromkeys("()[]{}|/\\", 0.76)}
_DESC = set("gjpqy,;()[]{}|")
_X_HEIGHT, _DESCENT = 0.55, 0.24
# Advance widths of DejaVu Sans (regular), in ems, for "!" to "~" (PIL's getlength at 2048 units/em).
_ASCII = "".join(chr(c) for c in range(33, 127))
_ADVANCE = dict(zip(_ASCII, (
    0.401, 0.46, 0.838, 0.636, 0.95, 0.78, 0.275, 0.39, 0.39, 0.5, 0.838, 0.318, 0.361, 0.318, 0.337, 0.636,
    0.636, 0.636, 0.636, 0.636, 0.636, 0.636, 0.636, 0.636, 0.636, 0.337, 0.337, 0.838, 0.838, 0.838, 0.531,
    1.0, 0.684, 0.686, 0.698, 0.77, 0.632, 0.575, 0.775, 0.752, 0.295, 0.295, 0.656, 0.557, 0.863, 0.748,
    0.787, 0.603, 0.787, 0.695, 0.635, 0.611, 0.732, 0.684, 0.989, 0.685, 0.611, 0.685, 0.39, 0.337, 0.39,
    0.838, 0.5, 0.5, 0.613, 0.635, 0.55, 0.635, 0.615, 0.352, 0.635, 0.634, 0.278, 0.278, 0.579, 0.278, 0.974,
    0.634, 0.612, 0.635, 0.635, 0.411, 0.521, 0.392, 0.634, 0.592, 0.818, 0.592, 0.592, 0.525, 0.636, 0.337,
    0.636, 0.838)))


@dataclass(frozen=True)
class Line:
    words: tuple[str, ...]
    y: int  # top, in tile pixels
    size: float  # median over its words of width / the width their letters take in regular type, px/em
    tall: float  # median over its words of em_size (from box heights), px/em


def width_size(text: str, w: int) -> float:
    """Pixels per em that a word box of width w implies, against DejaVu Sans regular: larger type and
    bold type both come out larger (a bold h3 at 20 px reads ~1.35x the 17 px body)."""
    ems = sum(_ADVANCE.get(c, 0.6) for c in text)
    return w / ems if ems > 0 else 0.0


def em_size(text: str, h: int) -> float:
    """The font size (pixels per em) that a word box of height h implies for these letters."""
    if not text or h <= 0:
        return 0.0
    top = max((_TOP.get(c, _X_HEIGHT) for c in text), default=_X_HEIGHT)
    return h / (top + (_DESCENT if any(c in _DESC for c in text) else 0.0))


def lines(words: list) -> list[Line]:
    """Group a tile's words ([text, x, y, w, h], in reading order) into lines: a word continues the
    line when it sits to the right of the last word and overlaps it vertically by half its height."""
    out: list[Line] = []
    cur: list = []

    def flush():
        if cur:
            # Rules, bullets and bars ("|", "=") are as tall as the line, whatever the font: only
            # words with letters or digits give the size, and only they are kept.
            real = [w for w in cur if any(c.isalnum() for c in str(w[0]))]
            if real:
                out.append(Line(tuple(w[0] for w in real), min(w[2] for w in real),
                                float(median(width_size(w[0], w[3]) for w in real)),
                                float(median(em_size(w[0], w[4]) for w in real))))
            cur.clear()

    for w in words:
        if not w or not str(w[0]).strip():
            continue
        if cur:
            last = cur[-1]
            overlap = min(last[2] + last[4], w[2] + w[4]) - max(last[2], w[2])
            if not (w[1] >= last[1] and overlap >= 0.5 * min(last[4], w[4])):
                flush()
        cur.append(w)
    flush()
    return out


def body_size(all_lines: list[Line]) -> tuple[float, float]:
    """The body text's (size, tall): medians over words, each weighted by its length."""
    size: list[float] = []
    tall: list[float] = []
    for ln in all_lines:
        n = sum(max(1, min(len(word), 12)) for word in ln.words)
        size += [ln.size] * n
        tall += [ln.tall] * n
    return (float(median(size)), float(median(tall))) if size else (0.0, 0.0)


def heading_lines(all_lines: list[Line], body: tuple[float, float]) -> list[Line]:
    """The lines set clearly larger (or bolder) than the body text, and not shorter: monospace code
    is wide for its letters but no taller than the body."""
    size, tall = body
    if size <= 0:
        return []
    return [
        ln for ln in all_lines
        if ln.size >= HEADING_RATIO * size and ln.tall >= TALL_RATIO * tall and len(ln.words) <= MAX_HEADING_WORDS
        and any(sum(c.isalnum() for c in w) >= 2 for w in ln.words)
    ]


def page_fields(tiles: list[dict]) -> dict[str, str]:
    """The page-level fields (text, heading, title) of one source from its tiles' rows: each a dict
    with page, x, y, w, h (the tile's place on its page) and words (a list or the stored JSON)."""
    order = sorted(tiles, key=lambda t: (t["page"], t["y"], t["x"]))
    kept: list[tuple[dict, list]] = []
    for i, t in enumerate(order):
        words = t["words"]
        if isinstance(words, str):
            words = json.loads(words) if words else []
        # Earlier tiles of the same page that this one overlaps (the tiler's 64 px seam).
        before = [p for p in order[max(0, i - 4) : i] if p["page"] == t["page"]]
        fresh = [w for w in words if not _covered(t, w, before)]
        kept.append((t, fresh))
    per_tile = [(t, lines(ws)) for t, ws in kept]
    everything = [ln for _, ls in per_tile for ln in ls]
    body = body_size(everything)
    heads = heading_lines(everything, body)
    if order and order[0].get("kind") == "table" and per_tile:
        # The header row: the line under the caption (file name, rows shown) of the first tile (table.py).
        first = per_tile[0][1]
        header = first[1] if len(first) > 1 else None
        if header is not None:
            heads = [header] + [h for h in heads if h is not header]
    title = max(heads, key=lambda ln: (ln.size, -ln.y), default=None)
    return {
        "text": " ".join(" ".join(ln.words) for ln in everything),
        "heading": "\n".join(" ".join(ln.words) for ln in heads),
        "title": " ".join(title.words) if title is not None and title.size >= HEADING_RATIO * body[0] else "",
    }


def _covered(tile: dict, word: list, before: list[dict]) -> bool:
    """Whether the word's centre lies inside an earlier tile of the same page."""
    cx = tile["x"] + word[1] + word[3] / 2
    cy = tile["y"] + word[2] + word[4] / 2
    return any(p["x"] <= cx < p["x"] + p["w"] and p["y"] <= cy < p["y"] + p["h"] for p in before)
