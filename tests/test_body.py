"""BDY family: N1 body (media type, base64, PDF, three templateIds) and N3 body."""

from __future__ import annotations

import base64
import io

import pytest
from cda_builder import minimal_cda
from pypdf import PdfWriter

from cdacheck.checks import CheckContext, body
from cdacheck.config import Settings
from cdacheck.detect import detect
from cdacheck.facts import extract_facts
from cdacheck.inputs.xml import parse_document
from cdacheck.registry import REGISTRY

N1_BODY = '<component><nonXMLBody><text mediaType="text/plain" representation="B64">Qm9uam91cg==</text></nonXMLBody></component>'
XDS_SD = '<templateId root="1.3.6.1.4.1.19376.1.2.20"/>'


def rule_ids(xml: str) -> list[str]:
    doc, _ = parse_document(xml.encode(), "t.xml")
    assert doc is not None
    facts = extract_facts(doc)
    ctx = CheckContext(doc=doc, facts=facts, detection=detect(facts), settings=Settings(env="test"))
    hits = list(body.check_body(ctx))
    for h in hits:
        assert REGISTRY.get(h.rule_id) is not None
        assert h.location.line is not None, h
    return [h.rule_id for h in hits]


def pdf(pages: int = 1, encrypt: bool = False) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    if encrypt:
        writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def n1(payload: bytes | str, media: str | None = "application/pdf", repr_: str | None = "B64",
       extra: str = "") -> str:
    text = payload if isinstance(payload, str) else base64.encodebytes(payload).decode()
    attrs = (f' mediaType="{media}"' if media else "") + (f' representation="{repr_}"' if repr_ else "")
    return minimal_cda().replace(N1_BODY, f"<component><nonXMLBody><text{attrs}{extra}>{text}</text></nonXMLBody></component>")


def n3(inner: str, templates: str = "") -> str:
    xml = minimal_cda().replace(N1_BODY, f"<component><structuredBody>{inner}</structuredBody></component>")
    return xml.replace(XDS_SD, templates)


SECTION_WITH_ENTRY = ('<component><section><templateId root="1.2.3"/><code code="x"/><title>t</title>'
                      '<text>t</text><entry><observation classCode="OBS" moodCode="EVN"><templateId root="1.2.4"/>'
                      '<code code="y"/></observation></entry></section></component>')
SECTION_NO_ENTRY = '<component><section><code code="x"/><title>t</title><text>t</text></section></component>'
MODEL_TEMPLATE = '<templateId root="1.2.250.1.213.1.1.1.29"/>'


def test_n1_text_plain_is_clean() -> None:
    assert rule_ids(minimal_cda()) == []


def test_n1_real_pdf_is_clean() -> None:
    assert rule_ids(n1(pdf())) == []


def test_bdy001_no_body() -> None:
    assert rule_ids(minimal_cda().replace(N1_BODY, "<component/>")) == ["BDY001"]


def test_bdy002_both_bodies() -> None:
    both = N1_BODY.replace("</component>", "") + f"<structuredBody>{SECTION_WITH_ENTRY}</structuredBody></component>"
    assert rule_ids(minimal_cda().replace(N1_BODY, both)) == ["BDY002"]


@pytest.mark.parametrize("media", ["text/html", "application/msword", None])
def test_bdy003_media_type(media: str | None) -> None:
    assert rule_ids(n1(b"Bonjour", media=media)) == ["BDY003"]


@pytest.mark.parametrize("media", ["text/rtf", "image/jpeg", "image/tiff"])
def test_bdy004_legacy_media_type_is_a_warning(media: str) -> None:
    assert rule_ids(n1(b"\xff\xd8\xff", media=media)) == ["BDY004"]
    assert REGISTRY.get("BDY004").severity == "warning"


@pytest.mark.parametrize("repr_", ["TXT", None])
def test_bdy005_representation(repr_: str | None) -> None:
    assert rule_ids(n1("Bonjour", media="text/plain", repr_=repr_)) == ["BDY005"]


@pytest.mark.parametrize(("payload", "extra"), [
    ("", ""),
    ("   \n  ", ""),
    ("", ' nullFlavor="NA"'),
    ('<reference value="doc.pdf"/>', ""),
])
def test_bdy006_payload_missing(payload: str, extra: str) -> None:
    assert rule_ids(n1(payload, extra=extra)) == ["BDY006"]


@pytest.mark.parametrize("payload", ["Qm9uam91cg=", "Qm9u*jour", "éé=="])
def test_bdy007_base64_invalid(payload: str) -> None:
    assert rule_ids(n1(payload, media="text/plain")) == ["BDY007"]


def test_base64_with_line_breaks_and_comments_decodes() -> None:
    text = base64.encodebytes(pdf()).decode()
    wrapped = text[:20] + "<!-- coupure -->" + text[20:]
    assert rule_ids(n1(wrapped)) == []


@pytest.mark.parametrize("payload", [b"Bonjour, pas un PDF", b"%PDF-1.4\ngarbage", pdf()[:200]])
def test_bdy008_pdf_invalid(payload: bytes) -> None:
    assert rule_ids(n1(payload)) == ["BDY008"]


