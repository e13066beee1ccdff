"""ISO Schematron -> XSLT 3.0 stylesheet producing SVRL.

Semantics follow ISO/IEC 19757-3 as the kit's ISO pipeline implements them: every active
pattern walks the whole document once; within a pattern the first rule whose context
matches a node fires (rules get decreasing priorities); a fired rule keeps walking into
attributes and child elements. Lets of the schema, of the patterns and of the active phase
are global variables; lets of a rule are local to it. ``doc()``, ``document()`` and
``doc-available()`` read pre-loaded documents first (see runner.py), resolved against the
schematron file, so value sets are parsed once per process instead of once per document.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from cdacheck.engines.schematron.loader import SCH, XSL, LoadDefect, LoadedSchema, SchematronError
from cdacheck.engines.schematron.xpath import (
    CX,
    avt_escape,
    rewrite_doc_calls,
    split_literals,
    split_top_level,
    step_predicates,
    string_literals,
    top_level_word,
)

SVRL = "http://purl.oclc.org/dsdl/svrl"
_S = f"{{{SCH}}}"
_X = f"{{{XSL}}}"
_V = f"{{{SVRL}}}"
DOCS_PARAM = f"{{{CX}}}docs"
QUERY_BINDINGS = {"xslt": "1.0", "xslt2": "2.0", "xslt3": "3.0"}


@dataclass(frozen=True)
class AssertInfo:
    """One assert or report of a schematron, as written (after expansion)."""

    pattern: str
    id: str
    role: str | None
    test: str
    message: str
    kind: str = "assert"
    context: str = ""
    flag: str | None = None
    has_id: bool = True


@dataclass
class Generated:
    """The generated stylesheet and what the runner needs to run it."""

    xslt: str
    asserts: list[AssertInfo]
    patterns: list[str]
    doc_refs: list[str] = field(default_factory=list)
    defects: list[LoadDefect] = field(default_factory=list)
    title: str = ""
    schema_version: str = ""
    phase: str = "#ALL"


def assert_hash(pattern: str, test: str) -> str:
    """A stable short id for an assert without @id: hash of its pattern id and test."""
    norm = " ".join(test.split())
    return "h" + hashlib.sha1(f"{pattern}\n{norm}".encode()).hexdigest()[:10]


def pattern_key(pattern: etree._Element, index: int) -> str:
    """The pattern's id, else a positional name (patterns without id exist in the kit)."""
    return pattern.get("id") or f"pattern-{index + 1}"


def message_template(el: etree._Element) -> str:
    """The assert text with ``<value-of>`` / ``<name>`` shown as ``{...}``, whitespace normalised."""
    parts: list[str] = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str):
            if child.tag == f"{_S}value-of":
                parts.append("{" + child.get("select", "") + "}")
            elif child.tag == f"{_S}name":
                parts.append("{name(" + child.get("path", ".") + ")}")
            else:
                parts.append(message_template(child))
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())


def _ns_map(root: etree._Element) -> dict[str, str]:
    ns: dict[str, str] = {p: u for p, u in root.nsmap.items() if p and u not in (SCH,)}
    for decl in root.iter(f"{_S}ns"):
        prefix, uri = decl.get("prefix"), decl.get("uri")
        if prefix and uri is not None and prefix != "xml":
            ns[prefix] = uri
    ns.pop("xml", None)
    ns.setdefault("xs", "http://www.w3.org/2001/XMLSchema")
    ns["xsl"] = XSL
    ns["svrl"] = SVRL
    ns["cx"] = CX
    ns.setdefault("map", "http://www.w3.org/2005/xpath-functions/map")
    return ns


