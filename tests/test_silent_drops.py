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


# -- a torn pending.json: re-check everything, loudly ----------------------------------------------
def _corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "bread.md").write_text("# Sourdough bread\n\nFeed the starter with rye flour and water every morning.\n")
    (root / "capitals.csv").write_text("country,capital\nNorway,Oslo\nSweden,Stockholm\nFinland,Helsinki\n")
    (root / "notes.txt").write_text("Telescope maintenance log: collimate the mirror before observing Jupiter.\n")
    return root


def _tiles_of(idx, name: str) -> list[dict]:
    rows = idx.store.tiles.to_arrow().select(["source", "true_text", "content_hash"]).to_pylist()
    return [r for r in rows if Path(r["source"]).name == name]


@pytest.mark.slow
def test_torn_journal_rechecks_every_source_and_says_so(tmp_path, monkeypatch):
    """A run is cut off after bread.md's new tiles were committed but before its row (fault injected
    at that moment); the file is then put back as it was, so its row looks current, and the journal
    that named it is torn. The next run must re-render it (and every other source) and say why."""
    from shotdex.index.store import PENDING_FILE, Store

    corpus = _corpus(tmp_path / "corpus")
    bread = corpus / "bread.md"
    idx = shotdex.open(db=tmp_path / "db", settings=TOY)
    assert len(idx.add([corpus]).added) == 3
    old_text, old_stat = bread.read_text(), bread.stat()

    bread.write_text("# Rye crispbread\n\nBake thin rounds of rye dough until crisp.\n")

    def cut_off(self, rows):
        if rows:  # the process dies here: tiles committed, rows not
            raise KeyboardInterrupt

    monkeypatch.setattr(Store, "write_sources", cut_off)
    with pytest.raises(KeyboardInterrupt):
        idx.add([corpus])
    monkeypatch.undo()
    journal = tmp_path / "db" / PENDING_FILE
    assert str(bread) in json.loads(journal.read_text())
    assert "crispbread" in _tiles_of(idx, "bread.md")[0]["true_text"]  # the new tiles, the old row

    bread.write_text(old_text)
    os.utime(bread, ns=(old_stat.st_atime_ns, old_stat.st_mtime_ns))
    journal.write_text(journal.read_text()[:7])  # torn mid-write

    idx = shotdex.open(db=tmp_path / "db", settings=TOY)
    rep = idx.add([corpus])
    assert [w for _, w in rep.warnings if "re-checked" in w], rep.warnings
    assert any(src.endswith(PENDING_FILE) and "unreadable" in w for src, w in rep.warnings)
    assert sorted(Path(s).name for s in rep.updated) == ["bread.md", "capitals.csv", "notes.txt"]
    tiles = _tiles_of(idx, "bread.md")
    assert tiles and all("Sourdough" in t["true_text"] for t in tiles), tiles
    assert Path(idx.search("sourdough starter rye flour", k=1)[0].source).name == "bread.md"
    assert not journal.exists()
    again = idx.add([corpus])  # repaired: nothing more to re-check, and nothing more to say
    assert len(again.skipped) == 3 and not again.warnings


@pytest.mark.parametrize("content", ["{not json", *[pytest.param(c, marks=pytest.mark.slow)
                                                  for c in ("", '{"a": 1}', "[1, 2]", b"\xff\xfe\x00garbage")]])
def test_any_unreadable_journal_counts_as_torn(tmp_path, content):
    from shotdex.index.store import PENDING_FILE

    corpus = _corpus(tmp_path / "corpus")
    idx = shotdex.open(db=tmp_path / "db", settings=TOY)
    idx.add([corpus])
    journal = tmp_path / "db" / PENDING_FILE
    journal.write_bytes(content if isinstance(content, bytes) else content.encode())
    rep = shotdex.open(db=tmp_path / "db", settings=TOY).add([corpus])
    assert len(rep.updated) == 3 and not rep.skipped and len(rep.warnings) == 1, rep