def test_bdy009_pdf_encrypted() -> None:
    assert rule_ids(n1(pdf(encrypt=True))) == ["BDY009"]


def test_bdy010_pdf_without_page() -> None:
    assert rule_ids(n1(pdf(pages=0))) == ["BDY010"]


def test_bdy011_and_bdy012_xds_sd_template_missing() -> None:
    xml = minimal_cda().replace(XDS_SD, "")
    assert rule_ids(xml) == ["BDY011", "BDY012"]


def test_bdy012_volet_template_kept_in_n1() -> None:
    xml = minimal_cda().replace(XDS_SD, XDS_SD + MODEL_TEMPLATE)
    assert rule_ids(xml) == ["BDY012"]


def test_bdy012_duplicated_template() -> None:
    xml = minimal_cda().replace(XDS_SD, XDS_SD + XDS_SD)
    assert rule_ids(xml) == ["BDY012"]


def test_n3_with_entries_is_clean() -> None:
    assert rule_ids(n3(SECTION_WITH_ENTRY, MODEL_TEMPLATE)) == []


def test_bdy013_n3_claiming_xds_sd() -> None:
    assert rule_ids(n3(SECTION_WITH_ENTRY, XDS_SD)) == ["BDY013"]


def test_bdy014_n3_without_section() -> None:
    assert rule_ids(n3("", MODEL_TEMPLATE)) == ["BDY014"]


def test_bdy015_n3_without_entry_is_a_warning() -> None:
    assert rule_ids(n3(SECTION_NO_ENTRY, MODEL_TEMPLATE)) == ["BDY015"]
    assert REGISTRY.get("BDY015").severity == "warning"


def test_bdy_rules_are_declared_with_a_source() -> None:
    specs = [r for r in REGISTRY if r.family == "BDY"]
    assert len(specs) == 16
    assert all(r.source.startswith(("cisis-facts", "CI-SIS")) for r in specs)


ALLERGIES = "1.3.6.1.4.1.19376.1.5.3.1.3.13"   # a section template (IHE S_allergies...)
PROBLEM = "1.3.6.1.4.1.19376.1.5.3.1.4.5"      # an observation template (IHE E_problemEntry)
CONCERN = "1.3.6.1.4.1.19376.1.5.3.1.4.5.1"    # the concern entry: its parent holds an act


def _section(entry_tid: str = "", obs_tid: str = PROBLEM, section_tid: str = ALLERGIES,
             obs: str = "observation") -> str:
    return (f'<component><section><templateId root="{section_tid}"/><code code="x"/><title>t</title>'
            f'<text>t</text><entry>{entry_tid}<{obs} classCode="OBS" moodCode="EVN">'
            f'<templateId root="{obs_tid}"/><code code="y"/></{obs}></entry></section></component>')


def test_bdy016_templates_in_their_place_are_clean() -> None:
    assert "BDY016" not in rule_ids(n3(_section()))


def test_bdy016_section_template_on_an_entry() -> None:
    ids = rule_ids(n3(_section(entry_tid=f'<templateId root="{ALLERGIES}"/>')))
    assert ids.count("BDY016") == 1


def test_bdy016_observation_template_on_another_element() -> None:
    assert rule_ids(n3(_section(obs="act"))).count("BDY016") == 1


def test_bdy016_parent_must_hold_an_act() -> None:
    assert rule_ids(n3(_section(obs_tid=CONCERN))).count("BDY016") == 1  # its entry holds no act
    assert "BDY016" not in rule_ids(n3(_section(obs_tid=CONCERN, obs="act")))


def test_bdy016_unless_another_template_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {"9.9": {"parent_has": "act", "unless": ["9.8"], "sources": ["IHE"]}}
    monkeypatch.setattr(body, "_placements_plan", lambda: body.placement_plan(table))
    assert rule_ids(n3(_section(obs_tid="9.9"))).count("BDY016") == 1
    both = _section(obs_tid="9.9").replace('<templateId root="9.9"/>',
                                           '<templateId root="9.9"/><templateId root="9.8"/>')
    assert "BDY016" not in rule_ids(n3(both))


def test_bdy016_message_names_element_template_and_expectation() -> None:
    from cdacheck import check

    xml = n3(_section(entry_tid=f'<templateId root="{ALLERGIES}"/>'))
    report = check(xml.encode(), settings=Settings(env="test"))
    msgs = [f.message for item in report.items for f in item.findings if f.rule_id == "BDY016"]
    assert len(msgs) == 1
    assert "entry" in msgs[0] and ALLERGIES in msgs[0] and "section" in msgs[0], msgs[0]


def test_bdy016_table_matches_the_kit(kit_dir) -> None:  # noqa: ANN001 - the conftest fixture
    import subprocess
    import sys
    from pathlib import Path

    kit = kit_dir
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, str(root / "scripts" / "gen_template_placement.py"),
                           "--kit", str(kit), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
