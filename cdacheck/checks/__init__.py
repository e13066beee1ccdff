"""Python-coded rules, one module per family (ins, body, doctype, header, ...).

A check is a function ``(CheckContext) -> Iterable[Hit]`` registered with :func:`check`.
Its rules are declared with :func:`cdacheck.registry.rule` in the same module, so the
registry lists them. The pipeline runs every registered check through :class:`PythonEngine`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cdacheck.config import Settings
from cdacheck.detect import Detection
from cdacheck.inputs.xml import ParsedDocument
from cdacheck.model import DocumentFacts, Hit


@dataclass(frozen=True)
class CheckContext:
    """Everything a check may read; checks never open files."""

    doc: ParsedDocument
    facts: DocumentFacts
    detection: Detection
    settings: Settings


CheckFn = Callable[[CheckContext], Iterable[Hit]]
CHECKS: list[CheckFn] = []

# Family modules; a module that does not exist yet is simply skipped.
_MODULES = ("ins", "body", "doctype", "header", "values", "datatypes", "structure")


def check(fn: CheckFn) -> CheckFn:
    """Register a document check."""
    if fn not in CHECKS:
        CHECKS.append(fn)
    return fn


def load_checks() -> list[CheckFn]:
    for name in _MODULES:
        full = f"{__name__}.{name}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
    return CHECKS


load_checks()