@pytest.mark.slow
def test_torn_journal_is_one_warning_line_on_the_cli(tmp_path):
    from reliability_util import TOY as TOY_ENV, run_cli
    from shotdex.index.store import PENDING_FILE

    corpus = _corpus(tmp_path / "corpus")
    db = tmp_path / "db"
    assert run_cli("index", corpus, "--db", db, env=TOY_ENV).returncode == 0
    (db / PENDING_FILE).write_text('["' + str(corpus))
    p = run_cli("index", corpus, "--db", db, env=TOY_ENV)
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"shotdex: warning: {db / PENDING_FILE}: "), lines
    assert "3 will be rendered again" in lines[0]
    assert p.stdout.strip().splitlines()[-1].startswith("0 added, 3 updated")


# -- a source that turns bad: last good version kept, marked stale ----------------------------------
@pytest.mark.slow
def test_source_that_turns_bad_stays_searchable_marked_stale(tmp_path):
    from reliability_util import TOY as TOY_ENV, run_cli

    corpus = _corpus(tmp_path / "corpus")
    db = tmp_path / "db"
    csv = corpus / "capitals.csv"
    assert run_cli("index", corpus, "--db", db, env=TOY_ENV).returncode == 0
    csv.write_bytes(bytes(range(256)) * 16)  # the file goes bad after it was indexed

    p = run_cli("index", corpus, "--db", db, env=TOY_ENV)
    assert p.returncode == 1
    assert f"shotdex: failed: {csv}: " in p.stderr and "last good version stays searchable" in p.stderr
    # status names it as stale (not as failed), with the reason and what is still searchable
    st = json.loads(run_cli("status", "--db", db, "--json", env=TOY_ENV).stdout)
    assert st["failed"] == [] and [s["source"] for s in st["stale"]] == [str(csv)], st
    assert "binary" in st["stale"][0]["reason"] and st["stale"][0]["tiles"] >= 1
    assert st["sources"] == 3 and st["by_kind"]["table"]["sources"] == 1
    text = run_cli("status", "--db", db, env=TOY_ENV).stdout
    assert f"stale: {csv}: " in text and "last good version kept" in text
    with shotdex.open(db=db, settings=TOY) as idx:  # the last good tiles still answer
        assert Path(idx.search("capital of Finland Helsinki", k=1)[0].source).name == "capitals.csv"

    # still bad on the next run: still stale, still the old tiles
    assert run_cli("index", corpus, "--db", db, env=TOY_ENV).returncode == 1
    st = json.loads(run_cli("status", "--db", db, "--json", env=TOY_ENV).stdout)
    assert [s["source"] for s in st["stale"]] == [str(csv)] and st["stale"][0]["tiles"] >= 1

    # fixed: indexed again with the new content, no longer stale
    csv.write_text("country,capital\nIceland,Reykjavik\n")
    p = run_cli("index", corpus, "--db", db, env=TOY_ENV)
    assert p.returncode == 0 and p.stdout.strip().splitlines()[-1].startswith("0 added, 1 updated"), p.stdout
    st = json.loads(run_cli("status", "--db", db, "--json", env=TOY_ENV).stdout)
    assert st["stale"] == [] and st["failed"] == []
    with shotdex.open(db=db, settings=TOY) as idx:
        hit = idx.search("capital of Iceland Reykjavik", k=1)[0]
        assert Path(hit.source).name == "capitals.csv" and "Reykjavik" in hit.snippet

    # a source that never rendered is plainly failed (nothing of it is searchable)
    (corpus / "junk.csv").write_bytes(bytes(range(256)) * 16)
    run_cli("index", corpus, "--db", db, env=TOY_ENV)
    st = json.loads(run_cli("status", "--db", db, "--json", env=TOY_ENV).stdout)
    assert [Path(f["source"]).name for f in st["failed"]] == ["junk.csv"] and st["stale"] == []
