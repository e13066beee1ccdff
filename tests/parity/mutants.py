"""One-defect mutants of the five Ségur types, generated at test time (issue 17, item 4).

Bases: the kit examples of the five types (``ExemplesCDA``: BIO-CR-BIO_*, IMG_CR_IMG_2024.01*,
LDL-SES_2022.01, eP-MED-DM_*) and cdacheck's own valid samples of those types. Nothing of the
kit is stored in the repository: the mutants are rebuilt from the kit each time, the same
way (fixed seed, document-order enumeration, no dependence on dict or set order), and the
stored official verdicts are keyed by mutant id and checked against each mutant's sha256.

Each mutant carries exactly one defect: an element or attribute removed, an attribute set to
a wrong value (bogus code, codeSystem, OID, wrong classCode/moodCode/statusCode, impossible
timestamp, wrong digit count, bad offset, low after high, bad unit...), a nullFlavor added,
an element duplicated, a text emptied, a templateId root changed, the document code swapped
for another type's code. Targets are enumerated over the whole document (header and body,
narrative blocks excepted), then picked with the seed, stratified by region and operator.

Our samples declare no ``<?oxygen SCHSchema?>`` processing instructions; they get the kit's
(the five profiles, plus the volet of their model for N3), so that the official pipeline
applies its usual set to them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

SEED = 17
HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_H = f"{{{HL7}}}"

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "documents"

KIT_BASE_RE = re.compile(r"^(BIO-CR-BIO_|IMG_CR_IMG_2024\.01|LDL-SES_2022\.01|eP-MED-DM_)")
# Our own valid samples of the five types used as bases (their sidecars say valid).
SAMPLE_BASES = ("cr-img-n1", "cro-n1", "ldl-ses-n1", "ordonnance-n1",
                "autopresentable-cr-bio-n3", "cr-bio-n1", "cr-bio-n3")
# Samples the official pipeline rejects as they are (first run, 2026-12-01: StrucMin dtr1-6-IVL_TS
# low = high, E_laboratoryObservation_fr originalText/reference, E_organizerDocumentAttache_ANS):
# they stay in the run as bases, so that the verdict is stored and reported, but get no mutants
# (a mutant of a rejected base tells nothing about the one defect it carries).
OFFICIALLY_INVALID_SAMPLES = ("autopresentable-cr-bio-n3", "cr-bio-n1", "cr-bio-n3")
FIVE_TYPES = ("LDL-SES", "PRESCRIPTION", "CRO", "CR-BIO", "CR-IMG")

PROFILE_PIS = (
    "../schematrons/profils/IHE.sch",
    "../schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "../schematrons/profils/CI-SIS_ModelesDeContenusCDA.sch",
    "../schematrons/profils/CI-SIS_Modeles_ANS.sch",
    "../schematrons/profils/terminologies/schematron/terminologie.sch",
)
# Document templateId of a CI-SIS model -> volet family of the five types.
MODEL_VOLETS = {"1.2.250.1.213.1.1.1.55": "BIO-CR-BIO", "1.2.250.1.213.1.1.1.45": "IMG-CR-IMG",
                "1.2.250.1.213.1.1.1.29": "LDL-SES", "1.2.250.1.213.1.1.1.39": "EP-MED-DM"}
VOLET_VERSIONS = {"BIO-CR-BIO": ("2021.01", "2024.01"), "IMG-CR-IMG": ("2024.01",),
                  "LDL-SES": ("2022.01",), "EP-MED-DM": ("2022.01", "2023.01", "2024.01")}
# Document codes of the five types (LOINC), for the "code of another type" mutant.
TYPE_CODES = {"LDL-SES": ("11490-0", "Lettre de liaison de sortie"),
              "PRESCRIPTION": ("57833-6", "Prescription de médicaments"),
              "CRO": ("34874-8", "Compte rendu opératoire"),
              "CR-BIO": ("11502-2", "CR d'examens biologiques"),
              "CR-IMG": ("18748-4", "Compte rendu d'imagerie médicale")}

# Per-base number of mutants picked (kit examples are bigger and richer than our samples).
PER_KIT_BASE = 50
PER_SAMPLE_BASE = 34


@dataclass(frozen=True)
class Base:
    """A document the mutants derive from."""

    id: str          # "kit/<stem>" or "sample/<stem>"
    origin: str      # "kit" | "sample" | "enriched" (targeted mutants only)
    data: bytes      # bytes as given to the official pipeline (PIs included)


@dataclass(frozen=True)
class Mutant:
    id: str
    base: str
    operator: str
    target: str
    data: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# --------------------------------------------------------------------------- bases


def kit_bases(kit: Path) -> list[Base]:
    out = []
    for path in sorted((kit / "ExemplesCDA").glob("*.xml"), key=lambda p: p.name):
        if KIT_BASE_RE.match(path.name):
            stem = path.name[:-4]
            out.append(Base(f"kit/{stem}", "kit", path.read_bytes()))
    return out


def _sample_pis(tree: etree._ElementTree) -> list[str]:
    root = tree.getroot()
    roots = {(t.get("root") or "", t.get("extension") or "") for t in root.findall(f"{_H}templateId")}
    structured = root.find(f"{_H}component/{_H}structuredBody") is not None
    pis = list(PROFILE_PIS)
    if structured:
        for oid, ext in sorted(roots):
            family = MODEL_VOLETS.get(oid)
            if family:
                versions = VOLET_VERSIONS[family]
                version = ext if ext in versions else versions[-1]
                pis.append(f"../schematrons/CI-SIS_{family}_{version}.sch")
                break
    return pis


def sample_bases(samples: Path = SAMPLES) -> list[Base]:
    out = []
    for stem in SAMPLE_BASES:
        path = samples / f"{stem}.xml"
        sidecar = json.loads((samples / f"{stem}.expected.json").read_text(encoding="utf-8"))
        if not (sidecar.get("valid") and sidecar.get("doc_type") in FIVE_TYPES):
            raise ValueError(f"{stem}: not a valid sample of the five types")
        tree = etree.fromstring(path.read_bytes(), _parser()).getroottree()
        root = tree.getroot()
        for href in _sample_pis(tree):
            root.addprevious(etree.ProcessingInstruction("oxygen", f'SCHSchema="{href}"'))
        out.append(Base(f"sample/{stem}", "sample", _serialize(tree)))
    return out


def enriched_bases(samples: Path = SAMPLES) -> list[Base]:
    """Our samples with one optional header part added each (tests/parity/enriched.py)."""
    from parity.enriched import enriched

    out = []
    for name, data in enriched(samples):
        tree = etree.fromstring(data, _parser()).getroottree()
        root = tree.getroot()
        for href in _sample_pis(tree):
            root.addprevious(etree.ProcessingInstruction("oxygen", f'SCHSchema="{href}"'))
        out.append(Base(f"enriched/{name}", "enriched", _serialize(tree)))
    return out


def all_bases(kit: Path | None) -> list[Base]:
    return (kit_bases(kit) if kit is not None else []) + sample_bases() + enriched_bases()


# --------------------------------------------------------------------------- helpers


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           remove_blank_text=False, remove_pis=False, huge_tree=True)


def _serialize(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _is_element(node: object) -> bool:
    return isinstance(node, etree._Element) and isinstance(node.tag, str)


def element_path(el: etree._Element) -> str:
    """``/ClinicalDocument/component/structuredBody/component[2]/...`` (local names, 1-based)."""
    steps = []
    node: etree._Element | None = el
    while node is not None and _is_element(node):
        parent = node.getparent()
        name = _local(node)
        if parent is None:
            steps.append(name)
        else:
            same = [c for c in parent if _is_element(c) and c.tag == node.tag]
            steps.append(f"{name}[{same.index(node) + 1}]" if len(same) > 1 else name)
        node = parent
    return "/" + "/".join(reversed(steps))


def _find(tree: etree._ElementTree, path: str) -> etree._Element:
    """The element of ``tree`` at a path made by :func:`element_path`."""
    steps = path.strip("/").split("/")
    node = tree.getroot()
    assert _local(node) == steps[0], path
    for step in steps[1:]:
        m = re.fullmatch(r"([^\[]+)(?:\[(\d+)\])?", step)
        assert m is not None, step
        name, idx = m.group(1), int(m.group(2) or 1)
        kids = [c for c in node if _is_element(c) and _local(c) == name]
        node = kids[idx - 1]
    return node


# Namespaces of CDA extensions the kit's schematrons check (targeted mutants only: the seeded
# pool was drawn without them, and its draw must not change).
EXTENSION_NS = ("urn:ihe:pharm:medication", "urn:oid:1.3.6.1.4.1.19376.1.3.2", "urn:hl7-org:sdtc",
                "http://dicom.nema.org/resources/ontology/DCM")


def _in_narrative(el: etree._Element, extensions: bool = False) -> bool:
    """Inside a section's narrative block (or a signature, or an extension): not a target."""
    allowed = (HL7, None) + (EXTENSION_NS if extensions else ())
    node = el.getparent()
    while node is not None:
        if _is_element(node):
            name = _local(node)
            if name == "text" and node.getparent() is not None and _local(node.getparent()) == "section":
                return True
            if etree.QName(node).namespace not in allowed:
                return True
        node = node.getparent()
    return etree.QName(el).namespace not in allowed


