"""Exclusive locks on output and checkpoint folders (and output files), so two runs never write the same place.

The lock is an ``flock`` on ``.<name>.lock`` beside the folder: the kernel drops it when its holder dies,
so a SIGKILLed run leaves no stale lock (only its file, which the next run takes at once and then removes).
Every writer of :mod:`mtst.io` takes it, so two steps on one output path never interleave: the second fails at once naming
the first. A process may take a lock it already holds (a step holds its folder's lock and then writes the
folder through :mod:`mtst.io`); another thread of it may not.

The lock file sits in a folder others may write (a shared volume), so it is opened without following a
symlink and used only when it is a plain file of its own: a link planted at its name would otherwise have
the holder's pid written over whatever the link points to.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # NONBLOCK: a FIFO never hangs the open

_held: dict[tuple[int, int], tuple[int, int]] = {}
"""Locks this process holds: the lock file's (device, inode) -> (holding thread, nesting depth)."""
_held_guard = threading.Lock()


class FolderLocked(RuntimeError):
    """Another live process holds the folder."""


class UnsafeLockFile(FolderLocked):
    """The lock file's name holds something other than a plain file of its own (a symlink, a hard link, a
    FIFO): never opened through, never truncated; someone has to look at it."""


def lock_path(folder: str | Path) -> Path:
    """The lock file of ``folder`` (or of an output file): ``.<name>.lock`` beside it."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


def holder() -> str:
    """Who this process is, as a lock file records it: the pid alone is ambiguous across pods on one volume."""
    return f"{os.getpid()} on {socket.gethostname()}"


def _open(lock: Path) -> int:
    try:
        fd = os.open(lock, _OPEN_FLAGS, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeLockFile(f"lock file {lock} is a symbolic link: refusing to follow it (it was not made by "
                                 "mtst); remove it, then run again") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        kind = "not a regular file" if not stat.S_ISREG(info.st_mode) else f"hard-linked ({info.st_nlink} names)"
        raise UnsafeLockFile(f"lock file {lock} is {kind}: refusing to use it (it was not made by mtst); remove "
                             "it, then run again")
    return fd


def _same_file(fd: int, lock: Path) -> bool:
    """Whether the name ``lock`` still names the file open as ``fd`` (a holder removes it as it lets go)."""
    try:
        named = os.stat(lock, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str, *, wait: bool = False) -> Iterator[None]:
    """Hold ``folder``'s lock for the block, or fail at once naming the process that holds it (``wait``: wait
    for it instead, for a cache entry that a second writer would only write again).

    The lock file is removed as the lock is let go (while still held), so outputs leave no ``.lock`` files
    beside them; a process that locked a file just removed this way finds that out and locks the new one."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = lock_path(folder)
    me = threading.get_ident()
    while True:
        fd = _open(lock)
        info = os.fstat(fd)
        key = (info.st_dev, info.st_ino)
        with _held_guard:
            thread, depth = _held.get(key, (None, 0))
            if thread == me:  # this thread holds it already, through another descriptor that stays open
                _held[key] = (me, depth + 1)
        if thread == me:
            os.close(fd)
            try:
                yield
            finally:
                with _held_guard:
                    _held[key] = (me, depth)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            name = os.pread(fd, 256, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise FolderLocked(f"{what} {folder} is in use by process {name} (lock {lock}); wait for it to "
                               "finish or stop it, then run again") from None
        if _same_file(fd, lock):
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)  # only now: the file is ours, and a plain file of its own
        os.pwrite(fd, f"{holder()}\n".encode(), 0)
        with _held_guard:
            _held[key] = (me, 1)
        try:
            yield
        finally:
            with _held_guard:
                _held.pop(key, None)
            if _same_file(fd, lock):
                os.unlink(lock)
    finally:
        os.close(fd)


def holds(folder: str | Path) -> bool:
    """Whether this process holds ``folder``'s lock (then no other writer that locks is at work on it)."""
    try:
        info = os.stat(lock_path(folder), follow_symlinks=False)
    except OSError:
        return False
    with _held_guard:
        return (info.st_dev, info.st_ino) in _held
