"""The page, rendered on the server: search results, one source's tiles, the index's status, the API.

Plain HTML from one template (templates/page.html) and escaped values; static/app.js adds only image
queries by drop and paste. Every link keeps a search's state in its URL, so a search can be bookmarked.
"""

from __future__ import annotations

import base64
import io
import os
from functools import lru_cache
from html import escape
from importlib import resources
from string import Template
from urllib.parse import urlencode

from ..render.types import KINDS

__all__ = ["results_page", "source_page", "status_page", "docs_page", "error_page", "static_file"]

STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"}


@lru_cache(maxsize=None)
def _template() -> Template:
    return Template(resources.files(__package__).joinpath("templates/page.html").read_text("utf-8"))


@lru_cache(maxsize=None)
def static_file(name: str) -> tuple[bytes, str] | None:
    """(bytes, media type) of one of the package's own assets; None for any other name."""
    if name not in STATIC:
        return None
    return resources.files(__package__).joinpath("static", name).read_bytes(), STATIC[name]


def _page(title: str, body: str, query=None) -> str:
    from .data import Query

    query = query or Query()
    kinds = "".join(
        f'<label><input type="checkbox" name="kind" value="{k}"{" checked" if k in query.kind else ""}> {k}</label>' for k in KINDS
    )
    return _template().substitute(
        title=escape(title), body=body, q=escape(query.q or ""), k=query.k, kinds=kinds,
        tiles_checked=" checked" if query.tiles else "", tiles_value="1" if query.tiles else "",
        opts_open=" open" if (query.kind or query.tiles or query.k != 10) else "",
        kind_hidden="".join(f'<input type="hidden" name="kind" value="{escape(k)}">' for k in query.kind),
    )


def _short(source: str) -> str:
    if "://" in source:
        return source
    home = os.path.expanduser("~")
    return "~" + source[len(home):] if home != "/" and source.startswith(home + os.sep) else source


def _card(h, query, text_for_outline: str | None) -> str:
    q = {"q": text_for_outline} if text_for_outline else {}
    thumb = f"/api/tiles/{h.tile_id}?" + urlencode({**q, "w": 480})
    source_link = "/source?" + urlencode({"s": h.source, "hit": h.tile_id, **q}) + f"#t-{h.tile_id}"
    like = "/?" + urlencode(query.url_params(q=None, like=h.tile_id, k=query.k if query.k >= 10 else 10))
    where = f"p{h.page + 1} t{h.tile + 1}"
    return (
        f'<li class="hit" id="r{h.rank}" data-source="{escape(h.source)}" data-tile="{h.tile_id}">'
        f'<a class="thumb" href="{escape(source_link)}"><img src="{escape(thumb)}" alt="tile {where} of {escape(h.source)}" '
        f'width="{max(1, h.w)}" height="{max(1, h.h)}" loading="lazy"></a>'
        f'<div class="meta"><span class="rank">#{h.rank}</span><span class="score">{h.score:.3f}</span>'
        f'<span class="kind">{escape(h.kind)}</span></div>'
        f'<div class="src" title="{escape(h.source)}">{escape(_short(h.source))} · {where}</div>'
        f'<p class="snippet">{escape(h.snippet)}</p>'
        f'<div class="actions"><a class="like" href="{escape(like)}">more like this</a>'
        f'<a class="open" href="{escape(source_link)}">source</a></div></li>'
    )


def results_page(query, hits, error: str | None = None, image_bytes: bytes | None = None) -> str:
    """The search page: the form, then the hits as a grid (or the error, or a blank start)."""
    if error:
        return _page("error", f'<p class="error" role="alert">{escape(error)}</p>', query)
    if hits is None:
        return _page("search", '<p class="summary">Type a query, or choose, drop or paste an image.</p>', query)
    what = f"“{escape(query.q)}”" if query.q else ("this tile" if query.like else "the image")
    lead = ""
    if query.like:
        lead = f'<img class="query-image" src="/api/tiles/{escape(query.like)}?w=240" alt="query tile">'
    elif image_bytes is not None:
        lead = f'<img class="query-image" src="data:image/jpeg;base64,{_preview(image_bytes)}" alt="query image">'
    summary = f'<p class="summary">{lead}{len(hits)} result{"s" if len(hits) != 1 else ""} for {what}'
    if query.q or query.like:
        summary += f' · <a class="bookmark" href="/?{escape(urlencode(query.url_params()))}">link to this search</a>'
    summary += "</p>"
    outline = query.q if query.q and not query.render_query else None
    cards = "".join(_card(h, query, outline) for h in hits)
    body = summary + (f'<ol class="grid" id="results">{cards}</ol>' if hits else '<p>no results</p>')
    if hits and len(hits) >= query.k and (query.q or query.like) and query.k < 1000:
        more = "/?" + urlencode(query.url_params(k=min(1000, query.k + 10))) + f"#r{query.k + 1}"
        body += f'<a class="more" id="more" href="{escape(more)}">load more</a>'
    return _page(query.q or "image search", body, query)


