"""The ``cx:`` XPath extension functions the translated packs call (what XPath 1.0 lacks).

Values cross the lxml boundary as lxml gives them: node-sets as lists (elements, and the
string values of attributes and text nodes), strings, floats, booleans. A list a function
returns may hold strings: lxml turns them into text nodes, which is how a sequence of
atomic values (``('a', 'b')``, ``distinct-values``) travels through XPath 1.0.

Quantified, ``for`` and mapping expressions evaluate a compiled sub-expression per item
(:data:`SUBS`); the variables it reads come from the rule being evaluated (:data:`STATE`).
"""

from __future__ import annotations

import math
import re
import threading
from functools import lru_cache
from typing import Any

from lxml import etree

from cdacheck.engines.schematron.xpath import CX

_STRING = etree.XPath("string()", regexp=False)


class _State(threading.local):
    def __init__(self) -> None:
        self.env: dict[str, Any] = {}  # variables of the rule being evaluated (XPath-ready)
        self.maps: dict[str, dict[str, Any]] = {}  # map-valued lets
        self.locals: dict[str, Any] = {}  # variables bound by cx:every / some / for


STATE = _State()


class CompiledSub:
    """A sub-expression, compiled, with the variables it reads."""

    __slots__ = ("xpath", "params", "local")

    def __init__(self, xpath: etree.XPath, params: tuple[str, ...], local: str | None) -> None:
        self.xpath = xpath
        self.params = params
        self.local = local


SUBS: dict[int, CompiledSub] = {}
_KEYS: dict[tuple[str, int], dict[str, list[Any]]] = {}
KEY_DECLS: dict[str, tuple[str, str]] = {}  # key name -> (element name, attribute name)


# ---------------------------------------------------------------------------- values


def string_value(item: Any) -> str:
    """The XPath 2.0 string of one item."""
    if isinstance(item, etree._Element):
        return str(_STRING(item))
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, float):
        return format_number(item)
    return str(item)


def format_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def as_strings(value: Any) -> list[str]:
    return [string_value(i) for i in items(value)]


def _returnable(value: Any) -> Any:
    """A value lxml accepts back (lists hold elements and strings only)."""
    if isinstance(value, list):
        return [i if isinstance(i, (etree._Element, str)) else string_value(i) for i in value]
    return value


def for_xpath(value: Any) -> Any:
    """A let's value as an XPath variable: lists of strings become text-only elements."""
    if isinstance(value, list) and not all(isinstance(i, etree._Element) for i in value):
        out = []
        for i in value:
            if isinstance(i, etree._Element):
                out.append(i)
            else:
                holder = etree.Element("v")
                holder.text = string_value(i)
                out.append(holder)
        return out
    return value


def _ebv(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value)
    if isinstance(value, str):
        return bool(value)
    if isinstance(value, float):
        return not (value == 0 or math.isnan(value))
    return bool(value)


# ---------------------------------------------------------------------------- regex


@lru_cache(maxsize=512)
def _regex(pattern: str, flags: str) -> re.Pattern[str]:
    f = 0
    for ch in flags:
        f |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}.get(ch, 0)
    return re.compile(_translated(pattern, flags, f), f)


# XSD regex -> Python regex, kept across processes: importing elementpath.regex costs about
# 190 ms, most of a cold one-document run once the packs' translations come from the disk
# cache. Keyed by the elementpath version; a damaged or absent file is a miss.
_REGEX_TABLE: dict[str, str] | None = None


def _regex_key() -> str:
    from importlib.metadata import version

    from cdacheck.engines.schematron import diskcache

    return diskcache.key("native-regex", version("elementpath"))


def _translated(pattern: str, flags: str, f: int) -> str:
    global _REGEX_TABLE
    from cdacheck.engines.schematron import diskcache

    if _REGEX_TABLE is None:
        loaded = diskcache.load("native-regex", _regex_key())
        _REGEX_TABLE = loaded if isinstance(loaded, dict) else {}
    entry = f"{flags}\x00{pattern}"
    hit = _REGEX_TABLE.get(entry)
    if isinstance(hit, str):
        return hit
    from elementpath.regex import translate_pattern

    out: str = translate_pattern(pattern, flags=f, xsd_version="1.1")
    _REGEX_TABLE[entry] = out
    diskcache.store("native-regex", _regex_key(), _REGEX_TABLE)
    return out


def _replacement(rep: str) -> str:
    out, i = [], 0
    while i < len(rep):
        ch = rep[i]
        if ch == "\\" and i + 1 < len(rep):
            out.append(rep[i + 1].replace("\\", "\\\\"))
            i += 2
            continue
        if ch == "$":
            m = re.match(r"\$(\d+)", rep[i:])
            if m:
                out.append(f"\\g<{m.group(1)}>")
                i += len(m.group(0))
                continue
        out.append("\\\\" if ch == "\\" else ch)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------- functions


