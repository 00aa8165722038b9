"""The index on a real LanceDB on disk, with real Chromium rendering and the toy embedder."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import shotdex
from shotdex.errors import IndexLocked, ModelMismatch, QueryError
from shotdex.index.lock import WriterLock
from shotdex.index.search import Fusion, fuse

TOY = shotdex.Settings(plugins="toy_embedder", model="toy")


def _corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "bread.md").write_text("# Sourdough bread\n\nFeed the starter with rye flour and water every morning.\n")
    (root / "capitals.csv").write_text("country,capital\nNorway,Oslo\nSweden,Stockholm\nFinland,Helsinki\n")
    (root / "notes.txt").write_text("Telescope maintenance log: collimate the mirror before observing Jupiter.\n")
    long = "\n\n".join(f"Paragraph {i}: the lighthouse keeper recorded gale number {i}." for i in range(120))
    (root / "long.md").write_text("# Lighthouse journal\n\n" + long)
    return root


@pytest.fixture
def corpus(tmp_path):
    return _corpus(tmp_path / "corpus")


def _open(tmp_path, **kw):
    return shotdex.open(db=tmp_path / "db", settings=TOY.replace(**kw))


def _tile_rows(idx):
    return idx.store.tiles.to_arrow().select(["id", "source", "content_hash"]).to_pylist()


def test_add_search_skip_replace_prune_remove(tmp_path, corpus):
    idx = _open(tmp_path)
    rep = idx.add([corpus])
    assert sorted(Path(s).name for s in rep.added) == ["bread.md", "capitals.csv", "long.md", "notes.txt"]
    assert not rep.failed and rep.tiles >= 5
    n_rows = len(_tile_rows(idx))
    assert n_rows == rep.tiles

    hits = idx.search("capital of Finland Helsinki", k=3)
    assert Path(hits[0].source).name == "capitals.csv" and hits[0].kind == "table"
    assert len({h.source for h in hits}) == len(hits)  # per source by default

    again = idx.add([corpus])
    assert len(again.skipped) == 4 and not again.added and not again.updated
    assert len(_tile_rows(idx)) == n_rows

    (corpus / "bread.md").write_text("# Rye crispbread\n\nBake thin rounds of rye dough until crisp.\n")
    upd = idx.add([corpus])
    assert [Path(s).name for s in upd.updated] == ["bread.md"] and len(upd.skipped) == 3
    bread = [r for r in _tile_rows(idx) if r["source"].endswith("bread.md")]
    assert len({r["content_hash"] for r in bread}) == 1  # the old tiles are gone
    assert Path(idx.search("crispbread rye rounds", k=1)[0].source).name == "bread.md"

    (corpus / "notes.txt").unlink()
    pr = idx.add([corpus], prune=True)
    assert [Path(s).name for s in pr.pruned] == ["notes.txt"]
    assert not any(r["source"].endswith("notes.txt") for r in _tile_rows(idx))

    gone = idx.remove([corpus / "capitals.csv"])
    assert [Path(s).name for s in gone] == ["capitals.csv"]
    st = idx.stats()
    assert st.sources == 2 and "table" not in st.by_kind and st.tiles == len(_tile_rows(idx))


def test_touched_but_unchanged_file_is_skipped_without_rendering(tmp_path, corpus):
    idx = _open(tmp_path)
    idx.add([corpus])
    os.utime(corpus / "notes.txt", (1, 1))
    rep = idx.add([corpus])
    assert len(rep.skipped) == 4 and rep.tiles == 0


def test_per_tile_results_filters_and_where(tmp_path, corpus):
    idx = _open(tmp_path)
    idx.add([corpus])
    per_tile = idx.search("lighthouse keeper gale", k=5, tiles=True)
    assert sum(1 for h in per_tile if h.source.endswith("long.md")) >= 2
    assert len({h.tile_id for h in per_tile}) == len(per_tile)
    only_tables = idx.search("lighthouse keeper gale", k=5, kind="table")
    assert only_tables and all(h.kind == "table" for h in only_tables)
    first_tiles = idx.search("lighthouse keeper gale", k=10, tiles=True, where="tile = 0")
    assert first_tiles and all(h.tile == 0 for h in first_tiles)
    with pytest.raises(QueryError):
        idx.search("x", where="no_such_column = 3")
    with pytest.raises(QueryError):
        idx.search("   ")


def test_other_embedder_is_refused_with_the_reembed_command(tmp_path, corpus):
    _open(tmp_path).add([corpus / "notes.txt"])
    other = _open(tmp_path, model="toy:other")
    with pytest.raises(ModelMismatch) as err:
        other.search("telescope")
    msg = str(err.value)
    assert "'toy'" in msg and "toy:other" in msg and "shotdex reembed" in msg
    # reembed switches the index over without re-rendering
    assert other.reembed() >= 1
    assert Path(other.search("telescope mirror", k=1)[0].source).name == "notes.txt"
    with pytest.raises(ModelMismatch):
        _open(tmp_path).search("telescope")


def test_second_writer_is_refused_at_once(tmp_path, corpus):
    idx = _open(tmp_path)
    with WriterLock(tmp_path / "db"):
        with pytest.raises(IndexLocked, match="being written"):
            idx.add([corpus])
    # released: the next writer gets in
    assert idx.add([corpus / "notes.txt"]).added


def test_contact_sheet_has_one_panel_per_hit(tmp_path, corpus):
    from PIL import Image

    from shotdex.index.show import PANEL_W, contact_sheet

    idx = _open(tmp_path)
    idx.add([corpus])
    hits = idx.search("lighthouse", k=4, tiles=True)
    out = tmp_path / "sheet.png"
    assert contact_sheet(idx, hits, out, query="lighthouse") == len(hits) == 4
    img = Image.open(out)
    assert img.width == 3 * (PANEL_W + 8) + 8  # three columns, two rows for four panels
    assert img.height > 2 * 300


def test_fusion_is_monotone_and_handles_one_sided_lists():
    vec = {"a": 0.9, "b": 0.5, "c": 0.1}
    text = {"b": 12.0, "c": 3.0}
    both = fuse(vec, text, Fusion(text_weight=0.5))
    assert max(both, key=both.get) == "b"
    assert fuse(vec, {}, Fusion()) == vec and fuse({}, text, Fusion()) == text
    only_text = fuse(vec, text, Fusion(text_weight=1.0))
    assert sorted(only_text, key=only_text.get, reverse=True)[:2] == ["b", "c"]
