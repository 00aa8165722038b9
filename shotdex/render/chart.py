"""Charts: Vega-Lite specs (vl-convert), shotdex chart specs (matplotlib), chart images as they are.

Vega-Lite data may be inline or a relative file inside the spec's own folder, which is read here and
inlined; any other URL is refused ("rendering is sealed") and vl-convert is given no allowed base URL.
vl-convert ignores that setting for image marks, so a spec is drawn as SVG first (which loads nothing),
every image URL in that SVG (computed by expressions or not) is checked by the same rule and inlined,
and only then is the SVG rasterised.
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import unquote, urlsplit

from ..errors import RenderError, SealedError
from .discover import suffix_of
from .caption import band_html, named, spec_caption, svg_caption
from .images import load_image, tile_image
from .style import document, esc
from .tiling import Job, capture_page

__all__ = ["render_chart", "inline_vega_data", "seal_svg_urls", "CHART_MARKS"]

CHART_MARKS = ("bar", "line", "scatter", "pie", "area")
_DATA_FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".topojson": "topojson"}


def _load_json(job: Job) -> dict:
    from .decode import read_text

    text, truncated = read_text(job.source, job.warnings, 20_000_000)
    if truncated:
        raise RenderError(job.source, "spec is larger than 20 MB")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RenderError(job.source, f"invalid JSON: {e}") from None
    except RecursionError:
        raise RenderError(job.source, "JSON is nested too deeply to read (over ~1,000 levels)") from None


def _local_file(source: str, folder: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "data":
        return ""
    if parts.scheme or parts.netloc or url.startswith("//"):
        raise SealedError(source, f"remote data is not allowed: rendering is sealed ({url})")
    return _file_in(source, folder, parts.path, "data", url)


def _file_in(source: str, folder: str, rel: str, what: str, url: str) -> str:
    """The file a spec's relative URL path names, which must lie inside the spec's folder."""
    folder = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(folder, unquote(rel)))
    if os.path.commonpath([path, folder]) != folder:
        raise SealedError(source, f"{what} outside the spec's folder is not allowed: rendering is sealed ({url[:200]})")
    if not os.path.isfile(path):
        raise RenderError(source, f"{what} file not found: {url[:200]}")
    return path


def inline_vega_data(source: str, spec, folder: str):
    """Replace every {"url": ...} data reference by the file's content (a copy; the spec is untouched)."""
    if isinstance(spec, list):
        return [inline_vega_data(source, v, folder) for v in spec]
    if not isinstance(spec, dict):
        return spec
    out = {}
    for key, value in spec.items():
        if key == "data" and isinstance(value, dict) and isinstance(value.get("url"), str):
            out[key] = _inline_one(source, value, folder)
        else:
            out[key] = inline_vega_data(source, value, folder)
    return out


def _inline_one(source: str, data: dict, folder: str) -> dict:
    path = _local_file(source, folder, data["url"])
    if not path:
        return data
    fmt = dict(data.get("format") or {})
    kind = fmt.get("type") or _DATA_FORMATS.get(os.path.splitext(path)[1].lower(), "json")
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    new = {k: v for k, v in data.items() if k != "url"}
    if kind in ("csv", "tsv", "dsv"):
        fmt.setdefault("type", kind)
        new.update(values=text, format=fmt)
    else:
        try:
            new["values"] = json.loads(text)
        except json.JSONDecodeError as e:
            raise RenderError(source, f"data file {data['url']} is not valid JSON: {e}") from None
        fmt.setdefault("type", kind)
        new["format"] = fmt
    return new


# vl-convert resolves relative URLs against this base; such a URL names a file beside the spec.
_VEGA_BASE = "https://vega.github.io/vega-datasets/"
_HREF = re.compile(r'\s(?:xlink:)?href="([^"]*)"')
_IMAGE_TAG = re.compile(r"<image\b[^>]*>")
_INLINE_IMAGES = ("data:image/png;", "data:image/jpeg;", "data:image/gif;", "data:image/webp;")
_MAX_IMAGE_BYTES = 20_000_000


def _image_data_uri(source: str, folder: str, url: str) -> str:
    from base64 import b64encode

    if url.startswith(_INLINE_IMAGES):
        return url
    rel = url[len(_VEGA_BASE):] if url.startswith(_VEGA_BASE) else url
    parts = urlsplit(rel)
    if parts.scheme or parts.netloc or rel.startswith("//") or os.path.isabs(unquote(parts.path)):
        raise SealedError(source, f"image URL outside the spec's folder is not allowed: rendering is sealed ({url[:200]})")
    path = _file_in(source, folder, parts.path, "image", rel)
    if os.path.getsize(path) > _MAX_IMAGE_BYTES:
        raise RenderError(source, f"image file larger than 20 MB: {rel[:200]}")
    with open(path, "rb") as f:
        data = f.read()
    mime = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}
    kind = next((m for magic, m in mime.items() if data.startswith(magic)), None)
    if kind is None:
        raise RenderError(source, f"image file is not a PNG, JPEG or GIF: {rel[:200]}")
    return f"data:{kind};base64,{b64encode(data).decode()}"


