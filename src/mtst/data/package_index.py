"""Fetching one pinned file from the package index pip is configured with, hash-checked while it streams.

Why not ``pip download``: for an sdist it prepares metadata, which runs the sdist's build backend
(``setup.py``) and installs its build requirements, unpinned, before any hash is compared. Here the one file
is fetched by its exact name from pip's index (the PEP 691 JSON or PEP 503 HTML simple API, pip's own settings:
``PipSettings``), hashed as it streams into a temporary file beside its final name, and renamed there only when
its size and sha256 are the pinned ones. Nothing opens the file until then.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import BinaryIO, NamedTuple
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import HTTPSHandler, OpenerDirector, ProxyHandler, Request, build_opener, url2pathname

from mtst.failpoints import failpoint
from mtst.io import atomic_path


@dataclass(frozen=True)
class Archive:
    """One pinned file of a project on the package index: its exact name, size and sha256."""

    project: str
    filename: str
    sha256: str
    size: int


PYPI_SIMPLE = "https://pypi.org/simple"
"""pip's default index, used when neither pip's configuration nor ``PIP_INDEX_URL`` names another."""
PIP_TIMEOUT_S = 15.0
"""pip's default socket timeout (its ``timeout`` setting / ``PIP_DEFAULT_TIMEOUT`` overrides it)."""
DEADLINE_S = 600.0
"""The most one download (index pages and file) may take: a server that trickles bytes trips no socket timeout."""
MAX_PAGE_BYTES = 16 << 20
"""The most an index page may hold (PyPI's largest projects list a few MB): a bigger answer is refused."""
CHUNK = 1 << 20
"""The most bytes read at once: memory stays bounded whatever the server sends."""
_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
_JSON = "application/vnd.pypi.simple.v1+json"
_ALIASES = {"default-timeout": "timeout"}  # pip's option names: --timeout is also --default-timeout


class SourceError(RuntimeError):
    """A source archive is missing, unobtainable or does not match its pinned hash."""


def _normalize(project: str) -> str:
    """PEP 503's normalized project name: the path segment of its simple index page."""
    return re.sub(r"[-_.]+", "-", project).lower()


