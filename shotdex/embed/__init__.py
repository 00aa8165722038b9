"""Screenshots (tiles) and query text -> L2-normalised float32 vectors of one space.

    from shotdex.embed import get_embedder
    emb = get_embedder("reader")                # the default: Tesseract OCR + all-MiniLM-L6-v2
    tiles = emb.embed_tiles(images)             # vectors + what was read + word boxes
    q = emb.embed_queries(["asyncio tasks"])    # (1, 384) float32

Embedders register under a prefix (`reader`, `hf`; plugins add more); `prefix:arg` passes an argument,
e.g. `hf:openai/clip-vit-base-patch32` or `reader:/path/to/sentence-model`. Importing this package
loads neither torch nor transformers: each backend imports what it needs when it first runs.
"""

from __future__ import annotations

from .base import (
    Embedder,
    ModelInfo,
    TileEmbedding,
    Word,
    get_embedder,
    l2_normalize,
    list_models,
    pick_device,
    register,
)
from . import hf as _hf  # noqa: F401  (registers "hf")
from . import reader as _reader  # noqa: F401  (registers "reader")

__all__ = [
    "Embedder",
    "ModelInfo",
    "TileEmbedding",
    "Word",
    "get_embedder",
    "l2_normalize",
    "list_models",
    "pick_device",
    "register",
]
