"""Runner for the public Schematron conformance suite (Schematron/schematron-conformance).

Each test case (namespace ``tag:dmaus@dmaus.name,2019:Schematron:Testsuite``) holds a
primary document, optional secondary files, one schema and the expected outcome:
``valid`` (no failed assert, no successful report), ``invalid`` (at least one) or ``error``
(the schema must be refused, at compile or at run time). ``expectations`` are XPath tests
that must hold on the SVRL. The cases are materialised in a scratch folder and run with
cdacheck's own compiler (:func:`compile_schematron`). Cases we do not pass on purpose are
listed with their reason in ``conformance-exclusions.json`` next to this module.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from cdacheck.engines.schematron.loader import SCH, SchematronError

TS = "tag:dmaus@dmaus.name,2019:Schematron:Testsuite"
_T = f"{{{TS}}}"
SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
EXCLUSIONS_FILE = Path(__file__).with_name("conformance-exclusions.json")


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one test case."""

    case: str  # "core/rule-order-01"
    expect: str
    outcome: str  # "valid" | "invalid" | "error"
    passed: bool
    detail: str = ""


def exclusions() -> dict[str, str]:
    """Test case name -> the reason it is not expected to pass."""
    data = json.loads(EXCLUSIONS_FILE.read_text(encoding="utf-8"))
    return {row["case"]: row["reason"] for row in data}


def case_files(suite: Path) -> list[Path]:
    return sorted(p for sub in ("core", "svrl") for p in (suite / sub).glob("*.xml"))


def _write(folder: Path, name: str, holder: etree._Element) -> Path:
    target = (folder / name).resolve()
    if folder.resolve() not in target.parents:
        raise ValueError(f"nom de fichier hors du dossier de test : {name}")
    target.parent.mkdir(parents=True, exist_ok=True)
    content = [c for c in holder if isinstance(c.tag, str)]
    if len(content) != 1:
        raise ValueError(f"{name} : un élément racine attendu, {len(content)} trouvés")
    target.write_bytes(etree.tostring(content[0], xml_declaration=True, encoding="UTF-8"))
    return target


def run_case(path: Path) -> CaseResult:
    """Materialise and run one test case; never raises for a failing case."""
    name = f"{path.parent.name}/{path.stem}"
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    tc = tree.getroot()
    expect = tc.get("expect", "")
    with tempfile.TemporaryDirectory(prefix="cdacheck-conf-") as tmp:
        folder = Path(tmp)
        docs = tc.find(f"{_T}documents")
        primary = None
        for holder in (docs if docs is not None else []):
            if not isinstance(holder.tag, str):
                continue
            written = _write(folder, holder.get("filename", ""), holder)
            if holder.tag == f"{_T}primary":
                primary = written
        schemas = tc.find(f"{_T}schemas")
        if primary is None or schemas is None:
            return CaseResult(name, expect, "error", False, "cas de test incomplet")
        outcomes = [_run_schema(folder, primary, tc, schema_el, schemas.get("phase"), f"{path.stem}-{i}")
                    for i, schema_el in enumerate(schemas.iterfind(f"{{{SCH}}}schema"))]
    if not outcomes:
        return CaseResult(name, expect, "error", False, "pas de sch:schema")
    # Several schemas in one case are alternatives of the same test: each must pass.
    failed = [(i, o) for i, o in enumerate(outcomes) if not _ok(o, expect)]
    if failed:
        i, (outcome, detail) = failed[0]
        where = f"schéma {i + 1}/{len(outcomes)} : " if len(outcomes) > 1 else ""
        return CaseResult(name, expect, outcome, False, where + detail)
    return CaseResult(name, expect, outcomes[0][0], True)


def _ok(result: tuple[str, str], expect: str) -> bool:
    outcome, detail = result
    return outcome == expect and not detail.startswith("attente non tenue")


def _run_schema(folder: Path, primary: Path, tc: etree._Element, schema_el: etree._Element,
                phase: str | None, tag: str) -> tuple[str, str]:
    from cdacheck.engines.schematron.runner import compile_schematron, processor

    sch_path = folder / f"{tag}.sch"
    sch_path.write_bytes(etree.tostring(schema_el, xml_declaration=True, encoding="UTF-8"))
    try:
        compiled = compile_schematron(sch_path, phase=phase, pack_name=f"conf-{tag}")
        fatal = [d for d in compiled.defects if d.kind in FATAL_DEFECTS]
        if fatal:
            raise SchematronError("; ".join(f"{d.kind}: {d.detail}" for d in fatal))
        node = processor().parse_xml(xml_file_name=str(primary))
        svrl = compiled.run_svrl_node(node)
    except Exception as exc:  # SchematronError or a dynamic error: outcome "error"
        text = str(exc).strip()
        return "error", text.splitlines()[0][:200] if text else type(exc).__name__
    report = etree.fromstring(svrl.encode())
    ns = {"svrl": SVRL_NS}
    fired = int(report.xpath("count(//svrl:failed-assert | //svrl:successful-report)", namespaces=ns))
    outcome = "invalid" if fired else "valid"
    for ex in tc.iterfind(f"{_T}expectations/{_T}expectation"):
        exp_ns = {**{k: v for k, v in ex.nsmap.items() if k}, **ns}
        test = ex.get("test", "")
        if not report.xpath(f"boolean({test})", namespaces=exp_ns):
            return outcome, f"attente non tenue : {test}"
    return outcome, f"{fired} résultat(s)"


# Defects of the sources that make a conformance case an error (a kit run keeps going).
FATAL_DEFECTS = frozenset({"duplicate-let", "missing-include", "unreadable-include",
                           "missing-abstract-pattern", "missing-abstract-rule", "missing-diagnostic",
                           "missing-property", "unknown-phase", "phase-pattern-missing"})