def _single(value: Any) -> str:
    vals = items(value)
    return string_value(vals[0]) if vals else ""


def f_seq(_ctx: Any, *args: Any) -> list[Any]:
    out: list[Any] = []
    for a in args:
        out.extend(items(a))
    return _returnable(out)


def f_join(_ctx: Any, value: Any, sep: Any = "") -> str:
    return str(sep).join(as_strings(value))


def f_distinct(_ctx: Any, value: Any) -> list[str]:
    seen: dict[str, None] = {}
    for s in as_strings(value):
        seen.setdefault(s, None)
    return list(seen)


def f_tokenize(_ctx: Any, value: Any, pattern: Any, flags: Any = "") -> list[str]:
    text = _single(value)
    if not text:
        return []
    return _regex(str(pattern), str(flags)).split(text)


def f_matches(_ctx: Any, value: Any, pattern: Any, flags: Any = "") -> bool:
    return _regex(str(pattern), str(flags)).search(_single(value)) is not None


def f_replace(_ctx: Any, value: Any, pattern: Any, rep: Any, flags: Any = "") -> str:
    return _regex(str(pattern), str(flags)).sub(_replacement(str(rep)), _single(value))


def f_ends_with(_ctx: Any, value: Any, suffix: Any) -> bool:
    return _single(value).endswith(_single(suffix))


def f_upper(_ctx: Any, value: Any) -> str:
    return _single(value).upper()


def f_lower(_ctx: Any, value: Any) -> str:
    return _single(value).lower()


def f_qname(_ctx: Any, value: Any) -> str:
    vals = items(value)
    if not vals or not isinstance(vals[0], etree._Element):
        return ""
    return str(vals[0].tag)


def f_abs(_ctx: Any, value: Any) -> float:
    vals = items(value)
    return abs(float(vals[0])) if vals else math.nan


def _number(s: Any) -> float:
    try:
        return float(string_value(s))
    except ValueError:
        return math.nan


def f_min(_ctx: Any, value: Any) -> Any:
    nums = [_number(v) for v in items(value)]
    return min(nums) if nums else []


def f_max(_ctx: Any, value: Any) -> Any:
    nums = [_number(v) for v in items(value)]
    return max(nums) if nums else []


_OPS = {"<": lambda a, b: a < b, ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}


def f_compare(_ctx: Any, op: str, left: Any, right: Any) -> bool:
    """XPath 2.0 ordering comparison: strings unless one side is a number (existential)."""
    fn = _OPS[str(op)]
    for a in items(left):
        for b in items(right):
            if isinstance(a, float) or isinstance(b, float):
                x, y = _number(a), _number(b)
                if fn(x, y):
                    return True
            elif fn(string_value(a), string_value(b)):
                return True
    return False


def f_if(_ctx: Any, cond: Any, then: Any, other: Any) -> Any:
    return _returnable(then if cond else other)


def f_exists(_ctx: Any, value: Any) -> bool:
    return bool(value) if isinstance(value, list) else True


def f_empty(_ctx: Any, value: Any) -> bool:
    return not value if isinstance(value, list) else False


def f_boolean(_ctx: Any, value: Any) -> bool:
    return _ebv(value)


def _run_sub(ctx: Any, index: int, item: Any, node: Any = None) -> Any:
    sub = SUBS[index]
    env, loc = STATE.env, STATE.locals
    saved = None
    if sub.local is not None:
        saved = loc.get(sub.local, _MISSING)
        loc[sub.local] = item if isinstance(item, etree._Element) else (
            item if isinstance(item, (float, bool)) else string_value(item))
    try:
        params = {p: loc[p] if p in loc else env[p] for p in sub.params}
        return sub.xpath(node if node is not None else ctx.context_node, **params)
    finally:
        if sub.local is not None:
            if saved is _MISSING:
                loc.pop(sub.local, None)
            else:
                loc[sub.local] = saved


_MISSING = object()


def f_every(ctx: Any, seq: Any, index: float) -> bool:
    return all(_ebv(_run_sub(ctx, int(index), i)) for i in items(seq))


def f_some(ctx: Any, seq: Any, index: float) -> bool:
    return any(_ebv(_run_sub(ctx, int(index), i)) for i in items(seq))


def f_for(ctx: Any, seq: Any, index: float) -> list[Any]:
    out: list[Any] = []
    for i in items(seq):
        out.extend(items(_run_sub(ctx, int(index), i)))
    return _returnable(out)


