"""Photos and scans, text without a known ending, gzip text, e-books and mail: real files made here,
rendered by real Chromium, indexed in a real LanceDB with the toy embedder and found by search."""

import gzip
import json
import http.server
import os
import re
import subprocess
import sys
import threading
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import shotdex
from shotdex.render import KIND_BY_SUFFIX, Renderer, kind_of

TOY = shotdex.Settings(plugins="toy_embedder", model="toy")
ROOT = Path(__file__).resolve().parents[1]


def _open(tmp_path):
    return shotdex.open(db=tmp_path / "db", settings=TOY)


def _pages(colors):
    from PIL import Image, ImageDraw

    out = []
    for i, c in enumerate(colors):
        im = Image.new("RGB", (900, 600), "white")
        ImageDraw.Draw(im).rectangle((100, 100, 800, 500), fill=c)
        out.append(im)
    return out


def test_multi_page_tiff_gives_one_tile_per_page_and_other_image_formats_render(tmp_path):
    pages = _pages([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)])
    pages[0].save(tmp_path / "scan.tiff", save_all=True, append_images=pages[1:], compression="tiff_lzw")
    pages[0].save(tmp_path / "anim.gif", save_all=True, append_images=pages[1:])
    pages[1].save(tmp_path / "photo.webp", lossless=True)
    pages[2].save(tmp_path / "old.bmp")
    with Renderer() as r:
        tiff, gif, webp, bmp = (r.render(str(tmp_path / n)) for n in ("scan.tiff", "anim.gif", "photo.webp", "old.bmp"))
    assert tiff.ok and tiff.kind == "image"
    assert [t.page for t in tiff.tiles] == [0, 1, 2, 3]
    assert [t.label for t in tiff.tiles] == [f"page {i} of 4" for i in range(1, 5)]
    for tile, color in zip(tiff.tiles, [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]):
        assert tile.image.getpixel((450, 300)) == color  # each page is its own page, in order
    assert len(gif.tiles) == 1 and gif.tiles[0].image.getpixel((450, 300))[:3] == (255, 0, 0)  # first frame
    assert webp.tiles[0].image.getpixel((450, 300)) == (0, 255, 0)
    assert bmp.tiles[0].image.getpixel((450, 300)) == (0, 0, 255)
    assert {kind_of(str(tmp_path / n)) for n in ("a.tif", "a.gif", "a.webp", "a.bmp", "a.heic")} == {"image"}


def test_heic_photo_renders_with_pillow_heif(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")  # optional: pip install 'shotdex[heic]'
    pillow_heif.register_heif_opener()
    _pages([(0, 0, 255)])[0].save(tmp_path / "phone.heic", quality=95)
    with Renderer() as r:
        res = r.render(str(tmp_path / "phone.heic"))
    assert res.ok and res.kind == "image", res.error
    b = res.tiles[0].image.getpixel((450, 300))
    assert b[2] > 200 and b[0] < 40 and b[1] < 40


def test_text_without_a_known_ending_and_gzip_text_are_found_binaries_stay_ignored(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "copyright").write_text("Copyright 2024 the quetzal feather project. Licensed for birdwatchers.\n")
    (docs / "Makefile").write_text("all:\n\techo compiling the marmalade toolchain\n")
    (docs / "server.conf").write_text("listen = 8080\n# the aardvark proxy setting\n")
    (docs / "THANKS").write_bytes("Thanks to Zoë for the lemur sketches\n".encode("utf-16"))
    (docs / "legacy").write_bytes("caf\xe9 menu lists croissant and brioche\n".encode("latin-1"))
    with gzip.open(docs / "changelog.gz", "wt") as f:
        f.write("version 2: the tapir release fixes the kettle bug\n")
    (docs / "style.css").write_text("body { color: #333 } /* a page's styles: not a source of its own */\n")
    (docs / "blob").write_bytes(bytes(range(256)) * 8)
    (docs / "program").write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 600)
    with gzip.open(docs / "data.gz", "wb") as f:
        f.write(b"\x00\x01\x02" * 500)
    idx = _open(tmp_path)
    rep = idx.add([docs])
    added = sorted(Path(s).name for s in rep.added)
    assert added == ["Makefile", "THANKS", "changelog.gz", "copyright", "legacy", "server.conf"], rep.failed
    assert sorted(Path(p).name for p, why in rep.ignored if why == "unknown ending") == ["blob", "data.gz", "program", "style.css"]
    for query, name in [("quetzal feather birdwatchers", "copyright"), ("marmalade toolchain", "Makefile"),
                        ("aardvark proxy", "server.conf"), ("lemur sketches", "THANKS"),
                        ("croissant brioche", "legacy"), ("tapir release kettle", "changelog.gz")]:
        hit = idx.search(query, k=1)[0]
        assert Path(hit.source).name == name and hit.kind == "text", query


