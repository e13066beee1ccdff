"""Turn what the user named (paths, directories, ``-``, bytes) into readable sources.

This and its siblings are the only code that opens files. Nothing is ever written.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from cdacheck.model import EngineName, Hit, Location, Severity
from cdacheck.registry import rule

R_UNREADABLE = rule("PRS010", "input-unreadable", Severity.FATAL,
                    "Entrée illisible : {reason}",
                    "A named path does not exist, is not a file, or cannot be read.")
R_EMPTY_DIR = rule("PRS011", "no-input-in-directory", Severity.WARNING,
                   "Le dossier ne contient aucun fichier *.xml ni *.zip.",
                   "A directory given on the command line holds nothing cdacheck checks.")

R_UNREADABLE_DIR = rule("PRS012", "folder-unreadable", Severity.ERROR,
                        "Dossier « {folder} » illisible ({reason}) : ses fichiers ne sont pas "
                        "vérifiés.",
                        "A folder below a directory argument cannot be listed; it is reported, "
                        "never skipped silently, and the rest of the batch goes on.")

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
SUFFIXES = (".xml", ".zip")


@dataclass(frozen=True)
class Source:
    """One input: its label (path or ``<stdin>``), its bytes, and its kind."""

    label: str
    data: bytes = b""
    kind: Literal["xml", "zip", "error"] = "xml"
    hits: tuple[Hit, ...] = field(default=())


def _kind(label: str, data: bytes) -> Literal["xml", "zip"]:
    if data.startswith(ZIP_MAGIC) or label.lower().endswith(".zip"):
        return "zip"
    return "xml"


def _error(label: str, reason: str, rule_id: str = R_UNREADABLE.id) -> Source:
    hit = Hit(rule_id=rule_id, params={"reason": reason}, location=Location(file=label),
              engine=EngineName.PARSER)
    return Source(label=label, kind="error", hits=(hit,))


def read_stream(stream: BinaryIO, label: str, max_bytes: int) -> Source:
    """Read a binary stream, at most ``max_bytes + 1`` bytes (the parser reports the excess)."""
    try:
        data = stream.read(max_bytes + 1)
    except OSError as exc:
        return _error(label, str(exc))
    return Source(label=label, data=data, kind=_kind(label, data))


def printable(name: str | Path) -> str:
    """A path as a label that any output can carry: the bytes of a file name that is not
    UTF-8 (decoded by Python as surrogates) are shown as ``\\xNN`` escapes."""
    text = os.fspath(name)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_path(path: Path, max_bytes: int) -> Source:
    """Read one file; a problem becomes a PRS010 finding, never an exception.

    Only regular files are opened (never a FIFO, a device or ``/dev/stdin`` named as a file,
    which could block or never end), without following the name to anything else.
    """
    label = printable(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return _error(label, "fichier introuvable")
        if exc.errno == errno.ENAMETOOLONG:
            return _error(label, "chemin trop long pour le système de fichiers")
        return _error(label, exc.strerror or str(exc))
    if not stat.S_ISREG(st.st_mode):
        return _error(label, "ce n'est pas un fichier ordinaire")
    try:
        with open(path, "rb", buffering=0) as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # replaced in between
                return _error(label, "ce n'est pas un fichier ordinaire")
            return read_stream(fh, label, max_bytes)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return _error(label, "chemin trop long pour le système de fichiers")
        return _error(label, exc.strerror or str(exc))


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):  # too long, unreadable parent, NUL byte: read_path says why
        return False


def walk(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every ``*.xml`` / ``*.zip`` file below ``folder`` (sorted) and the sub-folders that
    could not be listed, with the reason. Symbolic links to folders are not followed
    (no loops); files are kept only when they are regular files."""
    found: list[Path] = []
    errors: list[tuple[Path, str]] = []

    def onerror(exc: OSError) -> None:
        errors.append((Path(exc.filename) if exc.filename else folder, exc.strerror or str(exc)))

    for dirpath, _dirs, files in os.walk(folder, onerror=onerror, followlinks=False):
        for name in files:
            p = Path(dirpath) / name
            if p.suffix.lower() not in SUFFIXES:
                continue
            try:
                regular = stat.S_ISREG(os.stat(p).st_mode)
            except OSError:
                regular = True  # read_path reports why it cannot be read
            if regular:
                found.append(p)
    found.sort(key=lambda p: printable(p.as_posix()))
    errors.sort(key=lambda e: printable(e[0].as_posix()))
    return found, errors


def expand(paths: Iterable[str | Path]) -> Iterator[tuple[str, Path | None]]:
    """Expand names into (label, path) in a deterministic order; ``-`` yields (``<stdin>``, None).

    Directories are walked recursively for ``*.xml`` and ``*.zip`` (any case), sorted.
    """
    for label, path, _error_reason in _expand(paths):
        yield label, path


def _expand(paths: Iterable[str | Path]) -> Iterator[tuple[str, Path | None, str | None]]:
    for raw in paths:
        if str(raw) == "-":
            yield "<stdin>", None, None
            continue
        path = Path(raw)
        if _is_dir(path):
            found, errors = walk(path)
            for folder, reason in errors:
                yield printable(folder), folder, reason
            if not found and not errors:
                yield f"{printable(path)}{'' if str(path).endswith('/') else '/'}", path, None
            for p in found:
                yield printable(p), p, None
        else:
            yield printable(path), path, None


def looks_like_xml_text(item: str) -> bool:
    """True for a string that is an XML document rather than a path."""
    head = item.lstrip("\ufeff \t\r\n")[:1]
    return head == "<"


def iter_sources(paths: Iterable[str | Path | bytes], max_bytes: int,
                 stdin: BinaryIO | None = None) -> Iterator[Source]:
    """Read every input named by the user, in order."""
    for item in paths:
        if isinstance(item, (bytes, bytearray)):
            data = bytes(item)
            yield Source(label="<bytes>", data=data, kind=_kind("<bytes>", data))
            continue
        if isinstance(item, str) and looks_like_xml_text(item):
            # A document given as text (``check("<ClinicalDocument ...")``), not a path: no
            # file name starts with "<" after white space, and such a name would be refused
            # by the file system checks anyway.
            # Leading white space (a triple-quoted literal) would put the XML declaration off
            # the first byte, which XML forbids: it is not part of the document.
            data = item.lstrip("\ufeff \t\r\n").encode("utf-8")
            yield Source(label="<texte>", data=data, kind=_kind("<texte>", data))
            continue
        for label, path, reason in _expand([item]):
            if reason is not None:
                hit = Hit(rule_id=R_UNREADABLE_DIR.id, location=Location(file=label),
                          params={"folder": label, "reason": reason}, engine=EngineName.PARSER)
                yield Source(label=label, kind="error", hits=(hit,))
            elif path is None:
                yield read_stream(stdin or sys.stdin.buffer, label, max_bytes)
            elif _is_dir(path):
                hit = Hit(rule_id=R_EMPTY_DIR.id, location=Location(file=label),
                          engine=EngineName.PARSER)
                yield Source(label=label, kind="error", hits=(hit,))
            else:
                yield read_path(path, max_bytes)
