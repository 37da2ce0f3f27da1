"""WordNet 3.0 for NLTK's METEOR, found offline.

NLTK's ``meteor_score`` matches synonyms through WordNet, which NLTK normally downloads; here
there is no download. Debian's ``wordnet-base`` and ``wordnet-sense-index`` packages (WordNet
3.0, the version NLTK ships) install the database under ``/usr/share/wordnet`` but not the
``lexnames`` file that NLTK's reader opens first. Its 45 lines (file number, lexicographer file
name, syntactic category) are fixed by WordNet 3.0 and listed in the ``lexnames(5WN)`` manual
page; :data:`LEXNAMES` holds them, and we copy the database into NLTK's data path with that file.

Lookup order: NLTK's own ``corpora/wordnet`` (``nltk.data.find``); else Debian's database
(``$WNSEARCHDIR``, then ``/usr/share/wordnet``) is installed there once. :func:`load_wordnet`
returns None when none is usable; callers must then report METEOR as unavailable, never as 0.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
LEXNAMES_MANPAGE = Path("/usr/share/man/man5/lexnames.5WN.gz")
#: WordNet 3.0's lexicographer files in file-number order (``lexnames(5WN)``, Princeton).
LEXNAMES: tuple[str, ...] = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
    "adj.ppl",
)  # fmt: skip
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_LEXNAME_ROW = re.compile(r"^(\d\d)\t((adj|adv|noun|verb)\.\w+)\s*\t", re.M)
_DB_FILES = (
    "adj.exc", "adv.exc", "noun.exc", "verb.exc", "cntlist.rev",
    "data.adj", "data.adv", "data.noun", "data.verb",
    "index.adj", "index.adv", "index.noun", "index.verb", "index.sense",
)  # fmt: skip


def lexnames_file() -> str:
    """The ``lexnames`` file: ``NN\\tname\\tcategory`` lines (1 noun, 2 verb, 3 adj, 4 adv)."""
    return "".join(
        f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES)
    )


def lexnames_from_manpage(text: str) -> tuple[str, ...]:
    """The file names listed by the ``lexnames(5WN)`` manual page (a cross-check of
    :data:`LEXNAMES`).

    Raises:
        ValueError: if the page does not list files 00..44 in order.
    """
    rows = _LEXNAME_ROW.findall(text)
    if [int(n) for n, _, _ in rows] != list(range(45)):
        raise ValueError("the lexnames manual page does not list lexicographer files 00..44")
    return tuple(name for _, name, _ in rows)


def nltk_wordnet_dir() -> Path:
    """Where :func:`install_debian_wordnet` puts WordNet: ``<sys.prefix>/nltk_data/corpora/
    wordnet``, a folder on NLTK's default search path that belongs to this environment."""
    import sys

    return Path(sys.prefix) / "nltk_data" / "corpora" / "wordnet"


def install_debian_wordnet(
    db_dir: Path = DEBIAN_WORDNET_DIR, out_dir: Path | None = None
) -> Path | None:
    """Copy Debian's WordNet 3.0 where NLTK finds it, with the ``lexnames`` file written.

    Args:
        db_dir: Debian's database folder (``wordnet-base``, ``wordnet-sense-index``).
        out_dir: target folder (default :func:`nltk_wordnet_dir`).

    Returns:
        The folder, or None when a database file is missing.

    Raises:
        OSError: the target folder cannot be written.
    """
    import shutil

    if not all((db_dir / f).is_file() for f in _DB_FILES):
        return None
    out = out_dir or nltk_wordnet_dir()
    out.mkdir(parents=True, exist_ok=True)
    for f in _DB_FILES:
        if not (out / f).is_file():
            shutil.copyfile(db_dir / f, out / f"{f}.tmp")
            (out / f"{f}.tmp").replace(out / f)
    lex = out / "lexnames"
    if not lex.is_file():
        (out / "lexnames.tmp").write_text(lexnames_file())
        (out / "lexnames.tmp").replace(lex)
    return out


@lru_cache(maxsize=1)
def load_wordnet():  # -> nltk WordNetCorpusReader | None
    """NLTK's ``wordnet`` corpus, installed from Debian's package on first use if NLTK has
    none (``$WNSEARCHDIR`` or ``/usr/share/wordnet``); None when neither exists."""
    import nltk

    try:
        nltk.data.find("corpora/wordnet")
    except LookupError:
        dbs = [Path(p) for p in [os.environ.get("WNSEARCHDIR")] if p] + [DEBIAN_WORDNET_DIR]
        if not any(install_debian_wordnet(db) for db in dbs):
            return None
    from nltk.corpus import wordnet

    wordnet.ensure_loaded()
    return wordnet
