"""Whether a process of this machine is still running (records and folders named after their pid)."""

from __future__ import annotations

import os

__all__ = ["pid_alive"]


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
