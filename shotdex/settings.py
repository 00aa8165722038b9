"""One settings object: defaults, overridden by SHOTDEX_* environment variables, overridden by options."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path

__all__ = ["Settings", "default_db_path"]


def default_db_path() -> Path:
    """The platform's user data folder for shotdex (e.g. ~/.local/share/shotdex/db)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("shotdex", appauthor=False)) / "db"


@dataclass(frozen=True)
class Settings:
    """Every knob in one place. Render knobs that change pixels feed the render-settings hash."""

    db: Path | None = None  # None: default_db_path()
    model: str | None = None  # None: the index's own model, else "reader"
    # rendering
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
    max_converter_mb: int = 2048  # LibreOffice's memory budget per document (office kind)
    chromium: str | None = None
    allow_private: bool = False
    chromium_sandbox: bool | None = None  # None: Chromium's sandbox on, except as root (where it cannot run)
    # embedding
    device: str | None = None  # None: cuda, then mps, then cpu
    ocr_workers: int = 0  # 0: one per core
    batch_size: int = 32
    plugins: str = ""  # comma-separated modules imported to register extra embedders

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        """Defaults < SHOTDEX_<FIELD> environment variables < keyword overrides (None means unset)."""
        env = os.environ if env is None else env
        values: dict = {}
        for f in fields(cls):
            raw = env.get(f"SHOTDEX_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def db_path(self) -> Path:
        return Path(self.db) if self.db is not None else default_db_path()


def _parse(f: dataclasses.Field, raw: str):
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind.startswith("bool"):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind.startswith("int"):
        return int(raw)
    if kind.startswith("float"):
        return float(raw)
    if kind.startswith("Path"):
        return Path(raw).expanduser()
    return raw
