"""Office documents through a real, sealed LibreOffice: known words on known pages/slides found by search;
linked remote images and linked local files never reached; bad documents give one line each.

LibreOffice is required (CI installs it): these tests fail, not skip, when it is missing."""

import http.server
import io
import json
import os
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import shotdex
from shotdex.render import Renderer, RenderSettings, kind_of
from shotdex.render.office import OfficeConverter, find_soffice, network_isolation

TOY = shotdex.Settings(plugins="toy_embedder", model="toy")
LO_MAKE = str(Path(__file__).with_name("lo_make.py"))
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def libreoffice():
    try:
        return find_soffice()
    except shotdex.ShotdexError as e:  # CI installs LibreOffice: a missing one is a failure, not a skip
        pytest.fail(f"LibreOffice is needed for these tests: {e}")


def lo_make(tmp: Path, *args: str) -> None:
    """Make a document with LibreOffice itself (tests/lo_make.py under Debian's python3)."""
    subprocess.run(["/usr/bin/python3", "-I", LO_MAKE, str(tmp / "lo-profile"), *map(str, args)],
                   check=True, timeout=180, stdout=subprocess.DEVNULL)


def make_docx(path: Path) -> Path:
    """Three pages: prose, prose, a table (words known per page)."""
    import docx

    d = docx.Document()
    d.add_heading("Harbour report", 1)
    d.add_paragraph("The lighthouse keeper counted seventeen pelicans on the northern pier.")
    d.add_page_break()
    d.add_paragraph("Second page: the ferry timetable changes when the fjord freezes.")
    d.add_page_break()
    d.add_paragraph("Cargo manifest")
    t = d.add_table(rows=3, cols=3)
    for r, row in enumerate([("crate", "contents", "weight"), ("A7", "saffron", "12 kg"), ("B3", "vanilla", "9 kg")]):
        for c, value in enumerate(row):
            t.cell(r, c).text = value
    d.save(path)
    return path


