"""A pack compiled to lxml XPath objects and run on the document's own lxml tree.

Semantics are those of cdacheck's Schematron-to-XSLT compiler (compiler.py), which the
Saxon path runs: the same expanded schema (loader.load_schema), the same active patterns,
global lets (schema, then patterns, then phase), the same assert ids, roles and messages.
Per pattern, each element gets the first rule whose context matches it; a failed assert
or a successful report becomes an :class:`SvrlResult` with the location in Saxon's
``path()`` form, turned into hits by svrl.to_hits, so both paths build identical hits.

Cost: rule contexts are tested once per rule on the candidate elements of their last step
(one XPath call per rule; the children of a named parent when the context names one); a fired
rule costs one XPath call per let its tests read and one for all its tests together (a string
of 0/1 flags); the lets only messages read, and the messages, are evaluated for failures only.
Each expression is compiled with just the ``cx:`` functions it calls (functions.compile_xpath).
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
_CACHE: dict[tuple[str, str], NativeSchematron] = {}
_VALUESETS: dict[str, tuple[int, int, etree._Element]] = {}

Evaluator = Callable[..., Any]


@dataclass
class _Expr:
    xpath: Evaluator
    params: tuple[str, ...]
    text: str


class _LazyExpr:
    """An expression compiled on first use: the pieces of a message, which only a failure
    reads (most of a pack's expressions; compiling them all cost a cold start ~10–30 ms)."""

    __slots__ = ("_xpath", "_ns", "params", "text")

    def __init__(self, text: str, params: tuple[str, ...], ns: dict[str, str]) -> None:
        self._xpath: Evaluator | None = None
        self._ns, self.params, self.text = ns, params, text

    @property
    def xpath(self) -> Evaluator:
        if self._xpath is None:
            self._xpath = fx.compile_xpath(self.text, self._ns)
        return self._xpath


@dataclass
class _Check:
    info: AssertInfo
    pieces: list[str | _Expr | _LazyExpr]
    test: str = ""  # its test alone (the guard taken off), for the evaluation over many nodes
    test_params: tuple[str, ...] = ()
    batch: Any = None  # ``$cx_nodes[...]`` compiled on first use


@dataclass
class _Rule:
    context: str
    match: Evaluator
    tags: tuple[str, ...] | None
    params: tuple[str, ...]
    match_text: str = ""
    # no let, no guard, no current(), no position(): its asserts can be evaluated over all the
    # nodes it fired on, one call per assert instead of one per node
    batchable: bool = False
    lets: list[tuple[str, _Expr]] = field(default_factory=list)
    # The lets split by use (see _split_lets): those the tests read, evaluated on every fire,
    # and those only messages read, evaluated when an assert fails (as Saxon, lazily).
    test_lets: list[tuple[str, _Expr]] = field(default_factory=list)
    message_lets: list[tuple[str, _Expr]] = field(default_factory=list)
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
    namespaces: dict[str, str] = field(default_factory=dict)
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
                    cands = [e for t in rule.tags for e in _candidates(by_tag, t)]
                if claimed:
                    cands = [e for e in cands if e not in claimed]
                if not cands:
                    continue
                for el in rule.match(root, cx_c=cands, **{p: env[p] for p in rule.params}):
                    claimed.add(el)
                    fired.append((order[el], rule, el))
            fired.sort(key=lambda f: f[0])
            batched = self._batches(fired, root, env)
            for _, rule, el in fired:
                fails = batched.get(id(rule))
                if fails is None:
                    self._fire(rule, el, env, pid, out, paths)
                elif el in fails:
                    local = dict(env)
                    local["cx_current"] = el
                    self._emit(rule, el, local, pid, out, paths, fails[el])
            state.env = env
        return out

    def _batches(self, fired: list[tuple[int, _Rule, etree._Element]], root: etree._Element,
                 env: dict[str, Any]) -> dict[int, dict[Any, list[int]]]:
        """Failed checks per node for the rules fired on more nodes than they have asserts."""
        nodes: dict[int, list[etree._Element]] = {}
        rules: dict[int, _Rule] = {}
        for _, rule, el in fired:
            if rule.batchable:
                nodes.setdefault(id(rule), []).append(el)
                rules[id(rule)] = rule
        out: dict[int, dict[Any, list[int]]] = {}
        fx.STATE.env = env
        for rid, els in nodes.items():
            rule = rules[rid]
            if len(els) < 3 or len(rule.checks) >= len(els):
                continue
            fails: dict[Any, list[int]] = {}
            for i, check in enumerate(rule.checks):
                if check.batch is None:
                    keep = "not(boolean({}))" if check.info.kind == "assert" else "boolean({})"
                    check.batch = fx.compile_xpath(f"$cx_nodes[{keep.format(check.test)}]",
                                                   self.namespaces)
                for el in check.batch(root, cx_nodes=els, **{p: env[p] for p in check.test_params}):
                    fails.setdefault(el, []).append(i)
            out[rid] = fails
        return out

    def _fire(self, rule: _Rule, el: etree._Element, env: dict[str, Any], pid: str,
              out: list[SvrlResult], paths: dict[Any, str]) -> None:
        local = dict(env)
        local["cx_current"] = el
        fx.STATE.env = local
        for name, expr in rule.test_lets:
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
        failed = [i for i, (flag, check) in enumerate(zip(flags, rule.checks))
                  if (flag == "0") == (check.info.kind == "assert")]
        if failed:
            self._emit(rule, el, local, pid, out, paths, failed)

    def _emit(self, rule: _Rule, el: etree._Element, local: dict[str, Any], pid: str,
              out: list[SvrlResult], paths: dict[Any, str], failed: list[int]) -> None:
        """The results of the failed asserts / successful reports ``failed`` (indexes)."""
        fx.STATE.env = local
        for name, expr in rule.message_lets:
            local[name] = fx.for_xpath(expr.xpath(el, **{p: local[p] for p in expr.params}))
        for i in failed:
            check = rule.checks[i]
            info = check.info
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


def _candidates(by_tag: dict[str, list[etree._Element]], key: str) -> list[etree._Element]:
    """The elements named ``key``, or for ``parent>name`` the children so named of the
    elements named ``parent`` (computed on first use, then kept with the document: a header
    rule ``hl7:ClinicalDocument/hl7:id`` is handed one element, not every id of the body)."""
    got = by_tag.get(key)
    if got is None:
        parent, sep, tag = key.partition(">")
        got = [c for e in by_tag.get(parent, ()) for c in e.iterchildren(tag)] if sep else []
        by_tag[key] = got
    return got


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
    """``fn:path()`` of an element as Saxon writes it: ``/Q{ns}local[n]`` steps
    (iterative: a hostile document may be thousands of levels deep)."""
    chain = []
    node: etree._Element | None = el
    while node is not None and node not in memo:
        chain.append(node)
        node = node.getparent()
    path = memo[node] if node is not None else ""
    for n in reversed(chain):
        qn = etree.QName(n)
        pos = 1 + sum(1 for _ in n.itersiblings(n.tag, preceding=True))
        path += f"/Q{{{qn.namespace or ''}}}{qn.localname}[{pos}]"
        memo[n] = path
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
        ck = _cache_key(loaded, pack, phase)
        plan = _cached_plan(ck, loaded)
        if plan is None:
            plan = _Compiler(loaded, pack, phase).plan()
            from cdacheck.engines.schematron import diskcache

            diskcache.store("native", ck, plan, forbidden=None)
        compiled = _instantiate(plan, loaded.path)
        compiled.compile_ms = (time.perf_counter() - t0) * 1000
        _CACHE[key] = compiled
        return compiled


_NATIVE_FILES = ("engine.py", "translate.py", "functions.py")


def _cache_key(loaded: LoadedSchema, pack: str, phase: str | None) -> str:
    import hashlib

    from cdacheck.engines.schematron import diskcache

    h = hashlib.sha256()
    for name in _NATIVE_FILES:
        try:
            h.update((Path(__file__).parent / name).read_bytes())
        except OSError:  # installed without sources: the cdacheck version (in the key) decides
            h.update(name.encode())
    from importlib.metadata import version

    return diskcache.key("native", loaded.digest, pack, phase or "", h.hexdigest(),
                         version("elementpath"), ".".join(map(str, etree.LXML_VERSION)))


def _cached_plan(ck: str, loaded: LoadedSchema) -> dict[str, Any] | None:
    """The stored translation, when every value set it read is still the same file."""
    from cdacheck.engines.schematron import diskcache

    plan = diskcache.load("native", ck)
    if not isinstance(plan, dict) or plan.get("format") != _PLAN_FORMAT:
        return None
    for uri, digest in plan["documents"].items():
        if _file_digest(loaded.path.parent / uri) != digest:
            return None
    return plan


def _file_digest(path: Path) -> str | None:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


_PLAN_FORMAT = 3  # 3: parent>name candidate keys


def _instantiate(plan: dict[str, Any], path: Path) -> NativeSchematron:
    """Compile a translation (fresh or from the disk cache) into XPath objects and constants."""
    ns = plan["namespaces"]

    def xp(text: str) -> etree.XPath:
        return fx.compile_xpath(text, ns)

    def expr(spec: list[Any]) -> _Expr:
        return _Expr(xp(spec[0]), tuple(spec[1]), spec[0])

    constants: dict[str, Any] = {var: [_valueset(path.parent / uri)] for var, uri in plan["docs"].items()}
    maps: dict[str, dict[str, Any]] = {}
    state = fx.STATE
    saved = state.env, state.maps, state.locals
    state.env, state.maps, state.locals = constants, maps, {}
    try:
        fx.KEY_DECLS.update({k: (v[0], v[1]) for k, v in plan["keys"].items()})
        holder = etree.Element("cx-constant")
        for kind, name, *rest in plan["constants"]:
            if kind == "let":
                text, params = rest
                constants[name] = fx.for_xpath(xp(text)(holder, **{p: constants[p] for p in params}))
            else:  # a map: key -> ["doc", var] | ["xpath", text, params]
                table: dict[str, Any] = {}
                for key, how, *spec in rest[0]:
                    table[key] = list(constants[spec[0]]) if how == "doc" else \
                        xp(spec[0])(holder, **{p: constants[p] for p in spec[1]})
                maps[name] = table
        for index, text, params, local in plan["subs"]:
            fx.SUBS[index] = fx.CompiledSub(xp(text), tuple(params), local)
        for index, text, params, kind in plan["consts"]:
            value = xp(text)(holder, **{p: constants[p] for p in params})
            fx.CONSTS[index] = frozenset(fx.as_strings(value)) if kind == "set" else fx.items(value)
    finally:
        state.env, state.maps, state.locals = saved
    patterns = []
    for pid, rules in plan["patterns"]:
        out = []
        for r in rules:
            rule = _Rule(context=r["context"], match=xp(r["match"]),
                         tags=tuple(r["tags"]) if r["tags"] is not None else None,
                         params=tuple(r["params"]))
            rule.lets = [(name, expr(spec)) for name, spec in r["lets"]]
            rule.groups = [(var, frozenset(lits), expr(spec), list(indexes))
                           for var, lits, spec, indexes in r["groups"]]
            rule.checks = [_Check(AssertInfo(**info), [p if isinstance(p, str) else
                                                       _LazyExpr(p[0], tuple(p[1]), ns) for p in pieces],
                                  test, tuple(test_params))
                           for info, pieces, test, test_params in r["checks"]]
            rule.batchable = r["batchable"]
            _split_lets(rule)
            out.append(rule)
        patterns.append((pid, out))
    return NativeSchematron(path=path, pack=plan["pack"], phase=plan["phase"], digest=plan["digest"],
                            asserts=[AssertInfo(**a) for a in plan["asserts"]], patterns=patterns,
                            constants=constants,
                            doc_lets=[(name, expr(spec)) for name, spec in plan["doc_lets"]], maps=maps,
                            namespaces=ns)


def _split_lets(rule: _Rule) -> None:
    """Which lets the tests need: those the groups read, and those these lets read, back to
    front (an expression's params include the variables of the sub-expressions it calls),
    and any let reading a name a later let redefines. The others only feed messages (an
    element's label, a list of what was found) and are evaluated for a failure only: as in
    Saxon, a message-only let that cannot be evaluated is an error only when it is shown."""
    needed = {p for _, _, e, _ in rule.groups for p in e.params}
    needed.update(var for var, _, _, _ in rule.groups if var is not None)  # the guards' lets
    redefined_later: list[set[str]] = []  # per let: the names the lets after it define
    seen: set[str] = set()
    for name, _ in reversed(rule.lets):
        redefined_later.append(set(seen))
        seen.add(name)
    redefined_later.reverse()
    changed = True
    while changed:  # to a fixed point
        changed = False
        for i in range(len(rule.lets) - 1, -1, -1):
            name, e = rule.lets[i]
            # a let reading a name that a later let redefines (a rule let shadowing a global
            # one) must run in its place, before that let: it stays with the tests
            if name in needed or not redefined_later[i].isdisjoint(e.params):
                if name not in needed or not needed.issuperset(e.params):
                    needed.add(name)
                    needed.update(e.params)
                    changed = True
    rule.test_lets = [(n, e) for n, e in rule.lets if n in needed]
    rule.message_lets = [(n, e) for n, e in rule.lets if n not in needed]


def _valueset(target: Path) -> etree._Element:
    """A value-set file parsed once per process (again when it changes)."""
    target = target.resolve()
    try:
        st = target.stat()
    except OSError as exc:
        raise Untranslatable(f"document introuvable : {target.name}") from exc
    cached = _VALUESETS.get(str(target))
    if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
        return cached[2]
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    root = etree.parse(str(target), parser).getroot()
    _VALUESETS[str(target)] = (st.st_mtime_ns, st.st_size, root)
    return root


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
        self.subs: list[Sub] = []
        self.consts: list[Const] = []
        self.base = int(loaded.digest[:8] or "0", 16) * 10000
        self.tr = Translator(self.ns, self.subs, self.consts, self.base)
        self.recipe: list[list[Any]] = []  # constant lets and maps, in order (see _instantiate)
        self.tr.resolve = self._resolve
        self.scope = Scope()
        self.constants: dict[str, Any] = {}
        self.doc_lets: list[tuple[str, _Expr]] = []
        self.maps: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, tuple[str, str]] = {}

    def xpath(self, text: str) -> etree.XPath:
        try:
            return fx.compile_xpath(text, self.xpath_ns)
        except etree.XPathSyntaxError as exc:
            raise Untranslatable(f"XPath 1.0 invalide après traduction : {text[:160]} ({exc})") from exc

    def plan(self) -> dict[str, Any]:
        """The translation as plain data (what the disk cache keeps)."""
        from dataclasses import asdict

        native = self.build()

        def spec(e: _Expr) -> list[Any]:
            return [e.text, list(e.params)]

        patterns = []
        for pid, rules in native.patterns:
            patterns.append([pid, [{
                "context": r.context, "match": r.match_text, "tags": r.tags, "params": r.params,
                "lets": [[name, spec(e)] for name, e in r.lets],
                "groups": [[var, sorted(lits), spec(e), idx] for var, lits, e, idx in r.groups],
                "checks": [[asdict(c.info), [p if isinstance(p, str) else spec(p) for p in c.pieces],
                            c.test, list(c.test_params)] for c in r.checks],
                "batchable": r.batchable,
            } for r in rules]])
        return {
            "format": _PLAN_FORMAT, "pack": self.pack, "phase": native.phase,
            "digest": self.loaded.digest, "namespaces": self.xpath_ns,
            "docs": {var: uri for uri, var in self.tr.documents.items()},
            "documents": {uri: _file_digest(self.loaded.path.parent / uri) for uri in self.tr.documents},
            "keys": {k: list(v) for k, v in self.keys.items()},
            "constants": self.recipe,
            "subs": [[self.base + i, s.xpath, list(s.params), s.local] for i, s in enumerate(self.subs)],
            "consts": [[self.base + i, c.xpath, list(c.params), c.kind] for i, c in enumerate(self.consts)],
            "asserts": [asdict(a) for a in native.asserts],
            "patterns": patterns,
            "doc_lets": [[name, spec(e)] for name, e in native.doc_lets],
        }

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
        for sub in self.subs:  # every sub-expression must compile (else: Untranslatable)
            self.xpath(sub.xpath)
        for c in self.consts:
            self.xpath(c.xpath)
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
        return _valueset(self.loaded.path.parent / uri)

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
            self.recipe.append(["let", name, out.xpath, list(out.params)])
        else:
            self.scope.dependent.add(name)
            self.doc_lets.append((name, expr))

    def _map_let(self, name: str, tok: Any) -> None:
        table: dict[str, Any] = {}
        recipe: list[list[Any]] = []
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
                recipe.append([str(k.value), "doc", doc.group(1)])
            else:
                table[str(k.value)] = self.xpath(out.xpath)(holder, **{p: self.constants[p] for p in out.params})
                recipe.append([str(k.value), "xpath", out.xpath, list(out.params)])
        self.maps[name] = table
        self.recipe.append(["map", name, recipe])
        self.scope.types[name] = MAP

    def rule(self, rule: etree._Element, p: etree._Element, pid: str, asserts: list[AssertInfo]) -> _Rule:
        context = rule.get("context", "")
        cond, tags, params = self.tr.pattern(context, self.scope)
        match_text = f"$cx_c[{cond}]"
        out = _Rule(context=context, match=self.xpath(match_text),
                    tags=tuple(sorted(tags)) if tags is not None else None, params=params,
                    match_text=match_text)
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
                out.checks.append(_Check(info, self._pieces(child, scope), rest.xpath, tuple(rest.params)))
        for (var, lits), members in grouped.items():
            texts, params = [], set()
            for _, t in members:
                texts.append(f"string(number(boolean({t.xpath})))")
                params.update(t.params)
            text = "concat('', " + ", ".join(texts) + ")"
            out.groups.append((var, lits, _Expr(self.xpath(text), tuple(sorted(params)), text),
                               [i for i, _ in members]))
        out.batchable = bool(out.checks) and not out.lets and all(g[0] is None for g in out.groups) and all(
            "cx_current" not in c.test_params and "position()" not in c.test and "last()" not in c.test
            for c in out.checks)
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
