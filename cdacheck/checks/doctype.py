"""Document-type rules (family DOC): is the type the header claims consistent and usable?

The type itself is decided by :mod:`cdacheck.detect`; these rules report what makes it
unreliable (no code, a tracked code outside LOINC, a model templateId that contradicts the
code) and what a CR-BIO must carry to be the structured biology report of DS 2.1
(cisis-facts §D, §H).
"""

from __future__ import annotations

from collections.abc import Iterator

from cdacheck.checks import CheckContext, check
from cdacheck.detect import (
    CODE_TYPES,
    LOINC,
    T_ANEST,
    T_BIO_TROD,
    T_CR_BIO_ANS,
    T_CR_BIO_IHE,
    T_CR_IMG,
    T_D2LM,
    T_EP_MED_DM,
    T_LDL_EES,
    T_LDL_SES,
    TEMPLATE_TYPES,
)
from cdacheck.inputs.xml import HL7
from cdacheck.model import Hit, Location, Severity
from cdacheck.registry import rule

_N = {"h": HL7}
_SRC_D = "cisis-facts §D"

# Model templateId -> (code the model requires, model name)  (cisis-facts §D, §F).
MODEL_CODES: dict[str, tuple[str, str]] = {
    T_LDL_SES: ("11490-0", "LDL-SES"),
    T_LDL_EES: ("18761-7", "LDL-EES"),
    T_EP_MED_DM: ("57833-6", "eP-MED-DM"),
    T_CR_IMG: ("18748-4", "IMG-CR-IMG"),
    T_CR_BIO_IHE: ("11502-2", "CR-BIO (IHE XD-LAB)"),
    T_CR_BIO_ANS: ("11502-2", "CR-BIO"),
    T_ANEST: ("77436-4", "ANEST-CR-ANEST"),
    T_BIO_TROD: ("96173-0", "BIO-TROD"),
    T_D2LM[0]: ("18748-4", "CANCER-D2LM-FIN"),
    T_D2LM[1]: ("18748-4", "CANCER-D2LM-FIDD"),
}
LAB_RESULT_ENTRY = "1.3.6.1.4.1.19376.1.3.1"
# Models whose volet requires ClinicalDocument/code in LOINC (code and codeSystem compared).
LOINC_VOLETS = frozenset({T_CR_IMG, T_CR_BIO_ANS, T_CR_BIO_IHE, T_EP_MED_DM})
# Document-model templateIds of the other CI-SIS volets (those of the kit's examples, besides
# MODEL_CODES): only a known model's templateId is evidence of another model; an unknown
# 1.2.250.1.213.1.1.1.x root may just be a mistyped one of the document's own model.
OTHER_CISIS_MODELS = frozenset(
    "1.2.250.1.213.1.1.1." + n for n in (
        "2.1", "2.1.1", "2.1.2", "2.1.3", "2.1.4", "2.1.5", "5", "5.1", "5.2", "5.3", "5.4",
        "8", "12.1", "12.2", "12.3", "12.4", "12.5", "13", "15", "16", "17", "18", "22", "23",
        "24", "25", "26", "30", "32", "36", "37", "38", "41", "42", "46", "47", "51", "54"))
# The five Ségur types: the CI-SIS model templateIds each may carry (cisis-facts §D, §F).
SEGUR_MODELS: dict[str, frozenset[str]] = {
    "LDL-SES": frozenset({T_LDL_SES}),
    "PRESCRIPTION": frozenset({T_EP_MED_DM}),
    "CRO": frozenset(),
    "CR-BIO": frozenset({T_CR_BIO_ANS}),
    "CR-IMG": frozenset({T_CR_IMG}),
}

R_NO_CODE = rule(
    "DOC001", "document-code-missing", Severity.ERROR,
    "ClinicalDocument/code {detail} : le type du document ne peut pas être déterminé "
    "(attendu @code et @codeSystem, par exemple 11490-0 / 2.16.840.1.113883.6.1).",
    "Without ClinicalDocument/@code the document type is unknown.", source="cisis-facts §A.1")
R_NOT_LOINC = rule(
    "DOC002", "tracked-code-not-loinc", Severity.ERROR,
    "ClinicalDocument/code {code} avec codeSystem « {found} » : attendu LOINC "
    "2.16.840.1.113883.6.1 pour ce type de document.",
    "A tracked document-type code is given in another code system than LOINC, in a document "
    "of a model whose volet requires it (CR-IMG, CR-BIO, eP-MED-DM templateIds).", source=_SRC_D)
R_NOT_LOINC_WARN = rule(
    "DOC008", "tracked-code-not-loinc-unchecked", Severity.WARNING,
    "ClinicalDocument/code {code} avec codeSystem « {found} » : attendu LOINC "
    "2.16.840.1.113883.6.1 (le typeCode XDS en dépend) ; le kit ne le contrôle pas pour ce "
    "modèle (N1, LDL-SES).",
    "A tracked document-type code in another code system than LOINC, in a document whose "
    "model the official volets do not check for it (N1, LDL-SES): a warning, where DOC002 "
    "is the error of the CR-IMG, CR-BIO and eP-MED-DM models.", source=_SRC_D)
R_MISMATCH = rule(
    "DOC003", "model-template-code-mismatch", Severity.ERROR,
    "templateId {template} (modèle {model}) incompatible avec ClinicalDocument/code {found} : "
    "ce modèle impose le code {expected}.",
    "A document-model templateId contradicts ClinicalDocument/code.", source=_SRC_D + ", §F")
