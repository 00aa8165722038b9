"""A tiny deterministic embedder for tests: hashed bag of words, dim 64. Registered as `toy`.

`toy:<salt>` is another model (another fingerprint, other vectors). embed_tiles reads the renderer's
own text (`hints`), so index tests get real text search without OCR; embed_images hashes pixels.
"""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np

from shotdex.embed import Embedder, TileEmbedding, Word, l2_normalize, register

DIM = 64
_TOKEN = re.compile(r"\w+")


def _bucket(token: str, salt: str) -> tuple[int, float]:
    d = hashlib.blake2b(f"{salt}\0{token}".encode(), digest_size=8).digest()
    return int.from_bytes(d[:4], "little") % DIM, 1.0 if d[4] & 1 else -1.0


class ToyEmbedder(Embedder):
    """Hashed bag-of-words for text, hashed pixels for images."""

    def __init__(self, salt: str | None = None):
        self.salt = salt or ""
        self.name = "toy" if salt is None else f"toy:{salt}"
        self.dim = DIM

    @property
    def fingerprint(self) -> str:
        return f"toy/1|dim{DIM}|salt:{self.salt}"

    def _text(self, text: str) -> np.ndarray:
        v = np.zeros(DIM, dtype=np.float32)
        for tok in _TOKEN.findall(text.lower()):
            i, s = _bucket(tok, self.salt)
            v[i] += s
        if not v.any():
            v[_bucket("\0empty", self.salt)[0]] = 1.0
        return v

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return l2_normalize(np.stack([self._text(t) for t in texts]))

    def embed_images(self, images) -> np.ndarray:
        rows = []
        for im in images:
            digest = hashlib.sha256(self.salt.encode() + im.convert("RGB").tobytes()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            rows.append(rng.standard_normal(DIM).astype(np.float32))
        return l2_normalize(np.stack(rows)) if rows else np.zeros((0, DIM), dtype=np.float32)

    def embed_tiles(self, images, hints: Sequence[str] | None = None) -> list[TileEmbedding]:
        images = list(images)
        if hints is None:
            return [TileEmbedding(v, "", []) for v in self.embed_images(images)]
        vecs = self.embed_queries(list(hints))
        out = []
        for v, text in zip(vecs, hints):
            words, x = [], 0
            for tok in text.split():  # fake but consistent boxes: one 10 px slot per character
                words.append(Word(tok, x, 0, 10 * len(tok), 16, 99.0))
                x += 10 * (len(tok) + 1)
            out.append(TileEmbedding(v, text, words))
        return out


@register("toy", description="tests only: hashed bag of words (dim 64)", dim=DIM, available=lambda: (True, "test embedder"))
def _make_toy(arg, settings) -> Embedder:
    return ToyEmbedder(arg)
