"""PDF: one image per page (pypdfium2), tile_width wide, with the page's text from PDFium."""

from __future__ import annotations

import os

from ..errors import RenderError

__all__ = ["render_pdf"]


def render_pdf(job, path: str | None = None) -> None:
    """Render each page of a PDF (up to max_tiles) as one image. `path`: the PDF to read when it is not
    the source itself (an office document converted to PDF); tiles and errors still name the source."""
    import pypdfium2 as pdfium

    path = path or job.source
    if os.path.getsize(path) == 0:
        raise RenderError(job.source, "empty file")
    with open(path, "rb") as f:
        head = f.read(1024)
    if b"%PDF-" not in head:
        raise RenderError(job.source, "not a PDF (no %PDF- header)")
    try:
        pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as e:
        reason = str(e)
        if "password" in reason.lower():
            raise RenderError(job.source, "encrypted PDF (password required)") from None
        raise RenderError(job.source, f"corrupt or truncated PDF ({reason})") from None
    try:
        n = len(pdf)
        if n == 0:
            raise RenderError(job.source, "PDF has no pages")
        s = job.settings
        for i in range(n):
            if job.room == 0:
                job.cap(f"{n - i} of {n} pages left out")
                break
            page = pdf[i]
            try:
                w_pt, h_pt = page.get_size()
                if w_pt <= 0 or h_pt <= 0:
                    raise RenderError(job.source, f"page {i + 1} has no size")
                scale = s.tile_width * s.device_scale / w_pt
                if (w_pt * scale) * (h_pt * scale) > s.max_image_pixels:
                    scale = (s.max_image_pixels / (w_pt * h_pt)) ** 0.5
                    job.warn(f"page {i + 1} is very tall; drawn smaller")
                img = page.render(scale=scale).to_pil().convert("RGB")
                textpage = page.get_textpage()
                text = " ".join(textpage.get_text_range().split())
                textpage.close()
            except pdfium.PdfiumError as e:
                raise RenderError(job.source, f"page {i + 1} cannot be drawn ({e})") from None
            finally:
                page.close()
            job.add(img, page=i, text=text, page_width=img.width, page_height=img.height,
                    label=f"page {i + 1} of {n}")
    finally:
        pdf.close()
