"""Renderer tests on real Chromium: every kind, tiling, determinism, sealing, bad input."""

from __future__ import annotations

import http.server
import os
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest

from shotdex.errors import ChromiumNotFound
from shotdex.render import (
    KIND_BY_SUFFIX,
    Renderer,
    RenderSettings,
    content_hash,
    discover,
    find_chromium,
    kind_of,
    render_query_text,
)
from shotdex.render.text import text_page
from shotdex.render.tiling import page_size, positions

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="module")
def renderer():
    with Renderer() as r:
        yield r


@pytest.fixture(scope="module")
def js_renderer():
    with Renderer(RenderSettings(js=True, js_timeout_s=2.0, render_timeout_s=5.0)) as r:
        yield r


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        type(self).hits.append(self.path)
        if self.path.startswith("/away"):
            self.send_response(302)
            self.send_header("Location", self.server.away_to)
            self.end_headers()
            return
        body = b"<html><body><h1>Served page</h1><p>from the loopback server</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    _Counter.hits = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    srv.away_to = "http://localhost:9/elsewhere"
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _blank(img, box) -> bool:
    colors = img.crop(box).getcolors(maxcolors=4)
    return colors is not None and len(colors) == 1


# ------------------------------------------------------------------------------ kinds & discovery
def test_kind_of_endings():
    assert kind_of("a/b.vl.json") == "chart"
    assert kind_of("b.chart.yaml") == "chart" and kind_of("b.chart.json") == "chart"
    assert kind_of("data.json") == "table" and kind_of("x.TSV") == "table"
    assert kind_of("page.htm") == "web" and kind_of("https://example.org/x") == "web"
    assert kind_of("notes.md") == "text" and kind_of("main.py") == "text"
    assert kind_of("doc.pdf") == "pdf"
    assert kind_of("movie.mkv") is None and kind_of(".vl.json") != "chart"
    assert set(KIND_BY_SUFFIX.values()) == {"text", "table", "chart", "web", "pdf", "office", "image", "epub", "mail"}


def test_discover_skips_hidden_unknown_and_symlink_loops(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "notes.md").write_text("# hi")
    (tmp_path / "a" / "table.csv").write_text("x,y\n1,2\n")
    (tmp_path / "a" / "movie.mkv").write_bytes(b"\0")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "secret.md").write_text("# no")
    (tmp_path / ".dot.txt").write_text("no")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    start = time.time()
    found = discover([str(tmp_path), "https://example.org/page", str(tmp_path / "missing.md")])
    assert time.time() - start < 5
    assert found.sources == [
        str(tmp_path / "a" / "notes.md"), str(tmp_path / "a" / "table.csv"), "https://example.org/page",
    ]
    reasons = {os.path.basename(p): why for p, why in found.skipped}
    assert reasons["movie.mkv"] == "unknown ending"
    assert reasons[".hidden"] == "hidden" and reasons[".dot.txt"] == "hidden"
    assert reasons["loop"] == "symlink loop"
    assert reasons["missing.md"] == "not found"


def test_content_hash_is_sha256_of_bytes(tmp_path):
    import hashlib

    p = tmp_path / "x.txt"
    p.write_bytes(b"hello")
    assert content_hash(str(p)) == hashlib.sha256(b"hello").hexdigest()


def test_every_sample_renders(renderer):
    found = discover([str(SAMPLES)])
    assert 15 <= len(found.sources) <= 40
    kinds = set()
    for source in found.sources:
        result = renderer.render(source)
        assert result.ok, (source, result.error)
        assert result.tiles, source
        kinds.add(result.kind)
        for tile in result.tiles:
            assert tile.source == source and tile.content_hash == result.content_hash
            assert tile.settings_hash == renderer.settings.hash
            assert tile.image.width <= 1024
    assert kinds == {"text", "table", "chart", "web", "pdf"}


