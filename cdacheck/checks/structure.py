"""Header structure of the "structuration minimale" profile (family HDR, 1xx).

The official pipeline's StrucMin profile checks, for every header element it models, how many
times each child may appear (two ``family`` in an author's name, a second ``realmCode``),
which children and attributes must be there (an ``id`` without ``@extension`` for an
authenticator), and the form of a few attributes (a ``cs`` code without whitespace, an
``st`` that is not empty, a fixed ``classCode``). ``cdacheck/data/structure_contexts.json``
(generated from the kit by ``scripts/gen_structure_contexts.py``) lists those constraints
rule by rule in the kit's order; they are applied here at the same places, with the
official first-match semantics: an element gets the constraints of the first rule whose
context matches it, and only those.

The rule contexts use the same step predicates as the datatype table, compiled by the same
helper (:func:`cdacheck.checks.datatypes._predicate`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from importlib import resources

from lxml import etree

from cdacheck.checks import CheckContext, check
from cdacheck.checks.datatypes import _clark, _hit, _predicate, _true, strucmin_applies
from cdacheck.checks.header_walk import walk_header
from cdacheck.inputs.xml import HL7
from cdacheck.engines.schematron.xpath import split_top_level
from cdacheck.model import Hit, Severity
from cdacheck.registry import rule

_SRC = "ASIP-STRUCT-MIN-StrucMin (modèle {})"

R_MAX = rule(
    "HDR101", "element-too-often", Severity.ERROR,
    "{element} : {count} éléments {child} ; attendu au plus {max} (structuration minimale, {template}).",
    "A header element has more children of one kind than the structuration minimale profile "
    "allows (two family names in a name, a second realmCode, two ids...).",
    source=_SRC.format("CI-SIS, cardinalités maximales"))
R_MIN = rule(
    "HDR102", "element-required-missing", Severity.ERROR,
    "{element} : {count} élément(s) {child} ; attendu au moins {min} (structuration minimale, {template}).",
    "A header element lacks a child the structuration minimale profile requires.",
    source=_SRC.format("CI-SIS, cardinalités minimales"))
R_ATTR = rule(
    "HDR103", "attribute-required-missing", Severity.ERROR,
    "{element} : attribut @{attribute} absent ; attendu présent (structuration minimale, {template}).",
    "A header element lacks an attribute the structuration minimale profile requires "
    "(the @extension of a health professional's id...).",
    source=_SRC.format("CI-SIS, attributs obligatoires"))
R_FORM = rule(
    "HDR104", "attribute-form-invalid", Severity.ERROR,
    "{element}/@{attribute} = « {value} » ; attendu {expected} (structuration minimale, {template}).",
    "A header attribute breaks the form the structuration minimale profile gives it: a cs "
    "code that is empty or holds whitespace, an empty st, a value other than the fixed one.",
    source=_SRC.format("CI-SIS, types cs et st, valeurs fixes"))

R_SECTOR_SPLIT = rule(
    "HDR105", "sector-code-split", Severity.ERROR,
    "{element} : code « {code} », codeSystem « {codeSystem} » ; ensemble ils épellent le concept "
    "« {expected_code} » ({expected_system}) du JDV_J04_XdsPracticeSettingCode_CISIS, attendu "
    "code « {expected_code} » et codeSystem « {expected_system} ».",
    "A header organization's standardIndustryClassCode whose @code followed by @codeSystem "
    "spells a JDV_J04 concept while the pair is not that concept (the code system glued to "
    "the code, or cut elsewhere): the profile's J04 rules then apply to it and reject it.",
    source=_SRC.format("CI-SISAuthor, CI-SISAuthenticator, CI-SISComponentOf : The element "
                       "value SHALL be one of JDV_J04 ; attribute @codeSystem SHALL be present"))

_WS = re.compile(r"[ \t\n\r]")  # XPath's \s

Test = Callable[[etree._Element], bool]
Constraint = tuple[str, object, object, object, str]


class _Plan:
    """The constraints of one rule: plain maxima by child tag (checked from the counts of the
    element's children, one pass), and the others in the kit's order."""

    __slots__ = ("max_plain", "min_plain", "required", "forms", "absent_fixed", "others")

    def __init__(self) -> None:
        self.max_plain: dict[str, tuple[int, str, str]] = {}  # tag -> (max, step text, label)
        self.min_plain: list[tuple[str, int, str, str]] = []  # (tag, min, step text, label)
        self.required: list[tuple[str, str]] = []  # (attribute, label)
        self.forms: dict[str, list[Constraint]] = {}  # attribute -> its cs/st/fixed checks
        self.absent_fixed: list[Constraint] = []  # fixed values whose attribute must be there
        self.others: list[Constraint] = []  # counts through a predicate


class _Node:
    __slots__ = ("edges", "rules")

    def __init__(self) -> None:
        self.edges: dict[str, list[tuple[str, Test, _Node]]] = {}
        self.rules: list[int] = []


def _step(text: str) -> tuple[str, Test]:
    name, _, preds = text.partition("[")
    return _clark(name.strip()), (_predicate("[" + preds) if preds else _true)


@lru_cache(maxsize=1)
def _table() -> tuple[_Node, list[_Plan | None]]:
    raw = resources.files("cdacheck").joinpath("data/structure_contexts.json").read_text("utf-8")
    root = _Node()
    constraints: list[_Plan | None] = []
    for context, checks in json.loads(raw)["rules"]:
        try:
            steps = [s for s in split_top_level(context, "/") if s] if context else []
            plan = _Plan()
            for c in checks:
                kind = c[0]
                if kind in ("max", "min"):
                    tag, test = _step(c[1])
                    if kind == "max" and test is _true and tag not in plan.max_plain:
                        plan.max_plain[tag] = (c[2], c[1], c[3])
                    elif kind == "min" and test is _true:
                        plan.min_plain.append((tag, c[2], c[1], c[3]))
                    else:
                        plan.others.append((kind, (tag, test), c[1], c[2], c[3]))
                elif kind == "attr":
                    plan.required.append((c[1], c[2]))
                elif kind == "fixed":
                    plan.forms.setdefault(c[1], []).append((kind, c[1], c[2], c[3], c[4]))
                    if not c[3]:  # not optional: an absent attribute reads "", not the value
                        plan.absent_fixed.append((kind, c[1], c[2], c[3], c[4]))
                else:
                    plan.forms.setdefault(c[1], []).append((kind, c[1], None, None, c[2]))
            node = root
            for step in steps:
                name, _, preds = step.partition("[")
                tag = _clark(name.strip())
                edges = node.edges.setdefault(tag, [])
                found = next((n for p, _, n in edges if p == preds), None)
                if found is None:
                    found = _Node()
                    edges.append((preds, _predicate("[" + preds) if preds else _true, found))
                node = found
        except (KeyError, ValueError, IndexError):  # a prefix or predicate form we do not model
            continue
        node.rules.append(len(constraints))
        constraints.append(plan if plan.max_plain or plan.min_plain or plan.required
                           or plan.forms or plan.absent_fixed or plan.others else None)
    return root, constraints


@check
def check_structure(ctx: CheckContext) -> Iterator[Hit]:
    """Apply the StrucMin cardinality and attribute constraints of each header element."""
    cda = ctx.doc.cda
    if not strucmin_applies(cda):
        return
    constraints = _table()[1]
    first = walk_header(cda)[1]  # one walk for this table and the datatype one
    for el, idx in first.items():
        plan = constraints[idx]
        if plan is None:
            continue
        if (plan.max_plain or plan.min_plain or plan.others) and len(el):
            counts: dict[object, int] = {}
            for k in el:
                counts[k.tag] = counts.get(k.tag, 0) + 1
        else:
            counts = {}
        if plan.max_plain:
            for tag, n in counts.items():
                entry = plan.max_plain.get(tag)  # type: ignore[call-overload]
                if entry is not None and n > entry[0]:
                    yield _hit(ctx, R_MAX, el, child=entry[1], count=str(n), max=str(entry[0]),
                               template=entry[2])
        for tag, low, step, label in plan.min_plain:
            n = counts.get(tag, 0)
            if n < low:
                yield _hit(ctx, R_MIN, el, child=step, count=str(n), min=str(low), template=label)
        for kind, a, b, c, label in plan.others:  # counts through a predicate
            tag, test = a  # type: ignore[misc]
            total = counts.get(tag, 0)
            if kind == "max" and total <= c:  # type: ignore[operator]
                continue  # no more children of that name than allowed: none can be too many
            n = sum(1 for k in el.iterchildren(tag) if test(k)) if total else 0
            if kind == "max" and n > c:  # type: ignore[operator]
                yield _hit(ctx, R_MAX, el, child=str(b), count=str(n), max=str(c), template=label)
            elif kind == "min" and n < c:  # type: ignore[operator]
                yield _hit(ctx, R_MIN, el, child=str(b), count=str(n), min=str(c), template=label)
        attrib = el.attrib
        for name, label in plan.required:
            if name not in attrib:
                yield _hit(ctx, R_ATTR, el, attribute=name, template=label)
        for fixed in plan.absent_fixed:
            if str(fixed[1]) not in attrib:
                yield from _forms(ctx, el, [fixed], "")
        if plan.forms:
            for name, value in attrib.items():
                checks = plan.forms.get(name)  # type: ignore[call-overload]
                if checks is not None:
                    yield from _forms(ctx, el, checks, value)


def _forms(ctx: CheckContext, el: etree._Element, checks: list[Constraint], value: str) -> Iterator[Hit]:
    """The cs / st / fixed-value checks of one attribute (``value``: "" when absent)."""
    for kind, a, b, c, label in checks:
        if kind == "cs":
            if value == "" or _WS.search(value):
                yield _hit(ctx, R_FORM, el, attribute=str(a), value=value, template=label,
                           expected="un code sans espace (type cs)")
        elif kind == "st":
            if value == "":
                yield _hit(ctx, R_FORM, el, attribute=str(a), value=value, template=label,
                           expected="une valeur non vide (type st)")
        elif kind == "fixed" and value != b:
            yield _hit(ctx, R_FORM, el, attribute=str(a), value=value, template=label,
                       expected=f"« {b} »")


_SIC = f"{{{HL7}}}standardIndustryClassCode"
_COMPONENT = f"{{{HL7}}}component"


@lru_cache(maxsize=1)
def _j04() -> tuple[frozenset[tuple[str, str]], dict[str, tuple[str, str]]]:
    """JDV_J04 (our generated copy, the one the header pack reads): its (code, system) pairs,
    and each pair by its concatenation (the kit's J04 rule contexts match on
    ``concat(@code, @codeSystem)``)."""
    from cdacheck.checks.xdm_codes import cisis_value_set  # its value-set reader (no XDM import)

    vs = cisis_value_set("J04")
    pairs = frozenset((code, system) for code, systems in (vs.codes.items() if vs else ())
                      for system in systems)
    return pairs, {code + system: (code, system) for code, system in pairs}


@check
def check_sector_codes(ctx: CheckContext) -> Iterator[Hit]:
    """HDR105: a header standardIndustryClassCode that spells a J04 concept across its two
    attributes. Every header organization is looked at (the kit's J04 contexts are the
    author's, the authenticator's and the encounter's organizations; elsewhere such a split
    is as wrong)."""
    cda = ctx.doc.cda
    if not strucmin_applies(cda):
        return
    pairs, by_concat = _j04()
    for part in cda.iterchildren(tag=etree.Element):
        if part.tag == _COMPONENT:
            continue
        for el in part.iter(_SIC):
            code, system = el.get("code") or "", el.get("codeSystem") or ""
            if (code, system) in pairs:
                continue
            spelled = by_concat.get(code + system)
            if spelled is not None:
                yield _hit(ctx, R_SECTOR_SPLIT, el, code=code, codeSystem=system or "(absent)",
                           expected_code=spelled[0], expected_system=spelled[1])
