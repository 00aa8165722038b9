"""The caption band: what a chart's source says about itself (title, description), drawn under its picture.

A chart's pixels rarely carry its title and never its description, yet that is what people search for.
So a chart's screenshot gets a band below it with the title (bold) and the description as the source
writes them: Vega-Lite `title` / `description`, a shotdex chart spec's `title` / `description`, an SVG's
first `<title>` / `<desc>`, a PNG's `Title` / `Description` text chunks, a JPEG's EXIF ImageDescription /
XPTitle / XPSubject / XPComment or XMP dc:title / dc:description. Where the source names no title, its
file name stands in, made readable ("sphx_glr_plot_cv_diabetes_001.png" -> "sphx glr plot cv diabetes";
a name of numbers and short fragments alone, "IMG_0042.jpg", names nothing; SHOTDEX_CAPTION_NAMES=0
leaves names out): a table's screenshot shows its file name too, and a picture that says nothing else
about itself is known by it. The band is drawn with matplotlib's bundled DejaVu Sans (the same font
files on every machine), so the same source gives the same pixels.
Its first two rows are a rule of one exact colour (CAPTION_RULE): the figure tagger looks above it.
`Settings.caption` (SHOTDEX_CAPTION=0) turns the band off; it is part of the render settings hash.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path

__all__ = ["CAPTION_RULE", "Caption", "add_band", "band_html", "image_caption", "name_words", "named", "svg_caption",
           "spec_caption"]

CAPTION_RULE = (91, 107, 123)  # = embed/tagger.py CAPTION_RULE (a test holds them equal)
MAX_CHARS = 600  # a longer description is cut (with an ellipsis): the band is a caption, not a page
Caption = tuple[str, str]  # (title, description); '' where the source gives none


def _clean(value) -> str:
    if isinstance(value, list):
        value = " ".join(map(str, value))
    text = re.sub(r"\s+", " ", str(value or "")).strip()
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rstrip() + "…"


def name_words(source: str) -> str:
    """A file's name as words for its band: the name without its kind's ending, split at anything not a
    letter and at camelCase; numbers dropped; '' unless one word has four letters or more."""
    from .discover import suffix_of

    if "://" in source:
        from urllib.parse import unquote, urlsplit

        source = unquote(urlsplit(source).path)
    name = re.split(r"[/#]", source.rstrip("/"))[-1]  # a member of an archive: "a.zip#b/c.png"
    suffix = suffix_of(name)
    stem = name[: len(name) - len(suffix)] if suffix and name.lower().endswith(suffix) else name
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+", stem)
    return " ".join(words) if any(len(w) >= 4 for w in words) else ""


def named(caption: Caption, source: str, names: bool = True) -> Caption:
    """The caption, with the file's name (name_words) as its title where the source gives none (and
    `names`: Settings.caption_names)."""
    title, desc = caption
    return (title or (name_words(source) if names else "")), desc


def spec_caption(spec: dict) -> Caption:
    """A Vega-Lite (or shotdex chart) spec's title (text and subtitle) and description."""
    title = spec.get("title")
    if isinstance(title, dict):
        title = " ".join(_clean(title.get(k)) for k in ("text", "subtitle") if title.get(k))
    return _clean(title), _clean(spec.get("description"))


def svg_caption(data: bytes) -> Caption:
    """An SVG's first <title> and <desc> (markup inside them dropped)."""
    text = data[:262_144].decode("utf-8", "replace")

    def first(tag: str) -> str:
        m = re.search(rf"<(?:\w+:)?{tag}\b[^>]*>(.*?)</(?:\w+:)?{tag}\s*>", text, re.S | re.I)
        return _clean(html.unescape(re.sub(r"<[^>]+>", " ", m.group(1)))) if m else ""

    return first("title"), first("desc")


def _xp(value) -> str:
    """An EXIF XP* tag: UTF-16LE bytes (or a tuple of byte values)."""
    if isinstance(value, tuple):
        value = bytes(value)
    if isinstance(value, bytes):
        return value.decode("utf-16-le", "replace").rstrip("\x00")
    return str(value or "")


