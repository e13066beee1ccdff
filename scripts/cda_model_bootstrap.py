"""One-off bootstrap of cdacheck's compact CDA model from the facts of the normative schema.

Run once (``python scripts/cda_model_bootstrap.py``) to (re)write the compact model files
``cdacheck/schemas/model/*.cdm``; the project never runs it at build or test time. It reads
the reference schema of the CI-SIS kit (``$CDACHECK_KIT/infrastructure/cda``) only for the
*facts* of the HL7 CDA R2 model (class and data-type names, element names, their order,
cardinalities and types, attribute names, types, fixed and default values, value sets),
and writes them in cdacheck's own compact notation (see ``scripts/gen_schema.py``):

* documentation, annotations, embedded Schematron, comments and layout are dropped;
* the vocabulary is reduced to the value sets the model actually uses;
* the InfrastructureRoot header (realmCode, typeId, templateId) becomes the ``infra`` macro;
* the files are regrouped by namespace (one model file per generated schema file).

The committed ``.cdm`` files are the source of truth afterwards: ``gen_schema.py`` emits the
XSD from them alone, and may be edited by hand (see docs/schema.md).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from lxml import etree

XS = "http://www.w3.org/2001/XMLSchema"
X = f"{{{XS}}}"
HL7 = "urn:hl7-org:v3"
PREFIXES = {
    HL7: "hl7",
    "urn:hl7-org:sdtc": "sdtc",
    "urn:oid:1.3.6.1.4.1.19376.1.3.2": "lab",
    "urn:dicom-org:ps3-20": "dicom",
    "urn:ihe:pharm:medication": "pharm",
    XS: "xs",
}
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "cdacheck" / "schemas" / "model"

# model file -> (target namespace or None for chameleon, reference files it gathers facts from)
GROUPS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "hl7-cda": (HL7, ("POCD_MT000040_extended_pharmacy.xsd", "general/NarrativeBlock.xsd",
                      "general/infrastructureRoot.xsd", "CDA_extended.xsd")),
    "datatypes": (None, ("general/datatypes-base.xsd", "general/datatypes.xsd", "general/voc.xsd")),
    "sdtc": ("urn:hl7-org:sdtc", ("sdtc/SDTC.xsd",)),
    "ihe-lab": ("urn:oid:1.3.6.1.4.1.19376.1.3.2", ("ihelab/ihelab.xsd",)),
    "dicom-ps3-20": ("urn:dicom-org:ps3-20", ("dicom/DICOM.xsd",)),
    "ihe-pharm": ("urn:ihe:pharm:medication", ("pharmacy/COCT_MT230100UV_ext_pharmacy.xsd",)),
}
HEADERS = {
    "hl7-cda": ["include datatypes", "import sdtc", "import ihe-lab", "import dicom-ps3-20",
                "import ihe-pharm"],
    "datatypes": ["import sdtc"],
    "sdtc": ["import hl7-cda"],
    "ihe-lab": [],
    "dicom-ps3-20": ["import hl7-cda", "include datatypes"],
    "ihe-pharm": ["import hl7-cda", "include datatypes"],
}
INFRA = [("realmCode", "CS", "*"), ("typeId", "POCD_MT000040.InfrastructureRoot.typeId", "?"),
         ("templateId", "II", "*")]


def q(value: str) -> str:
    """A token of the notation, quoted when it holds blanks or quotes."""
    return value if value and shlex.quote(value) == value else shlex.quote(value)


def occ(el: etree._Element) -> str:
    lo, hi = el.get("minOccurs", "1"), el.get("maxOccurs", "1")
    hi = "*" if hi == "unbounded" else hi
    table = {("0", "1"): "?", ("0", "*"): "*", ("1", "*"): "+", ("1", "1"): ""}
    return table.get((lo, hi), f"{lo}..{hi}")


class Converter:
    def __init__(self, tns: str | None) -> None:
        self.tns = tns
        self.refs: set[str] = set()  # local names of types referenced without prefix

    def qn(self, el: etree._Element, raw: str) -> str:
        prefix, _, local = raw.rpartition(":")
        ns = el.nsmap.get(prefix or None)
        if ns == XS:
            return f"xs:{local}"
        self.refs.add(local)  # any namespace: the vocabulary is included in each of them
        if ns is None or ns == self.tns:
            return local
        return f"{PREFIXES[ns]}:{local}"

    def simple(self, st: etree._Element, indent: str) -> list[str]:
        body = [c for c in st if isinstance(c.tag, str) and c.tag != X + "annotation"]
        assert len(body) == 1, etree.tostring(st)
        d = body[0]
        if d.tag == X + "union":
            return [f"{indent}union " + " ".join(self.qn(d, m) for m in d.get("memberTypes").split())]
        if d.tag == X + "list":
            return [f"{indent}list {self.qn(d, d.get('itemType'))}"]
        assert d.tag == X + "restriction"
        lines = [f"{indent}restrict {self.qn(d, d.get('base'))}"]
        enums = [e.get("value") for e in d if e.tag == X + "enumeration"]
        if enums:
            lines.append(f"{indent}  enum " + " ".join(q(v) for v in enums))
        for f in d:
            if not isinstance(f.tag, str):
                continue
            name = etree.QName(f).localname
            if name not in ("enumeration", "annotation"):
                lines.append(f"{indent}  {name} {q(f.get('value'))}")
        return lines

    def attribute(self, a: etree._Element, indent: str) -> list[str]:
        extra = [f"use={a.get('use')}"] if a.get("use") not in (None, "optional") else []
        extra += [f"fixed={q(a.get('fixed'))}"] if a.get("fixed") is not None else []
        extra += [f"default={q(a.get('default'))}"] if a.get("default") is not None else []
        if a.get("ref"):
            return [f"{indent}attrref {self.qn(a, a.get('ref'))} " + " ".join(extra)]
        anon = a.find(X + "simpleType")
        typ = self.qn(a, a.get("type")) if a.get("type") else ("-" if anon is not None else "xs:anySimpleType")
        lines = [f"{indent}attr {a.get('name')} {typ} " + " ".join(extra)]
        if anon is not None:
            lines += self.simple(anon, indent + "  ")
        return [l.rstrip() for l in lines]

    def particle(self, p: etree._Element, indent: str) -> list[str]:
        name = etree.QName(p).localname
        o = occ(p)
        if name in ("sequence", "choice"):
            kids = [c for c in p if isinstance(c.tag, str) and c.tag != X + "annotation"]
            out = [f"{indent}{'seq' if name == 'sequence' else 'choice'} {o}".rstrip()]
            i = 0
            while i < len(kids):
                if name == "sequence" and self._is_infra(kids[i:i + 3]):
                    out.append(f"{indent}  infra")
                    i += 3
                    continue
                out += self.particle(kids[i], indent + "  ")
                i += 1
            return out
        if name == "group":
            return [f"{indent}group {self.qn(p, p.get('ref'))} {o}".rstrip()]
        if name == "any":
            return [f"{indent}any {p.get('namespace', '##any')} {p.get('processContents', 'strict')} {o}".rstrip()]
        assert name == "element", name
        if p.get("ref"):
            return [f"{indent}ref {self.qn(p, p.get('ref'))} {o}".rstrip()]
        flags = " nillable" if p.get("nillable") == "true" else ""
        anon = p.find(X + "complexType")
        typ = self.qn(p, p.get("type")) if p.get("type") else "-"
        line = f"{indent}elem {p.get('name')} {typ} {o}".rstrip() + flags
        return [line] + (self.complex_body(anon, indent + "  ") if anon is not None else [])

    def _is_infra(self, kids: list[etree._Element]) -> bool:
        if len(kids) < 3 or any(k.tag != X + "element" for k in kids):
            return False
        got = [(k.get("name"), (k.get("type") or "").rpartition(":")[2], occ(k)) for k in kids]
        return got == INFRA and all(self.qn(k, k.get("type")) == t or self.qn(k, k.get("type")) == "hl7:" + t
                                    for k, (_, t, _) in zip(kids, INFRA))

    def complex_body(self, ct: etree._Element, indent: str) -> list[str]:
        lines: list[str] = []
        holder = ct
        cc = ct.find(X + "complexContent")
        if cc is not None:
            holder = next(c for c in cc if c.tag in (X + "extension", X + "restriction"))
        for c in holder:
            if not isinstance(c.tag, str):
                continue
            name = etree.QName(c).localname
            if name in ("sequence", "choice", "group"):
                lines += self.particle(c, indent)
            elif name == "attribute":
                lines += self.attribute(c, indent)
            elif name == "attributeGroup":
                lines.append(f"{indent}attrgroup {self.qn(c, c.get('ref'))}")
            elif name != "annotation":
                raise ValueError(name)
        return lines

    def complex_head(self, ct: etree._Element) -> str:
        flags = []
        if ct.get("abstract") == "true":
            flags.append("abstract")
        cc = ct.find(X + "complexContent")
        if ct.get("mixed") == "true" or (cc is not None and cc.get("mixed") == "true"):
            flags.append("mixed")
        if cc is not None:
            d = next(c for c in cc if c.tag in (X + "extension", X + "restriction"))
            flags.append(("ext " if d.tag == X + "extension" else "res ") + self.qn(d, d.get("base")))
        return " ".join(flags)


def convert(kit: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    voc: dict[str, etree._Element] = {}
    used: set[str] = set()
    pending: dict[str, tuple[Converter, list[tuple[str, etree._Element]]]] = {}
    for group, (tns, files) in GROUPS.items():
        conv = Converter(tns)
        comps: list[tuple[str, etree._Element]] = []
        for rel in files:
            root = etree.parse(str(kit / rel)).getroot()
            for comp in root:
                if not isinstance(comp.tag, str) or comp.tag in (X + "annotation", X + "import", X + "include"):
                    continue
                if rel.endswith("voc.xsd"):
                    voc[comp.get("name")] = comp
                    continue
                comps.append((rel, comp))
        pending[group] = (conv, comps)
    for group, (conv, comps) in pending.items():
        lines = [f"schema {GROUPS[group][0] or '-'}"] + HEADERS[group] + [""]
        for _rel, comp in comps:
            kind = etree.QName(comp).localname
            name = comp.get("name")
            if kind == "attributeGroup":
                continue  # InfrastructureRootAttributes: declared but referenced nowhere
            if kind == "complexType":
                lines.append(f"complex {name} {conv.complex_head(comp)}".rstrip())
                lines += conv.complex_body(comp, "  ")
            elif kind == "simpleType":
                lines.append(f"simple {name}")
                lines += conv.simple(comp, "  ")
            elif kind == "element":
                anon = comp.find(X + "complexType")
                if anon is not None:
                    lines.append(f"element {name} -")
                    lines += conv.complex_body(anon, "  ")
                else:
                    flags = " nillable" if comp.get("nillable") == "true" else ""
                    lines.append(f"element {name} {conv.qn(comp, comp.get('type'))}{flags}")
            elif kind == "attribute":
                lines.append(f"attribute {name} {conv.qn(comp, comp.get('type'))}")
            elif kind == "group":
                lines.append(f"group {name}")
                for c in comp:
                    if isinstance(c.tag, str) and c.tag != X + "annotation":
                        lines += conv.particle(c, "  ")
            else:
                raise ValueError(kind)
            lines.append("")
        out[group] = lines
        used |= conv.refs
    # The vocabulary: only the value sets reachable from the model.
    dconv = pending["datatypes"][0]
    todo = sorted(n for n in used if n in voc)
    keep: list[str] = []
    while todo:
        n = todo.pop()
        if n in keep:
            continue
        keep.append(n)
        before = set(dconv.refs)
        dconv.simple(voc[n], "")
        todo += sorted(r for r in dconv.refs - before if r in voc and r not in keep)
    for n in sorted(keep):
        out["datatypes"] += [f"simple {n}"] + dconv.simple(voc[n], "  ") + [""]
    return out


def main() -> int:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        return 0
    kit = Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit")) / "infrastructure" / "cda"
    if not kit.is_dir():
        print(f"reference schema not found under {kit}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    for group, lines in convert(kit).items():
        (OUT / f"{group}.cdm").write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
        print(f"{group}.cdm: {len(lines)} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
