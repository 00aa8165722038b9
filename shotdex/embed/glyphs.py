"""shotdex's own line recogniser: a small CNN read with CTC, run in numpy.

It reads the segments lines.py finds on tiles shotdex rendered (text, Markdown, code, tables, local
web pages): each segment is cut out with a little margin, turned so that ink is 1 and background 0
(dark on light and light on dark alike), scaled to HEIGHT px, and read left to right, one frame every
2 px: a 1-D convolutional network over column strips (the height is fixed, so its first layer sees
whole strips) and CTC. Its weights (weights/glyphs.npz) are rebuilt from nothing by scripts/train_reader.py from pages
shotdex's renderer draws; this module never imports that script or torch.
"""

from __future__ import annotations

import hashlib
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .lines import Segment

__all__ = ["CHARSET", "HEIGHT", "Recogniser", "ReadLine", "prepare", "encode_label", "weights_path", "weights_hash"]

HEIGHT = 20
STRIDE = 2  # px of the scaled segment per output frame
MARGIN = 2  # px of background kept around a segment
_LATIN = "".join(chr(c) for c in range(0xC0, 0x100) if c not in (0xD7, 0xF7))
CHARSET = (
    " " + "".join(chr(c) for c in range(33, 127)) + _LATIN
    + "ĀāăąĆćČčĎďĐđĒēĘęěĞğĪīİıŁłŃńŇňŌōŐőŒœŘřŚśŞşŠšŢţŤťŪūŮůŰűŸŹźŻżŽž"
    + "–—‘’‚“”„•…×÷°±²³¹½¼¾€£¥¢©®™§¶·←→↑↓≤≥≠≈∞√µ′″"
)
_INDEX = {c: i + 1 for i, c in enumerate(CHARSET)}  # 0 is the CTC blank


def weights_path() -> Path:
    return Path(__file__).parent / "weights" / "glyphs.npz"


def weights_hash(path: Path | None = None) -> str:
    """sha256 (first 16 hex digits) of the weights file: the fingerprint part an index records."""
    return hashlib.sha256(Path(path or weights_path()).read_bytes()).hexdigest()[:16]


def encode_label(text: str) -> list[int] | None:
    """A segment's true text as class indices (NFC; spaces collapsed); None when it holds a character
    the recogniser has no class for (such segments are not trained on)."""
    text = " ".join(unicodedata.normalize("NFC", text).split())
    out = []
    for ch in text:
        i = _INDEX.get(ch)
        if i is None:
            return None
        out.append(i)
    return out


