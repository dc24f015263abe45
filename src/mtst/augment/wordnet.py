"""WordNet for synonym augmentation: installed from Debian packages, laid out the way nltk reads it.

``nltk.download`` needs a hub that these machines cannot reach, so the project takes WordNet 3.0 from the
Debian packages ``wordnet-base`` and ``wordnet-sense-index`` (``/usr/share/wordnet``). nltk reads it only
when the files are *copied* (not symlinked) into ``<root>/corpora/wordnet/`` together with a ``lexnames``
file, which Debian does not ship: its 45 lines (``NN<TAB>name<TAB>pos``) are written from the man page
``lexnames.5WN.gz``, or from the fixed WordNet 3.0 table below when the image strips man pages.
``<root>`` is ``$NLTK_DATA`` (the Makefile exports ``.cache/nltk_data``).

``mtst wordnet install`` (run by ``make wordnet``, which ``make data / test / run`` depend on) does all of
it and is a no-op when the folder is already complete; ``mtst wordnet check`` says what is found where.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

DEBIAN_DIR = Path("/usr/share/wordnet")
LEXNAMES_MAN = Path("/usr/share/man/man5/lexnames.5WN.gz")
DEBIAN_COPYRIGHT = Path("/usr/share/doc/wordnet-base/copyright")
APT_PACKAGES = ("wordnet-base", "wordnet-sense-index")
DEFAULT_ROOT = Path(".cache/nltk_data")

# What nltk's WordNetCorpusReader opens (its _FILES), i.e. what a complete install must hold.
NLTK_FILES = ("cntlist.rev", "lexnames", "index.sense", "index.adj", "index.adv", "index.noun", "index.verb",
              "data.adj", "data.adv", "data.noun", "data.verb", "adj.exc", "adv.exc", "noun.exc", "verb.exc")

# WordNet 3.0's lexicographer files, in file-number order (lexnames(5WN)); the pos number is 1 noun,
# 2 verb, 3 adjective, 4 adverb. Used when the man page is not installed; a test checks both agree.
LEXNAMES_30 = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
    "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication",
    "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

INSTALL_HINT = (
    "install it with `make wordnet` (on Debian/Ubuntu as root: apt-get install --no-install-recommends "
    "wordnet-base wordnet-sense-index, then `mtst wordnet install`, which copies the files to "
    "$NLTK_DATA/corpora/wordnet/ or .cache/nltk_data/corpora/wordnet/)"
)


class WordNetMissing(RuntimeError):
    """WordNet is needed (synonym replacement or random insertion is on) but no complete copy was found."""


def lexnames_from_man(man_page: Path = LEXNAMES_MAN) -> list[str]:
    """The lexicographer file names, in file-number order, parsed from the lexnames(5WN) man page."""
    names: dict[int, str] = {}
    for line in gzip.decompress(man_page.read_bytes()).decode("utf-8", errors="replace").splitlines():
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) >= 2 and len(fields[0]) == 2 and fields[0].isdigit() and "." in fields[1]:
            names[int(fields[0])] = fields[1]
    if sorted(names) != list(range(len(names))) or len(names) != len(LEXNAMES_30):
        raise ValueError(f"{man_page}: expected {len(LEXNAMES_30)} numbered lexicographer files, found {len(names)}")
    return [names[i] for i in range(len(names))]


def lexnames_text(names: list[str] | tuple[str, ...]) -> str:
    """The ``lexnames`` file nltk reads: ``NN<TAB>name<TAB>pos`` per line."""
    return "".join(f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}\n" for i, name in enumerate(names))


def roots() -> list[Path]:
    """Where WordNet is looked for: the ``NLTK_DATA`` entries when set, else ``.cache/nltk_data``."""
    env = os.environ.get("NLTK_DATA")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    return [DEFAULT_ROOT]


def wordnet_dir(root: str | Path) -> Path:
    return Path(root) / "corpora" / "wordnet"


def missing_files(directory: Path) -> list[str]:
    """The nltk files absent (or empty, or symlinked: nltk's reader needs real files) in ``directory``."""
    return [name for name in NLTK_FILES
            if not (directory / name).is_file() or (directory / name).is_symlink() or (directory / name).stat().st_size == 0]


def find_wordnet() -> Path | None:
    for root in roots():
        if not missing_files(wordnet_dir(root)):
            return wordnet_dir(root)
    return None


def status() -> dict[str, Any]:
    found = find_wordnet()
    return {
        "searched": [str(wordnet_dir(r)) for r in roots()],
        "found": str(found) if found else None,
        "missing": {} if found else {str(wordnet_dir(r)): missing_files(wordnet_dir(r)) for r in roots()},
        "debian_files": str(DEBIAN_DIR) if not _debian_missing(DEBIAN_DIR) else None,
    }


def require_wordnet() -> Path:
    """The WordNet folder to read, or ``WordNetMissing`` with a message that says how to install it."""
    found = find_wordnet()
    if found is None:
        searched = ", ".join(str(wordnet_dir(r)) for r in roots())
        raise WordNetMissing(
            f"WordNet not found (looked in {searched}; set NLTK_DATA to choose the folder). Synonym replacement "
            f"and random insertion need it: {INSTALL_HINT}. Or turn both off in params.yaml "
            f"(augment.synonym.copies: 0 and augment.insert.copies: 0); random swap and deletion work without it."
        )
    return found


@lru_cache(maxsize=4)
def _reader(directory: str) -> Any:
    import warnings

    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = str(Path(directory).parent.parent)  # <root>/corpora/wordnet
    if root not in nltk.data.path:  # nltk only reads corpora under its data path (nltk.pathsec)
        nltk.data.path.insert(0, root)
    with warnings.catch_warnings():  # "multilingual functions are not available": we use English only
        warnings.simplefilter("ignore")
        return WordNetCorpusReader(directory, None)


def load_wordnet() -> Any:
    """An nltk ``WordNetCorpusReader`` over the installed copy (cached per folder)."""
    return _reader(str(require_wordnet().resolve()))


def _debian_missing(source: Path) -> list[str]:
    return [name for name in NLTK_FILES if name != "lexnames" and not (source / name).is_file()]


def apt_install(packages: tuple[str, ...] = APT_PACKAGES) -> None:
    """``apt-get update && apt-get install -y --no-install-recommends <packages>`` (needs root)."""
    apt = shutil.which("apt-get")
    if apt is None:
        raise WordNetMissing(f"WordNet is not installed and apt-get is not available here: {INSTALL_HINT}")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise WordNetMissing(f"WordNet is not installed and installing {' '.join(packages)} needs root: "
                             f"sudo apt-get install --no-install-recommends {' '.join(packages)}, then `mtst wordnet install`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "--no-install-recommends", *packages]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise WordNetMissing(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stderr.strip()[-1500:]}")


def install(root: str | Path | None = None, *, apt: bool = True, source: Path = DEBIAN_DIR,
            man_page: Path = LEXNAMES_MAN, force: bool = False) -> dict[str, Any]:
    """Lay WordNet out for nltk under ``<root>/corpora/wordnet/`` (atomically); apt-install it first if needed.

    Returns what was done. Idempotent: a complete folder is left alone unless ``force``.
    """
    from mtst.io import atomic_dir, write_text

    root = Path(root) if root is not None else roots()[0]
    target = wordnet_dir(root)
    if not force and not missing_files(target):
        return {"wordnet": str(target), "action": "already installed"}
    installed_packages = False
    if _debian_missing(source):
        if not apt:
            raise WordNetMissing(f"{source} lacks {_debian_missing(source)}: {INSTALL_HINT}")
        apt_install()
        installed_packages = True
        if _debian_missing(source):
            raise WordNetMissing(f"{source} still lacks {_debian_missing(source)} after installing {APT_PACKAGES}")
    names = lexnames_from_man(man_page) if man_page.exists() else list(LEXNAMES_30)
    with atomic_dir(target) as tmp:
        for path in sorted(source.iterdir()):
            if path.is_file():
                shutil.copyfile(path, tmp / path.name)  # real copies: nltk does not read symlinked files here
        if DEBIAN_COPYRIGHT.is_file():
            shutil.copyfile(DEBIAN_COPYRIGHT, tmp / "LICENSE")
        write_text(tmp / "lexnames", lexnames_text(names))
    _reader.cache_clear()
    synsets = len(_reader(str(target.resolve())).synsets("good"))
    if synsets == 0:
        raise WordNetMissing(f"{target}: installed, but nltk finds no synsets for 'good'")
    return {"wordnet": str(target), "action": "installed", "apt_installed": installed_packages,
            "lexnames_from": str(man_page) if man_page.exists() else "built-in WordNet 3.0 table",
            "synsets_of_good": synsets}
