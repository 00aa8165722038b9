"""The embedder contract, the registry of embedders and the helpers every backend shares.

Nothing here imports torch or transformers: backends import them inside their own functions.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ..errors import EmbedderError, UnknownModel
from ..settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

__all__ = [
    "Word",
    "TileEmbedding",
    "Embedder",
    "ModelInfo",
    "register",
    "get_embedder",
    "list_models",
    "pick_device",
    "l2_normalize",
    "file_hash",
]


@dataclass(frozen=True)
class Word:
    """One word an embedder read, with its box in tile pixels and its confidence (0-100)."""

    text: str
    x: int
    y: int
    w: int
    h: int
    conf: float


@dataclass
class TileEmbedding:
    """What the indexing path gets for one tile: its vector, the text read from it and the word boxes."""

    vector: np.ndarray  # (dim,) float32, L2-normalised
    text: str = ""  # what the embedder read ('' if it reads nothing)
    words: list[Word] = field(default_factory=list)  # word boxes in tile pixels ([] if unknown)
    tag: str = ""  # the figure tagger's name for the tile ('' when it is unsure or there is no tagger)
    tag_conf: float = 0.0  # how sure it is (0-1)
    visual: np.ndarray | None = None  # the tagger's visual descriptor (embedders with visual_dim > 0)


class Embedder(ABC):
    """Images and query text -> L2-normalised float32 vectors of one space.

    Subclasses set `name`, `dim` and `fingerprint` (model identity, weights hash and every setting that
    changes vectors; stable across processes) and implement the two embed methods.
    """

    name: str
    dim: int
    visual_dim: int = 0  # > 0: tiles also get a visual vector of this size (TileEmbedding.visual)

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """Model identity + weights hash + every setting that changes vectors."""

    @abstractmethod
    def embed_images(self, images: Sequence["Image"]) -> np.ndarray:
        """(n, dim) float32, L2-normalised vectors of screenshots; batched inside."""

    @abstractmethod
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalised vectors of query texts; batched inside."""

    @property
    def options(self) -> dict:
        """The constructor options beyond `name` that change vectors, JSON-ready: an index records them,
        and get_embedder(name, options=...) rebuilds the same embedder from them. {} for none."""
        return {}

    def embed_tiles(
        self, images: Sequence["Image"], hints: Sequence[str] | None = None, kinds: Sequence[str] | None = None
    ) -> list[TileEmbedding]:
        """The indexing path: a vector per tile, plus what was read and where.

        `hints` is the renderer's own text of each tile; real embedders ignore it. `kinds` are the tiles'
        source kinds (a reader may read some kinds its own way).
        """
        vectors = self.embed_images(images)
        return [TileEmbedding(vector=v, text="", words=[]) for v in vectors]

    # -- the two-step path of embedders that read text (the index pipeline's read and embed stages) --
    reads_text: bool = False  # True: read_tile + embed_readings split embed_tiles in two

    def read_workers(self) -> int:
        """How many threads may call read_tile at once (reading embedders)."""
        return 1

    def read_tile(self, image: "Image", kind: str | None = None):
        """What a reading embedder reads on one tile, (text, words); safe to call from several threads."""
        raise NotImplementedError(f"{self.name} does not read text")

    def release_read_thread(self) -> None:
        """Free what the calling thread holds for read_tile (its OCR engine); read_tile makes it anew."""

    def embed_readings(self, readings: Sequence) -> list[TileEmbedding]:
        """The vectors of tiles from what read_tile read on them (reading embedders)."""
        raise NotImplementedError(f"{self.name} does not read text")

    def close(self) -> None:
        """Release worker processes and other resources. The embedder may not be used afterwards."""

    def __enter__(self) -> "Embedder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} dim={self.dim}>"


@dataclass(frozen=True)
class ModelInfo:
    """One line of `shotdex models`."""

    name: str
    dim: int | None
    available: bool
    detail: str
    description: str


Factory = Callable[[str | None, Settings], Embedder]


@dataclass(frozen=True)
class _Entry:
    prefix: str
    factory: Factory
    description: str
    dim: int | None
    available: Callable[[], tuple[bool, str]] | None


_REGISTRY: dict[str, _Entry] = {}


def register(
    prefix: str,
    *,
    description: str,
    dim: int | None = None,
    available: Callable[[], tuple[bool, str]] | None = None,
) -> Callable[[Factory], Factory]:
    """Register `factory(arg, settings) -> Embedder` under `prefix` (`prefix` or `prefix:arg` names it).

    `available()` says, without loading weights, whether it can run here and now, and why (not).
    """
    if ":" in prefix:
        raise ValueError(f"embedder prefix may not contain ':': {prefix!r}")

    def decorate(factory: Factory) -> Factory:
        _REGISTRY[prefix] = _Entry(prefix, factory, description, dim, available)
        return factory

    return decorate


def _load_plugins(settings: Settings) -> None:
    for module in (m.strip() for m in (settings.plugins or "").split(",")):
        if module:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise EmbedderError(f"cannot import embedder plugin {module!r}: {exc}") from exc


# Installed packages add embedders through this entry-point group (as llm's plugins do through theirs):
#   [project.entry-points."shotdex.embedders"]
#   mymodel = "my_package.shotdex_plugin"          # a module whose import calls @register(...)
#   other = "my_package.models:make_other"         # or a factory(arg, settings) -> Embedder, named `other`
ENTRY_POINT_GROUP = "shotdex.embedders"
_EP_DONE: dict[str, str | None] = {}  # entry-point name -> None when loaded, else why it could not be