def test_sample_texts_are_read(renderer):
    md = renderer.render(str(SAMPLES / "notes" / "sourdough-baking.md"))
    assert "Notes on sourdough baking" in md.tiles[0].text
    xlsx = renderer.render(str(SAMPLES / "tables" / "bike_shop_inventory.xlsx"))
    assert [t.label for t in xlsx.tiles] == ["Bikes", "Spare parts"]
    assert [t.page for t in xlsx.tiles] == [0, 1]
    assert "Fjellrype 29" in xlsx.tiles[0].text and "Schwalbe" in xlsx.tiles[1].text
    chart = renderer.render(str(SAMPLES / "charts" / "bergen_rainfall_2023.chart.yaml"))
    assert "Monthly rainfall in Bergen 2023" in chart.tiles[0].text
    vl = renderer.render(str(SAMPLES / "charts" / "solar_panel_output.vl.json"))
    assert vl.ok and "Rooftop solar" in vl.tiles[0].text
    assert len(set(vl.tiles[0].image.getdata())) > 10  # a drawn chart, not a blank
    pdf = renderer.render(str(SAMPLES / "docs" / "volcano-field-guide.pdf"))
    assert len(pdf.tiles) == 2 and "Hekla" in pdf.tiles[0].text and pdf.tiles[1].page == 1
    web = renderer.render(str(SAMPLES / "web" / "tea-guide" / "index.html"))
    assert "Sencha" in web.tiles[0].text
    # its local stylesheet loaded: the page background is the CSS's #fbf8f1, not white
    assert web.tiles[0].image.getpixel((5, 5)) == (0xFB, 0xF8, 0xF1)


# ------------------------------------------------------------------------------ tiling
def test_positions_overlap_and_cap():
    starts, capped = positions(30000, 768, 64, 1000)
    assert starts[0] == 0 and starts[-1] == 30000 - 768 and not capped
    assert all(b - a <= 768 - 64 for a, b in zip(starts, starts[1:]))
    assert positions(500, 768, 64, 32) == ([0], False)
    assert positions(200000, 768, 64, 32)[1] is True


@pytest.mark.slow
def test_tiling_30000px_page(renderer, tmp_path):
    rows = "".join(f"<div style='height:100px;font:20px sans-serif'>line {i:03d}</div>" for i in range(300))
    page = tmp_path / "tall.html"
    page.write_text(f"<html><body style='margin:0'>{rows}</body></html>")
    settings = RenderSettings(max_tiles=100)
    with Renderer(settings) as r:
        result = r.render(str(page))
    assert result.ok, result.error
    expected, _ = positions(30000, 768, 64, 100)
    assert len(result.tiles) == len(expected) == 43
    for tile, y in zip(result.tiles, expected):
        assert (tile.x, tile.y, tile.w, tile.h) == (0, y, 1024, 768)
        assert tile.image.size == (1024, 768)
        assert tile.page_height == 30000
    for a, b in zip(result.tiles, result.tiles[1:]):
        assert a.y + a.h - b.y >= 64
    # every line appears whole in at least one tile, and the pixels follow the box
    for i in range(300):
        assert any(t.y <= i * 100 and (i * 100 + 30) <= t.y + t.h and f"line {i:03d}" in t.text
                   for t in result.tiles), i
    last = result.tiles[-1]
    assert "line 299" in last.text and not result.warnings


def test_a_text_taller_than_a_tile_is_shared_out_not_copied_into_every_tile(renderer, tmp_path):
    """One line of 40,000 words (wrapped over some 80 tiles): each tile's text is its share of the line,
    whole words, in order, and together they hold every word; not the whole line in every tile (a few
    megabytes times the tiles ran out of time and memory)."""
    words = [f"w{i}" for i in range(40_000)]
    src = tmp_path / "one-line.txt"
    src.write_text(" ".join(words))
    result = renderer.render(str(src))
    assert result.ok, result.error
    tiles = [t.text.split() for t in result.tiles]
    assert tiles[0][0] == "one-line.txt"  # the page's heading, then the line
    tiles[0] = tiles[0][1:]
    assert len(tiles) > 20 and max(map(len, tiles)) < 3 * len(words) / len(tiles)
    assert tiles[0][:2] == ["w0", "w1"] and tiles[-1][-1] == words[-1]
    for got in tiles:  # whole words, in order
        start = int(got[0][1:])
        assert got == words[start:start + len(got)]
    assert set().union(*tiles) == set(words)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["one-paragraph.md", "one-line.txt"])
def test_a_text_of_millions_of_characters_wraps_to_its_end(tmp_path, name):
    """Chromium wraps at most 2**22 characters of one paragraph or line and puts the rest on one line off
    the right edge; a paragraph or line of millions of characters is cut below that, so the page is as
    wide as a tile and as tall as all its text."""
    if name.endswith(".md"):
        text = "\n".join(f"line {i} of a long note about tides" for i in range(125_000))
    else:
        text = " ".join(f"word{i}" for i in range(550_000))
    assert len(text) > 2**22
    with Renderer() as r:  # the page render_text shows (rendering all its ~2,000 tiles would take minutes)
        r.browser.seal()
        r.browser.page.set_content(text_page(text, name), wait_until="load")
        width, height = page_size(r.browser.page)
    assert width <= 1024 and height * width > len(text) * 7 * 17, (width, height)  # >= 7 px a letter, 17 a line


