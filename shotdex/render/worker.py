"""Python-side readers in a child process with a time and a memory budget.

The watchdog can kill Chromium but not a Python loop or a C call inside openpyxl, pyarrow, json or
yaml. Table readers and chart specs therefore run in one long-lived child process (started on first
need, one per Renderer): its address space is capped with RLIMIT_AS (a reader that wants more gets
MemoryError there, not here), and a call that passes its deadline gets the child killed and replaced.
Either way the source fails with one line and the run goes on. The child dies with its parent (end
of input on its pipe, or a watch on its parent's pid).

Requests and replies are pickles over the child's stdin/stdout; only shotdex's own code is unpickled
on either side (the child is started from this module, the replies are plain data built here).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time

from ..errors import RenderError, SealedError, SourceError

__all__ = ["ReaderWorker", "TASKS"]

_LEN = struct.Struct(">Q")


def _task_read_table(source, limit, max_cols, deadline):
    from .table_read import read_table

    warnings: list[str] = []
    return read_table(source, limit, max_cols, warnings, deadline), warnings


def _task_chart_spec(source):
    from .chart_spec import load_chart_spec

    warnings: list[str] = []
    return load_chart_spec(source, warnings), warnings


TASKS = {"read_table": _task_read_table, "chart_spec": _task_chart_spec}


def _send(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LEN.pack(len(data)) + data)
    stream.flush()


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes | None:
    """n bytes from fd, or None at end of input; raises TimeoutError past deadline."""
    chunks, got = [], 0
    while got < n:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class ReaderWorker:
    """`worker.call(task, source, *args, deadline=...)` runs TASKS[task](source, *args) in the child
    and returns its result, or raises RenderError (over time, over memory, crashed, or the reader's
    own RenderError/SealedError)."""

    def __init__(self, memory_mb: int = 2048):
        self.memory_mb = memory_mb
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            # the child imports this very copy of shotdex, wherever it was imported from
            root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            path = os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p])
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "shotdex.render.worker", str(self.memory_mb)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
                env=dict(os.environ, PYTHONPATH=path),
            )
        return self._proc

    def close(self) -> None:
        """Stop the child (if one is running)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout=2)
            except Exception:  # noqa: BLE001 - a stuck child is killed instead
                proc.kill()
                proc.wait()

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def call(self, task: str, source: str, *args, deadline: float | None = None):
        proc = self._start()
        try:
            _send(proc.stdin, (task, source, args))
            head = _read_exact(proc.stdout.fileno(), _LEN.size, deadline)
            body = None if head is None else _read_exact(proc.stdout.fileno(), _LEN.unpack(head)[0], deadline)
        except TimeoutError:
            self.kill()
            raise RenderError(source, "reading took too long (over half the render time limit); stopped") from None
        except (BrokenPipeError, OSError):
            body = None
        if body is None:
            code = proc.wait()
            self._proc = None
            if code in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGBUS, -signal.SIGABRT):
                raise RenderError(source, f"the reader crashed on this file (signal {-code})")
            raise RenderError(source, f"the reader stopped on this file (exit {code})")
        reply = pickle.loads(body)
        if reply[0] == "ok":
            return reply[1]
        if reply[0] == "memory":
            self.kill()  # a process that hit its limit may be left fragmented: start afresh
            raise RenderError(source, f"reading needs more than {self.memory_mb} MB of memory; stopped")
        if reply[0] == "error":
            cls = SealedError if reply[1] == "SealedError" else RenderError
            raise cls(reply[2], reply[3])
        raise RenderError(source, reply[1])


def _serve(memory_mb: int) -> None:
    import resource

    # Die with the parent, whatever kills it: end of input on stdin ends the loop below, and this
    # thread ends a child that is busy reading. (Not PR_SET_PDEATHSIG: it fires when the *thread* that
    # started the child ends, and a Renderer may outlive the thread that first used it.)
    import threading

    parent = os.getppid()

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    limit = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the reply stream
    while True:
        head = stdin.read(_LEN.size)
        if len(head) < _LEN.size:
            return
        task, source, args = pickle.loads(stdin.read(_LEN.unpack(head)[0]))
        try:
            reply = ("ok", TASKS[task](source, *args))
        except MemoryError:
            reply = ("memory",)
        except SourceError as e:
            reply = ("error", type(e).__name__, e.source, e.reason)
        except RecursionError:
            reply = ("other", "nested too deeply to read")
        except Exception as e:  # noqa: BLE001 - one line back, never a traceback
            text = str(e).strip().splitlines()
            reply = ("other", f"{type(e).__name__}: {text[0][:300] if text else ''}".rstrip(": "))
        try:
            _send(stdout, reply)
        except MemoryError:
            _send(stdout, ("memory",))


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else 2048)
