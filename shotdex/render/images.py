"""Raster images (chart PNG/JPEG, rendered charts, PDF pages) as tiles; size checked before decoding."""

from __future__ import annotations

import io
import warnings

from ..errors import RenderError
from .tiling import Job, positions

__all__ = ["check_image_size", "flatten_rgb", "load_image", "tile_image"]


def check_image_size(source: str, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise RenderError(source, f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise RenderError(
            source,
            f"image is {width}x{height} = {width * height:,} pixels, over max_image_pixels={max_pixels:,}; refused before decoding",
        )


def _image_problem(e: Exception, fallback: str) -> str:
    """What is wrong with the image, in words (PIL's messages name its internals)."""
    text = str(e)
    if "MAX_TEXT_CHUNK" in text or "Too much memory used in text chunks" in text:
        return "image holds a text chunk (metadata) that inflates past 1 MB (a decompression bomb?); refused"
    if "truncated" in text.lower():
        return "image file is truncated"
    first = text.strip().splitlines()[0][:200] if text.strip() else type(e).__name__
    return f"{fallback}: {first}"


def load_image(source: str, data: bytes | None, max_pixels: int, caption: list | None = None):
    """Open an image file (or bytes), read its header size, refuse it if too big, then decode to RGB.
    `caption`, when given, receives the (title, description) its metadata names (caption.py).

    PIL's Image.open reads only the header, so a decompression bomb is refused without being decoded.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # our own size check below is the guard; PIL's warning would only add a traceback-like line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data) if data is not None else source)
    except UnidentifiedImageError:
        raise RenderError(source, "not a readable image (unknown or corrupt format)") from None
    except Image.DecompressionBombError:
        raise RenderError(
            source, f"image is over max_image_pixels={max_pixels:,} (a decompression bomb?); refused before decoding"
        ) from None
    except (OSError, ValueError) as e:
        raise RenderError(source, _image_problem(e, "cannot read image")) from None
    check_image_size(source, img.width, img.height, max_pixels)
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise RenderError(source, _image_problem(e, "corrupt image data")) from None
    if caption is not None:
        from .caption import image_caption

        caption.append(image_caption(img))
    return flatten_rgb(img)


def flatten_rgb(img):
    """An RGB image, transparency laid on white."""
    from PIL import Image

    if img.mode in ("RGBA", "LA", "P", "PA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, "white")
        canvas.paste(rgba, mask=rgba.split()[-1])
        return canvas
    return img.convert("RGB")


def tile_image(job: Job, img, *, page: int = 0, text: str = "", label: str = "", caption=None) -> None:
    """Add an image as tiles: wider than a tile -> scaled down to tile width; taller than a tile ->
    overlapping vertical tiles of tile height. Small images are kept as they are (no padding).
    `caption` (title, description) becomes a band under the picture unless settings.caption is off; its
    title is the file's name where the source names none (caption.named)."""
    from PIL import Image

    s = job.settings
    max_w = round(s.tile_width * s.device_scale)
    max_h = round(s.tile_height * s.device_scale)
    if img.width > max_w:
        img = img.resize((max_w, max(1, round(img.height * max_w / img.width))), Image.LANCZOS)
    if caption is not None and s.caption:
        from .caption import add_band, named

        img = add_band(img, named(caption, job.source, s.caption_names), s.device_scale, max_w, max_h)
    if img.height <= max_h:
        job.add(img, page=page, text=text, label=label)
        return
    overlap = round(s.tile_overlap * s.device_scale)
    starts, capped = positions(img.height, max_h, overlap, job.room)
    for y in starts:
        job.add(img.crop((0, y, img.width, y + max_h)), x=0, y=y, w=img.width, h=max_h,
                page_width=img.width, page_height=img.height, page=page, text=text, label=label)
    if capped:
        job.cap(f"image is {img.height} px tall")
