"""Helpers shared by test_reliability.py and test_security.py: the CLI as a subprocess, a counting HTTP
server, and direct reads of a database folder."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SHOTDEX = [sys.executable, "-m", "shotdex.cli"]
TOY = {"SHOTDEX_PLUGINS": "toy_embedder", "SHOTDEX_MODEL": "toy"}


def cli_env(extra: dict | None = None) -> dict:
    env = dict(os.environ, LANCEDB_LOG="error", HF_HUB_OFFLINE="1", PYTHONPATH=str(TESTS))
    for key in list(env):
        if key.startswith("SHOTDEX_"):
            del env[key]  # the caller's own settings must not leak into a test run
    env.update(extra or {})
    return env


def run_cli(*args, env=None, timeout=600, prefix=()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, *SHOTDEX, *map(str, args)], capture_output=True, text=True,
                          env=cli_env(env), timeout=timeout, cwd=ROOT)


def start_cli(*args, env=None, **kw) -> subprocess.Popen:
    """`shotdex ...` in its own session (so its Chromium can be found and cleaned up as a group)."""
    return subprocess.Popen([*SHOTDEX, *map(str, args)], env=cli_env(env), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=_as_in_a_terminal, **kw)


def _as_in_a_terminal() -> None:
    """Ctrl-C as a terminal's foreground process gets it: a child inherits an ignored or blocked SIGINT
    (something earlier in this pytest process may ignore it), and Python then never raises
    KeyboardInterrupt."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def kill_group(pid: int) -> None:
    import signal

    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def descendants(pid: int) -> list[int]:
    """Every live process below pid (via /proc)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parent[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                pass
    out, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        frontier += kids
    return out


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def chromium_main_pids(pid: int) -> list[int]:
    """The browser process(es) (not renderers/zygotes) that a shotdex process started."""
    return [p for p in descendants(pid) if b"--shotdex-run=" in cmdline(p) and b"--type=" not in cmdline(p)]


class CountingServer:
    """A 127.0.0.1 HTTP server that records every request; /away redirects to `redirect_to`."""

    def __init__(self, body: bytes = b"<html><body><h1>Served page</h1><p>from the loopback server</p></body></html>"):
        hits: list[str] = []
        self.hits = hits
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                if self.path.startswith("/away"):
                    self.send_response(302)
                    self.send_header("Location", outer.redirect_to)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_HEAD = do_GET  # noqa: N815

            def log_message(self, *a):
                pass

        self.redirect_to = "http://example.invalid/"
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.srv.server_port}"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


# ----------------------------------------------------------------------------- reading a database
def tile_rows(db: Path, columns=("id", "source", "content_hash")) -> list[dict]:
    from shotdex.index.store import Store

    store = Store(Path(db))
    return store.tiles.to_arrow().select(list(columns)).to_pylist()


def source_rows(db: Path) -> dict[str, dict]:
    from shotdex.index.store import Store

    return Store(Path(db)).source_rows()


def check_consistent(db: Path) -> dict[str, list[str]]:
    """The db opens; no tile id twice; every source's tiles come from one content hash. Returns
    {source: sorted tile ids}."""
    rows = tile_rows(db)
    dup = [i for i, n in Counter(r["id"] for r in rows).items() if n > 1]
    assert not dup, f"duplicate tile ids: {dup[:5]}"
    hashes: dict[str, set] = {}
    ids: dict[str, list[str]] = {}
    for r in rows:
        hashes.setdefault(r["source"], set()).add(r["content_hash"])
        ids.setdefault(r["source"], []).append(r["id"])
    mixed = {s: h for s, h in hashes.items() if len(h) > 1}
    assert not mixed, f"sources with tiles of two versions: {list(mixed)[:5]}"
    return {s: sorted(v) for s, v in ids.items()}