def _active_patterns(root: etree._Element, phase: str | None, defects: list[LoadDefect]) -> tuple[str, list[etree._Element], etree._Element | None]:
    patterns = [p for p in root.findall(f"{_S}pattern") if p.get("abstract") != "true"]
    wanted = phase or root.get("defaultPhase") or "#ALL"
    if wanted == "#DEFAULT":  # ISO 5.4.11: the phase named by @defaultPhase, else all
        wanted = root.get("defaultPhase") or "#ALL"
    if wanted == "#ALL":
        return "#ALL", patterns, None
    phase_el = next((p for p in root.findall(f"{_S}phase") if p.get("id") == wanted), None)
    if phase_el is None:
        if phase:
            raise SchematronError(f"phase inconnue : {phase}")
        defects.append(LoadDefect("unknown-phase", wanted))
        return "#ALL", patterns, None
    ids = {a.get("pattern") for a in phase_el.findall(f"{_S}active")}
    missing = ids - {p.get("id") for p in patterns}
    for pid in sorted(i for i in missing if i):
        defects.append(LoadDefect("phase-pattern-missing", f"{wanted}: {pid}"))
    return wanted, [p for p in patterns if p.get("id") in ids], phase_el


def generate_xslt(loaded: LoadedSchema, phase: str | None = None) -> Generated:
    """Build the XSLT 3.0 stylesheet (as text) for an expanded schema."""
    root = loaded.root
    binding = (root.get("queryBinding") or "xslt").lower()
    if binding not in QUERY_BINDINGS:
        raise SchematronError(f"queryBinding non pris en charge : {binding}")
    defects = list(loaded.defects)
    version = QUERY_BINDINGS[binding]
    ns = _ns_map(root)
    phase_name, active, phase_el = _active_patterns(root, phase, defects)
    diagnostics = {d.get("id"): d for d in root.iter(f"{_S}diagnostic") if d.get("id")}
    gen = _Builder(ns, version, loaded.path, diagnostics, defects)

    for child in root:
        if isinstance(child.tag, str) and child.tag.startswith(_X) and child.tag != f"{_X}template":
            gen.sheet.append(_xsl_copy(child))
    # Lets: a name defined twice in one scope is an error (ISO 5.4.5); pattern lets are
    # global, as in the ISO skeleton the kit is run with (kit volets define value-set paths
    # in a "variables" pattern read by other patterns), so a pattern let may not reuse a
    # schema let's name either; the active phase's lets override the schema's.
    phase_lets = phase_el.findall(f"{_S}let") if phase_el is not None else []
    _no_duplicates(phase_lets, f"phase {phase_name}")
    _no_duplicates(root.findall(f"{_S}let"), "schéma")
    overridden = {let.get("name") for let in phase_lets}
    for let in root.findall(f"{_S}let"):
        if let.get("name") not in overridden:
            gen.global_let(let)
    all_patterns = [p for p in root.findall(f"{_S}pattern") if p.get("abstract") != "true"]
    keys = {id(p): pattern_key(p, i) for i, p in enumerate(all_patterns)}
    for p in all_patterns:
        _no_duplicates(p.findall(f"{_S}let"), f"motif {keys[id(p)]}")
        for let in p.findall(f"{_S}let"):
            gen.global_let(let)
    for let in phase_lets:
        gen.global_let(let)
    properties = {pr.get("id"): pr for pr in root.iter(f"{_S}property") if pr.get("id")}
    gen.properties = properties

    title = " ".join((root.findtext(f"{_S}title") or "").split())
    gen.entry(title, root.get("schemaVersion", ""), phase_name,
              [(keys[id(p)], p.get("name") or " ".join((p.findtext(f"{_S}title") or "").split()),
                p.get("documents")) for p in active],
              [required_roots([r.get("context", "") for r in p.findall(f"{_S}rule")
                               if r.get("abstract") != "true" and r.get("context")])
               for p in active])
    for mode, p in enumerate(active):
        gen.pattern(p, keys[id(p)], f"M{mode}")
    gen.add_doc_function()
    text = etree.tostring(gen.sheet, encoding="unicode")
    return Generated(xslt=text, asserts=gen.asserts, patterns=[keys[id(p)] for p in active],
                     doc_refs=sorted(gen.doc_refs), defects=defects, title=title,
                     schema_version=root.get("schemaVersion", ""), phase=phase_name)


def _no_duplicates(lets: list[etree._Element], scope: str) -> None:
    seen: set[str] = set()
    for let in lets:
        name = let.get("name", "")
        if name in seen:
            raise SchematronError(f"variable {name} définie deux fois ({scope})")
        seen.add(name)


