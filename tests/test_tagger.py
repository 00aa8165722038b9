"""The figure tagger: its shipped weights, its determinism, the words it adds (to charts only), the visual
vector that lets a picture find the spec that draws it, and the index remembering which tagger it used.
Everything real: the shipped weights, Tesseract, all-MiniLM-L6-v2, Chromium, LanceDB on disk."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import shotdex
from shotdex.embed import tagger as tagger_mod
from shotdex.embed.reader import ReaderEmbedder
from shotdex.embed.tagger import WORDS, Tagger, weights_path
from shotdex.errors import ModelMismatch
from shotdex.index.pipeline import decode_image

ROOT = Path(__file__).resolve().parents[1]

SPECS = {  # four charts with the same axis titles: only their looks tell them apart
    "bars": {"mark": "bar", "data": {"values": [{"a": str(i), "b": v} for i, v in enumerate([3, 7, 2, 9, 4, 6])]},
             "encoding": {"x": {"field": "a", "type": "nominal", "title": "key"}, "y": {"field": "b", "type": "quantitative", "title": "value"}}},
    "pie": {"mark": "arc", "data": {"values": [{"a": str(i), "b": v} for i, v in enumerate([3, 7, 2, 9])]},
            "encoding": {"theta": {"field": "b", "type": "quantitative"}, "color": {"field": "a", "type": "nominal", "legend": None}}},
    "line": {"mark": "line", "data": {"values": [{"a": i, "b": (i * 37 % 11) + i} for i in range(30)]},
             "encoding": {"x": {"field": "a", "type": "quantitative", "title": "key"}, "y": {"field": "b", "type": "quantitative", "title": "value"}}},
    "dots": {"mark": "point", "data": {"values": [{"a": (i * 7919) % 100, "b": (i * 104729) % 97} for i in range(80)]},
             "encoding": {"x": {"field": "a", "type": "quantitative", "title": "key"}, "y": {"field": "b", "type": "quantitative", "title": "value"}}},
}


def _png(spec: dict, scale: float):
    import vl_convert as vlc
    from PIL import Image

    return Image.open(io.BytesIO(vlc.vegalite_to_png(spec, scale=scale))).convert("RGB")


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("charts")
    for name, spec in SPECS.items():
        (folder / f"{name}.vl.json").write_text(json.dumps(spec))
    (folder / "scores.csv").write_text("team,points\n" + "\n".join(f"Team {c},{i * 3}" for i, c in enumerate("ABCDEFG")))
    (folder / "notes.txt").write_text("Meeting notes. The budget review moves to Thursday; bring the quarterly figures.")
    return folder


@pytest.fixture(scope="module")
def index(charts, tmp_path_factory):
    idx = shotdex.open(tmp_path_factory.mktemp("db") / "db")
    idx.add([charts])
    yield idx
    idx.close()


def test_shipped_weights_hash_size_and_fingerprint():
    path = weights_path()
    assert path.stat().st_size <= 5_000_000
    t = Tagger()
    assert t.hash == hashlib.sha256(path.read_bytes()).hexdigest()[:16] == tagger_mod.WEIGHTS_HASH
    assert ReaderEmbedder().fingerprint.split("|")[-1] == f"tagger:{t.hash}"
    assert "tagger:" not in ReaderEmbedder(tagger=False).fingerprint


def test_tagger_is_deterministic_across_calls_and_processes():
    img = _png(SPECS["pie"], 1.0)
    t = Tagger()
    a, b = t.figure(img), t.figure(img)
    assert a.tag == b.tag and a.conf == b.conf and a.visual.tobytes() == b.visual.tobytes()
    code = ("import io,hashlib,vl_convert as v,json,sys;from PIL import Image;from shotdex.embed.tagger import Tagger;"
            "im=Image.open(io.BytesIO(v.vegalite_to_png(json.loads(sys.argv[1]),scale=1.0))).convert('RGB');"
            "f=Tagger().figure(im);print(json.dumps([f.tag,f.conf,hashlib.sha256(f.visual.tobytes()).hexdigest()]))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(SPECS["pie"])], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert json.loads(out) == [a.tag, a.conf, hashlib.sha256(a.visual.tobytes()).hexdigest()]


@pytest.mark.slow
def test_training_pictures_and_weights_rebuild_the_same(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import train_tagger as tt
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    X1, y1 = tt.make_data(5, 1, 1, 1, 2)
    X2, y2 = tt.make_data(5, 1, 1, 1, 2)
    assert X1.shape[0] >= 2 * 15 + 3 + 2 and np.array_equal(X1, X2) and np.array_equal(y1, y2)
    tt.train(X1, y1, 5, 1, tmp_path / "a.npz")
    tt.train(X1, y1, 5, 1, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert Tagger(tmp_path / "a.npz").classes == Tagger().classes


def test_chart_tags_become_words_and_non_charts_read_as_before(index, charts):
    rows = {Path(r["source"]).name: r for r in index.store.tiles.to_arrow().to_pylist()}
    pie = rows["pie.vl.json"]
    assert pie["tag"] in ("pie", "donut") and pie["tag_conf"] >= tagger_mod.CONFIDENT
    assert pie["text"].endswith(WORDS[pie["tag"]])
    assert rows["bars.vl.json"]["tag"].startswith("bar") and "bar chart" in rows["bars.vl.json"]["text"]
    plain = ReaderEmbedder(tagger=False)
    try:
        for name in ("scores.csv", "notes.txt"):
            r = rows[name]
            assert r["tag"] in ("table", "text", "code", "photo", "")
            assert r["text"] == plain.read_tile(decode_image(r["image"])).text
    finally:
        plain.close()
    # the words are searchable: a text query for the type finds the chart
    assert index.search("pie chart", k=1)[0].source.endswith("pie.vl.json")


def test_search_json_shows_the_tag(index):
    p = subprocess.run([sys.executable, "-m", "shotdex.cli", "search", "pie chart", "--db", str(index.store.folder), "--json", "-k", "1"],
                       capture_output=True, text=True, cwd=ROOT, check=True, env={**os.environ, "LANCEDB_LOG": "error"})
    hit = json.loads(p.stdout.splitlines()[0])
    assert hit["tag"] in ("pie", "donut") and hit["tag_conf"] >= tagger_mod.CONFIDENT
    assert hit["visual_score"] is None  # text queries use the reading path only


def test_image_query_finds_the_chart_by_its_picture(index, charts, tmp_path):
    for name, spec in SPECS.items():
        query = tmp_path / f"{name}.png"
        _png(spec, 1.5).save(query)  # another scale, no caption band: other pixels, same chart
        hits = index.search(image=str(query), k=3)
        assert hits[0].source.endswith(f"{name}.vl.json"), (name, [h.source for h in hits])
        assert hits[0].visual_score is not None


def _old_index(charts, folder: Path) -> Path:
    """An index as shotdex wrote it before the tagger: no tagger option, no visual_dim, no tag columns."""
    idx = shotdex.open(folder, settings=shotdex.Settings(tagger=False))
    idx.add([charts / "notes.txt", charts / "pie.vl.json"])
    idx.close()
    meta = json.loads((folder / "shotdex.json").read_text())
    meta["options"].pop("tagger")
    meta.pop("visual_dim")
    (folder / "shotdex.json").write_text(json.dumps(meta))
    return folder


def test_pre_tagger_index_opens_searches_and_reembed_adds_tags(charts, tmp_path):
    db = _old_index(charts, tmp_path / "old")
    idx = shotdex.open(db)
    hits = idx.search("budget review", k=1)
    assert hits[0].source.endswith("notes.txt") and hits[0].tag == "" and hits[0].tag_conf is None
    assert idx.stats().figures is None
    assert "tag" not in idx.store.tiles.schema.names
    p = subprocess.run([sys.executable, "-m", "shotdex.cli", "status", "--db", str(db)], capture_output=True, text=True,
                       cwd=ROOT, check=True)
    assert "`shotdex reembed` adds them" in p.stdout
    assert idx.reembed() == 2
    figures = idx.stats().figures
    assert figures is not None and (figures.get("pie") or figures.get("donut"))
    idx.close()
    assert shotdex.open(db).search("pie chart", k=1)[0].tag in ("pie", "donut")


def test_index_built_with_another_tagger_asks_for_reembed(charts, tmp_path, monkeypatch):
    idx = shotdex.open(tmp_path / "db")
    idx.add([charts / "notes.txt"])
    idx.close()
    data = dict(np.load(weights_path()))
    data["fc_b"] = data["fc_b"] + 0.5  # a retrained tagger: other weights, other hash
    other = tmp_path / "other.npz"
    with open(other, "wb") as f:
        np.savez_compressed(f, **data)
    monkeypatch.setitem(tagger_mod._SHARED, "default", Tagger(other))
    with pytest.raises(ModelMismatch) as err:
        shotdex.open(tmp_path / "db").search("budget", k=1)
    msg = str(err.value)
    assert "tagger:" in msg and "shotdex reembed" in msg and "\n" not in msg
