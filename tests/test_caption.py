"""The caption band: each source type's own title and description are drawn under the chart, legibly
(Tesseract reads them back), the same way every time, and not at all with caption=False."""

from __future__ import annotations

import json

import pytest
from PIL import Image, PngImagePlugin

from shotdex.embed.ocr import OcrPool
from shotdex.embed.tagger import CAPTION_RULE as TAGGER_RULE, strip_caption
from shotdex.render import Renderer, RenderSettings
from shotdex.render.caption import CAPTION_RULE

TITLE, DESC = "Walrus Census", "Counts of walruses seen on the northern ice shelf"


def _bars(size=(400, 300)) -> Image.Image:
    img = Image.new("RGB", size, "white")
    for x in range(50, 350, 60):
        img.paste((70, 130, 180), (x, 100, x + 30, 290))
    return img


def _sources(folder):
    """One source of each type, each naming TITLE and DESC in its own way."""
    (folder / "v.vl.json").write_text(json.dumps({
        "title": TITLE, "description": DESC, "data": {"values": [{"a": "A", "b": 3}, {"a": "B", "b": 5}]},
        "mark": "bar", "encoding": {"x": {"field": "a", "type": "nominal"}, "y": {"field": "b", "type": "quantitative"}}}))
    (folder / "d.csv").write_text("m,v\nJan,3\nFeb,5\n")
    (folder / "c.chart.yaml").write_text(f"title: {TITLE}\ndescription: {DESC}\ndata: d.csv\nmark: bar\nx: m\ny: v\n")
    (folder / "s.svg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200"><title>{TITLE}</title>'
                                  f'<desc>{DESC}</desc><rect x="10" y="50" width="50" height="140" fill="teal"/></svg>')
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Title", TITLE)
    meta.add_itxt("Description", DESC)  # iTXt, as tools that write UTF-8 do
    _bars().save(folder / "p.png", pnginfo=meta)
    exif = Image.Exif()
    exif[0x010E] = DESC  # ImageDescription
    exif[0x9C9B] = TITLE.encode("utf-16-le") + b"\0\0"  # XPTitle
    _bars().save(folder / "j.jpg", exif=exif.tobytes())
    xmp = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           f'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">'
           f'{TITLE}</rdf:li></rdf:Alt></dc:title><dc:description><rdf:Alt><rdf:li xml:lang="x-default">{DESC}</rdf:li>'
           f'</rdf:Alt></dc:description></rdf:Description></rdf:RDF></x:xmpmeta>')
    _bars().save(folder / "x.jpg", xmp=xmp.encode())
    return ["v.vl.json", "c.chart.yaml", "s.svg", "p.png", "j.jpg", "x.jpg"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    f = tmp_path_factory.mktemp("captions")
    return f, _sources(f)


@pytest.fixture(scope="module")
def ocr():
    pool = OcrPool(1, "auto")
    yield pool
    pool.close()


def test_rule_colour_is_the_one_the_tagger_looks_for():
    assert CAPTION_RULE == TAGGER_RULE


def test_each_source_type_shows_its_title_and_description(folder, ocr):
    f, names = folder
    with Renderer(RenderSettings(render_timeout_s=300)) as r:  # a busy machine must not fail the spec reader
        for name in names:
            res = r.render(str(f / name))
            assert res.ok, (name, res.error)
            tile = res.tiles[-1]
            read = " ".join(ocr.read_one(tile.image).text.split()).lower()
            assert "walrus census" in read, (name, read)
            assert "northern ice shelf" in read, (name, read)
            # the band lies below the picture: the tagger's view stops at its rule
            assert strip_caption(tile.image).height < tile.image.height, name


def test_band_is_deterministic_and_switchable(folder, ocr):
    f, _ = folder
    with Renderer() as r:
        a = r.render(str(f / "p.png")).tiles[0]
        b = r.render(str(f / "p.png")).tiles[0]
    assert a.image.tobytes() == b.image.tobytes()
    off = RenderSettings(caption=False)
    assert off.hash != RenderSettings().hash  # the band is part of what the settings hash covers
    with Renderer(off) as r:
        plain = r.render(str(f / "p.png")).tiles[0]
        svg = r.render(str(f / "s.svg")).tiles[0]
    assert plain.image.size == (400, 300) and plain.settings_hash == off.hash
    assert "walrus" not in ocr.read_one(plain.image).text.lower()
    assert "walrus" not in ocr.read_one(svg.image).text.lower()


def test_no_title_no_name_no_band(tmp_path):
    """A picture whose metadata and file name say nothing (numbers, short fragments) has no band."""
    for name in ("IMG_0042.png", "7.png", "DSC_01.jpg"):
        _bars().save(tmp_path / name)
    with Renderer() as r:
        for name in ("IMG_0042.png", "7.png", "DSC_01.jpg"):
            tile = r.render(str(tmp_path / name)).tiles[0]
            assert tile.image.size == (400, 300), name


def test_a_source_without_a_title_is_captioned_with_its_file_name(tmp_path, ocr):
    """Where the source names no title, the band shows its file name as words (numbers dropped); a
    description the source gives stays under it, and a title it gives wins over the name."""
    _bars().save(tmp_path / "walrus_census_northShelf_2024.png")
    (tmp_path / "seal-counts.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200">'
                                               '<rect x="10" y="50" width="50" height="140" fill="teal"/></svg>')
    (tmp_path / "puffin_colonies.vl.json").write_text(json.dumps({
        "description": DESC, "data": {"values": [{"a": "A", "b": 3}]}, "mark": "bar",
        "encoding": {"x": {"field": "a", "type": "nominal"}, "y": {"field": "b", "type": "quantitative"}}}))
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Title", TITLE)
    _bars().save(tmp_path / "gannet_nests.png", pnginfo=meta)
    want = {"walrus_census_northShelf_2024.png": "walrus census north shelf", "seal-counts.svg": "seal counts",
            "puffin_colonies.vl.json": "puffin colonies", "gannet_nests.png": "walrus census"}
    with Renderer(RenderSettings(render_timeout_s=300)) as r:
        for name, words in want.items():
            tile = r.render(str(tmp_path / name)).tiles[-1]
            read = " ".join(ocr.read_one(tile.image).text.split()).lower()
            assert words in read and "2024" not in read, (name, read)
            assert strip_caption(tile.image).height < tile.image.height, name
    assert "gannet" not in read and "northern ice shelf" not in read
    unnamed = RenderSettings(caption_names=False)  # SHOTDEX_CAPTION_NAMES=0: the band as the source gives it
    assert unnamed.hash != RenderSettings().hash
    for off in (RenderSettings(caption=False), unnamed):
        with Renderer(off) as r:
            assert r.render(str(tmp_path / "walrus_census_northShelf_2024.png")).tiles[0].image.size == (400, 300)
    with Renderer(unnamed) as r:
        assert "walrus census" in ocr.read_one(r.render(str(tmp_path / "gannet_nests.png")).tiles[0].image).text.lower()


def test_caption_setting_from_env():
    from shotdex import Settings

    assert Settings.from_env({"SHOTDEX_CAPTION": "0"}).caption is False
    assert RenderSettings.from_settings(Settings.from_env({})).caption is True