def _preview(data: bytes) -> str:
    """A small JPEG of the uploaded query image, inline (the server keeps no uploads)."""
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    img.thumbnail((320, 240))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode()


def source_page(view: dict, hit: str | None, q: str | None) -> str:
    """Every tile of one source in order, the hit's tile highlighted."""
    figs = []
    for t in view["tiles"]:
        src = f"/api/tiles/{t['id']}?" + urlencode({**({"q": q} if q else {}), "w": 960})
        cls = "tile hit-tile" if t["id"] == hit else "tile"
        figs.append(
            f'<figure class="{cls}" id="t-{t["id"]}"><img src="{escape(src)}" alt="page {t["page"] + 1} tile {t["tile"] + 1}" '
            f'width="{max(1, t["w"])}" height="{max(1, t["h"])}" loading="lazy">'
            f'<figcaption>page {t["page"] + 1} · tile {t["tile"] + 1}{" · " + escape(t["label"]) if t["label"] else ""}'
            f'{" · <b>hit</b>" if t["id"] == hit else ""}</figcaption></figure>'
        )
    status = escape(view["status"]) + (f": {escape(view['reason'])}" if view["reason"] else "")
    back = f' · <a href="/?{escape(urlencode({"q": q}))}">back to results</a>' if q else ""
    head = (
        f'<div class="source-head"><h1 id="source-path">{escape(view["source"])}</h1>'
        f'<p class="summary"><span class="kind">{escape(view["kind"])}</span> · status <span id="source-status">{status}</span>'
        f' · {len(view["tiles"])} tiles{back}</p></div>'
    )
    return _page(os.path.basename(view["source"].rstrip("/")) or view["source"], head + f'<div class="tiles">{"".join(figs)}</div>')


def status_page(stats) -> str:
    """Sources and tiles by kind, failures with their reasons, the model, size on disk."""
    rows = "".join(
        f'<tr><td>{escape(k)}</td><td class="n">{c["sources"]}</td><td class="n">{c["tiles"]}</td></tr>'
        for k, c in sorted(stats.by_kind.items())
    )
    failed = "".join(
        f'<li><a href="/source?{escape(urlencode({"s": f["source"]}))}">{escape(f["source"])}</a>: {escape(f["reason"] or "")}</li>'
        for f in stats.failed
    )
    body = (
        f'<h1>Index</h1><table class="stats"><tr><th>folder</th><td>{escape(stats.db)}</td></tr>'
        f'<tr><th>model</th><td>{escape(stats.model)} ({escape(stats.fingerprint[:12])}, dim {stats.dim})</td></tr>'
        f'<tr><th>sources</th><td>{stats.sources}</td></tr><tr><th>tiles</th><td>{stats.tiles}</td></tr>'
        f'<tr><th>on disk</th><td>{stats.bytes_on_disk / 1e6:.1f} MB</td></tr>'
        f'<tr><th>vector index</th><td>{"yes" if stats.vector_index else "no (exact search)"}</td></tr></table>'
        f'<h2>By kind</h2><table class="stats" id="by-kind"><tr><th>kind</th><th>sources</th><th>tiles</th></tr>{rows}</table>'
        f'<h2>Failed sources ({len(stats.failed)})</h2>' + (f'<ul id="failed">{failed}</ul>' if failed else "<p>none</p>")
    )
    return _page("status", body)


def docs_page(routes: list[tuple[str, str, str]]) -> str:
    """The JSON API, listed from the app's own routes and their docstrings."""
    items = "".join(f"<dt>{escape(m)} {escape(p)}</dt><dd>{escape(d)}</dd>" for m, p, d in routes)
    return _page("API", f'<h1>JSON API</h1><dl class="api">{items}</dl>'
                        '<p>Errors are JSON <code>{"error": "..."}</code> with a 4xx status. '
                        'The OpenAPI schema: <a href="/api/openapi.json">/api/openapi.json</a>.</p>')


def error_page(message: str) -> str:
    return _page("error", f'<p class="error" role="alert">{escape(message)}</p>')


