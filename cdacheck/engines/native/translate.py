"""XPath 2.0 (as our packs write it) -> XPath 1.0 + ``cx:`` extension functions, for lxml.

The expression is parsed by elementpath (its XPath 3.1 parser, with the XSLT functions
``current()``, ``document()`` and ``key()`` declared) and written back as XPath 1.0 text.
What XPath 1.0 has is kept as is (paths, predicates, general comparisons, count, concat,
not, string functions); what it lacks becomes a call to a Python function of the ``cx:``
namespace (cdacheck.engines.native.functions): sequences, string-join, distinct-values,
if/then/else, quantified and ``for`` expressions, regular expressions, mapping steps
(``a/string(@b)``), maps and keys. Every construct not listed here raises
:class:`Untranslatable`: the pack then runs through Saxon, never half-translated.

Each translation carries a static type, which decides where XPath 1.0 and 2.0 differ:
``exists('')`` is true (a string) but ``boolean('')`` is false; ``@a lt 'x'`` compares
strings in XPath 2.0 and numbers in XPath 1.0; ``E/(b | c)`` is distributed over the union.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


from cdacheck.engines.schematron.xpath import CX, split_literals

NODES, ATTRS, SEQ, STR, NUM, BOOL, DOC, MAP, ANY = (
    "nodes", "attrs", "seq", "str", "num", "bool", "doc", "map", "any")
_NODEISH = (NODES, ATTRS)


class Untranslatable(Exception):
    """The expression uses something the native engine does not translate."""


@lru_cache(maxsize=1)
def _parser_class() -> Any:
    """elementpath's XPath 3.1 parser with current(), document() and key() declared and no
    static evaluation (imported on first use: a translation read from the disk cache
    needs no parser)."""
    from elementpath.tdop import Parser as TdopParser
    from elementpath.xpath31 import XPath31Parser

    class _Parser(XPath31Parser):  # type: ignore[misc]
        symbol_table = {**XPath31Parser.symbol_table}

        def parse(self, source: str) -> Any:
            if self.tokenizer is None:
                self.tokenizer = self.create_tokenizer(self.symbol_table)
            return TdopParser.parse(self, source)

    def declare(name: str, nargs: Any) -> None:
        def evaluate(self: Any, context: Any = None) -> list[Any]:
            return []

        def select(self: Any, context: Any = None) -> Any:
            return iter(())

        _Parser.method(_Parser.function(name, nargs=nargs))(evaluate)
        _Parser.method(name)(select)

    for name, nargs in (("key", (2, 3)), ("document", (1, 2)), ("current", 0)):
        declare(name, nargs)
    return _Parser


_AXES = {"self", "parent", "ancestor", "ancestor-or-self", "child", "descendant",
         "descendant-or-self", "preceding-sibling", "following-sibling", "preceding",
         "following", "attribute"}
_KIND = {"text": "text()", "node": "node()", "comment": "comment()"}
# XPath 1.0 functions kept as they are: name -> result type.
_SAME = {"normalize-space": STR, "contains": BOOL, "starts-with": BOOL, "substring": STR,
         "substring-before": STR, "substring-after": STR, "string-length": NUM,
         "translate": STR, "number": NUM, "sum": NUM, "floor": NUM, "ceiling": NUM,
         "round": NUM, "true": BOOL, "false": BOOL, "boolean": BOOL, "position": NUM,
         "last": NUM, "local-name": STR, "name": STR, "namespace-uri": STR, "not": BOOL}
# Functions done in Python: name -> (cx function, result type).
_CX = {"string-join": ("join", STR), "distinct-values": ("distinct", SEQ),
       "tokenize": ("tokenize", SEQ), "matches": ("matches", BOOL), "replace": ("replace", STR),
       "ends-with": ("ends-with", BOOL), "upper-case": ("upper-case", STR),
       "lower-case": ("lower-case", STR), "node-name": ("qname", STR), "abs": ("abs", NUM),
       "min": ("min", ANY), "max": ("max", ANY)}
_GENERAL = {"=": "=", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}
_VALUE = {"eq": "=", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">="}
_ARITH = {"+": "+", "-": "-", "div": "div", "mod": "mod"}


@dataclass
class Sub:
    """A sub-expression evaluated by a cx: function (a quantifier's or a mapping's body)."""

    xpath: str
    params: tuple[str, ...]  # variables it reads
    local: str | None = None  # the variable the cx: function binds (quantifier, for)


@dataclass
class Const:
    """A constant (value set) expression a cx: function looks into: as a set or an index."""

    xpath: str
    params: tuple[str, ...]
    kind: str  # "set" | "index"


@dataclass
class Out:
    """One translated expression."""

    xpath: str
    type: str
    params: tuple[str, ...]  # variables to pass when evaluating it
    context_free: bool  # depends on nothing but documents, literals and context-free lets


@dataclass
class Scope:
    """What the translator knows of the variables: types, inlined texts, context use."""

    types: dict[str, str] = field(default_factory=dict)
    inline: dict[str, str] = field(default_factory=dict)  # context-free node lets -> XPath text
    dependent: set[str] = field(default_factory=set)  # lets that depend on the document
    lits: dict[str, list[str]] = field(default_factory=dict)  # lets that are literal lists

    def child(self) -> Scope:
        return Scope(dict(self.types), dict(self.inline), set(self.dependent), dict(self.lits))


class Translator:
    """Translates the expressions of one pack; collects the documents and sub-expressions."""

    def __init__(self, namespaces: dict[str, str], subs: list[Sub], consts: list[Const],
                 base: int = 0) -> None:
        # Sub-expressions and constants are numbered from ``base`` (one range per pack, from
        # its digest, so that a translation read back from the disk cache keeps its numbers).
        self.base = base
        self.consts = consts
        # The string values of a constant expression (set by the engine, which has the
        # value sets); None: constants are only looked up at run time.
        self.resolve: Any = None
        self.namespaces = {k: v for k, v in namespaces.items() if k not in ("cx",)}
        self.parser = _parser_class()(namespaces=self.namespaces)
        self.subs = subs
        self.documents: dict[str, str] = {}  # literal URI -> variable name

    # ------------------------------------------------------------------ entry points

    def translate(self, expr: str, scope: Scope) -> Out:
        source = _replace_current(expr)
        try:
            tree = self.parser.parse(source)
        except Exception as exc:
            raise Untranslatable(f"{expr[:120]}: {exc}") from exc
        state = _State(scope)
        try:
            text, typ = self._tr(tree, state)
        except Untranslatable as exc:
            raise Untranslatable(f"{exc} — dans « {' '.join(expr.split())[:200]} »") from None
        return Out(text, typ, tuple(sorted(state.params)), not state.ctx)

    def parse(self, expr: str) -> Any:
        return self.parser.parse(_replace_current(expr))

    def translate_token(self, tok: Any, scope: Scope) -> Out:
        state = _State(scope)
        text, typ = self._tr(tok, state)
        return Out(text, typ, tuple(sorted(state.params)), not state.ctx)

    def pattern(self, expr: str, scope: Scope) -> tuple[str, set[str] | None, tuple[str, ...]]:
        """A rule context as a test on a candidate node, with the element names it can match
        (None: any element; ``parent>name`` for a child of a named parent) and the variables
        it reads."""
        try:
            tree = self.parser.parse(_replace_current(expr))
        except Exception as exc:
            raise Untranslatable(f"{expr[:120]}: {exc}") from exc
        alts = _union_members(tree)
        state = _State(scope)
        conds, tags = [], set()
        for alt in alts:
            conds.append(self._match(alt, "self", state))
            tag = self._last_tag(alt)
            if tag is None:
                tags = None
            elif tags is not None:
                # "parent>tag" when the last step's parent step names an element: the engine
                # then hands the rule only the children of that name (see engine._candidates)
                parent = self._last_tag(alt[0]) if alt.symbol == "/" and len(alt) == 2 else None
                tags.add(f"{parent}>{tag}" if parent is not None else tag)
        if tags:
            plain = {t for t in tags if ">" not in t}
            tags = {t for t in tags if t.partition(">")[2] not in plain}
        return " or ".join(f"({c})" for c in conds), tags, tuple(sorted(state.params))

    # ------------------------------------------------------------------ patterns

    def _match(self, tok: Any, axis: str, state: _State) -> str:
        sym = tok.symbol
        if sym == "/" and len(tok) == 2:
            right = self._match(tok[1], axis, state)
            return f"{right}[{self._match(tok[0], 'parent', state)}]"
        if sym == "//" and len(tok) == 2:
            right = self._match(tok[1], axis, state)
            return f"{right}[{self._match(tok[0], 'ancestor', state)}]"
        if sym == "/" and len(tok) == 1:
            return f"{self._match(tok[0], axis, state)}[parent::node()[not(parent::node())]]"
        if sym == "//" and len(tok) == 1:
            return self._match(tok[0], axis, state)
        if sym == "[":
            base = self._match(tok[0], axis, state)
            if tok[1].symbol == "(integer)" and _is_name(tok[0]):
                # a step's position among its siblings of the same name (XSLT pattern semantics)
                name = self._nametest(tok[0])
                return f"{base}[count(preceding-sibling::{name}) = {int(tok[1].value) - 1}]"
            saved = state.ctx, state.focus
            pred, typ = self._tr(tok[1], state)
            state.ctx, state.focus = saved
            if typ in (NUM, ANY) or "position()" in pred or "last()" in pred:
                raise Untranslatable("prédicat positionnel dans un contexte de règle")
            return f"{base}[{pred}]"
        if sym == "(name)" or (sym == ":" and tok[1].symbol in ("(name)", "*")) or (
                sym == "*" and len(tok) == 0):
            return f"{axis}::{self._nametest(tok)}"
        raise Untranslatable(f"contexte de règle non pris en charge ({sym})")

    def _last_tag(self, tok: Any) -> str | None:
        sym = tok.symbol
        if sym in ("/", "//"):
            return self._last_tag(tok[len(tok) - 1])
        if sym == "[":
            return self._last_tag(tok[0])
        if sym == "(name)":
            return str(tok.value)
        if sym == ":" and tok[0].symbol == "(name)" and tok[1].symbol == "(name)":
            uri = self.namespaces.get(str(tok[0].value))
            if uri is None:
                raise Untranslatable(f"préfixe inconnu {tok[0].value}")
            return f"{{{uri}}}{tok[1].value}"
        return None

    def _nametest(self, tok: Any) -> str:
        sym = tok.symbol
        if sym == "(name)":
            return str(tok.value)
        if sym == "*":
            return "*"
        if sym == ":":
            p, local = tok[0], tok[1]
            if p.symbol == "*":
                if local.symbol != "(name)":
                    raise Untranslatable("*:*")
                return f"*[local-name() = '{local.value}']"
            prefix = str(p.value)
            if prefix not in self.namespaces:
                raise Untranslatable(f"préfixe inconnu {prefix}")
            return f"{prefix}:{'*' if local.symbol == '*' else local.value}"
        raise Untranslatable(f"test de nom {sym}")

    # ------------------------------------------------------------------ expressions

    def _tr(self, tok: Any, st: _State) -> tuple[str, str]:  # noqa: C901 - one dispatch
        sym = tok.symbol
        if sym == "(string)":
            return _literal(str(tok.value)), STR
        if sym in ("(integer)", "(decimal)", "(float)", "(double)"):
            return str(tok.value), NUM
        if sym == "$":
            return self._variable(str(tok.value), st)
        if sym == "(name)" or (sym == "*" and len(tok) == 0) or (
                sym == ":" and tok[1].symbol in ("(name)", "*")):
            st.ctx = st.focus = True
            return self._nametest(tok), NODES
        if sym == ":":
            return self._prefixed_call(tok, st)
        if sym == "@":
            st.ctx = st.focus = True
            return "@" + self._nametest(tok[0]), ATTRS
        if sym in (".", ".."):
            st.ctx = st.focus = True
            return sym, NODES
        if sym in _AXES and len(tok) == 1:
            st.ctx = st.focus = True
            typ = ATTRS if sym == "attribute" else NODES
            return f"{sym}::{self._step_test(tok[0])}", typ
        if sym in _KIND and len(tok) == 0 and tok.label == "kind test":
            st.ctx = st.focus = True
            return _KIND[sym], NODES
        if sym == "/":
            return self._slash(tok, st, "/")
        if sym == "//":
            return self._slash(tok, st, "//")
        if sym == "[":
            return self._filter(tok, st)
        if sym == "(":
            return self._paren(tok, st)
        if sym == ",":
            items = [self._tr(t, st) for t in _comma_members(tok)]
            return f"cx:seq({', '.join(t for t, _ in items)})", (
                NODES if all(ty in _NODEISH for _, ty in items) else SEQ)
        if sym in ("|", "union"):
            (a, ta), (b, tb) = self._tr(tok[0], st), self._tr(tok[1], st)
            if ta not in _NODEISH or tb not in _NODEISH:
                raise Untranslatable("union de valeurs")
            return f"{a} | {b}", NODES
        if sym in ("and", "or"):
            (a, _), (b, _) = self._tr(tok[0], st), self._tr(tok[1], st)
            return f"({a} {sym} {b})", BOOL
        if sym in _GENERAL or sym in _VALUE:
            return self._compare(tok, st)
        if sym in _ARITH or (sym == "*" and len(tok) == 2):
            if len(tok) == 1 and sym == "-":
                a, _ = self._tr(tok[0], st)
                return f"(-{a})", NUM
            (a, _), (b, _) = self._tr(tok[0], st), self._tr(tok[1], st)
            return f"({a} {_ARITH.get(sym, '*')} {b})", NUM
        if sym == "if":
            return self._if(tok, st)
        if sym in ("some", "every"):
            return self._quantified(tok, st, sym)
        if sym == "for":
            return self._for(tok, st)
        if sym == "!":
            return self._map_step(tok, st)
        if tok.label in ("function", "function__constructor_function") or sym in _SAME or sym in _CX:
            return self._call(tok, st)
        raise Untranslatable(f"construction XPath 2 non traduite : {sym}")

    def _step_test(self, tok: Any) -> str:
        if tok.symbol in _KIND and tok.label == "kind test":
            return _KIND[tok.symbol]
        return self._nametest(tok)

    def _variable(self, name: str, st: _State) -> tuple[str, str]:
        if name == "cx_current":
            st.params.add(name)
            st.ctx = True
            return "$cx_current", NODES
        scope = st.scope
        if name in scope.inline:
            text = scope.inline[name]
            for p in _params_of(text):
                st.params.add(p)
            return f"({text})", scope.types[name]
        if name not in scope.types:
            raise Untranslatable(f"variable inconnue ${name}")
        if name in scope.dependent:
            st.ctx = True
        typ = scope.types[name]
        if typ == MAP:
            raise Untranslatable(f"table ${name} hors de map:keys / $m(clé)")
        st.params.add(name)
        # A let's attribute nodes reach XPath as their string values (lxml passes no attribute).
        return f"${name}", (SEQ if typ == ATTRS else typ)

    def _slash(self, tok: Any, st: _State, op: str) -> tuple[str, str]:
        if len(tok) == 0:
            st.ctx = st.focus = True
            return "/", NODES
        if len(tok) == 1:
            st.ctx = st.focus = True
            saved = st.ctx, st.focus
            right, typ = self._tr(tok[0], st)
            st.ctx, st.focus = saved
            if not _is_path(tok[0]):
                raise Untranslatable("chemin absolu vers une expression")
            return f"{op}{right}", typ
        left, lt = self._tr(tok[0], st)
        if lt == DOC:
            if op != "/" or tok[1].symbol not in ("(name)", ":"):
                raise Untranslatable("document()// ou pas de nom")
            saved = st.ctx, st.focus
            right, _ = self._tr(tok[1], st)
            st.ctx, st.focus = saved
            return f"{left}/self::{right}", NODES
        if lt not in _NODEISH:
            raise Untranslatable(f"chemin sur une valeur ({lt})")
        saved = st.ctx, st.focus
        if _is_path(tok[1]):
            right, rt = self._tr(tok[1], st)
            st.ctx, st.focus = saved
            return f"{left}{op}{right}", rt
        members = _union_members(_unparen(tok[1]))
        if len(members) == 1 and members[0].symbol == ",":
            members = _comma_members(members[0])  # a path's nodes come in document order anyway
        if op == "/" and all(_is_path(m) for m in members):
            parts = []
            types = set()
            for m in members:
                text, t = self._tr(m, st)
                parts.append(f"{left}/{text}")
                types.add(t)
            st.ctx, st.focus = saved
            return " | ".join(parts), (ATTRS if types == {ATTRS} else NODES)
        if op != "/":
            raise Untranslatable("// vers une expression")
        return self._mapping(tok[0], left, tok[1], st, saved)

    def _mapping(self, left_tok: Any, left: str, right_tok: Any, st: _State, saved: tuple[bool, bool]) -> tuple[str, str]:
        inner = _State(st.scope)
        body, bt = self._tr(right_tok, inner)
        st.ctx, st.focus = saved
        st.params.update(p for p in inner.params)
        if bt == BOOL:  # $e/(test): true when the (single) node passes the test
            return f"boolean({left}[{body}])", BOOL
        if bt in _NODEISH:
            raise Untranslatable("étape de chemin vers des nœuds calculés")
        k = self._sub(body, inner.params, None)
        return f"cx:map({left}, {k})", SEQ

    def _map_step(self, tok: Any, st: _State) -> tuple[str, str]:
        left, lt = self._tr(tok[0], st)
        if lt not in _NODEISH:
            raise Untranslatable("! sur des valeurs")
        return self._mapping(tok[0], left, tok[1], st, (st.ctx, st.focus))

    def _sub(self, body: str, params: set[str], local: str | None) -> int:
        self.subs.append(Sub(body, tuple(sorted(params)), local))
        return self.base + len(self.subs) - 1

    def _filter(self, tok: Any, st: _State) -> tuple[str, str]:
        base, bt, constant = self._operand(tok[0], st)
        lookup = self._lookup(base, bt, constant, tok[1], st) if constant else None
        if lookup is not None:
            return lookup, NODES
        saved = st.ctx, st.focus
        pred, pt = self._tr(tok[1], st)
        st.ctx, st.focus = saved
        if bt == SEQ and pt in (NUM, ANY):
            raise Untranslatable("position dans une suite de valeurs")
        if bt in (STR, NUM, BOOL, DOC, MAP, ANY):
            raise Untranslatable(f"prédicat sur une valeur ({bt})")
        if _is_path(tok[0]) or tok[0].symbol in ("$", "(") or tok[0].label == "function":
            return f"{base}[{pred}]", bt
        return f"({base})[{pred}]", bt

    def _lookup(self, base: str, bt: str, constant: bool, pred: Any, st: _State) -> str | None:
        """$valueSet[@code = x] (x not depending on the focus): an index built once."""
        if bt != NODES or pred.symbol != "=":
            return None
        for attr_tok, other in ((pred[0], pred[1]), (pred[1], pred[0])):
            if attr_tok.symbol == "@" and attr_tok[0].symbol == "(name)":
                sub = _State(st.scope)
                value, vt = self._tr(other, sub)
                if sub.focus or vt in (NUM, BOOL, ANY):
                    continue
                st.params.update(sub.params)
                st.ctx = st.ctx or sub.ctx
                k = self._const(base, "index")
                return f"cx:lookup({k}, '{attr_tok[0].value}', {value})"
        return None

    def _paren(self, tok: Any, st: _State) -> tuple[str, str]:
        if len(tok) == 0:
            return "/..", NODES  # the empty sequence
        if len(tok) == 1:
            inner, typ = self._tr(tok[0], st)
            return f"({inner})", typ
        if len(tok) == 2 and tok[0].symbol == "$":  # $map(key)
            name = str(tok[0].value)
            if st.scope.types.get(name) != MAP:
                raise Untranslatable("appel dynamique")
            key, _ = self._tr(tok[1], st)
            return f"cx:mapget('{name}', {key})", DOC
        raise Untranslatable("appel dynamique")

    def literal_items(self, tok: Any, scope: Scope) -> list[str] | None:
        """The XPath literals of a literal sequence (('a', 'b'), a literal, a let of one)."""
        tok = _unparen(tok)
        if tok.symbol == "(string)":
            return [_literal(str(tok.value))]
        if tok.symbol in ("(integer)", "(decimal)"):
            return [str(tok.value)]
        if tok.symbol == "$" and str(tok.value) in scope.lits:
            return list(scope.lits[str(tok.value)])
        if tok.symbol == ",":
            out: list[str] = []
            for m in _comma_members(tok):
                items = self.literal_items(m, scope)
                if items is None:
                    return None
                out.extend(items)
            return out
        return None

    def _operand(self, tok: Any, st: _State) -> tuple[str, str, bool]:
        """Translate an operand; also say whether it is a constant (no document, no focus)."""
        sub = _State(st.scope)
        text, typ = self._tr(tok, sub)
        st.params.update(sub.params)
        st.ctx = st.ctx or sub.ctx
        st.focus = st.focus or sub.focus
        return text, typ, not sub.ctx and not sub.focus

    def _const(self, text: str, kind: str) -> int:
        self.consts.append(Const(text, tuple(sorted(set(_params_of(text)))), kind))
        return self.base + len(self.consts) - 1

    def _member(self, operand: str, const_text: str) -> str:
        """``operand = constant``: a literal or-chain for a small constant (plain XPath),
        else a Python set lookup."""
        if self.resolve is not None:
            values = sorted(self.resolve(const_text))
            if len(values) <= 16 and all("'" not in v or '"' not in v for v in values):
                if not values:
                    return "false()"
                return "(" + " or ".join(f"{operand} = {_literal(v)}" for v in values) + ")"
        return f"cx:member({operand}, {self._const(const_text, 'set')})"

    def _compare(self, tok: Any, st: _State) -> tuple[str, str]:
        sym = tok.symbol
        op = _GENERAL.get(sym) or _VALUE[sym]
        a, ta, ca = self._operand(tok[0], st)
        b, tb, cb = self._operand(tok[1], st)
        if sym in ("=", "eq") and tok[0].symbol == tok[1].symbol == "node-name" \
                and len(tok[0]) == len(tok[1]) == 1:
            (x, _), (y, _) = self._tr(tok[0][0], st), self._tr(tok[1][0], st)
            return f"(local-name({x}) = local-name({y}) and namespace-uri({x}) = namespace-uri({y}))", BOOL
        if sym == "=" and len(tok) == 2:
            for one, other in ((tok[0], tok[1]), (tok[1], tok[0])):
                lits = self.literal_items(other, st.scope)
                if lits is not None and len(lits) > 1 and len(lits) <= 40:
                    x, _tx, _c = self._operand(one, st)
                    return "(" + " or ".join(f"{x} = {lit}" for lit in lits) + ")", BOOL
        if sym == "=":
            # x = $valueSet/@code: a Python set built once instead of a scan per test.
            if cb and tb in (NODES, ATTRS, SEQ) and ta in (NODES, ATTRS, SEQ, STR):
                return self._member(a, b), BOOL
            if ca and ta in (NODES, ATTRS, SEQ) and tb in (NODES, ATTRS, SEQ, STR):
                return self._member(b, a), BOOL
        if op in ("<", ">", "<=", ">=") and NUM not in (ta, tb):
            # XPath 2.0 compares untyped and string operands as strings, XPath 1.0 as numbers.
            return f"cx:compare('{op}', {a}, {b})", BOOL
        return f"({a} {op} {b})", BOOL

    def _if(self, tok: Any, st: _State) -> tuple[str, str]:
        (c, _), (a, ta), (b, tb) = (self._tr(t, st) for t in tok)
        if ta == tb == BOOL:
            return f"((boolean({c}) and {a}) or (not(boolean({c})) and {b}))", BOOL
        if a == "/..":  # if (c) then () else x
            typ = tb if tb in _NODEISH else SEQ if tb in (STR, NUM, SEQ) else ANY
        elif b == "/..":
            typ = ta if ta in _NODEISH else SEQ if ta in (STR, NUM, SEQ) else ANY
        elif ta == tb:
            typ = ta
        elif {ta, tb} <= set(_NODEISH):
            typ = NODES
        else:
            typ = ANY
        return f"cx:if(boolean({c}), {a}, {b})", typ

    def _bindings(self, tok: Any) -> tuple[list[tuple[str, Any]], Any]:
        n = len(tok)
        pairs = [(str(tok[i].value), tok[i + 1]) for i in range(0, n - 1, 2)]
        return pairs, tok[n - 1]

    def _quantified(self, tok: Any, st: _State, kind: str) -> tuple[str, str]:
        pairs, body = self._bindings(tok)
        return self._nest(pairs, body, st, kind)

    def _nest(self, pairs: list[tuple[str, Any]], body: Any, st: _State, kind: str) -> tuple[str, str]:
        name, seq_tok = pairs[0]
        fast = self._membership(name, seq_tok, body, st, kind) if len(pairs) == 1 else None
        if fast is not None:
            return fast, BOOL
        lits = self.literal_items(seq_tok, st.scope)
        if lits is not None and len(lits) <= 40 and kind in ("every", "some"):
            # unrolled: one XPath expression per literal, no Python call per item
            parts = []
            for lit in lits:
                inner = _State(st.scope.child())
                inner.scope.types[name] = STR
                inner.scope.inline[name] = lit
                inner.scope.dependent.discard(name)
                text = self._nest(pairs[1:], body, inner, kind)[0] if len(pairs) > 1 else \
                    self._tr(body, inner)[0]
                st.params.update(inner.params)
                st.ctx = st.ctx or inner.ctx
                st.focus = st.focus or inner.focus
                parts.append(f"boolean({text})")
            if not parts:
                return ("true()" if kind == "every" else "false()"), BOOL
            return "(" + (" and " if kind == "every" else " or ").join(parts) + ")", BOOL
        seq, sty = self._tr(seq_tok, st)
        inner = _State(st.scope.child())
        inner.scope.types[name] = NODES if sty == NODES else STR
        inner.scope.inline.pop(name, None)
        inner.scope.dependent.add(name)  # bound per item: never a constant
        if len(pairs) > 1:
            text, bt = self._nest(pairs[1:], body, inner, kind)
        else:
            text, bt = self._tr(body, inner)
        st.ctx = st.ctx or inner.ctx
        st.focus = st.focus or inner.focus
        params = {p for p in inner.params if p != name}
        st.params.update(params)
        k = self._sub(text, inner.params - {name} | ({name} if name in inner.params else set()), name)
        if kind == "for":
            if bt in (BOOL, ANY):
                raise Untranslatable("for ... return booléen")
            return f"cx:for({seq}, {k})", (NODES if bt in _NODEISH else SEQ)
        return f"cx:{kind}({seq}, {k})", BOOL

    def _membership(self, name: str, seq_tok: Any, body: Any, st: _State, kind: str) -> str | None:
        """every/some $x in S satisfies $x = constant: one Python call, no per-item XPath."""
        if kind not in ("every", "some"):
            return None
        b = _unparen(body)
        if b.symbol != "=":
            return None
        for var, other in ((b[0], b[1]), (b[1], b[0])):
            if var.symbol == "$" and str(var.value) == name:
                sub = _State(st.scope)
                const, ct = self._tr(other, sub)
                if sub.ctx or sub.focus or ct not in (NODES, ATTRS, SEQ):
                    return None
                st.params.update(sub.params)
                seq, _ = self._tr(seq_tok, st)
                k = self._const(const, "set")
                return f"cx:member({seq}, {k})" if kind == "some" else f"cx:allin({seq}, {k})"
        return None

    def _for(self, tok: Any, st: _State) -> tuple[str, str]:
        pairs, body = self._bindings(tok)
        return self._nest(pairs, body, st, "for")

    def _prefixed_call(self, tok: Any, st: _State) -> tuple[str, str]:
        prefix, fn = str(tok[0].value), tok[1]
        if self.namespaces.get(prefix) == "http://www.w3.org/2005/xpath-functions/map" \
                and fn.symbol == "keys" and len(fn) == 1 and fn[0].symbol == "$" \
                and st.scope.types.get(str(fn[0].value)) == MAP:
            return f"cx:mapkeys('{fn[0].value}')", SEQ
        if prefix == "fn":
            return self._call(fn, st)
        raise Untranslatable(f"fonction {prefix}:{fn.symbol}")

    def _call(self, tok: Any, st: _State) -> tuple[str, str]:  # noqa: C901 - one dispatch
        name = tok.symbol
        args = list(tok)
        if name == "current":
            return self._variable("cx_current", st)
        if name == "document":
            if len(args) != 1 or args[0].symbol != "(string)":
                raise Untranslatable("document() d'une URI calculée")
            uri = str(args[0].value)
            var = self.documents.setdefault(uri, f"cx_doc{len(self.documents) + 1}")
            st.params.add(var)
            return f"${var}", DOC
        if name == "key":
            if len(args) != 3 or args[0].symbol != "(string)":
                raise Untranslatable("key() sans document")
            third = _unparen(args[2])
            if third.symbol == "(" and len(third) == 2 and third[0].symbol == "$" \
                    and st.scope.types.get(str(third[0].value)) == MAP:
                # key(k, v, $map(x)): the document stays on the Python side (its index too)
                (v, _), (x, _) = self._tr(args[1], st), self._tr(third[1], st)
                return (f"cx:mapkey({_literal(str(args[0].value))}, {v}, "
                        f"'{third[0].value}', {x})"), NODES
            (v, _), (d, _) = self._tr(args[1], st), self._tr(args[2], st)
            return f"cx:key({_literal(str(args[0].value))}, {v}, {d})", NODES
        out = [self._tr(a, st) for a in args]
        texts = [t for t, _ in out]
        if name in ("string", "data") and not args or name in _SAME and not args and name in (
                "local-name", "name", "namespace-uri", "normalize-space", "string-length", "number"):
            st.ctx = st.focus = True
        if name == "string":
            return (f"string({texts[0]})" if texts else "string(.)"), STR
        if name == "count":
            if out[0][1] in (STR, NUM, BOOL):
                return "1", NUM
            return f"count({texts[0]})", NUM
        if name in ("exists", "empty"):
            typ = out[0][1]
            if typ in (STR, NUM, BOOL, DOC):
                return ("true()" if name == "exists" else "false()"), BOOL
            if typ == ANY:
                return f"cx:{name}({texts[0]})", BOOL
            return (f"boolean({texts[0]})" if name == "exists" else f"not({texts[0]})"), BOOL
        if name == "concat":
            return f"concat({', '.join(texts)})", STR
        if name == "string-join" and len(texts) == 1:
            texts.append("''")
        if name in _SAME:
            if name == "boolean" and out[0][1] == ANY:
                return f"cx:boolean({texts[0]})", BOOL
            return f"{name}({', '.join(texts)})", _SAME[name]
        if name in _CX:
            fn, typ = _CX[name]
            if name == "tokenize" and len(texts) == 1:
                texts = [f"normalize-space({texts[0]})", "' '"]
            return f"cx:{fn}({', '.join(texts)})", typ
        raise Untranslatable(f"fonction {name}()")


@dataclass
class _State:
    scope: Scope
    params: set[str] = field(default_factory=set)
    ctx: bool = False  # depends on the document (a path, a document-dependent let, current())
    focus: bool = False  # depends on the context item


def _literal(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return "concat(" + ", ".join(f"'{p}'" if p else "\"'\"" for p in _split_quote(value)) + ")"


def _split_quote(value: str) -> list[str]:
    out: list[str] = []
    for i, part in enumerate(value.split("'")):
        if i:
            out.append("")
        if part:
            out.append(part)
    return out


def _replace_current(expr: str) -> str:
    if "current" not in expr:
        return expr
    import re

    pieces = []
    for is_lit, piece in split_literals(expr):
        pieces.append(piece if is_lit else re.sub(r"(?<![\w.\-:$])current\(\s*\)", "$cx_current", piece))
    return "".join(pieces)


def _params_of(text: str) -> list[str]:
    import re

    out = []
    for is_lit, piece in split_literals(text):
        if not is_lit:
            out.extend(re.findall(r"\$([\w.\-]+)", piece))
    return out


def _is_path(tok: Any) -> bool:
    sym = tok.symbol
    if sym in ("(name)", "@", ".", "..") or (sym == "*" and len(tok) == 0):
        return True
    if sym == ":":
        return tok[1].symbol in ("(name)", "*")
    if sym in _AXES and len(tok) == 1:
        return True
    if sym in _KIND and tok.label == "kind test":
        return True
    if sym in ("/", "//") and len(tok) == 2:
        return _is_path(tok[0]) and _is_path(tok[1])
    if sym == "[":
        return _is_path(tok[0])
    return False


def _is_name(tok: Any) -> bool:
    return tok.symbol == "(name)" or (tok.symbol == ":" and tok[1].symbol in ("(name)", "*")) or (
        tok.symbol == "*" and len(tok) == 0)


def _unparen(tok: Any) -> Any:
    while tok.symbol == "(" and len(tok) == 1:
        tok = tok[0]
    return tok


def _union_members(tok: Any) -> list[Any]:
    tok = _unparen(tok)
    if tok.symbol in ("|", "union"):
        return _union_members(tok[0]) + _union_members(tok[1])
    return [tok]


def _comma_members(tok: Any) -> list[Any]:
    if tok.symbol == ",":
        return _comma_members(tok[0]) + _comma_members(tok[1])
    return [tok]


__all__ = ["CX", "Out", "Scope", "Sub", "Translator", "Untranslatable"]
