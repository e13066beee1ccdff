"""HL7 datatype rules of the header (family DTY): timestamps, intervals, codes, identifiers...

The official pipeline's "structuration minimale" profile applies the ART-DECOR DTr1 datatype
rules to the header elements it models (``cdacheck/data/datatype_contexts.json``, generated
from the kit by ``scripts/gen_datatype_contexts.py``): a TS must be a timestamp that exists
(no 30 February, no hour 59, a UTC offset within ±14:00), an interval's low must not be after
its high, a code needs its code system, a nullFlavor excludes any other content, an ST or an
originalText is not empty... The same rules are applied here, at the same places and only
there (the body's datatypes are not checked by the official pipeline beyond the XSD).

Known difference: in the official pattern only the first rule whose context matches an element
fires; here an element matched by two contexts gets the rules of both (no such overlap between
datatypes exists in the kit's table today).

Values the CDA schema already rejects (a TS with a letter, 15 digits, non-ASCII digits, an
OID with a letter) are left to the XSD engine, so one defect gives one finding. Every value is
handled as a string with integer arithmetic: nothing here can raise on an odd value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import lru_cache, partial
from importlib import resources

from lxml import etree

from cdacheck.checks import CheckContext, check
from cdacheck.engines.schematron.xpath import split_top_level
from cdacheck.inputs.xml import HL7
from cdacheck.model import Hit, Severity
from cdacheck.registry import rule

XSI = "http://www.w3.org/2001/XMLSchema-instance"
_NS = {
    "hl7": HL7, "cda": HL7, "sdtc": "urn:hl7-org:sdtc", "lab": "urn:oid:1.3.6.1.4.1.19376.1.3.2",
    "ps3-20": "urn:dicom-org:ps3-20", "xsi": XSI,
}
_SRC = "ASIP-STRUCT-MIN-StrucMin (ART-DECOR DTr1 {})"
_TYPE_ID = ("2.16.840.1.113883.1.3", "POCD_HD000040")

R_TS = rule(
    "DTY001", "timestamp-invalid", Severity.ERROR,
    "{element}/@value = « {value} » : horodatage impossible ({reason}) ; attendu "
    "AAAA[MM[JJ[hh[mm[ss[.s]]]]]][±hhmm] désignant une date et une heure qui existent.",
    "A header TS (or an interval bound) passes the schema pattern but is not a real date and "
    "time: month, day, hour, minute, second or UTC offset out of range, odd digit count.",
    source=_SRC.format("dtr1-2-TS, dtr1-9-IVL_TS"))
R_TS_NULL = rule(
    "DTY002", "timestamp-value-or-null", Severity.ERROR,
    "{element} : {found} ; attendu soit @value, soit @nullFlavor (un seul des deux).",
    "A header TS carries neither a value nor a nullFlavor, or both.",
    source=_SRC.format("dtr1-1-TS"))
R_IVL_ORDER = rule(
    "DTY003", "interval-low-after-high", Severity.ERROR,
    "{element} : low « {low} » est postérieur à high « {high} » ; attendu low antérieur ou égal "
    "à high.",
    "An interval's low bound is after its high bound (compared as instants, offsets applied).",
    source=_SRC.format("dtr1-7-IVL_TS"))
R_IVL_EQUAL = rule(
    "DTY004", "interval-bounds-equal", Severity.ERROR,
    "{element} : low et high ont la même valeur « {value} » ; attendu deux bornes différentes "
    "(ou un @value seul).",
    "An interval whose low/@value and high/@value are the same string.",
    source=_SRC.format("dtr1-6-IVL_TS"))
R_IVL_FORM = rule(
    "DTY005", "interval-structure", Severity.ERROR,
    "{element} : {found} ; attendu {expected}.",
    "An interval mixes @value with bounds, center with low/high, width with both bounds, a "
    "nullFlavor with a value, an infinite bound on the wrong side, or a bad width unit.",
    source=_SRC.format("dtr1-2..8-IVL_TS, dtr1-1-IVXB_TS, dtr1-1-SXCM_TS"))
R_CODE_SYSTEM = rule(
    "DTY006", "code-without-code-system", Severity.ERROR,
    "{element} : @code « {code} » sans @codeSystem ; attendu l'OID du système de codes.",
    "A coded header value (CD/CE/CV, or the optional code of an SC) has a code but no codeSystem.",
    source=_SRC.format("dtr1-2-CD, dtr1-2-SC"))
R_CODE_FORM = rule(
    "DTY007", "coded-value-inconsistent", Severity.ERROR,
    "{element} : {found} ; attendu {expected}.",
    "A coded header value breaks a CD/CE/CV co-occurrence rule (displayName without code, "
    "codeSystemName without codeSystem, code with nullFlavor, translations, qualifier...), "
    "or the optional code of an SC (manufacturerModelName, softwareName) breaks one.",
    source=_SRC.format("dtr1-1..19-CD, dtr1-1-CE, dtr1-3..7-SC"))
R_CS = rule(
    "DTY008", "simple-code-inconsistent", Severity.ERROR,
    "{element} : {found} ; attendu {expected}.",
    "A CS header value (realmCode, languageCode, signatureCode, statusCode) has both or neither "
    "code and nullFlavor, or an attribute or child a CS cannot have.",
    source=_SRC.format("dtr1-1..8-CS"))
R_EMPTY = rule(
    "DTY009", "text-content-empty", Severity.ERROR,
    "{element} est vide ; attendu un contenu textuel ou un @nullFlavor.",
    "A header ST/ED element (title, address part, originalText) has no content and no "
    "nullFlavor.", source=_SRC.format("dtr1-1-BIN"))
R_NULL = rule(
    "DTY010", "null-flavor-with-content", Severity.ERROR,
    "{element} porte @nullFlavor=« {null} » et aussi {found} ; attendu rien d'autre qu'un "
    "nullFlavor (sauf OTH, NA, UNC avec @codeSystem, @extension, originalText ou translation).",
    "A header element with a nullFlavor also carries a value, other attributes, children or "
    "text.", source=_SRC.format("dtr1-1-ANY, dtr1-1.1-EN"))
R_II = rule(
    "DTY011", "identifier-invalid", Severity.ERROR,
    "{element} : {found} ; attendu {expected}.",
    "A header II: root missing without nullFlavor, root with nullFlavor, a root that is an "
    "RUID, or two identical identifiers side by side.",
    source=_SRC.format("dtr1-1..12-II"))
R_ST = rule(
    "DTY012", "text-attributes-invalid", Severity.ERROR,
    "{element} : {found} ; attendu {expected}.",
    "A header ST/ED element carries a reference, a thumbnail, a representation or media type "
    "a plain string cannot have, or attributes its nullFlavor excludes.",
    source=_SRC.format("dtr1-3..9-ST, dtr1-2..17-ED"))
R_NAME = rule(
    "DTY013", "name-or-address-content", Severity.ERROR,
    "{element} : {found} ; attendu {expected}.",
    "A header name or address is empty, mixes text with parts, or an organization name holds "
    "person name parts.", source=_SRC.format("dtr1-1-AD, dtr1-1.2/1.3-EN, dtr1-1/2-ON"))
R_TEL = rule(
    "DTY014", "telecom-invalid", Severity.ERROR,
    "{element} : {found} ; attendu {expected}.",
    "A header telecom has no @value and no nullFlavor, a value with characters a URI cannot "
    "hold (spaces, accents...), or the same use and value twice.",
    source=_SRC.format("dtr1-1/2/5-URL, dtr1-1-TEL"))
R_INT = rule(
    "DTY015", "integer-invalid", Severity.ERROR,
    "{element} : {found} ; attendu {expected}.",
    "A header INT (versionNumber, multipleBirthOrderNumber) has neither value nor nullFlavor, "
    "or both, or is not positive where it must be.",
    source=_SRC.format("dtr1-1-INT, dtr1-2-INT.POS"))

R_TS_SHORT = rule(
    "DTY016", "timestamp-without-year", Severity.ERROR,
    "{element}/@value = « {value} » : moins de quatre chiffres, l'année manque ; attendu au "
    "moins AAAA (en pratique AAAAMMJJhhmmss±hhmm).",
    "A header timestamp of the StrucMin templates holds fewer than four digits (no year).",
    source="ASIP-STRUCT-MIN-StrucMin (Attribute @value SHALL be of data type 'ts')")

R_RIM_NULL = rule(
    "DTY017", "null-beside-values", Severity.ERROR,
    "{element} porte @nullFlavor=« {null} » alors qu'un autre {local} à côté a une valeur ; "
    "attendu retirer l'élément nul (RIM-001).",
    "A header address, name, telecom or timestamp is null while a sibling of the same name is "
    "not.", source=_SRC.format("dtr1-9-AD, dtr1-5-EN, dtr1-4-URL, dtr1-3-QTY"))
R_RIM_SAME = rule(
    "DTY018", "duplicate-name-or-address", Severity.ERROR,
    "{element} « {value} » apparaît deux fois côte à côte ; attendu des {local} distincts "
    "(RIM-002).",
    "Two sibling header addresses or names with the same parts, text and uses.",
    source=_SRC.format("dtr1-10-AD, dtr1-6-EN"))
R_XSI = rule(
    "DTY019", "xsi-type-not-the-datatype", Severity.ERROR,
    "{element}/@xsi:type = « {found} » ; attendu aucun xsi:type ou « {expected} » (type de "
    "données de cet élément dans la structuration minimale).",
    "A header element of the official datatype table declares an xsi:type other than its own "
    "datatype (an ST on an ED originalText: the schema accepts a derived type, the profile "
    "does not).", source=_SRC.format("templates CI-SIS : If an @xsi:type instruction is present "
                                     "it SHALL be valued"))

# The xsi:type each datatype of the table admits (the profile's "If an @xsi:type instruction is
# present it SHALL be valued" asserts name the datatype itself, INT for an INT.POS), kept in an
# element's rule set as "xsi=<name>".
_XSI_NAME = {"INT.POS": "INT"}
_XSI_MARK = "xsi="

# Which abstract rules each datatype of the table brings (its ``extends`` chain).
_CHAIN: dict[str, tuple[str, ...]] = {
    "ANY": ("ANY",), "BL": ("ANY",),
    "TS": ("TS", "QTY", "ANY"), "IVXB_TS": ("IVXB_TS", "TS", "QTY", "ANY"),
    "IVL_TS": ("IVL_TS", "SXCM_TS", "TS", "QTY", "ANY"),
    "CD": ("CD", "ANY"), "CE": ("CE", "CD", "ANY"), "CV": ("CE", "CD", "ANY"),
    "CS": ("CS", "ANY"), "CR": ("ANY",),
    "ED": ("ED", "BIN", "ANY"), "ST": ("ST", "ED", "BIN", "ANY"), "SC": ("SC", "ST", "ED", "BIN", "ANY"),
    "II": ("II", "ANY"), "INT": ("INT", "QTY", "ANY"),
    "INT.POS": ("INT.POS", "INT", "QTY", "ANY"),
    "AD": ("AD", "ANY"), "EN": ("EN", "ANY"), "PN": ("PN", "EN", "ANY"), "ON": ("ON", "EN", "ANY"),
    "TEL": ("URL", "ANY"), "ts-attr": ("TS4",),
}


class _Node:
    """A step of the context tree: child steps by tag, datatype rules ending here."""

    __slots__ = ("by_tag", "rules", "text_leaf", "steps")

    def __init__(self) -> None:
        self.by_tag: dict[str, dict[str, tuple[Callable[[etree._Element], bool], _Node]]] = {}
        self.rules: set[str] = set()
        self.text_leaf = False  # an ST leaf: a plain non-empty string there needs no check
        # Set by _freeze: by tag, the (test, node) pairs of by_tag as a tuple.
        self.steps: dict[str, tuple[tuple[Callable[[etree._Element], bool], _Node], ...]] = {}


@lru_cache(maxsize=1)
def _context_tree() -> _Node:
    """The official contexts as one tree of steps, walked once per document."""
    raw = resources.files("cdacheck").joinpath("data/datatype_contexts.json").read_text("utf-8")
    table: dict[str, list[str]] = json.loads(raw)["contexts"]
    root = _Node()
    for dtype, paths in table.items():
        chain = _CHAIN.get(dtype)
        if chain is None:
            continue
        for path in paths:
            node = root
            for step in split_top_level(path, "/"):
                name, _, preds = step.partition("[")
                steps = node.by_tag.setdefault(_clark(name.strip()), {})
                if preds not in steps:
                    steps[preds] = (_predicate("[" + preds) if preds else _true, _Node())
                node = steps[preds][1]
            node.rules.update(chain)
            if dtype != "ts-attr":
                node.rules.add(_XSI_MARK + _XSI_NAME.get(dtype, dtype))
    _freeze(root)
    return root


def _freeze(node: _Node) -> None:
    node.rules = frozenset(node.rules)  # type: ignore[assignment]
    node.text_leaf = {r for r in node.rules if not r.startswith(_XSI_MARK)} == set(_CHAIN["ST"]) \
        and not node.by_tag  # (a plain string leaf has no attribute, so no xsi:type)
    node.steps = {tag: tuple(steps.values()) for tag, steps in node.by_tag.items()}
    for steps in node.by_tag.values():
        for _, child in steps.values():
            _freeze(child)


Kinds = dict[etree._Element, frozenset[str]]


def strucmin_applies(cda: etree._Element) -> bool:
    """Whether the StrucMin rule contexts can match: they all require the CDA R2 typeId
    (the XSD and header rules report a wrong one)."""
    type_id = cda.find(f"{{{HL7}}}typeId")
    return type_id is not None and (type_id.get("root"), type_id.get("extension")) == _TYPE_ID


@check
def check_datatypes(ctx: CheckContext) -> Iterator[Hit]:
    """Apply the DTr1 rules each header element gets in the official profile."""
    cda = ctx.doc.cda
    if not strucmin_applies(cda):
        return
    from cdacheck.checks.header_walk import walk_header

    kinds = walk_header(cda)[0]  # one walk for this table and the structure one
    yield from _any(ctx, cda, kinds)
    plans = _PLANS
    for el, rules in kinds.items():
        simple, steps = plans.get(rules) or _plan(rules)
        for spec, fn in simple:  # inlined: the commonest checks, one generator each
            for found, expected in fn(el):
                yield _hit(ctx, spec, el, found=found, expected=expected)
        for step in steps:
            yield from step(ctx, el, kinds)
        xsi_type = el.get(_XSI_TYPE)
        if xsi_type is not None:
            yield from _xsi(ctx, el, xsi_type, _xsi_expected(rules))


# --------------------------------------------------------------------------- context steps

Test = Callable[[etree._Element], bool]


def _true(el: etree._Element) -> bool:
    return True


@lru_cache(maxsize=None)
def _clark(qname: str) -> str:
    prefix, _, local = qname.rpartition(":")
    return f"{{{_NS[prefix or 'hl7']}}}{local}"


_TOKEN = re.compile(r"\s*(not\(|\(|\)|\[|\]|=|'[^']*'|\bor\b|\band\b|@[\w.-]+|[\w.-]+:[\w.-]+)")


@lru_cache(maxsize=None)  # the two header tables repeat their predicates: compiled once
def _predicate(text: str) -> Test:
    """Compile the step predicates the table uses (``[p][q]``: @a, @a='v', child[...], not,
    and, or) into a Python test; XPath semantics: a missing attribute equals nothing."""
    tokens = _TOKEN.findall(text)
    pos = 0

    def peek() -> str:
        return tokens[pos].strip() if pos < len(tokens) else ""

    def take(expected: str | None = None) -> str:
        nonlocal pos
        tok = peek()
        if expected is not None and tok != expected:
            raise ValueError(f"predicate {text!r}: {expected!r} expected, {tok!r} found")
        pos += 1
        return tok

    def chain(word: str, operand: Callable[[], Test]) -> Test:
        """``operand (word operand)*`` for ``or`` / ``and``, left to right, short-circuit."""
        tests = [operand()]
        while peek() == word:
            take()
            tests.append(operand())
        if len(tests) == 1:
            return tests[0]
        if word == "or":
            return lambda el: any(t(el) for t in tests)
        return lambda el: all(t(el) for t in tests)

    def expr() -> Test:
        return chain("or", conj)

    def conj() -> Test:
        return chain("and", unary)

    def unary() -> Test:
        nonlocal pos
        tok = take()
        if tok == "not(":
            rest = [t.strip() for t in tokens[pos:pos + 2]]
            if len(rest) == 2 and rest[1] == ")" and rest[0].startswith("@"):
                pos += 2  # not(@a): the commonest predicate, kept to one call
                attr = rest[0][1:]
                return lambda el: el.get(attr) is None
            inner = expr()
            take(")")
            return lambda el: not inner(el)
        if tok.startswith("@"):
            attr = tok[1:]
            if peek() == "=":
                take()
                value = take()[1:-1]
                return lambda el: el.get(attr) == value
            return lambda el: el.get(attr) is not None
        tag = _clark(tok)
        tests = steps()
        if not tests:
            return lambda el: next(el.iterchildren(tag), None) is not None
        inner = tests[0] if len(tests) == 1 else (lambda c: all(t(c) for t in tests))
        return lambda el: any(inner(c) for c in el.iterchildren(tag))

    def steps() -> list[Test]:
        tests = []
        while peek() == "[":
            take()
            tests.append(expr())
            take("]")
        return tests

    all_tests = steps()
    if pos != len(tokens):
        raise ValueError(f"predicate {text!r} not understood")
    if len(all_tests) == 1:
        return all_tests[0]
    return lambda el: all(t(el) for t in all_tests)


_HEADER_NULLS = etree.XPath("*[not(self::hl7:component)]/descendant-or-self::*[@nullFlavor]",
                           namespaces=_NS)


def _any(ctx: CheckContext, cda: etree._Element, kinds: Kinds) -> Iterator[Hit]:
    """dtr1-1-ANY on every nullFlavored element at or below an ANY context."""
    for el in _HEADER_NULLS(cda):
        up = el
        while up is not None and up is not cda:
            rules = kinds.get(up)
            if rules is not None and "ANY" in rules:
                found = _null_extra(el)
                if found:
                    yield _hit(ctx, R_NULL, el, null=el.get("nullFlavor"), found=found)
                break
            up = up.getparent()


Step = Callable[[CheckContext, etree._Element, Kinds], Iterator[Hit]]


Simple = tuple[tuple[object, Callable[[etree._Element], "Problems"]], ...]
Plan = tuple[Simple, tuple[Step, ...]]


def _plan(rules: frozenset[str]) -> Plan:
    """The checks an element gets for the set of abstract rules its contexts bring."""
    plan = _PLANS.get(rules)
    if plan is None:
        plan = _PLANS[rules] = _make_plan(rules)
    return plan


def _make_plan(rules: frozenset[str]) -> Plan:
    steps: list[Step] = []
    if "TS" in rules:
        steps.append(partial(_ts, ivxb="IVXB_TS" in rules))
    if "TS4" in rules:
        steps.append(_ts4)
    if "IVL_TS" in rules:
        steps.append(_ivl)
    if "CD" in rules:
        steps.append(partial(_cd, ce="CE" in rules))
    if "SC" in rules:
        steps.append(_sc)
    simple = tuple((_SIMPLE_RULE[name], fn) for name, fn in _SIMPLE if name in rules)
    if rules & _RIM:
        steps.append(partial(_rim, names="AD" in rules or "EN" in rules))
    if "BIN" in rules:
        steps.append(_bin)
    return simple, tuple(steps)


@lru_cache(maxsize=256)
def _xsi_expected(rules: frozenset[str]) -> frozenset[tuple[str, str]]:
    return frozenset((HL7, r[len(_XSI_MARK):]) for r in rules if r.startswith(_XSI_MARK))


def _xsi(ctx: CheckContext, el: etree._Element, found: str, expected: frozenset[tuple[str, str]]) -> Iterator[Hit]:
    """``resolve-QName(@xsi:type, .)`` is one of the element's datatypes (its prefix resolved
    against the element's namespaces, as the profile does). Called only for an element with
    an xsi:type (a plan step per element cost 10 % of this check)."""
    if not expected:
        return
    prefix, _, local = found.strip().rpartition(":")
    if (el.nsmap.get(prefix or None), local) not in expected:
        yield _hit(ctx, R_XSI, el, found=found,
                   expected=" ou ".join(sorted(n for _, n in expected)))


_PLANS: dict[frozenset[str], Plan] = {}


def _ts4(ctx: CheckContext, el: etree._Element, kinds: Kinds) -> Iterator[Hit]:
    value = el.get("value")
    if value is not None and _TS_XSD.fullmatch(value) and not _TS_FOUR.match(value):
        yield _hit(ctx, R_TS_SHORT, el, value=value)


def _bin(ctx: CheckContext, el: etree._Element, kinds: Kinds) -> Iterator[Hit]:
    if el.get("nullFlavor") is None and not _children(el) and not _has_text(el):
        yield _hit(ctx, R_EMPTY, el)


_RIM = frozenset({"AD", "EN", "URL", "QTY"})


def _rim(ctx: CheckContext, el: etree._Element, kinds: Kinds, names: bool) -> Iterator[Hit]:
    """RIM-001 (no null beside values) and, for names and addresses, RIM-002 (distinct)."""
    if not _has_namesake(el):
        return
    others = _siblings(el)
    local = etree.QName(el).localname
    null = el.get("nullFlavor")
    if null is not None and any(o.get("nullFlavor") is None for o in others):
        yield _hit(ctx, R_RIM_NULL, el, null=null, local=local)
    if names:
        value = _rim_value(el)
        if any(_rim_value(o) == value for o in others):
            yield _hit(ctx, R_RIM_SAME, el, value=" ".join(value.split())[:80], local=local)


def _rim_value(el: etree._Element) -> str:
    """``string-join((.//@use | .//text()), '')``: uses and text nodes in document order."""
    parts: list[str] = []

    def walk(e: etree._Element) -> None:
        use = e.get("use")
        if use is not None:
            parts.append(use)
        if e.text:
            parts.append(e.text)
        for c in e:
            if isinstance(c.tag, str):
                walk(c)
            if c.tail:
                parts.append(c.tail)

    walk(el)
    return "".join(parts)


@lru_cache(maxsize=64)
def _simple_plan(rules: frozenset[str]) -> tuple[tuple[object, Callable[[etree._Element], Problems]], ...]:
    return tuple((_SIMPLE_RULE[name], fn) for name, fn in _SIMPLE if name in rules)


# --------------------------------------------------------------------------- helpers

def _hit(ctx: CheckContext, spec: object, el: etree._Element, **params: str | None) -> Hit:
    rule_id = getattr(spec, "id")
    return Hit(rule_id=rule_id, location=ctx.doc.location(el),
               params={"element": _name(el), **{k: v for k, v in params.items()}})


def _name(el: etree._Element) -> str:
    parent = el.getparent()
    local = etree.QName(el).localname
    if parent is None:
        return local
    return f"{etree.QName(parent).localname}/{local}"


def _children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)] if len(el) else []


