"""Issue 11, silent drops: nothing a user gave shotdex may vanish without a word.

- hf: the whole tile reaches the model (padded to a square), not a centre crop of it;
- CLS-pooled sentence models embed every window of a long text, not the first 256 tokens;
- a torn pending.json means "re-check everything", said out loud;
- a source that turns bad keeps its last good tiles, marked stale in `status`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import shotdex
from shotdex.embed import get_embedder
from shotdex.embed.sentence import SentenceModel
from test_embed import FONT, build_tiny, build_tiny_bert

TOY = shotdex.Settings(plugins="toy_embedder", model="toy")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {k: build_tiny(k, root / k) for k in ("clip", "siglip")}


# -- hf: the tile's edges count ----------------------------------------------------------------------
def _edge_images(size=(1024, 768)) -> dict[str, Image.Image]:
    """A blank tile, and tiles whose only ink is a word or a bar within 60 px of one side."""
    font = ImageFont.truetype(FONT, 22)
    blank = Image.new("RGB", size, "white")
    out = {"blank": blank}
    for side, x in (("left", 2), ("right", size[0] - 58)):
        im = blank.copy()
        ImageDraw.Draw(im).text((x, 360), "cat", font=font, fill="black")
        out[f"word-{side}"] = im
        bar = blank.copy()
        ImageDraw.Draw(bar).rectangle((x, 100, x + 50, 660), fill="black")
        out[f"bar-{side}"] = bar
    return out


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_hf_content_at_the_tile_edge_changes_the_vector(kind, tiny_models):
    """A 1024x768 tile whose only content lies in its outer 60 px (which a CLIP centre crop drops)
    must not embed like a blank tile."""
    emb = get_embedder(f"hf:{tiny_models[kind]}")
    ims = _edge_images()
    names = list(ims)
    vecs = dict(zip(names, emb.embed_images([ims[n] for n in names])))
    for name in names[1:]:
        diff = float(np.abs(vecs[name] - vecs["blank"]).max())
        assert diff > 1e-5, f"{kind}: {name} embeds like a blank tile (max |diff| {diff:.2e})"
    # the left and right marks are told apart too: the tile is not mirrored or cropped asymmetrically
    assert float(np.abs(vecs["bar-left"] - vecs["bar-right"]).max()) > 1e-3


def test_hf_image_is_padded_not_squashed(tiny_models):
    """SigLIP-style processors resize to a square: a wide tile was squashed. Padded, a tile and the same
    tile already pasted on a white square give one vector (the model sees the same pixels)."""
    from shotdex.embed.hf import pad_to_square

    emb = get_embedder(f"hf:{tiny_models['siglip']}")
    tile = _edge_images()["bar-left"]
    square = Image.new("RGB", (1024, 1024), "white")
    square.paste(tile, (0, 128))
    assert pad_to_square(tile).tobytes() == square.tobytes()
    a, b = emb.embed_images([tile, square])
    assert float(a @ b) > 0.99999


def test_hf_fingerprint_names_the_padding(tiny_models):
    # vectors changed with the padding: an index built by the old centre-cropping code must be refused
    fp = get_embedder(f"hf:{tiny_models['clip']}").fingerprint
    assert fp.startswith("hf/2|") and "img:square-white" in fp


# -- CLS-pooled sentence models: every window ------------------------------------------------------
def _cls_bert(folder: Path) -> Path:
    build_tiny_bert(folder)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    return folder


def _reference_cls_windows(folder: Path, windows: list[list[int]]) -> np.ndarray:
    """transformers' own BERT: the [CLS] state of each window, normalised, averaged, normalised."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder)).eval()
    vecs = []
    with torch.inference_mode():
        for ids in windows:
            h = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).last_hidden_state
            v = h[0, 0].numpy()
            vecs.append(v / np.linalg.norm(v))
    m = np.mean(vecs, axis=0)
    return m / np.linalg.norm(m)


@pytest.mark.parametrize("numpy_ok", [True, False], ids=["numpy", "torch"])
def test_cls_pooled_model_embeds_every_window(tmp_path, numpy_ok):
    folder = _cls_bert(tmp_path / "cls-bert")
    model = SentenceModel(str(folder), numpy_ok=numpy_ok)
    assert model.pooling == "cls" and model.backend == ("numpy" if numpy_ok else "torch")
    head = "the table"
    body = "cat dog sales revenue " * 40
    text = f"{head}\n{body}"
    changed_tail = f"{head}\n{body}python asyncio tasks screenshot search"
    wins = model.windows(text)
    assert len(wins) >= 3  # 64-token windows
    a, b = model.encode([text, changed_tail])
    # the words past the first window count (cut at the first window, both vectors were identical;
    # a random tiny BERT's [CLS] moves little, so the check is on any change at all)
    assert float(np.abs(a - b).max()) > 1e-5, "the tail of a long text was dropped"
    ref = _reference_cls_windows(folder, [ids for ids, _ in wins])
    first_only = _reference_cls_windows(folder, [wins[0][0]])
    assert float(np.abs(a - ref).max()) < 1e-6  # transformers' [CLS] of every window, averaged
    assert float(np.abs(first_only - ref).max()) > 5e-5  # ... which the first window alone is not
    assert "cls-windows" in model.scheme()
    # a short text is still its one window's [CLS]
    short = model.encode(["sales revenue"])[0]
    assert float(short @ _reference_cls_windows(folder, [model.windows("sales revenue")[0][0]])) > 0.9999
