"""`hf:<hub id or folder>`: any transformers dual encoder with image and text towers (CLIP, SigLIP, ...).

Screenshots are padded to a square with white (a screenshot's background) before the model's own image
processor sees them: CLIP-style processors resize the short side and centre-crop, which cut ~128 px off
each side of a 1024x768 tile, and SigLIP-style ones squash to a square. Padded, the whole tile reaches
the model at its own aspect ratio; a long page arrives already cut into tiles by the renderer. Queries
go through the tokenizer and text tower; both sides come out L2-normalised.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import EmbedderError
from ..settings import Settings
from .base import Embedder, file_hash, l2_normalize, pick_device, register

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

__all__ = ["HFDualEncoder", "pad_to_square"]

# Models whose text tower pools the last position and was trained on texts padded to full length.
_PAD_TO_MAX = {"siglip", "siglip2"}


def _pooled(out):
    # transformers 5 returns an output object (pooler_output = the projected embedding); 4.x a tensor.
    if hasattr(out, "pooler_output"):
        return out.pooler_output
    if isinstance(out, (tuple, list)):
        return out[1] if len(out) > 1 else out[0]
    return out


def _image_processor(auto, folder: str):
    # the PIL processors: the torchvision ones cannot run here (torchvision breaks transformers)
    import transformers

    if int(transformers.__version__.split(".")[0]) >= 5:
        return auto.from_pretrained(folder, backend="pil")
    return auto.from_pretrained(folder, use_fast=False)


PAD_COLOR = (255, 255, 255)


def pad_to_square(image: "Image", color=PAD_COLOR) -> "Image":
    """The image centred on a white square as large as its longer side (unchanged when already square),
    so that no processor's centre crop or squash loses or distorts the tile's edges."""
    w, h = image.size
    if w == h:
        return image
    from PIL import Image as PILImage

    side = max(w, h)
    out = PILImage.new("RGB", (side, side), color)
    out.paste(image, ((side - w) // 2, (side - h) // 2))
    return out


def _resolve(source: str) -> Path:
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(source))
    except Exception as exc:
        raise EmbedderError(
            f"cannot load {source!r}: not a folder, and not downloadable or cached from the model hub ({exc})"
        ) from exc


class HFDualEncoder(Embedder):
    """A transformers image-text dual encoder loaded with AutoModel, AutoImageProcessor, AutoTokenizer."""

    def __init__(self, source: str, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.name = f"hf:{source}"
        self.source = source
        self._folder = _resolve(source)
        self._loaded = False
        self._fingerprint: str | None = None
        cfg = json.loads((self._folder / "config.json").read_text()) if (self._folder / "config.json").exists() else {}
        self._model_type = cfg.get("model_type", "")
        self._dim = cfg.get("projection_dim") or (cfg.get("text_config") or {}).get("projection_size") or None

    def _load(self) -> None:
        if self._loaded:
            return
        try:
            import torch
            from transformers import AutoImageProcessor, AutoModel, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - both are dependencies
            raise EmbedderError(f"the hf: embedders need torch and transformers: {exc}") from exc
        folder = str(self._folder)
        try:
            self.model = AutoModel.from_pretrained(folder)
            self.image_processor = _image_processor(AutoImageProcessor, folder)
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
        except Exception as exc:
            raise EmbedderError(f"cannot load {self.source!r} as an image-text model: {exc}") from exc
        if not (hasattr(self.model, "get_image_features") and hasattr(self.model, "get_text_features")):
            raise EmbedderError(f"{self.source!r} ({type(self.model).__name__}) has no image and text towers")
        self.torch = torch
        self.device = pick_device(self.settings.device)
        self.model = self.model.to(self.device).eval()
        text_cfg = getattr(self.model.config, "text_config", None)
        self._max_text = int(getattr(text_cfg, "max_position_embeddings", 0) or 77)
        self._loaded = True

    @property
    def dim(self) -> int:  # type: ignore[override]
        if self._dim is None:
            self._dim = int(self.embed_queries(["dimension probe"]).shape[1])
        return int(self._dim)

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            weights = sorted(self._folder.glob("*.safetensors")) or sorted(self._folder.glob("*.bin"))
            if not weights:
                raise EmbedderError(f"no weights in {self._folder}")
            # what turns pixels and text into model inputs (config.json is left out: it also carries
            # the transformers version, which changes on re-saving without changing any vector)
            settings_files = [p for p in ("preprocessor_config.json", "tokenizer.json") if (self._folder / p).exists()]
            conf_hash = file_hash(*(self._folder / p for p in settings_files)) if settings_files else "none"
            self._fingerprint = f"hf/2|{self._model_type}|w:{file_hash(*weights)}|cfg:{conf_hash}|pad:{self._padding()}|img:square-white"
        return self._fingerprint

    def _padding(self) -> str:
        return "max_length" if self._model_type in _PAD_TO_MAX else "longest"

    def _run(self, fn, batch: dict) -> np.ndarray:
        t = self.torch
        dtype = next(self.model.parameters()).dtype
        inputs = {
            k: (v.to(self.device, dtype=dtype) if v.is_floating_point() else v.to(self.device))
            for k, v in batch.items()
            if hasattr(v, "to")
        }
        with t.inference_mode():
            out = _pooled(fn(**inputs))
        return out.float().cpu().numpy()

    def embed_images(self, images: Sequence["Image"]) -> np.ndarray:
        """Each image, padded to a square, through the model's image processor and image tower."""
        self._load()
        images = [pad_to_square(im.convert("RGB")) for im in images]
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for s in range(0, len(images), self.settings.batch_size):
            batch = self.image_processor(images=images[s : s + self.settings.batch_size], return_tensors="pt")
            out.append(self._run(self.model.get_image_features, dict(batch)))
        return l2_normalize(np.concatenate(out))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Each text through the model's tokenizer and text tower."""
        self._load()
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for s in range(0, len(texts), self.settings.batch_size):
            batch = self.tokenizer(
                texts[s : s + self.settings.batch_size],
                padding=self._padding(),
                truncation=True,
                max_length=self._max_text,
                return_tensors="pt",
            )
            batch = {k: v for k, v in dict(batch).items() if k in ("input_ids", "attention_mask", "position_ids")}
            if self._model_type in _PAD_TO_MAX:
                batch.pop("attention_mask", None)  # SigLIP's text tower was trained without one
            out.append(self._run(self.model.get_text_features, batch))
        return l2_normalize(np.concatenate(out))


def _available() -> tuple[bool, str]:
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        return False, f"missing packages: {', '.join(missing)}"
    return True, "needs a hub id or folder: hf:openai/clip-vit-base-patch32, hf:/path/to/siglip (no weights ship here)"


@register(
    "hf",
    description="any transformers image-text dual encoder (CLIP, SigLIP, SigLIP 2): hf:<hub id or folder>",
    available=_available,
)
def _make_hf(arg: str | None, settings: Settings) -> Embedder:
    if not arg:
        raise EmbedderError("hf needs a hub id or folder, e.g. hf:openai/clip-vit-base-patch32")
    return HFDualEncoder(arg, settings)