def _child(el: etree._Element, local: str) -> list[etree._Element]:
    # len() first: most header elements are leaves; iterchildren, not findall (lxml's find*
    # go through its Python ElementPath, twice the cost)
    return list(el.iterchildren(f"{{{HL7}}}{local}")) if len(el) else []


def _has_text(el: etree._Element) -> bool:
    """Some text() child of ``el`` that is not only whitespace (XPath normalize-space)."""
    if el.text and el.text.strip(" \t\r\n"):
        return True
    return any(c.tail and c.tail.strip(" \t\r\n") for c in el)


def _all_text(el: etree._Element) -> str:
    parts = [el.text or ""] + [c.tail or "" for c in el]
    return "".join(parts)


def _attrs(el: etree._Element) -> str:
    return " ".join(f'{etree.QName(k).localname}="{v[:40]}"' for k, v in el.attrib.items()
                    if k != "nullFlavor")


# --------------------------------------------------------------------------- ANY

_XSI_TYPE, _XSI_NIL = f"{{{XSI}}}type", f"{{{XSI}}}nil"
_ANY_FREE = frozenset({_XSI_TYPE, _XSI_NIL, "classCode", "typeCode", "determinerCode",
                       "moodCode", "nullFlavor", "partType"})
_ANY_FIXED = {"integrityCheckAlgorithm": "SHA-1", "mediaType": "text/plain", "operator": "I",
              "representation": "TXT", "inclusive": "true", "unit": "1"}
