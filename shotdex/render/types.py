"""What rendering produces: tiles (screenshots) with their provenance."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from ..settings import Settings as _S  # RenderSettings takes its defaults from it

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

__all__ = ["Tile", "RenderSettings", "RenderResult"]

KINDS = ("text", "table", "chart", "web", "pdf", "office", "image", "epub", "mail")


@dataclass(frozen=True)
class RenderSettings:
    """The knobs that change pixels. Their hash goes into every tile's provenance."""

    # Defaults are Settings' own (one place for every default); from_settings copies a Settings.
    tile_width: int = _S.tile_width
    tile_height: int = _S.tile_height
    tile_overlap: int = _S.tile_overlap
    device_scale: float = _S.device_scale
    max_tiles: int = _S.max_tiles
    js: bool = _S.js
    js_timeout_s: float = _S.js_timeout_s
    render_timeout_s: float = _S.render_timeout_s
    max_image_pixels: int = _S.max_image_pixels
    max_table_cells: int = _S.max_table_cells
    max_converter_mb: int = _S.max_converter_mb  # memory budget of the office converter (LibreOffice), killed above it
    allow_private: bool = _S.allow_private
    chromium_sandbox: bool | None = _S.chromium_sandbox  # None: on unless running as root
    follow_links: bool = _S.follow_links  # follow symbolic links that lead outside the paths given
    reader_memory_mb: int = _S.reader_memory_mb  # address-space cap of the process that runs the Python-side readers
    caption: bool = _S.caption  # the caption band under charts (render/caption.py)
    caption_names: bool = _S.caption_names  # the file name as the band's title where the source names none

    @classmethod
    def from_settings(cls, settings) -> "RenderSettings":
        """Take the render knobs out of a shotdex.Settings."""
        return cls(**{k: getattr(settings, k) for k in cls.__dataclass_fields__})

    @property
    def hash(self) -> str:
        """A short stable hash of everything that changes pixels (plus the renderer version)."""
        from . import RENDERER_VERSION

        payload = dict(asdict(self), renderer=RENDERER_VERSION)
        payload.pop("render_timeout_s")
        payload.pop("allow_private")
        payload.pop("max_converter_mb")
        payload.pop("chromium_sandbox")
        payload.pop("follow_links")
        payload.pop("reader_memory_mb")
        if payload["caption"]:
            # The band is on by default and draws only on charts and images that name a title: an index
            # made before it keeps its other tiles as they are (no re-render of every source). Turning
            # it off changes the hash.
            payload.pop("caption")
        if payload["caption_names"]:  # the same for the file name as title: on by default, off changes it
            payload.pop("caption_names")
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class Tile:
    """One screenshot of part of a source, and where it came from."""

    image: "Image"
    source: str  # absolute path or URL
    kind: str  # one of KINDS
    page: int  # 0-based page (PDF page, sheet, column group); 0 otherwise
    tile: int  # 0-based tile index within the source
    x: int  # box within the full page, CSS px
    y: int
    w: int
    h: int
    page_width: int
    page_height: int
    content_hash: str  # sha256 of the source bytes
    settings_hash: str  # RenderSettings.hash
    text: str = ""  # text the renderer put in this tile's region, when known
    label: str = ""  # e.g. sheet name or "columns 1-12 of 40"

    def provenance(self) -> dict:
        """Everything but the image, JSON-ready (manifest.jsonl line)."""
        d = {k: v for k, v in self.__dict__.items() if k != "image"}
        return d


@dataclass
class RenderResult:
    """The outcome for one source: its tiles, or the reason it failed, plus warnings."""

    source: str
    kind: str | None
    tiles: list[Tile] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    content_hash: str | None = None
    tile_count: int = 0  # tiles made (with Renderer.render(on_tile=...), streamed rather than in tiles)
    attempt: int = 1  # 2 when Chromium crashed once and the source was rendered again
    # embedded sources rendered as their own ('mail.eml#report.pdf'); their tiles are also in `tiles`
    parts: list["RenderResult"] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None
