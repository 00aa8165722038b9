"""E-books (.epub): each chapter's XHTML, in the spine's reading order, through the sealed web renderer.

The book is unpacked (size checked first: a zip bomb is refused) into a private folder, which is all
the pages may load (their own CSS, images and fonts); nothing else is reachable, scripts stay off.
Tiles carry the chapter's index as their page and 'chapter i of n' as their label.
"""

from __future__ import annotations

import os
import posixpath
import zipfile
from urllib.parse import quote, unquote
from xml.etree import ElementTree

from ..errors import RenderError
from ..pids import scratch
from .browser import VIRTUAL_ORIGIN
from .tiling import Job, capture_page

__all__ = ["render_epub", "spine", "MAX_UNZIPPED_MB"]

MAX_UNZIPPED_MB = 512
_OPF = "{http://www.idpf.org/2007/opf}"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_PAGES = ("application/xhtml+xml", "text/html")


def _xml(z: zipfile.ZipFile, name: str, source: str):
    try:
        data = z.read(name)
    except KeyError:
        raise RenderError(source, f"not an EPUB: {name} is missing") from None
    if len(data) > 20_000_000:
        raise RenderError(source, f"{name} is larger than 20 MB")
    if b"<!ENTITY" in data:  # no entity expansion (billion laughs)
        raise RenderError(source, f"{name} declares XML entities; refused")
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as e:
        raise RenderError(source, f"{name} is not well-formed XML ({e})") from None


def spine(z: zipfile.ZipFile, source: str) -> list[str]:
    """The chapters' paths inside the book, in reading order (the OPF spine; linear="no" last)."""
    container = _xml(z, "META-INF/container.xml", source)
    root = container.find(f".//{_CONTAINER}rootfile")
    if root is None or not root.get("full-path"):
        raise RenderError(source, "not an EPUB: container.xml names no package file")
    opf_path = root.get("full-path")
    opf = _xml(z, opf_path, source)
    base = posixpath.dirname(opf_path)
    items = {}
    for item in opf.iter(f"{_OPF}item"):
        if item.get("media-type") in _PAGES and item.get("href"):
            items[item.get("id")] = posixpath.normpath(posixpath.join(base, unquote(item.get("href"))))
    order, later = [], []
    for ref in opf.iter(f"{_OPF}itemref"):
        path = items.get(ref.get("idref"))
        if path:
            (later if ref.get("linear") == "no" else order).append(path)
    return order + later


def render_epub(job: Job) -> None:
    """Render every chapter (up to the tile cap) as tall pages cut into tiles."""
    from .web import _settle

    try:
        z = zipfile.ZipFile(job.source)
    except (zipfile.BadZipFile, OSError) as e:
        raise RenderError(job.source, f"corrupt EPUB (not a readable zip archive: {e})") from None
    with z, scratch("epub") as folder:
        declared = sum(i.file_size for i in z.infolist())
        if declared > MAX_UNZIPPED_MB * 2**20:
            raise RenderError(job.source, f"refused: declares {declared / 2**20:,.0f} MB uncompressed "
                                          f"(a zip bomb?); the limit is {MAX_UNZIPPED_MB} MB")
        chapters = spine(z, job.source)
        if not chapters:
            raise RenderError(job.source, "EPUB has no chapters in its spine")
        try:
            z.extractall(folder)  # zipfile drops absolute paths and '..' parts
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise RenderError(job.source, f"corrupt EPUB ({e})") from None
        n = len(chapters)
        for i, chapter in enumerate(chapters):
            if job.room == 0:
                job.cap(f"{n - i} of {n} chapters left out")
                break
            if not os.path.isfile(os.path.join(folder, chapter)):
                job.warn(f"chapter {chapter} is missing from the book")
                continue
            job.browser.seal(folder=folder)
            try:
                _settle(job, f"{VIRTUAL_ORIGIN}/{quote(chapter)}")
                capture_page(job, page_index=i, label=f"chapter {i + 1} of {n}", what="chapter")
            finally:
                job.browser.seal()
