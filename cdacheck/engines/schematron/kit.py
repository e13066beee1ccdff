"""Kit mode: the rules of a TestContenuCDA checkout, applied the way the kit applies them.

Every document gets the five profile schematrons; a structured (N3) document whose
templateIds name a CI-SIS model also gets that model's volet schematron (version from the
templateId extension). Each set is compiled once per process. The kit's own defects are
worked around explicitly and listed in :meth:`KitEngine.describe` (and, when they touch a
document, as INT findings on it): a value set the kit references but lacks is rebuilt from
``jeuxDeValeurs/`` (J07), include paths that only match case-insensitively are bridged, a
volet that cannot compile or misses includes yields a finding on the documents it concerns.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from cdacheck.config import Settings
from cdacheck.detect import Detection
from cdacheck.engines.schematron import R_CHOSEN, R_COMPILE, R_INCOMPLETE, R_RUN
from cdacheck.engines.schematron.loader import SchematronError
from cdacheck.engines.schematron.runner import CompiledSchematron, compile_schematron, saxon_version, xdm_document
from cdacheck.engines.schematron.svrl import to_hits
from cdacheck.inputs.xml import ParsedDocument
from cdacheck.model import DocumentFacts, EngineName, Hit, Location, Severity

PROFILES: tuple[tuple[str, str], ...] = (
    ("IHE", "schematrons/profils/IHE.sch"),
    ("ASIP-STRUCT-MIN-StrucMin", "schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch"),
    ("CI-SIS_ModelesDeContenusCDA", "schematrons/profils/CI-SIS_ModelesDeContenusCDA.sch"),
    ("terminologie", "schematrons/profils/terminologies/schematron/terminologie.sch"),
    ("CI-SIS_Modeles_ANS", "schematrons/profils/CI-SIS_Modeles_ANS.sch"),
)

_M = "1.2.250.1.213.1.1.1."
# Document-level templateId of each CI-SIS content model -> volet family (CI-SIS_<family>_<version>.sch).
MODEL_TEMPLATES: dict[str, str] = {
    _M + "40": "ANEST-CR-ANEST", _M + "41": "ANEST-CR-CPA",
    _M + "15": "AVC-AUNV", _M + "16": "AVC-EUNV", _M + "25": "AVC-PAVC", _M + "17": "AVC-SUNV",
    _M + "55": "BIO-CR-BIO", _M + "59": "BIO-TROD",
    _M + "32": "CANCER-CR-GM", _M + "28": "CANCER-D2LM-FIDD", _M + "27": "CANCER-D2LM-FIN",
    _M + "8": "CANCER-FRCP", _M + "26": "CANCER-PPS",
    _M + "2.1.1": "CARD-F-PRC-AVK", _M + "2.1.2": "CARD-F-PRC-TAP", _M + "2.1.3": "CARD-F-PRC-DCI",
    _M + "2.1.4": "CARD-F-PRC-PSC", _M + "2.1.5": "CARD-F-PRC-PPV",
    _M + "36": "CNAM-HR",
    _M + "5.1": "CSE-CS8", _M + "5.2": "CSE-CS9", _M + "5.3": "CSE-CS24", _M + "5.4": "CSE-MDE",
    _M + "22": "DLU-EHPAD-DLU", _M + "23": "DLU-EHPAD-FLUDT", _M + "24": "DLU-EHPAD-FLUDR",
    _M + "39": "EP-MED-DM", _M + "54": "eDISP-MED",
    _M + "45": "IMG-CR-IMG", _M + "47": "IMG-DA-IMG", _M + "51": "IPS-FR",
    _M + "21": "LDL-EES", _M + "29": "LDL-SES",
    _M + "12.1": "OBP-SAP", _M + "12.2": "OBP-SNM", _M + "12.3": "OBP-SNE", _M + "12.4": "OBP-SCM",
    _M + "12.5": "OBP-SEM",
    _M + "42": "OPH-BRE", _M + "18": "OPH-CR-RTN", _M + "30": "SDM-MR", _M + "38": "TLM-DA",
    _M + "37": "VAC", _M + "46": "VAC-NOTE", _M + "13": "VSM",
}
# Models whose templateId alone is ambiguous: the document code must also match.
MODEL_CODES: dict[str, frozenset[str]] = {"VSM": frozenset({"SYNTH"})}
# Models without a document-level templateId, recognised by the document code (any level).
CODE_MODELS: dict[str, str] = {"85208-7": "TLM-CR"}

_VOC_RE = re.compile(r"voc-(?P<oid>[0-9.]+)-DYNAMIC\.xml$")
_VERSION_RE = re.compile(r"_(\d{4}\.\d{2})$")


class KitError(Exception):
    """The kit folder cannot be used (missing, not a TestContenuCDA checkout): exit code 2."""


@dataclass(frozen=True)
class KitDefect:
    """A defect of the kit that kit mode works around, reported in the run's kit section."""

    kind: str
    detail: str


