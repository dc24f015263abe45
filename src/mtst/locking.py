"""Exclusive locks on output and checkpoint folders, so two runs never write the same place.

The lock is an ``flock`` on ``.<name>.lock`` beside the folder: the kernel drops it when its holder dies,
so a SIGKILLed run leaves no stale lock, and the next run (a resume) takes it at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class FolderLocked(RuntimeError):
    """Another live process holds the folder."""


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str) -> Iterator[None]:
    """Hold ``folder``'s lock for the block, or fail at once naming the process that holds it."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.parent / f".{folder.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise FolderLocked(f"{what} {folder} is in use by process {holder} (lock {lock}); wait for it to "
                               "finish or stop it, then run again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
