"""One writer at a time: an advisory lock file the kernel releases when the holder dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import IndexLocked

__all__ = ["WriterLock"]


class WriterLock:
    """`with WriterLock(folder):` holds `<folder>/.write.lock` or raises IndexLocked at once.

    flock is tied to the open file, so a crashed or killed writer never leaves the lock stuck.
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / ".write.lock"
        self._fd: int | None = None

    def __enter__(self) -> "WriterLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise IndexLocked(
                f"index at {self.path.parent} is being written by pid {holder}; "
                "wait for it to finish (searches keep working meanwhile)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
