"""Where the report goes: ``-o`` must never overwrite one of the inputs.

Files are compared, not names: the output and each input are ``os.stat``-ed and compared by
``(st_dev, st_ino)``, which catches hard links, symbolic links, ``./a/../a.xml``, the files
found inside a directory argument and the file fed on standard input (``- < a.xml``).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from cdacheck.inputs.sources import _is_dir, printable, walk


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def overwritten_input(output: Path, inputs: Iterable[str | Path], stdin_fd: int | None = None) -> str | None:
    """The input that writing ``output`` would overwrite, or None.

    ``stdin_fd`` is the descriptor read for ``-`` (default: the process's standard input).
    An output that does not exist yet cannot be an input.
    """
    try:
        out = os.stat(output)
    except OSError:
        return None
    if not stat.S_ISREG(out.st_mode):
        return None
    target = _identity(out)
    for raw in inputs:
        if str(raw) == "-":
            fd = sys.stdin.fileno() if stdin_fd is None else stdin_fd
            try:
                if _identity(os.fstat(fd)) == target:
                    return "<stdin>"
            except (OSError, ValueError):
                pass
            continue
        path = Path(raw)
        candidates = walk(path)[0] if _is_dir(path) else [path]
        for candidate in candidates:
            try:
                if _identity(os.stat(candidate)) == target:
                    return printable(candidate)
            except OSError:
                continue
    return None
