"""Worker processes for a tile's chain (read -> embed -> encode), so that the local runner's workers do
not share one interpreter lock.

On threads, the readers' Python between the numpy calls (line finding, word assembly, the sentence
model's glue) queues on the GIL: py-spy measured it held ~35% of the wall time, which kept
`shotdex index` at 0.72 of the cores' limit (pipeline_speed.md). Here each read worker of the runner
owns one child process (`python -m shotdex.index.procs`) that rebuilds the same embedder from its name
and options (its fingerprint must match, as on a Ray worker) and runs ReadStage, EmbedStage and
EncodeStage on the tiles it is sent: the tile's pixels go down a socket (~2.4 MB, ~1 ms), its reading,
vector and WebP bytes come back (~50 KB). The stages are the same objects the threads run, so the rows
are identical.

The first child is a plain subprocess, not multiprocessing: it never imports the caller's __main__ (a
library user's script without a main guard is safe). It imports what a chain needs (torch's import is
~1 of the ~1.5 CPU-s a chain took to start) and forks the others before it runs any thread or loads
any model, so a run pays those imports once; each then loads its own models. A child dies with the
process that started it (Linux's parent death signal, and end of file on its socket everywhere),
ignores Ctrl-C (the runner stops it), and runs BLAS on one thread (the processes are the parallelism).
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from ..errors import EmbedderError

__all__ = ["ChainProcess", "die_with_parent", "start_chain_processes"]

READY_TIMEOUT_S = 120.0  # a child imports numpy and loads the models: ~1 s here, far more on a cold disk


@dataclass
class _Init:
    name: str
    settings: object
    options: dict
    fingerprint: str


class ChainProcess:
    """One child process running read + embed + encode; call it from one thread at a time."""

    def __init__(self, conn: Connection, proc: subprocess.Popen | None = None):
        self.conn = conn
        self.proc = proc  # the process started for the run (the first chain); the others are its forks
        self.ready = False
        self.failed = ""  # why the child could not make the embedder

    def wait_ready(self, stop=None) -> str:
        """Wait for the child to have its embedder: "" once it has (or when stopped), the child's
        message when it could not make it (the caller may read on its own threads instead). A child
        that dies meanwhile (killed from outside) raises EmbedderError: that is no reason to go on."""
        if not self.ready and not self.failed:
            msg = self._recv(stop, READY_TIMEOUT_S)
            if msg is not None and msg[0] == "error":
                self.failed = msg[1]  # the child has exited: asking again gives the same answer
            self.ready = msg is not None and not self.failed
        return self.failed

    def __call__(self, row, stop=None):
        """Fill row's reading, embedding and image (the tile's pixels are let go); None if stopped."""
        why = self.wait_ready(stop)
        if why:
            raise EmbedderError(why)
        img = row.tile.image
        try:
            self.conn.send_bytes(pickle.dumps((img.mode, img.size, row.tile.kind), protocol=5))
            self.conn.send_bytes(img.tobytes())
        except OSError:  # the child is gone (killed from outside): a broken pipe, not a bug of ours
            raise self._ended() from None
        msg = self._recv(stop)
        if msg is None:
            return None
        if msg[0] == "error":
            raise msg[1]
        _, row.reading, row.embedding, row.image = msg
        row.tile.image = None
        return row

    def _recv(self, stop, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                if self.conn.poll(0.1):
                    return pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError):
                raise self._ended() from None
            if stop is not None and stop.is_set():
                return None
            if deadline is not None and time.monotonic() > deadline:
                raise EmbedderError(f"a read worker process did not start within {timeout:.0f} s")

    def _ended(self) -> EmbedderError:
        code = "unknown"  # a fork's status is its parent's to collect, not ours
        if self.proc is not None:
            try:
                code = self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        return EmbedderError(f"a read worker process ended (exit code {code})")

    def close(self) -> None:
        """End the child (at once: it holds nothing that must be saved). A fork ends on its socket's
        end of file, and with the first chain (its parent death signal)."""
        try:
            self.conn.close()
        except OSError:
            pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_chain_processes(embedder, settings, n: int) -> list[ChainProcess]:
    """n children for the runner's read workers, started now (they load while the first tiles render):
    one interpreter that imports what a chain needs (torch's ~1 CPU-s most of it) and then forks the
    others, so the imports are paid once per run, not once per worker. Each loads its own models."""
    init = pickle.dumps(_Init(embedder.name, settings, dict(embedder.options), embedder.fingerprint))
    pairs = [socket.socketpair() for _ in range(n)]
    pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (pkg_root, os.environ.get("PYTHONPATH")) if p),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")  # no BLAS threads: forks stay safe
    fds = [child.fileno() for _, child in pairs]
    proc = subprocess.Popen([sys.executable, "-m", "shotdex.index.procs", *map(str, fds)], pass_fds=fds, env=env,
                            stdin=subprocess.DEVNULL, close_fds=True)
    chains = []
    for i, (parent, child) in enumerate(pairs):
        child.close()
        chain = ChainProcess(Connection(parent.detach()), proc if i == 0 else None)
        chain.conn.send_bytes(init)
        chains.append(chain)
    return chains


def die_with_parent() -> None:
    """Call in a child process: the kernel kills it when the thread that started it ends (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _serve(conn: Connection, init: _Init | None = None) -> None:
    from PIL import Image

    from ..embed import get_embedder
    from ..embed.sentence import one_blas_thread
    from ..render.types import Tile
    from .pipeline import EmbedStage, EncodeStage, ReadStage, SourceJob, TileRow

    if init is None:
        init = pickle.loads(conn.recv_bytes())
    with one_blas_thread():
        try:
            emb = get_embedder(init.name, init.settings.replace(ocr_workers=1), options=init.options)
            if emb.fingerprint != init.fingerprint:
                raise EmbedderError(f"the worker's {init.name} embedder differs from the caller's")
            read, embed, encode = ReadStage(emb), EmbedStage(emb), EncodeStage()
            _ = emb.model if hasattr(emb, "model") else None  # load now, not on the first tile
            _ = emb.tile_precision if hasattr(emb, "tile_precision") else None  # and the bf16 twin
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which falls back to threads
            conn.send_bytes(pickle.dumps(("error", f"{type(exc).__name__}: {exc}")))
            return
        conn.send_bytes(pickle.dumps(("ready",)))
        job = SourceJob("", 0, 0.0)
        while True:
            try:
                mode, size, kind = pickle.loads(conn.recv_bytes())
                pixels = conn.recv_bytes()
            except (EOFError, OSError):
                return
            try:
                tile = Tile(Image.frombytes(mode, size, pixels), "", kind, 0, 0, 0, 0, 0, 0, 0, 0, "", "")
                row = encode(embed([read(TileRow(job, tile))])[0])
                out = ("ok", row.reading, row.embedding, row.image)
            except Exception as exc:  # noqa: BLE001 - raised again in the parent's thread
                try:
                    pickle.dumps(exc)
                except Exception:  # noqa: BLE001
                    exc = RuntimeError(f"{type(exc).__name__}: {exc}")
                out = ("error", exc)
            conn.send_bytes(pickle.dumps(out, protocol=5))


def _preload(init: _Init) -> None:
    """Import, before forking, what every chain would import on its own."""
    import PIL.Image  # noqa: F401

    from ..embed import reader  # noqa: F401  (the embed package with it)
    from . import pipeline  # noqa: F401

    if init.settings.embed_precision != "fp32":
        from ..embed.bf16_bert import supported

        supported()  # imports torch where it is installed


def _start_others(fds: list[int]) -> list:
    """One chain per further socket: a fork of this process when it runs no thread yet (a fork of a
    threaded process can inherit a lock held by a thread that is not copied), else a fresh one.
    Returns them (pids of forks, Popen objects) to wait for."""
    try:
        forkable = hasattr(os, "fork") and len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc: no way to be sure
        forkable = False
    others = []
    for i, fd in enumerate(fds[1:], 1):
        if not forkable:
            others.append(subprocess.Popen([sys.executable, "-m", "shotdex.index.procs", str(fd)], pass_fds=(fd,),
                                           close_fds=True, stdin=subprocess.DEVNULL))
        elif (pid := os.fork()) == 0:
            code = 1
            try:
                for other in [fds[0], *fds[i + 1:]]:  # the others' sockets (those before it are closed)
                    os.close(other)
                die_with_parent()
                _serve(Connection(fd))
                code = 0
            finally:
                os._exit(code)  # never back into the parent's code
        else:
            others.append(pid)
        os.close(fd)
    return others


if __name__ == "__main__":
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fds = [int(a) for a in sys.argv[1:]]
    first = Connection(fds[0])
    init = pickle.loads(first.recv_bytes())
    _preload(init)
    others = _start_others(fds)
    _serve(first, init)
    # The others die with this process: when it could not make the embedder, it waits for them to say
    # so themselves (the caller then reads on threads) rather than have them cut off mid-answer.
    for other in others:
        try:
            other.wait() if isinstance(other, subprocess.Popen) else os.waitpid(other, 0)
        except ChildProcessError:
            pass
