"""Detection of the document type and structure level from the header facts.

Runs after parsing and before the engines, so packs can be chosen from the detected type
and level. The DOC and BDY rule families (``cdacheck/checks``) explain the detection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdacheck.model import DocType, DocumentFacts, Level

LOINC = "2.16.840.1.113883.6.1"
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
PRESC_LOCAL = ("PRESC-BIO", "PRESC-KINE", "PRESC-INF", "PRESC-PEDI", "PRESC-ORTHOPHO",
               "PRESC-ORTHOPTIE")


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
    code = facts.code.code if facts.code else None
    roots = set(facts.template_roots)
    doc_type: DocType
    if code is None:
        doc_type = "UNKNOWN"
        evidence.append("ClinicalDocument/code absent")
    elif roots & set(T_D2LM):
        doc_type = "D2LM"
        evidence.append("templateId D2LM (dépistage organisé du cancer du sein)")
    elif T_BIO_TROD in roots:
        doc_type = "BIO-TROD"
        evidence.append("templateId BIO-TROD 1.2.250.1.213.1.1.1.59")
    elif code in CODE_TYPES:
        doc_type = CODE_TYPES[code]
        evidence.append(f"code {code}")
    elif code in PRESC_LOCAL:
        doc_type = "PRESCRIPTION"
        evidence.append(f"code local {code}")
    else:
        doc_type = "OTHER"
        evidence.append(f"code {code} hors des types suivis")
    return Detection(doc_type=doc_type, level=level, evidence=tuple(evidence))


def detect_level(facts: DocumentFacts) -> Level:
    kind = facts.body.kind
    if kind == "nonXMLBody":
        return "N1"
    if kind == "structuredBody":
        return "N3"
    return "unknown"
