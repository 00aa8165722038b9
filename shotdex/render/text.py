"""Text sources: plain text, Markdown and source code, each as a clean fixed-width page."""

from __future__ import annotations

import os

from .decode import read_text
from .discover import suffix_of
from .style import MONO, document, esc
from .tiling import Job, capture_page

__all__ = ["render_text", "text_page", "markdown_html", "plain_html", "code_html"]

_PLAIN_CSS = f".l {{ font: 15px/1.45 {MONO}; white-space: pre-wrap; min-height: 1.45em; }}"
_CODE_CSS = (
    f".highlight pre {{ font: 14px/1.45 {MONO}; white-space: pre-wrap; background: #f8f8f8; "
    "padding: 10px 12px; border: 1px solid #e4e4e4; }}"
)


# Chromium wraps at most 2**22 characters of one paragraph or line of a page (a <pre> is not affected);
# it puts the rest on one line off the right edge, so the text seems to end early. No paragraph or
# line of plain text or Markdown gets more than this.
BLOCK_CHARS = 1_000_000


def _pieces(line: str, size: int = BLOCK_CHARS) -> list[str]:
    """`line` cut into pieces of at most `size` characters, at a space where one is near the end."""
    out = []
    while len(line) > size:
        cut = line.rfind(" ", size // 2, size)
        cut = size if cut < 0 else cut + 1
        out.append(line[:cut])
        line = line[cut:]
    out.append(line)
    return out


def _lines(text: str) -> list[str]:
    return [piece for line in (text.splitlines() or [""]) for piece in _pieces(line)]


def plain_html(text: str) -> tuple[str, str]:
    """One element per line, so each tile's text is exactly the lines it shows."""
    return "".join(f"<div class=l>{esc(line)}</div>" for line in _lines(text)), _PLAIN_CSS


def markdown_html(text: str) -> tuple[str, str]:
    """CommonMark plus tables and strikethrough; raw HTML in Markdown is shown as text, not run. A
    paragraph longer than BLOCK_CHARS goes on as a new paragraph."""
    from markdown_it import MarkdownIt

    if len(text) > BLOCK_CHARS:
        out, run = [], 0
        for line in _lines(text):
            if not line.strip():
                run = 0
            elif run + len(line) > BLOCK_CHARS:
                out.append("")
                run = 0
            run += len(line)
            out.append(line)
        text = "\n".join(out)
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
    return md.render(text), ""


def code_html(text: str, filename: str) -> tuple[str, str]:
    """Syntax-highlighted with pygments (inline styles); plain lines if no lexer fits."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_for_filename(filename, stripnl=False, stripall=False)
    except ClassNotFound:
        lexer = TextLexer()
    body = highlight(text, lexer, HtmlFormatter(noclasses=True, style="default", nobackground=True))
    return body, _CODE_CSS


# sub-format of a text source by ending; anything else in the 'text' kind is source code
_FORMATS = {
    ".md": lambda text, name: markdown_html(text),
    ".markdown": lambda text, name: markdown_html(text),
    ".txt": lambda text, name: plain_html(text),
    ".rst": lambda text, name: plain_html(text),
}


def text_page(text: str, filename: str) -> str:
    """The whole HTML page for a text source's content."""
    to_html = _FORMATS.get(suffix_of(filename), code_html)
    body, css = to_html(text, os.path.basename(filename))
    header = f"<div class=shotdex-source>{esc(os.path.basename(filename))}</div>"
    return document(header + body, css, title=os.path.basename(filename))


def max_chars(settings) -> int:
    """Enough characters to fill every allowed tile with short lines, and then some."""
    lines = settings.max_tiles * (settings.tile_height // 20 + 1)
    return lines * 160


def render_text(job: Job) -> None:
    """Render a .txt / .md / source file into tiles."""
    from .sniff import gz_inner_name, read_sniffed_text

    limit = max_chars(job.settings)
    text, truncated = read_sniffed_text(job.source, job.warnings, limit) or read_text(job.source, job.warnings, limit)
    if truncated:
        job.warn(f"text longer than {limit} characters; the rest is left out")
    name = os.path.join(os.path.dirname(job.source), gz_inner_name(job.source))  # notes.md.gz shows as notes.md
    job.page.set_content(text_page(text, name), wait_until="load")
    capture_page(job, what="text")
