"""Turn what the user named (paths, directories, ``-``, bytes) into readable sources.

This and its siblings are the only code that opens files. Nothing is ever written.
"""

from __future__ import annotations

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


def read_path(path: Path, max_bytes: int) -> Source:
    """Read one file; a problem becomes a PRS010 finding, never an exception."""
    label = str(path)
    try:
        if not path.exists():
            return _error(label, "fichier introuvable")
        if not path.is_file():
            return _error(label, "ce n'est pas un fichier ordinaire")
        with path.open("rb") as fh:
            return read_stream(fh, label, max_bytes)
    except OSError as exc:
        return _error(label, exc.strerror or str(exc))


def expand(paths: Iterable[str | Path]) -> Iterator[tuple[str, Path | None]]:
    """Expand names into (label, path) in a deterministic order; ``-`` yields (``<stdin>``, None).

    Directories are walked recursively for ``*.xml`` and ``*.zip`` (any case), sorted.
    """
    for raw in paths:
        if str(raw) == "-":
            yield "<stdin>", None
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                (p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()),
                key=lambda p: p.as_posix(),
            )
            if not found:
                yield f"{path}{'' if str(path).endswith('/') else '/'}", path
            for p in found:
                yield str(p), p
        else:
            yield str(path), path


def iter_sources(paths: Iterable[str | Path | bytes], max_bytes: int,
                 stdin: BinaryIO | None = None) -> Iterator[Source]:
    """Read every input named by the user, in order."""
    for item in paths:
        if isinstance(item, (bytes, bytearray)):
            data = bytes(item)
            yield Source(label="<bytes>", data=data, kind=_kind("<bytes>", data))
            continue
        for label, path in expand([item]):
            if path is None:
                yield read_stream(stdin or sys.stdin.buffer, label, max_bytes)
            elif path.is_dir():
                hit = Hit(rule_id=R_EMPTY_DIR.id, location=Location(file=label),
                          engine=EngineName.PARSER)
                yield Source(label=label, kind="error", hits=(hit,))
            else:
                yield read_path(path, max_bytes)
