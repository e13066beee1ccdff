"""METADATA.XML rules and metadata-vs-CDA cross-checks, one defect at a time.

Archives are built with scripts/samples_xdm.py from the sample documents of
scripts/make_samples.py; the document validation is replaced by a small fake that only
extracts the header facts, so these tests exercise the XDM checks alone.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdacheck.checks.xdm import check_archive
from cdacheck.checks.xdm_ebrim import RegistryObject
from cdacheck.checks.xdm_members import check_bytes
from cdacheck.config import Settings, XdmLimits
from cdacheck.detect import detect
from cdacheck.facts import extract_facts
from cdacheck.inputs.xdm import open_archive
from cdacheck.inputs.xml import parse_document
from cdacheck.model import DocumentReport, Hit, Location

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import make_samples  # noqa: E402
import samples_lib  # noqa: E402
import samples_xdm as X  # noqa: E402

LDL = samples_lib.serialize(samples_lib.build_cda(make_samples.LDL_SES))
BIO = samples_lib.serialize(samples_lib.build_cda(make_samples.CR_BIO))
META = "IHE_XDM/SUBSET01/METADATA.XML"
DOC = "IHE_XDM/SUBSET01/DOC0001.XML"


def fake_check(data: bytes, source: str, member: str):  # type: ignore[no-untyped-def]
    doc, _hits = parse_document(data, source, member)
    if doc is None:
        return DocumentReport(source=source, member=member, valid=False), None, None
    facts = extract_facts(doc)
    det = detect(facts)
    report = DocumentReport(source=source, member=member, valid=True, doc_type=det.doc_type,
                            level=det.level, facts=facts)
    return report, facts, doc


def files_for(docs: list[bytes], twins: bool = False, **archive: object) -> list[tuple[str, bytes]]:
    entries = X._entries([(f"d{i}", d) for i, d in enumerate(docs)], twins=twins)
    captured: list[tuple[str, bytes]] = []

    def keep(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        captured.extend(files)
        return files
    X.archive_bytes(X.Archive(entries, "t", after=keep, **archive))  # type: ignore[arg-type]
    return captured


def run(files: list[tuple[str, bytes]], strict: bool = False,
        meta: Callable[[str], str] | None = None) -> tuple[list[Hit], list[DocumentReport]]:
    if meta is not None:
        files = [(n, meta(d.decode()).encode() if n == META else d) for n, d in files]
    archive = open_archive(X.zip_bytes(files), "t.zip", XdmLimits(), strict=strict)
    return check_archive(archive, Settings(strict=strict), fake_check)


def ids(hits: list[Hit]) -> list[str]:
    return sorted(h.rule_id for h in hits)


def serious(hits: list[Hit]) -> list[str]:
    """Rule ids of hits at warning or above (the registry decides severities)."""
    from cdacheck.model import Severity
    from cdacheck.registry import REGISTRY
    return sorted(h.rule_id for h in hits
                  if REGISTRY.get(h.rule_id).severity.at_least(Severity.WARNING))  # type: ignore[union-attr]


def test_valid_archive_has_no_finding() -> None:
    hits, docs = run(files_for([LDL]))
    assert ids(hits) == []
    assert [d.member for d in docs] == [DOC]


def test_valid_n3_and_pdf_twin() -> None:
    hits, docs = run(files_for([LDL], twins=True))
    assert ids(hits) == []
    assert len(docs) == 1  # the PDF twin is a member, not a CDA
    hits, docs = run(files_for([BIO]))
    assert ids(hits) == [] and docs[0].level == "N3"


def sub(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, count)
    return mutate


ldl_fmt = "urn:ihe:iti:xds-sd:pdf:2008"
CASES: list[tuple[str, Callable[[str], str], list[str]]] = [
    ("root", lambda t: t.replace("lcm:SubmitObjectsRequest", "lcm:Other"), ["XDM030"]),
    ("no-ss-node", sub("urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd", "urn:uuid:0"),
     ["XDM031"]),
    ("missing-language", sub('<rim:Slot name="languageCode">', '<rim:Slot name="x-lang">'),
     ["XDM033"]),
    ("missing-stop", sub('<rim:Slot name="serviceStopTime">', '<rim:Slot name="x-stop">'), []),
    ("object-type", sub("urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1", "urn:uuid:0"),
     ["XDM035"]),
    ("unknown-scheme", sub("urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead", "urn:uuid:1"),
     ["XDM033", "XDM036"]),
    ("class-not-j06", sub('nodeRepresentation="10"', 'nodeRepresentation="77"'),
     ["XDM037", "XDM041"]),
    ("class-vs-type", sub('nodeRepresentation="10"', 'nodeRepresentation="11"'), ["XDM041"]),
    ("format-mime", sub(f'nodeRepresentation="{ldl_fmt}"', 'nodeRepresentation="application/pdf"'),
     ["XDM040", "XDM074"]),
    ("format-retired", sub(f'nodeRepresentation="{ldl_fmt}"',
                           'nodeRepresentation="urn:asip:ci-sis:crh:2009"'), ["XDM039", "XDM074"]),
    ("format-scheme", sub("<rim:Value>1.3.6.1.4.1.19376.1.2.3</rim:Value>",
                          "<rim:Value>1.2.250.1.213.1.1.4.12</rim:Value>"), ["XDM038"]),
    ("conf-first", sub('nodeRepresentation="N"', 'nodeRepresentation="MASQUE_PS"'),
     ["XDM043", "XDM076"]),
    ("cx-shape", sub("&amp;ISO^NH", "&amp;ISO^PI", 3), ["XDM044", "XDM044"]),
    ("not-ins", sub("&amp;1.2.250.1.213.1.4.10&amp;ISO^NH", "&amp;1.2.3.4&amp;ISO^NH", 3),
     ["XDM045", "XDM045", "XDM071"]),
    ("double-escaped", sub("&amp;1.2.250.1.213.1.4.10&amp;", "&amp;amp;1.2.250.1.213.1.4.10&amp;amp;", 3),
     ["XDM047", "XDM047"]),
    ("no-association", sub("AssociationType:HasMember", "AssociationType:Other"), ["XDM049"]),
    ("dangling", sub('targetObject="urn:uuid:', 'targetObject="urn:uuid:ff'), ["XDM049", "XDM050"]),
    ("bad-dtm", sub('<rim:Slot name="creationTime"><rim:ValueList><rim:Value>',
                    '<rim:Slot name="creationTime"><rim:ValueList><rim:Value>T'), ["XDM051"]),
    ("bad-hash", sub('<rim:Slot name="hash"><rim:ValueList><rim:Value>',
                     '<rim:Slot name="hash"><rim:ValueList><rim:Value>zz'), ["XDM053"]),
    ("uri-missing", sub("<rim:Value>DOC0001.XML</rim:Value>", "<rim:Value>NOPE.XML</rim:Value>"),
     ["XDM060"]),
    ("uri-unsafe", sub("<rim:Value>DOC0001.XML</rim:Value>",
                       "<rim:Value>../../DOC0001.XML</rim:Value>"), ["XDM067"]),
    ("mime", sub('mimeType="text/xml"', 'mimeType="application/octet-stream"'), ["XDM068"]),
    ("language", sub("<rim:Value>fr-FR</rim:Value>", "<rim:Value>en-US</rim:Value>"), ["XDM077"]),
    ("title", sub('LocalizedString value="Lettre de liaison', 'LocalizedString value="Autre titre'),
     ["XDM078"]),
    ("type", sub('nodeRepresentation="11490-0"', 'nodeRepresentation="34874-8"'), ["XDM072"]),
    ("facility", sub('nodeRepresentation="SA01"', 'nodeRepresentation="SA02"'), ["XDM080"]),
    ("practice", sub('nodeRepresentation="ETABLISSEMENT"', 'nodeRepresentation="HAD"'),
     ["XDM081"]),
    ("unique-id", lambda t: re.sub(r'(8640a32e42ab" registryObject="[^"]*" value=")', r"\g<1>9.", t),
     ["XDM070"]),
]


@pytest.mark.parametrize("name,mutate,expected", CASES, ids=[c[0] for c in CASES])
def test_one_metadata_defect(name: str, mutate: Callable[[str], str], expected: list[str]) -> None:
    hits, _docs = run(files_for([LDL]), meta=mutate)
    assert serious(hits) == sorted(expected), [(h.rule_id, h.params) for h in hits]


def test_r2_attribute_is_info() -> None:
    hits, _ = run(files_for([LDL]), meta=sub('<rim:Slot name="serviceStopTime">',
                                             '<rim:Slot name="x-stop">'))
    assert ids(hits) == ["XDM034"]
    assert hits[0].params["attribute"] == "serviceStopTime"


def test_mismatch_names_both_values() -> None:
    hits, _ = run(files_for([LDL]), meta=sub("<rim:Value>fr-FR</rim:Value>",
                                             "<rim:Value>en-US</rim:Value>"))
    (hit,) = hits
    assert hit.params["meta"] == "en-US" and hit.params["doc"] == "fr-FR"
    assert hit.location.member == META and hit.location.line


def test_creation_time_compared_in_utc() -> None:
    # The sample's effectiveTime is 14:30 at +01:00, i.e. 13:30 UTC.
    good, _ = run(files_for([LDL]))
    assert "XDM075" not in ids(good)
    hits, _ = run(files_for([LDL]), meta=sub("<rim:Value>20240315133000</rim:Value>",
                                             "<rim:Value>20240315143000</rim:Value>"))
    assert "XDM075" in ids(hits)


def test_layout_rules() -> None:
    files = [f for f in files_for([LDL]) if f[0] not in ("INDEX.HTM", "README.TXT")]
    files.append(("__MACOSX/._DOC0001.XML", b"junk"))
    files.append(("IHE_XDM/STRAY.TXT", b"x"))
    hits, _ = run(files)
    assert ids(hits) == ["XDM020", "XDM021", "XDM027", "XDM028"]


def test_missing_ihe_xdm_folder_still_checks_documents() -> None:
    files = [(n.replace("IHE_XDM/SUBSET01/", "DOCS/"), d) for n, d in files_for([LDL])]
    hits, docs = run(files)
    assert "XDM022" in ids(hits) and len(docs) == 1


def test_iso9660_naming_warning_or_strict_error() -> None:
    files = [(n.replace("SUBSET01", "subset_001"), d) for n, d in files_for([LDL])]
    lenient, _ = run(files)
    strict, _ = run(files, strict=True)
    assert set(ids(lenient)) == {"XDM025"} and set(ids(strict)) == {"XDM026"}


def test_metadata_missing_documents_still_validated() -> None:
    hits, docs = run(files_for([LDL], metadata=False))
    assert ids(hits) == ["XDM023"] and len(docs) == 1


def test_unparseable_metadata_uses_hardened_parser() -> None:
    xxe = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           '<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0">'
           '&e;</lcm:SubmitObjectsRequest>')
    hits, docs = run(files_for([LDL]), meta=lambda _t: xxe)
    assert "PRS004" in ids(hits) and "root:" not in str([h.params for h in hits])
    assert len(docs) == 1  # the CDA is validated even though no entry describes it


def test_several_patients() -> None:
    hits, docs = run(files_for([LDL, BIO]))
    assert "XDM048" in ids(hits) and len(docs) == 2


def test_pdf_twin_type_checked() -> None:
    files = files_for([LDL], twins=True)
    pdf = next(d for n, d in files if n.endswith(".PDF"))
    broken = pdf.replace(b"%PDF-", b"%XYZ-")
    digest = hashlib.sha1(broken).hexdigest()
    files = [(n, broken if n.endswith(".PDF") else d) for n, d in files]
    hits, _ = run(files, meta=lambda t: t.replace(hashlib.sha1(pdf).hexdigest(), digest))
    assert serious(hits) == ["XDM065"]


def test_unreferenced_member_is_info() -> None:
    files = files_for([LDL]) + [("IHE_XDM/SUBSET01/EXTRA.TXT", b"x")]
    hits, _ = run(files)
    assert ids(hits) == ["XDM066"]


def _entry(size: str, digest: str) -> RegistryObject:
    return RegistryObject(kind="DocumentEntry", id="e", line=1, mime_type="text/plain",
                          slots={"size": [size], "hash": [digest]})


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=4096), st.booleans())
def test_hash_and_size_arithmetic(data: bytes, upper: bool) -> None:
    digest = hashlib.sha1(data).hexdigest()
    digest = digest.upper() if upper else digest
    where = Location(file="x")
    assert list(check_bytes(_entry(str(len(data)), digest), "M", data, where)) == []
    wrong = list(check_bytes(_entry(str(len(data) + 1), "0" * 40 if digest != "0" * 40 else "1" * 40),
                             "M", data, where))
    assert sorted(h.rule_id for h in wrong) == ["XDM062", "XDM063"]