def _region(path: str) -> str:
    if "/structuredBody" in path or "/nonXMLBody" in path:
        return "entry" if "/entry" in path else "body"
    return "header"


_TS_RE = re.compile(r"^\d{4,14}(\.\d+)?([+-]\d{4})?$")
_TS_ELEMENTS = {"effectiveTime", "time", "low", "high", "birthTime", "center", "width"}

_ALTERNATES = {
    "classCode": {"OBS": "ACT", "ACT": "OBS", "CLUSTER": "BATTERY", "BATTERY": "CLUSTER",
                  "SBADM": "SPLY", "SPLY": "SBADM", "DOCSECT": "ACT", "PSN": "ANM",
                  "ASSIGNED": "LIC", "ENC": "ACT", "PROC": "OBS", "ENTRY": "ACT"},
    "moodCode": {"EVN": "INT", "INT": "EVN", "RQO": "EVN", "PRMS": "EVN", "PRP": "EVN"},
    "typeCode": {"COMP": "SUBJ", "DRIV": "COMP", "SUBJ": "COMP", "REFR": "COMP", "SPRT": "COMP",
                 "AUT": "PRF", "PRF": "AUT", "ENT": "AUT", "CST": "PRF", "LA": "AUTHEN",
                 "AUTHEN": "LA", "RCT": "SBJ", "INF": "AUT", "PRCN": "ATND"},
    "determinerCode": {"INSTANCE": "KIND", "KIND": "INSTANCE"},
    "contextControlCode": {"OP": "AN", "AN": "OP"},
    "inversionInd": {"true": "false", "false": "true"},
    "negationInd": {"true": "false", "false": "true"},
    "use": {"H": "ZZ", "WP": "ZZ", "MC": "ZZ"},
    "mediaType": {"application/pdf": "text/plain"},
    "representation": {"B64": "TXT", "TXT": "B64"},
}
_STATUS = {"completed": "active", "active": "completed", "aborted": "completed",
           "new": "completed", "held": "completed", "suspended": "completed", "cancelled": "completed"}


