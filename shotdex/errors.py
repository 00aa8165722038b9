"""Typed errors. The library raises these; only the CLI turns them into messages and exit codes."""

from __future__ import annotations

__all__ = [
    "ShotdexError",
    "SetupError",
    "ChromiumNotFound",
    "TesseractNotFound",
    "SourceError",
    "RenderError",
    "UnsupportedSource",
    "SealedError",
    "EmbedderError",
    "UnknownModel",
    "ModelMismatch",
    "IndexLocked",
    "IndexError_",
    "QueryError",
    "ServeError",
]


class ShotdexError(Exception):
    """Base class of every error shotdex raises on purpose."""

    exit_code = 1


class SetupError(ShotdexError):
    """A required program or package is missing; the message says how to install it."""

    exit_code = 3


class ChromiumNotFound(SetupError):
    """No Chromium could be found."""


class TesseractNotFound(SetupError):
    """The tesseract program is not installed."""


class SourceError(ShotdexError):
    """One source could not be used. Carries the source so reports can name it."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class RenderError(SourceError):
    """A source was read but could not be rendered into screenshots."""


class UnsupportedSource(SourceError):
    """The source's kind is not one shotdex renders."""


class SealedError(RenderError):
    """The source wanted to reach something rendering is not allowed to reach."""


class EmbedderError(ShotdexError):
    """An embedder could not be loaded or run."""

    exit_code = 3


class UnknownModel(EmbedderError):
    """The model name is not in the registry; the message lists the known ones."""

    exit_code = 2


class ModelMismatch(ShotdexError):
    """The index was built by another embedder."""

    exit_code = 4


class IndexLocked(ShotdexError):
    """Another process is writing to the index."""

    exit_code = 5


class IndexError_(ShotdexError):
    """The index folder is unusable (wrong schema, corrupt, unwritable, disk full)."""

    exit_code = 6


class QueryError(ShotdexError):
    """A search or eval request is malformed (bad filter, bad queries file, no query)."""

    exit_code = 2


class ServeError(ShotdexError):
    """`shotdex serve` cannot start as asked (address in use, a non-loopback address without a token)."""

    exit_code = 2