def _xmp(xmp, name: str) -> str:
    if isinstance(xmp, bytes):
        xmp = xmp.decode("utf-8", "replace")
    m = re.search(rf"<dc:{name}\b[^>]*>(.*?)</dc:{name}>", xmp or "", re.S)
    if not m:
        return ""
    items = re.findall(r"<rdf:li\b[^>]*>(.*?)</rdf:li>", m.group(1), re.S) or [m.group(1)]
    return html.unescape(re.sub(r"<[^>]+>", " ", items[0]))


def image_caption(img) -> Caption:
    """A PNG's Title / Description text chunks (tEXt, zTXt, iTXt) or a JPEG's EXIF / XMP title and
    description, read from an opened (not necessarily decoded) PIL image."""
    info = {str(k).lower(): v for k, v in (getattr(img, "text", None) or img.info or {}).items() if isinstance(v, str)}
    title, desc = info.get("title", ""), info.get("description", "")
    if not (title or desc):
        try:
            exif = img.getexif()
        except Exception:  # noqa: BLE001 - broken EXIF: no caption, the picture still renders
            exif = {}
        title = _xp(exif.get(0x9C9B)) or _xmp(img.info.get("xmp"), "title")
        desc = (str(exif.get(0x010E) or "").strip() or _xp(exif.get(0x9C9F)) or _xp(exif.get(0x9C9C))
                or _xmp(img.info.get("xmp"), "description"))
    return _clean(title), _clean(desc)


@lru_cache(maxsize=8)
def _font(bold: bool, px: int):
    import importlib.util

    from PIL import ImageFont

    spec = importlib.util.find_spec("matplotlib")
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf" / name
    return ImageFont.truetype(str(path), px)


def _wrap(draw, text: str, font, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def add_band(img, caption: Caption, scale: float, max_width: int, max_height: int):
    """The image with the caption band below it (as wide as the image, at least 480 CSS px if the tile
    allows); the image as it is when the caption is empty. A picture that fits a tile alone is scaled
    down so that it still fits with its band (one tile shows both)."""
    from PIL import Image

    title, desc = caption
    if not (title or desc):
        return img
    width = max(img.width, min(max_width, round(480 * scale)))
    band = _band(width, caption, scale)
    if img.height <= max_height < img.height + band.height and band.height < max_height // 2:
        f = (max_height - band.height) / img.height
        img = img.resize((max(1, round(img.width * f)), max_height - band.height), Image.LANCZOS)
    out = Image.new("RGB", (width, img.height + band.height), "white")
    out.paste(img, (0, 0))
    out.paste(band, (0, img.height))
    return out


def _band(width: int, caption: Caption, scale: float):
    from PIL import Image, ImageDraw

    title, desc = caption
    pad, gap = round(12 * scale), round(6 * scale)
    fonts = [(_font(True, round(20 * scale)), title), (_font(False, round(16 * scale)), desc)]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    blocks = [(f, _wrap(probe, t, f, width - 2 * pad)) for f, t in fonts if t]
    line_h = {id(f): round(f.size * 1.3) for f, _ in blocks}
    height = 2 + 2 * pad + sum(len(ls) * line_h[id(f)] for f, ls in blocks) + gap * (len(blocks) - 1)
    out = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(out)
    y = 0
    draw.rectangle([0, y, width - 1, y + 1], fill=CAPTION_RULE)
    y += 2 + pad
    for f, lines in blocks:
        for line in lines:
            draw.text((pad, y), line, font=f, fill=(20, 20, 20))
            y += line_h[id(f)]
        y += gap
    return out


def band_html(caption: Caption) -> str:
    """The same band as HTML, for sources Chromium draws (SVG): under the picture, full width."""
    title, desc = caption
    if not (title or desc):
        return ""
    r, g, b = CAPTION_RULE
    parts = [f"<div style='font:bold 20px DejaVu Sans,sans-serif'>{html.escape(title)}</div>" if title else "",
             f"<div style='font:16px DejaVu Sans,sans-serif;margin-top:6px'>{html.escape(desc)}</div>" if desc else ""]
    return (f"<div style='border-top:2px solid rgb({r},{g},{b});padding:12px;color:#141414;background:#fff'>"
            + "".join(parts) + "</div>")