def test_200000px_page_is_capped_fast(tmp_path):
    page = tmp_path / "huge.html"
    page.write_text("<html><body style='margin:0'><div style='height:200000px;background:linear-gradient(#fff,#999)'>top</div></body></html>")
    start = time.time()
    with Renderer(RenderSettings(max_tiles=32)) as renderer:
        result = renderer.render(str(page))
    assert time.time() - start < 20
    assert result.ok and len(result.tiles) == 32
    assert any("max_tiles=32" in w and str(page) in w for w in result.warnings)
    assert result.tiles[-1].page_height == 200000


def test_max_tiles_cap_warning_names_source(tmp_path):
    text = tmp_path / "long.txt"
    text.write_text("\n".join(f"line number {i}" for i in range(2000)))
    with Renderer(RenderSettings(max_tiles=2)) as r:
        result = r.render(str(text))
    assert result.ok and len(result.tiles) == 2
    assert any(str(text) in w and "max_tiles=2" in w for w in result.warnings)


def test_determinism_same_pixels_twice(renderer):
    for rel in ("notes/kayak-trip-lofoten.md", "tables/nordic_capitals.csv", "web/cardamom-buns.html",
                "charts/bergen_rainfall_2023.chart.yaml", "charts/tea_consumption.vl.json"):
        a = renderer.render(str(SAMPLES / rel))
        b = renderer.render(str(SAMPLES / rel))
        assert [t.image.tobytes() for t in a.tiles] == [t.image.tobytes() for t in b.tiles], rel
        assert [t.provenance() for t in a.tiles] == [t.provenance() for t in b.tiles], rel


# ------------------------------------------------------------------------------ sealing
def test_local_page_makes_zero_requests_to_loopback(renderer, server, tmp_path):
    base = f"http://127.0.0.1:{server.server_port}"
    (tmp_path / "leak.html").write_text(f"""<!DOCTYPE html><html><head>
<link rel=stylesheet href="{base}/style.css"><script src="{base}/x.js"></script>
<meta http-equiv="refresh" content="0; url={base}/refresh">
<link rel=preconnect href="{base}"><link rel=dns-prefetch href="//localhost">
<style>@font-face {{ font-family: Leak; src: url({base}/font.woff2); }}
body {{ font-family: Leak; background-image: url({base}/bg.png); }}</style></head><body>
<p>hello</p><img src="{base}/img.png"><iframe src="{base}/frame"></iframe>
<object data="{base}/obj"></object><video src="{base}/v.mp4" poster="{base}/poster.png"></video>
<script>fetch("{base}/fetch")</script></body></html>""")
    result = renderer.render(str(tmp_path / "leak.html"))
    time.sleep(0.3)
    assert result.ok, result.error
    assert "hello" in result.tiles[0].text
    assert server.RequestHandlerClass.hits == []


def test_js_page_makes_zero_requests_to_loopback(js_renderer, server, tmp_path):
    base = f"http://127.0.0.1:{server.server_port}"
    (tmp_path / "leakjs.html").write_text(f"""<html><body><p>js page</p><script>
fetch("{base}/fetch").catch(() => 0); new Image().src = "{base}/img2.png";
try {{ new WebSocket("ws://127.0.0.1:{server.server_port}/ws"); }} catch (e) {{}}
navigator.sendBeacon && navigator.sendBeacon("{base}/beacon", "x");
</script></body></html>""")
    result = js_renderer.render(str(tmp_path / "leakjs.html"))
    time.sleep(0.3)
    assert result.ok, result.error
    assert server.RequestHandlerClass.hits == []


