"""The ASGI app over one shotdex.Index: the page (/, /source, /status, /docs) and the JSON API (/api/...).

A thin layer, as the CLI is: every answer comes from the Index (search, stats) or its rows (tiles,
sources); nothing is read from a path a request names. The Index is opened once and its embedder loaded
once; the Index guards its lazy embedder and query renderer, so the thread pool may search at once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import QueryError, ShotdexError
from . import pages
from .data import NotFound, Query, check_k, decode_base64, decode_upload, run_query, source_view, tile_picture
from .guard import Guard

__all__ = ["create_app", "MAX_UPLOAD"]

MAX_UPLOAD = 20 * 1024 * 1024  # bytes in one request body (an image query)
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _flag(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise QueryError(f"{name} must be true or false, not {value!r}")


def _kinds(values) -> tuple[str, ...]:
    out: list[str] = []
    for v in values if isinstance(values, (list, tuple)) else [values]:
        if v is None:
            continue
        if not isinstance(v, str):
            raise QueryError("kind must be a string or a list of strings")
        out += [x.strip() for x in v.split(",") if x.strip()]
    return tuple(out)


def query_from(params, image=None) -> Query:
    """A Query from URL parameters or form fields (a Starlette multi-dict)."""
    return Query(
        q=params.get("q"), like=params.get("like") or None, k=check_k(params.get("k") or 10),
        kind=_kinds(params.getlist("kind")), where=params.get("where") or None,
        tiles=bool(_flag(params.get("tiles"), "tiles")), hybrid=_flag(params.get("hybrid"), "hybrid"),
        render_query=bool(_flag(params.get("render_query"), "render_query")), image=image,
    )


def _query_from_json(body, max_pixels: int) -> Query:
    if not isinstance(body, dict):
        raise QueryError("the JSON body must be an object")
    image = decode_upload(decode_base64(body["image"]), max_pixels) if body.get("image") is not None else None
    for key in ("q", "like", "where"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise QueryError(f"{key} must be a string")
    return Query(
        q=body.get("q"), like=body.get("like"), k=check_k(body.get("k", 10)), kind=_kinds(body.get("kind")),
        where=body.get("where"), tiles=bool(body.get("tiles", False)), hybrid=body.get("hybrid"),
        render_query=bool(body.get("render_query", False)), image=image,
    )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(index, *, host: str = "127.0.0.1", port: int = 8765, token: str | None = None, max_body: int = MAX_UPLOAD):
    """The app for one open Index, behind the Guard (Host, token, body size, headers)."""
    from .guard import allowed_hosts

    api = FastAPI(title="shotdex", version=__version__, docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    max_pixels = index.settings.max_image_pixels

    @api.exception_handler(QueryError)
    async def _bad_query(request, exc):
        return _error(400, str(exc))

    @api.exception_handler(NotFound)
    async def _not_found(request, exc):
        return _error(404, str(exc))

    @api.exception_handler(ShotdexError)
    async def _shotdex(request, exc):
        return _error(500, str(exc))

    @api.exception_handler(StarletteHTTPException)
    async def _http(request, exc):
        return _error(exc.status_code, str(exc.detail) if exc.detail else "error")

    @api.exception_handler(RequestValidationError)
    async def _invalid(request, exc):
        return _error(400, "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()))

    def hits_json(hits, t0: float) -> dict:
        # positions: for people, each hit's page and tile within that page, from 1 (what the CLI prints)
        return {"hits": [dataclasses.asdict(h) for h in hits], "positions": index.positions(hits),
                "took_ms": round((time.perf_counter() - t0) * 1000, 1)}

    # -- the JSON API ---------------------------------------------------------------------------
    @api.get("/api/search")
    def api_search(request: Request):
        """Search: q (text) or like (a tile id: its image), k, kind (repeatable or comma list), where (SQL
        filter on tile metadata), tiles (one hit per tile), hybrid, render_query. Hits have the fields
        of `shotdex search --json`."""
        t0 = time.perf_counter()
        return hits_json(run_query(index, query_from(request.query_params)), t0)

    @api.post("/api/search")
    async def api_search_post(request: Request):
        """Search with an image: multipart (field image, plus the GET parameters as fields) or JSON
        {"image": base64, "k", "kind", "where", "tiles", ...}; JSON may also carry q or like instead."""
        t0 = time.perf_counter()
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            query = await _form_query(request, max_pixels)
        elif ctype.startswith("application/json"):
            try:
                body = json.loads(await request.body())
            except ValueError:
                raise QueryError("the body is not valid JSON") from None
            query = await run_in_threadpool(_query_from_json, body, max_pixels)
        else:
            raise QueryError("POST a multipart form with an image field, or JSON with a base64 image")
        return hits_json(await run_in_threadpool(run_query, index, query), t0)

    @api.get("/api/tiles/{tile_id}")
    def api_tile(tile_id: str, q: str | None = None, w: int | None = None):
        """One stored tile as an image: the stored WebP, or with q (words outlined) or w (width) a JPEG."""
        data, media = tile_picture(index, tile_id, q, w)
        return Response(data, media_type=media, headers={"cache-control": "private, max-age=3600"})

    @api.get("/api/sources/{source:path}")
    def api_source(source: str):
        """One source's kind, status (and failure reason) and its tiles in order (ids for /api/tiles)."""
        return source_view(index, source)

    @api.get("/api/status")
    def api_status():
        """What `shotdex status --json` prints: sources and tiles by kind, failures, model, size on disk."""
        return dataclasses.asdict(index.stats())

    @api.get("/api/health")
    def api_health():
        """Which index this server serves (the CLI checks this before sending it a query)."""
        return {"shotdex": __version__, "db": str(index.store.folder.resolve() if hasattr(index.store.folder, "resolve") else index.store.folder), "model": index.model,
                "pid": os.getpid(), "token": token is not None}

    # -- the page -------------------------------------------------------------------------------
    def html(text: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(text, status_code=status, headers={"cache-control": "no-store"})

    @api.get("/", include_in_schema=False)
    def page_search(request: Request):
        try:
            query = query_from(request.query_params)
            if query.q is None and query.like is None:
                return html(pages.results_page(query, None))
            return html(pages.results_page(query, run_query(index, query)))
        except (QueryError, NotFound) as exc:
            return html(pages.results_page(Query(q=request.query_params.get("q")), None, error=str(exc)), 400 if isinstance(exc, QueryError) else 404)

    @api.post("/", include_in_schema=False)
    async def page_image_search(request: Request):
        try:
            form = await request.form(max_files=1, max_fields=50)
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                raise QueryError("choose an image to search with")
            data = await upload.read()
            query = query_from(form, image=await run_in_threadpool(decode_upload, data, max_pixels))
            query = dataclasses.replace(query, q=None, like=None)
            hits = await run_in_threadpool(run_query, index, query)
            return html(await run_in_threadpool(pages.results_page, query, hits, None, data))
        except QueryError as exc:
            return html(pages.results_page(Query(), None, error=str(exc)), 400)

    @api.get("/source", include_in_schema=False)
    def page_source(s: str = "", hit: str | None = None, q: str | None = None):
        try:
            return html(pages.source_page(source_view(index, s), hit, q))
        except NotFound as exc:
            return html(pages.error_page(str(exc)), 404)

    @api.get("/status", include_in_schema=False)
    def page_status():
        return html(pages.status_page(index.stats()))

    @api.get("/docs", include_in_schema=False)
    def page_docs():
        routes = [(",".join(sorted(r.methods)), r.path, " ".join((r.endpoint.__doc__ or "").split()))
                  for r in api.routes if getattr(r, "path", "").startswith("/api/") and getattr(r, "include_in_schema", False)]
        return html(pages.docs_page(routes))

    @api.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        found = pages.static_file(name)
        if found is None:
            raise NotFound(f"no asset {name!r}")
        return Response(found[0], media_type=found[1], headers={"cache-control": "no-cache"})

    return Guard(api, hosts=allowed_hosts(host, port), token=token, max_body=max_body)


async def _form_query(request: Request, max_pixels: int) -> Query:
    form = await request.form(max_files=1, max_fields=50)
    upload = form.get("image")
    if upload is None or isinstance(upload, str):
        raise QueryError("the form has no image file (field 'image')")
    image = await run_in_threadpool(decode_upload, await upload.read(), max_pixels)
    return query_from(form, image=image)
