"""The figure tagger: small CNNs, run in numpy, that name what a tile shows (bar chart, map, table...).

Its weights (weights/tagger.npz, < 2 MB) are rebuilt from nothing by scripts/train_tagger.py on charts,
tables and pages that shotdex's own renderers draw; this module never imports that script or torch.
The file holds a small ensemble: models of one architecture trained on the same pictures from different
seeds (the first model's arrays unprefixed, the others' prefixed "m1_", "m2_"...). A tile goes in as a
3 x SIZE x SIZE picture (caption band and plain margins cut off, padded square with white, ink = 1), and
out come class probabilities (the mean of the models') plus a visual descriptor (the first model's last
conv layer pooled 2 x 2) that image queries compare ("more like this").
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

__all__ = ["CLASSES", "GROUPS", "WORDS", "CHARTS", "SIZE", "Figure", "Tagger", "prepare", "strip_caption",
           "tag_words", "trim", "weights_path", "CAPTION_RULE"]

SIZE = 96
# The caption band (render/caption.py) starts with a 2 px rule of exactly this colour; the tagger and the
# visual vector look at the picture above it, so a chart's spec and a PNG of it (no band) look alike.
CAPTION_RULE = (91, 107, 123)

CLASSES = ("bar", "bar_horizontal", "bar_grouped", "bar_stacked", "histogram", "line", "area", "area_stacked",
           "scatter", "bubble", "pie", "donut", "heatmap", "boxplot", "map", "table", "text", "code", "photo")
# the words a confident tag adds to a tile's read text (non-charts add none: text reads as before)
WORDS = {"bar": "bar chart", "bar_horizontal": "horizontal bar chart", "bar_grouped": "grouped bar chart",
         "bar_stacked": "stacked bar chart", "histogram": "histogram", "line": "line chart", "area": "area chart",
         "area_stacked": "stacked area chart", "scatter": "scatter plot", "bubble": "bubble plot scatter plot",
         "pie": "pie chart", "donut": "donut chart pie chart", "heatmap": "heatmap", "boxplot": "box plot",
         "map": "map"}
CHARTS = tuple(WORDS)
# the coarse figure type of each class (what the benchmark scores); a group's words when only it is sure
GROUPS = {"bar": "bar", "bar_horizontal": "bar", "bar_grouped": "bar", "bar_stacked": "bar",
          "histogram": "histogram", "line": "line", "area": "area", "area_stacked": "area", "scatter": "scatter",
          "bubble": "scatter", "pie": "pie", "donut": "pie", "heatmap": "heatmap", "boxplot": "boxplot",
          "map": "map", "table": "table", "text": "text", "code": "code", "photo": "photo"}
GROUP_WORDS = {"bar": "bar chart", "area": "area chart", "scatter": "scatter plot", "pie": "pie chart"}
CONFIDENT = 0.6  # a class (or its group) at least this sure becomes words
VISUAL_DIM = 4 * 128
# sha256 (first 16 hex digits) of the shipped weights: the fingerprint part an index records
# (scripts/train_tagger.py prints it for a rebuilt file)
WEIGHTS_HASH = "c97094b43099a295"


def weights_path() -> Path:
    return Path(__file__).parent / "weights" / "tagger.npz"


@dataclass(frozen=True)
class Figure:
    """What the tagger sees on one tile: its best class, how sure it is, and the visual descriptor."""

    tag: str
    conf: float
    visual: np.ndarray  # (VISUAL_DIM,) float32, L2-normalised

    @property
    def words(self) -> str:
        """The words this tag adds to the read text ('' for non-charts or when unsure)."""
        return tag_words(self.tag)


def tag_words(tag: str) -> str:
    """The words a tile tagged `tag` gets in its read text ('' for non-charts and no tag)."""
    return WORDS.get(tag) or GROUP_WORDS.get(tag, "")


def strip_caption(img: "Image") -> "Image":
    """The picture above a caption band (the band's rule is 2 rows of CAPTION_RULE, full width)."""
    a = np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
    rule = np.array(CAPTION_RULE, dtype=np.uint8)
    for y in np.flatnonzero((a[:, 0] == rule).all(axis=1) & (a[:, -1] == rule).all(axis=1)):
        if 8 < y < a.shape[0] - 1 and (a[y:y + 2] == rule).all():
            return img.crop((0, 0, img.width, int(y)))
    return img


def trim(img: "Image", tol: int = 24) -> "Image":
    """The picture without its plain margins (the colour of its top-left pixel): a chart drawn small on
    a wide tile and the same chart cropped tight look alike. Found on a copy at most 4 * SIZE wide."""
    from PIL import Image, ImageChops

    small = img
    factor = max(img.width, img.height) // (4 * SIZE)
    if factor > 1:
        small = img.reduce(factor)
    diff = ImageChops.difference(small, Image.new("RGB", small.size, small.getpixel((0, 0)))).convert("L")
    box = diff.point(lambda v: 255 if v > tol else 0).getbbox()
    return small.crop(box) if box else small


def prepare(img: "Image", size: int = SIZE) -> np.ndarray:
    """(size, size, 3) float32 in [0, 1], ink = 1: the caption band cut off, the plain margins trimmed,
    padded square with white."""
    from PIL import Image

    img = trim(strip_caption(img).convert("RGB"))
    scale = size / max(img.width, img.height)
    w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    square = Image.new("RGB", (size, size), "white")
    square.paste(img.resize((w, h), Image.BILINEAR, reducing_gap=None), ((size - w) // 2, (size - h) // 2))
    return 1.0 - np.asarray(square, dtype=np.float32) / 255.0


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3x3 convolution, padding 1, channels last: x (H, W, C), w (C*9, O) -> (H, W, O), then ReLU."""
    h, wd, c = x.shape
    p = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    # the (H*W, C*9) window matrix, filled by 9 shifted copies (faster than reshaping a 5-d window view)
    cols = np.empty((h, wd, c, 3, 3), dtype=x.dtype)
    for dy in range(3):
        for dx in range(3):
            cols[:, :, :, dy, dx] = p[dy:dy + h, dx:dx + wd]
    y = cols.reshape(h * wd, c * 9) @ w + b
    return np.maximum(y, 0, out=y).reshape(h, wd, -1)


def _pool(x: np.ndarray) -> np.ndarray:
    """2 x 2 max pooling, stride 2."""
    x = x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2]
    return np.maximum(np.maximum(x[0::2, 0::2], x[0::2, 1::2]), np.maximum(x[1::2, 0::2], x[1::2, 1::2]))


class Tagger:
    """Loads the shipped weights once; `tag(images)` is thread-safe (numpy only, no state per call)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else weights_path()
        data = np.load(self.path)
        self.models = []
        while (prefix := f"m{len(self.models)}_" if self.models else "") + "fc_w" in data:
            convs, i = [], 0
            while f"{prefix}c{i}_w" in data:
                w = data[f"{prefix}c{i}_w"].astype(np.float32)  # (O, C, 3, 3), batch norm folded in
                convs.append((np.ascontiguousarray(w.reshape(w.shape[0], -1).T), data[f"{prefix}c{i}_b"].astype(np.float32)))
                i += 1
            self.models.append((convs, data[f"{prefix}fc_w"].astype(np.float32).T, data[f"{prefix}fc_b"].astype(np.float32)))
        self.classes = tuple(str(c) for c in data["classes"])
        self.hash = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]

    @staticmethod
    def _run(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One model's (probabilities, last conv layer) for a prepared tile."""
        convs, fc_w, fc_b = model
        for i, (w, b) in enumerate(convs):
            x = _conv(x, w, b)
            if i < len(convs) - 1:
                x = _pool(x)
        logits = x.mean(axis=(0, 1)) @ fc_w + fc_b
        e = np.exp(logits - logits.max())
        return e / e.sum(), x

    def runs(self, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each model's (probabilities, last conv layer) of one prepared tile, alone."""
        return [self._run(m, x) for m in self.models]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, visual descriptor) of one prepared tile: the mean of the models' probabilities,
        and the first model's last conv layer pooled 2 x 2."""
        runs = self.runs(x)
        probs = sum(p for p, _ in runs) / len(runs)
        x = runs[0][1]
        h, w, c = x.shape
        quad = x[: h // 2 * 2, : w // 2 * 2].reshape(2, h // 2, 2, w // 2, c).mean(axis=(1, 3)).reshape(-1)
        quad = quad / (np.linalg.norm(quad) or 1.0)
        return probs, quad.astype(np.float32)

    def figure(self, img: "Image", charts: bool = True) -> Figure:
        """The tile's figure type: its most likely class if sure enough, else its group if that is;
        charts=False: the most likely of the classes that are not charts (a tile known to be text)."""
        probs, visual = self.forward(prepare(img))
        allowed = probs if charts else np.where([c not in WORDS for c in self.classes], probs, -1.0)
        best = int(allowed.argmax())
        tag, conf = self.classes[best], float(probs[best])
        if conf < CONFIDENT:
            group = GROUPS.get(tag, tag)
            gconf = float(sum(p for c, p in zip(self.classes, probs) if GROUPS.get(c) == group))
            tag, conf = (group, gconf) if gconf >= CONFIDENT else ("", conf)
        return Figure(tag, round(conf, 4), visual)

    def tag(self, images: Sequence["Image"]) -> list[Figure]:
        return [self.figure(im) for im in images]


_LOCK = threading.Lock()
_SHARED: dict[str, Tagger] = {}


def shared_tagger() -> Tagger:
    """The shipped tagger, loaded once per process."""
    with _LOCK:
        if "default" not in _SHARED:
            _SHARED["default"] = Tagger()
        return _SHARED["default"]