_ANY_FIXED_1 = {**_ANY_FIXED, "codeSystem": "2.16.840.1.113883.5.139",
                "codeSystemName": "TimingEvent", "inverted": "false"}
_ANY_FREE_3 = frozenset({_XSI_TYPE, _XSI_NIL, "codeSystem", "codeSystemName",
                         "codeSystemVersion", "extension", "nullFlavor", "partType"})


def _null_extra(el: etree._Element) -> str | None:
    """What a nullFlavored element carries besides its null (dtr1-1-ANY), or None if fine."""
    null = el.get("nullFlavor")
    if null is None:
        return None
    kids = _children(el)
    bad1 = [k for k, v in el.attrib.items() if k not in _ANY_FREE and _ANY_FIXED_1.get(k) != v]
    if not bad1 and not kids and not _has_text(el):
        return None
    if null in ("OTH", "NA", "UNC"):
        bad3 = [k for k, v in el.attrib.items()
                if k not in _ANY_FREE_3 and _ANY_FIXED.get(k) != v
                and etree.QName(k).localname not in ("valueSet", "valueSetVersion")]
        anchor = (el.get("extension") is not None or el.get("codeSystem") is not None
                  or any(etree.QName(k).localname in ("originalText", "translation") for k in kids))
        if not bad3 and anchor:
            return None
    what = [f"@{etree.QName(k).localname}" for k in bad1]
    if kids:
        what.append(f"<{etree.QName(kids[0]).localname}>")
    if _has_text(el):
        what.append("du texte")
    return ", ".join(what) or "d'autres attributs"


# --------------------------------------------------------------------------- TS / IVL_TS

_TS_XSD = re.compile(r"[0-9]{1,8}|(?:[0-9]{9,14}|[0-9]{14}\.[0-9]+)(?:[+\-][0-9]{1,4})?", re.ASCII)
_TS_FOUR = re.compile(r"[0-9]{4}", re.ASCII)
_DIM = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_UNITS = frozenset({"us", "ms", "s", "min", "h", "d", "wk", "mo", "a", ""})


@lru_cache(maxsize=4096)
def parse_ts(value: str, bound: bool = False) -> tuple[tuple[int, str] | None, str | None]:
    """(instant, None) for a valid TS, (None, reason) for an invalid one, (None, None) when the
    schema pattern already rejects the value.

    Mirrors the DTr1 reading: fields at fixed positions, missing ones defaulted, then an
    ``xs:dateTime`` cast. ``bound`` selects the interval-bound variant (dtr1-9-IVL_TS), which
    reads the offset as ``±hh`` + ``mm`` without padding. The instant is (UTC seconds from
    0000-01-01, fraction digits), comparable; a value without offset is taken as UTC (the
    official pipeline's implicit time zone).
    """
    if not _TS_XSD.fullmatch(value):
        return None, None
    cut = max(value.find("+"), value.find("-"))
    base, tz = (value[:cut], value[cut:]) if cut > 0 else (value, "")
    cent, yy, mon, day = base[0:2], base[2:4], base[4:6], base[6:8]
    hour, minute, sec = base[8:10], base[10:12], base[12:14]
    frac = base[15:] if len(base) > 15 else ""
    for label, part in (("siècle", cent), ("année", yy), ("mois", mon), ("jour", day),
                        ("heure", hour), ("minute", minute), ("seconde", sec)):
        if len(part) == 1:
            return None, f"{label} sur un seul chiffre : nombre de chiffres incomplet"
    year = int(cent + (yy or "00"))
    m = int(mon or "01")
    d = int(day or "01")
    h, mi, s = int(hour or "00"), int(minute or "00"), int(sec or "00")
    if not 1 <= m <= 12:
        return None, f"mois {mon} hors de 01–12"
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    dim = 29 if m == 2 and leap else _DIM[m - 1]
    if not 1 <= d <= dim:
        return None, f"jour {day} inexistant ({dim} jours ce mois-là)"
    if h > 24 or (h == 24 and (mi or s or frac.strip("0"))):
        return None, f"heure {hour} hors de 00–23"
    if mi > 59:
        return None, f"minute {minute} hors de 00–59"
    if s > 59:
        return None, f"seconde {sec} hors de 00–59"
    offset = 0
    if tz:
        if bound:
            tzh, tzm = tz[0:3], tz[3:]
            if len(tzh) < 3 or len(tzm) != 2:
                return None, f"décalage {tz} incomplet (attendu ±hhmm)"
        else:
            padded = tz + "0000"
            tzh, tzm = padded[0:3], padded[3:5]
        oh, om = int(tzh[1:]), int(tzm)
        if om > 59 or oh > 14 or (oh == 14 and om):
            return None, f"décalage horaire {tz} hors de −14:00…+14:00"
        offset = (oh * 60 + om) * 60 * (-1 if tz[0] == "-" else 1)
    days = _days_from_civil(year, m, d)
    return (days * 86400 + h * 3600 + mi * 60 + s - offset, frac.rstrip("0")), None


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 0000-03-01 in the proleptic Gregorian calendar (integers only)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy


def _ts(ctx: CheckContext, el: etree._Element, kinds: Kinds, ivxb: bool) -> Iterator[Hit]:
    value, null = el.get("value"), el.get("nullFlavor")
    if (null is None and value is None and not _children(el)) or (null is not None and value is not None):
        found = "ni @value ni @nullFlavor" if null is None else f"@value et @nullFlavor={null}"
        yield _hit(ctx, R_TS_NULL, el, found=found)
    if value is not None:
        _, reason = parse_ts(value)
        if reason:
            yield _hit(ctx, R_TS, el, value=value, reason=reason)
    if null is not None and el.get("operator") not in (None, "I"):
        yield _hit(ctx, R_IVL_FORM, el, found=f"@operator={el.get('operator')} avec nullFlavor",
                   expected="pas d'opérateur sur une valeur nulle")
    if ivxb and null is not None and el.get("inclusive") not in (None, "true"):
        yield _hit(ctx, R_IVL_FORM, el, found="@inclusive avec nullFlavor",
                   expected="pas d'@inclusive sur une borne nulle")


def _ivl(ctx: CheckContext, el: etree._Element, kinds: Kinds) -> Iterator[Hit]:
    low, high = _child(el, "low"), _child(el, "high")
    center, width = _child(el, "center"), _child(el, "width")
    form: list[tuple[str, str]] = []
    if any(e.get("nullFlavor") is not None and (e.get("value") is not None or e.get("unit") is not None
           or _child(e, "low") or _child(e, "high") or _child(e, "center") or _child(e, "width"))
           for e in el.iter(etree.Element)):
        form.append(("un nullFlavor avec une valeur ou des bornes", "l'un ou l'autre"))
    if el.get("value") is not None and _children(el):
        form.append(("@value et des éléments fils", "@value seul ou des bornes seules"))
    if center and (low or high or width):
        form.append(("center avec low/high/width", "center seul"))
    if width and low and high:
        form.append(("width avec low et high", "deux de ces trois éléments au plus"))
    if any(c.get("updateMode") is not None for c in _children(el)):
        form.append(("@updateMode sur une borne", "pas d'updateMode"))
    if any(w.get("unit") is not None and w.get("value") is None for w in width):
        form.append(("width/@unit sans @value", "une valeur avec son unité"))
    if any(_child(w, "translation") for w in width):
        form.append(("width/translation", "pas de translation"))
    if any(e.get("nullFlavor") == "PINF" for e in low):
        form.append(("low/@nullFlavor=PINF", "low inférieur ou égal à high"))
    if any(e.get("nullFlavor") == "NINF" for e in high):
        form.append(("high/@nullFlavor=NINF", "low inférieur ou égal à high"))
    # matches(hl7:width/@unit, $tum): no width or no unit reads as "", which matches
    unit = width[0].get("unit") if width else None
    if unit is not None and unit not in _UNITS:
        form.append((f"width/@unit={unit}", "us, ms, s, min, h, d, wk, mo ou a"))
    for found, expected in form:
        yield _hit(ctx, R_IVL_FORM, el, found=found, expected=expected)
    instants: dict[str, tuple[int, str] | None] = {}
    for tag, elems in (("low", low), ("high", high), ("center", center)):
        value = elems[0].get("value") if elems else None
        if value is None:
            continue
        instant, reason = parse_ts(value, bound=True)
        instants[tag] = instant
        # a bound that is itself a TS context reports its own value, unless only this reading fails
        if reason and ("TS" not in kinds.get(elems[0], ()) or parse_ts(value)[1] is None):
            yield _hit(ctx, R_TS, elems[0], value=value, reason=reason)
    lv = low[0].get("value") if low else None
    hv = high[0].get("value") if high else None
    if lv is not None and hv is not None:
        if any(l.get("value") == h.get("value") for l in low for h in high if l.get("value") is not None):
            yield _hit(ctx, R_IVL_EQUAL, el, value=lv)
        lo, hi = instants.get("low"), instants.get("high")
        if lo is not None and hi is not None and lo > hi:
            yield _hit(ctx, R_IVL_ORDER, el, low=lv, high=hv)


# --------------------------------------------------------------------------- CD / CE / CV

_RFC3066 = re.compile(r"^[a-z]{2,3}(-[a-z]{2})?|[ix](-[a-z\d]{2,8})+$", re.I)


def _cd(ctx: CheckContext, el: etree._Element, kinds: Kinds, ce: bool) -> Iterator[Hit]:
    g = el.get
    code, system, null = g("code"), g("codeSystem"), g("nullFlavor")
    if code is not None and system is None:
        yield _hit(ctx, R_CODE_SYSTEM, el, code=code)
    form: list[tuple[str, str]] = []
    texts = _child(el, "originalText") if len(el) else []
    if null is None and code is None and not (texts and all(t.get("nullFlavor") is None for t in texts)):
        form.append(("ni @code, ni @nullFlavor, ni originalText", "un code, un nullFlavor ou un texte"))
    if system is None and g("codeSystemName") is not None:
        form.append(("@codeSystemName sans @codeSystem", "@codeSystem avec @codeSystemName"))
    if system is None and g("codeSystemVersion") is not None:
        form.append(("@codeSystemVersion sans @codeSystem", "@codeSystem avec @codeSystemVersion"))
    if code is None and g("displayName") is not None:
        form.append(("@displayName sans @code", "@code avec @displayName"))
    if null is not None and code is not None:
        form.append((f"@code={code} et @nullFlavor={null}", "l'un ou l'autre"))
    if null is not None and g("displayName") is not None:
        form.append((f"@displayName et @nullFlavor={null}", "pas de displayName sur un code nul"))
    trans = list(el.iterdescendants(f"{{{HL7}}}translation")) if len(el) else []
    for t in trans:
        if t.get("nullFlavor") is not None:
            form.append(("translation avec @nullFlavor", "des translations non nulles"))
        if t.get("codeSystem") is not None and t.get("code") is None:
            form.append(("translation avec @codeSystem sans @code", "@code et @codeSystem"))
        if t.get("codeSystemName") is not None and t.get("codeSystem") is None:
            form.append(("translation/@codeSystemName sans @codeSystem", "@codeSystem"))
        if t.get("codeSystemVersion") is not None and t.get("codeSystem") is None:
            form.append(("translation/@codeSystemVersion sans @codeSystem", "@codeSystem"))
        if t.get("displayName") is not None and t.get("code") is None:
            form.append(("translation/@displayName sans @code", "@code"))
    keys = [(t.get("code") or "") + (t.get("codeSystem") or "") for t in trans]
    if len(keys) != len(set(keys)):
        form.append(("deux translations identiques", "des translations distinctes"))
    if code is not None and system is not None and _has_namesake(el):
        for sib in _siblings(el):
            if sib.get("code") == code and sib.get("codeSystem") == system:
                form.append((f"un autre {etree.QName(el).localname} avec le même code {code}",
                             "des codes distincts"))
                break
    for t in el.iterdescendants(f"{{{HL7}}}originalText") if len(el) else ():
        lang = t.get("language")
        if lang is not None and not _RFC3066.search(lang):
            form.append((f"originalText/@language={lang}", "une langue RFC 3066 (fr-FR)"))
    if ce and len(el) and _child(el, "qualifier"):
        form.append(("un qualifier", "pas de qualifier sur un CE"))
    for found, expected in form:
        yield _hit(ctx, R_CODE_FORM, el, found=found, expected=expected)