@dataclass
class _SetState:
    compiled: CompiledSchematron | None
    error: str | None


class KitEngine:
    """cdacheck.engines.DocumentEngine running the kit's schematrons (kit mode)."""

    name = "kit"

    def __init__(self, settings: Settings, kit: Path | None = None) -> None:
        root = kit or settings.kit
        if root is None:
            raise KitError("aucun kit indiqué (--kit DIR)")
        self.root = Path(root).resolve()
        self.settings = settings
        missing = [rel for _, rel in PROFILES if not (self.root / rel).is_file()]
        if not (self.root / "schematrons").is_dir() or missing:
            raise KitError(f"{self.root} n'est pas un kit TestContenuCDA utilisable : "
                           f"fichiers absents {', '.join(missing) or 'schematrons/'}")
        self.defects: list[KitDefect] = []
        self._sets: dict[Path, _SetState] = {}
        self._jdv_index: dict[str, Path] | None = None
        self._node: Any = None
        self.last_applied: list[str] = []  # schematrons applied to the last document (tests, bench)
        self.volets = self._index_volets()

    # ------------------------------------------------------------------ selection

    def _index_volets(self) -> dict[str, dict[str, Path]]:
        """Volet schematrons by family, then by version (``CI-SIS_<family>[_x]_<version>.sch``)."""
        out: dict[str, dict[str, Path]] = {}
        families = sorted(set(MODEL_TEMPLATES.values()) | set(CODE_MODELS.values()), key=len, reverse=True)
        for path in sorted((self.root / "schematrons").glob("CI-SIS_*.sch")):
            stem = path.stem[len("CI-SIS_"):]
            m = _VERSION_RE.search(stem)
            if m is None:
                continue
            family = next((f for f in families if stem.lower().startswith(f.lower() + "_")), None)
            if family is not None:
                out.setdefault(family, {})[m.group(1)] = path
        return out

    def select(self, facts: DocumentFacts, detection: Detection) -> tuple[list[Path], str]:
        """The schematrons for a document and why the volet was (or was not) chosen.

        When the document names its model but no known version, every version of the
        volet is a candidate: the last path of the list is then the newest, and
        :meth:`run` keeps the candidate the document conforms to best (see docs/kit-mode.md).
        """
        sets, candidates, why = self._choose(facts, detection)
        return sets + candidates[-1:], why

    def _choose(self, facts: DocumentFacts, detection: Detection) -> tuple[list[Path], list[Path], str]:
        sets = [self.root / rel for _, rel in PROFILES]
        code = facts.code.code if facts.code else None
        family, version, why = None, None, "aucun modèle CI-SIS reconnu"
        if detection.level == "N3":
            for tid in facts.template_ids:
                fam = MODEL_TEMPLATES.get(tid.root or "")
                if fam and (fam not in MODEL_CODES or code in MODEL_CODES[fam]):
                    family, version = fam, tid.extension
                    why = f"templateId {tid.root}" + (f" v{tid.extension}" if tid.extension else "")
            if family is None:
                why = "document N3 sans templateId de modèle CI-SIS reconnu : profils seuls"
        else:
            why = "document non structuré (N1) : profils seuls"
        if family is None and code in CODE_MODELS:
            family, why = CODE_MODELS[code], f"code {code}"
        if family is None:
            return sets, [], why
        versions = self.volets.get(family, {})
        if not versions:
            return sets, [], f"{why} : aucun schématron {family} dans le kit"
        if version in versions:
            return sets, [versions[version]], why
        ordered = [versions[v] for v in sorted(versions)]
        why += (f" : version {version} inconnue du kit" if version else " : version non indiquée")
        return sets, ordered, why + ", volet retenu selon la conformité"

    # ------------------------------------------------------------------ compiling

    def _compiled(self, path: Path) -> _SetState:
        state = self._sets.get(path)
        if state is not None:
            return state
        try:
            compiled = compile_schematron(path, pack_name=path.stem)
            self._note_defects(compiled)
            self._shim_missing_value_sets(compiled)
            state = _SetState(compiled, None)
        except SchematronError as exc:
            self.defects.append(KitDefect("compile-failed", f"{path.name}: {exc}"))
            state = _SetState(None, str(exc))
        self._sets[path] = state
        return state

    def _note_defects(self, compiled: CompiledSchematron) -> None:
        for d in compiled.defects:
            where = Path(d.file).name if d.file else compiled.path.name
            kd = KitDefect(d.kind, f"{compiled.path.name} ({where}) : {d.detail}")
            if kd not in self.defects:
                self.defects.append(kd)

    def _shim_missing_value_sets(self, compiled: CompiledSchematron) -> None:
        """Rebuild ``voc-<OID>-DYNAMIC.xml`` files the kit references but lacks from jeuxDeValeurs."""
        docs: dict[str, bytes] = {}
        for missing in list(compiled.missing_docs):
            m = _VOC_RE.search(missing)
            if m is None:
                continue
            source = self._jdv_by_oid().get(m.group("oid"))
            if source is None:
                continue
            data, count = _voc_from_jdv(source, m.group("oid"))
            docs[missing] = data
            kd = KitDefect("value-set-rebuilt",
                           f"{Path(missing).name} absent du kit : reconstruit depuis "
                           f"jeuxDeValeurs/{source.name} ({count} concepts)")
            if kd not in self.defects:
                self.defects.append(kd)
        if docs:
            compiled.add_documents(docs)

    def _jdv_by_oid(self) -> dict[str, Path]:
        if self._jdv_index is None:
            index: dict[str, Path] = {}
            folder = self.root / "jeuxDeValeurs"
            for path in sorted(folder.glob("*.xml")) if folder.is_dir() else []:
                head = path.read_bytes()[:4096].decode("utf-8", "replace")
                m = re.search(r"<(?:\w+:)?ValueSet\b[^>]*?\sid=\"([0-9.]+)\"", head)
                if m:
                    index.setdefault(m.group(1), path)
            self._jdv_index = index
        return self._jdv_index

    # ------------------------------------------------------------------ running

    def run(self, doc: ParsedDocument, facts: DocumentFacts, detection: Detection) -> Iterable[Hit]:
        """Every kit schematron that applies to the document -> hits."""
        sets, candidates, why = self._choose(facts, detection)
        self._node = None
        hits: list[Hit] = []
        for path in sets:
            hits.extend(self._run_set(path, doc))
        if len(candidates) == 1:
            sets = [*sets, candidates[0]]
            hits.extend(self._run_set(candidates[0], doc))
        elif candidates:
            best = self._best_candidate(candidates, doc, why)
            sets = [*sets, *(c for c in candidates if c.stem == best[0].params["volet"])]
            hits.extend(best)
        self._node = None
        self.last_applied = [p.stem for p in sets]
        return hits

    def _best_candidate(self, candidates: list[Path], doc: ParsedDocument, why: str) -> list[Hit]:
        """The hits of the volet version the document conforms to best (fewest errors, then oldest)."""
        scored = []
        for rank, path in enumerate(candidates):
            state = self._compiled(path)
            usable = state.compiled is not None and not _incomplete(state.compiled)
            hits = self._run_set(path, doc)
            errors = sum(1 for h in hits if h.rule_id.startswith("SCH/") and self._is_error(h.role))
            scored.append((not usable, errors, rank, path, hits))
        scored.sort(key=lambda t: t[:3])
        _, errors, _, chosen, hits = scored[0]
        others = ", ".join(f"{p.stem} : {e} erreur(s)" for u, e, _, p, _ in scored[1:])
        note = Hit(rule_id=R_CHOSEN.id, engine=EngineName.SCHEMATRON,
                   location=Location(file=doc.source, member=doc.member),
                   params={"volet": chosen.stem, "why": why, "errors": errors, "others": others or "-"},
                   provenance={"pack": chosen.stem})
        return [note, *hits]

    def _is_error(self, role: str | None) -> bool:
        severity = self.settings.role_map.get((role or "").lower(), self.settings.role_map.get(""))
        return severity is not None and severity.at_least(Severity.ERROR)

    def _run_set(self, path: Path, doc: ParsedDocument) -> list[Hit]:
        state = self._compiled(path)
        loc = Location(file=doc.source, member=doc.member)
        if state.compiled is None:
            return [Hit(rule_id=R_COMPILE.id, engine=EngineName.SCHEMATRON, location=loc,
                        params={"schematron": path.name, "reason": state.error or "?"},
                        provenance={"pack": path.stem, "kit": str(self.root)})]
        compiled = state.compiled
        hits: list[Hit] = []
        missing = _incomplete(compiled)
        if missing:
            hits.append(Hit(rule_id=R_INCOMPLETE.id, engine=EngineName.SCHEMATRON, location=loc,
                            params={"schematron": path.name,
                                    "detail": f"{len(missing)} inclusion(s) introuvable(s), "
                                              f"dont {missing[0].detail}"},
                            provenance={"pack": path.stem}))
        if self._node is None:
            self._node = xdm_document(doc)
        try:
            results = compiled.results(doc, self._node)
        except Exception as exc:  # a dynamic error in one set must not hide the others
            hits.append(Hit(rule_id=R_RUN.id, engine=EngineName.SCHEMATRON, location=loc,
                            params={"schematron": path.name, "reason": str(exc).strip()[:300]},
                            provenance={"pack": path.stem}))
            return hits
        hits.extend(to_hits(results, compiled.pack, doc))
        return hits

    def warm(self) -> None:
        """Compile every profile and volet schematron ahead of the first document (service)."""
        for _, rel in PROFILES:
            self._compiled(self.root / rel)
        for versions in self.volets.values():
            for path in versions.values():
                self._compiled(path)

    def describe(self) -> dict[str, str]:
        """The kit, its version and every defect worked around, for the run report."""
        name, version = kit_identity(self.root)
        out = {
            "kit": str(self.root),
            "kit_name": name,
            "kit_version": version,
            "engine": f"cdacheck schematron compiler + {saxon_version()}",
            "profiles": ", ".join(p for p, _ in PROFILES),
            "volets": str(sum(len(v) for v in self.volets.values())),
        }
        for i, d in enumerate(self.defects, 1):
            out[f"defect_{i}"] = f"{d.kind}: {d.detail}"
        return out


