"""A generated corpus of bad input (issue 6), built in a temporary folder: nothing binary is committed.

`build(root)` writes every case under root/ and returns the list of `Case`s, each saying what shotdex
must do with it: "fail" (one line naming the file and why), "ok" (indexed, maybe with a warning) or
"skip" (not a source: one 'ignored' line, nothing indexed). tests/test_reliability.py indexes the
folder with the CLI; benchmarks/reliability_table.py renders each case alone to measure time and memory.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Case", "build", "encrypted_pdf", "simple_pdf", "png_bytes", "png_text_bomb", "struct_parquet", "UTF16_TABLE", "xlsx_bomb", "billion_laughs_yaml", "WEIRD_NAME"]

ROOT = Path(__file__).resolve().parents[1]
WEIRD_NAME = "it's a \"quoted\" name — ünïcødé 日本語 notes.md"


@dataclass
class Case:
    name: str  # path relative to the corpus root
    what: str  # the input, in words (the table's first column)
    expect: str  # "fail" | "ok" | "skip"
    says: str = ""  # a word the stderr line must contain (lower case)
    warns: str = ""  # for "ok": a word a warning line must contain
    js: bool = False  # only meaningful with --js (indexed in a second run)
    unreadable: bool = False  # chmod 000: needs a run without CAP_DAC_OVERRIDE when root


# ----------------------------------------------------------------------------- file makers
def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_bytes(width: int, height: int, *, rows: bool = True) -> bytes:
    """A valid greyscale PNG of any size, compressed row by row (a 100-megapixel one is ~100 KB and
    never exists as pixels here). rows=False: only the header and a token IDAT (a 'bomb' header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    if not rows:
        idat = zlib.compress(b"\0" * 1000)
    else:
        comp = zlib.compressobj(9)
        row = b"\0" + bytes([200]) * width
        parts = [comp.compress(row) for _ in range(height)]
        parts.append(comp.flush())
        idat = b"".join(parts)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_text_bomb(mb: int = 64) -> bytes:
    """A small valid PNG with a zTXt chunk that inflates to `mb` MB (PIL refuses it past MAX_TEXT_CHUNK)."""
    ztxt = b"Comment\0\0" + zlib.compress(b"A" * (mb << 20), 9)
    head = png_bytes(64, 64)
    return head[:-12] + _chunk(b"zTXt", ztxt) + head[-12:]


def struct_parquet(path: Path) -> None:
    """Valid Parquet whose struct column holds a timestamp, a decimal and bytes, plus a binary column."""
    import datetime
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    kind = pa.struct([("when", pa.timestamp("us")), ("price", pa.decimal128(10, 2)), ("blob", pa.binary())])
    info = pa.array([{"when": datetime.datetime(2024, 5, 1, 12, 30), "price": decimal.Decimal("12.50"),
                      "blob": b"\x00\x01\x02"}, {"when": None, "price": None, "blob": None}], type=kind)
    pq.write_table(pa.table({"item": ["kettle", "teapot"], "info": info, "raw": [b"\xff\xfe", b"x"]}), path)


UTF16_TABLE = "city\tpopulation\nTromsø\t77000\nBodø\t53000\n"


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) & 255
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) & 255
        j = (j + s[i]) & 255
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) & 255])
    return bytes(out)


_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _pdf(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer_extra, xref)
    return bytes(out)


def _page_objects(content: bytes) -> list[bytes]:
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]


def simple_pdf(text: str = "Hello from a small PDF") -> bytes:
    """A one-page PDF with one line of text."""
    return _pdf(_page_objects(b"BT /F1 18 Tf 20 100 Td (%s) Tj ET" % text.encode("latin-1")))


