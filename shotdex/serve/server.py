"""Running the app: uvicorn on a socket we bind ourselves (so port 0 works and a busy port is one clear
error), the address recorded in the db folder for the CLI, removed again on the way out."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ServeError, SettingsError
from .client import remove_record, write_record
from .guard import is_loopback

__all__ = ["Running", "start", "serve_forever", "check_bind"]


def check_bind(host: str, token: str | None) -> str | None:
    """The token to require: a non-loopback address must have one (argument, else $SHOTDEX_TOKEN)."""
    token = token or os.environ.get("SHOTDEX_TOKEN") or None
    if not is_loopback(host) and not token:
        raise ServeError(f"--host {host} is reachable from other machines: give --token TOKEN (or set SHOTDEX_TOKEN)")
    return token


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # replies are small writes: no Nagle wait on keep-alive
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else (f"[{host}]" if ":" in host else host))
    return f"http://{shown}:{port}/"


@dataclass
class Running:
    """A server started by start(): its address, and stop()."""

    url: str
    host: str
    port: int
    server: object
    thread: threading.Thread
    db: Path

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        remove_record(self.db, self.url)


def _prepare(index, host: str, port: int, token: str | None, max_body: int | None):
    import uvicorn

    from .app import MAX_UPLOAD, create_app

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise SettingsError(f"port must be a whole number from 0 to 65535, not {port!r}")
    if not index.store.exists:
        raise ServeError(f"no index at {index.store.folder}: run `shotdex index SRC... --db {index.store.folder}` first")
    token = check_bind(host, token)
    index.embedder  # load the model once, now, so the first query is as fast as the rest  # noqa: B018
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    app = create_app(index, host=host, port=port, token=token, max_body=max_body or MAX_UPLOAD)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5)
    return uvicorn.Server(config), sock, port, token


def start(index, host: str = "127.0.0.1", port: int = 0, token: str | None = None, max_body: int | None = None,
          record: bool = True) -> Running:
    """Serve index on a background thread (tests, scripts); returns once it answers."""
    server, sock, port, token = _prepare(index, host, port, token, max_body)
    url = _url(host, port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="shotdex-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        raise ServeError(f"the server on {url} did not start")
    db = index.store.folder
    if record:
        write_record(db, url=url, model=index.model, token=token is not None)
    return Running(url, host, port, server, thread, db)


def serve_forever(index, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
                  open_browser: bool = False, on_ready=None) -> None:
    """Serve index until Ctrl-C (or SIGTERM); the address record is removed on the way out."""
    server, sock, port, token = _prepare(index, host, port, token, None)
    url = _url(host, port)
    db = index.store.folder
    write_record(db, url=url, model=index.model, token=token is not None)
    previous = None
    if threading.current_thread() is threading.main_thread():
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it: let that end here, like Ctrl-C,
        # so the record is removed, instead of the default action killing the process on the spot.
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if on_ready is not None:
            on_ready(url)
        if open_browser:
            import webbrowser

            threading.Timer(0.5, webbrowser.open, [url + (f"?token={token}" if token else "")]).start()
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has shut down gracefully and re-raised the signal it caught
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        remove_record(db, url)
        sock.close()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt
