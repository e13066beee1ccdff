"""Assert-driven one-defect edits for the targeted parity mutants (issue 17, item 4).

The seeded operators of tests/parity/mutants.py change what a document has (remove,
duplicate, set a wrong value). Many official asserts forbid what a document does not have —
``@compression`` on an ``ST``, a ``thumbnail``, a second ``houseNumber``, a ``nullFlavor``
beside a value — and no change of an existing node reaches them. An *edit* is a small
change on one element, written as text so that a mutant is rebuilt from its id:

    PATH::EDIT[;EDIT...]

with PATH an element path of :func:`mutants.element_path` and EDIT one of

* ``@name=value``   set an attribute (``xsi:type`` for the XSI one; value without ``;{},``)
* ``-@name``        remove an attribute
* ``+name``         append an empty child ``name`` (HL7 namespace, or ``p:name`` for the
  prefixes of :data:`PREFIXES`), ``+name{@a=v,+sub}`` with attributes and empty children
* ``-name``         remove every child ``name``
* ``*name=N``       make the element have N children ``name`` (copies of the first one,
  or empty ones when it has none)
* ``~text``         set the element's text (inside a new child: ``+suffix{~ZZ}``)
* ``&``             insert a copy of the element right after it (a same-named sibling)
* ``[a/b]EDIT``     make EDIT on the first descendant ``a/b`` (HL7 local names, one step
  per child level); ``[*]EDIT`` on every element child
* ``<XPATH>EDIT``   make EDIT on every element the XPath 1.0 expression selects from the
  element (prefixes of :data:`PREFIXES`; no ``>`` in it)
* ``^name{...}``    insert a new child first (where ``templateId`` must be)

Targets chain: ``PATH1::EDITS >> PATH2::EDITS`` makes the first edits, then the second ones on
the result (paths of the second as the first left the document): a part no base has, added
valid, then its one defect.

:func:`edits_for` derives the candidate edits of one official assert from the names its
test mentions (its attributes, child elements and string literals); the caller keeps the
first candidate the kit's own schematron (cdacheck's kit mode) says fails that assert.
"""

from __future__ import annotations

import copy
import re
from itertools import islice

from lxml import etree

from cdacheck.engines.schematron.xpath import split_top_level
from parity import mutants as M

OPERATOR = "edit"
PREFIXES = {"hl7": M.HL7, "cda": M.HL7, "xsi": M.XSI, "lab": "urn:oid:1.3.6.1.4.1.19376.1.3.2",
            "pharm": "urn:ihe:pharm:medication", "sdtc": "urn:hl7-org:sdtc"}


class EditError(ValueError):
    """An edit that does not parse or does not apply to its document."""