def prepare(gray: np.ndarray, seg: Segment) -> tuple[np.ndarray, float, int]:
    """The segment as a float32 (HEIGHT, W) picture, ink 1 and background 0; the scale from tile px to
    picture px; and the tile x of the picture's left edge."""
    from PIL import Image

    H, W = gray.shape
    x0, y0 = max(0, seg.x - MARGIN), max(0, seg.y - MARGIN)
    x1, y1 = min(W, seg.x + seg.w + MARGIN), min(H, seg.y + seg.h + MARGIN)
    crop = gray[y0:y1, x0:x1].astype(np.float32)
    bg = float(np.median(crop))
    lo, hi = float(crop.min()), float(crop.max())
    # dark ink on a light ground unless the far side of the median is the brighter one
    if hi - bg > bg - lo:
        v = (crop - bg) / max(8.0, hi - bg)
    else:
        v = (bg - crop) / max(8.0, bg - lo)
    v = np.clip(v, 0.0, 1.0)
    scale = HEIGHT / crop.shape[0]
    width = max(STRIDE * 2, int(round(crop.shape[1] * scale)))
    img = Image.fromarray((v * 255).astype(np.uint8)).resize((width, HEIGHT), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0, scale, x0


@dataclass(frozen=True)
class ReadLine:
    """What the recogniser read on one segment: the words, each with its box and confidence (0-100),
    and the line's confidence (the least sure character's probability, 0-1)."""

    words: list  # of base.Word
    conf: float

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def _conv1d(x: np.ndarray, taps: list[np.ndarray], b: np.ndarray, dilation: int = 1) -> np.ndarray:
    """'same' convolution over frames, x (N, T, C), one (C, O) matrix per tap: each tap is one matmul
    over a shifted, contiguous view of the padded frames (no copies of the input)."""
    n, t, c = x.shape
    k = len(taps)
    half = dilation * (k // 2)
    p = np.zeros((n, t + 2 * half, c), dtype=np.float32)
    p[:, half: half + t] = x
    flat = p.reshape(-1, c)
    rows = flat.shape[0] - 2 * half
    out = flat[:rows] @ taps[0]
    for j in range(1, k):
        out += flat[j * dilation: j * dilation + rows] @ taps[j]
    out += b
    out = np.concatenate([out, np.zeros((2 * half, out.shape[1]), np.float32)])
    return out.reshape(n, t + 2 * half, -1)[:, :t]


def frames(batch: np.ndarray) -> np.ndarray:
    """(N, HEIGHT, W) pictures -> (N, W // STRIDE, HEIGHT * STRIDE) column strips, each in (row, col) order."""
    n, h, w = batch.shape
    t = w // STRIDE
    return batch[:, :, : t * STRIDE].reshape(n, h, t, STRIDE).transpose(0, 2, 1, 3).reshape(n, t, h * STRIDE)


class Recogniser:
    """The shipped (or a given) weights; `read` turns prepared segments into ReadLines."""

    _shared: "Recogniser | None" = None
    _lock = threading.Lock()

    def __init__(self, path: Path | None = None):
        path = Path(path) if path is not None else weights_path()
        data = np.load(path)
        self.hash = weights_hash(path)
        p = {k: data[k].astype(np.float32) for k in data.files}
        # (C*k, O) in (C, k) order -> k contiguous (C, O) taps
        self.taps = {name: [np.ascontiguousarray(p[f"{name}.w"].reshape(-1, k, p[f"{name}.w"].shape[1])[:, j])
                            for j in range(k)] for name, k in (("l1", 5), ("l2", 3), ("l3", 3))}
        self.p = p

    @classmethod
    def shared(cls) -> "Recogniser":
        with cls._lock:
            if cls._shared is None:
                cls._shared = Recogniser()
            return cls._shared

    def scores(self, batch: np.ndarray) -> np.ndarray:
        """(N, HEIGHT, W) pictures -> (N, W // STRIDE, classes) scores (logits). The network reads
        column strips STRIDE px wide: a full-height convolution over 5 of them, two residual ones over
        3 (the second dilated), and a per-frame classifier."""
        p, taps = self.p, self.taps
        x = np.maximum(_conv1d(frames(batch), taps["l1"], p["l1.b"]), 0)
        x = x + np.maximum(_conv1d(x, taps["l2"], p["l2.b"]), 0)
        x = x + np.maximum(_conv1d(x, taps["l3"], p["l3.b"], 2), 0)
        return x @ p["out.w"] + p["out.b"]

    def read(self, pictures: list[np.ndarray], batch_px: int = 60_000) -> list[tuple[str, list[tuple[int, int, float]]]]:
        """For each picture: the text and, per character, (first frame, last frame, probability)."""
        order = sorted(range(len(pictures)), key=lambda i: pictures[i].shape[1])
        out: list = [None] * len(pictures)
        i = 0
        while i < len(order):
            # a batch of similar widths (sorted, so the last is the widest): at most batch_px pixel
            # columns, and at most a quarter of them padding
            j, used = i, 0
            while j < len(order):
                w = pictures[order[j]].shape[1]
                if j > i and ((j - i + 1) * w > batch_px or (j - i + 1) * w > 1.25 * (used + w)):
                    break
                used += w
                j += 1
            group = order[i:j]
            wmax = max(pictures[k].shape[1] for k in group)
            wmax += (-wmax) % 4
            batch = np.zeros((len(group), HEIGHT, wmax), dtype=np.float32)
            for r, k in enumerate(group):
                batch[r, :, : pictures[k].shape[1]] = pictures[k]
            z = self.scores(batch)
            for r, k in enumerate(group):
                n = max(1, pictures[k].shape[1] // STRIDE)
                out[k] = _decode(z[r, :n])
            i = j
        return out


def _decode(z: np.ndarray) -> tuple[str, list[tuple[int, int, float]]]:
    """Greedy CTC over one segment's frame scores: the text and, per character, its first and last
    frame and its probability (softmax only at the frames that emit)."""
    best = z.argmax(axis=1)
    starts = np.flatnonzero(np.concatenate(([True], best[1:] != best[:-1])))  # runs of one class
    ends = np.concatenate((starts[1:], [len(best)])) - 1
    keep = best[starts] != 0
    starts, ends = starts[keep], ends[keep]
    if not len(starts):
        return "", []
    zk = z[starts]
    prob = 1.0 / np.exp(zk - zk.max(axis=1, keepdims=True)).sum(axis=1)  # the winner's softmax probability
    return ("".join(CHARSET[k - 1] for k in best[starts]),
            [(int(a), int(b), float(p)) for a, b, p in zip(starts, ends, prob)])
