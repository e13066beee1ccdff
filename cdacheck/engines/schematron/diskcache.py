"""Cross-process cache of kit-mode work that Saxon-HE lets us keep: generated XSLT, indexes.

Saxon-HE cannot export a compiled stylesheet (SEF export needs Saxon-EE), so what is kept
across processes is what cdacheck computes before Saxon compiles: the expanded schematron
turned into XSLT (``generate_xslt``) with its assert list, and the kit's value-set index.
Entries are keyed by content (the digest of every file a schematron is made of), by where
the schematron sits (the generated XSLT names its documents by absolute URI), by the
cdacheck version, the Saxon version and a digest of the compiler's own source, so a change of
any of them is a miss, never a stale hit. The folder is the user's cache
(``CDACHECK_CACHE_DIR``, else ``$XDG_CACHE_HOME/cdacheck``, else ``~/.cache/cdacheck``),
never the kit; ``CDACHECK_CACHE_DIR=off`` disables it. A damaged entry is a miss.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

_COMPILER_FILES = ("compiler.py", "loader.py", "xpath.py", "diskcache.py")


def cache_dir() -> Path | None:
    raw = os.environ.get("CDACHECK_CACHE_DIR")
    if raw is not None and raw.strip().lower() in ("", "off", "0", "none"):
        return None
    if raw:
        base = Path(raw)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "cdacheck"
    return base.expanduser().resolve()


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    from cdacheck import __version__

    h = hashlib.sha256(f"cdacheck {__version__}".encode())
    here = Path(__file__).parent
    for name in _COMPILER_FILES:
        h.update((here / name).read_bytes())
    return h.hexdigest()


def key(kind: str, *parts: str) -> str:
    return hashlib.sha256("\n".join((kind, code_digest(), *parts)).encode()).hexdigest()


def _path(kind: str, k: str, forbidden: Path | None) -> Path | None:
    base = cache_dir()
    if base is None:
        return None
    if forbidden is not None:
        try:
            base.relative_to(forbidden.resolve())
            return None  # never inside the kit
        except ValueError:
            pass
    return base / kind / f"{k}.json"


def load(kind: str, k: str, forbidden: Path | None = None) -> Any | None:
    path = _path(kind, k, forbidden)
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def store(kind: str, k: str, value: Any, forbidden: Path | None = None) -> None:
    path = _path(kind, k, forbidden)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(value, out, ensure_ascii=False)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache folder only costs speed
