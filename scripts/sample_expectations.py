"""Expected outcome of every sample, as the CI-SIS facts require it (cisis-facts.md).

``rules`` are rule ids that must appear, ``absent_rules`` ids that must not; ``pending``
names rules the spec requires but cdacheck does not declare yet (the test ignores them and
reports them). The ids are those declared in cdacheck's registry; tests/test_samples.py
checks that each one exists, so a renamed rule cannot silently weaken a sample.
"""

from __future__ import annotations

from typing import Any

PENDING_NOTE = "not declared yet in the registry"


def _exp(valid: bool, doc_type: str, level: str, indicator: str, *, rules: tuple[str, ...] = (),
         absent: tuple[str, ...] = (), pending: tuple[str, ...] = (), exit_code: int | None = None,
         **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "valid": valid, "doc_type": doc_type, "level": level, "indicator": indicator,
        "rules": list(rules), "absent_rules": list(absent),
        "exit_code": (0 if valid else 1) if exit_code is None else exit_code,
    }
    if pending:
        out["pending"] = list(pending)
    out.update(extra)
    return out


# Rules that no clean document may raise (parser, schema); INS/BDY/DOC ids are added to
# CLEAN as the indicator helper declares them, so every valid sample is a passing sample.
PRS = ("PRS001", "PRS002", "PRS003", "PRS004", "PRS005", "PRS006", "PRS007", "PRS008")
CLEAN: tuple[str, ...] = PRS + ("XSD001",)
CLEAN_PENDING = ("no INS/BDY/DOC finding at all (ids pending)",)


def _valid(doc_type: str, level: str, indicator: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("absent", CLEAN)
    kw.setdefault("pending", CLEAN_PENDING)
    return _exp(True, doc_type, level, indicator, **kw)


def _ldl_defect(*pending: str, rules: tuple[str, ...] = (), valid: bool = False,
                indicator: str = "none", **kw: Any) -> dict[str, Any]:
    """A one-defect LDL-SES N1: the defect blocks DS 1.1 unless it is only a warning."""
    kw.setdefault("absent", ("XSD001", "PRS002"))
    return _exp(valid, "LDL-SES", "N1", indicator, rules=rules, pending=pending, **kw)


EXPECT: dict[str, dict[str, Any]] = {
    # valid, one per indicator
    "ldl-ses-n1": _valid("LDL-SES", "N1", "DS 1.1"),
    "ordonnance-n1": _valid("PRESCRIPTION", "N1", "DS 1.2", inferred_nonempty=True),
    "cro-n1": _valid("CRO", "N1", "DS 1.3"),
    "cr-img-n1": _valid("CR-IMG", "N1", "DS 3.1"),
    "cr-bio-n3": _valid("CR-BIO", "N3", "DS 2.1"),
    "signed-ldl-ses-n1": _valid("LDL-SES", "N1", "DS 1.1"),
    "autopresentable-cr-bio-n3": _valid("CR-BIO", "N3", "DS 2.1"),
    # valid, no indicator
    "cr-bio-n1": _valid("CR-BIO", "N1", "none"),
    "ldl-ees-n1": _valid("LDL-EES", "N1", "none"),
    "cr-anest-n1": _valid("CR-ANEST", "N1", "none"),
    "d2lm-n3": _valid("D2LM", "N3", "none"),
    "ordonnance-n1-hors-sejour": _valid("PRESCRIPTION", "N1", "none"),
    # INS
    "ins-key-wrong": _ldl_defect("INS: NIR key does not match (97 - N mod 97)"),
    "ins-no-birthplace": _ldl_defect("INS: trait missing (birthplace county)"),
    "ins-sex-un": _ldl_defect("INS: sex must be F or M"),
    "ins-two": _ldl_defect("INS: more than one INS identifier"),
    "ins-nullflavor": _ldl_defect("INS: identifier with nullFlavor / no extension"),
    "ins-nss-oid": _ldl_defect("INS: NSS OID 1.2.250.1.213.1.4.13 used in place of the INS "
                               "(no qualified INS)"),
    "ins-production-oid": _valid("LDL-SES", "N1", "DS 1.1"),
    "ins-test-oid-in-production": _ldl_defect("INS: test root 1.2.250.1.213.1.4.10 in the "
                                              "production environment"),
    # body / level
    "n1-four-templateids": _ldl_defect("BDY/SMDS: N1 must carry exactly three templateIds"),
    "n1-no-xds-sd-template": _ldl_defect("BDY/SMDS: N1 without 1.3.6.1.4.1.19376.1.2.20"),
    "n1-base64-broken": _ldl_defect("BDY: N1 payload is not valid base64"),
    "n1-not-pdf": _ldl_defect("BDY: N1 payload declared application/pdf is not a PDF"),
    "n1-mediatype-jpeg": _exp(True, "CR-IMG", "N1", "DS 3.1",
                              pending=("BDY: N1 mediaType image/jpeg (warning)",),
                              absent=("XSD001",)),
    "n1-representation-txt": _ldl_defect("BDY: N1 representation must be B64"),
    "n3-no-entry": _exp(False, "CR-BIO", "N3", "none",
                        pending=("BDY: structuredBody without any entry (warning)",
                                 "CR-BIO: PDF copy section without entry "
                                 "1.2.250.1.213.1.1.3.18 (cisis-facts §E.24)"),
                        absent=("XSD001",)),
    # header
    "realm-code-missing": _ldl_defect("HDR/SMDS: realmCode FR missing"),
    "type-id-wrong": _ldl_defect("HDR/SMDS: typeId not POCD_HD000040 (error in cdacheck)"),
    "language-code-fr": _ldl_defect("HDR/SMDS: languageCode not ll-CC"),
    "confidentiality-code-masque": _ldl_defect("HDR/SMDS: confidentialityCode not in "
                                               "L/M/N/R/U/V"),
    "effective-time-no-offset": _ldl_defect("HDR: effectiveTime with a time but no UTC offset"),
    "set-id-missing": _ldl_defect("HDR/SMDS: setId missing"),
    "custodian-root-wrong": _ldl_defect("HDR/SMDS: custodian id root not "
                                        "1.2.250.1.71.4.2.2 / 1.2.250.1.213.4.1"),
    "legal-authenticator-missing": _ldl_defect("HDR/SMDS: legalAuthenticator missing"),
    "gender-code-u": _ldl_defect("HDR/SMDS: administrativeGenderCode not in J143",
                                 "INS: sex must be F or M"),
    "family-no-qualifier": _ldl_defect("HDR/SMDS: patient family without @qualifier",
                                       "INS: trait missing (family BR)"),
    # inputs
    "not-xml": _exp(False, "UNKNOWN", "unknown", "none", rules=("PRS002",)),
    "truncated": _exp(False, "UNKNOWN", "unknown", "none", rules=("PRS002",)),
    "empty": _exp(False, "UNKNOWN", "unknown", "none", rules=("PRS001",)),
    "xxe": _exp(False, "LDL-SES", "N1", "none", rules=("PRS004",), absent=("PRS002",)),
    "billion-laughs": _exp(False, "LDL-SES", "N1", "none", rules=("PRS004",),
                           absent=("PRS002",)),
    "utf8-bom": _exp(True, "LDL-SES", "N1", "DS 1.1", rules=("PRS006",),
                     absent=("PRS002", "PRS005", "XSD001")),
    "latin1": _exp(False, "LDL-SES", "N1", "none", rules=("PRS005",), absent=("PRS002",)),
}
