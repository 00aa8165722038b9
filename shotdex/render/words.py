"""The words a tile shows and where: for training shotdex's own reader and measuring any reader.

`render_with_words` renders sources with shotdex's own Renderer (real Chromium, the same tiles
`shotdex index` makes) and, with every screenshot, takes from the page the box of each word on
screen. A word broken over two lines comes back as its parts, each named "\0" (known to be there,
not what it says).
"""

from __future__ import annotations

import sys
from typing import Iterable

__all__ = ["WORDS_JS", "render_with_words"]

WORDS_JS = """() => {
  const out = [];
  const root = document.body || document.documentElement;
  if (!root) return out;
  const skip = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "TITLE"]);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  const W = window.innerWidth, H = window.innerHeight;
  let n;
  while ((n = walker.nextNode())) {
    const t = n.nodeValue, el = n.parentElement;
    if (!t || !t.trim() || (el && skip.has(el.tagName))) continue;
    const cs = el ? getComputedStyle(el) : null;
    if (cs && (cs.visibility !== "visible" || cs.opacity === "0" || cs.color === "transparent")) continue;
    const tf = cs ? cs.textTransform : "none";
    const re = /\\S+/g;
    let m;
    while ((m = re.exec(t))) {
      range.setStart(n, m.index);
      range.setEnd(n, m.index + m[0].length);
      const rects = range.getClientRects();
      if (!rects.length) continue;
      let word = m[0];
      if (tf === "uppercase") word = word.toUpperCase();
      else if (tf === "lowercase") word = word.toLowerCase();
      if (rects.length > 1) {  // a word broken over lines: its parts, unlabelled
        for (const r of rects) if (r.width > 0) out.push(["\\u0000", r.left, r.top, r.width, r.height]);
        continue;
      }
      const r = rects[0];
      if (r.width <= 0 || r.bottom < 0 || r.top > H || r.right < 0 || r.left > W) continue;
      out.push([word, r.left, r.top, r.width, r.height]);
    }
  }
  return out;
}"""


def render_with_words(paths: Iterable, settings=None, log=None):
    """(tile, [(word, x, y, w, h)]) for every tile of every source that renders (viewport px)."""
    from .browser import Browser
    from .renderer import Renderer
    from .types import RenderSettings

    boxes: list = []
    original = Browser.screenshot

    def screenshot(self):
        data = original(self)
        boxes.append(self.page.evaluate(WORDS_JS))
        return data

    Browser.screenshot = screenshot
    out = []
    try:
        with Renderer(settings or RenderSettings()) as r:
            for i, p in enumerate(paths):
                boxes.clear()
                got = []
                res = r.render(str(p), on_tile=lambda tile, attempt: got.append((tile, list(boxes[-1]) if boxes else [])))
                if res.error:
                    print(f"  {p}: {res.error}", file=sys.stderr)
                    continue
                out.extend(got)
                if log and (i + 1) % 50 == 0:
                    log(f"  rendered {i + 1} sources, {len(out)} tiles")
    finally:
        Browser.screenshot = original
    return out
