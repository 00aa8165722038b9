"""The CLI's path through a running `shotdex serve`: find it from the record in the db folder, send it
the query, rebuild the hits. Standard library only, so a search through a server starts fast.

A record is stale (ignored) when its process is gone or the address does not answer as a server of this
same db. Anything the server cannot do as the local path would (--show, --url, another --model, an
unreadable --image, a token it needs and we lack) returns None: the caller searches locally.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import QueryError
from ..pids import pid_alive

__all__ = ["RECORD", "write_record", "remove_record", "find_server", "server_search"]

RECORD = "serve.json"
_TIMEOUT = 120.0  # one search (a rendered or image query on a cold CPU can take seconds)


def write_record(db: Path, *, url: str, model: str, token: bool) -> None:
    """Record this process's address in the db folder (atomically). An object-store db gets no record:
    a searcher elsewhere could not reach a loopback server anyway, so it searches the store itself."""
    if not isinstance(db, Path):
        return
    db = Path(db)
    tmp = db / f".{RECORD}.{os.getpid()}"
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "db": str(db.resolve()), "model": model, "token": token}))
    os.replace(tmp, db / RECORD)


def remove_record(db: Path, url: str) -> None:
    """Remove the record if it is still this process's (another server may have replaced it)."""
    if not isinstance(db, Path):
        return
    path = Path(db) / RECORD
    try:
        rec = json.loads(path.read_text())
        if rec.get("url") == url and rec.get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _request(url: str, token: str | None, data: bytes | None = None, timeout: float = _TIMEOUT):
    headers = {"content-type": "application/json"} if data is not None else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def find_server(db: Path) -> dict | None:
    """The record of a live server of this db (with its token from $SHOTDEX_TOKEN), or None."""
    if not isinstance(db, Path):
        return None
    try:
        rec = json.loads((db / RECORD).read_text())
        url = str(rec["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not url.startswith("http://") or not pid_alive(rec.get("pid")):
        return None
    token = os.environ.get("SHOTDEX_TOKEN") or None
    if rec.get("token") and not token:
        return None
    try:
        health = _request(url + "api/health", token, timeout=2.0)
    except (OSError, ValueError):
        return None
    if health.get("db") != str(db.resolve()) or health.get("pid") != rec.get("pid"):
        return None
    return {**rec, "model": health.get("model"), "token_value": token}


def server_search(settings, text=None, *, image=None, url=None, render_query=False, k=10, kind=None, where=None,
                  hybrid=None, tiles=False, show=None) -> tuple[list, dict] | None:
    """(hits, positions for people) from a running server of settings' db, or None when the local
    path must answer."""
    if show is not None or url is not None:
        return None
    server = find_server(settings.db_path)
    if server is None or (settings.model and settings.model != server["model"]):
        return None
    body = {"q": text, "k": k, "kind": list(kind or []), "where": where, "tiles": tiles, "hybrid": hybrid,
            "render_query": render_query}
    if image is not None:
        try:
            body["image"] = base64.b64encode(Path(image).read_bytes()).decode()
        except OSError:
            return None  # the local path names the file and why it cannot be read
    try:
        answer = _request(server["url"] + "api/search", server["token_value"], json.dumps(body).encode())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error")
        except (OSError, ValueError, AttributeError):
            message = None
        if 400 <= exc.code < 500 and message:
            raise QueryError(f"{image}: {message}" if image is not None and "image" in message else message) from None
        return None
    except (OSError, ValueError):
        return None
    positions = {tid: tuple(pt) for tid, pt in (answer.get("positions") or {}).items()}
    return [_hit(h) for h in answer.get("hits", [])], positions


def _hit(fields: dict):
    """A hit with the same fields, in the same order, as shotdex.Hit (without importing the index)."""
    cls = _HIT_CLASSES.get(tuple(fields))
    if cls is None:
        cls = _HIT_CLASSES[tuple(fields)] = dataclasses.make_dataclass("Hit", list(fields), frozen=True)
    return cls(**fields)


_HIT_CLASSES: dict = {}