@dataclass(frozen=True)
class _Candidate:
    operator: str
    path: str            # element path
    attr: str = ""       # attribute (Clark name) for attribute operators
    value: str = ""      # new value, when the operator sets one

    @property
    def target(self) -> str:
        if self.operator == "document-code-other-type":
            return f"{self.path}/@code={self.value}"
        if self.attr:
            return f"{self.path}/@{etree.QName(self.attr).localname if '}' in self.attr else self.attr}"
        return self.path


def _attr_values(el: etree._Element, attr: str, value: str) -> list[tuple[str, str]]:
    """(operator, new value) pairs for one attribute of one element."""
    name = etree.QName(attr).localname if "}" in attr else attr
    local = _local(el)
    out: list[tuple[str, str]] = []
    if name == "code":
        if local == "statusCode":
            out.append(("wrong-status", _STATUS.get(value, "completed")))
        else:
            out.append(("bogus-code", "ZZZ-BOGUS"))
            if value.strip() != value or " " not in value:
                out.append(("code-padded", f" {value}"))
    elif name == "codeSystem":
        out.append(("bogus-codesystem", "1.2.250.1.213.9.9.9"))
    elif name == "root":
        if local == "templateId":
            out.append(("bogus-template-root", value + ".99"))
        else:
            out.append(("bogus-root", "1.2.3"))
            out.append(("malformed-root", "pas-un-oid"))
    elif name == "extension":
        if local == "templateId":
            out.append(("bogus-template-extension", "1999.99"))
        else:
            out.append(("bogus-extension", "000"))
    elif name == "value" and (local in _TS_ELEMENTS or _TS_RE.match(value)) and _TS_RE.match(value):
        date = value.split("+")[0].split("-")[0]
        offset = value[len(date):]
        if len(date) >= 8:
            out.append(("ts-impossible-date", date[:4] + "0230" + date[8:] + offset))
        if len(date) >= 10:
            out.append(("ts-hour-59", date[:8] + "59" + date[10:] + offset))
        if len(date) >= 12:
            out.append(("ts-minute-61", date[:10] + "61" + date[12:] + offset))
        out.append(("ts-digit-count", date[:-1] + offset if len(date) > 4 else date + "0"))
        if offset:
            out.append(("ts-bad-offset", date + "+2599"))
            out.append(("ts-no-offset", date))
        elif len(date) >= 12:
            out.append(("ts-add-offset", date + "+0100"))
    elif name == "unit":
        out.append(("bad-unit", "bogus_unit"))
    elif name == "value" and el.get("unit") is not None:
        out.append(("bad-quantity", "abc"))
    elif name == "nullFlavor":
        out.append(("other-nullflavor", "UNK" if value != "UNK" else "NI"))
    elif name in _ALTERNATES:
        alt = _ALTERNATES[name].get(value)
        if alt:
            out.append((f"wrong-{name}", alt))
        elif name in ("classCode", "moodCode", "typeCode"):
            out.append((f"wrong-{name}", "OBS" if value != "OBS" else "ACT"))
    elif name == "type" and attr == f"{{{XSI}}}type":
        swap = {"CD": "CE", "CE": "CD", "PQ": "ST", "ST": "CD", "IVL_TS": "TS", "TS": "IVL_TS",
                "CV": "CD", "ED": "ST", "INT": "PQ", "RTO": "PQ", "IVL_PQ": "PQ", "BL": "ST"}
        prefix, _, t = value.rpartition(":")
        if t in swap:
            out.append(("wrong-xsi-type", (prefix + ":" if prefix else "") + swap[t]))
    elif name == "displayName":
        out.append(("wrong-displayname", "Libellé erroné"))
    elif name in ("qualifier", "units", "value"):
        out.append((f"bogus-{name}", "ZZ"))
    return out


