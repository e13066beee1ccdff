"""SVRL -> hits: rule id, role, rendered message and a location resolved to a line.

Works on any SVRL (ours, or the official pipeline's stored reports), without Saxon:
the pattern of a result is ``@cx:pattern`` when we wrote it, else the last
``svrl:active-pattern`` before it, as in the ISO skeleton's output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from cdacheck.engines.schematron.compiler import SVRL, assert_hash
from cdacheck.engines.schematron.xpath import CX
from cdacheck.inputs.xml import ParsedDocument
from cdacheck.model import EngineName, Hit, Location

_V = f"{{{SVRL}}}"
_ID_BAD = re.compile(r"[^A-Za-z0-9_.:-]+")
_PACK_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class SvrlResult:
    """One failed assert or successful report read from SVRL."""

    kind: str  # "failed-assert" | "successful-report"
    pattern: str
    id: str | None
    role: str | None
    flag: str | None
    test: str | None
    location: str
    text: str
    diagnostics: tuple[str, ...] = ()

    @property
    def assert_id(self) -> str:
        """The assert's id, else the stable hash of its pattern and test (or text)."""
        if self.id:
            return self.id
        return assert_hash(self.pattern, self.test if self.test is not None else self.text)


def normalize(text: str) -> str:
    """Whitespace-normalised text (as compared with the official messages)."""
    return " ".join(text.split())


def parse_svrl(data: bytes | str) -> list[SvrlResult]:
    """Every failed-assert and successful-report of an SVRL report, in order."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    root = etree.fromstring(raw, parser)
    results: list[SvrlResult] = []
    current = ""
    for el in root.iter(f"{_V}active-pattern", f"{_V}failed-assert", f"{_V}successful-report"):
        local = etree.QName(el).localname
        if local == "active-pattern":
            current = el.get("id") or el.get("name") or ""
            continue
        text_el = el.find(f"{_V}text")
        diags = tuple(normalize("".join(d.itertext())) for d in el.findall(f"{_V}diagnostic-reference"))
        results.append(SvrlResult(
            kind=local,
            pattern=el.get(f"{{{CX}}}pattern") or current,
            id=el.get("id") or None,
            role=el.get("role") or None,
            flag=el.get("flag") or None,
            test=el.get("test"),
            location=el.get("location", ""),
            text=normalize("".join(text_el.itertext())) if text_el is not None else "",
            diagnostics=diags,
        ))
    return results


def rule_id(pack: str, result: SvrlResult) -> str:
    """``SCH/<pack>/<assert-id>`` with characters a rule id cannot hold replaced by ``_``."""
    pack_part = _PACK_BAD.sub("_", pack) or "schematron"
    return f"SCH/{pack_part}/{_ID_BAD.sub('_', result.assert_id)}"


def to_hits(results: list[SvrlResult], pack: str, doc: ParsedDocument | None) -> list[Hit]:
    """Hits for the failed asserts and successful reports, located in ``doc.cda``'s tree."""
    hits = []
    for r in results:
        element = resolve_location(doc.cda, r.location) if doc is not None else None
        if doc is not None:
            loc = Location(file=doc.source, member=doc.member,
                           line=element.sourceline if element is not None else None,
                           xpath=readable_path(element) if element is not None else (r.location or None))
        else:
            loc = Location(xpath=r.location or None)
        provenance = {"pack": pack, "pattern": r.pattern, "assert": r.assert_id,
                      "test": r.test or "", "location": r.location, "kind": r.kind}
        if r.flag:
            provenance["flag"] = r.flag
        if r.diagnostics:
            provenance["diagnostics"] = " | ".join(r.diagnostics)
        hits.append(Hit(rule_id=rule_id(pack, r), location=loc, engine=EngineName.SCHEMATRON,
                        message=r.text, role=r.role, provenance=provenance))
    return hits


# --------------------------------------------------------------------------- locations

_STEP = re.compile(
    r"""^(?:
        Q\{(?P<qns>[^}]*)\}(?P<qlocal>[\w.\-]+)
      | \*:(?P<wlocal>[\w.\-]+)(?:\[namespace-uri\(\)\s*=\s*['"](?P<wns>[^'"]*)['"]\])?
      | (?:(?P<prefix>[\w.\-]+):)?(?P<local>[\w.\-]+)
    )(?:\[(?P<index>\d+)\])?$""",
    re.X,
)


def _split_path(path: str) -> list[str]:
    steps, depth, buf = [], 0, []
    for ch in path:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "/" and depth == 0:
            steps.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    steps.append("".join(buf))
    return [s for s in steps if s]


def resolve_location(cda: etree._Element, path: str) -> etree._Element | None:
    """The element an SVRL location points at (its parent element for an attribute/text).

    Accepts ``fn:path()`` output (``/Q{ns}local[1]/@code``), the ISO skeleton's
    ``/*:local[namespace-uri()='ns'][1]`` and plain ``/local[2]`` forms; the first step is
    the ClinicalDocument (the root of what was validated).
    """
    if not path or not path.startswith("/"):
        return None
    steps = _split_path(path)
    if not steps:
        return None
    current: etree._Element | None = None
    for i, step in enumerate(steps):
        if step.startswith("@") or step.startswith("text()") or step.startswith("comment()") \
                or step.startswith("processing-instruction"):
            return current
        m = _STEP.match(step)
        if m is None:
            return current
        local = m.group("qlocal") or m.group("wlocal") or m.group("local")
        ns = m.group("qns") if m.group("qlocal") else m.group("wns")
        index = int(m.group("index") or 1)
        if i == 0:
            if etree.QName(cda).localname != local:
                return None
            current = cda
            continue
        assert current is not None
        same = [c for c in current if isinstance(c.tag, str) and etree.QName(c).localname == local
                and (ns is None or (etree.QName(c).namespace or "") == ns)]
        if len(same) < index:
            return current
        current = same[index - 1]
    return current


def readable_path(el: etree._Element) -> str:
    """``/ClinicalDocument/component/structuredBody/component[3]``: local names, index when needed."""
    steps = []
    node: etree._Element | None = el
    while node is not None and isinstance(node.tag, str):
        parent = node.getparent()
        name = etree.QName(node).localname
        if parent is not None:
            same = [c for c in parent if c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        if etree.QName(node).localname == "ClinicalDocument":
            break
        node = parent
    return "/" + "/".join(reversed(steps))