def chart_png(title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    ax.bar(["spring", "summer", "autumn"], [3, 7, 5], color="#1f77b4")
    ax.set_title(title, fontsize=28)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def make_pptx(path: Path) -> Path:
    """Slide 1: a title with known words; slide 2: only a chart picture (its words are in the pixels)."""
    from pptx import Presentation
    from pptx.util import Inches

    p = Presentation()
    s1 = p.slides.add_slide(p.slide_layouts[1])
    s1.shapes.title.text = "Volcano observatory budget"
    s1.placeholders[1].text = "Seismographs and thermal cameras"
    s2 = p.slides.add_slide(p.slide_layouts[6])
    s2.shapes.add_picture(io.BytesIO(chart_png("Turnip harvest")), Inches(1), Inches(1), width=Inches(8))
    p.save(path)
    return path


def _page_of(hits, name):
    return [(h.page, h.rank) for h in hits if Path(h.source).name == name]


def test_docx_pages_and_table_are_found_on_their_page(tmp_path):
    make_docx(tmp_path / "harbour.docx")
    idx = shotdex.open(db=tmp_path / "db", settings=TOY)
    rep = idx.add([tmp_path / "harbour.docx"])
    assert not rep.failed and rep.tiles == 3, rep.failed
    assert kind_of(str(tmp_path / "harbour.docx")) == "office"
    for query, page in [("seventeen pelicans northern pier", 0), ("ferry timetable fjord freezes", 1),
                        ("saffron vanilla crate weight", 2)]:
        hit = idx.search(query, k=1, tiles=True)[0]
        assert (Path(hit.source).name, hit.page) == ("harbour.docx", page), query
        assert hit.kind == "office"


@pytest.mark.slow
def test_pptx_slides_and_a_chart_picture_found_by_reading_them(tmp_path):
    """The chart slide holds no text at all: only OCR of the rendered slide (the reader) can find it.
    Run as a user would, through the CLI in its own process (the reader's model stays out of pytest's)."""
    make_pptx(tmp_path / "deck.pptx")
    env = dict(os.environ, LANCEDB_LOG="error", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", SHOTDEX_OCR_WORKERS="1")

    def cli(*args):
        p = subprocess.run([sys.executable, "-m", "shotdex.cli", *map(str, args), "--db", str(tmp_path / "db")],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
        assert p.returncode == 0, p.stderr
        return p.stdout

    rep = json.loads(cli("index", tmp_path / "deck.pptx", "--model", "reader", "--json"))
    assert not rep["failed"] and rep["tiles"] == 2
    (hit,) = [json.loads(x) for x in cli("search", "volcano observatory budget", "--tiles", "-k", "1", "--json").splitlines()]
    assert hit["page"] == 0 and hit["kind"] == "office"
    (hit,) = [json.loads(x) for x in cli("search", "turnip harvest", "--tiles", "-k", "1", "--json").splitlines()]
    assert hit["page"] == 1 and "turnip" in hit["snippet"].lower()


@pytest.mark.slow
def test_odt_ods_rtf_made_by_libreoffice_are_found(tmp_path):
    src = make_docx(tmp_path / "src.docx")
    lo_make(tmp_path, "convert", src, tmp_path / "harbour.odt", "writer8")
    lo_make(tmp_path, "convert", src, tmp_path / "harbour.rtf", "Rich Text Format")
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["planet", "moons"])
    wb.active.append(["Jupiter", "ninety-five"])
    wb.save(tmp_path / "src.xlsx")
    lo_make(tmp_path, "convert", tmp_path / "src.xlsx", tmp_path / "moons.ods", "calc8")
    with Renderer() as r:
        odt, rtf, ods = (r.render(str(tmp_path / n)) for n in ("harbour.odt", "harbour.rtf", "moons.ods"))
    for res in (odt, rtf):
        assert res.ok and res.kind == "office", res.error
        assert "pelicans" in res.tiles[0].text and "saffron" in res.tiles[-1].text
    assert ods.ok and "Jupiter" in ods.tiles[0].text and "ninety-five" in ods.tiles[0].text


class _Listener:
    """A loopback HTTP server that records every request (and would serve a red image)."""

    def __init__(self):
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(_red_png())

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _red_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (200, 200), (255, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


def linked_docx(path: Path, target: str) -> Path:
    """A DOCX whose only picture is linked (TargetMode=External), not embedded."""
    import docx
    from docx.shared import Inches
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (0, 200, 0)).save(buf, "PNG")
    buf.seek(0)
    d = docx.Document()
    d.add_paragraph("A page with a linked picture")
    d.add_picture(buf, width=Inches(2))
    d.save(path)
    with zipfile.ZipFile(path) as z:
        items = {n: z.read(n) for n in z.namelist()}
    rels = items["word/_rels/document.xml.rels"].decode()
    m = re.search(r'<Relationship Id="(rId\d+)" Type="([^"]+/image)" Target="[^"]+"/>', rels)
    rid = m.group(1)
    items["word/_rels/document.xml.rels"] = rels.replace(
        m.group(0), f'<Relationship Id="{rid}" Type="{m.group(2)}" Target="{target}" TargetMode="External"/>').encode()
    items["word/document.xml"] = items["word/document.xml"].replace(f'r:embed="{rid}"'.encode(), f'r:link="{rid}"'.encode())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in items.items():
            if not n.startswith("word/media/"):
                z.writestr(n, b)
    return path


def _red_pixels(img) -> int:
    r, g, b = (band.point(lambda v, t=t: 255 if (v > 200 if t else v < 60) else 0) for band, t in
               zip(img.convert("RGB").split(), (1, 0, 0)))
    from PIL import ImageChops

    return ImageChops.multiply(ImageChops.multiply(r, g), b).histogram()[255]


@pytest.mark.parametrize("isolation", ["default", "proxy"])
def test_linked_remote_image_and_linked_local_file_are_never_reached(tmp_path, isolation):
    """Unsealed, LibreOffice fetches the remote picture and draws the local one (checked by hand with a
    plain `soffice --convert-to`): here the listener sees zero requests and no red pixel is drawn."""
    listener = _Listener()
    secret = tmp_path / "outside" / "secret.png"
    secret.parent.mkdir()
    secret.write_bytes(_red_png())
    docs = tmp_path / "docs"
    docs.mkdir()
    try:
        linked_docx(docs / "remote.docx", f"{listener.url}/pic.png")
        linked_docx(docs / "local.docx", secret.as_uri())
        linked_docx(docs / "relative.docx", "../outside/secret.png")
        with Renderer() as r:
            if isolation == "proxy":
                r.office.isolation = "proxy"  # the fallback where no network namespace can be made
            results = [r.render(str(docs / n)) for n in ("remote.docx", "local.docx", "relative.docx")]
            used = r.office.isolation
    finally:
        listener.close()
    assert listener.requests == []
    for res in results:
        assert res.ok, res.error
        assert "linked picture" in res.tiles[0].text
        assert _red_pixels(res.tiles[0].image) == 0, res.source
    if isolation == "default":
        assert used == network_isolation() and used.startswith("namespace")  # root here: unshare -n works


def test_document_macros_never_run(tmp_path):
    """An .odt with an OnLoad Basic macro that writes a marker file: rendered, and the marker never made.
    (The same file with macro security off, macro execution allowed and a visible load does write it.)"""
    marker = tmp_path / "macro-ran"
    lo_make(tmp_path, "macro", tmp_path / "macro.odt", marker)
    assert not marker.exists()
    with Renderer() as r:
        res = r.render(str(tmp_path / "macro.odt"))
    assert res.ok and "macro document words" in res.tiles[0].text
    assert not marker.exists()


@pytest.mark.slow
def test_corrupt_encrypted_and_zip_bomb_documents_give_one_line_each_and_the_run_goes_on(tmp_path):
    import msoffcrypto.format.ooxml

    docs = tmp_path / "docs"
    docs.mkdir()
    make_docx(docs / "good.docx")
    (docs / "corrupt.docx").write_bytes(b"PK\x03\x04 this is not really a zip archive" * 20)
    with open(docs / "good.docx", "rb") as f, open(docs / "locked.docx", "wb") as out:
        msoffcrypto.format.ooxml.OOXMLFile(f).encrypt("secret", out)
    lo_make(tmp_path, "password", docs / "locked.odt")
    with zipfile.ZipFile(docs / "bomb.docx", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(600):
                member.write(block)
    idx = shotdex.open(db=tmp_path / "db", settings=TOY)
    rep = idx.add([docs])
    failed = {Path(s).name: why for s, why in rep.failed}
    assert sorted(failed) == ["bomb.docx", "corrupt.docx", "locked.docx", "locked.odt"]
    assert all("\n" not in why for why in failed.values())
    assert "corrupt" in failed["corrupt.docx"]
    assert "password-protected" in failed["locked.docx"] and "password-protected" in failed["locked.odt"]
    assert "zip bomb" in failed["bomb.docx"] and "600 MB" in failed["bomb.docx"]
    assert [Path(s).name for s in rep.added] == ["good.docx"]
    assert Path(idx.search("seventeen pelicans", k=1)[0].source).name == "good.docx"


def test_time_and_memory_budgets_kill_the_converter_and_the_next_document_still_renders(tmp_path):
    big = tmp_path / "long.docx"
    import docx

    d = docx.Document()
    for i in range(60):
        d.add_paragraph(f"Page {i} of the long report. " * 40)
        d.add_page_break()
    d.save(big)
    small = make_docx(tmp_path / "small.docx")
    conv = OfficeConverter(timeout_s=30)
    try:
        conv.convert(str(small), str(tmp_path / "warm.pdf"))  # started and warm
        conv.timeout_s = 0.05
        with pytest.raises(shotdex.ShotdexError, match=r"took longer than 0.05 s \(converter killed"):
            conv.convert(str(big), str(tmp_path / "big.pdf"))
        assert conv.proc is None  # killed
        conv.timeout_s = 60
        conv.convert(str(small), str(tmp_path / "again.pdf"))
        assert conv.starts == 2 and (tmp_path / "again.pdf").stat().st_size > 0
    finally:
        conv.close()
    with Renderer(RenderSettings(max_converter_mb=40)) as r:
        res = r.render(str(small))
    assert not res.ok and "more than 40 MB" in res.error


def test_without_libreoffice_one_line_names_the_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOTDEX_SOFFICE", str(tmp_path / "no-such-soffice"))
    docs = tmp_path / "docs"
    docs.mkdir()
    make_docx(docs / "a.docx")
    (docs / "b.md").write_text("# still indexed\n\nNarwhal migration notes.\n")
    idx = shotdex.open(db=tmp_path / "db", settings=TOY)
    rep = idx.add([docs])
    assert [Path(s).name for s in rep.added] == ["b.md"]
    ((src, why),) = rep.failed
    assert src.endswith("a.docx") and "apt-get install libreoffice-writer-nogui" in why and "\n" not in why
