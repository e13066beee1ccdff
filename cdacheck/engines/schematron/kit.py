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
import threading
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
from cdacheck.model import DocumentFacts, EngineName, Hit, Location

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
        from cdacheck.engines.schematron.kitstore import resolve

        self.root = resolve(root).resolve()  # a name registered by `cdacheck kit add|fetch`, or a path
        self.settings = settings
        missing = [rel for _, rel in PROFILES if not (self.root / rel).is_file()]
        if not (self.root / "schematrons").is_dir() or missing:
            raise KitError(f"{self.root} n'est pas un kit TestContenuCDA utilisable : "
                           f"fichiers absents {', '.join(missing) or 'schematrons/'}")
        self.defects: list[KitDefect] = []
        self._sets: dict[Path, _SetState] = {}
        self._jdv_index: dict[str, Path] | None = None
        self._local = threading.local()  # the Saxon tree of the document a thread checks
        self._label: str | None = None
        self.volets = self._index_volets()

    @property
    def last_applied(self) -> list[str]:
        """Stems of the schematrons applied to this thread's last document (tests, bench)."""
        return [p.stem for p in getattr(self._local, "applied", [])]

    def applied_schematrons(self) -> list[str]:
        """The schematrons applied to this thread's last document, relative to the kit."""
        out = []
        for p in getattr(self._local, "applied", []):
            try:
                out.append(p.relative_to(self.root).as_posix())
            except ValueError:
                out.append(str(p))
        return out

    def kit_label(self) -> str:
        """The kit's name and version (commit, else a content digest), once per engine."""
        if self._label is None:
            name, version = kit_identity(self.root)
            self._label = f"{name} {version}".strip()
        return self._label

    @property
    def _node(self) -> Any:
        return getattr(self._local, "node", None)

    @_node.setter
    def _node(self, node: Any) -> None:
        self._local.node = node  # per thread: cdacheck.check is called from many threads

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

    def select(self, facts: DocumentFacts, detection: Detection,
               doc: ParsedDocument | None = None) -> tuple[list[Path], str]:
        """The schematrons for a document and why the volet was (or was not) chosen."""
        sets, volet, why, _declared = self._choose(facts, detection, doc)
        return sets + volet, why

    def _choose(self, facts: DocumentFacts, detection: Detection,
                doc: ParsedDocument | None = None) -> tuple[list[Path], list[Path], str, bool]:
        """(profiles, [volet] or [], why, whether the document declares the volet's version).

        The volet is the one the document declares: the CI-SIS model of its templateId and
        the version that templateId carries, whatever its code says. When the templateId
        carries no version the kit has, the version the document names in its
        ``<?oxygen SCHSchema?>`` instruction (the kit's own way of choosing) is used, else
        the newest version of the volet; never the version with the fewest errors.
        """
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
            return sets, [], why, True
        versions = self.volets.get(family, {})
        if not versions:
            return sets, [], f"{why} : aucun schématron {family} dans le kit", True
        if version in versions:
            return sets, [versions[version]], why, True
        why += (f" : version {version} inconnue du kit" if version else " : version non indiquée")
        named = [p for p in versions.values() if p.stem in _declared_schematrons(doc)] if doc else []
        if len(named) == 1:
            return sets, named, why + f", version de l'instruction oxygen SCHSchema ({named[0].name})", False
        newest = versions[max(versions)]
        return sets, [newest], why + ", version la plus récente du kit", False

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
        for missing in compiled.missing_docs:
            # doc() on it fails at run time, as in the official pipeline (INT103 on the
            # documents whose checks reach it).
            kd = KitDefect("value-set-missing", f"{compiled.path.name} : {Path(missing).name} absent du kit")
            if kd not in self.defects:
                self.defects.append(kd)

    def _jdv_by_oid(self) -> dict[str, Path]:
        if self._jdv_index is None:
            from cdacheck.engines.schematron import diskcache

            folder = self.root / "jeuxDeValeurs"
            files = sorted(folder.glob("*.xml")) if folder.is_dir() else []
            heads = {p.name: p.read_bytes()[:4096] for p in files}
            # Keyed by the content the index is made of (the files' heads), cached across processes.
            k = diskcache.key("jdv-index", hashlib.sha256(b"".join(
                n.encode() + b"\0" + h for n, h in heads.items())).hexdigest())
            cached = diskcache.load("jdv-index", k, forbidden=self.root)
            if cached is None:
                cached = {}
                for name, raw in heads.items():
                    m = re.search(r"<(?:\w+:)?ValueSet\b[^>]*?\sid=\"([0-9.]+)\"",
                                  raw.decode("utf-8", "replace"))
                    if m:
                        cached.setdefault(m.group(1), name)
                diskcache.store("jdv-index", k, cached, forbidden=self.root)
            self._jdv_index = {oid: folder / name for oid, name in cached.items()}
        return self._jdv_index

    # ------------------------------------------------------------------ running

    def run(self, doc: ParsedDocument, facts: DocumentFacts, detection: Detection) -> Iterable[Hit]:
        """Every kit schematron that applies to the document -> hits."""
        self._local.applied = []
        sets, volet, why, declared = self._choose(facts, detection, doc)
        self._node = None
        hits: list[Hit] = []
        for path in [*sets, *volet]:
            hits.extend(self._run_set(path, doc))
        if volet and not declared:
            family = next(f for f, v in self.volets.items() if volet[0] in v.values())
            others = ", ".join(p.stem for p in self.volets[family].values() if p != volet[0])
            hits.insert(0, Hit(rule_id=R_CHOSEN.id, engine=EngineName.SCHEMATRON,
                               location=Location(file=doc.source, member=doc.member),
                               params={"volet": volet[0].stem, "why": why, "others": others or "-"},
                               provenance={"pack": volet[0].stem}))
        self._node = None
        self._local.applied = [*sets, *volet]
        return hits

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


def _declared_schematrons(doc: ParsedDocument) -> set[str]:
    """Stems of the schematrons the document names in ``<?oxygen SCHSchema="..."?>``."""
    out: set[str] = set()
    for pi in doc.tree.xpath("/processing-instruction('oxygen')"):
        for href in re.findall(r'SCHSchema\s*=\s*"([^"]*)"', pi.text or ""):
            out.add(Path(href.replace("\\", "/")).stem)
    return out


def _incomplete(compiled: CompiledSchematron) -> list:
    return [d for d in compiled.defects if d.kind in ("missing-include", "unreadable-include")]
