"""Loading of an ISO Schematron: includes, abstract patterns and abstract rules expanded.

The result is one self-contained ``sch:schema`` element tree, the equivalent of the ISO
"dsdl include" and "abstract expand" steps, plus the list of files read (their content
keys the compile cache) and the defects met on the way (missing or case-bridged includes).
Schematron files are trusted rule sources (our packs or a kit checkout), never documents
under validation; they are still parsed without network, DTD or entity expansion.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

SCH = "http://purl.oclc.org/dsdl/schematron"
XSL = "http://www.w3.org/1999/XSL/Transform"
_S = f"{{{SCH}}}"

# Attributes that hold XPath (or text) where abstract-pattern parameters are substituted.
_NAME_CHARS = r"[\w.\-]"


class SchematronError(Exception):
    """The schematron cannot be loaded or compiled (bad XML, unknown phase, XSLT error)."""


@dataclass(frozen=True)
class LoadDefect:
    """Something wrong in the schematron sources that was worked around, never silently."""

    kind: str  # "missing-include" | "case-bridged-include" | "unknown-phase" | ...
    detail: str
    file: str = ""


@dataclass
class LoadedSchema:
    """An expanded schema: the tree, the files it came from and what was worked around."""

    path: Path
    root: etree._Element
    files: list[Path] = field(default_factory=list)
    digest: str = ""
    defects: list[LoadDefect] = field(default_factory=list)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           remove_comments=True, huge_tree=True)


def resolve_case_insensitive(path: Path) -> Path | None:
    """The existing file matching ``path`` when only the case of some components differs."""
    if path.exists():
        return path
    parts = path.parts
    current = Path(parts[0])
    for part in parts[1:]:
        candidate = current / part
        if candidate.exists():
            current = candidate
            continue
        if part in ("..", "."):
            current = candidate
            continue
        if not current.is_dir():
            return None
        matches = [c for c in current.iterdir() if c.name.lower() == part.lower()]
        if len(matches) != 1:
            return None
        current = matches[0]
    return current if current.exists() else None


def load_schema(path: Path) -> LoadedSchema:
    """Read a schematron and expand includes, abstract patterns and abstract rules."""
    path = Path(path).resolve()
    loaded = LoadedSchema(path=path, root=etree.Element(f"{_S}schema"))
    hasher = hashlib.sha256()
    root = _read(path, loaded, hasher)
    if root is None:
        raise SchematronError(f"schematron illisible : {path}")
    if root.tag != f"{_S}schema":
        raise SchematronError(f"{path} : la racine n'est pas sch:schema ({root.tag})")
    _expand_includes(root, path, loaded, hasher, depth=0)
    _expand_abstract_patterns(root, loaded)
    _expand_abstract_rules(root, loaded)
    loaded.root = root
    loaded.digest = hasher.hexdigest()
    return loaded


def _read(path: Path, loaded: LoadedSchema, hasher: hashlib._Hash) -> etree._Element | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    hasher.update(str(len(data)).encode() + b":" + data)
    loaded.files.append(path)
    try:
        return etree.fromstring(data, _parser(), base_url=path.as_uri())
    except etree.XMLSyntaxError:
        return None


def _expand_includes(el: etree._Element, here: Path, loaded: LoadedSchema,
                     hasher: hashlib._Hash, depth: int) -> None:
    """Replace every sch:include (and ISO DSDL include markers) below ``el`` in place."""
    if depth > 50:
        raise SchematronError(f"inclusions trop profondes (boucle ?) dans {here}")
    for child in list(el):
        if not isinstance(child.tag, str):
            # DSDL include markers (processing instructions) left by a previous include
            # step carry no rule: drop them, keep what they delimit.
            if isinstance(child, etree._ProcessingInstruction) and child.target.startswith("DSDL_INCLUDE"):
                _remove_keep_tail(child)
            continue
        if child.tag == f"{_S}include" or (child.tag == f"{_S}extends" and child.get("href")):
            replacement = _load_include(child, here, loaded, hasher, depth)
            parent = child.getparent()
            assert parent is not None
            if replacement is None:
                _remove_keep_tail(child)
            else:
                replacement.tail = child.tail
                if child.tag == f"{_S}extends":
                    # ISO 2016 extends/@href: the children of the referenced element.
                    idx = parent.index(child)
                    parent.remove(child)
                    for offset, sub in enumerate(list(replacement)):
                        parent.insert(idx + offset, sub)
                else:
                    parent.replace(child, replacement)
        else:
            _expand_includes(child, here, loaded, hasher, depth)


def _load_include(inc: etree._Element, here: Path, loaded: LoadedSchema,
                  hasher: hashlib._Hash, depth: int) -> etree._Element | None:
    href = (inc.get("href") or "").strip()
    file_part, _, fragment = href.partition("#")
    target = (here.parent / file_part).resolve() if file_part else here
    actual = target if target.is_file() else resolve_case_insensitive(target)
    if actual is None or not actual.is_file():
        loaded.defects.append(LoadDefect("missing-include", href, str(here)))
        return None
    if actual != target:
        loaded.defects.append(LoadDefect("case-bridged-include", f"{href} -> {actual.name}", str(here)))
    included = _read(actual, loaded, hasher)
    if included is None:
        loaded.defects.append(LoadDefect("unreadable-include", href, str(here)))
        return None
    if fragment:
        found = included.xpath("//*[@id=$id]", id=fragment)
        if not found:
            loaded.defects.append(LoadDefect("missing-include", href, str(here)))
            return None
        included = copy.deepcopy(found[0])
    wrapper = etree.Element("wrap")
    wrapper.append(included)
    _expand_includes(wrapper, actual, loaded, hasher, depth + 1)
    return wrapper[0] if len(wrapper) else None


def _remove_keep_tail(node: etree._Element) -> None:
    parent = node.getparent()
    if parent is None:
        return
    tail = node.tail
    prev = node.getprevious()
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(node)


# --------------------------------------------------------------------------- abstract patterns


def substitute_params(text: str, params: dict[str, str]) -> str:
    """Replace ``$name`` by the parameter value, longest names first, whole names only."""
    for name in sorted(params, key=len, reverse=True):
        pattern = re.compile(r"\$" + re.escape(name) + rf"(?!{_NAME_CHARS})")
        value = params[name]
        text = pattern.sub(lambda _m, v=value: v, text)
    return text


def _expand_abstract_patterns(root: etree._Element, loaded: LoadedSchema) -> None:
    abstracts = {p.get("id"): p for p in root.iter(f"{_S}pattern") if p.get("abstract") == "true"}
    for inst in list(root.iter(f"{_S}pattern")):
        base_id = inst.get("is-a")
        if not base_id:
            continue
        base = abstracts.get(base_id)
        if base is None:
            loaded.defects.append(LoadDefect("missing-abstract-pattern", f"{inst.get('id')} is-a {base_id}"))
            _remove_keep_tail(inst)
            continue
        params = {p.get("name", ""): p.get("value", "") for p in inst.findall(f"{_S}param")}
        new = etree.Element(f"{_S}pattern", nsmap=base.nsmap)
        for attr, value in base.attrib.items():
            if attr not in ("abstract", "id"):
                new.set(attr, value)
        for attr, value in inst.attrib.items():
            if attr != "is-a":
                new.set(attr, value)
        for child in base:
            if isinstance(child.tag, str) and child.tag == f"{_S}param":
                continue
            new.append(_substituted(child, params))
        # Elements of the instance other than its parameters (title, p, let) are kept.
        for child in inst:
            if isinstance(child.tag, str) and child.tag != f"{_S}param":
                new.append(copy.deepcopy(child))
        new.tail = inst.tail
        parent = inst.getparent()
        assert parent is not None
        parent.replace(inst, new)
    for p in abstracts.values():
        if p.getparent() is not None:
            _remove_keep_tail(p)


def _substituted(el: etree._Element, params: dict[str, str]) -> etree._Element:
    out = copy.deepcopy(el)
    for node in out.iter():
        if not isinstance(node.tag, str):
            continue
        for attr, value in node.attrib.items():
            if "$" in value:
                node.set(attr, substitute_params(value, params))
    return out


# --------------------------------------------------------------------------- abstract rules


def _expand_abstract_rules(root: etree._Element, loaded: LoadedSchema) -> None:
    abstract_rules = {r.get("id"): r for r in root.iter(f"{_S}rule") if r.get("abstract") == "true"}
    for ext in list(root.iter(f"{_S}extends")):
        if ext.getparent() is None or ext.get("rule") is None:
            continue
        parent = ext.getparent()
        if parent is not None and parent.get("abstract") == "true":
            continue  # expanded when the abstract rule itself is used
        _replace_extends(ext, abstract_rules, loaded, seen=())
    for r in abstract_rules.values():
        if r.getparent() is not None:
            _remove_keep_tail(r)


def _replace_extends(ext: etree._Element, rules: dict[str | None, etree._Element],
                     loaded: LoadedSchema, seen: tuple[str, ...]) -> None:
    rid = ext.get("rule", "")
    parent = ext.getparent()
    assert parent is not None
    base = rules.get(rid)
    if base is None or rid in seen:
        loaded.defects.append(LoadDefect("missing-abstract-rule", rid))
        _remove_keep_tail(ext)
        return
    idx = parent.index(ext)
    parent.remove(ext)
    for offset, child in enumerate(c for c in base if isinstance(c.tag, str)):
        new = copy.deepcopy(child)
        parent.insert(idx + offset, new)
    for nested in [e for e in parent if isinstance(e.tag, str) and e.tag == f"{_S}extends" and e.get("rule")]:
        _replace_extends(nested, rules, loaded, seen + (rid,))