def _qname(name: str, attribute: bool) -> str:
    prefix, _, local = name.rpartition(":")
    if not prefix:
        return local if attribute else f"{{{M.HL7}}}{local}"
    if prefix not in PREFIXES:
        raise EditError(f"unknown prefix {prefix!r}")
    return f"{{{PREFIXES[prefix]}}}{local}"


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside braces."""
    out, depth, buf = [], 0, ""
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(buf)
            buf = ""
        else:
            buf += ch
    out.append(buf)
    return [p for p in out if p]


def _new_child(parent: etree._Element, spec: str) -> etree._Element:
    m = re.fullmatch(r"([\w:.-]+)(?:\{(.*)\})?", spec, re.S)
    if m is None:
        raise EditError(f"bad child {spec!r}")
    child = etree.SubElement(parent, _qname(m.group(1), attribute=False))
    for part in _split(m.group(2) or "", ","):
        _apply_one(child, part)
    return child


def _apply_one(el: etree._Element, edit: str) -> None:
    if edit.startswith("<"):
        expr, sep, rest = edit[1:].partition(">")
        if not sep or not rest:
            raise EditError(f"bad XPath edit {edit!r}")
        try:
            nodes = [n for n in el.xpath(expr, namespaces=PREFIXES) if isinstance(n, etree._Element)]
        except etree.XPathError as exc:
            raise EditError(f"bad XPath {expr!r}") from exc
        if not nodes:
            raise EditError(f"nothing at {expr!r}")
        for n in nodes:
            _apply_one(n, rest)
    elif edit.startswith("^"):
        child = _new_child(el, edit[1:])
        el.remove(child)
        el.insert(0, child)
    elif edit.startswith("["):
        rel, sep, rest = edit[1:].partition("]")
        if not sep or not rest:
            raise EditError(f"bad descendant edit {edit!r}")
        if rel == "*":
            kids = [c for c in el if isinstance(c.tag, str)]
            if not kids:
                raise EditError("no element child")
            for c in kids:
                _apply_one(c, rest)
            return
        node = el
        for step in rel.split("/"):
            node = node.find(_qname(step, attribute=False))
            if node is None:
                raise EditError(f"no descendant {rel!r}")
        _apply_one(node, rest)
    elif edit.startswith("~"):
        el.text = edit[1:]
    elif edit == "&":
        if el.getparent() is None:
            raise EditError("no parent to add a sibling to")
        dup = copy.deepcopy(el)
        dup.tail = el.tail
        el.addnext(dup)
    elif edit.startswith("@"):
        name, sep, value = edit[1:].partition("=")
        if not sep:
            raise EditError(f"bad attribute edit {edit!r}")
        el.set(_qname(name, attribute=True), value)
    elif edit.startswith("-@"):
        name = _qname(edit[2:], attribute=True)
        if name not in el.attrib:
            raise EditError(f"no attribute {edit[2:]!r} to remove")
        del el.attrib[name]
    elif edit.startswith("+"):
        _new_child(el, edit[1:])
    elif edit.startswith("-"):
        tag = _qname(edit[1:], attribute=False)
        kids = [c for c in el if c.tag == tag]
        if not kids:
            raise EditError(f"no child {edit[1:]!r} to remove")
        for c in kids:
            el.remove(c)
    elif edit.startswith("*"):
        name, _, n = edit[1:].partition("=")
        tag = _qname(name, attribute=False)
        want = int(n)
        kids = [c for c in el if c.tag == tag]
        while len(kids) > want:
            el.remove(kids.pop())
        while len(kids) < want:
            if kids:
                dup = copy.deepcopy(kids[0])
                dup.tail = kids[-1].tail
                kids[-1].addnext(dup)
            else:
                dup = etree.SubElement(el, tag)
            kids.append(dup)
    else:
        raise EditError(f"bad edit {edit!r}")


def parse_target(target: str) -> tuple[str, list[str]]:
    path, sep, edits = target.partition("::")
    if not sep or not path.startswith("/"):
        raise EditError(f"bad edit target {target!r}")
    return path, _split(edits, ";")


CHAIN = " >> "


def apply(tree: etree._ElementTree, target: str) -> etree._ElementTree:
    """A copy of ``tree`` with the edits of ``target`` made; ``T1 >> T2`` makes T1's edits,
    then T2's on the result (an element added valid by T1, its defect by T2)."""
    new = copy.deepcopy(tree)
    for part in target.split(CHAIN):
        path, edits = parse_target(part)
        try:
            el = M._find(new, path)
        except (AssertionError, IndexError) as exc:
            raise EditError(f"no element at {path}") from exc
        for edit in edits:
            _apply_one(el, edit)
    return new


# --------------------------------------------------------------------------- candidates

_ATTR = re.compile(r"@((?:[A-Za-z]+:)?[A-Za-z][\w-]*)")
_ELEM = re.compile(r"\b((?:hl7|cda|lab|pharm|sdtc):[A-Za-z][\w-]*)")
_LITERAL = re.compile(r"'([^'\s;{},]{1,40})'")
_COUNT_MAX = re.compile(r"count\(((?:hl7|cda|lab|pharm|sdtc):[\w-]+)\)\s*(?:<=\s*(\d+)|<\s*(\d+)|=\s*(\d+))")
_COUNT_MIN = re.compile(r"count\(((?:hl7|cda|lab|pharm|sdtc):[\w-]+)\)\s*(?:>=\s*(\d+)|>\s*(\d+)|=\s*(\d+))")

# Values to try per attribute name, beside the test's own literals (bad ones first).
_PROBES = {
    "nullFlavor": ("UNK", "NI", "OTH", "NA", "ZZ"),
    "xsi:type": ("CD", "ST", "TS", "IVL_TS", "PQ", "II", "CE", "CS", "ED", "INT", "BL", "ZZ"),
    "mediaType": ("text/html", "application/pdf", "text/plain"),
    "representation": ("TXT", "B64", "ZZ"),
    "compression": ("DF", "GZ"),
    "integrityCheckAlgorithm": ("SHA-256", "SHA-1"),
    "integrityCheck": ("AAAA",),
    "language": ("fr-FR", "xx_bad!"),
    "charset": ("UTF-8",),
    "value": ("ZZ", "20230230", "abc", "1"),
    "unit": ("bogus_unit", "mg"),
    "use": ("ZZ", "H"),
    "root": ("1.2.3", "pas-un-oid", "1.2.250.1.213.1.4.10"),
    "extension": ("", "000"),
    "code": ("ZZZ-BOGUS", ""),
    "codeSystem": ("1.2.250.1.213.9.9.9", ""),
    "inclusive": ("ZZ", "true"),
    "operator": ("ZZ", "I"),
    "displayable": ("ZZ", "true"),
    "qualifier": ("ZZ",),
}
_DEFAULT_PROBES = ("ZZ", "", "1")


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def edits_for(el: etree._Element, test: str, limit: int = 60) -> list[str]:
    """Candidate EDIT lists (joined with ';') for one assert test on one context element."""
    attrs = list(dict.fromkeys(a for a in _ATTR.findall(test) if a != "xsi:type"))
    if "@xsi:type" in test:
        attrs.append("xsi:type")
    elems = list(dict.fromkeys(_ELEM.findall(test)))
    literals = list(dict.fromkeys(_LITERAL.findall(test)))
    present = {(etree.QName(k).localname if "}" in k and not k.startswith(f"{{{M.XSI}}}") else
                ("xsi:type" if k == f"{{{M.XSI}}}type" else k)) for k in el.attrib}

    def values(a: str) -> list[str]:
        probes = list(_PROBES.get(_local(a) if a != "xsi:type" else a, _DEFAULT_PROBES))
        lits = [v for v in literals if not v.startswith(("urn:", "http")) and "." not in v[:1]]
        out = [v + "X" for v in lits[:3]] + lits[:4] + probes
        cur = el.get(a if a != "xsi:type" else f"{{{M.XSI}}}type")
        return [v for v in dict.fromkeys(out) if v != cur]

    singles: list[str] = []
    for m in _COUNT_MAX.finditer(test):  # count(x) <= N, < N, = N: one too many
        le, lt, eq = m.group(2), m.group(3), m.group(4)
        n = int(le) + 1 if le is not None else int(lt) if lt is not None else int(eq) + 1
        singles.append(f"*{m.group(1)}={max(n, 1)}")
    for m in _COUNT_MIN.finditer(test):  # count(x) >= N, > N, = N: one too few
        ge, gt, eq = m.group(2), m.group(3), m.group(4)
        n = int(ge) - 1 if ge is not None else int(gt) if gt is not None else int(eq) - 1
        if n >= 0:
            singles.append(f"*{m.group(1)}={n}")
    for a in attrs:
        if a in present:
            singles.append(f"-@{a}")
        singles.extend(f"@{a}={v}" for v in values(a)[:6])
    for e in elems:
        tag = _qname(e, False)
        have = el.find(tag) is not None
        singles.append(f"+{e}")
        if have:
            singles.append(f"-{e}")
            singles.append(f"*{e}=2")
        singles.append(f"+{e}{{@nullFlavor=UNK}}")
        for a in attrs:
            for v in values(a)[:2]:
                singles.append(f"+{e}{{@{a}={v}}}")
        singles.append(f"+{e}{{+{e}}}")  # nested in itself (ED/thumbnail)
        for sub in elems:
            if sub != e:
                singles.append(f"+{e}{{+{sub}}}")
                singles.append(f"+{e}{{@nullFlavor=UNK,+{sub}}}")
    singles = [s for s in dict.fromkeys(singles) if not s.startswith("*") or s.split("=")[0][1:] in
               {x for x in elems}]
    out = list(singles)
    # Pairs: a nullFlavor beside another attribute or child, two attributes together.
    nf = [s for s in singles if s.startswith("@nullFlavor=")][:2]
    others = [s for s in singles if not s.startswith(("@nullFlavor=", "-@nullFlavor"))]
    for a in nf:
        out.extend(f"{a};{o}" for o in others[:20])
    attr_sets = [s for s in singles if s.startswith("@") and not s.startswith("@nullFlavor")]
    firsts: dict[str, str] = {}
    for s in attr_sets:
        firsts.setdefault(s.split("=")[0], s)
    fl = list(firsts.values())
    out.extend(f"{x};{y}" for i, x in enumerate(fl) for y in fl[i + 1:])
    return list(islice(dict.fromkeys(out), limit))


# Hand-made edits for official tests that the names in the test alone do not lead to: tests on
# the rule's variables (translations, same-named siblings, a choice count, the values of a
# name part against a value set), a child nested in itself, a set of codes with a space, a
# useablePeriod. Each entry is read off the DTr1 / StrucMin rules of the kit.
_SPACE_IN = re.compile(r"matches\((@[\w:]+)\s*,\s*'\\s'\)")
_PATH_LET = re.compile(r"(?:hl7:[A-Za-z]\w*/)*hl7:[A-Za-z]\w*")
_EVERY = re.compile(r"every \$p in \$(\w+) satisfies")
_COUNT_LET = re.compile(r"count\((.*)\)")
_LET_NAME = re.compile(r"hl7:([A-Za-z]\w*)")  # the first step of a branch of the count


def _nested(steps: list[str], inner: str) -> str:
    out = inner
    for step in reversed(steps):
        out = f"+{step}{{{out}}}"
    return out


def _under(el: etree._Element, steps: list[str], edit: str) -> str:
    """EDIT made on the descendant ``steps`` of ``el``: ``[a/b]EDIT`` on the deepest part that
    exists, the rest created empty around it."""
    node, have = el, 0
    for step in steps:
        nxt = node.find(f"{{{M.HL7}}}{step}")
        if nxt is None:
            break
        node, have = nxt, have + 1
    rest = _nested(steps[have:], edit) if have < len(steps) else edit
    return f"[{'/'.join(steps[:have])}]{rest}" if have else rest


def recipes_for(el: etree._Element, test: str, lets: dict[str, str], context: str = "") -> list[str]:
    t = " ".join(test.split())
    out: list[str] = []
    if "hl7:thumbnail[not(hl7:thumbnail)]" in t:
        out += ["+thumbnail{+thumbnail}", "+thumbnail{@mediaType=image/png,@representation=B64,+thumbnail}"]
    if "$translations" in t:
        tr = "+translation{@code=ZZ1,@codeSystem=1.2.250.1.213.1.1.4.6}"
        if el.find(f"{{{M.HL7}}}translation") is not None:
            out.append("*translation=2")
        out.append(f"{tr};{tr}")
    if "useablePeriod" in t:
        if "string-length(hl7:useablePeriod" in t:
            out.append("+useablePeriod{@xsi:type=IVL_TS,+low{@value=2020},+high{@value=20210101}}")
        if "number(" in t:
            out.append("+useablePeriod{@xsi:type=IVL_TS,+low{@value=20210101},+high{@value=20200101}}")
        if "width/@unit" in t:
            out.append("+useablePeriod{@xsi:type=IVL_TS,+width{@value=1,@unit=zz}}")
    for attr in _SPACE_IN.findall(t):
        out += [f"{attr}=H WP", f"{attr}="]
    if "castable as xs:anyURI" in t:
        out += ["@value=http://exa mple.fr/%zz", "@value=tel:+33 1 23", "@value=::", "@value=%"]
    if "$set_other" in t:
        out += ["&;@nullFlavor=UNK", "&"] if "not(@nullFlavor and" in t else ["&"]
        if "[@unit=$unit]" in t and el.get("unit") is None:  # a same-named sibling with both equal
            out.append("@unit=s;&")
    if "tokenize(@qualifier" in t:
        if "='LS'" in t:
            out += ["[*]@qualifier=LS", "+given{@qualifier=LS,~Jean}"]
        if "distinct-values" in t:
            out += ["[*]@qualifier=BR BR", "[*]@qualifier=SP SP"]
    for var in _EVERY.findall(t):  # the text of a name part against a value set (J245, J246)
        path = lets.get(var, "").strip()
        if _PATH_LET.fullmatch(path):
            out.append(_under(el, [s[4:] for s in path.split("/")], "~ZZ-HORS-JDV"))
    if "$elmcount" in t and (m := _COUNT_LET.fullmatch(lets.get("elmcount", "").strip())):
        names = list(dict.fromkeys(n.group(1) for b in split_top_level(m.group(1), "|")
                                   if (n := _LET_NAME.match(b.strip()))))
        if "<= 1" in t or "&lt;= 1" in t:
            out += [f"*{names[0]}=2"] if len(names) == 1 else [";".join(f"+{n}" for n in names)]
            out += [f"*{n}=2" for n in names if el.find(f"{{{M.HL7}}}{n}") is not None]
        if ">= 1" in t:
            out.append(";".join(f"-{n}" for n in names if el.find(f"{{{M.HL7}}}{n}") is not None))
    out += _template_recipes(el, t, lets, context)
    out += _header_recipes(el, t)
    return [e for e in dict.fromkeys(out) if e]


