"""One settings object: defaults, overridden by SHOTDEX_* environment variables, overridden by options."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path

from .errors import SettingsError

__all__ = ["Settings", "default_db_path"]


def default_db_path() -> Path:
    """The platform's user data folder for shotdex (e.g. ~/.local/share/shotdex/db)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("shotdex", appauthor=False)) / "db"


@dataclass(frozen=True)
class Settings:
    """Every knob in one place. Render knobs that change pixels feed the render-settings hash."""

    db: Path | str | None = None  # None: default_db_path(); a str only for an object-store URI (s3://...)
    model: str | None = None  # None: the index's own model, else "reader"
    # rendering
    tile_width: int = 1024
    tile_height: int = 768
    tile_overlap: int = 64
    device_scale: float = 1.0
    max_tiles: int = 2000  # per source: a PDF of up to 2,000 pages is indexed whole
    js: bool = False
    js_timeout_s: float = 5.0
    render_timeout_s: float = 30.0
    max_image_pixels: int = 60_000_000
    max_table_cells: int = 200_000
    max_converter_mb: int = 2048  # LibreOffice's memory budget per document (office kind)
    chromium: str | None = None
    allow_private: bool = False
    chromium_sandbox: bool | None = None  # None: Chromium's sandbox on, except as root (where it cannot run)
    follow_links: bool = False  # follow symbolic links whose target lies outside the paths given
    reader_memory_mb: int = 2048  # memory cap (MB) of the child process running table/spec readers
    caption: bool = True  # a chart's screenshot carries a band with the title/description its source gives
    caption_names: bool = True  # ... and with its file name, made readable, where the source names no title
    # embedding
    device: str | None = None  # None: cuda, then mps, then cpu
    tagger: bool = True  # new reader indexes tag figures (bar chart, map...) and keep a visual vector
    ocr_workers: int = 0  # 0: one per core
    read_processes: bool = True  # the local runner's read workers (2 or more) run in child processes
    reader_engine: str = "auto"  # new reader indexes read with: auto (= shotdex), shotdex, tesseract
    embed_precision: str = "auto"  # tiles' sentence model: auto (bf16 where the CPU has it), bf16, fp32
    batch_size: int = 32
    plugins: str = ""  # comma-separated modules imported to register extra embedders
    # the Ray runner
    ray_wave: int = 2000  # sources per Ray Data pass, each one commit (what a killed run can lose)

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
        unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r}; the settings are: {', '.join(f.name for f in fields(cls))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def __post_init__(self) -> None:
        """Check every field once, here: a wrong type or a value out of range is one SettingsError."""
        for f in fields(self):
            value = getattr(self, f.name)
            rule = _RULES.get(f.name)
            if rule is None:
                continue
            kind, lo, hi = rule
            fixed = _check(f.name, value, kind, lo, hi)
            if fixed is not value:
                object.__setattr__(self, f.name, fixed)
        if self.reader_engine not in ("auto", "tesseract", "shotdex"):
            raise SettingsError(f"reader_engine must be auto, tesseract or shotdex, not {self.reader_engine!r}")
        if self.embed_precision not in ("auto", "bf16", "fp32"):
            raise SettingsError(f"embed_precision must be auto, bf16 or fp32, not {self.embed_precision!r}")
        if self.tile_overlap >= self.tile_height:
            raise SettingsError(
                f"tile_overlap must be smaller than tile_height ({self.tile_height}), not {self.tile_overlap}"
            )

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def db_path(self) -> "Path | str":
        """The database's folder, or its object-store URI (a str such as 's3://bucket/prefix')."""
        if isinstance(self.db, str):
            return self.db
        return Path(self.db) if self.db is not None else default_db_path()


# field -> (type, lowest, highest); None for a bound means none. "str?" and "path?" also take None.
_RULES: dict[str, tuple[str, float | None, float | None]] = {
    "db": ("path?", None, None),
    "model": ("str?", None, None),
    "tile_width": ("int", 64, 8192),
    "tile_height": ("int", 64, 8192),
    "tile_overlap": ("int", 0, 4096),
    "device_scale": ("float", 0.25, 4.0),
    "max_tiles": ("int", 1, 100_000),
    "js": ("bool", None, None),
    "js_timeout_s": ("float", 0.1, 600.0),
    "render_timeout_s": ("float", 1.0, 3600.0),
    "max_image_pixels": ("int", 100_000, 1_000_000_000),
    "max_table_cells": ("int", 1, 100_000_000),
    "chromium": ("str?", None, None),
    "allow_private": ("bool", None, None),
    "caption": ("bool", None, None),
    "caption_names": ("bool", None, None),
    "chromium_sandbox": ("bool?", None, None),
    "device": ("str?", None, None),
    "tagger": ("bool", None, None),
    "read_processes": ("bool", None, None),
    "ocr_workers": ("int", 0, 1024),
    "reader_engine": ("str", None, None),
    "embed_precision": ("str", None, None),
    "batch_size": ("int", 1, 65_536),
    "plugins": ("str", None, None),
    "ray_wave": ("int", 1, 10_000_000),
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NAMES = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "a string", "path": "a path"}


def _check(name: str, value, kind: str, lo, hi):
    """The value, maybe converted (a str db becomes a Path, an int float a float); else SettingsError."""
    optional = kind.endswith("?")
    base = kind.rstrip("?")
    if value is None and optional:
        return value
    want = _NAMES[base] + (f" from {lo:,} to {hi:,}" if lo is not None else "")
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "path": isinstance(value, (str, os.PathLike)),
    }[base]
    if not ok:
        raise SettingsError(f"{name} must be {want}, not {value!r}")
    if base == "float" and not isinstance(value, float):
        value = float(value)
    if base == "path" and not isinstance(value, Path) and not _is_uri(value):
        value = Path(value)
    if lo is not None and not (lo <= value <= hi):
        raise SettingsError(f"{name} must be {want}, not {value!r}")
    return value


def _parse(f: dataclasses.Field, raw: str):
    """One SHOTDEX_* variable's text as the field's type; SettingsError naming the variable if it is not."""
    kind = _RULES.get(f.name, ("str", None, None))[0].rstrip("?")
    var = f"SHOTDEX_{f.name.upper()}"
    text = raw.strip()
    try:
        if kind == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(text.replace("_", "").replace(",", ""))
        if kind == "float":
            return float(text)
    except ValueError:
        raise SettingsError(f"{var}={raw!r}: must be {_NAMES[kind]}") from None
    if kind == "path":
        return raw if _is_uri(raw) else Path(raw).expanduser()
    return raw


def _is_uri(value) -> bool:
    """An object-store URI, kept as text (Path would fold its '//'); see index/storage.py."""
    return isinstance(value, str) and "://" in value and value.split("://", 1)[0].lower() in (
        "s3", "s3a", "gs", "az", "abfs", "memory")