def _sc(ctx: CheckContext, el: etree._Element, kinds: Kinds) -> Iterator[Hit]:
    """DTr1 SC (a string with an optional code: manufacturerModelName, softwareName)."""
    g = el.get
    code, null = g("code"), g("nullFlavor")
    if code is not None and g("codeSystem") is None:
        yield _hit(ctx, R_CODE_SYSTEM, el, code=code)
    form: list[tuple[str, str]] = []
    if g("codeSystem") is None:
        for name in ("codeSystemName", "codeSystemVersion"):
            if g(name) is not None:
                form.append((f"@{name} sans @codeSystem", f"@codeSystem avec @{name}"))
    if code is None and g("displayName") is not None:
        form.append(("@displayName sans @code", "@code avec @displayName"))
    if null is not None and code is not None:
        form.append((f"@code={code} et @nullFlavor={null}", "l'un ou l'autre"))
    if null is not None and g("displayName") is not None:
        form.append((f"@displayName et @nullFlavor={null}", "pas de displayName sur une valeur nulle"))
    for found, expected in form:
        yield _hit(ctx, R_CODE_FORM, el, found=found, expected=expected)


def _has_namesake(el: etree._Element) -> bool:
    """Whether the parent holds another child of the same name (cheap: no list built)."""
    parent = el.getparent()
    if parent is None:
        return False
    it = parent.iterchildren(el.tag)
    next(it, None)
    return next(it, None) is not None


def _siblings(el: etree._Element) -> list[etree._Element]:
    """The other children of the parent with the same name (the DTr1 ``$set_other``)."""
    parent = el.getparent()
    if parent is None:
        return []
    return [s for s in parent.iterchildren(el.tag) if s is not el]


# --------------------------------------------------------------------------- simple kinds

Problems = Iterator[tuple[str, str]]


def _cs(el: etree._Element) -> Problems:
    g = el.get
    has_code = g("code") is not None or g("typeCode") is not None
    if (g("nullFlavor") is not None) == has_code:
        yield ("@code et @nullFlavor" if has_code else "ni @code ni @nullFlavor"), "l'un ou l'autre"
    if g("codeSystem") not in (None, "2.16.840.1.113883.5.139"):
        yield f"@codeSystem={g('codeSystem')}", "pas de codeSystem sur un CS"
    if g("codeSystemName") not in (None, "TimingEvent"):
        yield "@codeSystemName", "pas de codeSystemName sur un CS"
    for attr in ("codeSystemVersion", "displayName"):
        if g(attr) is not None:
            yield f"@{attr}", f"pas de {attr} sur un CS"
    for child in ("originalText", "qualifier", "translation"):
        if _child(el, child):
            yield f"un élément {child}", f"pas de {child} sur un CS"


def _ed(el: etree._Element) -> Problems:
    if not el.attrib:
        return
    g = el.get
    null = g("nullFlavor")
    if g("integrityCheck") is not None and g("integrityCheckAlgorithm") is None:
        yield "@integrityCheck sans @integrityCheckAlgorithm", "l'algorithme avec l'empreinte"
    if g("value") is not None and g("mediaType") not in (None, "text/plain"):
        yield f"@value avec @mediaType={g('mediaType')}", "text/plain"
    if null is not None:
        if g("mediaType") not in (None, "text/plain"):
            yield "@mediaType avec nullFlavor", "pas de mediaType sur une valeur nulle"
        for attr in ("charset", "language", "compression", "integrityCheck"):
            if g(attr) is not None:
                yield f"@{attr} avec nullFlavor", f"pas de {attr} sur une valeur nulle"
        if g("integrityCheckAlgorithm") not in (None, "SHA-1"):
            yield "@integrityCheckAlgorithm avec nullFlavor", "pas d'algorithme sur une valeur nulle"
        if len(el) and _child(el, "translation"):
            yield "translation avec nullFlavor", "pas de translation sur une valeur nulle"
    lang = g("language")
    if lang is not None and not _RFC3066.search(lang):
        yield f"@language={lang}", "une langue RFC 3066 (fr-FR)"


def _st(el: etree._Element) -> Problems:
    if not el.attrib and not len(el):
        return
    g = el.get
    for child in ("reference", "thumbnail") if len(el) else ():
        if _child(el, child):
            yield f"un élément {child}", f"pas de {child} dans une chaîne"
    if g("representation") not in (None, "TXT"):
        yield f"@representation={g('representation')}", "TXT"
    if g("mediaType") not in (None, "text/plain"):
        yield f"@mediaType={g('mediaType')}", "text/plain"
    for attr in ("compression", "integrityCheck"):
        if g(attr) is not None:
            yield f"@{attr}", f"pas de {attr} dans une chaîne"
    if g("integrityCheckAlgorithm") not in (None, "SHA-1"):
        yield "@integrityCheckAlgorithm", "pas d'algorithme dans une chaîne"


_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))*")
_UUID = re.compile(r"[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}")
_RUID = re.compile(r"[A-Za-z][A-Za-z0-9\-]*")
_UID_XSD = re.compile(rf"{_OID.pattern}|{_UUID.pattern}|{_RUID.pattern}")