_NON_NULL_MIN = re.compile(r"count\(hl7:(\w+)\[not\(@nullFlavor\)\][^()]*\)\s*>=\s*1")
_WITH_CHILD_MIN = re.compile(r"count\(hl7:(\w+)\[hl7:(\w+)(\[@(\w+) = '([^']*)'\])?\]\)\s*>=\s*1")


def _header_recipes(el: etree._Element, t: str) -> list[str]:
    """StrucMin header and IVL_TS tests the names alone do not lead to."""
    out: list[str] = []
    for name in _NON_NULL_MIN.findall(t):  # the required child made null
        out.append(f"<hl7:{name}>@nullFlavor=UNK")
    for name, child, _, attr, value in _WITH_CHILD_MIN.findall(t):  # its required grandchild gone
        if attr:
            out.append(f"<hl7:{name}/hl7:{child}[@{attr}='{value}']>@{attr}={value}.9")
        else:
            out.append(f"<hl7:{name}>-{child}")
    if t == "not(*)":  # a TS with an element inside
        out += ["+originalText", "+low{@value=20240101}"]
    if t == "not(hl7:*[@updateMode])":
        out.append("[*]@updateMode=A")
    low = el.find(f"{{{M.HL7}}}low")
    if "hl7:low/@value = hl7:high/@value" in t and low is not None and low.get("value"):
        out.append(f"<hl7:high>@value={low.get('value')}")
    if "$theTSCenter" in t:
        out.append("-low;-high;+center{@value=20230230}")
    if "$theTSLow" in t:
        out.append("[low]@value=20230230")
    if "$theTSHigh" in t:
        out.append("[high]@value=20230230")
    return out


_CTX_ROOT = re.compile(r"templateId/@root\s*=\s*['\"]([\d.]+)['\"]")
_DESC_TID = re.compile(r"\.//cda:templateId\[@root\s*=\s*['\"]([\d.]+)['\"]\]")
_COUNT_PATH_LE1 = re.compile(r"count\((\.?/?/?cda:[^()]+?)\)\s*(?:<=\s*1|<\s*2)")
_LET_COUNT = re.compile(r"count\(cda:([A-Za-z]\w*)\)")
_VAR = re.compile(r"\$(\w+)")


def _template_recipes(el: etree._Element, t: str, lets: dict[str, str], context: str) -> list[str]:
    """Edits for the IHE / CI-SIS template rules (context ``*[cda:templateId/@root='R']``)."""
    out: list[str] = []
    m = _CTX_ROOT.search(context or "")
    root = m.group(1) if m else None
    kids = [c for c in el if isinstance(c.tag, str)]
    if root and (re.fullmatch(r"\.\./cda:\w+", t) or t.startswith("self::cda:")):
        # the template on an element of another kind (an entry of the section, a child act)
        for k in kids:
            name = etree.QName(k).localname
            if name in ("entry", "component", "entryRelationship", "participant", "performer",
                        "specimen", "consumable", "author", "reference", "precondition"):
                out.append(f"[{name}]^templateId{{@root={root}}}")
                break
    if root and ("$count_templateId" in t or re.search(r"count\(cda:templateId\)\s*>", t)):
        out.append(f"-templateId;^templateId{{@root={root}}}")
    for r in _DESC_TID.findall(t):  # the required entry / sub-template: its templateIds changed
        out.append(f"<.//hl7:templateId[@root='{r}']>@root={r}.999")
    for path in _COUNT_PATH_LE1.findall(t):
        xp = path.replace("cda:", "hl7:")
        xp = xp if xp.startswith(".") else "./" + xp
        try:
            nodes = el.xpath(xp, namespaces=PREFIXES)
        except etree.XPathError:
            nodes = []
        if nodes and isinstance(nodes[0], etree._Element):
            n = nodes[0]
            while n.getparent() is not None and n.getparent() is not el:
                n = n.getparent()
            if n.getparent() is el:
                out.append(f"<*[{kids.index(n) + 1}]>&")
    if m := re.fullmatch(r"\.\./@([A-Za-z]+)", t):  # an attribute of the parent
        out.append(f"<..>-@{m.group(1)}")
    for var in dict.fromkeys(_VAR.findall(t)):  # $count_x = count(cda:x)
        lm = _LET_COUNT.fullmatch(lets.get(var, "").strip())
        if lm:
            name = lm.group(1)
            out += [f"*{name}=2", f"*{name}=0"]
    return out
