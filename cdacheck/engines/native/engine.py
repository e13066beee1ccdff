"""A pack compiled to lxml XPath objects and run on the document's own lxml tree.

Semantics are those of cdacheck's Schematron-to-XSLT compiler (compiler.py), which the
Saxon path runs: the same expanded schema (loader.load_schema), the same active patterns,
global lets (schema, then patterns, then phase), the same assert ids, roles and messages.
Per pattern, each element gets the first rule whose context matches it; a failed assert
or a successful report becomes an :class:`SvrlResult` with the location in Saxon's
``path()`` form, turned into hits by svrl.to_hits, so both paths build identical hits.

Cost: rule contexts are tested once per rule on the candidate elements of their last step
(one XPath call per rule); a fired rule costs one XPath call per let and one for all its
tests together (a string of 0/1 flags); messages are rendered only for failures.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from cdacheck.engines.native import functions as fx
from cdacheck.engines.native.translate import (
    ATTRS,
    DOC,
    Const,
    MAP,
    NODES,
    SEQ,
    STR,
    Scope,
    Sub,
    Translator,
    Untranslatable,
    _params_of,
)
from cdacheck.engines.schematron.compiler import (
    QUERY_BINDINGS,
    AssertInfo,
    _active_patterns,
    _ns_map,
    assert_hash,
    message_template,
    pattern_key,
)
from cdacheck.engines.schematron.loader import SCH, XSL, LoadedSchema, SchematronError, load_schema
from cdacheck.engines.schematron.svrl import SvrlResult, normalize, to_hits
from cdacheck.engines.schematron.xpath import CX
from cdacheck.inputs.xml import ParsedDocument
from cdacheck.model import Hit

_S = f"{{{SCH}}}"
_X = f"{{{XSL}}}"
_LOCK = threading.RLock()
_SOURCES: list[Sub] = []  # every sub-expression of every translated pack (index = cx id)
_CONSTS: list[Const] = []  # every constant set / index of every translated pack
_CACHE: dict[tuple[str, str], NativeSchematron] = {}
_VALUESETS: dict[str, tuple[int, int, etree._Element]] = {}

fx.register()

Evaluator = Callable[..., Any]


@dataclass
class _Expr:
    xpath: Evaluator
    params: tuple[str, ...]
    text: str


@dataclass
class _Check:
    info: AssertInfo
    pieces: list[str | _Expr]


@dataclass
class _Rule:
    context: str
    match: Evaluator
    tags: tuple[str, ...] | None
    params: tuple[str, ...]
    lets: list[tuple[str, _Expr]] = field(default_factory=list)
    # The tests, grouped: (let name, literals, flags expression, indexes of the checks). A
    # test "not($v = 'lit') or rest" is true without evaluation when $v lacks the literals
    # (the entries pack guards each of its hundreds of asserts so); None: always evaluated.
    groups: list[tuple[str | None, frozenset[str], _Expr, list[int]]] = field(default_factory=list)
    checks: list[_Check] = field(default_factory=list)


@dataclass
class NativeSchematron:
    """A pack ready to run natively on many documents."""

    path: Path
    pack: str
    phase: str
    digest: str
    asserts: list[AssertInfo]
    patterns: list[tuple[str, list[_Rule]]]
    constants: dict[str, Any]
    doc_lets: list[tuple[str, _Expr]]
    maps: dict[str, dict[str, Any]]
    compile_ms: float = 0.0

    def results(self, doc: ParsedDocument) -> list[SvrlResult]:
        """The failed asserts and successful reports, in the order of the Saxon SVRL."""
        with _LOCK:
            return self._run(_prepared(doc))

    def run(self, doc: ParsedDocument) -> list[Hit]:
        return to_hits(self.results(doc), self.pack, doc)

    def _run(self, prep: _Prepared) -> list[SvrlResult]:
        root, els, by_tag, order = prep.root, prep.els, prep.by_tag, prep.order
        env = dict(self.constants)
        state = fx.STATE
        state.env, state.maps, state.locals = env, self.maps, {}
        tree = root.getroottree()
        for name, expr in self.doc_lets:
            env[name] = fx.for_xpath(expr.xpath(tree, **{p: env[p] for p in expr.params}))
        out: list[SvrlResult] = []
        paths: dict[Any, str] = {}
        for pid, rules in self.patterns:
            claimed: set[Any] = set()
            fired: list[tuple[int, _Rule, etree._Element]] = []
            for rule in rules:
                if rule.tags is None:
                    cands = els
                else:
                    cands = [e for t in rule.tags for e in by_tag.get(t, ())]
                if claimed:
                    cands = [e for e in cands if e not in claimed]
                if not cands:
                    continue
                for el in rule.match(root, cx_c=cands, **{p: env[p] for p in rule.params}):
                    claimed.add(el)
                    fired.append((order[el], rule, el))
            fired.sort(key=lambda f: f[0])
            for _, rule, el in fired:
                self._fire(rule, el, env, pid, out, paths)
            state.env = env
        return out

    def _fire(self, rule: _Rule, el: etree._Element, env: dict[str, Any], pid: str,
              out: list[SvrlResult], paths: dict[Any, str]) -> None:
        local = dict(env)
        local["cx_current"] = el
        fx.STATE.env = local
        for name, expr in rule.lets:
            local[name] = fx.for_xpath(expr.xpath(el, **{p: local[p] for p in expr.params}))
        if not rule.groups:
            return
        flags = ["1"] * len(rule.checks)
        present: dict[str, set[str]] = {}
        for var, lits, expr, indexes in rule.groups:
            if var is not None:
                have = present.get(var)
                if have is None:
                    have = present[var] = set(fx.as_strings(local[var]))
                if have.isdisjoint(lits):
                    continue
            got = str(expr.xpath(el, **{p: local[p] for p in expr.params}))
            for i, f in zip(indexes, got):
                flags[i] = f
        for flag, check in zip(flags, rule.checks):
            info = check.info
            if (flag == "0") != (info.kind == "assert"):
                continue
            parts = []
            for piece in check.pieces:
                if isinstance(piece, str):
                    parts.append(piece)
                else:
                    value = piece.xpath(el, **{p: local[p] for p in piece.params})
                    parts.append(" ".join(fx.as_strings(value)))
            out.append(SvrlResult(
                kind="failed-assert" if info.kind == "assert" else "successful-report",
                pattern=pid, id=info.id, role=info.role or None, flag=info.flag or None,
                test=info.test, location=saxon_path(el, paths), text=normalize("".join(parts))))


@dataclass
class _Prepared:
    """What every pack reads of one document: its elements, by name and in document order."""

    source: etree._Element
    root: etree._Element
    els: list[etree._Element]
    by_tag: dict[str, list[etree._Element]]
    order: dict[etree._Element, int]


_LAST: list[_Prepared] = []  # the document the packs are running on (one entry)


def _prepared(doc: ParsedDocument) -> _Prepared:
    cda = doc.cda
    if _LAST and _LAST[0].source is cda:
        return _LAST[0]
    root = cda
    if root.getroottree().getroot() is not root:
        # Saxon validates the ClinicalDocument alone (see runner.xdm_document): so does this.
        import copy

        root = copy.deepcopy(root)
    els = list(root.iter(etree.Element))
    by_tag: dict[str, list[etree._Element]] = {}
    for el in els:
        by_tag.setdefault(el.tag, []).append(el)
    prep = _Prepared(cda, root, els, by_tag, {el: i for i, el in enumerate(els)})
    _LAST[:] = [prep]
    return prep


def _or_members(tok: Any) -> list[Any]:
    tok = _unparen(tok)
    if tok.symbol == "or":
        return _or_members(tok[0]) + _or_members(tok[1])
    return [tok]


def _unparen(tok: Any) -> Any:
    while tok.symbol == "(" and len(tok) == 1:
        tok = tok[0]
    return tok


def saxon_path(el: etree._Element, memo: dict[Any, str]) -> str:
    """``fn:path()`` of an element as Saxon writes it: ``/Q{ns}local[n]`` steps."""
    hit = memo.get(el)
    if hit is not None:
        return hit
    parent = el.getparent()
    qn = etree.QName(el)
    pos = 1
    for sib in el.itersiblings(el.tag, preceding=True):
        pos += 1
    step = f"/Q{{{qn.namespace or ''}}}{qn.localname}[{pos}]"
    path = (saxon_path(parent, memo) if parent is not None else "") + step
    memo[el] = path
    return path


# ------------------------------------------------------------------------------ compiling


def compile_native(path: Path, pack: str, phase: str | None = None) -> NativeSchematron:
    """Translate a pack for the native engine (cached per process); raises
    :class:`Untranslatable` when some part of it cannot run natively."""
    path = Path(path).resolve()
    loaded = load_schema(path)
    key = (loaded.digest + "|" + pack, phase or "")
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
        t0 = time.perf_counter()
        compiled = _Compiler(loaded, pack, phase).build()
        compiled.compile_ms = (time.perf_counter() - t0) * 1000
        _CACHE[key] = compiled
        return compiled


class _Compiler:
    def __init__(self, loaded: LoadedSchema, pack: str, phase: str | None) -> None:
        self.loaded = loaded
        self.pack = pack
        self.phase = phase
        root = loaded.root
        binding = (root.get("queryBinding") or "xslt").lower()
        if binding not in QUERY_BINDINGS:
            raise SchematronError(f"queryBinding non pris en charge : {binding}")
        self.ns = {k: v for k, v in _ns_map(root).items() if k not in ("xsl", "svrl")}
        self.xpath_ns = dict(self.ns)
        self.xpath_ns["cx"] = CX
        self.start = len(_SOURCES)
        self.const_start = len(_CONSTS)
        self.tr = Translator(self.ns, _SOURCES, _CONSTS)
        self.tr.resolve = self._resolve
        self.scope = Scope()
        self.constants: dict[str, Any] = {}
        self.doc_lets: list[tuple[str, _Expr]] = []
        self.maps: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, tuple[str, str]] = {}

    def xpath(self, text: str) -> etree.XPath:
        try:
            return etree.XPath(text, namespaces=self.xpath_ns)
        except etree.XPathSyntaxError as exc:
            raise Untranslatable(f"XPath 1.0 invalide après traduction : {text[:160]} ({exc})") from exc

    def build(self) -> NativeSchematron:
        state = fx.STATE
        saved = state.env, state.maps, state.locals
        # constants (value sets, maps) are evaluated while translating: cx: functions see them
        state.env, state.maps, state.locals = self.constants, self.maps, {}
        try:
            return self._build()
        finally:
            state.env, state.maps, state.locals = saved

    def _build(self) -> NativeSchematron:
        root = self.loaded.root
        for child in root:
            if isinstance(child.tag, str) and child.tag.startswith(_X):
                self._xsl(child)
        phase_name, active, phase_el = _active_patterns(root, self.phase, [])
        phase_lets = phase_el.findall(f"{_S}let") if phase_el is not None else []
        overridden = {let.get("name") for let in phase_lets}
        all_patterns = [p for p in root.findall(f"{_S}pattern") if p.get("abstract") != "true"]
        keys = {id(p): pattern_key(p, i) for i, p in enumerate(all_patterns)}
        for let in root.findall(f"{_S}let"):
            if let.get("name") not in overridden:
                self.global_let(let)
        for p in all_patterns:
            for let in p.findall(f"{_S}let"):
                self.global_let(let)
        for let in phase_lets:
            self.global_let(let)
        for var, uri in ((v, u) for u, v in self.tr.documents.items()):
            self.constants[var] = [self._valueset(uri)]
        asserts: list[AssertInfo] = []
        patterns = []
        for p in active:
            if p.get("documents") is not None:
                raise Untranslatable("motif avec @documents")
            pid = keys[id(p)]
            rules = [r for r in p.findall(f"{_S}rule") if r.get("abstract") != "true" and r.get("context")]
            patterns.append((pid, [self.rule(r, p, pid, asserts) for r in rules]))
        for var, uri in ((v, u) for u, v in self.tr.documents.items()):
            self.constants.setdefault(var, [self._valueset(uri)])
        for i in range(self.start, len(_SOURCES)):
            sub = _SOURCES[i]
            fx.SUBS[i] = fx.CompiledSub(self.xpath(sub.xpath), sub.params, sub.local)
        fx.KEY_DECLS.update(self.keys)
        holder = etree.Element("cx-constant")
        for i in range(self.const_start, len(_CONSTS)):
            c = _CONSTS[i]
            value = self.xpath(c.xpath)(holder, **{p: self.constants[p] for p in c.params})
            fx.CONSTS[i] = frozenset(fx.as_strings(value)) if c.kind == "set" else fx.items(value)
        return NativeSchematron(path=self.loaded.path, pack=self.pack, phase=phase_name,
                                digest=self.loaded.digest, asserts=asserts, patterns=patterns,
                                constants=self.constants, doc_lets=self.doc_lets, maps=self.maps)

    def _resolve(self, text: str) -> set[str]:
        """The string values of a constant expression (value sets are loaded on demand)."""
        for var, uri in ((v, u) for u, v in self.tr.documents.items()):
            self.constants.setdefault(var, [self._valueset(uri)])
        params = set(_params_of(text))
        value = self.xpath(text)(etree.Element("cx-constant"), **{p: self.constants[p] for p in params})
        return set(fx.as_strings(value))

    def _xsl(self, el: etree._Element) -> None:
        if el.tag != f"{_X}key":
            raise Untranslatable(f"instruction XSLT de premier niveau {etree.QName(el).localname}")
        match, use = el.get("match", ""), el.get("use", "")
        if not match.replace("-", "").replace("_", "").isalnum() or not use.startswith("@"):
            raise Untranslatable("xsl:key autre que match=\"nom\" use=\"@attribut\"")
        self.keys[el.get("name", "")] = (match, use[1:])

    def _valueset(self, uri: str) -> etree._Element:
        target = (self.loaded.path.parent / uri).resolve()
        try:
            st = target.stat()
        except OSError as exc:
            raise Untranslatable(f"document introuvable : {uri}") from exc
        cached = _VALUESETS.get(str(target))
        if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
            return cached[2]
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
        root = etree.parse(str(target), parser).getroot()
        _VALUESETS[str(target)] = (st.st_mtime_ns, st.st_size, root)
        return root

    def global_let(self, let: etree._Element) -> None:
        name, value = let.get("name", ""), let.get("value")
        if value is None:
            raise Untranslatable(f"let {name} sans @value")
        tok = self.tr.parse(value)
        if tok.symbol == "map":
            self._map_let(name, tok)
            return
        lits = self.tr.literal_items(tok, self.scope)
        if lits is not None and len(lits) > 1:
            self.scope.lits[name] = lits
        out = self.tr.translate(value, self.scope)
        self.scope.types[name] = out.type
        if out.context_free and out.type in (NODES, ATTRS, DOC):
            self.scope.inline[name] = out.xpath
            return
        expr = _Expr(self.xpath(out.xpath), out.params, out.xpath)
        if out.context_free:
            for var, uri in ((v, u) for u, v in self.tr.documents.items()):
                self.constants.setdefault(var, [self._valueset(uri)])
            holder = etree.Element("cx-constant")
            self.constants[name] = fx.for_xpath(expr.xpath(holder, **{p: self.constants[p] for p in out.params}))
        else:
            self.scope.dependent.add(name)
            self.doc_lets.append((name, expr))

    def _map_let(self, name: str, tok: Any) -> None:
        table: dict[str, Any] = {}
        for k, v in zip(tok, tok._values):
            if k.symbol != "(string)":
                raise Untranslatable("clé de table calculée")
            out = self.tr.translate_token(v, self.scope)
            if not out.context_free:
                raise Untranslatable("table dépendant du document")
            for var, uri in ((vv, u) for u, vv in self.tr.documents.items()):
                self.constants.setdefault(var, [self._valueset(uri)])
            holder = etree.Element("cx-constant")
            doc = re.fullmatch(r"\(*\$(cx_doc\d+)\)*", out.xpath)
            if doc is not None:
                # the value set itself, not a proxy XPath returned (see functions.f_key)
                table[str(k.value)] = list(self.constants[doc.group(1)])
            else:
                table[str(k.value)] = self.xpath(out.xpath)(holder, **{p: self.constants[p] for p in out.params})
        self.maps[name] = table
        self.scope.types[name] = MAP

    def rule(self, rule: etree._Element, p: etree._Element, pid: str, asserts: list[AssertInfo]) -> _Rule:
        context = rule.get("context", "")
        cond, tags, params = self.tr.pattern(context, self.scope)
        match = self.xpath(f"$cx_c[{cond}]")
        out = _Rule(context=context, match=match, tags=tuple(sorted(tags)) if tags is not None else None,
                    params=params)
        scope = self.scope.child()
        rule_role = rule.get("role") or p.get("role")
        grouped: dict[tuple[str | None, frozenset[str]], list[tuple[int, Any]]] = {}
        for child in rule:
            if not isinstance(child.tag, str):
                continue
            if child.tag == f"{_S}let":
                name, value = child.get("name", ""), child.get("value")
                if value is None:
                    raise Untranslatable(f"let {name} sans @value")
                lits = self.tr.literal_items(self.tr.parse(value), scope)
                if lits is not None:  # a literal list: written into the expressions that use it
                    scope.types[name] = SEQ if len(lits) > 1 else STR
                    scope.inline[name] = f"cx:seq({', '.join(lits)})" if len(lits) > 1 else lits[0]
                    scope.lits[name] = lits
                    scope.dependent.discard(name)
                    continue
                t = self.tr.translate(value, scope)
                scope.types[name] = t.type
                scope.inline.pop(name, None)
                scope.lits.pop(name, None)
                scope.dependent.add(name)
                out.lets.append((name, _Expr(self.xpath(t.xpath), t.params, t.xpath)))
            elif child.tag in (f"{_S}assert", f"{_S}report"):
                if child.get("diagnostics") or child.get("properties"):
                    raise Untranslatable("diagnostics / properties")
                is_assert = child.tag == f"{_S}assert"
                test = child.get("test", "")
                info = AssertInfo(pattern=pid, id=child.get("id") or assert_hash(pid, test),
                                  role=child.get("role") or rule_role, test=test,
                                  message=message_template(child),
                                  kind="assert" if is_assert else "report", context=context,
                                  flag=child.get("flag") or rule.get("flag"),
                                  has_id=bool(child.get("id")))
                asserts.append(info)
                var, lits, rest = self._guard(test, scope, {n for n, _ in out.lets})
                grouped.setdefault((var, lits), []).append((len(out.checks), rest))
                out.checks.append(_Check(info, self._pieces(child, scope)))
        for (var, lits), members in grouped.items():
            texts, params = [], set()
            for _, t in members:
                texts.append(f"string(number(boolean({t.xpath})))")
                params.update(t.params)
            text = "concat('', " + ", ".join(texts) + ")"
            out.groups.append((var, lits, _Expr(self.xpath(text), tuple(sorted(params)), text),
                               [i for i, _ in members]))
        return out

    def _guard(self, test: str, scope: Scope, lets: set[str]) -> tuple[str | None, frozenset[str], Any]:
        """(let, literals, rest) for ``not($let = literals) or rest``, else (None, {}, test)."""
        tok = self.tr.parse(test)
        members = _or_members(tok)
        first = members[0]
        if len(members) > 1 and first.symbol == "not" and len(first) == 1:
            cmp = _unparen(first[0])
            if cmp.symbol == "=" and cmp[0].symbol == "$" and str(cmp[0].value) in lets:
                lits = self.tr.literal_items(cmp[1], scope)
                if lits is not None and all(x[:1] in "'\"" for x in lits):
                    outs = [self.tr.translate_token(m, scope) for m in members[1:]]
                    rest = type(outs[0])(" or ".join(f"({o.xpath})" for o in outs), "bool",
                                         tuple(sorted({p for o in outs for p in o.params})), False)
                    return str(cmp[0].value), frozenset(x[1:-1] for x in lits), rest
        return None, frozenset(), self.tr.translate(test, scope)

    def _pieces(self, el: etree._Element, scope: Scope) -> list[str | _Expr]:
        pieces: list[str | _Expr] = []
        if el.text:
            pieces.append(el.text)
        for child in el:
            if isinstance(child.tag, str):
                if child.tag == f"{_S}value-of":
                    pieces.append(self._value(child.get("select", "."), scope))
                elif child.tag == f"{_S}name":
                    path = child.get("path")
                    pieces.append(self._value(f"name({path})" if path else "name(.)", scope))
                elif child.tag.startswith(_X):
                    raise Untranslatable("instruction XSLT dans un message")
                else:
                    pieces.extend(self._pieces(child, scope))
            if child.tail:
                pieces.append(child.tail)
        return pieces

    def _value(self, expr: str, scope: Scope) -> _Expr:
        t = self.tr.translate(expr, scope)
        return _Expr(self.xpath(t.xpath), t.params, t.xpath)
