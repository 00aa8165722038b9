"""A contact sheet of search hits: each tile with its rank, score and source, matches outlined."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import QueryError
from ..render.discover import shown

__all__ = ["contact_sheet", "outline_matches", "sheet_format"]

_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}

PANEL_W = 480  # each tile is scaled to this width
CAPTION_H = 44
COLS = 3
_STOP = {"the", "and", "for", "with", "from", "that", "this", "how", "what", "which", "who", "are", "was", "were"}


def _font(size: int):
    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "LiberationSans-Regular.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def sheet_format(out: str | Path) -> str:
    """The image format for a contact sheet at out: from its ending (.png, .jpg, .webp), PNG when it
    has none; QueryError for another ending or a folder."""
    out = Path(out)
    if out.is_dir():
        raise QueryError(f"contact sheet {out}: is a folder; give a file name such as {out / 'hits.png'}")
    suffix = out.suffix.lower()
    if not suffix:
        return "PNG"
    if suffix not in _FORMATS:
        raise QueryError(f"contact sheet {out}: cannot write '{suffix}' images; end the name in .png, .jpg or .webp")
    return _FORMATS[suffix]


def outline_matches(img, words, query: str | None):
    """An RGB copy of a tile with the query's words (3+ letters, not stop words) outlined in red."""
    from PIL import ImageDraw

    img = img.convert("RGB")
    wanted = {w for w in re.findall(r"\w+", (query or "").lower()) if len(w) >= 3 and w not in _STOP}
    if not wanted:
        return img
    draw = ImageDraw.Draw(img)
    for word in words:
        text, x, y, w, hgt = word
        if re.sub(r"\W", "", str(text).lower()) in wanted:
            draw.rectangle([x - 2, y - 2, x + w + 2, y + hgt + 2], outline=(230, 30, 30), width=3)
    return img


def contact_sheet(index, hits, out: str | Path, query: str | None = None) -> int:
    """Draw the hits' stored tiles into one image at out (PNG unless its ending says .jpg or .webp);
    returns the number of panels drawn. Panels name page and tile from 1, tile within its page."""
    from PIL import Image, ImageDraw

    fmt = sheet_format(out)
    where = index.positions(hits) if hits else {}
    images = index.tile_images([h.tile_id for h in hits])
    panels = []
    for h in hits:
        if h.tile_id not in images:
            continue
        img = outline_matches(*images[h.tile_id], query)
        scale = PANEL_W / img.width
        img = img.resize((PANEL_W, max(1, int(img.height * scale))))
        panels.append((h, img))
    if not panels:
        _save(Image.new("RGB", (PANEL_W, CAPTION_H), "white"), out, fmt)
        return 0
    rows = (len(panels) + COLS - 1) // COLS
    cols = min(COLS, len(panels))
    row_h = [max(p.height for _, p in panels[r * COLS : (r + 1) * COLS]) + CAPTION_H for r in range(rows)]
    sheet = Image.new("RGB", (cols * (PANEL_W + 8) + 8, sum(row_h) + 8 * (rows + 1)), (235, 235, 235))
    draw = ImageDraw.Draw(sheet)
    font, small = _font(16), _font(12)
    y = 8
    for r in range(rows):
        for c, (h, img) in enumerate(panels[r * COLS : (r + 1) * COLS]):
            x = 8 + c * (PANEL_W + 8)
            draw.rectangle([x, y, x + PANEL_W, y + CAPTION_H], fill="white")
            tag = f"  {h.tag} {h.tag_conf:.2f}" if h.tag and h.tag_conf is not None else ""
            draw.text((x + 6, y + 4), f"#{h.rank}  {h.score:.3f}  {h.kind}  p{where.get(h.tile_id, (h.page + 1, 0))[0]} "
                      f"t{where.get(h.tile_id, (0, h.tile + 1))[1]}{tag}", fill="black", font=font)
            draw.text((x + 6, y + 24), _ellipsize(shown(h.source), 70), fill=(60, 60, 60), font=small)
            sheet.paste(img, (x, y + CAPTION_H))
        y += row_h[r] + 8
    _save(sheet, out, fmt)
    return len(panels)


def _save(image, out: str | Path, fmt: str) -> None:
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        image.save(out, format=fmt)
    except OSError as exc:
        raise QueryError(f"cannot write the contact sheet {out}: {exc.strerror or exc}") from None


def _ellipsize(s: str, n: int) -> str:
    return s if len(s) <= n else "…" + s[-(n - 1) :]
