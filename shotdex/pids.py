"""Processes of this machine, and the temporary folders named after them.

Every temporary folder shotdex makes is named shotdex-KIND-PID-*: a run killed with -9 cannot remove its
own, so the first folder any later shotdex process makes first removes those of processes that are gone.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import threading
from typing import Iterator

__all__ = ["pid_alive", "scratch", "scratch_dir", "sweep_scratch", "SCRATCH_KINDS"]

# what each kind of folder holds: Chromium's home and Playwright's driver folders, LibreOffice's profile,
# a converted PDF, an archive's extracted part, an EPUB's chapters, a baseline's full-text index
SCRATCH_KINDS = ("chromium", "office", "pdf", "part", "epub", "fts")
_SWEPT = threading.Event()
_SWEEP_LOCK = threading.Lock()


def pid_alive(pid) -> bool:
    """True while process PID runs here (another user's process counts as running); False when it is gone
    or PID is not a pid."""
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        return True
    except (OSError, ValueError, TypeError):
        return False
    return True


def sweep_scratch() -> None:
    """Remove the temporary folders of shotdex processes that are gone (a live process's stay)."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), "shotdex-*-*-*")):
        kind, pid = os.path.basename(path).split("-")[1:3]
        if kind in SCRATCH_KINDS and pid.isdigit() and not pid_alive(pid):
            shutil.rmtree(path, ignore_errors=True)


def scratch_dir(kind: str) -> str:
    """A new temporary folder of this process (the caller removes it); the first one a process makes
    sweeps the folders of processes that are gone."""
    assert kind in SCRATCH_KINDS, kind
    if not _SWEPT.is_set():
        with _SWEEP_LOCK:
            if not _SWEPT.is_set():
                sweep_scratch()
                _SWEPT.set()
    return tempfile.mkdtemp(prefix=f"shotdex-{kind}-{os.getpid()}-")


@contextlib.contextmanager
def scratch(kind: str) -> Iterator[str]:
    """scratch_dir(kind), removed when the block ends."""
    folder = scratch_dir(kind)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