def _ii(el: etree._Element) -> Problems:
    g = el.get
    root, null, ext = g("root"), g("nullFlavor"), g("extension")
    if null is None and root is None:
        yield "ni @root ni @nullFlavor", "@root (OID) ou @nullFlavor"
    if null is not None and root is not None:
        yield f"@root et @nullFlavor={null}", "pas de root sur un identifiant nul"
    if null is not None:
        for attr in ("identifierName", "displayable", "reliability", "assigningAuthorityName"):
            if g(attr) is not None:
                yield f"@{attr} avec nullFlavor", f"pas de {attr} sur un identifiant nul"
    if root is not None and not _OID.fullmatch(root) and not _UUID.fullmatch(root) \
            and _UID_XSD.fullmatch(root):
        yield f"@root « {root} » (un RUID réservé à HL7)", "un OID ou un UUID"
    if root is not None and _has_namesake(el):
        for sib in _siblings(el):
            if sib.get("root") == root and (ext is None or sib.get("extension") == ext):
                yield (f"un autre {etree.QName(el).localname} identique (root {root}"
                       f"{', extension ' + ext if ext else ''})"), "des identifiants distincts"
                break


def _int(el: etree._Element) -> Problems:
    value, null = el.get("value"), el.get("nullFlavor")
    if (null is None and value is None and not _children(el)) or (null is not None and value is not None):
        yield ("ni @value ni @nullFlavor" if null is None else "@value et @nullFlavor"), "l'un ou l'autre"
    if _child(el, "uncertainty"):
        yield "un élément uncertainty", "pas d'incertitude sur un entier"


def _int_pos(el: etree._Element) -> Problems:
    value = el.get("value")
    if el.get("nullFlavor") is None and not (value is not None and _number(value) > 0):
        yield f"@value={value!r}", "un entier strictement positif"


def _number(value: str) -> float:
    try:
        return float(value.strip(" \t\r\n"))
    except ValueError:
        return float("nan")


def _ad(el: etree._Element) -> Problems:
    if el.get("nullFlavor") is None:
        kids, text = bool(_children(el)), _has_text(el)
        if kids == text:
            yield (("des parties et du texte libre mêlés" if kids else "une adresse vide"),
                   "des parties (streetAddressLine, city...) ou un texte, ou un nullFlavor")


def _en(el: etree._Element) -> Problems:
    kids = bool(_children(el))
    text = bool(_all_text(el).strip(" \t\r\n"))
    if kids and text:
        yield "des parties et du texte libre mêlés", "des parties (family, given) ou un texte"
    if el.get("nullFlavor") is None and not kids and not text:
        yield "un nom vide", "un nom ou un nullFlavor"
    yield from _qualifiers(el)


def _qualifiers(el: etree._Element) -> Problems:
    r"""dtr1-7-EN (EN, and PN and ON which extend it): ``hl7:*[count(tokenize(@qualifier,'\s'))
    = count(distinct-values(...))]``, i.e. at least one part whose qualifiers are distinct."""
    parts = [c for c in _children(el) if c.tag.startswith(_HL7_PREFIX)]
    if parts and all(_repeats_a_qualifier(c) for c in parts):
        yield ("un qualificatif répété dans chaque partie du nom (@qualifier = « "
               f"{parts[0].get('qualifier')} »)"), "des qualificatifs distincts"


_HL7_PREFIX = f"{{{HL7}}}"


def _repeats_a_qualifier(part: etree._Element) -> bool:
    q = part.get("qualifier")
    if not q:
        return False
    tokens = re.split(r"[ \t\n\r]", q)  # tokenize(@qualifier, '\s'), empty tokens included
    return len(tokens) != len(set(tokens))


def _pn(el: etree._Element) -> Problems:
    yield from _qualifiers(el)
    if any("LS" in (c.get("qualifier") or "").split() for c in _children(el)):
        yield "une partie de nom qualifiée LS", "pas de qualificatif LS (réservé aux organisations)"


def _on(el: etree._Element) -> Problems:
    yield from _qualifiers(el)
    if _child(el, "family") or _child(el, "given"):
        yield "family/given dans un nom d'organisation", "le nom en texte"
    if _children(el):
        yield "des éléments dans un nom d'organisation", "le nom en texte"


# What a URI cannot hold: controls, space, < > " { } | \ ^ `, anything beyond ASCII. Written as the
# complement of what it can (a class up to U+10FFFF takes milliseconds to compile).
_URI_BAD = re.compile(r"[^!#-;=?-\[\]_a-z~]")


def _url(el: etree._Element) -> Problems:
    value, null = el.get("value"), el.get("nullFlavor")
    if null is None and value is None:
        yield "pas de @value", "@value (tel:, mailto:...) ou @nullFlavor"
    if null is None and value is not None and _URI_BAD.search(value):
        yield f"@value « {value[:60]} » avec des caractères interdits dans une URI", \
            "une URI sans espace ni caractère accentué (tel:0102030405)"
    if null is not None and _child(el, "useablePeriod"):
        yield "useablePeriod avec nullFlavor", "pas de période sur une valeur nulle"
    use = el.get("use")
    if use is not None and _has_namesake(el):
        for sib in _siblings(el):
            if sib.get("use") == use and sib.get("value") == value and value is not None:
                yield f"un autre {etree.QName(el).localname} identique ({value})", "des valeurs distinctes"
                break


_SIMPLE: tuple[tuple[str, Callable[[etree._Element], Problems]], ...] = (
    ("CS", _cs), ("ED", _ed), ("ST", _st), ("II", _ii), ("INT", _int), ("INT.POS", _int_pos),
    ("AD", _ad), ("EN", _en), ("PN", _pn), ("ON", _on), ("URL", _url),
)
_SIMPLE_RULE = {"CS": R_CS, "ED": R_ST, "ST": R_ST, "II": R_II, "INT": R_INT, "INT.POS": R_INT,
                "AD": R_NAME, "EN": R_NAME, "PN": R_NAME, "ON": R_NAME, "URL": R_TEL}