def test_local_files_outside_folder_stay_empty(renderer, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "ok.html").write_text("<p style='font:30px sans-serif'>allowed sibling</p>")
    frame = "position:absolute;width:480px;height:240px;border:0"
    (site / "page.html").write_text(f"""<html><body style="margin:0;background:#fff">
<p style="margin:0">sealed page</p>
<iframe src="file:///etc/passwd" style="{frame};left:0;top:100px"></iframe>
<iframe src="../../../../../../etc/passwd" style="{frame};left:0;top:400px"></iframe>
<iframe src="ok.html" style="{frame};left:520px;top:400px"></iframe>
<img src="file:///etc/passwd" style="position:absolute;left:520px;top:100px;width:200px;height:200px">
<img src="missing.png" style="position:absolute;left:760px;top:100px;width:200px;height:200px">
</body></html>""")
    result = renderer.render(str(site / "page.html"))
    assert result.ok, result.error
    tile = result.tiles[0]
    assert "root:" not in tile.text and "sealed page" in tile.text
    img = tile.image
    assert _blank(img, (0, 100, 480, 340))  # file:// iframe
    assert _blank(img, (0, 400, 480, 640))  # ../ iframe
    assert not _blank(img, (520, 400, 1000, 640))  # the allowed sibling did load: the check can fail
    # the file:// <img> looks exactly like an <img> whose file does not exist
    assert img.crop((520, 100, 720, 300)).tobytes() == img.crop((760, 100, 960, 300)).tobytes()


def test_explicit_url_renders_and_cross_origin_redirect_refused(renderer, server):
    base = f"http://127.0.0.1:{server.server_port}"
    ok = renderer.render(f"{base}/page.html")
    assert ok.ok, ok.error
    assert "Served page" in ok.tiles[0].text
    bad = renderer.render(f"{base}/away")
    assert not bad.ok and "refused" in bad.error
    assert not any(h.startswith("/elsewhere") for h in server.RequestHandlerClass.hits)


def test_vega_remote_data_is_refused(renderer, tmp_path):
    spec = tmp_path / "remote.vl.json"
    spec.write_text('{"data": {"url": "https://example.org/cars.json"}, "mark": "point"}')
    result = renderer.render(str(spec))
    assert not result.ok and "remote data is not allowed: rendering is sealed" in result.error


# ------------------------------------------------------------------------------ JavaScript
@pytest.mark.slow
def test_infinite_js_loop_does_not_hang(js_renderer, renderer, tmp_path):
    page = tmp_path / "loop.html"
    page.write_text("<html><body><p>spinning</p><script>while (true) {}</script></body></html>")
    later = tmp_path / "later.html"
    # The loop starts right after 'load' (the first timer task or animation frame, whichever comes
    # first): shotdex's next step on the page (freezing animations, measuring, the screenshot) cannot
    # finish, and only the watchdog can end it. (An animation frame alone was not enough: on a busy
    # machine a compositor-only screenshot slipped in before the frame's callbacks ran.)
    later.write_text("<html><body><p>after the loop</p><script>const spin = () => { for (;;) {} };"
                     " addEventListener('load', () => { setTimeout(spin, 0); requestAnimationFrame(spin); })"
                     "</script></body></html>")
    start = time.time()
    result = js_renderer.render(str(page))
    assert not result.ok and "did not finish" in result.error
    after = js_renderer.render(str(later))  # loops only after 'load': the watchdog kills Chromium
    assert not after.ok and "timed out" in after.error
    assert time.time() - start < 25
    fine = js_renderer.render(str(SAMPLES / "web" / "observatory-open-night.html"))
    assert fine.ok and "Solhaug" in fine.tiles[0].text
    # JS off (the default): the loop never runs, the page renders
    assert renderer.render(str(page)).ok


def test_popups_dialogs_downloads(js_renderer, tmp_path):
    page = tmp_path / "annoying.html"
    page.write_text("""<html><body><p>annoying page</p><a id=d href="data:text/plain,x" download="x.txt">dl</a>
<script>alert("hi"); confirm("sure?"); window.open("popup.html"); document.getElementById("d").click();</script>
</body></html>""")
    result = js_renderer.render(str(page))
    assert result.ok, result.error
    assert "annoying page" in result.tiles[0].text
    assert len(js_renderer.browser.page.context.pages) == 1


# ------------------------------------------------------------------------------ tables
@pytest.mark.parametrize("delim", [";", "#", "\t", "|"])
def test_delimiter_sniffing(renderer, tmp_path, delim):
    p = tmp_path / "data.csv"
    p.write_text(delim.join(["city", "country", "mayor"]) + "\n"
                 + delim.join(["Trondheim", "Norway", "Kent Ranum"]) + "\n"
                 + delim.join(["Uppsala", "Sweden", "Erik Pelling"]) + "\n")
    result = renderer.render(str(p))
    assert result.ok, result.error
    text = result.tiles[0].text
    assert "city country mayor" in text and "Trondheim Norway Kent Ranum" in text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1"])
