"""cdacheck's own CI-SIS rule packs (``schematrons/*.sch``): selection, registration, running.

Default mode (no ``--kit``) applies these packs instead of the ANS kit. The packs are ISO
Schematron written by the project from its fact sheet; each assert carries ``@id``,
``@role``, ``@see`` (the CI-SIS source) and ``cdc:summary`` (what it checks). Their rule ids
are ``SCH/<pack>/<assert-id>``. Which packs apply to a document is decided here from the
detected type and level (and the model templateIds), unless ``Settings.packs`` forces a list.
Each pack is compiled once per process by :func:`cdacheck.engines.schematron.compile_schematron`.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from cdacheck.config import DEFAULT_ROLE_MAP, Settings
from cdacheck.detect import (
    T_CR_BIO_ANS,
    T_CR_BIO_IHE,
    T_CR_IMG,
    T_EP_MED_DM,
    T_LDL_SES,
    Detection,
)
from cdacheck.inputs.xml import ParsedDocument
from cdacheck.model import DocumentFacts, EngineName, Hit, Severity
from cdacheck.registry import Registry, RuleSpec

if TYPE_CHECKING:
    from cdacheck.engines.native import NativeSchematron
    from cdacheck.engines.schematron import CompiledSchematron

SCH_NS = "http://purl.oclc.org/dsdl/schematron"
CDC_NS = "urn:cdacheck:schematron"


@dataclass(frozen=True)
class PackInfo:
    """One of our packs: its file (in cdacheck.schematrons) and what it covers."""

    name: str
    file: str
    description: str
    applies_to: str


# Order matters: it is the order packs run in and are listed in.
PACKS: dict[str, PackInfo] = {p.name: p for p in (
    PackInfo("header", "header.sch",
             "En-tête CI-SIS commun (structuration minimale) : identification, patient, "
             "participants, acte documenté, prise en charge, versions.",
             "tout document CDA"),
    PackInfo("ldl-ses", "ldl-ses.sch",
             "Lettre de liaison à la sortie (11490-0), N1 et volet LDL-SES 2022.01 (N3).",
             "type LDL-SES ou templateId 1.2.250.1.213.1.1.1.29"),
    PackInfo("prescription", "prescription.sch",
             "Prescription (57833-6, 57828-6, 57832-8, PRESC-*), N1 et en-tête eP-MED-DM (N3).",
             "type PRESCRIPTION ou templateId 1.2.250.1.213.1.1.1.39"),
    PackInfo("cro", "cro.sch",
             "Compte rendu opératoire (34874-8), N1 (aucun volet CI-SIS).",
             "type CRO"),
    PackInfo("cr-bio", "cr-bio.sch",
             "Compte rendu de biologie structuré (11502-2, N3) : templateIds, code et titre, "
             "sections, chaîne des entrées de résultats, copie PDF 2024.01.",
             "type CR-BIO en N3 ou templateId 1.3.6.1.4.1.19376.1.3.3 / 1.2.250.1.213.1.1.1.55 en N3"),
    PackInfo("cr-img", "cr-img.sch",
             "Compte rendu d'imagerie (18748-4), N1 et volet IMG-CR-IMG 2024.01 (N3).",
             "type CR-IMG ou templateId 1.2.250.1.213.1.1.1.45"),
    PackInfo("entries", "entries.sch",
             "Entrées et sections génériques des documents structurés (IHE PCC / Pharm PRE / DICOM, "
             "modèles CI-SIS et ANS) des volets LDL-SES, eP-MED-DM, IMG-CR-IMG et CR-BIO.",
             "type LDL-SES, PRESCRIPTION, CR-IMG ou CR-BIO en N3 (ou templateId de leur volet)"),
    PackInfo("valuesets-body", "valuesets-body.sch",
             "Jeux de valeurs des entrées des documents structurés (ModelesDeContenusCDA, IMG-CR-IMG 2024.01) "
             "et terminologies du kit (terminologie.sch : CCAM, CIM-10, ATC, EMDN…, unités UCUM).",
             "type LDL-SES, PRESCRIPTION, CRO, CR-IMG ou CR-BIO en N3 (ou templateId de leur volet)"),
    PackInfo("pdf-copy", "pdf-copy.sch",
             "Section « Copie du document » (FR-Document-PDF-copie) des documents structurés.",
             "tout document N3"),
)}


def available_packs() -> list[tuple[str, str]]:
    """(name, description) of every pack, in run order (for ``cdacheck rules`` and docs)."""
    return [(p.name, p.description) for p in PACKS.values()]


@cache
def packs_dir() -> Path:
    """The folder of our packs: the installed data package ``cdacheck.schematrons``, or, when
    cdacheck runs from a source checkout that was not installed (``python -m cdacheck`` at the
    repository root), the ``schematrons/`` folder beside the package."""
    try:
        return Path(str(importlib.resources.files("cdacheck.schematrons")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "schematrons"


def pack_path(name: str) -> Path:
    """The .sch file of a pack inside the installed package."""
    info = PACKS[name]
    return packs_dir() / info.file


def selected_packs(detection: Detection, settings: Settings,
                   facts: DocumentFacts | None = None) -> list[str]:
    """The packs to run on a document: ``settings.packs`` when given, else by type and level.

    Model templateIds (when the facts are given) also select their pack, so a volet document
    whose code is wrong is still checked against its volet, as the kit does.
    """
    if settings.packs:
        return [name for name in PACKS if name in settings.packs]
    roots = set(facts.template_roots) if facts is not None else set()
    kind, n3 = detection.doc_type, detection.level == "N3"
    chosen = ["header"]
    if kind == "LDL-SES" or T_LDL_SES in roots:
        chosen.append("ldl-ses")
    if kind == "PRESCRIPTION" or T_EP_MED_DM in roots:
        chosen.append("prescription")
    if kind == "CRO":
        chosen.append("cro")
    if n3 and (kind == "CR-BIO" or roots & {T_CR_BIO_IHE, T_CR_BIO_ANS}):
        chosen.append("cr-bio")
    if kind == "CR-IMG" or T_CR_IMG in roots:
        chosen.append("cr-img")
    if n3 and (kind in ("LDL-SES", "PRESCRIPTION", "CR-IMG", "CR-BIO")
               or roots & {T_LDL_SES, T_EP_MED_DM, T_CR_IMG, T_CR_BIO_IHE, T_CR_BIO_ANS}):
        chosen.append("entries")
    if n3 and (kind in ("LDL-SES", "PRESCRIPTION", "CRO", "CR-IMG", "CR-BIO")
               or roots & {T_LDL_SES, T_EP_MED_DM, T_CR_IMG, T_CR_BIO_IHE, T_CR_BIO_ANS}):
        chosen.append("valuesets-body")
    if n3:
        chosen.append("pdf-copy")
    return chosen


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class PackAssert:
    """What our registry and docs need about one assert of a pack."""

    pack: str
    id: str
    role: str
    see: str
    summary: str
    template: str
    test: str

    @property
    def rule_id(self) -> str:
        return f"SCH/{self.pack}/{self.id}"


def _template(el: etree._Element) -> str:
    """The message with each ``value-of`` shown as « … » (safe for str.format)."""
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str):
            parts.append("…")
        parts.append(child.tail or "")
    text = " ".join("".join(parts).split())
    return text.replace("{", "{{").replace("}", "}}")


@cache
def pack_asserts(name: str) -> tuple[PackAssert, ...]:
    """Every assert of a pack, read from its .sch (no Saxon needed)."""
    root = etree.parse(str(pack_path(name)), etree.XMLParser(resolve_entities=False,
                                                             no_network=True)).getroot()
    out = []
    for el in root.iter(f"{{{SCH_NS}}}assert", f"{{{SCH_NS}}}report"):
        out.append(PackAssert(
            pack=name, id=el.get("id", ""), role=el.get("role", ""), see=el.get("see", ""),
            summary=el.get(f"{{{CDC_NS}}}summary", ""), template=_template(el),
            test=" ".join(el.get("test", "").split())))
    return tuple(out)


@cache
def pack_version(name: str) -> str:
    """The pack's ``cdc:version`` attribute."""
    root = etree.parse(str(pack_path(name))).getroot()
    return root.get(f"{{{CDC_NS}}}version", "0")