@dataclass(frozen=True)
class PipSettings:
    """What of pip's configuration a download honours, as pip itself reports it (``pip config list``: its
    config files and ``PIP_*`` variables, in pip's precedence); proxies otherwise come from the environment
    (``https_proxy`` / ``no_proxy``), as for pip."""

    index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    cert: str | None
    client_cert: str | None
    proxy: str | None
    trusted_hosts: frozenset[str]
    timeout: float

    @classmethod
    def current(cls) -> PipSettings:
        cmd = [sys.executable, "-m", "pip", "config", "list"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SourceError(f"could not read pip's configuration ({' '.join(cmd)}): {exc}") from exc
        if proc.returncode != 0:
            raise SourceError(f"could not read pip's configuration ({' '.join(cmd)}):\n{proc.stderr.strip()[-2000:]}")
        return cls.parse(proc.stdout)

    @classmethod
    def parse(cls, listing: str) -> PipSettings:
        """Settings from ``pip config list`` output (``section.key='value'`` lines). pip's ``download`` command
        reads the sections ``global``, then ``download``, then the environment (``:env:``), later ones winning."""
        rank = {"global": 0, "download": 1, ":env:": 2}
        found: dict[str, tuple[int, str]] = {}
        for line in listing.splitlines():
            key, sep, raw = line.partition("=")
            section, _, option = key.rpartition(".")
            option = _ALIASES.get(option, option)
            if not sep or section not in rank:
                continue
            value = ast.literal_eval(raw)
            if option not in found or rank[section] >= found[option][0]:
                found[option] = (rank[section], value)
        get = {option: value for option, (_, value) in found.items()}.get
        no_index = get("no-index", "").lower() in ("1", "true", "yes", "on")
        indexes = () if no_index else (get("index-url") or PYPI_SIMPLE, *get("extra-index-url", "").split())
        return cls(index_urls=tuple(indexes), find_links=tuple(get("find-links", "").split()),
                   cert=get("cert") or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None,
                   client_cert=get("client-cert") or None, proxy=get("proxy") or None,
                   trusted_hosts=frozenset(get("trusted-host", "").split()),
                   timeout=float(get("timeout") or PIP_TIMEOUT_S))

    def opener(self, url: str) -> OpenerDirector:
        """pip's TLS and proxy settings for ``url``: its CA bundle (``cert``, else ``REQUESTS_CA_BUNDLE`` /
        ``CURL_CA_BUNDLE`` as pip's HTTP library reads them, else the system's), client certificate, a trusted
        host's unverified TLS (the pinned hash still decides), its proxy (else the environment's)."""
        parts = urlsplit(url)
        if parts.hostname in self.trusted_hosts or parts.netloc in self.trusted_hosts:
            context = ssl._create_unverified_context()
        elif self.cert and os.path.isdir(self.cert):
            context = ssl.create_default_context(capath=self.cert)
        else:
            context = ssl.create_default_context(cafile=self.cert)
        if self.client_cert:
            context.load_cert_chain(self.client_cert)
        proxies = {"http": self.proxy, "https": self.proxy} if self.proxy else None  # None: the environment's
        return build_opener(ProxyHandler(proxies), HTTPSHandler(context=context))


class _Links(HTMLParser):
    """The ``href`` of every ``<a>`` of a PEP 503 page (or a find-links page)."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _local(url: str) -> Path | None:
    """The folder or file a find-links entry or ``file:`` URL names, else None (a remote URL)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(url2pathname(parts.path))
    return Path(url) if not parts.scheme else None


class _Deadline(NamedTuple):
    seconds: float
    end: float  # time.monotonic()


def _blocks(response: BinaryIO, limit: int, what: str, deadline: _Deadline) -> Iterator[bytes]:
    """``response`` a block (at most :data:`CHUNK` bytes) at a time, refusing more than ``limit`` bytes and reading
    past the deadline; a silent server trips the socket timeout inside ``read1``."""
    size = 0
    while block := response.read1(CHUNK):
        size += len(block)
        if size > limit:
            raise SourceError(f"more than the {limit} bytes of {what}; refused")
        if time.monotonic() > deadline.end:
            raise SourceError(f"not complete after {deadline.seconds:g} s; refused")
        yield block


def _read_page(settings: PipSettings, url: str, deadline: _Deadline) -> tuple[str, str, bytes]:
    """``(final URL, content type, body)`` of an index page, refusing one over :data:`MAX_PAGE_BYTES`."""
    local = _local(url)
    if local is not None and local.is_dir():
        url = (local / "index.html").as_uri()
    request = Request(url, headers={"Accept": _ACCEPT, "User-Agent": "mtst"})
    with settings.opener(url).open(request, timeout=settings.timeout) as response:
        body = b"".join(_blocks(response, MAX_PAGE_BYTES, "an index page", deadline))
        return response.geturl(), response.headers.get_content_type(), body


def _links(settings: PipSettings, page_url: str, archive: Archive, deadline: _Deadline) -> list[tuple[str, str | None]]:
    """``(URL, sha256 the page declares or None)`` of every link on the page to the archive's exact file."""
    base, content_type, body = _read_page(settings, page_url, deadline)
    if content_type == _JSON:
        files = [(f["url"], f.get("hashes", {}).get("sha256")) for f in json.loads(body)["files"]
                 if f.get("filename") == archive.filename]
    else:
        parser = _Links()
        parser.feed(body.decode("utf-8", errors="replace"))
        files = [(href, None) for href in parser.hrefs]
    found = []
    for href, declared in files:
        url, _, fragment = urljoin(base, href).partition("#")
        if unquote(urlsplit(url).path.rsplit("/", 1)[-1]) != archive.filename:
            continue
        if urlsplit(url).scheme not in ({"http", "https"} | ({"file"} if urlsplit(base).scheme == "file" else set())):
            continue  # a remote page does not get to name a local file
        declared = declared or dict(p.partition("=")[::2] for p in fragment.split("&")).get("sha256")
        found.append((url, declared))
    return found


def _candidates(settings: PipSettings, archive: Archive, deadline: _Deadline) -> tuple[list[str], list[str]]:
    """The URLs pip's indexes and find-links offer for the archive's exact file name, and why others were not."""
    urls, notes = [], []
    pages = [f"{index.rstrip('/')}/{_normalize(archive.project)}/" for index in settings.index_urls]
    for entry in settings.find_links:
        local = _local(entry)
        if local is not None and local.is_dir():
            if (local / archive.filename).is_file():
                urls.append((local / archive.filename).as_uri())
        else:
            pages.append(entry)
    for page in pages:
        try:
            links = _links(settings, page, archive, deadline)
        except (OSError, ValueError, KeyError, TypeError, SourceError) as exc:  # URLError is an OSError
            notes.append(f"{page}: {_reason(exc, settings)}")
            continue
        for url, declared in links:
            if declared and declared != archive.sha256:
                notes.append(f"{url}: the index gives sha256 {declared}, not the pinned one; not downloaded")
            else:
                urls.append(url)
        if not links:
            notes.append(f"{page}: no {archive.filename}")
    return urls, notes


def _stream(settings: PipSettings, url: str, out: BinaryIO, archive: Archive, deadline: _Deadline) -> None:
    """Copy ``url`` into ``out``, hashing as it goes; refuse more bytes than pinned, a stall of ``timeout``
    seconds, a transfer past the deadline, and a result of another size or hash."""
    digest, size = hashlib.sha256(), 0
    with settings.opener(url).open(Request(url, headers={"User-Agent": "mtst"}), timeout=settings.timeout) as response:
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) != archive.size:
            raise SourceError(f"{length} bytes announced, {archive.filename} has {archive.size}; refused")
        for block in _blocks(response, archive.size, archive.filename, deadline):
            size += len(block)
            digest.update(block)
            out.write(block)
            failpoint("sources.chunk")
    if size != archive.size or digest.hexdigest() != archive.sha256:
        raise SourceError(f"{size} bytes with sha256 {digest.hexdigest()}, not the pinned {archive.size} bytes "
                          f"with sha256 {archive.sha256}; refused and deleted")