def test_encodings(renderer, tmp_path, encoding):
    p = tmp_path / f"cities-{encoding}.csv"
    p.write_bytes("stad,land\nZürich,Schweiz\nGöteborg,Sverige\n".encode(encoding))
    result = renderer.render(str(p))
    assert result.ok, result.error
    assert "stad land Zürich Schweiz Göteborg Sverige" in result.tiles[0].text
    assert result.tiles[0].text.split()[5] == "stad"  # no BOM glued to the first header
    assert bool(result.warnings) == (encoding == "latin-1")


def test_long_table_repeats_header_and_loses_no_row(renderer, tmp_path):
    p = tmp_path / "long.csv"
    p.write_text("id,animal,legs\n" + "".join(f"r{i},animal{i},{i % 5}\n" for i in range(150)))
    result = renderer.render(str(p))
    assert result.ok and len(result.tiles) >= 4
    seen = []
    for tile in result.tiles:
        assert tile.text.startswith("long.csv rows ") and "id animal legs" in tile.text
        seen += [w for w in tile.text.split() if w.startswith("r") and w[1:].isdigit()]
    assert seen == [f"r{i}" for i in range(150)]  # each row exactly once, in order


def test_wide_table_is_split_into_column_groups(renderer, tmp_path):
    p = tmp_path / "wide.csv"
    header = ["name"] + [f"measurement_{i}" for i in range(60)]
    p.write_text(",".join(header) + "\n" + ",".join(["alpha"] + [str(i * 1000) for i in range(60)]) + "\n")
    result = renderer.render(str(p))
    assert result.ok and len(result.tiles) > 1
    cols = set()
    for tile in result.tiles:
        assert "of 61" in tile.label and tile.text.count("alpha") == 1
        cols |= {w for w in tile.text.split() if w.startswith("measurement_")}
        assert tile.image.size == (1024, 768)
    assert cols == set(header[1:])  # nothing cut silently


@pytest.mark.slow
def test_million_row_csv_is_bounded(tmp_path):
    p = tmp_path / "big.csv"
    with open(p, "w") as f:
        f.write("n,square\n")
        f.writelines(f"{i},{i * i}\n" for i in range(1_000_000))
    start = time.time()
    with Renderer(RenderSettings(max_tiles=32)) as renderer:
        result = renderer.render(str(p))
    assert time.time() - start < 30
    assert result.ok and len(result.tiles) == 32
    assert any("rows left out" in w for w in result.warnings)


def test_json_and_parquet_tables(renderer, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"fjord": ["Sognefjord", "Hardangerfjord"], "length_km": [205, 179]}),
                   tmp_path / "fjords.parquet")
    result = renderer.render(str(tmp_path / "fjords.parquet"))
    assert result.ok and "Sognefjord 205" in result.tiles[0].text
    (tmp_path / "bad.json").write_text('{"not": "records", "x": 1}')
    assert "not a non-empty list of records" in renderer.render(str(tmp_path / "bad.json")).error


# ------------------------------------------------------------------------------ charts & images
def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda tag, data: struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def test_bomb_png_refused_before_decoding(renderer, tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_header_only(100_000, 100_000))
    start = time.time()
    result = renderer.render(str(p))
    assert time.time() - start < 2
    assert not result.ok and "max_image_pixels" in result.error


def test_tall_image_is_tiled_and_svg_rasterised(renderer, tmp_path):
    from PIL import Image

    Image.new("RGB", (800, 2000), (30, 90, 160)).save(tmp_path / "tall.png")
    result = renderer.render(str(tmp_path / "tall.png"))
    assert result.ok and len(result.tiles) == 3 and all(t.h == 768 for t in result.tiles)
    (tmp_path / "bars.svg").write_text(
        "<svg xmlns='http://www.w3.org/2000/svg' width='400' height='300'><rect x='50' y='50' width='100' height='200' fill='#c00'/>"
        "<image href='file:///etc/passwd' width='10' height='10'/><image href='http://127.0.0.1:9/x.png'/></svg>")
    svg = renderer.render(str(tmp_path / "bars.svg"))
    assert svg.ok, svg.error
    assert svg.tiles[0].image.getpixel((100, 150)) == (204, 0, 0)


