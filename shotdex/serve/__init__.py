"""`shotdex serve`: a local web page and JSON API over one shotdex.Index.

    import shotdex
    from shotdex.serve import start
    running = start(shotdex.open(db="my-db"))   # 127.0.0.1, a free port, on a background thread
    print(running.url); ...; running.stop()

app (the ASGI app), guard (Host, token, body size), data (what is read from the index), pages (the
HTML), server (uvicorn, the address record), client (the CLI's path through a running server). Only
client is light: fastapi and uvicorn load when a server starts.
"""

from __future__ import annotations

__all__ = ["create_app", "start", "serve_forever", "server_search", "find_server"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in {"start", "serve_forever"}:
        from . import server

        return getattr(server, name)
    if name in {"server_search", "find_server"}:
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module 'shotdex.serve' has no attribute {name!r}")