def _xsl_copy(el: etree._Element) -> etree._Element:
    out = copy.deepcopy(el)
    for node in out.iter():
        if isinstance(node.tag, str):
            for attr in ("select", "test", "match", "use"):
                if node.get(attr):
                    node.set(attr, rewrite_doc_calls(node.get(attr, "")))
    return out


class _Builder:
    """Accumulates the stylesheet element by element."""

    def __init__(self, ns: dict[str, str], version: str, path: Path,
                 diagnostics: dict[str | None, etree._Element], defects: list[LoadDefect]) -> None:
        self.ns = ns
        self.version = version
        self.base = path.as_uri()
        self.diagnostics = diagnostics
        self.defects = defects
        self.asserts: list[AssertInfo] = []
        self.doc_refs: set[str] = set()
        self.globals: dict[str, str] = {}
        self.properties: dict[str | None, etree._Element] = {}
        self.doc_vars: dict[str, str] = {}
        self.sheet = etree.Element(f"{_X}stylesheet", nsmap=ns)
        self.sheet.set("version", "3.0")
        self.sheet.set("exclude-result-prefixes", " ".join(p for p in ns if p not in ("svrl",)))
        self.sheet.set("{http://www.w3.org/XML/1998/namespace}base", self.base)
        etree.SubElement(self.sheet, f"{_X}output", method="xml", indent="no", encoding="UTF-8")
        param = etree.SubElement(self.sheet, f"{_X}param", name="cx:docs", select="map{}")
        param.set("as", "map(xs:string, document-node())")

    # ---------------------------------------------------------------- expressions

    def expr(self, text: str) -> str:
        for lit in string_literals(text):
            if lit and ("/" in lit or lit.endswith((".xml", ".rdf"))) and len(lit) < 400:
                self.doc_refs.add(lit)
        rewritten = rewrite_doc_calls(text)
        if "cx:doc" in rewritten:
            # doc('literal') is read once per transformation through a global variable,
            # instead of once per node the pattern or test is evaluated on.
            rewritten = _LITERAL_DOC.sub(self._doc_variable, rewritten)
        return rewritten

    def _doc_variable(self, m: re.Match[str]) -> str:
        literal = m.group(2)
        name = self.doc_vars.get(literal)
        if name is None:
            name = f"cx:doc{len(self.doc_vars) + 1}"
            self.doc_vars[literal] = name
            etree.SubElement(self.sheet, f"{_X}variable", name=name, select=f"cx:{m.group(1)}({literal})")
        return "$" + name

    def global_let(self, let: etree._Element) -> None:
        name = let.get("name", "")
        value = let.get("value")
        if name in self.globals:
            raise SchematronError(f"variable globale {name} définie deux fois")
        self.globals[name] = value or ""
        self.sheet.append(self._variable(let))

    def _variable(self, let: etree._Element) -> etree._Element:
        var = etree.Element(f"{_X}variable", name=let.get("name", ""))
        value = let.get("value")
        if value is not None:
            var.set("select", self.expr(value))
        else:
            for child in let:
                var.append(copy.deepcopy(child))
            var.text = let.text
        return var

    # ---------------------------------------------------------------- structure

    def entry(self, title: str, schema_version: str, phase: str,
              patterns: list[tuple[str, str, str | None]],
              guards: list[set[str] | None] | None = None) -> None:
        tpl = etree.SubElement(self.sheet, f"{_X}template", match="/")
        out = etree.SubElement(tpl, f"{_V}schematron-output", title=avt_escape(title),
                               schemaVersion=avt_escape(schema_version), phase=avt_escape(phase))
        if any(roots for roots in (guards or [])):
            key = etree.Element(f"{_X}key", name=_TPL_KEY, match="*[local-name() = 'templateId']",
                                use="@root")
            self.sheet.insert(0, key)
        for i, (pid, name, documents) in enumerate(patterns):
            ap = etree.SubElement(out, f"{_V}active-pattern", id=avt_escape(pid))
            if name:
                ap.set("name", avt_escape(name))
            select = "/"
            if documents is not None:
                # ISO 2016 5.4.9: the pattern applies to the documents @documents selects,
                # URIs resolved against the validated document.
                ap.set("documents", "{string-join(" + self._documents(documents) + " ! document-uri(.), ' ')}")
                select = self._documents(documents)
            holder = out
            roots = guards[i] if guards and documents is None else None
            if roots:
                test = " or ".join(f"key('{_TPL_KEY}', {_xpath_string(r)})" for r in sorted(roots))
                holder = etree.SubElement(out, f"{_X}if", test=test)
            etree.SubElement(holder, f"{_X}apply-templates", select=select, mode=f"M{i}")

    def _documents(self, documents: str) -> str:
        return (f"(for $cx_u in ({self.expr(documents)}) "
                "return doc(string(resolve-uri(string($cx_u), base-uri(/)))))")

    def pattern(self, p: etree._Element, pid: str, mode: str) -> None:
        rules = [r for r in p.findall(f"{_S}rule") if r.get("abstract") != "true" and r.get("context")]
        contexts = [r.get("context", "") for r in rules]
        children = "node()" if any(_may_match_other_node(c) for c in contexts) else "*"
        walk = f"@*|{children}" if any(_may_match_attribute(c) for c in contexts) else children
        for j, rule in enumerate(rules):
            self.rule(rule, p, pid, mode, priority=len(rules) - j, walk=walk)
        default = etree.SubElement(self.sheet, f"{_X}template", match="/|@*|node()", priority="-2", mode=mode)
        etree.SubElement(default, f"{_X}apply-templates", select=walk, mode=mode)

    def rule(self, rule: etree._Element, p: etree._Element, pid: str, mode: str, priority: int,
             walk: str) -> None:
        context = rule.get("context", "")
        tpl = etree.SubElement(self.sheet, f"{_X}template", match=self.expr(context),
                               priority=str(priority), mode=mode)
        if self.version == "1.0":
            tpl.set("version", "1.0")
        rule_role = rule.get("role") or p.get("role")
        _no_duplicates(rule.findall(f"{_S}let"), f"règle {context}")
        for child in rule:
            if not isinstance(child.tag, str):
                continue
            if child.tag == f"{_S}let":
                tpl.append(self._variable(child))
            elif child.tag in (f"{_S}assert", f"{_S}report"):
                self.check(tpl, child, pid, rule_role, rule.get("flag"), context)
        etree.SubElement(tpl, f"{_X}apply-templates", select=walk, mode=mode)

    def check(self, tpl: etree._Element, el: etree._Element, pid: str, rule_role: str | None,
              rule_flag: str | None, context: str) -> None:
        is_assert = el.tag == f"{_S}assert"
        test = el.get("test", "")
        aid = el.get("id") or assert_hash(pid, test)
        role = el.get("role") or rule_role
        flag = el.get("flag") or rule_flag
        self.asserts.append(AssertInfo(pattern=pid, id=aid, role=role, test=test,
                                       message=message_template(el),
                                       kind="assert" if is_assert else "report",
                                       context=context, flag=flag, has_id=bool(el.get("id"))))
        if is_assert:
            choose = etree.SubElement(tpl, f"{_X}choose")
            etree.SubElement(choose, f"{_X}when", test=self.expr(test))
            holder = etree.SubElement(choose, f"{_X}otherwise")
            svrl = etree.SubElement(holder, f"{_V}failed-assert")
        else:
            holder = etree.SubElement(tpl, f"{_X}if", test=self.expr(test))
            svrl = etree.SubElement(holder, f"{_V}successful-report")
        svrl.set("test", avt_escape(test))
        svrl.set("id", avt_escape(aid))
        if role:
            svrl.set("role", avt_escape(role))
        if flag:
            svrl.set("flag", avt_escape(flag))
        svrl.set("location", "{path(.)}")
        svrl.set(f"{{{CX}}}pattern", avt_escape(pid))
        text = self._text(svrl, el)
        self.render(text, el)
        for diag_id in (el.get("diagnostics") or "").split():
            diag = self.diagnostics.get(diag_id)
            if diag is None:
                raise SchematronError(f"diagnostic inconnu : {diag_id}")
            ref = etree.SubElement(svrl, f"{_V}diagnostic-reference", diagnostic=avt_escape(diag_id))
            self.render(self._text(ref, diag), diag)
        for prop_id in (el.get("properties") or "").split():
            prop = self.properties.get(prop_id)
            if prop is None:
                raise SchematronError(f"propriété inconnue : {prop_id}")
            ref = etree.SubElement(svrl, f"{_V}property-reference", property=avt_escape(prop_id))
            for attr in ("role", "scheme"):
                if prop.get(attr):
                    ref.set(attr, avt_escape(prop.get(attr, "")))
            self.render(self._text(ref, prop), prop)

    @staticmethod
    def _text(parent: etree._Element, source: etree._Element) -> etree._Element:
        """An svrl:text under ``parent``, carrying the source's xml:lang (ISO 3.x, SVRL)."""
        text = etree.SubElement(parent, f"{_V}text")
        lang = source.get(_XML_LANG)
        if lang is None:
            lang = next((a.get(_XML_LANG) for a in source.iterancestors() if a.get(_XML_LANG)), None)
        if lang:
            text.set(_XML_LANG, avt_escape(lang))
        return text

    def render(self, target: etree._Element, el: etree._Element) -> None:
        """Mixed content of an assert/diagnostic as XSLT instructions."""
        if el.text:
            etree.SubElement(target, f"{_X}text").text = el.text
        for child in el:
            if isinstance(child.tag, str):
                if child.tag == f"{_S}value-of":
                    etree.SubElement(target, f"{_X}value-of", select=self.expr(child.get("select", ".")))
                elif child.tag == f"{_S}name":
                    path = child.get("path")
                    select = f"name({self.expr(path)})" if path else "name(.)"
                    etree.SubElement(target, f"{_X}value-of", select=select)
                elif child.tag.startswith(_X):
                    # XSLT instructions inside a message or property (xsl:copy-of, ...).
                    target.append(_xsl_copy(child))
                else:
                    self.render(target, child)
            if child.tail:
                etree.SubElement(target, f"{_X}text").text = child.tail

    def add_doc_function(self) -> None:
        """cx:doc / cx:document / cx:doc-available: pre-loaded documents first."""
        base = self.base.replace("'", "''")
        # Keys of cx:docs are file system paths: Saxon writes file:/x, Python file:///x.
        key = "replace($abs, '^file:/+', '/')"
        lookup = (f"let $abs := string(resolve-uri($u, '{base}')), $key := {key} return "
                  "if (map:contains($cx:docs, $key)) then $cx:docs($key) else doc($abs)")
        f = etree.SubElement(self.sheet, f"{_X}function", name="cx:doc")
        f.set("as", "document-node()?")
        p = etree.SubElement(f, f"{_X}param", name="u")
        p.set("as", "xs:string?")
        etree.SubElement(f, f"{_X}sequence", select=f"if (empty($u)) then () else ({lookup})")
        f = etree.SubElement(self.sheet, f"{_X}function", name="cx:document")
        f.set("as", "document-node()*")
        p = etree.SubElement(f, f"{_X}param", name="uris")
        p.set("as", "item()*")
        etree.SubElement(f, f"{_X}sequence", select="for $x in $uris return cx:doc(string($x))")
        f = etree.SubElement(self.sheet, f"{_X}function", name="cx:document")
        f.set("as", "document-node()*")
        p = etree.SubElement(f, f"{_X}param", name="uris")
        p.set("as", "item()*")
        p = etree.SubElement(f, f"{_X}param", name="base")
        p.set("as", "node()")
        etree.SubElement(f, f"{_X}sequence",
                         select="for $x in $uris return doc(string(resolve-uri(string($x), base-uri($base))))")
        f = etree.SubElement(self.sheet, f"{_X}function", name="cx:doc-available")
        f.set("as", "xs:boolean")
        p = etree.SubElement(f, f"{_X}param", name="u")
        p.set("as", "xs:string?")
        etree.SubElement(
            f, f"{_X}sequence",
            select=(f"if (empty($u)) then false() else (let $abs := string(resolve-uri($u, '{base}')) "
                    f"return map:contains($cx:docs, {key}) or doc-available($abs))"))


