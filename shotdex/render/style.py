"""The look of every page shotdex generates: explicit fonts (Debian fonts-dejavu-core and
fonts-liberation), fixed width, no motion. Inline CSS only, so generated pages load nothing."""

from __future__ import annotations

import html

__all__ = ["SANS", "MONO", "SERIF", "document", "esc"]

SANS = '"DejaVu Sans", "Liberation Sans", Arial, sans-serif'
MONO = '"DejaVu Sans Mono", "Liberation Mono", "Courier New", monospace'
SERIF = '"DejaVu Serif", "Liberation Serif", "Times New Roman", serif'

_BASE_CSS = f"""
*, *::before, *::after {{ animation: none !important; transition: none !important; caret-color: transparent; }}
html {{ background: #fff; }}
body {{ margin: 0; padding: 28px 36px; font: 17px/1.5 {SANS}; color: #111; background: #fff;
        overflow-wrap: anywhere; -webkit-font-smoothing: antialiased; }}
pre, code {{ font-family: {MONO}; font-size: 15px; }}
pre {{ white-space: pre-wrap; margin: 0; }}
h1, h2, h3, h4 {{ font-family: {SANS}; line-height: 1.25; margin: 0.8em 0 0.4em; }}
h1 {{ font-size: 30px; }} h2 {{ font-size: 24px; }} h3 {{ font-size: 20px; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #bbb; padding: 3px 7px; vertical-align: top; }}
th {{ background: #eef1f5; }}
blockquote {{ margin: 0.5em 0; padding-left: 1em; border-left: 4px solid #ccc; color: #444; }}
img {{ max-width: 100%; }}
.shotdex-source {{ font: 13px/1.3 {SANS}; color: #666; margin-bottom: 12px; }}
"""


def esc(text) -> str:
    """HTML-escape any value for a text node or attribute."""
    return html.escape("" if text is None else str(text), quote=True)


def document(body: str, css: str = "", title: str = "") -> str:
    """A full HTML document with the base style, optional extra CSS, and the given body HTML."""
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(title)}</title><style>{_BASE_CSS}{css}</style></head>"
        f"<body>{body}</body></html>"
    )