def kit_identity(root: Path) -> tuple[str, str]:
    """(name, version) of a kit checkout: from git metadata or notes, else a content fingerprint."""
    name = "TestContenuCDA"
    version = ""
    head = root / ".git" / "HEAD"
    if head.is_file():
        ref = head.read_text(encoding="utf-8", errors="replace").strip()
        if ref.startswith("ref:"):
            ref_file = root / ".git" / ref[4:].strip()
            ref = ref_file.read_text(encoding="utf-8").strip() if ref_file.is_file() else ref
        version = f"commit {ref[:8]}"
    for note in ("SOURCE.md", "README.md"):
        path = root / note
        if version or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        m_name = re.search(r"TestContenuCDA[\w.-]*", text)
        m_commit = re.search(r"commit\s+([0-9a-f]{7,40})", text)
        if m_name:
            name = m_name.group(0).rstrip(".-")
        if m_commit:
            version = f"commit {m_commit.group(1)}"
    if not version:
        digest = hashlib.sha256()
        for _, rel in PROFILES:
            digest.update((root / rel).read_bytes())
        version = f"empreinte {digest.hexdigest()[:12]}"
    return name, version


def _voc_from_jdv(path: Path, oid: str) -> tuple[bytes, int]:
    """An ART-DECOR ``voc-*.xml`` document (valueSets/valueSet/conceptList/concept) from an SVS JDV."""
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    svs = "{urn:ihe:iti:svs:2008}"
    vs = tree.find(f".//{svs}ValueSet")
    name = vs.get("displayName", "") if vs is not None else ""
    # A prefixed root: lxml would otherwise leave the un-namespaced children in the default namespace.
    out = etree.Element("{urn:hl7-org:v3}valueSets", nsmap={"hl7": "urn:hl7-org:v3"})
    value_set = etree.SubElement(out, "valueSet", id=oid, name=name.removesuffix(".tabs"),
                                 displayName=name.removesuffix(".tabs"))
    concepts = etree.SubElement(value_set, "conceptList")
    count = 0
    for c in tree.iter(f"{svs}Concept"):
        etree.SubElement(concepts, "concept", code=c.get("code", ""), codeSystem=c.get("codeSystem", ""),
                         displayName=c.get("displayName", ""), level="0", type="L")
        count += 1
    return etree.tostring(out, xml_declaration=True, encoding="UTF-8"), count


def _incomplete(compiled: CompiledSchematron) -> list:
    return [d for d in compiled.defects if d.kind in ("missing-include", "unreadable-include")]