def encrypted_pdf(user_password: str = "secret", text: str = "Confidential numbers") -> bytes:
    """A one-page PDF encrypted with the Standard security handler (RC4 40-bit, V1 R2), written by hand
    (pypdfium2 cannot encrypt and qpdf/pypdf are not installed here). Opening it needs the password."""
    doc_id = hashlib.md5(b"shotdex-test").digest()
    pad = lambda pw: (pw.encode("latin-1") + _PAD)[:32]  # noqa: E731
    owner_key = hashlib.md5(pad("owner-" + user_password)).digest()[:5]
    o = _rc4(owner_key, pad(user_password))
    p = -4
    key = hashlib.md5(pad(user_password) + o + struct.pack("<i", p) + doc_id).digest()[:5]
    u = _rc4(key, _PAD)
    content = b"BT /F1 18 Tf 20 100 Td (%s) Tj ET" % text.encode("latin-1")
    obj_key = hashlib.md5(key + (4).to_bytes(3, "little") + (0).to_bytes(2, "little")).digest()[:10]
    objects = _page_objects(_rc4(obj_key, content))
    objects.append(b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>" % (o.hex().encode(), u.hex().encode(), p))
    extra = b"/Encrypt 6 0 R /ID [<%s> <%s>] " % (doc_id.hex().encode(), doc_id.hex().encode())
    return _pdf(objects, extra)


def _million_rows(path: Path, n: int = 1_000_000) -> None:
    with open(path, "w") as f:
        f.write("id,city,value\n")
        block = []
        for i in range(n):
            block.append(f"{i},City {i % 977},{i * 7 % 1000}\n")
            if len(block) == 50_000:
                f.write("".join(block))
                block = []
        f.write("".join(block))


def _wide(path: Path, cols: int = 2000, rows: int = 20) -> None:
    lines = [",".join(f"col{c}" for c in range(cols))]
    lines += [",".join(str(r * c) for c in range(cols)) for r in range(rows)]
    path.write_text("\n".join(lines) + "\n")


_XLSX_HEAD = {
    "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '</Types>',
    "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    '</Relationships>',
    "xl/workbook.xml": '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    '</Relationships>',
}
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _stream(zf, name: str, head: str, unit: str, repeat: int, tail: str) -> None:
    block = (unit * max(1, (1 << 20) // len(unit))).encode()
    with zf.open(name, "w", force_zip64=True) as f:
        f.write(head.encode())
        for _ in range(max(1, repeat * len(unit) // len(block))):
            f.write(block)
        f.write(tail.encode())


def xlsx_bomb(path: Path, *, inflated_mb: int = 1100, part: str = "sheet") -> None:
    """A valid workbook whose sheet XML (part='sheet') or shared strings (part='strings') inflate to
    about inflated_mb MB from a file of a few MB (deflate's ~1000:1 on repeated XML)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, text in _XLSX_HEAD.items():
            zf.writestr(name, text)
        if part == "sheet":
            unit = '<row><c t="inlineStr"><is><t>bomb</t></is></c><c><v>1</v></c></row>'
            _stream(zf, "xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><worksheet {_NS}><sheetData>',
                    unit, inflated_mb * (1 << 20) // len(unit), "</sheetData></worksheet>")
            zf.writestr("xl/sharedStrings.xml", f'<?xml version="1.0"?><sst {_NS} count="0" uniqueCount="0"></sst>')
        else:
            zf.writestr("xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><worksheet {_NS}><sheetData>'
                        '<row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>')
            unit = "<si><t>laugh</t></si>"
            _stream(zf, "xl/sharedStrings.xml", f'<?xml version="1.0"?><sst {_NS}>', unit,
                    inflated_mb * (1 << 20) // len(unit), "</sst>")


def billion_laughs_yaml(levels: int = 9) -> str:
    """A ~1 KB .chart.yaml whose aliases expand to 9**levels strings."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines + [f"data: *l{levels}", "mark: bar", "x: a", "y: b", ""])


# ----------------------------------------------------------------------------- the corpus
EMPTY_KINDS = [".txt", ".md", ".py", ".csv", ".tsv", ".xlsx", ".json", ".parquet", ".html", ".pdf",
               ".png", ".jpg", ".svg", ".vl.json", ".chart.yaml"]
JUNK_KINDS = [".csv", ".html", ".md", ".pdf", ".xlsx", ".png"]


def build(root: Path, *, big: bool = True) -> list[Case]:
    """Write the bad-input corpus under root; big=False leaves out the slow-to-write million-row CSV."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(6)
    junk = bytes(rng.randrange(256) for _ in range(8192))
    cases: list[Case] = []

    def add(name: str, data: bytes | str | None, what: str, expect: str, says: str = "", **kw) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        elif data is not None:
            path.write_bytes(data)
        cases.append(Case(name, what, expect, says, **kw))
        return path

    for ending in EMPTY_KINDS:
        add(f"empty/empty{ending}", b"", f"empty {ending} file", "fail", "empty")
    for ending in JUNK_KINDS:
        add(f"junk/junk{ending}", junk, f"8 KB of random bytes named {ending}", "fail")
    add("text/latin1.txt", "Caf\xe9 cr\xe8me br\xfbl\xe9e, 8 o'clock\n".encode("latin-1"),
        "Latin-1 text (invalid UTF-8)", "ok", warns="utf-8")
    add("text/mixed.csv", "city,note\nOslo,fjord\n".encode() + "Tromsø,nordlys\n".encode("utf-8")
        + "Bod\xf8,midnattssol\n".encode("latin-1"), "CSV mixing UTF-8 and Latin-1 lines", "ok", warns="utf-8")
    add("text/bad-bytes.md", b"# Notes\n\nvalid line\n\xff\xfe\xfa broken bytes\n", "Markdown with invalid UTF-8 bytes",
        "ok", warns="utf-8")
    if big:
        (root / "tables").mkdir(exist_ok=True)
        _million_rows(root / "tables/million.csv")
        cases.append(Case("tables/million.csv", "CSV with 1,000,000 rows (22 MB)", "ok", warns="rows left out"))
    (root / "tables").mkdir(exist_ok=True)
    _wide(root / "tables/wide.csv")
    cases.append(Case("tables/wide.csv", "CSV with 2,000 columns", "ok", warns="columns"))
    add("web/tall.html", "<html><body style='margin:0'><div style='height:200000px;"
        "background:linear-gradient(#fff,#888)'>top of a very tall page</div></body></html>",
        "HTML page 200,000 px tall", "ok", warns="max_tiles")
    add("web/loop.html", "<html><body><p>spinning forever</p><script>while (true) {}</script></body></html>",
        "infinite JavaScript loop (JS off: the default)", "ok")
    add("web/annoying.html", "<html><body><p>annoying page</p><a id=d href='data:text/plain,x' download='x.txt'>dl</a>"
        "<script>alert('hi'); confirm('sure?'); window.open('popup.html'); window.open('https://example.org/');"
        "document.getElementById('d').click();</script></body></html>",
        "page opening pop-ups, alerts, a download (JS off)", "ok")
    add("js/loop.html", "<html><body><p>spinning forever</p><script>while (true) {}</script></body></html>",
        "infinite JavaScript loop with --js", "fail", "javascript", js=True)
    add("js/annoying.html", "<html><body><p>annoying page</p><a id=d href='data:text/plain,x' download='x.txt'>dl</a>"
        "<script>alert('hi'); confirm('sure?'); prompt('name?'); window.open('popup.html');"
        "window.open('https://example.org/'); document.getElementById('d').click();</script></body></html>",
        "page opening pop-ups, alerts, a download with --js", "ok", js=True)
    add("images/huge-100mp.png", png_bytes(10_000, 10_000), "valid 100-megapixel PNG (10000x10000)", "fail",
        "refused before decoding")
    add("images/bomb.png", png_bytes(100_000, 100_000, rows=False),
        "decompression-bomb PNG (100000x100000 declared, 2 KB file)", "fail", "refused before decoding")
    sample_pdf = (ROOT / "samples" / "docs" / "volcano-field-guide.pdf").read_bytes()
    add("docs/truncated.pdf", sample_pdf[: len(sample_pdf) // 3], "PDF cut to a third", "fail", "pdf")
    add("docs/encrypted.pdf", encrypted_pdf(), "password-protected PDF (RC4, Standard handler)", "fail", "encrypted")
    add("charts/remote.vl.json", '{"data": {"url": "https://example.org/cars.json"}, "mark": "point",'
        ' "encoding": {"x": {"field": "a", "type": "quantitative"}}}',
        "Vega-Lite spec with remote data URL", "fail", "sealed")
    # a symlink loop (folder) and a self-referencing file link
    (root / "loop").mkdir(exist_ok=True)
    os.symlink("..", root / "loop" / "up")
    cases.append(Case("loop/up", "symlink loop (folder linking to its parent)", "skip", "symlink loop"))
    os.symlink("self.md", root / "loop" / "self.md")
    cases.append(Case("loop/self.md", "symlink to itself", "skip", "symlink"))
    os.mkfifo(root / "fifo.csv")
    cases.append(Case("fifo.csv", "named pipe (FIFO) called .csv", "skip", "not a regular file"))
    add("unreadable.csv", "a,b\n1,2\n", "file without read permission (chmod 000)", "fail", "permission",
        unreadable=True)
    os.chmod(root / "unreadable.csv", 0)
    add("folder.csv/inside.md", "# A folder named like a table\n\nits file is indexed.\n",
        "folder named folder.csv (walked, its file indexed)", "ok")
    add(f"weird dir ü/{WEIRD_NAME}", "# Weird name\n\nThe pelican counted seventeen herring.\n",
        "path with spaces, quotes and non-ASCII", "ok")
    # issue 9: formats that broke, and bombs
    add("tables/utf16-bom.csv", UTF16_TABLE.encode("utf-16"), "UTF-16 CSV with BOM (Excel's Unicode Text)", "ok")
    add("tables/utf16-nobom.tsv", UTF16_TABLE.encode("utf-16-le"), "UTF-16 LE TSV without BOM", "ok")
    struct_parquet(root / "tables/struct.parquet")
    cases.append(Case("tables/struct.parquet", "Parquet with struct of timestamp, decimal, binary", "ok"))
    add("charts/image-mark.vl.json", '{"data": {"values": [{"u": "file:///etc/secret.png", "a": 1}]},'
        ' "mark": {"type": "image", "width": 60, "height": 60},'
        ' "encoding": {"x": {"field": "a", "type": "quantitative"}, "url": {"field": "u"}}}',
        "Vega-Lite image mark naming file:///etc/secret.png", "fail", "sealed")
    add("charts/laughs.chart.yaml", billion_laughs_yaml(), "1 KB chart spec of YAML aliases (billion laughs)",
        "fail", "alias")
    if big:
        xlsx_bomb(root / "tables/sheet-bomb.xlsx", inflated_mb=1100)
        cases.append(Case("tables/sheet-bomb.xlsx", "XLSX whose sheet XML inflates to 1.1 GB (4 MB file)", "fail",
                          "bomb"))
    xlsx_bomb(root / "tables/strings-bomb.xlsx", inflated_mb=600, part="strings")
    cases.append(Case("tables/strings-bomb.xlsx", "XLSX whose shared strings inflate to 600 MB (1.5 MB file)",
                      "fail", "bomb"))
    add("tables/deep.json", "[" * 100_000 + "]" * 100_000, "JSON nested 100,000 deep", "fail", "nested")
    add("images/text-chunk.png", png_text_bomb(), "PNG with a zTXt chunk inflating to 64 MB", "fail", "text chunk")
    add("good/table.csv", "fruit,price\napple,3\npear,4\n", "a good CSV", "ok")
    add("good/pages.pdf", simple_pdf("Hello from a small PDF"), "a good one-page PDF", "ok")
    return cases
