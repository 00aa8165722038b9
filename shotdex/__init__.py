"""shotdex: search everything as screenshots.

    import shotdex
    idx = shotdex.open()                 # the default index; shotdex.open(db="my-db") for another
    report = idx.add(["~/notes", "report.pdf"])
    for hit in idx.search("rainfall in Bergen", k=5):
        print(hit.rank, hit.score, hit.source)

Importing shotdex loads no torch, transformers, playwright or lancedb: they load on first use.
"""

from __future__ import annotations

from .errors import (
    BadIndex,
    ChromiumNotFound,
    EmbedderError,
    IndexError_,
    IndexLocked,
    ModelMismatch,
    NoIndex,
    QueryError,
    RenderError,
    SettingsError,
    ServeError,
    SetupError,
    ShotdexError,
    SourceError,
    SourceNotFound,
    TesseractNotFound,
    UnknownModel,
)
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "open",
    "render_tiles",
    "Index",
    "Hit",
    "AddReport",
    "Stats",
    "SourceInfo",
    "Settings",
    "ShotdexError",
    "SetupError",
    "ChromiumNotFound",
    "TesseractNotFound",
    "SourceError",
    "RenderError",
    "EmbedderError",
    "UnknownModel",
    "ModelMismatch",
    "IndexLocked",
    "BadIndex",
    "NoIndex",
    "QueryError",
    "SettingsError",
    "SourceNotFound",
    "IndexError_",  # deprecated alias of BadIndex
    "ServeError",
]


def open(db=None, model=None, settings: Settings | None = None):  # noqa: A001 - the public verb
    """Open the index at db (default: SHOTDEX_DB or the user data folder) with model: a name, an
    `shotdex.embed.Embedder` instance, or None for the index's own (rebuilt with the options it recorded)."""
    from .index import open_index

    return open_index(db=db, model=model, settings=settings)


def render_tiles(paths, out, settings: Settings | None = None, progress=None):
    """Render files, folders and URLs into out/ as PNG tiles plus manifest.jsonl, without indexing;
    returns a `shotdex.render.export.ExportReport` (tiles, failures, warnings). A path that does not
    exist raises SourceNotFound before any work. progress(done, total, tiles, source) after each source."""
    from .index.api import check_sources
    from .render import RenderSettings
    from .render.export import render_to_dir

    settings = settings or Settings.from_env()
    return render_to_dir(check_sources(paths), out, RenderSettings.from_settings(settings), chromium=settings.chromium,
                         progress=progress)


def __dir__():
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str):
    if name in {"Index", "Hit", "AddReport", "Stats", "SourceInfo"}:
        from . import index

        return getattr(index, name)
    raise AttributeError(f"module 'shotdex' has no attribute {name!r}")