@pytest.mark.slow
def test_include_and_exclude_globs_on_index(tmp_path):
    docs = tmp_path / "docs"
    (docs / "logs").mkdir(parents=True)
    (docs / "notes.md").write_text("# Notes\n\nThe heron nests by the weir.\n")
    (docs / "logs" / "app.log").write_text("heron sighting logged at dawn\n")
    (docs / "README").write_text("Read me: the heron project\n")
    rep = _open(tmp_path).add([docs], exclude=["*.log"])
    assert sorted(Path(s).name for s in rep.added) == ["README", "notes.md"]
    assert [(Path(p).name, why) for p, why in rep.ignored if why == "excluded"] == [("app.log", "excluded")]
    rep = shotdex.open(db=tmp_path / "db2", settings=TOY).add([docs], include=["logs/*", "README"])
    assert sorted(Path(s).name for s in rep.added) == ["README", "app.log"]
    env = dict(os.environ, LANCEDB_LOG="error", HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).parent),
               SHOTDEX_PLUGINS="toy_embedder", SHOTDEX_MODEL="toy")
    p = subprocess.run([sys.executable, "-m", "shotdex.cli", "index", str(docs), "--db", str(tmp_path / "db3"),
                        "--include", "*.md", "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert [Path(s).name for s in out["added"]] == ["notes.md"]
    assert sorted(Path(s).name for s, why in out["ignored"] if why == "excluded") == ["README", "app.log"]


class _Listener:
    def __init__(self):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def make_epub(path: Path, chapters: list[str], remote: str) -> Path:
    """An EPUB 3 whose spine lists the chapters in the reverse of their file names' order."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:'
                   'names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" '
                   'media-type="application/oebps-package+xml"/></rootfiles></container>')
        items = "".join(f'<item id="c{i}" href="text/ch{i}.xhtml" media-type="application/xhtml+xml"/>'
                        for i in range(len(chapters)))
        refs = "".join(f'<itemref idref="c{i}"/>' for i in reversed(range(len(chapters))))
        z.writestr("OEBPS/content.opf", '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" '
                   'version="3.0"><metadata/><manifest>' + items + '<item id="css" href="style.css" '
                   'media-type="text/css"/></manifest><spine>' + refs + '</spine></package>')
        z.writestr("OEBPS/style.css", "h1 { color: rgb(220, 0, 0); font-size: 60px; }")
        for i, text in enumerate(chapters):
            z.writestr(f"OEBPS/text/ch{i}.xhtml", '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/'
                       f'1999/xhtml"><head><title>c{i}</title><link rel="stylesheet" href="../style.css"/></head><body>'
                       f'<h1>Chapter</h1><p>{text}</p><img src="{remote}/cover{i}.png"/></body></html>')
    return path


@pytest.mark.slow
def test_epub_chapters_in_reading_order_with_their_own_css_and_nothing_remote(tmp_path):
    listener = _Listener()
    try:
        make_epub(tmp_path / "voyage.epub", ["the albatross circles the mast", "the cook bakes hardtack biscuits",
                                             "landfall at the coral atoll"], listener.url)
        idx = _open(tmp_path)
        rep = idx.add([tmp_path / "voyage.epub"])
    finally:
        listener.close()
    assert not rep.failed and rep.tiles == 3 and listener.requests == []
    for query, page in [("coral atoll landfall", 0), ("hardtack biscuits", 1), ("albatross mast", 2)]:
        hit = idx.search(query, k=1, tiles=True)[0]
        assert hit.page == page and hit.kind == "epub" and hit.label == f"chapter {page + 1} of 3", query
    with Renderer() as r:
        tile = r.render(str(tmp_path / "voyage.epub")).tiles[0]
    red = sum(1 for y in range(0, 200, 2) for x in range(0, 400, 2) if tile.image.getpixel((x, y)) == (220, 0, 0))
    assert red > 50  # the book's own stylesheet applied


def make_mail(path: Path, remote: str, attachment_words: str) -> Path:
    m = EmailMessage()
    m["From"] = "Ada Lovelace <ada@example.org>"
    m["To"] = "charles@example.org"
    m["Subject"] = "Difference engine gears"
    m.set_content("The brass gears need oiling.")
    m.add_alternative(f'<p>The <b>brass gears</b> of the analytical engine need oiling.</p><img src="{remote}/t.png">',
                      subtype="html")
    m.add_attachment(attachment_words.encode(), maintype="text", subtype="plain", filename="inventory.txt")
    m.add_attachment(b"\x00\x01 opaque", maintype="application", subtype="octet-stream", filename="blob.bin")
    path.write_bytes(bytes(m))
    return path


def test_mail_headers_body_and_attachments_as_their_own_sources(tmp_path):
    docs = tmp_path / "mail"
    docs.mkdir()
    listener = _Listener()
    try:
        eml = make_mail(docs / "gears.eml", listener.url, "quarterly cog inventory: sprockets and ratchets")
        idx = _open(tmp_path)
        rep = idx.add([docs])
    finally:
        listener.close()
    assert listener.requests == []  # the tracking pixel was never fetched
    assert [Path(s).name for s in rep.added] == ["gears.eml"] and not rep.failed
    hit = idx.search("Ada Lovelace difference engine brass gears", k=1)[0]
    assert hit.source == str(eml) and hit.kind == "mail"
    part = f"{eml}#inventory.txt"
    hit = idx.search("sprockets ratchets cog inventory", k=1)[0]
    assert hit.source == part and hit.kind == "text"
    rows = idx.store.source_rows()
    assert rows[part]["status"] == "indexed" and f"{eml}#blob.bin" not in rows
    tiles = idx.store.tiles.to_arrow().select(["source", "true_text"]).to_pylist()
    head = " ".join(t["true_text"] for t in tiles if t["source"] == str(eml))
    assert "Attachments inventory.txt" in head and "blob.bin" in head

    # the message changes: its attachment's old tiles go, the new ones come
    make_mail(eml, "http://127.0.0.1:9", "annual flywheel audit")
    idx.add([docs], prune=True)
    assert idx.search("flywheel audit", k=1)[0].source == part
    texts = [t["true_text"] for t in idx.store.tiles.to_arrow().select(["source", "true_text"]).to_pylist()
             if t["source"] == part]
    assert texts and not any("sprockets" in t for t in texts)
    assert part in idx.store.source_rows()  # prune keeps the parts of a message that is still there
    assert sorted(idx.remove([eml])) == sorted([str(eml), part])
    assert idx.stats().tiles == 0


def test_render_writes_a_mails_attachments_to_files_of_their_own(tmp_path):
    """`render` of a message with an attachment: one file per tile, each named after its own source
    (an attachment's tiles once overwrote the message's, which has the same page and tile numbers)."""
    eml = make_mail(tmp_path / "gears.eml", "http://127.0.0.1:9", "quarterly cog inventory: sprockets and ratchets")
    report = shotdex.render_tiles([eml], tmp_path / "out")
    lines = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert sorted(x["source"] for x in lines) == sorted([str(eml), f"{eml}#inventory.txt"]) and report.tiles == 2
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == sorted(x["file"] for x in lines)
    assert len({(tmp_path / "out" / x["file"]).read_bytes() for x in lines}) == 2
    for x in lines:  # each file is named after the source it shows
        assert ("inventory" in x["file"]) == ("sprockets" in x["text"]) == x["source"].endswith("#inventory.txt")


def test_readme_kinds_table_lists_every_ending():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### What it renders", 1)[1].split("\n\n", 2)[1]
    listed = set(re.findall(r"`(\.[a-z0-9.]+)`", table))
    missing = sorted(set(KIND_BY_SUFFIX) - listed)
    assert not missing, f"README's table of kinds does not list {missing}"
    kinds_in_table = set(re.findall(r"^\| (\w+) \|", table, re.M))
    assert set(KIND_BY_SUFFIX.values()) <= kinds_in_table
