"""One writer at a time: an advisory lock file the kernel releases when the holder dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import IndexLocked

__all__ = ["WriterLock", "Lease", "writer_lock"]


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


LEASE_TTL_S = 60.0  # a writer that stops renewing (killed, cut off) loses its lease after this long


class Lease:
    """The writer lock of an object-store database, where no flock exists: a lease held in a tiny Lance
    dataset (`<db>/_writer.lance`, one row: holder, host, pid, expiry). Taking it is a Lance commit at
    the version just read, and Lance commits on an object store are conditional puts of the next
    manifest: of two writers taking it at once, one commit wins and the other gets a commit conflict,
    so it raises IndexLocked exactly like a held flock. The holder renews it every LEASE_TTL_S / 3; a
    holder that died frees it after LEASE_TTL_S (at once when it ran on this host and its pid is gone)."""

    def __init__(self, loc, ttl_s: float = LEASE_TTL_S):
        import socket
        import uuid

        self.loc, self.ttl_s = loc, ttl_s
        self.uri = f"{loc.uri}/_writer.lance"
        self.me = {"holder": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid()}
        self._stop = None
        self._thread = None

    def _lance(self):
        try:
            import lance
        except ImportError:
            raise IndexLocked(f"writing an object-store index ({self.loc}) needs Lance: pip install 'shotdex[s3]'") from None
        return lance

    def _commit(self, ds, row: dict):
        """Replace the lease row, conditional on the version `ds` was read at."""
        import pyarrow as pa

        lance = self._lance()
        table = pa.Table.from_pylist([row], schema=_lease_schema())
        frag = lance.fragment.LanceFragment.create(self.uri, table, storage_options=self.loc.storage_options)
        return lance.LanceDataset.commit(self.uri, lance.LanceOperation.Overwrite(_lease_schema(), [frag]),
                                         read_version=ds.version, storage_options=self.loc.storage_options)

    def _open(self):
        import pyarrow as pa

        lance, opts = self._lance(), self.loc.storage_options
        try:
            return lance.dataset(self.uri, storage_options=opts)
        except (ValueError, FileNotFoundError, OSError):
            free = pa.Table.from_pylist([{"holder": "", "host": "", "pid": 0, "expires": 0.0}], schema=_lease_schema())
            try:
                return lance.write_dataset(free, self.uri, mode="create", storage_options=opts)
            except Exception:  # noqa: BLE001 - made by another writer at the same moment
                return lance.dataset(self.uri, storage_options=opts)

    def __enter__(self) -> "Lease":
        import threading
        import time

        ds = self._open()
        row = ds.to_table().to_pylist()[0]
        if row["holder"] and row["expires"] > time.time() and not self._dead(row):
            raise IndexLocked(f"index at {self.loc} is being written by pid {row['pid']} on {row['host']} "
                              f"(its lease runs out {max(0, row['expires'] - time.time()):.0f}s from now unless renewed); "
                              "wait for it to finish (searches keep working meanwhile)")
        try:
            self._commit(ds, dict(self.me, expires=time.time() + self.ttl_s))
        except Exception as exc:  # noqa: BLE001 - a commit conflict: another writer took it first
            if "conflict" not in str(exc).lower() and "preempted" not in str(exc).lower():
                raise self.loc.unreachable(exc, writing=True) from None
            raise IndexLocked(f"index at {self.loc} was just taken by another writer; wait for it to finish") from None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="shotdex-lease", daemon=True)
        self._thread.start()
        return self

    def _dead(self, row: dict) -> bool:
        """The holder ran on this host and its process is gone (killed): its lease is void."""
        import socket

        if row["host"] != socket.gethostname():
            return False
        try:
            os.kill(int(row["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, OSError, ValueError):
            return False
        return False

    def _mine(self):
        ds = self._lance().dataset(self.uri, storage_options=self.loc.storage_options)
        return ds, ds.to_table().to_pylist()[0]["holder"] == self.me["holder"]

    def _renew(self) -> None:
        import time

        while not self._stop.wait(self.ttl_s / 3):
            try:
                ds, mine = self._mine()
                if mine:
                    self._commit(ds, dict(self.me, expires=time.time() + self.ttl_s))
            except Exception:  # noqa: BLE001 - a missed renewal is retried; the TTL leaves room for two
                pass

    def __exit__(self, *exc) -> None:
        if self._stop is not None:
            self._stop.set()
            self._thread.join(timeout=5)
        try:
            ds, mine = self._mine()
            if mine:
                self._commit(ds, {"holder": "", "host": "", "pid": 0, "expires": 0.0})
        except Exception:  # noqa: BLE001 - an unreleased lease simply expires
            pass


def _lease_schema():
    import pyarrow as pa

    return pa.schema([pa.field("holder", pa.string()), pa.field("host", pa.string()),
                      pa.field("pid", pa.int64()), pa.field("expires", pa.float64())])


def writer_lock(store):
    """The writer lock for a store: a flock on a local folder, a Lance lease on an object store."""
    return Lease(store.loc) if store.loc.remote else WriterLock(store.folder)
