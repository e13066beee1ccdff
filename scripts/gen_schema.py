"""Generate cdacheck's embedded CDA R2 schema from its compact model.

``python scripts/gen_schema.py`` reads ``cdacheck/schemas/model/*.cdm`` and writes one XSD
per model file into ``cdacheck/schemas/cda/`` (committed, generated output). ``--check``
only compares and exits 1 when a generated file is stale.

The notation (``.cdm``), one declaration per line, children indented by two spaces::

    schema <target namespace | ->      "-": no target namespace (included chameleon-style)
    include <model> / import <model>   another model file, resolved locally, never online
    simple <Name>                      a simple type, then one derivation line:
      restrict <base>                    facets as children: enum v1 v2 ..., pattern p,
      union <member> ...                 minLength n, minInclusive n, ...
      list <item>
    complex <Name> [abstract] [mixed] [ext|res <base>]
      seq|choice [occ]                 a model group, children particles
        elem <name> <type|-> [occ] [nillable]   (type "-": anonymous complex body below)
        ref <prefix:name> [occ]        a global element
        group <prefix:name> [occ]      a named model group
        any <namespace> <process> [occ]
        infra                          InfrastructureRoot: realmCode*, typeId?, templateId*
      attr <name> <type|-> [use=required|prohibited] [fixed=v] [default=v]
      attrref <prefix:name> [use=...]
    element <name> <type|-> [nillable] a global element
    group <Name>                       a named model group
    attribute <name> <type>            a global attribute

Occurrences: nothing = exactly one, ``?`` 0..1, ``*`` 0..n, ``+`` 1..n, ``m..n``.
Type names without prefix are in the model's own namespace; ``xs:`` is XML Schema.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "cdacheck" / "schemas" / "model"
OUT_DIR = ROOT / "cdacheck" / "schemas" / "cda"
XS = "http://www.w3.org/2001/XMLSchema"
PREFIXES = {
    "hl7": "urn:hl7-org:v3",
    "sdtc": "urn:hl7-org:sdtc",
    "lab": "urn:oid:1.3.6.1.4.1.19376.1.3.2",
    "dicom": "urn:dicom-org:ps3-20",
    "pharm": "urn:ihe:pharm:medication",
}
INFRA = (("realmCode", "CS", "*"), ("typeId", "POCD_MT000040.InfrastructureRoot.typeId", "?"),
         ("templateId", "II", "*"))
FACETS = {"pattern", "minLength", "maxLength", "length", "minInclusive", "maxInclusive",
          "minExclusive", "maxExclusive", "totalDigits", "fractionDigits", "whiteSpace"}


@dataclass
class Node:
    """One line of a model file and the lines indented under it."""

    words: list[str]
    line: int
    children: list[Node] = field(default_factory=list)


def parse_model(text: str, name: str = "<model>") -> list[Node]:
    """Parse the indented notation into a forest of nodes."""
    top: list[Node] = []
    stack: list[tuple[int, Node]] = []
    for no, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        depth = len(raw) - len(raw.lstrip(" "))
        if depth % 2:
            raise SyntaxError(f"{name}:{no}: odd indentation")
        node = Node(shlex.split(raw), no)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            if depth != stack[-1][0] + 2:
                raise SyntaxError(f"{name}:{no}: indentation jumps")
            stack[-1][1].children.append(node)
        elif depth:
            raise SyntaxError(f"{name}:{no}: indented line without a parent")
        else:
            top.append(node)
        stack.append((depth, node))
    return top


def occurs(token: str | None) -> str:
    """The minOccurs/maxOccurs attributes of an occurrence token (empty for exactly one)."""
    lo, hi = {None: ("1", "1"), "": ("1", "1"), "?": ("0", "1"), "*": ("0", "unbounded"),
              "+": ("1", "unbounded")}.get(token, (None, None))
    if lo is None:
        assert token is not None and ".." in token, token
        lo, hi = token.split("..")
        hi = "unbounded" if hi == "*" else hi
    out = "" if lo == "1" else f' minOccurs="{lo}"'
    return out + ("" if hi == "1" else f' maxOccurs="{hi}"')


def _options(words: list[str]) -> tuple[list[str], dict[str, str]]:
    plain = [w for w in words if "=" not in w]
    opts = dict(w.split("=", 1) for w in words if "=" in w)
    return plain, opts


class Emitter:
    """Writes the XSD text of one model file."""

    def __init__(self) -> None:
        self.out: list[str] = []

    def w(self, depth: int, text: str) -> None:
        self.out.append("  " * depth + text)

    def simple_body(self, node: Node, d: int) -> None:
        (deriv,) = node.children
        kind, *args = deriv.words
        self.w(d, "<xs:simpleType>" if node.words[0] != "simple" else
               f'<xs:simpleType name="{node.words[1]}">')
        if kind == "union":
            self.w(d + 1, f'<xs:union memberTypes="{" ".join(args)}"/>')
        elif kind == "list":
            self.w(d + 1, f'<xs:list itemType="{args[0]}"/>')
        elif kind == "restrict":
            if not deriv.children:
                self.w(d + 1, f'<xs:restriction base="{args[0]}"/>')
            else:
                self.w(d + 1, f'<xs:restriction base="{args[0]}">')
                for facet in deriv.children:
                    fname, *values = facet.words
                    if fname == "enum":
                        for v in values:
                            self.w(d + 2, f"<xs:enumeration value={quoteattr(v)}/>")
                    elif fname in FACETS:
                        self.w(d + 2, f"<xs:{fname} value={quoteattr(values[0])}/>")
                    else:
                        raise SyntaxError(f"line {facet.line}: unknown facet {fname}")
                self.w(d + 1, "</xs:restriction>")
        else:
            raise SyntaxError(f"line {deriv.line}: unknown derivation {kind}")
        self.w(d, "</xs:simpleType>")

    def particle(self, node: Node, d: int) -> None:
        kind, *args = node.words
        if kind in ("seq", "choice"):
            tag = "xs:sequence" if kind == "seq" else "xs:choice"
            self.w(d, f"<{tag}{occurs(args[0] if args else None)}>")
            for child in node.children:
                self.particle(child, d + 1)
            self.w(d, f"</{tag}>")
        elif kind == "infra":
            for name, typ, occ in INFRA:
                self.w(d, f'<xs:element name="{name}" type="hl7:{typ}"{occurs(occ)}/>')
        elif kind == "elem":
            plain, _ = _options(args)
            name, typ, *rest = plain
            nillable = ' nillable="true"' if "nillable" in rest else ""
            occ = next((r for r in rest if r != "nillable"), None)
            if typ == "-":
                self.w(d, f'<xs:element name="{name}"{occurs(occ)}{nillable}>')
                self.complex_body(node, d + 1, None)
                self.w(d, "</xs:element>")
            else:
                self.w(d, f'<xs:element name="{name}" type="{typ}"{occurs(occ)}{nillable}/>')
        elif kind == "ref":
            self.w(d, f'<xs:element ref="{args[0]}"{occurs(args[1] if len(args) > 1 else None)}/>')
        elif kind == "group":
            self.w(d, f'<xs:group ref="{args[0]}"{occurs(args[1] if len(args) > 1 else None)}/>')
        elif kind == "any":
            ns, process, *rest = args
            self.w(d, f'<xs:any namespace="{ns}" processContents="{process}"'
                      f'{occurs(rest[0] if rest else None)}/>')
        else:
            raise SyntaxError(f"line {node.line}: unknown particle {kind}")

    def attribute(self, node: Node, d: int) -> None:
        kind, *args = node.words
        plain, opts = _options(args)
        extra = "".join(f" {k}={quoteattr(v)}" for k, v in sorted(opts.items()))
        if kind == "attrref":
            self.w(d, f'<xs:attribute ref="{plain[0]}"{extra}/>')
            return
        name, typ = plain
        if typ == "-":
            self.w(d, f'<xs:attribute name="{name}"{extra}>')
            self.simple_body(node, d + 1)
            self.w(d, "</xs:attribute>")
        else:
            self.w(d, f'<xs:attribute name="{name}" type="{typ}"{extra}/>')

    def complex_body(self, node: Node, d: int, head: list[str] | None) -> None:
        """The complexType of a named type (head = its flags) or of an anonymous element."""
        flags = head or []
        attrs = ""
        if node.words[0] == "complex":
            attrs += f' name="{node.words[1]}"'
        attrs += ' abstract="true"' if "abstract" in flags else ""
        attrs += ' mixed="true"' if "mixed" in flags else ""
        deriv = None
        for key in ("ext", "res"):
            if key in flags:
                deriv = ("xs:extension" if key == "ext" else "xs:restriction",
                         flags[flags.index(key) + 1])
        self.w(d, f"<xs:complexType{attrs}>")
        inner = d + 1
        if deriv:
            self.w(d + 1, "<xs:complexContent>")
            self.w(d + 2, f'<{deriv[0]} base="{deriv[1]}">')
            inner = d + 3
        for child in node.children:
            if child.words[0] in ("attr", "attrref"):
                continue
            self.particle(child, inner)
        for child in node.children:
            if child.words[0] in ("attr", "attrref"):
                self.attribute(child, inner)
        if deriv:
            self.w(d + 2, f"</{deriv[0]}>")
            self.w(d + 1, "</xs:complexContent>")
        self.w(d, "</xs:complexType>")


def generate(models: dict[str, str]) -> dict[str, str]:
    """XSD text per model name, from the text of every model file."""
    parsed = {name: parse_model(text, name) for name, text in models.items()}
    tns = {name: nodes[0].words[1] for name, nodes in parsed.items()}
    out: dict[str, str] = {}
    for name, nodes in parsed.items():
        head, *decls = nodes
        if head.words[0] != "schema":
            raise SyntaxError(f"{name}: the first line must be 'schema <namespace>'")
        ns = tns[name]
        em = Emitter()
        em.out.append('<?xml version="1.0" encoding="UTF-8"?>')
        em.out.append(f"<!-- cdacheck embedded CDA R2 schema: {name}.xsd. GENERATED by "
                      f"scripts/gen_schema.py from cdacheck/schemas/model/{name}.cdm; "
                      "do not edit. -->")
        decl = [f'xmlns:xs="{XS}"'] + [f'xmlns:{p}="{u}"' for p, u in PREFIXES.items()]
        if ns != "-":
            decl = [f'targetNamespace="{ns}"', f'xmlns="{ns}"'] + decl
        em.out.append(f"<xs:schema {' '.join(decl)} elementFormDefault=\"qualified\">")
        for node in decls:
            kind, *args = node.words
            if kind in ("include", "import"):
                if kind == "import":
                    em.w(1, f'<xs:import namespace="{tns[args[0]]}" schemaLocation="{args[0]}.xsd"/>')
                else:
                    em.w(1, f'<xs:include schemaLocation="{args[0]}.xsd"/>')
            elif kind == "simple":
                em.simple_body(node, 1)
            elif kind == "complex":
                em.complex_body(node, 1, args[1:])
            elif kind == "element":
                nillable = ' nillable="true"' if "nillable" in args else ""
                if args[1] == "-":
                    em.w(1, f'<xs:element name="{args[0]}"{nillable}>')
                    em.complex_body(node, 2, None)
                    em.w(1, "</xs:element>")
                else:
                    em.w(1, f'<xs:element name="{args[0]}" type="{args[1]}"{nillable}/>')
            elif kind == "attribute":
                em.w(1, f'<xs:attribute name="{args[0]}" type="{args[1]}"/>')
            elif kind == "group":
                em.w(1, f'<xs:group name="{args[0]}">')
                for child in node.children:
                    em.particle(child, 2)
                em.w(1, "</xs:group>")
            else:
                raise SyntaxError(f"{name}:{node.line}: unknown declaration {kind}")
        em.out.append("</xs:schema>")
        out[name] = "\n".join(em.out) + "\n"
    return out


def read_models(model_dir: Path = MODEL_DIR) -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(model_dir.glob("*.cdm"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a generated file is stale")
    args = ap.parse_args(argv)
    stale = []
    for name, text in generate(read_models()).items():
        path = OUT_DIR / f"{name}.xsd"
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path.name)
        if not args.check:
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check:
        print("stale: " + ", ".join(stale) if stale else "up to date")
        return 1 if stale else 0
    print(f"wrote {len(stale)} file(s) into {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