def enumerate_candidates(tree: etree._ElementTree, extensions: bool = False) -> list[_Candidate]:
    """Every one-defect change the operators can make on this document, in document order.

    ``extensions``: also inside the elements of EXTENSION_NS (pharm:, lab:, sdtc:...).
    """
    out: list[_Candidate] = []
    root = tree.getroot()
    for el in root.iter():
        if not _is_element(el) or _in_narrative(el, extensions):
            continue
        path = element_path(el)
        if el is not root:
            out.append(_Candidate("remove-element", path))
            out.append(_Candidate("duplicate-element", path))
            if el.get("nullFlavor") is None and _local(el) not in ("templateId", "typeId", "realmCode"):
                out.append(_Candidate("add-nullflavor", path, "nullFlavor", "NI"))
        text = (el.text or "").strip()
        if text and not any(_is_element(c) for c in el):
            out.append(_Candidate("empty-text", path))
        if _local(el) == "text" and el.getparent() is not None and _local(el.getparent()) == "section":
            out.append(_Candidate("empty-text", path))
        for attr, value in sorted(el.attrib.items()):
            out.append(_Candidate("remove-attribute", path, attr))
            for op, new in _attr_values(el, attr, value):
                if new != value:
                    out.append(_Candidate(op, path, attr, new))
        lows = el.findall(f"{_H}low")
        highs = el.findall(f"{_H}high")
        if len(lows) == 1 and len(highs) == 1 and lows[0].get("value") and highs[0].get("value") \
                and lows[0].get("value") != highs[0].get("value"):
            out.append(_Candidate("low-after-high", path))
    code = root.find(f"{_H}code")
    if code is not None and code.get("code"):
        for other, (loinc, _) in sorted(TYPE_CODES.items()):
            if loinc != code.get("code"):
                out.append(_Candidate("document-code-other-type", element_path(code), "code", loinc))
    return out


def apply(tree: etree._ElementTree, cand: _Candidate) -> etree._ElementTree:
    """A copy of ``tree`` with the candidate's defect."""
    new = copy.deepcopy(tree)
    el = _find(new, cand.path)
    op = cand.operator
    if op == "remove-element":
        parent = el.getparent()
        prev = el.getprevious()
        if el.tail and prev is not None:
            prev.tail = el.tail if prev.tail is None else prev.tail
        parent.remove(el)
    elif op == "duplicate-element":
        el.addnext(copy.deepcopy(el))
    elif op == "empty-text":
        for child in list(el):
            el.remove(child)
        el.text = None
    elif op == "remove-attribute":
        del el.attrib[cand.attr]
    elif op == "low-after-high":
        low, high = el.find(f"{_H}low"), el.find(f"{_H}high")
        lv, hv = low.get("value"), high.get("value")
        low.set("value", hv)
        high.set("value", lv)
    elif op == "document-code-other-type":
        el.set("code", cand.value)
        name = next(n for c, n in TYPE_CODES.values() if c == cand.value)
        if el.get("displayName") is not None:
            el.set("displayName", name)
    else:
        el.set(cand.attr, cand.value)
    return new


