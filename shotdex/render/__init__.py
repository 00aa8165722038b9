"""Sources -> screenshots. Every document shotdex knows becomes fixed-size tiles with provenance.

Knows nothing of models or LanceDB. Heavy libraries (playwright, matplotlib, pypdfium2, vl-convert,
openpyxl, pyarrow) are imported inside the functions that use them, so importing this package is cheap.
"""

from __future__ import annotations

RENDERER_VERSION = "2"  # bump when pixels change

from .browser import find_chromium  # noqa: E402
from .discover import KIND_BY_SUFFIX, Discovery, content_hash, discover, is_url, kind_of  # noqa: E402
from .renderer import RENDERERS, Renderer, render_query_text  # noqa: E402
from .types import KINDS, RenderResult, RenderSettings, Tile  # noqa: E402

__all__ = [
    "RENDERER_VERSION",
    "KIND_BY_SUFFIX",
    "KINDS",
    "RENDERERS",
    "kind_of",
    "is_url",
    "Discovery",
    "discover",
    "content_hash",
    "Renderer",
    "render_query_text",
    "find_chromium",
    "Tile",
    "RenderSettings",
    "RenderResult",
]
