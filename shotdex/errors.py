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
    "BadIndex",
    "NoIndex",
    "IndexError_",
    "QueryError",
    "SettingsError",
    "SourceNotFound",
    "ServeError",
]


class ShotdexError(Exception):
    """Base class of every error shotdex raises on purpose.

    `hint` (optional) is what the command line adds after the message: the command to run next.
    The library's own messages speak of parameters, never of command-line flags.
    """

    exit_code = 1
    hint: str = ""


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


class BadIndex(ShotdexError):
    """The index folder is unusable (a file, wrong schema, corrupt, unwritable, disk full)."""

    exit_code = 6


IndexError_ = BadIndex  # deprecated name (before 0.2); use BadIndex


class QueryError(ShotdexError):
    """A search or eval request is malformed (bad filter, bad queries file, no query, bad parameter)."""

    exit_code = 2


class NoIndex(QueryError):
    """There is no index at the folder a reading command (search, status, remove, reembed) was given."""

    def __init__(self, folder):
        super().__init__(f"no index at {folder}")
        self.folder = str(folder)
        self.hint = f"create it with `shotdex index SRC... --db {folder}`"


class SourceNotFound(QueryError):
    """A path given to add or render does not exist (or a URL is not http(s)). Nothing was done."""


class SettingsError(ShotdexError, ValueError):
    """A setting (a Settings field, a SHOTDEX_* variable, an option) is out of its allowed range."""

    exit_code = 2


class ServeError(ShotdexError):
    """`shotdex serve` cannot start as asked (address in use, a non-loopback address without a token)."""

    exit_code = 2
