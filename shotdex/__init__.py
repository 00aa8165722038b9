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
    ChromiumNotFound,
    EmbedderError,
    IndexError_,
    IndexLocked,
    ModelMismatch,
    QueryError,
    RenderError,
    ServeError,
    SetupError,
    ShotdexError,
    SourceError,
    TesseractNotFound,
    UnknownModel,
)
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "open",
    "Index",
    "Hit",
    "AddReport",
    "Stats",
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
    "IndexError_",
    "QueryError",
    "ServeError",
]


def open(db=None, model: str | None = None, settings: Settings | None = None):  # noqa: A001 - the public verb
    """Open the index at db (default: SHOTDEX_DB or the user data folder) with model (default: its own)."""
    from .index import open_index

    return open_index(db=db, model=model, settings=settings)


def __getattr__(name: str):
    if name in {"Index", "Hit", "AddReport", "Stats"}:
        from . import index

        return getattr(index, name)
    raise AttributeError(f"module 'shotdex' has no attribute {name!r}")
