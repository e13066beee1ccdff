"""The official kit examples are classified as the table below says (cisis-facts §F, §B.4).

The table is the expected verdict under ``--env test`` (every kit example uses the test INS
root .10, except a few production-root ones, §B.1). Documents not listed feed no indicator.
The kit is read from CDACHECK_KIT; nothing is copied into the project.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from cdacheck.config import Settings
from cdacheck.model import DocumentReport

pytestmark = pytest.mark.kit

BIO_N3 = [
    "BIO-CR-BIO_2021.01_Auto-Presentable.xml",
    "BIO-CR-BIO_2021.01_Auto-Presentable_avec-image.xml",
    "BIO-CR-BIO_2021.01_CR-2nde-intention.xml",
    "BIO-CR-BIO_2021.01_Electrophorese.xml",
    "BIO-CR-BIO_2021.01_Microbiologie_V1.xml",
    "BIO-CR-BIO_2021.01_Microbiologie_V2.xml",
    "BIO-CR-BIO_2023.01_Electrophorese.xml",
    "BIO-CR-BIO_2024.01_CR-2nde-intention-PDF.xml",
    "BIO-CR-BIO_2024.01_CRP_non_LOINC.xml",
    "BIO-CR-BIO_2024.01_DEP-CCU-HPV-structuré-CYTO-pdf.xml.xml",
    "BIO-CR-BIO_2024.01_DEP-CCU-tout-structuré.xml",
    "BIO-CR-BIO_2024.01_Electrophorese.xml",
    "BIO-CR-BIO_2024.01_Glycémie deux unités principales_mole_masse.xml",
    "BIO-CR-BIO_2024.01_Glycémie mole.xml",
    "BIO-CR-BIO_2024.01_Microbiologie_V1.xml",
    "BIO-CR-BIO_2024.01_Microbiologie_V2.xml",
    "BIO-CR-BIO_2024.01_TSH_1.xml",
    "BIO-CR-BIO_2024.01_TSH_2.xml",
]
PRESCRIPTIONS = [f"eP-MED-DM_{v}_{p}.xml" for v in ("2022.01", "2023.01", "2024.01")
                 for p in ("PosoNonStruct", "PosoStruct")]

# file -> (indicator, candidate, level, doc_type) under --env test.
EXPECTED: dict[str, tuple[str, str, str, str]] = {
    "LDL-SES_2022.01.xml": ("DS 1.1", "DS 1.1", "N3", "LDL-SES"),        # N3 counts (policy default)
    "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml": ("DS 3.1", "DS 3.1", "N1", "CR-IMG"),
    "IMG_CR_IMG_2024.01.xml": ("DS 3.1", "DS 3.1", "N3", "CR-IMG"),     # N3 counts (policy default)
    **{f: ("DS 2.1", "DS 2.1", "N3", "CR-BIO") for f in BIO_N3},
    # biology in N1: never DS 2.1
    "BIO-CR-BIO_2021.01_CDA-R2-Niveau-1.xml": ("none", "DS 2.1", "N1", "CR-BIO"),
    "DOC_NON_STRUCTURE_CDA-R2-N1.xml": ("none", "DS 2.1", "N1", "CR-BIO"),
    # prescriptions in an ambulatory (AMB) encounter: "de sortie" cannot be inferred
    **{f: ("none", "DS 1.2", "N3", "PRESCRIPTION") for f in PRESCRIPTIONS},
    # traps (§D, §H): not the tracked types
    "LDL-EES_2022.01.xml": ("none", "none", "N3", "LDL-EES"),
    "ANEST-CR-ANEST_2022.01.xml": ("none", "none", "N3", "CR-ANEST"),
    "CANCER-D2LM-FIN_2022.01.xml": ("none", "none", "N3", "D2LM"),
    "CANCER-D2LM-FIDD_2022.01.xml": ("none", "none", "N3", "D2LM"),
    **{f"BIO-TROD_2024.01_{n}.xml": ("none", "none", "N3", "BIO-TROD")
       for n in ("Angine", "COVID-19", "COVID-19_Grippe-A_Grippe-B", "Cystite")},
    "TLM-CR_2022.01.xml": ("none", "none", "N1", "OTHER"),
    "eDISP-MED_2024.01.xml": ("none", "none", "N3", "OTHER"),
}

# Examples whose INS key is wrong (§B.4): they feed nothing and say why.
WRONG_KEY = [
    "CSE-CS24_2024.01.xml", "CSE-CS24_2025.01.xml", "CSE-CS8_2024.01.xml", "CSE-CS8_2025.01.xml",
    "CSE-CS9_2024.01.xml", "CSE-CS9_2025.01.xml", "CSE-MDE_2023.01.xml", "OBP-SEM_2024.01.xml",
    "OBP-SNE_2024.01.xml", "SDM-MR_2024.01_nouveau-ne.xml",
]


def check_document(data: bytes, source: str, settings: Settings) -> DocumentReport:
    """The lead's pipeline entry point for one document."""
    pipeline = importlib.import_module("cdacheck.pipeline")
    if hasattr(pipeline, "check_bytes"):
        report: DocumentReport = pipeline.check_bytes(data, source, settings)
        return report
    return pipeline.Runner(settings).check_document(data, source)[0]  # type: ignore[no-any-return]


