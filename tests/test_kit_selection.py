"""Kit mode chooses what the official pipeline would run (issue 16, item 1).

The volet is the one the document declares (model templateId and the version it carries),
whatever its code says; without a version the kit has, the version its
``<?oxygen SCHSchema?>`` names, else the newest, with an INT104 finding; never the version
with the fewest errors. Documents are variants of kit examples made at test time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cdacheck.config import Settings
from cdacheck.detect import detect
from cdacheck.engines.schematron import KitEngine, compile_schematron
from cdacheck.facts import extract_facts
from cdacheck.inputs.xml import parse_document

pytestmark = pytest.mark.kit

BIO = "1.2.250.1.213.1.1.1.55"


@pytest.fixture(scope="module")
def engine(kit_dir: Path) -> KitEngine:
    return KitEngine(Settings(), kit_dir)


def variant(kit_dir: Path, example: str, *edits: tuple[str, str]) -> object:
    text = (kit_dir / "ExemplesCDA" / example).read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    doc, _ = parse_document(text.encode("utf-8"), f"variant-{example}")
    assert doc is not None
    return doc


def chosen(engine: KitEngine, doc: object) -> tuple[list[str], str]:
    facts = extract_facts(doc)
    paths, why = engine.select(facts, detect(facts), doc)
    return [p.stem for p in paths[5:]], why


def test_declared_version_is_applied_even_when_the_pi_names_another(engine: KitEngine, kit_dir: Path) -> None:
    # TSH_1 names BIO-CR-BIO 2024.01 in its PI; its templateId now declares 2021.01.
    doc = variant(kit_dir, "BIO-CR-BIO_2024.01_TSH_1.xml",
                  (f'<templateId root="{BIO}"/>', f'<templateId root="{BIO}" extension="2021.01"/>'))
    volet, why = chosen(engine, doc)
    assert volet == ["CI-SIS_BIO-CR-BIO_2021.01"], why


def test_declared_version_wins_over_the_fewest_errors(engine: KitEngine, kit_dir: Path) -> None:
    # A 2024.01 report declared 2024.01 stays on 2024.01 without any version scoring,
    # also when its PI points at 2021.01 (older volet, fewer requirements).
    doc = variant(kit_dir, "BIO-CR-BIO_2024.01_CR-2nde-intention-PDF.xml",
                  ("CI-SIS_BIO-CR-BIO_2024.01.sch", "CI-SIS_BIO-CR-BIO_2021.01.sch"))
    assert chosen(engine, doc)[0] == ["CI-SIS_BIO-CR-BIO_2024.01"]


def test_code_pointing_elsewhere_does_not_change_the_volet(engine: KitEngine, kit_dir: Path) -> None:
    # An LDL-SES document whose code is TLM-CR's (85208-7): the templateId decides.
    text = (kit_dir / "ExemplesCDA" / "LDL-SES_2022.01.xml").read_text(encoding="utf-8")
    import re

    code = re.search(r'<code code="([^"]+)"', text)
    assert code is not None
    doc = variant(kit_dir, "LDL-SES_2022.01.xml", (code.group(0), '<code code="85208-7"'))
    assert chosen(engine, doc)[0] == ["CI-SIS_LDL-SES_2022.01"]


def test_undeclared_version_uses_the_pi_then_the_newest(engine: KitEngine, kit_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    doc = variant(kit_dir, "BIO-CR-BIO_2024.01_TSH_1.xml",
                  ("CI-SIS_BIO-CR-BIO_2024.01.sch", "CI-SIS_BIO-CR-BIO_2023.01.sch"))
    volet, why = chosen(engine, doc)
    assert volet == ["CI-SIS_BIO-CR-BIO_2023.01"] and "oxygen" in why
    bare = variant(kit_dir, "BIO-CR-BIO_2024.01_TSH_1.xml",
                   ('<?oxygen SCHSchema="../schematrons/CI-SIS_BIO-CR-BIO_2024.01.sch"?>', ""))
    volet, why = chosen(engine, bare)
    newest = max(engine.volets["BIO-CR-BIO"])
    assert volet == [f"CI-SIS_BIO-CR-BIO_{newest}"] and "plus récente" in why
    # run(): one INT104 naming the volet applied; only that version runs (no scoring).
    ran: list[str] = []
    monkeypatch.setattr(engine, "_run_set", lambda path, d: ran.append(path.stem) or [])
    facts = extract_facts(doc)
    hits = list(engine.run(doc, facts, detect(facts)))
    assert [h.rule_id for h in hits] == ["INT104"]
    assert hits[0].params["volet"] == "CI-SIS_BIO-CR-BIO_2023.01"
    assert [s for s in ran if "BIO-CR-BIO" in s] == ["CI-SIS_BIO-CR-BIO_2023.01"]
    assert engine.last_applied[-1] == "CI-SIS_BIO-CR-BIO_2023.01"


def test_declared_version_gets_no_int104(engine: KitEngine, kit_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    doc = variant(kit_dir, "LDL-SES_2022.01.xml")
    monkeypatch.setattr(engine, "_run_set", lambda path, d: [])
    facts = extract_facts(doc)
    assert list(engine.run(doc, facts, detect(facts))) == []


def test_value_set_case_bridge_and_missing_value_sets(engine: KitEngine, kit_dir: Path) -> None:
    cs8 = compile_schematron(kit_dir / "schematrons" / "CI-SIS_CSE-CS8_2022.01.sch")
    bridged = [d for d in cs8.defects if d.kind == "case-bridged-value-set"]
    assert bridged and "JDV_HL7_Condition_ver_status_CISIS.xml" in bridged[0].detail
    assert not any("Condition_ver_status" in m for m in cs8.missing_docs)
    state = engine._compiled(kit_dir / "schematrons" / "CI-SIS_CANCER-D2LM-FIN_2022.01.sch")
    assert state.compiled is not None
    defects = [v for k, v in engine.describe().items() if k.startswith("defect_")]
    assert any(d.startswith("value-set-missing:") and "JDV_BilanDiagnostic_CISIS.xml" in d for d in defects)


def test_saxon_error_text_never_reaches_stderr(tmp_path: Path) -> None:
    # A schematron whose doc() fails at run time and one that does not compile:
    # cdacheck raises/report; Saxon's own text stays off standard error.
    (tmp_path / "dyn.sch").write_text(textwrap.dedent("""\
        <schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
          <pattern><rule context="/*"><assert test="doc('absent-vs.xml')">x</assert></rule></pattern>
        </schema>"""), encoding="utf-8")
    (tmp_path / "bad.sch").write_text(textwrap.dedent("""\
        <schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
          <pattern><rule context="/*"><assert test="$undefined">x</assert></rule></pattern>
        </schema>"""), encoding="utf-8")
    script = textwrap.dedent(f"""\
        from pathlib import Path
        from cdacheck.engines.schematron import compile_schematron, SchematronError
        from cdacheck.engines.schematron.runner import processor
        c = compile_schematron(Path({str(tmp_path / 'dyn.sch')!r}))
        try:
            c.run_svrl_node(processor().parse_xml(xml_text="<a/>"))
        except Exception as exc:
            print("run-error", "FODC0002" in str(exc) or "absent-vs" in str(exc))
        try:
            compile_schematron(Path({str(tmp_path / 'bad.sch')!r}))
        except SchematronError as exc:
            print("compile-error")
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert "run-error True" in proc.stdout and "compile-error" in proc.stdout, proc.stdout + proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


def test_report_names_the_kit_and_the_schematrons_run(kit_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 16 item 6: the run's kit section and, per document, the kit and the
    # schematrons applied. Running them is tested in test_kit_mode; skipped here.
    import cdacheck

    monkeypatch.setattr(KitEngine, "_run_set", lambda self, path, d: [])
    doc = variant(kit_dir, "BIO-CR-BIO_2024.01_TSH_1.xml")
    target = tmp_path / "tsh.xml"
    target.write_bytes(doc.data)
    report = cdacheck.check(target, kit=kit_dir)
    assert report.kit is not None and report.kit["kit_version"]
    (d,) = report.documents()
    assert d.kit is not None and d.kit.startswith(report.kit["kit_name"]) and report.kit["kit_version"] in d.kit
    assert d.schematrons[0] == "schematrons/profils/IHE.sch"
    assert len(d.schematrons) == 6 and d.schematrons[-1] == "schematrons/CI-SIS_BIO-CR-BIO_2024.01.sch"
    assert "schematrons" in report.model_dump(mode="json")["items"][0]
    default = cdacheck.check(target)
    assert default.documents()[0].kit is None and default.documents()[0].schematrons == []
