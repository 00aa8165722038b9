"""shotdex's own reader (--reader-engine shotdex): the line finder and the recogniser on tiles the real
renderer draws (exact words expected), the hand-over to Tesseract, determinism (reading and training),
the weights' hash in the fingerprint, the index remembering its engine, and lazy loading.
Everything real: the shipped weights, Chromium, Tesseract, all-MiniLM-L6-v2, LanceDB on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import shotdex
from shotdex.embed import own_reader
from shotdex.embed.glyphs import Recogniser, weights_hash, weights_path
from shotdex.embed.lines import find_segments, gray_array, ink_mask
from shotdex.embed.ocr import OcrPool
from shotdex.embed.reader import ReaderEmbedder
from shotdex.errors import SettingsError
from shotdex.render import RenderSettings
from shotdex.render.words import render_with_words

ROOT = Path(__file__).resolve().parents[1]

# words the training text (made-up syllables and a short list of common English words, see
# scripts/train_reader.py) holds few of: only "the", "in", "on", "at", "of" and "about"
NOTES = """# Harbour inspection notes

The inspector checked ssl.CERT_NONE in config_loader.py on 2024-04-02 at 09:30.

- Replace the rusted bollards on pier 7
- Order 250 litres of marine paint

Total cost: 18,990 NOK (about 1,620 EUR).
"""
TABLE = "city,population,founded\nOslo,709037,1040\nBergen,291940,1070\nTromsø,78745,1794\n"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    (folder / "notes.md").write_text(NOTES)
    (folder / "cities.csv").write_text(TABLE)
    got = render_with_words([folder / "notes.md", folder / "cities.csv"], RenderSettings(max_tiles=2))
    assert len(got) == 2
    return folder, got


@pytest.fixture(scope="module")
def pools():
    own, tess = OcrPool(1, "auto", "shotdex"), OcrPool(1, "auto", "tesseract")
    yield own, tess
    own.close()
    tess.close()


def test_line_finder_puts_every_word_in_exactly_one_segment(rendered):
    _, got = rendered
    for tile, words in got:
        segs = find_segments(ink_mask(gray_array(tile.image)))
        assert segs
        for text, x, y, w, h in words:
            cx, cy = x + w / 2, y + h / 2
            inside = [s for s in segs if s.x - 3 <= cx <= s.x + s.w + 3 and s.y - 3 <= cy <= s.y + s.h + 3]
            assert len(inside) == 1, (text, inside)
        # and no segment is empty of words (no rule, border or stub taken for text)
        for s in segs:
            assert any(s.x - 3 <= x + w / 2 <= s.x + s.w + 3 and s.y - 3 <= y + h / 2 <= s.y + s.h + 3
                       for _, x, y, w, h in words), s


def test_table_rows_read_row_by_row(rendered, pools):
    _, got = rendered
    own, _ = pools
    tile = got[1][0]
    reading = own.read_one(tile.image, tile.kind)
    lines = reading.text.splitlines()
    rows = [i for i, line in enumerate(lines) for want in (["Oslo", "709037", "1040"], ["Bergen", "291940", "1070"])
            if line.split() == want]
    assert len(rows) == 2 and rows[0] < rows[1], lines
    # the third row comes next, its numbers in order (how well names read is measured by
    # benchmarks/reader.py, not asserted here)
    assert lines[rows[1] + 1].split()[-2:] == ["78745", "1794"], lines


def test_recogniser_reads_the_rendered_words_exactly(rendered, pools):
    _, got = rendered
    own, _ = pools
    tile = got[0][0]
    reading = own.read_one(tile.image, tile.kind)
    read = [w.text for w in reading.words]
    for word in ["Harbour", "inspection", "ssl.CERT_NONE", "config_loader.py", "2024-04-02", "09:30.", "Replace",
                 "bollards", "250", "litres", "18,990", "(about", "1,620", "EUR)."]:
        assert word in read, (word, read)
    assert "•" not in reading.text  # a list bullet is not a word
    # every word box lies on the tile and around the word's place in the page
    checked = 0
    for w in reading.words:
        same = [(abs((w.x + w.w / 2) - (x + ww / 2)) + abs((w.y + w.h / 2) - (y + hh / 2)), x, y, ww, hh)
                for t, x, y, ww, hh in got[0][1] if t == w.text]
        if same:
            _, x, y, ww, hh = min(same)
            assert abs((w.x + w.w / 2) - (x + ww / 2)) < 0.6 * ww + 4, (w, x, ww)
            assert w.y <= y + hh / 2 <= w.y + w.h
            checked += 1
    assert checked >= 30


def test_word_boxes_are_the_letters_boxes(rendered, pools):
    # layout.py sizes a word from its box: a box as tall as its line would make "on" (no ascenders)
    # look larger than "inspector" in the same line; letter boxes give both one em size
    from shotdex.index.layout import em_size

    _, got = rendered
    own, tess = pools
    tile = got[0][0]
    words = {w.text: w for w in own.read_one(tile.image, tile.kind).words}
    short, tall = words["on"], words["bollards"]  # "... bollards on pier 7": the last "on"
    assert abs(short.y + short.h - tall.y - tall.h) <= 1 and short.h < 0.8 * tall.h, (short, tall)
    assert abs(em_size("on", short.h) / em_size(tall.text, tall.h) - 1) < 0.2
    # and within a pixel or two of Tesseract's own boxes for the same words
    theirs = {w.text: w for w in tess.read_one(tile.image).words}
    near = [abs(w.h - theirs[t].h) <= 2 and abs(w.x - theirs[t].x) <= 2 for t, w in words.items() if t in theirs]
    assert len(near) >= 20 and sum(near) >= 0.9 * len(near), (sum(near), len(near))


def test_only_unsure_words_go_to_tesseract(rendered, monkeypatch):
    # the recogniser is made unsure of one word's letters (and of nothing else): that word alone is read again by
    # Tesseract (with its sure neighbours for context); the rest of its line stays as read
    _, got = rendered
    tile = got[0][0]
    pool = OcrPool(1, "auto", "shotdex")
    engine = pool._engine
    real = engine.recogniser.read

    def unsure_of_inspector(pictures):
        out = []
        for text, spans in real(pictures):
            k = text.find("inspector")
            spans = [(a, b, 0.1 if 0 <= k <= n < k + len("inspector") else 1.0) for n, (a, b, _) in enumerate(spans)]
            out.append((text, spans))
        return out

    monkeypatch.setattr(engine.recogniser, "read", unsure_of_inspector)
    try:
        sure = OcrPool(1, "auto", "shotdex")
        expected = [w.text for w in sure.read_one(tile.image, tile.kind).words]
        sure.close()
        reading = pool.read_one(tile.image, tile.kind)
        assert pool.counts.segments_tesseract == 1 and pool.counts.words_tesseract == 1
        assert [w.text for w in reading.words] == expected  # Tesseract reads "inspector" too
        line = next(ln for ln in reading.text.splitlines() if "inspector" in ln)
        assert line.startswith("The inspector checked ssl.CERT_NONE")  # the sure words kept, in order
    finally:
        pool.close()


def test_reading_is_deterministic(rendered):
    _, got = rendered
    tile = got[0][0]
    a = OcrPool(1, "auto", "shotdex")
    b = OcrPool(1, "auto", "shotdex")
    try:
        assert a.read_one(tile.image, tile.kind) == b.read_one(tile.image, tile.kind)
    finally:
        a.close()
        b.close()


def test_other_kinds_go_to_tesseract_whole(rendered, pools):
    _, got = rendered
    own, tess = pools
    tile = got[0][0]
    before = own.counts.tiles_tesseract
    assert own.read_one(tile.image, "chart") == tess.read_one(tile.image)
    assert own.counts.tiles_tesseract == before + 1


def test_wholly_unsure_segments_go_to_tesseract_as_lines(rendered, monkeypatch):
    _, got = rendered
    tile = got[0][0]
    from shotdex.embed.ocr import LINE_PSM, _ApiEngine, choose_engine, tessdata_dir

    # every segment unsure, but too few to send the tile: each is read by Tesseract as one line
    monkeypatch.setattr(own_reader, "LINE_CONF", 1.01)
    monkeypatch.setattr(own_reader, "TILE_FALLBACK", 1.0)
    pool = OcrPool(1, "auto", "shotdex")
    try:
        reading = pool.read_one(tile.image, tile.kind)
        n = pool.counts.segments
        assert n > 0 and pool.counts.segments_tesseract == n
        assert "Harbour" in reading.text and "inspection" in reading.text
        if choose_engine() == "api":
            line = _ApiEngine(tessdata_dir(), LINE_PSM)
            seg = find_segments(ink_mask(gray_array(tile.image)))[1]
            m = own_reader.LINE_MARGIN
            crop = tile.image.crop((seg.x - m, seg.y - m, seg.x + seg.w + m, seg.y + seg.h + m))
            assert " ".join(w.text for w in line.read(crop).words) in reading.text
            line.close()
    finally:
        pool.close()
    # most segments unsure: the whole tile goes to Tesseract
    monkeypatch.setattr(own_reader, "TILE_FALLBACK", 0.5)
    pool, tess = OcrPool(1, "auto", "shotdex"), OcrPool(1, "auto", "tesseract")
    try:
        assert pool.read_one(tile.image, tile.kind) == tess.read_one(tile.image)
        assert pool.counts.tiles_tesseract == 1
    finally:
        pool.close()
        tess.close()


def test_shipped_weights_are_small_and_in_the_fingerprint():
    path = weights_path()
    assert path.stat().st_size <= 10 * 1024 * 1024
    digest = weights_hash()
    own = ReaderEmbedder(reader_engine="shotdex", tagger=False)
    tess = ReaderEmbedder(reader_engine="tesseract", tagger=False)
    assert f"shotdex-glyphs:{digest}" in own.fingerprint
    assert "shotdex-glyphs" not in tess.fingerprint
    assert Recogniser().hash == digest
    assert own.options["reader_engine"] == "shotdex"
    assert ReaderEmbedder(reader_engine="auto").reader_engine == "shotdex"  # the default since its targets hold
    with pytest.raises(SettingsError):
        shotdex.Settings(reader_engine="fast")


def test_index_remembers_its_engine(rendered, tmp_path):
    folder, _ = rendered
    db = tmp_path / "db"
    settings = shotdex.Settings.from_env(db=db, reader_engine="shotdex")
    with shotdex.open(settings=settings) as idx:
        report = idx.add([folder / "notes.md"])
        assert report.ok
        assert idx.store.meta.options["reader_engine"] == "shotdex"
        hits = idx.search("harbour inspection bollards", k=1)
        assert hits and hits[0].source.endswith("notes.md")
    # a later run without the option reads the same way; one asking for another engine is told how
    with shotdex.open(db=db) as idx:
        assert idx.embedder.reader_engine == "shotdex"
    with shotdex.open(settings=shotdex.Settings.from_env(db=db, reader_engine="tesseract")) as idx:
        with pytest.raises(SettingsError, match="reembed"):
            idx.add([folder / "cities.csv"])
    out = subprocess.run([sys.executable, "-m", "shotdex.cli", "index", str(folder / "cities.csv"), "--db", str(db),
                          "--reader-engine", "tesseract"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode != 0 and "Traceback" not in out.stderr and "reembed" in out.stderr


@pytest.mark.slow
def test_search_loads_neither_torch_nor_the_recogniser(rendered, tmp_path):
    folder, _ = rendered
    db = tmp_path / "db"
    code = (
        "import sys, shotdex\n"
        f"idx = shotdex.open(settings=shotdex.Settings.from_env(db={str(db)!r}, reader_engine='shotdex'))\n"
        "import shotdex.embed.glyphs as g; del sys.modules['shotdex.embed.glyphs']\n"
        f"idx.add([{str(folder / 'notes.md')!r}]); idx.close()\n"
        "for m in [m for m in sys.modules if m.startswith('shotdex.embed.glyphs')]: del sys.modules[m]\n"
        f"idx = shotdex.open(db={str(db)!r}); hits = idx.search('harbour', k=1)\n"
        "print(json.dumps([bool(hits), 'torch' in sys.modules, 'shotdex.embed.glyphs' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, False, False]
    out = subprocess.run([sys.executable, "-c", "import sys, shotdex, shotdex.embed; "
                          "print('torch' in sys.modules, 'shotdex.embed.glyphs' in sys.modules)"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_training_is_deterministic(tmp_path):
    """Two tiny training runs from the same seed give the same weights, byte for byte."""
    code = (
        "import sys; sys.path.insert(0, 'scripts'); import train_reader as T, numpy as np\n"
        f"from pathlib import Path\n"
        f"pics, labels = T.build_data(3, Path({str(tmp_path / 'data.npz')!r}), 7)\n"
        "pics, labels = pics[:48], labels[:48]\n"
        "for i in range(2):\n"
        "    net, curve = T.train(pics, labels, 1, 7, threads=1, log=lambda m: None)\n"
        f"    print(T.export(net, Path({str(tmp_path)!r}) / f'w{{i}}.npz'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    a, b = out.stdout.split()[-2:]
    assert a == b
    w = np.load(tmp_path / "w0.npz")
    assert {"l1.w", "l2.w", "l3.w", "out.w"} <= set(w.files)