# Our own Python rules only: the verdict must not depend on which XSD/schematron is installed.
PYTHON_ONLY = {"skip_xsd": True, "skip_schematron": True}


@pytest.fixture(scope="module", params=["python-only", "all-engines"])
def reports(kit_dir: Path, request: pytest.FixtureRequest) -> dict[str, DocumentReport]:
    """Every kit example checked once per mode: our Python rules only, then every engine."""
    overrides = PYTHON_ONLY if request.param == "python-only" else {}
    settings = Settings(env="test", **overrides)
    if request.param == "all-engines":
        runner = importlib.import_module("cdacheck.pipeline").Runner(settings)
        if runner.unavailable:
            pytest.skip(f"engines not available in this installation: {runner.unavailable}")
    files = sorted((kit_dir / "ExemplesCDA").glob("*.xml"))
    return {f.name: check_document(f.read_bytes(), f.name, settings) for f in files}


def test_table_names_real_kit_files(reports: dict[str, DocumentReport]) -> None:
    missing = sorted(set(EXPECTED) - set(reports)) + sorted(set(WRONG_KEY) - set(reports))
    assert missing == []
    assert len(reports) >= 90


def test_kit_classification_table(reports: dict[str, DocumentReport]) -> None:
    wrong = {}
    for name, report in reports.items():
        want = EXPECTED.get(name, ("none", report.indicator.candidate, report.level, report.doc_type))
        got = (report.indicator.indicator, report.indicator.candidate, report.level, report.doc_type)
        if got != want:
            wrong[name] = (got, want, report.indicator.reasons)
    assert wrong == {}


@pytest.mark.parametrize("name", WRONG_KEY)
def test_wrong_ins_key_feeds_none_and_says_why(reports: dict[str, DocumentReport], name: str) -> None:
    result = reports[name].indicator
    assert result.indicator == "none"
    assert "INS008" in result.blocking_rules
    assert any(r.startswith("INS008") and "Clé de l'INS" in r for r in result.reasons)


def test_biology_n1_says_n1_does_not_count(reports: dict[str, DocumentReport]) -> None:
    reasons = reports["BIO-CR-BIO_2021.01_CDA-R2-Niveau-1.xml"].indicator.reasons
    assert any("N1 ne compte pas pour DS 2.1" in r for r in reasons)


def test_prescriptions_say_discharge_not_inferable(reports: dict[str, DocumentReport]) -> None:
    for name in PRESCRIPTIONS:
        assert any("rencontre AMB" in r for r in reports[name].indicator.reasons), name


def test_d2lm_says_it_reuses_the_imaging_code(reports: dict[str, DocumentReport]) -> None:
    reasons = reports["CANCER-D2LM-FIN_2022.01.xml"].indicator.reasons
    assert any("18748-4" in r and "D2LM" in r for r in reasons)


def test_reports_carry_stay_and_version(reports: dict[str, DocumentReport]) -> None:
    img = reports["IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"].indicator
    assert (img.set_id, img.version) == ("1.2.250.1.213.1.1.1.45.2024.2", "2")
    assert img.stay_key.source == "fallback"
    assert img.policy["env"] == "test"


def test_production_env_refuses_every_test_identity(kit_dir: Path) -> None:
    settings = Settings(env="production", **PYTHON_ONLY)
    for name in ("IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml", "LDL-SES_2022.01.xml", BIO_N3[-1]):
        report = check_document((kit_dir / "ExemplesCDA" / name).read_bytes(), name, settings)
        assert report.indicator.indicator == "none", name
        assert "INS004" in report.indicator.blocking_rules
