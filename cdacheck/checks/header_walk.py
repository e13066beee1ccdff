"""One walk of the header for the two StrucMin tables (DTr1 datatypes and structure).

:mod:`cdacheck.checks.datatypes` and :mod:`cdacheck.checks.structure` each hold a tree of the
official rule contexts (steps with predicates compiled by the same cached helper, so one
predicate text is one function object in both). Walking the header once per table cost each
check about half its time (an lxml proxy per visited child, a predicate call per candidate);
the two trees are merged here into one, walked once per document, and the result is kept for
the document being checked (the two checks run one after the other on it).

The merge keeps each table's semantics: every matching step is followed (datatypes: the rule
sets of all matching contexts are united; structure: the smallest rule index wins, the
official first-match order), and a plain non-empty string leaf of the datatype table is left
out of the datatype result only.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from lxml import etree

# (datatypes imports this module inside check_datatypes only; structure imports it at load,
# hence its table is read lazily below)
from cdacheck.checks.datatypes import Kinds, _context_tree, _true

First = dict[etree._Element, int]


class _Joint:
    """A step of both trees: by child tag, (test, datatype node, structure node, next)."""

    __slots__ = ("steps", "s_rules")

    def __init__(self) -> None:
        self.steps: dict[str, tuple[tuple[Any, Any, Any, _Joint], ...]] = {}
        self.s_rules: list[int] = []


def _merge(d_node: Any, s_node: Any) -> _Joint:
    joint = _Joint()
    joint.s_rules = list(s_node.rules) if s_node is not None else []
    d_steps = d_node.steps if d_node is not None else {}
    s_edges = s_node.edges if s_node is not None else {}
    for tag in list(d_steps) + [t for t in s_edges if t not in d_steps]:
        # one entry per predicate function (each table holds a predicate text once per tag,
        # and the cached compiler gives one text one function)
        by_test: dict[int, list[Any]] = {}  # id(test) -> [test, datatype node, structure node]
        for test, d_child in d_steps.get(tag, ()):
            by_test.setdefault(id(test), [test, None, None])[1] = d_child
        for _, test, s_child in s_edges.get(tag, ()):
            by_test.setdefault(id(test), [test, None, None])[2] = s_child
        joint.steps[tag] = tuple((t, d, s, _merge(d, s)) for t, d, s in by_test.values())
    return joint


@lru_cache(maxsize=1)
def _tree() -> _Joint:
    from cdacheck.checks.structure import _table

    return _merge(_context_tree(), _table()[0])


def _walk(el: etree._Element, joint: _Joint, kinds: Kinds, first: First) -> None:
    for sub in el:
        entries = joint.steps.get(sub.tag)  # type: ignore[call-overload]
        if entries is None:
            continue
        for test, d_child, s_child, nxt in entries:
            if test is not _true and not test(sub):
                continue
            if s_child is not None and s_child.rules:
                idx = s_child.rules[0]
                prev = first.get(sub)
                if prev is None or idx < prev:
                    first[sub] = idx
            if d_child is not None and d_child.rules and not (
                    d_child.text_leaf and not sub.attrib and not len(sub) and sub.text
                    and sub.text.strip(" \t\r\n")):
                prev_kinds = kinds.get(sub)
                kinds[sub] = d_child.rules if prev_kinds is None else prev_kinds | d_child.rules
            if nxt.steps and len(sub):
                _walk(sub, nxt, kinds, first)


class _Last(threading.local):
    def __init__(self) -> None:
        self.cda: etree._Element | None = None
        self.result: tuple[Kinds, First] = ({}, {})


_LAST = _Last()


def walk_header(cda: etree._Element) -> tuple[Kinds, First]:
    """(datatype rule sets by element, structure rule index by element) for ``cda``, computed
    once per document (per thread). Callers must not modify the dictionaries."""
    if _LAST.cda is cda:
        return _LAST.result
    joint = _tree()
    kinds: Kinds = {}
    first: First = {}
    if joint.s_rules:  # a structure rule with an empty context: the ClinicalDocument itself
        first[cda] = joint.s_rules[0]
    _walk(cda, joint, kinds, first)
    _LAST.cda, _LAST.result = cda, (kinds, first)
    return kinds, first
