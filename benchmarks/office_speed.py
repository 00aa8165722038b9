"""Office speed: pages/s for DOCX, PPTX and ODS sources of 1, 10 and 50 pages through the sealed LibreOffice.

    python benchmarks/office_speed.py [--runs 2] [--out benchmarks/results/office_speed.md]

Documents are generated here (python-docx, python-pptx; the ODS by LibreOffice from an openpyxl workbook,
one printed page per sheet), each page holding its own words. Reported separately:
- converter start-up: the first document's extra time (a fresh profile, soffice.bin, the UNO bridge);
- per document, with a warm converter: conversion to PDF, then PDFium drawing every page (pages/s over both);
- first-page latency: conversion plus drawing page 1 (the whole document is converted before any page);
- the converter's peak memory (resident, LibreOffice plus its bridge, sampled every 0.1 s).
Median over runs. Prints a Markdown section.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from shotdex.render import Renderer, RenderSettings  # noqa: E402
from shotdex.render.office import OfficeConverter  # noqa: E402

SIZES = (1, 10, 50)
WORDS = "harbour pelican ferry timetable saffron vanilla lighthouse cargo fjord winter".split()


def make_docx(path: str, pages: int) -> None:
    import docx

    d = docx.Document()
    for p in range(pages):
        d.add_heading(f"Page {p + 1}", 1)
        for i in range(12):
            d.add_paragraph(" ".join(WORDS[(p + i + k) % len(WORDS)] for k in range(14)))
        if p < pages - 1:
            d.add_page_break()
    d.save(path)


def make_pptx(path: str, pages: int) -> None:
    from pptx import Presentation

    prs = Presentation()
    for p in range(pages):
        s = prs.slides.add_slide(prs.slide_layouts[1])
        s.shapes.title.text = f"Slide {p + 1}: {WORDS[p % len(WORDS)]}"
        s.placeholders[1].text = "\n".join(" ".join(WORDS[(p + i) % len(WORDS)] for _ in range(3)) for i in range(5))
    prs.save(path)


def make_ods(path: str, pages: int, folder: str) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for p in range(pages):
        ws = wb.create_sheet(f"Sheet{p + 1}")
        for r in range(30):
            ws.append([f"{WORDS[(p + r) % len(WORDS)]}", r, p, r * p])
    xlsx = os.path.join(folder, f"src{pages}.xlsx")
    wb.save(xlsx)
    maker = os.path.join(ROOT, "tests", "lo_make.py")
    subprocess.run(["/usr/bin/python3", "-I", maker, os.path.join(folder, "lo-profile"), "convert", xlsx, path, "calc8"],
                   check=True, timeout=300, stdout=subprocess.DEVNULL)


def measure(path: str, conv: OfficeConverter, folder: str) -> dict:
    import pypdfium2 as pdfium

    pdf = os.path.join(folder, "out.pdf")
    t0 = time.perf_counter()
    conv.convert(path, pdf)
    t_conv = time.perf_counter() - t0
    doc = pdfium.PdfDocument(pdf)
    n = len(doc)
    t1 = time.perf_counter()
    first = None
    for i in range(n):
        page = doc[i]
        w, _ = page.get_size()
        page.render(scale=1024 / w).to_pil()
        page.close()
        if first is None:
            first = time.perf_counter() - t1
    t_draw = time.perf_counter() - t1
    doc.close()
    return {"pages": n, "convert": t_conv, "draw": t_draw, "first": t_conv + first}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "office_speed.md"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="office-bench-") as folder:
        docs = []
        for kind, make in (("DOCX", make_docx), ("PPTX", make_pptx), ("ODS", None)):
            for n in SIZES:
                path = os.path.join(folder, f"{kind.lower()}{n}.{kind.lower()}")
                make_ods(path, n, folder) if make is None else make(path, n)
                docs.append((kind, n, path))
        starts, rows = [], {}
        for _ in range(args.runs):
            conv = OfficeConverter(timeout_s=300)
            try:
                t0 = time.perf_counter()
                conv.convert(docs[0][2], os.path.join(folder, "warm.pdf"))
                cold = time.perf_counter() - t0
                warm = measure(docs[0][2], conv, folder)["convert"]
                starts.append(cold - warm)
                for kind, n, path in docs:
                    rows.setdefault((kind, n), []).append(measure(path, conv, folder))
                peak = conv.peak_mb
            finally:
                conv.close()
        # end to end through the Renderer (conversion, PDFium, tiles), warm converter, one run
        e2e = {}
        with Renderer(RenderSettings(max_tiles=64)) as r:
            r.render(docs[0][2])
            for kind, n, path in docs:
                t0 = time.perf_counter()
                res = r.render(path)
                e2e[(kind, n)] = (len(res.tiles), time.perf_counter() - t0, res.error)
    med = statistics.median
    lines = [
        "## Office documents (LibreOffice, sealed)", "",
        f"Measured on {platform.machine()} with {os.cpu_count()} cores (shared), LibreOffice "
        f"{_lo_version()}, median of {args.runs} runs, by `benchmarks/office_speed.py`.", "",
        f"Converter start-up (fresh profile, soffice.bin, UNO bridge; once per run): **{med(starts):.1f} s**; "
        f"converter peak memory (resident): **{peak:.0f} MB**.", "",
        "| source | pages | convert to PDF | draw pages | pages/s | first-page latency | Renderer end to end (tiles, s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (kind, n), ms in rows.items():
        conv_t, draw_t, first = med(m["convert"] for m in ms), med(m["draw"] for m in ms), med(m["first"] for m in ms)
        pages = ms[0]["pages"]
        tiles, secs, err = e2e[(kind, n)]
        lines.append(f"| {kind} | {pages} | {conv_t:.2f} s | {draw_t:.2f} s | {pages / (conv_t + draw_t):.1f} | "
                     f"{first:.2f} s | {tiles} tiles, {secs:.2f} s{' (' + err + ')' if err else ''} |")
    text = "\n".join(lines) + "\n"
    print(text)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from common import write_out

    write_out(args.out, text)


def _lo_version() -> str:
    try:
        out = subprocess.run(["soffice", "--version"], capture_output=True, text=True, timeout=60).stdout.split()
        return out[1] if len(out) > 1 else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


if __name__ == "__main__":
    main()
