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
from shotdex.embed.reader import PLAIN_KINDS, ReaderEmbedder
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
def test_training_pictures_and_weights_rebuild_the_same(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))  # the drawing processes import it by name too
    import train_tagger as tt

    X1, y1 = tt.make_data(5, 1, 1, 1, 2)
    X2, y2 = tt.make_data(5, 1, 1, 1, 2, workers=2)  # classes drawn in two processes: the same pictures
    assert X1.shape[0] >= 2 * 15 + 3 + 2 and np.array_equal(X1, X2) and np.array_equal(y1, y2)
    h1 = tt.build(X1, y1, 5, 1, tmp_path / "a.npz", models=2, workers=2)  # the two models in two processes
    h2 = tt.build(X1, y1, 5, 1, tmp_path / "b.npz", models=2, workers=1)  # one after the other, here
    assert h1 == h2 and (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    t = Tagger(tmp_path / "a.npz")
    assert t.classes == Tagger().classes and len(t.models) == 2
    assert not np.array_equal(t.models[0][1], t.models[1][1])  # model j from seed + j: other weights


def _member(path: Path, j: int, out: Path) -> Tagger:
    """Model j of an ensemble file, alone in a file of its own."""
    prefix = f"m{j}_" if j else ""
    data = dict(np.load(path))
    own = {k.removeprefix(prefix): v for k, v in data.items()
           if k != "classes" and (k.startswith(prefix) if j else not k.startswith("m"))}
    np.savez(out, **own, classes=data["classes"])
    return Tagger(out)


def test_the_shipped_ensemble_averages_its_models(tmp_path):
    """The probabilities are the mean of the shipped models' (each a whole tagger on its own); the visual
    descriptor is the first model's."""
    from shotdex.embed.tagger import prepare

    t = Tagger()
    assert len(t.models) >= 2
    members = [_member(weights_path(), j, tmp_path / f"m{j}.npz") for j in range(len(t.models))]
    x = prepare(_png(SPECS["line"], 1.0))
    p, v = t.forward(x)
    runs = [m.forward(x) for m in members]
    assert np.allclose(p, np.mean([q for q, _ in runs], axis=0), atol=1e-6) and abs(float(p.sum()) - 1) < 1e-5
    assert np.allclose(v, runs[0][1], atol=1e-6) and not np.allclose(runs[0][0], runs[1][0], atol=1e-4)
    assert all(np.allclose(q, alone[0], atol=1e-6) for (q, _), alone in zip(t.runs(x), runs))  # each model, alone


def test_numpy_inference_is_the_network_torch_trained():
    """The shipped arrays run through torch's own layers (3x3 convolutions, ReLU, 2x2 max pooling, mean, linear)
    give what tagger.py's numpy code gives: the window matrix and the pooling are the trained network's."""
    import torch
    from shotdex.embed.tagger import prepare

    t = Tagger()
    x = prepare(_png(SPECS["bars"], 1.0))
    data = np.load(weights_path())
    for j, (probs, last) in enumerate(t.runs(x)):
        prefix = f"m{j}_" if j else ""
        y = torch.from_numpy(x).permute(2, 0, 1)[None]
        n = next(i for i in range(99) if f"{prefix}c{i}_w" not in data)  # conv layers in the file
        for i in range(n):
            y = torch.relu(torch.nn.functional.conv2d(y, torch.from_numpy(data[f"{prefix}c{i}_w"]),
                                                      torch.from_numpy(data[f"{prefix}c{i}_b"]), padding=1))
            if i < n - 1:
                y = torch.nn.functional.max_pool2d(y, 2)
        assert np.allclose(last, y[0].permute(1, 2, 0).numpy(), atol=1e-4)
        logits = y.mean(dim=(2, 3)) @ torch.from_numpy(data[f"{prefix}fc_w"]).T + torch.from_numpy(data[f"{prefix}fc_b"])
        assert np.allclose(probs, torch.softmax(logits, 1)[0].numpy(), atol=1e-5)


def test_margins_around_a_chart_do_not_change_what_the_tagger_sees():
    from PIL import Image

    chart = _png(SPECS["line"], 1.0)
    wide = Image.new("RGB", (chart.width + 260, chart.height + 40), "white")
    wide.paste(chart, (10, 30))  # a chart drawn small at the top left of a wide tile, as the renderer does
    a, b = tagger_mod.prepare(chart), tagger_mod.prepare(wide)
    assert np.abs(a - b).max() < 1e-6
    t = Tagger()
    fa, fb = t.figure(chart), t.figure(wide)
    assert fa.tag == fb.tag and float(fa.visual @ fb.visual) > 0.999
    # the margin is whatever colour the corner has: on grey, the grey goes and the chart's white stays
    grey = Image.new("RGB", wide.size, (230, 230, 230))
    grey.paste(chart, (40, 5))
    assert tagger_mod.trim(grey).size == chart.size and tagger_mod.trim(chart).size < chart.size


def test_tiles_laid_out_from_text_are_never_charts():
    """A tile of a CSV or a text file holds no chart: it gets the best non-chart class, and no words."""
    pie = _png(SPECS["pie"], 1.0)
    t = Tagger()
    assert t.figure(pie).tag in ("pie", "donut")
    assert t.figure(pie, charts=False).tag in ("table", "text", "code", "photo", "")
    emb = ReaderEmbedder()
    try:
        assert emb.read_tile(pie, "image").figure.tag in ("pie", "donut")
        for kind in ("table", "text"):
            fig = emb.read_tile(pie, kind).figure
            assert fig.tag not in WORDS and fig.words == ""
    finally:
        emb.close()


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
            assert r["text"] == plain.read_tile(decode_image(r["image"]), r["kind"]).text
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


def test_a_transparent_picture_is_searched_on_white(index, tmp_path):
    """A PNG whose background is transparent reads as it would on white (as indexed pictures are), not
    on black."""
    from PIL import Image

    rgba = _png(SPECS["bars"], 1.5).convert("RGBA")
    a = np.asarray(rgba).copy()
    clear = (a[..., :3] > 250).all(axis=2)
    a[..., 3] = np.where(clear, 0, 255)
    a[clear, :3] = 0  # what is under a transparent pixel is often black
    query = tmp_path / "bars-transparent.png"
    Image.fromarray(a).save(query)
    hits = index.search(image=str(query), k=3)
    assert hits[0].source.endswith("bars.vl.json") and hits[0].visual_score > 0.9


def test_visual_weight_sets_how_much_looks_count(index, tmp_path):
    from dataclasses import replace

    from shotdex.index.search import FUSION

    query = tmp_path / "dots.png"
    _png(SPECS["dots"], 1.5).save(query)
    assert FUSION.for_picture("pie").visual_weight == FUSION.for_picture("").visual_weight == FUSION.visual_weight
    assert FUSION.for_picture("table").visual_weight == FUSION.for_picture("text").visual_weight == FUSION.visual_weight_text
    looks = index.search(image=str(query), k=6, fusion=replace(FUSION, visual_weight=1.0, visual_weight_text=1.0))
    seen = [h.visual_score if h.visual_score is not None else -1.0 for h in looks]
    assert seen == sorted(seen, reverse=True) and looks[0].source.endswith("dots.vl.json")
    reading = index.search(image=str(query), k=6, fusion=replace(FUSION, visual_weight=0.0, visual_weight_text=0.0))
    assert [(h.source, h.score) for h in reading] != [(h.source, h.score) for h in looks]


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


def test_reembed_after_another_tagger_keeps_the_reading(index, tmp_path, monkeypatch):
    """A new tagger asks for reembed; that re-tags and re-embeds each tile from its stored reading,
    without reading it again: the text minus the tag words is the same, the tags are the new tagger's."""
    import shutil

    db = tmp_path / "db"
    shutil.copytree(index.store.folder, db)
    before = {r["id"]: r for r in shotdex.open(db).store.tiles.to_arrow().to_pylist()}
    data = dict(np.load(weights_path()))
    for key in [k for k in data if k.endswith("fc_b")]:  # every model of the ensemble says "line"
        data[key] = data[key] + np.where(np.array(data["classes"]) == "line", 10.0, 0.0).astype(np.float32)
    other = tmp_path / "other.npz"
    with open(other, "wb") as f:
        np.savez_compressed(f, **data)
    new_tagger = Tagger(other)
    monkeypatch.setitem(tagger_mod._SHARED, "default", new_tagger)

    def no_reading(*a, **k):
        raise AssertionError("reembed read a tile again")

    monkeypatch.setattr(ReaderEmbedder, "embed_tiles", no_reading)
    idx = shotdex.open(db)
    assert idx.reembed() == len(before)
    after = {r["id"]: r for r in idx.store.tiles.to_arrow().to_pylist()}
    assert set(after) == set(before)
    changed = 0
    for tid, r in after.items():
        old = before[tid]
        fig = new_tagger.figure(decode_image(r["image"]), charts=r["kind"] not in PLAIN_KINDS)
        assert r["tag"] == fig.tag and abs(r["tag_conf"] - fig.conf) < 1e-6
        strip = lambda text, tag: text.removesuffix(WORDS.get(tag, "")).rstrip("\n") if WORDS.get(tag) else text  # noqa: E731
        assert strip(r["text"], r["tag"]) == strip(old["text"], old["tag"]) and r["words"] == old["words"]
        changed += r["tag"] != old["tag"]
    assert changed >= 1  # the other tagger says "line" where the shipped one did not
    line = [r for r in after.values() if r["tag"] == "line"]
    assert line and all(r["text"].endswith("line chart") for r in line)
    idx.close()


def test_a_stopped_rebuild_takes_its_worker_processes_with_it(tmp_path):
    """The processes that draw pictures and train models die with the rebuild that started them, even busy
    (an idle one would end anyway when its queue closes): killing a rebuild frees the cores."""
    import signal
    import time

    code = ("import os,sys,time;sys.path.insert(0,sys.argv[1]);import train_tagger as tt;p=tt.worker_pool(1);"
            "print(p.submit(os.getpid).result(),flush=True);p.submit(time.sleep,120);time.sleep(120)")
    parent = subprocess.Popen([sys.executable, "-c", code, str(ROOT / "scripts")], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        worker = int(parent.stdout.readline())
        os.kill(worker, 0)  # alive, and busy sleeping
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(worker, signal.SIGKILL)
            pytest.fail("the worker outlived the rebuild that started it")
    finally:
        parent.kill()
        parent.stdout.close()