@cache
def valuesets_info() -> dict[str, object]:
    """index.json of the generated value sets (kit revision, per-set revision and size)."""
    path = packs_dir() / "valuesets" / "index.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def spec_for(a: PackAssert) -> RuleSpec:
    """The registry entry of one assert (severity from @role through the default role map)."""
    severity = DEFAULT_ROLE_MAP.get(a.role.strip().lower(), Severity.ERROR)
    return RuleSpec(id=a.rule_id, name=a.id, severity=severity, template=a.template,
                    summary=a.summary, source=a.see, engine="schematron")


def register_pack_rules(registry: Registry) -> None:
    """Add a RuleSpec for every assert of every pack (called by registry.load_all())."""
    for name in PACKS:
        for a in pack_asserts(name):
            registry.add(spec_for(a))


# --------------------------------------------------------------------------- engine


class PacksEngine:
    """Runs the selected packs on each document (DocumentEngine ``packs``)."""

    name = "packs"

    def __init__(self, settings: Settings) -> None:
        unknown = [p for p in settings.packs if p not in PACKS]
        if unknown:
            raise ValueError(f"paquet(s) inconnu(s) : {', '.join(unknown)} "
                             f"(disponibles : {', '.join(PACKS)})")
        self.settings = settings
        self._packs: dict[str, CompiledSchematron] = {}
        # Engine per pack: "native" (lxml, cdacheck.engines.native) when the whole pack
        # translates, else Saxon with the reason kept for describe(). CDACHECK_PACKS_ENGINE=saxon
        # forces Saxon for every pack (comparisons, a suspected translation bug).
        self.engine_choice = os.environ.get("CDACHECK_PACKS_ENGINE", "auto").strip().lower() or "auto"
        self._native: dict[str, NativeSchematron | None] = {}
        self.fallbacks: dict[str, str] = {}

    def _compiled(self, name: str) -> CompiledSchematron:
        # Kept here too: compile_schematron's own cache re-reads the .sch to key it.
        compiled = self._packs.get(name)
        if compiled is None:
            from cdacheck.engines.schematron import compile_schematron

            compiled = self._packs[name] = compile_schematron(pack_path(name), pack_name=name)
        return compiled

    def native(self, name: str) -> NativeSchematron | None:
        """The pack translated for the native engine, or None (then it runs through Saxon)."""
        if name in self._native:
            return self._native[name]
        compiled = None
        if self.engine_choice != "saxon":
            from cdacheck.engines.native import Untranslatable, compile_native

            try:
                compiled = compile_native(pack_path(name), name)
            except Untranslatable as exc:
                self.fallbacks[name] = str(exc)[:300]
            except Exception as exc:  # noqa: BLE001 - Saxon reports what is really broken
                self.fallbacks[name] = f"{type(exc).__name__}: {str(exc)[:280]}"
        if name in self.fallbacks:
            logging.getLogger("cdacheck.packs").warning(
                "paquet %s exécuté par Saxon (traduction native impossible) : %s", name, self.fallbacks[name])
        self._native[name] = compiled
        return compiled

    def run(self, doc: ParsedDocument, facts: DocumentFacts, detection: Detection) -> list[Hit]:
        """Hits of every selected pack; a pack that cannot compile or run becomes INT101/103."""
        from cdacheck.engines.schematron import R_COMPILE, R_RUN
        from cdacheck.engines.schematron.runner import xdm_document

        names = selected_packs(detection, self.settings, facts)
        hits: list[Hit] = []
        node = None
        for name in names:
            native = self.native(name)
            if native is not None:
                try:
                    hits.extend(native.run(doc))
                except Exception as exc:
                    hits.append(_internal(R_RUN.id, doc, name, exc))
                continue
            try:
                compiled = self._compiled(name)
            except Exception as exc:  # a broken pack must not hide the other packs' results
                hits.append(_internal(R_COMPILE.id, doc, name, exc))
                continue
            try:
                if node is None:  # one Saxon tree for all packs of this document
                    node = xdm_document(doc)
                hits.extend(compiled.run(doc, node))
            except Exception as exc:
                hits.append(_internal(R_RUN.id, doc, name, exc))
        return hits

    def warm(self, names: Iterable[str] | None = None) -> None:
        """Compile packs ahead of the first document (benchmarks, long runs)."""
        for name in names or PACKS:
            if self.native(name) is None:
                self._compiled(name)

    def describe(self) -> dict[str, str]:
        out = {name: pack_version(name) for name in PACKS}
        out["engine"] = ("saxon (CDACHECK_PACKS_ENGINE=saxon)" if self.engine_choice == "saxon" else
                         "native (lxml); Saxon for a pack that does not translate")
        kit = valuesets_info().get("kit")
        out["valuesets"] = f"kit {kit}" if kit else "absent"
        return out

    def pack_engines(self) -> dict[str, str]:
        """The engine of each pack prepared so far (run or warmed), ``engine.<pack>`` keys.

        Not part of describe(): the report's ``tool`` must not depend on which packs an
        earlier document of the same process happened to prepare, and describing does not
        translate the other packs (a cold run of one N1 document would pay for all nine)."""
        out = {}
        for name in PACKS:
            if name in self._native:
                out[f"engine.{name}"] = "native (lxml)" if self._native[name] is not None else (
                    f"saxon ({self.fallbacks[name]})" if name in self.fallbacks else "saxon")
        return out


def _internal(rule_id: str, doc: ParsedDocument, pack: str, exc: Exception) -> Hit:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return Hit(rule_id=rule_id, params={"schematron": f"paquet {pack}", "reason": reason},
               location=doc.location(doc.cda), engine=EngineName.INTERNAL,
               provenance={"pack": pack})
