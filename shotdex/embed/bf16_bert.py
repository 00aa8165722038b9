"""The numpy BERT's forward pass again in torch, its matrix products in bfloat16, for indexing.

On a CPU with native bfloat16 arithmetic (AVX512-BF16, AMX) this runs a tile's text through
all-MiniLM-L6-v2 1.7-2x faster than numpy float32 on one core (benchmarks/pipeline_speed.py and
embed_precision.py), and the vectors stay within cosine 0.9999 of float32's (tested): the products'
inputs are rounded to bf16, everything else (sums, layer norms, residuals, the pooled mean) stays
float32, as torch's autocast does. Text queries keep the float32 numpy path: a fresh `shotdex search`
must not import torch (~1 s).
Without native bf16 torch would emulate it, slower than numpy: `supported()` says no there.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["Bf16Bert", "supported"]


@functools.lru_cache(maxsize=1)
def supported() -> bool:
    """Whether torch is installed and this CPU multiplies bfloat16 natively."""
    try:
        import torch
    except ImportError:
        return False
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class Bf16Bert:
    """Built from a `_NumpyBert`'s weights (no second read of the file); same call signature."""

    def __init__(self, nb):
        import torch

        self.torch = torch
        self.F = torch.nn.functional
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
        w16 = lambda a: t(a.T).to(torch.bfloat16)  # noqa: E731 - (in, out) numpy -> (out, in) for F.linear
        b16 = lambda a: t(a).to(torch.bfloat16)  # noqa: E731
        self.heads, self.eps = nb.heads, nb.eps
        self.word, self.pos, self.type0 = t(nb.word), t(nb.pos), t(nb.type0)
        self.emb_ln = tuple(t(a) for a in nb.emb_ln)
        self.layers = [
            (w16(qkv_w), b16(qkv_b), w16(o_w), b16(o_b), tuple(t(a) for a in ln1),
             w16(i_w), b16(i_b), w16(f_w), b16(f_b), tuple(t(a) for a in ln2))
            for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2 in nb.layers
        ]

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Token states (B, L, H), float32, for ids (B, L) with attention mask (B, L)."""
        torch = self.torch
        # One thread, as the numpy path under one_blas_thread(): the callers' workers are the parallelism.
        # OpenMP keeps a thread count per calling thread, so it is set here, in the caller's thread,
        # and given back after (a user's own torch work in this thread keeps its setting).
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._forward(ids, mask)
        finally:
            torch.set_num_threads(before)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch, F, bf16 = self.torch, self.F, self.torch.bfloat16
        with torch.inference_mode():
            ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
            B, L = ids_t.shape
            x = self.word[ids_t] + self.pos[:L] + self.type0
            H = x.shape[-1]
            x = F.layer_norm(x, (H,), *self.emb_ln, self.eps)
            nh, hd = self.heads, H // self.heads
            keep = mask_t[:, None, None, :] > 0
            for qkv_w, qkv_b, o_w, o_b, ln1, i_w, i_b, f_w, f_b, ln2 in self.layers:
                qkv = F.linear(x.to(bf16), qkv_w, qkv_b).view(B, L, 3, nh, hd).permute(2, 0, 3, 1, 4)
                ctx = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=keep)
                h = F.linear(ctx.transpose(1, 2).reshape(B, L, H), o_w, o_b).float() + x
                x = F.layer_norm(h, (H,), *ln1, self.eps)
                h = F.gelu(F.linear(x.to(bf16), i_w, i_b))
                h = F.linear(h, f_w, f_b).float() + x
                x = F.layer_norm(h, (H,), *ln2, self.eps)
            return x.numpy()