R_BIO_XDLAB = rule(
    "DOC004", "cr-bio-n3-xdlab-template-missing", Severity.ERROR,
    "CR de biologie structuré (N3) sans templateId 1.3.6.1.4.1.19376.1.3.3 (IHE XD-LAB) dans "
    "l'en-tête ; templateIds trouvés : {found}.",
    "A structured CR-BIO must declare the IHE XD-LAB templateId.", source="cisis-facts §D.4")
R_BIO_NO_RESULT = rule(
    "DOC005", "cr-bio-n3-no-lab-result", Severity.ERROR,
    "CR de biologie structuré (N3) sans aucune entrée de résultat de laboratoire (entry "
    "templateId 1.3.6.1.4.1.19376.1.3.1) : le corps ne porte pas les résultats codés.",
    "A structured CR-BIO holds no laboratory report data entry.", source="cisis-facts §D.4, §G")
R_FOREIGN_MODEL = rule(
    "DOC007", "segur-code-other-model-template", Severity.ERROR,
    "ClinicalDocument/code {code} (type {doc_type}) mais templateId {template} : ce templateId "
    "déclare un autre modèle de document du CI-SIS ; attendu {expected}.",
    "A Ségur document code (LDL-SES, prescription, CRO, CR-BIO, CR-IMG) in a document whose "
    "templateIds declare another CI-SIS document model (e.g. 18748-4 in an IMG-DA-IMG "
    "request): the model's own volet rejects the code and the document is not of that type.",
    source=_SRC_D + ", §F")
R_TEMPLATE_TYPE = rule(
    "DOC006", "type-decided-by-model-template", Severity.INFO,
    "Code {code} mais templateId {template} : document classé {doc_type}, pas {code_type}.",
    "A model templateId reuses a tracked code for another document (e.g. D2LM screening forms "
    "with 18748-4): the document is not of the type the code alone suggests.",
    source="cisis-facts §D.5, §H.10")


@check
def check_document_type(ctx: CheckContext) -> Iterator[Hit]:
    """Code present and in LOINC, model templateIds consistent with it, CR-BIO N3 content."""
    facts = ctx.facts
    code_el = ctx.doc.cda.find("h:code", _N)
    where = ctx.doc.location(code_el if code_el is not None else ctx.doc.cda)
    code = facts.code.code if facts.code else None
    if facts.code is None or not code or facts.code.null_flavor:
        detail = ("absent" if facts.code is None
                  else f"avec nullFlavor=\"{facts.code.null_flavor}\"" if facts.code.null_flavor
                  else "sans @code")
        yield Hit(rule_id=R_NO_CODE.id, location=where, params={"detail": detail})
        return
    roots = facts.template_roots
    if code in CODE_TYPES and facts.code.code_system != LOINC:
        # The CR-IMG, CR-BIO and eP-MED-DM volets compare @codeSystem; LDL-SES's and the
        # profiles (so every N1) compare @code only (checked against the official pipeline).
        strict = any(r in LOINC_VOLETS for r in roots)
        yield Hit(rule_id=(R_NOT_LOINC if strict else R_NOT_LOINC_WARN).id, location=where,
                  params={"code": code, "found": facts.code.code_system or "(absent)"})
    for root in dict.fromkeys(roots):
        expected = MODEL_CODES.get(root)
        if expected is not None and expected[0] != code:
            yield Hit(rule_id=R_MISMATCH.id, location=where,
                      params={"template": root, "model": expected[1], "found": code,
                              "expected": expected[0]})
    code_type = CODE_TYPES.get(code)
    doc_type = ctx.detection.doc_type
    yield from _foreign_models(code, doc_type, roots, where)
    if code_type is not None and code_type != doc_type:
        template = next((r for r, t, _ in TEMPLATE_TYPES if t == doc_type and r in roots), "?")
        yield Hit(rule_id=R_TEMPLATE_TYPE.id, location=where,
                  params={"code": code, "template": template, "doc_type": doc_type,
                          "code_type": code_type})
    if doc_type == "CR-BIO" and ctx.detection.level == "N3":
        if T_CR_BIO_IHE not in roots:
            yield Hit(rule_id=R_BIO_XDLAB.id, location=where,
                      params={"found": ", ".join(roots) or "aucun"})
        body = ctx.doc.cda.find("h:component/h:structuredBody", _N)
        # IHE PALM puts the templateId on the entry itself; some producers put it on the act.
        found = body is not None and any(
            body.find(f".//h:entry{step}/h:templateId[@root='{LAB_RESULT_ENTRY}']", _N) is not None
            for step in ("", "/*"))
        if not found:
            yield Hit(rule_id=R_BIO_NO_RESULT.id,
                      location=ctx.doc.location(body if body is not None else ctx.doc.cda))


def _foreign_models(code: str, doc_type: str, roots: list[str], where: Location) -> Iterator[Hit]:
    """DOC007: a Ségur code with the templateId of another CI-SIS model (not listed in
    MODEL_CODES, which DOC003 covers, nor deciding the type, which DOC006 reports)."""
    allowed = SEGUR_MODELS.get(doc_type)
    if allowed is None or CODE_TYPES.get(code) != doc_type:
        return
    for root in dict.fromkeys(roots):
        if root in OTHER_CISIS_MODELS and root not in allowed:
            expected = (", ".join(sorted(allowed)) + " ou aucun templateId de modèle CI-SIS"
                        if allowed else "aucun templateId de modèle CI-SIS")
            yield Hit(rule_id=R_FOREIGN_MODEL.id, location=where,
                      params={"code": code, "doc_type": doc_type, "template": root,
                              "expected": expected})