def test_chart_spec_kinds(renderer, tmp_path):
    (tmp_path / "sales.csv").write_text("quarter,apples,pears\nQ1,10,4\nQ2,14,7\nQ3,9,12\nQ4,20,8\n")
    for mark in ("bar", "line", "scatter", "pie", "area"):
        spec = tmp_path / f"fruit-{mark}.chart.yaml"
        spec.write_text(f"title: Fruit sales by quarter\ndata: sales.csv\nmark: {mark}\nx: quarter\ny: [apples, pears]\n")
        result = renderer.render(str(spec))
        assert result.ok, (mark, result.error)
        assert result.tiles[0].image.size == (1024, 768)
    (tmp_path / "bad.chart.json").write_text('{"data": "../../etc/passwd", "mark": "bar", "x": "a", "y": "b"}')
    assert "outside" in renderer.render(str(tmp_path / "bad.chart.json")).error


# ------------------------------------------------------------------------------ bad input
def test_bad_inputs_each_one_clear_line_the_rest_rendered(renderer, tmp_path):
    import random

    rng = random.Random(7)
    junk = bytes(rng.randrange(256) for _ in range(4096))
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "junk.csv").write_bytes(junk)
    (tmp_path / "junk.md").write_bytes(junk)
    (tmp_path / "junk.html").write_bytes(junk)
    (tmp_path / "junk.png").write_bytes(junk)
    (tmp_path / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + junk)
    truncated = (SAMPLES / "docs" / "volcano-field-guide.pdf").read_bytes()
    (tmp_path / "truncated.pdf").write_bytes(truncated[: len(truncated) // 3])
    (tmp_path / "corrupt.xlsx").write_bytes(b"PK\x03\x04" + junk)
    (tmp_path / "bad-utf8.txt").write_bytes("Caf\xe9 au lait at 8 o'clock\n".encode("latin-1"))
    (tmp_path / "good.md").write_text("# Still rendered\n")
    results = {os.path.basename(s): renderer.render(s) for s in discover([str(tmp_path)]).sources}
    for name in ("empty.csv", "empty.md", "junk.csv", "junk.md", "junk.html", "junk.png",
                 "corrupt.pdf", "truncated.pdf", "corrupt.xlsx"):
        r = results[name]
        assert not r.ok, name
        assert r.error and "\n" not in r.error and len(r.error) < 300, (name, r.error)
    assert "empty" in results["empty.csv"].error
    assert "binary" in results["junk.csv"].error
    assert results["bad-utf8.txt"].ok and "Café au lait" in results["bad-utf8.txt"].tiles[0].text
    assert results["bad-utf8.txt"].warnings
    assert results["good.md"].ok and "Still rendered" in results["good.md"].tiles[0].text


def test_missing_source_and_unknown_ending(renderer, tmp_path):
    assert renderer.render(str(tmp_path / "nope.md")).error == "not found"
    (tmp_path / "a.xyz").write_bytes(b"\x00\x01\x02 binary")  # text of an unknown ending is text (issue 19)
    assert "unknown" in renderer.render(str(tmp_path / "a.xyz")).error


# ------------------------------------------------------------------------------ browser life cycle
def test_chromium_crash_is_recovered(renderer):
    renderer.render(str(SAMPLES / "notes" / "sourdough-baking.md"))
    renderer.browser.kill()
    time.sleep(0.2)
    result = renderer.render(str(SAMPLES / "web" / "observatory-open-night.html"))
    assert result.ok, result.error
    assert "Solhaug observatory" in result.tiles[0].text


def test_find_chromium(monkeypatch, tmp_path):
    monkeypatch.delenv("SHOTDEX_CHROMIUM", raising=False)
    assert os.path.isfile(find_chromium())
    with pytest.raises(ChromiumNotFound, match="apt-get install chromium"):
        find_chromium(str(tmp_path / "no-such-chromium"))
    monkeypatch.setenv("SHOTDEX_CHROMIUM", str(tmp_path / "nope"))
    with pytest.raises(ChromiumNotFound, match="SHOTDEX_CHROMIUM"):
        find_chromium()
    (tmp_path / "n.md").write_text("# x")
    with Renderer() as r, pytest.raises(ChromiumNotFound):
        r.render(str(tmp_path / "n.md"))


def test_render_query_text():
    img = render_query_text("monthly rainfall in Bergen")
    assert img.size == (1024, 768)
    assert len(img.getcolors(maxcolors=100000)) > 2


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, shotdex.render; bad = [m for m in ('playwright', 'matplotlib', 'pypdfium2', "
            "'vl_convert', 'openpyxl', 'pyarrow') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
