"""What rendering produces: tiles (screenshots) with their provenance."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

__all__ = ["Tile", "RenderSettings", "RenderResult"]

KINDS = ("text", "table", "chart", "web", "pdf", "office", "image", "epub", "mail")


@dataclass(frozen=True)
class RenderSettings:
    """The knobs that change pixels. Their hash goes into every tile's provenance."""

    tile_width: int = 1024
    tile_height: int = 768
    tile_overlap: int = 64
    device_scale: float = 1.0
    max_tiles: int = 32
    js: bool = False
    js_timeout_s: float = 5.0
    render_timeout_s: float = 30.0
    max_image_pixels: int = 60_000_000
    max_table_cells: int = 200_000
    max_converter_mb: int = 2048  # memory budget of the office converter (LibreOffice), killed above it
    allow_private: bool = False
    chromium_sandbox: bool | None = None  # None: on unless running as root

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
    # embedded sources rendered as their own ('mail.eml#report.pdf'); their tiles are also in `tiles`
    parts: list["RenderResult"] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None
