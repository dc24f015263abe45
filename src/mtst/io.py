"""Atomic, durable file writes, output-folder ownership, and hashing.

Every file the pipeline produces is written to a temporary sibling, fsync'ed, and renamed into place, so
a crash never leaves a half-written output that a later step (or DVC) would mistake for a finished one,
and a power loss after the rename never leaves an empty file. A folder replaced as a whole passes
through ``.<name>.old`` for an instant; :func:`recover` puts it back when a kill lands in that instant.

Folders written by :func:`atomic_dir` carry a marker file (:data:`MARKER`). An existing folder without
it was not made by mtst: it is refused, never deleted (a mistyped ``--out`` must not wipe a user's work).

Every writer here holds the output's lock (:func:`mtst.locking.folder_lock`) from the ownership check to the
rename, so two processes writing one path (two ``export`` or ``evaluate`` runs on one ``--out``) never mix or
lose each other's work: the second fails at once naming the first. What is written inside a temporary folder
this process is filling needs no lock: nobody else knows that folder.

Temporaries are named ``.<name>.<pid>.<host>.<random>.tmp``: pods sharing a volume reuse pids, and
:func:`recover` must tell a live writer on another pod from a killed one on this host.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mtst.failpoints import failpoint
from mtst.locking import folder_lock, holds

MARKER = ".mtst-output"
"""File inside every folder that :func:`atomic_dir` wrote: the licence to replace that folder later."""


class OutputFolderError(RuntimeError):
    """An output path that mtst refuses to replace (it holds something mtst did not write)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's entries to disk (folders: so that renames inside them survive a crash)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(Path(folder))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def host_tag(host: str | None = None) -> str:
    """This machine's name (or ``host``) as one part of a file name: no dots, at most 64 characters."""
    return re.sub(r"[^A-Za-z0-9-]", "_", socket.gethostname() if host is None else host)[:64] or "_"


def temp_prefix(path: str | Path, host: str | None = None) -> str:
    """Where a temporary for ``path`` starts: ``.<name>.<pid>.<host>.``; ``tempfile`` adds a random token."""
    return f".{Path(path).name}.{os.getpid()}.{host_tag(host)}."


def _stale(pid: int, host: str | None, locked: bool) -> bool:
    """Whether the writer of a temporary is gone. Holding the path's lock, every temporary is stale (its writer
    held the lock too). Without it: only one of this host whose pid is dead, or is this process's own (a
    restarted container reuses its pid); a temporary of another host is left to a run that holds the lock."""
    if locked:
        return True
    if host is not None and host != host_tag():
        return False
    return pid == os.getpid() or not _pid_alive(pid)


def recover(path: str | Path) -> None:
    """Repair what a kill left next to ``path``: restore ``.<name>.old`` when the kill fell between the two
    renames of :func:`atomic_dir`, drop it when the new folder made it, and clear temporaries of dead writers."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        return
    old = parent / f".{path.name}.old"
    if old.exists():
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, path)
            fsync_path(parent)
    # .<name>.<pid>.<host>.<token>.tmp; .<name>.<pid>.<token>.tmp as mtst named them before the host part
    ours = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.(?:([A-Za-z0-9_-]+)\.)?[^.]*\.tmp$")
    locked = holds(path)
    for entry in parent.iterdir():
        match = ours.match(entry.name)
        if match and _stale(int(match.group(1)), match.group(2), locked):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def is_owned(path: str | Path) -> bool:
    """Whether mtst may replace ``path``: absent, an empty folder, or a folder that :func:`atomic_dir` wrote."""
    path = Path(path)
    if not path.exists():
        return True
    if not path.is_dir():
        return False
    return (path / MARKER).is_file() or not any(path.iterdir())


def ensure_owned(path: str | Path, what: str = "output folder") -> None:
    """Refuse (never delete) a folder that mtst did not create."""
    if not is_owned(path):
        kind = "a file" if Path(path).is_file() else "a folder mtst did not create"
        raise OutputFolderError(f"refusing to use {path} as {what}: it is {kind} (no {MARKER} marker inside); "
                                "choose another path, or move it away yourself")


_filling: set[str] = set()
"""Absolute paths of the temporary folders this process's :func:`atomic_dir` blocks are filling."""


def _claim(path: Path, what: str, wait: bool) -> contextlib.AbstractContextManager[None]:
    """``path``'s lock, or nothing for a path inside a temporary folder this process is filling (private to it,
    and a lock file there would end up in the output)."""
    absolute = os.path.abspath(path)
    if any(absolute.startswith(folder + os.sep) for folder in _filling):
        return contextlib.nullcontext()
    return folder_lock(path, what, wait=wait)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, wait: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds. ``wait``: wait
    for another writer of ``path`` instead of failing (a cache entry, which both would write alike)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _claim(path, "output file", wait):
        recover(path)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; outputs get ordinary permissions
            fsync_path(tmp_path)
            os.replace(tmp_path, path)
            fsync_path(path.parent)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` as a whole when the block succeeds.

    ``path`` must be absent, empty, or a folder this function wrote before (see :func:`ensure_owned`); the
    check runs before the block, so a long step fails at once rather than after its work. ``path``'s lock is
    held throughout: a second writer fails at once, naming this process.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _claim(path, "output folder", False):
        yield from _replace_dir(path)


def _replace_dir(path: Path) -> Iterator[Path]:
    """:func:`atomic_dir`'s work, under ``path``'s lock: repair, check ownership, fill a temporary, swap it in."""
    recover(path)
    ensure_owned(path)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent))
    _filling.add(os.path.abspath(tmp))
    try:
        yield tmp
        (tmp / MARKER).write_text("written by mtst; this folder may be replaced by the next run\n")
        os.chmod(tmp, 0o777 & ~_umask())
        _fsync_tree(tmp)
        failpoint("io.before_replace")
        ensure_owned(path)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            failpoint("io.between_renames")
            os.replace(tmp, path)
            fsync_path(path.parent)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
            fsync_path(path.parent)
    finally:
        _filling.discard(os.path.abspath(tmp))
        shutil.rmtree(tmp, ignore_errors=True)


def remove_owned(path: str | Path) -> None:
    """Delete a folder that mtst wrote (checkpoints after success); refuse one it did not."""
    path = Path(path)
    with _claim(path, "output folder", False):
        recover(path)
        ensure_owned(path)
        if path.exists():  # renamed first: a kill mid-delete leaves a temporary that recover() clears, never half a folder
            doomed = path.with_name(f"{temp_prefix(path)}removed.tmp")
            os.replace(path, doomed)
            fsync_path(path.parent)
            shutil.rmtree(doomed, ignore_errors=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON with sorted keys so reruns produce byte-identical files."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def first_json_row(path: str | Path) -> Any:
    """The first line of the regular file ``path`` as JSON (read at most 1 MiB of it), or None: how a JSONL file
    that mtst wrote is told from the user's own (``mtst predict -o`` / ``mtst embed -o``) without reading it all."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return None
    with path.open("rb") as fh:
        first = fh.readline(1 << 20)
    try:
        return json.loads(first)
    except ValueError:
        return None


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