def f_map(ctx: Any, nodes: Any, index: float) -> list[Any]:
    out: list[Any] = []
    for node in items(nodes):
        if not isinstance(node, etree._Element):
            raise ValueError("cx:map sur une valeur")
        out.extend(items(_run_sub(ctx, int(index), None, node)))
    return _returnable(out)


def f_mapget(_ctx: Any, name: str, key: Any) -> Any:
    table = STATE.maps.get(str(name), {})
    return _returnable(table.get(_single(key), []))


def f_mapkeys(_ctx: Any, name: str) -> list[str]:
    return list(STATE.maps.get(str(name), {}))


def f_mapkey(ctx: Any, name: str, value: Any, table: str, key: Any) -> list[Any]:
    """key(name, value, $table(key)) with the document taken from the map itself."""
    return f_key(ctx, name, value, STATE.maps.get(str(table), {}).get(_single(key), []))


def f_key(_ctx: Any, name: str, value: Any, doc: Any) -> list[Any]:
    decl = KEY_DECLS.get(str(name))
    if decl is None:
        raise ValueError(f"clé xsl:key inconnue : {name}")
    out: list[Any] = []
    for root in items(doc):
        if not isinstance(root, etree._Element):
            continue
        # (not getroottree(): lxml ties a node of another document that XPath returned to the
        # document XPath ran on)
        parent = root.getparent()
        while parent is not None:
            root, parent = parent, parent.getparent()
        index = _KEYS.get((str(name), id(root)))
        if index is None:
            index = {}
            element, attr = decl
            for el in root.iter(element):
                v = el.get(attr)
                if v is not None:
                    index.setdefault(v, []).append(el)
            _KEYS[(str(name), id(root))] = index
            _KEEP.append(root)  # the id stays valid while the index lives
        for v in as_strings(value):
            out.extend(index.get(v, []))
    return out


_KEEP: list[Any] = []

CONSTS: dict[int, Any] = {}  # id -> frozenset of strings ("set") or node list ("index")
_INDEXES: dict[tuple[int, str], dict[str, list[Any]]] = {}


def f_member(_ctx: Any, value: Any, index: float) -> bool:
    table = CONSTS[int(index)]
    return any(s in table for s in as_strings(value))


def f_allin(_ctx: Any, value: Any, index: float) -> bool:
    table = CONSTS[int(index)]
    return all(s in table for s in as_strings(value))


def f_lookup(_ctx: Any, index: float, attr: str, value: Any) -> list[Any]:
    k = int(index)
    table = _INDEXES.get((k, str(attr)))
    if table is None:
        table = {}
        for el in CONSTS[k]:
            if isinstance(el, etree._Element):
                v = el.get(str(attr))
                if v is not None:
                    table.setdefault(v, []).append(el)
        _INDEXES[(k, str(attr))] = table
    wanted = as_strings(value)
    if len(wanted) == 1:
        return table.get(wanted[0], [])
    seen: dict[Any, None] = {}
    for w in wanted:
        for el in table.get(w, []):
            seen.setdefault(el, None)
    return list(seen)  # lxml puts a node-set back in document order

_FUNCTIONS = {
    "seq": f_seq, "join": f_join, "distinct": f_distinct, "tokenize": f_tokenize,
    "matches": f_matches, "replace": f_replace, "ends-with": f_ends_with,
    "upper-case": f_upper, "lower-case": f_lower, "qname": f_qname, "abs": f_abs,
    "min": f_min, "max": f_max, "compare": f_compare, "if": f_if, "exists": f_exists,
    "empty": f_empty, "boolean": f_boolean, "every": f_every, "some": f_some, "for": f_for,
    "map": f_map, "mapget": f_mapget, "mapkeys": f_mapkeys, "key": f_key, "mapkey": f_mapkey,
    "member": f_member, "allin": f_allin, "lookup": f_lookup,
}


_CALL = re.compile(r"\bcx:([\w-]+)\(")


def compile_xpath(text: str, namespaces: dict[str, str]) -> etree.XPath:
    """``text`` compiled with only the cx: functions it calls, and no EXSLT regexp functions.

    lxml registers every function of its global registry, and the EXSLT ones, in the XPath
    context of each evaluation (about 6 µs for our 29 functions, more than a simple step
    costs); handing each expression the few functions it names is what makes a rule's lets
    cheap. A name we do not define stays unregistered, and lxml reports it as such.
    """
    ext = {(CX, name): _FUNCTIONS[name] for name in set(_CALL.findall(text)) if name in _FUNCTIONS}
    return etree.XPath(text, namespaces=namespaces, extensions=ext or None, regexp=False)