def _entry_points() -> list:
    from importlib.metadata import entry_points

    try:
        return list(entry_points(group=ENTRY_POINT_GROUP))
    except Exception:  # noqa: BLE001 - a broken distribution elsewhere must not break shotdex
        return []


def _load_entry_point(ep) -> str | None:
    """Load one plugin entry point (once per process); returns why it failed, or None."""
    if ep.name in _EP_DONE:
        return _EP_DONE[ep.name]
    why = None
    try:
        obj = ep.load()
    except Exception as exc:  # noqa: BLE001 - any import failure of a plugin is the plugin's
        why = f"cannot load embedder plugin {ep.name!r} ({ep.value}): {type(exc).__name__}: {exc}"
    else:
        if not inspect.ismodule(obj) and callable(obj) and ep.name not in _REGISTRY:
            doc = (inspect.getdoc(obj) or "").strip().splitlines()
            _REGISTRY[ep.name] = _Entry(
                ep.name, obj, doc[0] if doc else f"plugin {ep.value}", getattr(obj, "dim", None), getattr(obj, "available", None)
            )
    _EP_DONE[ep.name] = why
    return why


def _load_entry_points(prefix: str | None = None) -> dict[str, str]:
    """Load the installed plugins (those named `prefix` first); returns {name: why} of the failures."""
    eps = _entry_points()
    if prefix is not None:
        eps = sorted(eps, key=lambda ep: ep.name != prefix)
    failed = {}
    for ep in eps:
        if prefix is not None and prefix in _REGISTRY:
            break
        why = _load_entry_point(ep)
        if why:
            failed[ep.name] = why
    return failed


def _known() -> str:
    return ", ".join(sorted(_REGISTRY))


def get_embedder(name: str | None = None, settings: Settings | None = None, options: dict | None = None) -> Embedder:
    """The embedder called `name` (default: settings.model), e.g. 'reader' or 'hf:<hub id or folder>'.

    Modules named in settings.plugins are imported first so that they can register embedders; an
    unknown prefix is then looked for among the installed plugins (entry-point group shotdex.embedders).
    `options` (an embedder's `options`, e.g. as an index recorded them) go to its factory as keywords.
    Raises UnknownModel, listing the known names, when nothing is registered under the prefix.
    """
    settings = settings or Settings()
    _load_plugins(settings)
    name = name or settings.model or "reader"
    prefix, _, arg = name.partition(":")
    if prefix not in _REGISTRY:
        failed = _load_entry_points(prefix)
        if prefix not in _REGISTRY and prefix in failed:
            raise EmbedderError(failed[prefix])
    entry = _REGISTRY.get(prefix)
    if entry is None:
        raise UnknownModel(f"unknown model {name!r}; known models: {_known()} (e.g. 'reader', 'hf:<hub id or folder>')")
    if not options:
        return entry.factory(arg or None, settings)
    try:
        return entry.factory(arg or None, settings, **options)
    except TypeError as exc:
        raise EmbedderError(f"model {name!r} does not take the options {sorted(options)}: {exc}") from exc


def list_models(settings: Settings | None = None) -> list[ModelInfo]:
    """Every registered embedder, with its dimension and whether it can run here (loads no weights)."""
    settings = settings or Settings()
    _load_plugins(settings)
    broken = _load_entry_points()
    out = []
    for name, why in sorted(broken.items()):
        if name not in _REGISTRY:
            out.append(ModelInfo(name, None, False, why, f"plugin (entry point {ENTRY_POINT_GROUP})"))
    for prefix in sorted(_REGISTRY):
        entry = _REGISTRY[prefix]
        ok, detail = True, ""
        if entry.available is not None:
            try:
                ok, detail = entry.available()
            except Exception as exc:  # a broken check must not break `shotdex models`
                ok, detail = False, f"check failed: {exc}"
        out.append(ModelInfo(prefix, entry.dim, ok, detail, entry.description))
    return sorted(out, key=lambda m: m.name)


def pick_device(requested: str | None = None) -> str:
    """`requested` if given, else cuda, then mps, then cpu (imports torch: backends only)."""
    if requested:
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


_HASHES: dict[str, str] = {}


def _hash_cache() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("SHOTDEX_CACHE") or user_cache_dir("shotdex", appauthor=False)) / "file-hashes.json"


def file_hash(*paths: str | os.PathLike) -> str:
    """A short sha256 of the files' bytes, memoised by (path, size, mtime) in the process and in a
    small cache file: hashing a 90 MB weights file costs ~0.2 s of every fresh `shotdex search`."""
    import json

    if not _HASHES:
        try:
            _HASHES.update(json.loads(_hash_cache().read_text()))
        except (OSError, ValueError):
            pass
    h = hashlib.sha256()
    for p in sorted(Path(p).resolve() for p in paths):
        st = p.stat()
        key = f"{p}|{st.st_size}|{st.st_mtime_ns}"
        if key not in _HASHES:
            fh = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    fh.update(chunk)
            _HASHES[key] = fh.hexdigest()
            try:
                cache = _hash_cache()
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(_HASHES))
                os.replace(tmp, cache)
            except OSError:
                pass  # a read-only home only costs the re-hash next time
        h.update(_HASHES[key].encode())
    return h.hexdigest()[:16]