def _pick(cands: list[_Candidate], n: int, rng: random.Random) -> list[_Candidate]:
    """``n`` candidates, round-robin over (region, operator) groups, each group shuffled."""
    groups: dict[tuple[str, str], list[_Candidate]] = {}
    for c in cands:
        groups.setdefault((_region(c.path), c.operator), []).append(c)
    keys = sorted(groups)
    for k in keys:
        rng.shuffle(groups[k])
    rng.shuffle(keys)
    picked: list[_Candidate] = []
    while len(picked) < n and any(groups[k] for k in keys):
        for k in keys:
            if groups[k] and len(picked) < n:
                picked.append(groups[k].pop())
    return picked


def mutants_of(base: Base, n: int, seed: int = SEED) -> Iterator[Mutant]:
    tree = etree.fromstring(base.data, _parser()).getroottree()
    # PIs before the root are kept by fromstring on the root's preceding siblings.
    rng = random.Random(f"{seed}:{base.id}")
    base_sha = hashlib.sha256(_serialize(tree)).digest()
    seen = {base_sha}
    cands = enumerate_candidates(tree)
    for cand in _pick(cands, n * 2, rng):
        data = _serialize(apply(tree, cand))
        digest = hashlib.sha256(data).digest()
        if digest in seen:
            continue
        seen.add(digest)
        yield Mutant(id=f"{base.id}|{cand.operator}|{cand.target}", base=base.id,
                     operator=cand.operator, target=cand.target, data=data)
        n -= 1
        if n == 0:
            return


def base_document(base: Base) -> bytes:
    """The base as serialized by the mutant generator (what a zero-defect mutant would be)."""
    return _serialize(etree.fromstring(base.data, _parser()).getroottree())


from parity import synth  # noqa: E402  (synth uses the helpers above)


def generate(kit: Path | None, seed: int = SEED, extra: list[tuple[str, str, str]] | None = None) -> list[Mutant]:
    """The whole pool: seeded random mutants of every base, then the targeted ones of ``extra``.

    ``extra``: (base id, operator, target) rows (see targeted.json),
    added to reach official asserts the random pick missed; operator ``edit`` is an
    assert-driven edit of tests/parity/synth.py.
    """
    out: list[Mutant] = []
    bases = all_bases(kit)
    for base in bases:
        n = PER_KIT_BASE if base.origin == "kit" else PER_SAMPLE_BASE
        if base.origin == "enriched" or base.id.removeprefix("sample/") in OFFICIALLY_INVALID_SAMPLES:
            continue
        out.extend(mutants_of(base, n, seed))
    if extra:
        by_id = {b.id: b for b in bases}
        seen = {m.id for m in out}
        same_data = {hashlib.sha256(m.data).digest() for m in out}
        parsed: dict[str, tuple[etree._ElementTree, dict[tuple[str, str], _Candidate]]] = {}
        for base_id, op, target in extra:
            base = by_id.get(base_id)
            if base is None:
                continue
            if base_id not in parsed:
                tree = etree.fromstring(base.data, _parser()).getroottree()
                index: dict[tuple[str, str], _Candidate] = {}
                for cand in enumerate_candidates(tree, extensions=True):
                    index.setdefault((cand.operator, cand.target), cand)
                parsed[base_id] = (tree, index)
            tree, index = parsed[base_id]
            mid = f"{base.id}|{op}|{target}"
            if mid in seen:
                continue
            if op == synth.OPERATOR:  # an assert-driven edit, rebuilt from its target text
                try:
                    data = _serialize(synth.apply(tree, target))
                except synth.EditError:
                    continue
            else:
                cand = index.get((op, target))
                if cand is None:
                    continue
                data = _serialize(apply(tree, cand))
            digest = hashlib.sha256(data).digest()
            if digest in same_data:  # two targets, one document: the first one stands
                continue
            same_data.add(digest)
            seen.add(mid)
            out.append(Mutant(mid, base.id, op, target, data))
    return out
