"""Reporters: pure functions ``RunReport -> str``. They never print and never open files."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cdacheck.model import RunReport

# Format name -> module of this package; a reporter is imported when its format is used.
_MODULES = {
    "text": "text", "json": "json", "sarif": "sarif", "junit": "junit", "github": "github",
    "html": "html", "jsonl": "jsonl",
}


class _Formats(Mapping[str, Callable[..., str]]):
    """The ``render`` function of every format, its module imported on first use."""

    def __getitem__(self, fmt: str) -> Callable[..., str]:
        module = importlib.import_module(f"{__name__}.{_MODULES[fmt]}")
        render: Callable[..., str] = module.render
        return render

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


FORMATS: Mapping[str, Callable[..., str]] = _Formats()


def render(report: RunReport, fmt: str = "text", **options: object) -> str:
    """Render ``report`` in format ``fmt`` (one of :data:`FORMATS`)."""
    return FORMATS[fmt](report, **options)