def _reason(exc: BaseException, settings: PipSettings) -> str:
    reason = exc.reason if isinstance(exc, URLError) and not isinstance(exc, HTTPError) else exc
    if isinstance(reason, TimeoutError):
        return f"no answer for {settings.timeout:g} s (pip's timeout setting); given up"
    return str(reason)


def download(archive: Archive, path: Path, settings: PipSettings, deadline_s: float = DEADLINE_S) -> None:
    """Fetch the archive into ``path`` from the first of pip's sources whose copy has the pinned size and hash.

    Each try streams into a temporary sibling that is deleted unless the hash matched; only then is it
    renamed to ``path``, so ``path`` never holds a partial or a wrong file."""
    deadline = _Deadline(deadline_s, time.monotonic() + deadline_s)
    urls, notes = _candidates(settings, archive, deadline)
    for url in urls:
        try:
            # wait: a second fetcher of this archive waits for the first, then writes the same verified bytes
            with atomic_path(path, wait=True) as tmp, open(tmp, "wb") as out:
                _stream(settings, url, out, archive, deadline)
            return
        except (OSError, SourceError) as exc:  # URLError and socket timeouts are OSErrors
            notes.append(f"{url}: {_reason(exc, settings)}")
    sources = ", ".join((*settings.index_urls, *settings.find_links)) or "none (pip's no-index is set)"
    raise SourceError(
        f"could not obtain {archive.filename} from pip's package sources ({sources}):\n"
        + "".join(f"  {note}\n" for note in notes)
        + f"Place {archive.filename} (sha256 {archive.sha256}) in {path.parent} by hand to work fully offline."
    )
