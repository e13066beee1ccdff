"""Detection of the document type and structure level from the header facts.

Runs after parsing and before the engines, so packs can be chosen from the detected type
and level. The DOC and BDY rule families (``cdacheck/checks``) explain and police the
detection; :mod:`cdacheck.classify` turns it into a Ségur indicator.

Type: ``ClinicalDocument/code`` decides, except where a model templateId marks a document
that reuses a tracked code for something else (cisis-facts §D, §H.10): the breast-cancer
screening forms D2LM reuse 18748-4, BIO-TROD and the anaesthesia report have their own
models. Level: the body kind (N1 = nonXMLBody, N3 = structuredBody, cisis-facts §C).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdacheck.model import DocType, DocumentFacts, Level

LOINC = "2.16.840.1.113883.6.1"
CISIS_LOCAL_TYPES = "1.2.250.1.213.1.1.4.12"
T_XDS_SD = "1.3.6.1.4.1.19376.1.2.20"
T_LDL_SES = "1.2.250.1.213.1.1.1.29"
T_LDL_EES = "1.2.250.1.213.1.1.1.21"
T_EP_MED_DM = "1.2.250.1.213.1.1.1.39"
T_CR_BIO_IHE = "1.3.6.1.4.1.19376.1.3.3"
T_CR_BIO_ANS = "1.2.250.1.213.1.1.1.55"
T_CR_IMG = "1.2.250.1.213.1.1.1.45"
T_D2LM = ("1.2.250.1.213.1.1.1.27", "1.2.250.1.213.1.1.1.28")
T_BIO_TROD = "1.2.250.1.213.1.1.1.59"
T_ANEST = "1.2.250.1.213.1.1.1.40"

# ClinicalDocument/code (LOINC) -> type (cisis-facts §D).
CODE_TYPES: dict[str, DocType] = {
    "11490-0": "LDL-SES",
    "57833-6": "PRESCRIPTION",
    "57828-6": "PRESCRIPTION",
    "57832-8": "PRESCRIPTION",
    "34874-8": "CRO",
    "11502-2": "CR-BIO",
    "18748-4": "CR-IMG",
    "18761-7": "LDL-EES",
    "77436-4": "CR-ANEST",
    "96173-0": "BIO-TROD",
}
# CI-SIS local prescription codes (codeSystem 1.2.250.1.213.1.1.4.12, cisis-facts §D.2).
PRESC_LOCAL = ("PRESC-BIO", "PRESC-KINE", "PRESC-INF", "PRESC-PEDI", "PRESC-ORTHOPHO",
               "PRESC-ORTHOPTIE")

# Model templateIds that decide the type whatever the code says (same code, other model).
TEMPLATE_TYPES: tuple[tuple[str, DocType, str], ...] = (
    (T_D2LM[0], "D2LM",
     "templateId D2LM-FIN 1.2.250.1.213.1.1.1.27 (dépistage du cancer du sein)"),
    (T_D2LM[1], "D2LM",
     "templateId D2LM-FIDD 1.2.250.1.213.1.1.1.28 (dépistage du cancer du sein)"),
    (T_BIO_TROD, "BIO-TROD",
     "templateId BIO-TROD 1.2.250.1.213.1.1.1.59 (test rapide d'orientation diagnostique)"),
    (T_ANEST, "CR-ANEST", "templateId ANEST-CR-ANEST 1.2.250.1.213.1.1.1.40 (CR d'anesthésie)"),
)


@dataclass(frozen=True)
class Detection:
    """Detected document type and level, with the evidence that decided them."""

    doc_type: DocType
    level: Level
    evidence: tuple[str, ...] = field(default=())


def detect(facts: DocumentFacts) -> Detection:
    """Document type (from code and templateIds) and level (from the body)."""
    evidence: list[str] = []
    level = detect_level(facts)
    code = facts.code.code if facts.code and not facts.code.null_flavor else None
    system = facts.code.code_system if facts.code else None
    roots = set(facts.template_roots)
    doc_type: DocType
    by_template = next(((t, why) for root, t, why in TEMPLATE_TYPES if root in roots), None)
    if by_template is not None:
        doc_type = by_template[0]
        evidence.append(f"{by_template[1]}, code {code or 'absent'}")
    elif code is None:
        doc_type = "UNKNOWN"
        evidence.append("ClinicalDocument/code absent")
    elif code in CODE_TYPES:
        doc_type = CODE_TYPES[code]
        note = "" if system == LOINC else f" (codeSystem {system} au lieu de LOINC {LOINC})"
        evidence.append(f"code {code}{note}")
    elif code in PRESC_LOCAL:
        doc_type = "PRESCRIPTION"
        evidence.append(f"code local {code} ({system})")
    else:
        doc_type = "OTHER"
        evidence.append(f"code {code} ({system}) hors des types suivis")
    evidence.append(_level_evidence(facts, level))
    return Detection(doc_type=doc_type, level=level, evidence=tuple(evidence))


def detect_level(facts: DocumentFacts) -> Level:
    """N1 for a nonXMLBody, N3 for a structuredBody, unknown for none or both."""
    kind = facts.body.kind
    if kind == "nonXMLBody":
        return "N1"
    if kind == "structuredBody":
        return "N3"
    return "unknown"


def _level_evidence(facts: DocumentFacts, level: Level) -> str:
    body = facts.body
    if level == "N1":
        return f"nonXMLBody ({body.media_type or 'mediaType absent'})"
    if level == "N3":
        return f"structuredBody ({body.section_count} sections, {body.entry_count} entrées)"
    return "corps absent" if body.kind == "none" else "deux corps (nonXMLBody et structuredBody)"
