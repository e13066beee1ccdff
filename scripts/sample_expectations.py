"""Expected outcome of every sample, as the CI-SIS facts require it (cisis-facts.md).

``rules`` are rule ids that must appear, ``absent_rules`` ids that must not; ``pending``
names rules the spec requires but cdacheck does not declare yet (the test ignores them;
another test fails once they are declared, so that they move to ``rules``).
``max_severity`` (optional) is the worst severity any finding of the sample may have.
The ids are those declared in cdacheck's registry; tests/test_samples.py checks that each
one exists, so a renamed rule cannot silently weaken a sample.
"""

from __future__ import annotations

from typing import Any


def _ids(prefix: str, last: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{n:03d}" for n in range(1, last + 1))


INS = _ids("INS", 12)
BDY = _ids("BDY", 16)
DOC = _ids("DOC", 8)
PRS = ("PRS001", "PRS002", "PRS003", "PRS004", "PRS005", "PRS006", "PRS007", "PRS008")
# Nothing a clean document may raise: every valid sample is the passing sample of these.
CLEAN: tuple[str, ...] = PRS + ("XSD001", "INT001") + INS + BDY + DOC


def hdr(*ids: str) -> tuple[str, ...]:
    """Ids of asserts of our header pack (schematrons/header.sch)."""
    return tuple(f"SCH/header/{i}" for i in ids)


def bio(*ids: str) -> tuple[str, ...]:
    """Ids of asserts of our CR-BIO pack (schematrons/cr-bio.sch)."""
    return tuple(f"SCH/cr-bio/{i}" for i in ids)


def _exp(valid: bool, doc_type: str, level: str, indicator: str, *, rules: tuple[str, ...] = (),
         absent: tuple[str, ...] = (), pending: tuple[str, ...] = (), sch: tuple[str, ...] = (),
         exit_code: int | None = None, **extra: Any) -> dict[str, Any]:
    rules = rules + sch  # asserts of our own schematron packs, cited by their SCH/ ids
    out: dict[str, Any] = {
        "valid": valid, "doc_type": doc_type, "level": level, "indicator": indicator,
        "rules": list(rules), "absent_rules": [a for a in absent if a not in rules],
        "exit_code": (0 if valid else 1) if exit_code is None else exit_code,
    }
    if pending:
        out["pending"] = list(pending)
    out.update(extra)
    return out


def _valid(doc_type: str, level: str, indicator: str, **kw: Any) -> dict[str, Any]:
    """A clean document: no finding above info, none of the CLEAN rules."""
    kw.setdefault("absent", CLEAN)
    kw.setdefault("max_severity", "info")
    return _exp(True, doc_type, level, indicator, **kw)


def _warned(doc_type: str, indicator: str, rule: str, level: str = "N1",
            **kw: Any) -> dict[str, Any]:
    """One warning-level defect: still valid; errors of the same families must not appear."""
    kw.setdefault("max_severity", "warning")
    return _exp(True, doc_type, level, indicator, rules=(rule,), absent=CLEAN, **kw)


def _ldl(*rules: str, absent: tuple[str, ...] = ("XSD001",), **kw: Any) -> dict[str, Any]:
    """A one-defect LDL-SES N1: an error that blocks DS 1.1."""
    return _exp(False, "LDL-SES", "N1", "none", rules=rules,
                absent=absent + ("PRS002", "INT001"), **kw)


def _bio(*rules: str, doc_type: str = "CR-BIO", **kw: Any) -> dict[str, Any]:
    kw.setdefault("absent", ("XSD001", "PRS002", "INT001"))
    return _exp(False, doc_type, "N3", "none", rules=rules, **kw)


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
    "d2lm-n3": _valid("D2LM", "N3", "none", rules=("DOC006",)),
    "ordonnance-n1-hors-sejour": _valid("PRESCRIPTION", "N1", "none"),
    # INS
    "ins-key-wrong": _ldl("INS008"),
    "ins-no-birthplace": _ldl("INS009"),
    "ins-sex-un": _ldl("INS010"),
    "ins-two": _ldl("INS005"),
    "ins-nullflavor": _ldl("INS006", sch=hdr("hdr-patient-id-attributes")),
    "ins-nss-oid": _ldl("INS002"),
    "ins-production-oid": _valid("LDL-SES", "N1", "DS 1.1"),
    "ins-test-oid-in-production": _ldl("INS004"),
    "ins-absent": _warned("LDL-SES", "none", "INS001"),
    "ins-c-obsolete": _warned("LDL-SES", "DS 1.1", "INS003"),
    "ins-malformed": _ldl("INS007"),
    "ins-sex-contradicts-nir": _warned("LDL-SES", "DS 1.1", "INS011"),
    "ins-birth-contradicts-nir": _warned("LDL-SES", "DS 1.1", "INS012"),
    # body / level
    "n1-four-templateids": _ldl("BDY012", sch=hdr("hdr-n1-three-tpl")),
    "n1-no-xds-sd-template": _ldl("BDY011", sch=hdr("hdr-n1-xds-sd", "hdr-tpl-model")),
    "n1-base64-broken": _ldl("BDY007"),
    "n1-not-pdf": _ldl("BDY008"),
    "n1-mediatype-jpeg": _warned("CR-IMG", "DS 3.1", "BDY004"),
    "n1-representation-txt": _ldl("BDY005"),
    "n1-mediatype-missing": _ldl("BDY003"),
    "n1-payload-reference": _ldl("BDY006"),
    "n1-pdf-encrypted": _ldl("BDY009"),
    "n1-pdf-no-page": _ldl("BDY010"),
    "body-missing": _exp(False, "LDL-SES", "unknown", "none", rules=("BDY001", "XSD001"),
                         sch=hdr("hdr-body")),
    "body-both-kinds": _exp(False, "LDL-SES", "unknown", "none", rules=("BDY002", "XSD001"),
                            sch=hdr("hdr-body")),
    "n3-no-entry": _bio("BDY015", "DOC005", sch=bio("bio-lab-entry")
                        + ("SCH/pdf-copy/pdf-section-entry",)),
    "n3-declares-xds-sd": _bio("BDY013"),
    "n3-section-template-on-entry": _bio("BDY016"),
    "n3-no-section": _bio("BDY014", "XSD001", absent=("PRS002", "INT001"),
                          sch=bio("bio-specialty-section", "bio-pdf-copy")),
    # document type
    "document-code-nullflavor": _exp(False, "UNKNOWN", "N1", "none", rules=("DOC001",),
                                     absent=("XSD001", "INT001"), sch=hdr("hdr-code")),
    "document-code-not-loinc": _warned("LDL-SES", "DS 1.1", "DOC008", sch=hdr("hdr-code-system")),
    "cr-bio-code-not-loinc": _bio("DOC002", sch=hdr("hdr-code-system")),
    "model-template-code-mismatch": _bio("DOC003", doc_type="LDL-SES"),
    "segur-code-other-model": _bio("DOC007"),
    "cr-bio-n3-no-xdlab-template": _bio("DOC004", sch=bio("bio-template-xd-lab")),
    "cr-bio-n3-no-lab-result": _bio("DOC005", absent=("XSD001", "BDY015", "INT001"),
                                    sch=bio("bio-lab-entry")),
    # header (asserts of our header pack)
    "realm-code-missing": _ldl(sch=hdr("hdr-realm-code")),
    "type-id-wrong": _ldl(sch=hdr("hdr-type-id")),
    "language-code-fr": _ldl(sch=hdr("hdr-language-format")),
    "confidentiality-code-masque": _ldl(sch=hdr("hdr-confidentiality-value")),
    "effective-time-no-offset": _exp(True, "LDL-SES", "N1", "DS 1.1",
                                     sch=hdr("hdr-effective-time-offset"),
                                     absent=CLEAN, max_severity="warning"),
    "set-id-missing": _ldl(sch=hdr("hdr-set-id")),
    "custodian-root-wrong": _ldl(sch=hdr("hdr-custodian-root")),
    "legal-authenticator-missing": _ldl(sch=hdr("hdr-legal-authenticator")),
    "gender-code-u": _ldl("INS010", sch=hdr("hdr-patient-gender")),
    "family-no-qualifier": _ldl("INS009", sch=hdr("hdr-family-qualifier")),
    # inputs
    "not-xml": _exp(False, "UNKNOWN", "unknown", "none", rules=("PRS002",)),
    "truncated": _exp(False, "UNKNOWN", "unknown", "none", rules=("PRS002",)),
    "empty": _exp(False, "UNKNOWN", "unknown", "none", rules=("PRS001",)),
    "xxe": _exp(False, "LDL-SES", "N1", "none", rules=("PRS004",),
                absent=("PRS002", "INT001", "INT103")),
    # libxml2 refuses the nested entities even unexpanded (amplification guard), so the
    # document may not be parsed at all; the DOCTYPE must be reported in any case.
    "billion-laughs": _exp(False, "UNKNOWN", "unknown", "none", rules=("PRS004",),
                           absent=("INT001",)),
    "utf8-bom": _exp(True, "LDL-SES", "N1", "DS 1.1", rules=("PRS006",),
                     absent=tuple(r for r in CLEAN if r != "PRS006"), max_severity="warning"),
    "latin1": _exp(False, "LDL-SES", "N1", "none", rules=("PRS005",),
                   absent=("PRS002", "XSD001", "INT001")),
}