_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_LITERAL_DOC = re.compile(r"""cx:(doc|document)\(\s*('[^']*'|"[^"]*")\s*\)""")
_PREDICATE = re.compile(r"\[[^\[\]]*\]")


def _strip_predicates(context: str) -> str:
    pieces = []
    for is_lit, piece in split_literals(context):
        pieces.append("''" if is_lit else piece)
    text = "".join(pieces)
    previous = None
    while previous != text:
        previous = text
        text = _PREDICATE.sub("", text)
    return text


def _may_match_other_node(context: str) -> bool:
    """Whether a rule context can match text, comment or processing-instruction nodes."""
    bare = _strip_predicates(context)
    return any(t in bare for t in ("text(", "comment(", "processing-instruction(", "node("))


def _may_match_attribute(context: str) -> bool:
    """Whether a rule context can match attribute nodes (then the walk visits attributes)."""
    bare = _strip_predicates(context)
    return "@" in bare or "attribute::" in bare or "attribute(" in bare


# --------------------------------------------------------------------------- pattern guards

# The kit's profiles hold hundreds of patterns whose every rule is keyed by a templateId root
# (``*[cda:templateId/@root='1.3.6…']``) that most documents lack, and each pattern is a walk
# of the whole document. A pattern whose every rule context requires, in a predicate of one
# of its steps, a templateId child with a given root can fire only if the document holds a
# templateId with one of those roots: the entry template tests that with one key (one walk,
# shared by all patterns) and skips the pattern's walk otherwise. Exact: a context that does
# not have that shape leaves its pattern unguarded; the key is on the local name
# ``templateId`` in any namespace (a superset), so a guard never skips a pattern that could
# fire.
_TPL_KEY = "cx-templateId-root"
# One root test: [./][a/b/]templateId/@root = 'X' (or = ('X', 'Y')), or templateId[@root = 'X'].
_LIT = r"""(?:'[^']*'|"[^"]*")"""
_ROOT_TEST = re.compile(
    r"""^\s*(?:\.\s*/\s*)?(?:(?:[\w.-]+:)?[\w.-]+\s*/\s*)*(?:[\w.-]+:)?templateId\s*
        (?:/\s*@root\s*=\s*(?P<v1>%s|\(\s*%s(?:\s*,\s*%s)*\s*\))
         |\[\s*@root\s*=\s*(?P<v2>%s)\s*\])\s*$""" % (_LIT, _LIT, _LIT, _LIT), re.X)


def _roots_of_test(test: str) -> set[str] | None:
    """The roots a predicate requires one of, or None: a conjunct that is a root test or a
    disjunction of root tests."""
    for conjunct in top_level_word(test, "and"):
        roots: set[str] = set()
        for disjunct in top_level_word(conjunct, "or"):
            m = _ROOT_TEST.match(disjunct)
            if m is None:
                roots = set()
                break
            value = m.group("v1") or m.group("v2") or ""
            roots.update(lit[1:-1] for lit in re.findall(_LIT, value))
        if roots:
            return roots
    return None


def required_roots(contexts: list[str]) -> set[str] | None:
    """templateId roots one of which a document must hold for any of ``contexts`` to match,
    or None when some context does not require one."""
    roots: set[str] = set()
    for context in contexts:
        if "$" in context:
            return None
        for alternative in split_top_level(context, "|"):
            found = None
            for predicate in step_predicates(alternative):
                found = _roots_of_test(predicate)
                if found:
                    break
            if not found:
                return None
            roots |= found
    return roots or None


def _xpath_string(value: str) -> str:
    """An XPath string literal for ``value`` (roots have no quotes; both kinds handled)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return "concat(" + ", \"'\", ".join(f"'{p}'" for p in value.split("'")) + ")"