def seal_svg_urls(source: str, svg: str, folder: str) -> str:
    """Check every URL the drawn SVG names: image marks' files inside the spec's folder are inlined as
    data: URIs; anything else (a scheme, an absolute path, '../') raises SealedError. Links (the href
    channel) are dropped: a PNG cannot follow them. The result references nothing outside itself."""
    from html import escape, unescape

    def image(m: re.Match) -> str:
        def href(h: re.Match) -> str:
            return f' xlink:href="{escape(_image_data_uri(source, folder, unescape(h.group(1))))}"'

        return _HREF.sub(href, m.group(0))

    svg = _IMAGE_TAG.sub(image, svg)
    return _HREF.sub(lambda h: h.group(0) if h.group(1).startswith(("#", *_INLINE_IMAGES)) else "", svg)


def _title_text(spec: dict) -> str:
    words = []
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    if isinstance(title, list):
        title = " ".join(map(str, title))
    if title:
        words.append(str(title))
    if spec.get("description"):
        words.append(str(spec["description"]))
    enc = spec.get("encoding") or {}
    for ch in ("x", "y", "color", "theta"):
        e = enc.get(ch)
        if isinstance(e, dict):
            words.append(str(e.get("title") or e.get("field") or ""))
    return " ".join(w for w in words if w)


def _render_vega_lite(job: Job) -> None:
    import vl_convert as vlc

    spec = _load_json(job)
    if not isinstance(spec, dict):
        raise RenderError(job.source, "Vega-Lite spec must be a JSON object")
    spec = inline_vega_data(job.source, spec, os.path.dirname(job.source))
    try:
        svg = vlc.vegalite_to_svg(spec, allowed_base_urls=[])
    except Exception as e:  # vl-convert raises ValueError with the Vega error text
        line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RenderError(job.source, f"Vega-Lite could not render: {line[:300]}") from None
    svg = seal_svg_urls(job.source, svg, os.path.dirname(job.source))
    try:
        png = vlc.svg_to_png(svg, scale=job.settings.device_scale)
    except Exception as e:  # noqa: BLE001 - resvg errors: one line
        raise RenderError(job.source, f"Vega-Lite chart could not be drawn: {str(e)[:200]}") from None
    img = load_image(job.source, png, job.settings.max_image_pixels)
    tile_image(job, img, text=_title_text(spec), caption=spec_caption(spec))


def _render_image(job: Job) -> None:
    caption: list = []
    img = load_image(job.source, None, job.settings.max_image_pixels, caption)
    tile_image(job, img, caption=caption[0])


def _render_svg(job: Job) -> None:
    """SVG drawn by Chromium as an <img> (an image-context SVG can load nothing), then tiled."""
    from base64 import b64encode

    with open(job.source, "rb") as f:
        data = f.read(50_000_001)
    if not data.strip():
        raise RenderError(job.source, "empty file")
    if len(data) > 50_000_000:
        raise RenderError(job.source, "SVG larger than 50 MB")
    if b"<svg" not in data[:65536].lower():
        raise RenderError(job.source, "not an SVG image (no <svg> element)")
    uri = "data:image/svg+xml;base64," + b64encode(data).decode()
    band = band_html(named(svg_caption(data), job.source, job.settings.caption_names)) if job.settings.caption else ""
    html = document(f"<img alt='' src='{esc(uri)}' style='display:block;max-width:100%'>{band}",
                    "body{padding:0}")
    job.page.set_content(html, wait_until="load")
    ok = job.page.evaluate("() => { const i = document.images[0]; return i.complete && i.naturalWidth > 0; }")
    if not ok:
        raise RenderError(job.source, "SVG could not be drawn (invalid SVG)")
    capture_page(job, what="image")


def _render_chart_spec(job: Job) -> None:
    from .chart_spec import draw_chart_spec

    img, text = draw_chart_spec(job)
    tile_image(job, img, text=text, caption=spec_caption(job.read("chart_spec", job.source)))


_CHARTS = {
    ".vl.json": _render_vega_lite,
    ".chart.json": _render_chart_spec,
    ".chart.yaml": _render_chart_spec,
    ".chart.yml": _render_chart_spec,
    ".svg": _render_svg,
}


def render_chart(job: Job) -> None:
    """Render a chart source (spec or image) into tiles."""
    if os.path.getsize(job.source) == 0:
        raise RenderError(job.source, "empty file")
    _CHARTS.get(suffix_of(job.source), _render_image)(job)
