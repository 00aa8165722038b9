"""Photos and scans (kind `image`): .tif/.tiff (every page), .gif (first frame), .webp, .bmp, .heic/.heif.

A separate kind from `chart`: what a picture shows is for a figure tagger to decide, not its ending.
Every page's size is checked from its header before it is decoded (decompression bombs are refused),
and a multi-page file stops at the tile cap.
"""

from __future__ import annotations

import warnings

from ..errors import RenderError
from .discover import suffix_of
from .images import check_image_size, flatten_rgb, tile_image
from .tiling import Job

__all__ = ["render_image", "IMAGE_ENDINGS", "heif_available"]

IMAGE_ENDINGS = (".tif", ".tiff", ".gif", ".webp", ".bmp", ".heic", ".heif")
_MULTI_PAGE = (".tif", ".tiff")


def heif_available() -> bool:
    """True when pillow-heif is installed (then HEIC/HEIF photos open like any other image)."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def render_image(job: Job) -> None:
    """One image per page (TIFF) or the first frame (GIF, others), tiled like any picture."""
    from PIL import Image, UnidentifiedImageError

    ending = suffix_of(job.source)
    if ending in (".heic", ".heif") and not heif_available():
        raise RenderError(job.source, "HEIC/HEIF needs pillow-heif: pip install 'shotdex[heic]'")
    s = job.settings
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(job.source)
    except UnidentifiedImageError:
        raise RenderError(job.source, "not a readable image (unknown or corrupt format)") from None
    except Image.DecompressionBombError:
        raise RenderError(job.source, f"image is over max_image_pixels={s.max_image_pixels:,}; refused before decoding") from None
    except OSError as e:
        raise RenderError(job.source, f"cannot read image: {e}") from None
    with img:
        n = getattr(img, "n_frames", 1) if ending in _MULTI_PAGE else 1
        for i in range(n):
            if job.room == 0:
                job.cap(f"{n - i} of {n} pages left out")
                break
            try:
                if i:
                    img.seek(i)
                check_image_size(job.source, img.width, img.height, s.max_image_pixels)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    img.load()
                    page = flatten_rgb(img)
            except RenderError:
                raise
            except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
                raise RenderError(job.source, f"page {i + 1} is corrupt: {e}") from None
            tile_image(job, page, page=i, label=f"page {i + 1} of {n}" if n > 1 else "")
