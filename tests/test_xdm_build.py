"""``cdacheck xdm build`` and ``cdacheck.xdm.build``: round trip, refusals, reproducibility,
safe output (issue 15).

The round trip reads METADATA.XML back with lxml and compares every field with the CDA
header read here with plain XPath (not with cdacheck's facts), then checks the archive with
the public ``cdacheck.check`` API: no error-level finding. Kit examples are read from
CDACHECK_KIT at test time, never copied.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from lxml import etree

import cdacheck
from cdacheck.cli import main
from cdacheck.xdm import BuildError, build
from cdacheck.xdm import builder as build_module
from cdacheck.xdm.metadata import escape_v2
from conftest import SAMPLES, kit_path

HL7 = {"h": "urn:hl7-org:v3"}
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS = {"rim": RIM, "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"}
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10",
            "1.2.250.1.213.1.4.11")
SCHEME = {
    "typeCode": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
    "classCode": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    "formatCode": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
    "confidentialityCode": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
    "healthcareFacilityTypeCode": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practiceSettingCode": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
    "author": "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",
    "ssAuthor": "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d",
    "contentTypeCode": "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500",
    "dePatientId": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
    "deUniqueId": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
    "ssPatientId": "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
    "ssSourceId": "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
    "ssUniqueId": "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
}
# Expected classCode (ASS_X04) and formatCode (ASS_A11 / A12) restated for the tested types.
CLASS = {"11490-0": "10", "57833-6": "42", "34874-8": "10", "11502-2": "10", "18748-4": "31",
         "18761-7": "11", "77436-4": "10"}
N1_FORMAT = {"application/pdf": "urn:ihe:iti:xds-sd:pdf:2008",
             "image/jpeg": "urn:ihe:iti-fr:xds-sd:jpeg:2010",
             "text/plain": "urn:ihe:iti:xds-sd:text:2008"}
N3_FORMAT = {"1.2.250.1.213.1.1.1.29": "urn:asip:ci-sis:ldl-ses:2017",
             "1.2.250.1.213.1.1.1.39": "urn:ihe:pharm:pre:2010",
             "1.3.6.1.4.1.19376.1.3.3": "urn:ihe:lab:xd-lab:2008",
             "1.2.250.1.213.1.1.1.55": "urn:ihe:lab:xd-lab:2008",
             "1.2.250.1.213.1.1.1.45": "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013",
             "1.2.250.1.213.1.1.1.27": "urn:asip:ci-sis:d2lm-fin:2017",
             "1.2.250.1.213.1.1.1.28": "urn:asip:ci-sis:d2lm-fidd:2017"}
FIVE_CODES = ("11490-0", "57833-6", "57828-6", "57832-8", "34874-8", "11502-2", "18748-4")
KIT_PATTERNS = ("LDL-SES_", "eP-MED-DM_", "BIO-CR-BIO_", "DOC_NON_STRUCTURE_", "IMG_CR_IMG_")
TIME = "20240102030405"
OID = "1.2.250.1.999.15"


def _valid_samples() -> list[tuple[str, str]]:
    out = []
    for sidecar in sorted((SAMPLES / "documents").glob("*.expected.json")):
        expected = json.loads(sidecar.read_text(encoding="utf-8"))
        name = sidecar.name[: -len(".expected.json")]
        if expected.get("valid") and name not in NOT_BUILDABLE:
            out.append((name, expected["env"]))
    return out


# Valid documents whose archive would still be rejected, so the builder refuses them:
# no INS (XDM202); a document code outside LOINC, which the official pipeline accepts in
# the CDA but an XDS typeCode cannot carry (XDM038 wants the ASS_X04 scheme, XDM072 the CDA's).
NOT_BUILDABLE = {"ins-absent": "XDM202", "document-code-not-loinc": "XDM205"}


VALID = _valid_samples()
KIT = kit_path()
KIT_FILES = sorted(p.name for p in (KIT / "ExemplesCDA").glob("*.xml")
                   if p.name.startswith(KIT_PATTERNS)) if KIT else []


# ------------------------------------------------------------------ independent reading


def _cda(data: bytes) -> etree._Element:
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    return root if root.tag == "{urn:hl7-org:v3}ClinicalDocument" else next(
        root.iter("{urn:hl7-org:v3}ClinicalDocument"))


def _a(cda: etree._Element, path: str, name: str) -> str | None:
    found = cda.xpath(path, namespaces=HL7)
    return found[0].get(name) if found else None


def _utc(ts: str | None) -> str | None:
    """HL7 TS -> UTC digits at the same precision (no offset: as written)."""
    if not ts:
        return None
    for sign in "+-":
        if sign in ts[8:]:
            digits, offset = ts.split(sign, 1)
            digits = digits.split(".")[0]
            full = dt.datetime.strptime(digits.ljust(14, "0")[:14], "%Y%m%d%H%M%S")
            delta = dt.timedelta(hours=int(offset[:2]), minutes=int(offset[2:4]))
            moment = full - delta if sign == "+" else full + delta
            return moment.strftime("%Y%m%d%H%M%S")[: len(digits)]
    return ts.split(".")[0]


class Meta:
    """METADATA.XML read back with lxml."""

    def __init__(self, xml: bytes) -> None:
        self.root = etree.fromstring(xml)
        self.entries = self.root.findall(".//rim:ExtrinsicObject", NS)
        self.package = self.root.find(".//rim:RegistryPackage", NS)

    @staticmethod
    def slot(el: etree._Element, name: str) -> list[str]:
        return [v.text for v in el.xpath(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value",
                                          namespaces=NS)]

    @staticmethod
    def coded(el: etree._Element, attribute: str) -> list[tuple[str, str]]:
        return [(c.get("nodeRepresentation"), Meta.slot(c, "codingScheme")[0])
                for c in el.findall("rim:Classification", NS)
                if c.get("classificationScheme") == SCHEME[attribute]]

    @staticmethod
    def ident(el: etree._Element, key: str) -> str | None:
        found = [e.get("value") for e in el.findall("rim:ExternalIdentifier", NS)
                 if e.get("identificationScheme") == SCHEME[key]]
        return found[0] if found else None

    @staticmethod
    def authors(el: etree._Element, key: str) -> list[etree._Element]:
        return [c for c in el.findall("rim:Classification", NS)
                if c.get("classificationScheme") == SCHEME[key]]


def _check_entry(de: etree._Element, data: bytes, member: str) -> None:
    """Every DocumentEntry field against the CDA header (xdm.md §1.4, docs/xdm.md)."""
    cda = _cda(data)
    ins = [(i.get("extension"), i.get("root")) for i in
           cda.xpath("h:recordTarget/h:patientRole/h:id", namespaces=HL7)
           if i.get("root") in INS_OIDS]
    root_id, ext = _a(cda, "h:id", "root"), _a(cda, "h:id", "extension")
    assert Meta.ident(de, "deUniqueId") == (f"{root_id}^{ext}" if ext else root_id)
    assert Meta.ident(de, "dePatientId") == f"{ins[0][0]}^^^&{ins[0][1]}&ISO^NH"
    code = _a(cda, "h:code", "code")
    assert Meta.coded(de, "typeCode") == [(code, _a(cda, "h:code", "codeSystem"))]
    assert Meta.coded(de, "classCode") == [(CLASS[code], "1.2.250.1.213.1.1.4.1")]
    body = cda.xpath("h:component/h:nonXMLBody/h:text", namespaces=HL7)
    if body:
        expected_format = N1_FORMAT[body[0].get("mediaType")]
    else:
        templates = [t.get("root") for t in cda.xpath("h:templateId", namespaces=HL7)]
        expected_format = next(N3_FORMAT[t] for t in templates if t in N3_FORMAT)
    assert Meta.coded(de, "formatCode")[0][0] == expected_format
    assert Meta.coded(de, "confidentialityCode") == [
        (_a(cda, "h:confidentialityCode", "code"), "2.16.840.1.113883.5.25")]
    assert Meta.slot(de, "creationTime") == [_utc(_a(cda, "h:effectiveTime", "value"))]
    assert Meta.slot(de, "languageCode") == [_a(cda, "h:languageCode", "code")]
    title = " ".join("".join(cda.find("h:title", HL7).itertext()).split())
    assert de.find("rim:Name/rim:LocalizedString", NS).get("value") == title
    se = "h:documentationOf[1]/h:serviceEvent/h:effectiveTime"
    start = _a(cda, f"{se}/h:low", "value") or _a(cda, se, "value")
    assert Meta.slot(de, "serviceStartTime") == ([_utc(start)] if start else [])
    stop = _a(cda, f"{se}/h:high", "value")
    assert Meta.slot(de, "serviceStopTime") == ([_utc(stop)] if stop else [])
    fac = "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code"
    assert Meta.coded(de, "healthcareFacilityTypeCode") == [
        (_a(cda, fac, "code"), _a(cda, fac, "codeSystem"))]
    ps = ("h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/"
          "h:representedOrganization/h:standardIndustryClassCode")
    assert Meta.coded(de, "practiceSettingCode") == [
        (_a(cda, ps, "code"), _a(cda, ps, "codeSystem"))]
    author = Meta.authors(de, "author")[0]
    person = Meta.slot(author, "authorPerson")[0].split("^")
    assert person[0] == _a(cda, "h:author[1]/h:assignedAuthor/h:id", "extension")
    assert person[8] == f"&{_a(cda, 'h:author[1]/h:assignedAuthor/h:id', 'root')}&ISO"
    spec = _a(cda, "h:author[1]/h:assignedAuthor/h:code", "code")
    if spec:
        assert Meta.slot(author, "authorSpecialty")[0].split("^")[0] == spec
    org = _a(cda, "h:author[1]/h:assignedAuthor/h:representedOrganization/h:id", "extension")
    if org:
        assert Meta.slot(author, "authorInstitution")[0].split("^")[-1] == org
    legal = _a(cda, "h:legalAuthenticator/h:assignedEntity/h:id", "extension")
    assert Meta.slot(de, "legalAuthenticator")[0].split("^")[0] == legal
    assert Meta.slot(de, "hash") == [hashlib.sha1(data).hexdigest()]
    assert Meta.slot(de, "size") == [str(len(data))]
    assert Meta.slot(de, "URI") == [member.rsplit("/", 1)[-1]]
    stylesheet = _cda(data).getroottree().getroot().tag.endswith("}stylesheet")
    assert de.get("mimeType") == ("application/xslt+xml" if stylesheet else "text/xml")
    info = Meta.slot(de, "sourcePatientInfo")
    assert f"PID-3|{ins[0][0]}^^^&{ins[0][1]}&ISO^NH" in info
    patient = "h:recordTarget/h:patientRole/h:patient"
    birth = _a(cda, f"{patient}/h:birthTime", "value")
    assert (f"PID-7|{birth}" in info) == bool(birth)
    assert f"PID-8|{_a(cda, f'{patient}/h:administrativeGenderCode', 'code')}" in info
    family = cda.xpath(f"{patient}/h:name/h:family[@qualifier='BR']", namespaces=HL7)
    if family:
        assert any(v.startswith(f"PID-5|{' '.join(family[0].text.split())}^") for v in info)
    role = _a(cda, "h:author[1]/h:functionCode", "displayName")
    assert Meta.slot(author, "authorRole") == ([role] if role else [])
    assert Meta.slot(de, "sourcePatientId")


def _round_trip(paths: list[Path], env: str) -> tuple[Meta, zipfile.ZipFile]:
    result = build(paths, None, env=env, source_oid=OID, submission_time=TIME)
    assert result.ok, [f.message for f in result.refusals]
    zf = zipfile.ZipFile(io.BytesIO(result.data))
    names = zf.namelist()
    assert {"README.TXT", "INDEX.HTM", "IHE_XDM/SUBSET01/METADATA.XML"} <= set(names)
    meta = Meta(zf.read("IHE_XDM/SUBSET01/METADATA.XML"))
    assert len(meta.entries) == len(paths)
    for de, path in zip(meta.entries, paths):
        member = f"IHE_XDM/SUBSET01/{Meta.slot(de, 'URI')[0]}"
        assert zf.read(member) == path.read_bytes()  # byte for byte
        _check_entry(de, path.read_bytes(), member)
    ss = meta.package
    assert Meta.ident(ss, "ssPatientId") == Meta.ident(meta.entries[0], "dePatientId")
    assert Meta.ident(ss, "ssSourceId") == OID
    assert Meta.ident(ss, "ssUniqueId").startswith(f"{OID}.{TIME}.")
    assert Meta.slot(ss, "submissionTime") == [TIME]
    assert Meta.coded(ss, "contentTypeCode")
    assert Meta.slot(Meta.authors(ss, "ssAuthor")[0], "authorPerson")
    members = {a.get("targetObject") for a in meta.root.findall(".//rim:Association", NS)
               if a.get("sourceObject") == ss.get("id")}
    assert {de.get("id") for de in meta.entries} <= members
    report = cdacheck.check(result.data, env=env)
    errors = [(f.rule_id, f.message) for f in report.all_findings()
              if f.severity.at_least(cdacheck.Severity.ERROR)]
    assert errors == []
    assert report.summary.archives == 1 and report.summary.documents == len(paths)
    return meta, zf


@pytest.mark.parametrize(("name", "env"), VALID, ids=[v[0] for v in VALID])
def test_round_trip_valid_sample(name: str, env: str) -> None:
    _round_trip([SAMPLES / "documents" / f"{name}.xml"], env)


def test_valid_samples_are_all_covered() -> None:
    assert len(VALID) >= 18  # every valid sample but those the builder must refuse


@pytest.mark.parametrize("name", sorted(NOT_BUILDABLE))
def test_valid_but_unbuildable_samples_are_refused(name: str, tmp_path: Path) -> None:
    result = build([_doc(name)], tmp_path / "X.ZIP", env="test")
    assert not result.ok and not result.written
    assert NOT_BUILDABLE[name] in _rules(result)


@pytest.mark.kit
@pytest.mark.parametrize("name", KIT_FILES or ["(kit absent)"])
def test_round_trip_kit_example(name: str) -> None:
    if KIT is None:
        pytest.skip("official ANS kit not found: set CDACHECK_KIT (default ../shared/cisis-kit)")
    path = KIT / "ExemplesCDA" / name
    report = cdacheck.check(path, env="test")
    assert report.documents()[0].doc_type in ("LDL-SES", "PRESCRIPTION", "CRO", "CR-BIO", "CR-IMG")
    _round_trip([path], "test")


@pytest.mark.kit
def test_kit_selection_is_every_five_type_example(kit_dir: Path) -> None:
    """The patterns above select every kit example whose code is one of the five types."""
    found = set()
    for path in (kit_dir / "ExemplesCDA").glob("*.xml"):
        code = _a(_cda(path.read_bytes()), "h:code", "code")
        templates = {t.get("root") for t in _cda(path.read_bytes()).xpath("h:templateId",
                                                                          namespaces=HL7)}
        if code in FIVE_CODES and not templates & {"1.2.250.1.213.1.1.1.27",
                                                   "1.2.250.1.213.1.1.1.28"}:
            found.add(path.name)
    assert found == set(KIT_FILES)
    assert len(KIT_FILES) >= 29


def test_several_documents_of_one_patient() -> None:
    names = ["ldl-ses-n1", "cr-img-n1", "ldl-ees-n1"]
    meta, zf = _round_trip([SAMPLES / "documents" / f"{n}.xml" for n in names], "test")
    uris = [Meta.slot(de, "URI")[0] for de in meta.entries]
    assert uris == ["DOC00001.XML", "DOC00002.XML", "DOC00003.XML"]
    assert len({de.get("id") for de in meta.entries}) == 3
    index = zf.read("INDEX.HTM").decode()
    assert all(f"IHE_XDM/SUBSET01/{u}" in index for u in uris) and "README.TXT" in index


# ------------------------------------------------------------------ refusals


def _doc(name: str) -> Path:
    return SAMPLES / "documents" / f"{name}.xml"


def _rules(result: build_module.BuildResult) -> set[str]:
    return {f.rule_id for f in result.refusals}


def test_refuses_document_with_errors(tmp_path: Path) -> None:
    out = tmp_path / "IHE_XDM.ZIP"
    result = build([_doc("ins-key-wrong")], out, env="test")
    assert "XDM200" in _rules(result)
    assert not out.exists() and not result.written and result.data is None
    assert list(tmp_path.iterdir()) == []


def test_refuses_two_patients(tmp_path: Path) -> None:
    result = build([_doc("ldl-ses-n1"), _doc("cr-bio-n3")], tmp_path / "X.ZIP", env="test")
    assert "XDM201" in _rules(result) and not result.written


def test_refuses_document_without_ins(tmp_path: Path) -> None:
    result = build([_doc("ins-absent")], tmp_path / "X.ZIP", env="test")
    assert "XDM202" in _rules(result) and not result.written


def test_refuses_archive_and_unreadable_inputs(tmp_path: Path) -> None:
    result = build([SAMPLES / "xdm" / "xdm-ldl-ses-n1.zip", _doc("ldl-ses-n1")], None, env="test")
    assert "XDM203" in _rules(result)
    broken = build([SAMPLES / "inputs" / "truncated.xml"], None, env="test")
    assert {"XDM203", "XDM200"} <= _rules(broken) and broken.data is None


def test_refuses_the_same_document_twice() -> None:
    result = build([_doc("ldl-ses-n1"), _doc("ldl-ses-n1")], None, env="test")
    assert "XDM206" in _rules(result)


def test_production_refuses_test_ins_and_needs_a_source_oid() -> None:
    with pytest.raises(BuildError):
        build([_doc("ldl-ses-n1")], None)  # production, no --source-oid
    result = build([_doc("ldl-ses-n1")], None, env="production", source_oid=OID)
    assert "XDM200" in _rules(result)  # test INS root in production is an error


def test_force_writes_archive_and_findings(tmp_path: Path) -> None:
    out = tmp_path / "IHE_XDM.ZIP"
    result = build([_doc("ldl-ses-n1"), _doc("cr-bio-n3")], out, env="test", force=True)
    assert result.written and out.is_file() and not result.ok
    findings = json.loads((tmp_path / "IHE_XDM.ZIP.findings.json").read_text(encoding="utf-8"))
    assert {"XDM201", "XDM205"} <= {f["rule_id"] for f in findings["refusals"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IHE_XDM.ZIP",
                                                          "IHE_XDM.ZIP.findings.json"]
    report = cdacheck.check(out, env="test")
    assert "XDM048" in {f.rule_id for f in report.all_findings()}  # what was forced shows


# ------------------------------------------------------------------ reproducibility


def test_same_inputs_and_options_same_bytes() -> None:
    args = ([_doc("ldl-ses-n1"), _doc("cr-img-n1")], None)
    kw = {"env": "test", "source_oid": OID, "submission_time": TIME,
          "recipients": ("dest@test.mssante.fr",)}
    first, second = build(*args, **kw), build(*args, **kw)
    assert first.data == second.data and first.ok
    other = build(*args, **{**kw, "submission_time": "20240102030406"})
    assert other.data != first.data
    assert other.submission.unique_id != first.submission.unique_id
    swapped = build([_doc("cr-img-n1"), _doc("ldl-ses-n1")], None, **kw)
    assert swapped.submission.unique_id != first.submission.unique_id


def test_submission_time_defaults_to_now_in_utc() -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    result = build([_doc("ldl-ses-n1")], None, env="test")
    moment = dt.datetime.strptime(result.submission.submission_time, "%Y%m%d%H%M%S")
    assert before.replace(tzinfo=None) - dt.timedelta(seconds=1) <= moment
    assert result.submission.source_id == build_module.TEST_SOURCE_OID


@pytest.mark.parametrize(("given", "utc"), [
    ("20240102030405", "20240102030405"),
    ("20240102040405+0100", "20240102030405"),
    ("2024-01-02T05:04:05+02:00", "20240102030405"),
    ("2024-01-02T03:04:05Z", "20240102030405"),
])
def test_submission_time_forms(given: str, utc: str) -> None:
    assert build_module.submission_time(given)[0] == utc


def test_bad_options_are_build_errors() -> None:
    for kw in ({"source_oid": "not.an.oid"}, {"submission_time": "demain"},
               {"unique_id": "1.2.x"}, {"recipients": ("pas une adresse",)},
               {"content_type": "07"}, {"submission_time": "99991231235959-1400"},
               {"submission_time": "19700101000000"}):
        with pytest.raises(BuildError):
            build([_doc("ldl-ses-n1")], None, env="test", **kw)


# ------------------------------------------------------------------ options


def test_recipient_content_type_title_and_folder() -> None:
    result = build([_doc("ldl-ses-n1"), _doc("cr-img-n1")], None, env="test",
                   recipients=("dr.dest@test.mssante.fr",), title="Sortie du 15 mars",
                   content_type="07^Consultations soins externes^1.2.250.1.213.2.2",
                   folder="Séjour de mars", submission_time=TIME)
    assert result.ok
    meta = Meta(zipfile.ZipFile(io.BytesIO(result.data)).read("IHE_XDM/SUBSET01/METADATA.XML"))
    ss = next(p for p in meta.root.findall(".//rim:RegistryPackage", NS)
              if Meta.ident(p, "ssUniqueId"))
    assert Meta.slot(ss, "intendedRecipient") == ["||^^Internet^dr.dest@test.mssante.fr"]
    assert Meta.coded(ss, "contentTypeCode") == [("07", "1.2.250.1.213.2.2")]
    assert ss.find("rim:Name/rim:LocalizedString", NS).get("value") == "Sortie du 15 mars"
    folder = next(p for p in meta.root.findall(".//rim:RegistryPackage", NS) if p is not ss)
    assert folder.find("rim:Name/rim:LocalizedString", NS).get("value") == "Séjour de mars"
    links = {(a.get("sourceObject"), a.get("targetObject"))
             for a in meta.root.findall(".//rim:Association", NS)}
    assert {(folder.get("id"), de.get("id")) for de in meta.entries} <= links
    # SubmissionSet -> (Folder -> entry) points at an association: not dangling (XDM050).
    folder_links = {a.get("id") for a in meta.root.findall(".//rim:Association", NS)
                    if a.get("sourceObject") == folder.get("id")}
    assert {a.get("targetObject") for a in meta.root.findall(".//rim:Association", NS)
            if a.get("sourceObject") == ss.get("id")} >= folder_links
    (checked,) = cdacheck.Validator(env="test").check(result.data).items
    assert not [f for f in checked.findings if f.rule_id == "XDM050"], checked.findings


def test_content_type_follows_the_encounter() -> None:
    inpatient = build([_doc("ldl-ses-n1")], None, env="test")
    assert inpatient.submission.content_type.code == "03"  # IMP -> 03 (PFI-IG I -> 03)


def test_hl7_v2_delimiters_are_escaped() -> None:
    assert escape_v2("A^B&C|D~E\\F") == "A\\S\\B\\T\\C\\F\\D\\R\\E\\E\\F"


# ------------------------------------------------------------------ safe output


def test_never_over_an_input(tmp_path: Path) -> None:
    doc = tmp_path / "lettre.xml"
    doc.write_bytes(_doc("ldl-ses-n1").read_bytes())
    before = doc.read_bytes()
    with pytest.raises(BuildError):
        build([doc], doc, env="test")
    assert main(["xdm", "build", str(doc), "-o", str(doc), "--env", "test"]) == 2
    assert doc.read_bytes() == before
    link = tmp_path / "link.zip"
    link.symlink_to(doc)
    assert main(["xdm", "build", str(doc), "-o", str(link), "--env", "test"]) == 2
    assert doc.read_bytes() == before


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "IHE_XDM.ZIP"
    out.write_bytes(b"previous archive")

    def boom(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build_module.os, "replace", boom)
    with pytest.raises(OSError):
        build([_doc("ldl-ses-n1")], out, env="test")
    assert out.read_bytes() == b"previous archive"
    assert [p.name for p in tmp_path.iterdir()] == ["IHE_XDM.ZIP"]  # no temporary file left


def test_writes_only_the_output(tmp_path: Path) -> None:
    out = tmp_path / "IHE_XDM.ZIP"
    result = build([_doc("ldl-ses-n1")], out, env="test")
    assert result.written and [p.name for p in tmp_path.iterdir()] == ["IHE_XDM.ZIP"]
    assert out.read_bytes() == result.data
    assert oct(os.stat(out).st_mode & 0o777) == "0o644"


# ------------------------------------------------------------------ CLI


def test_cli_build_ok_json_and_exit_codes(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "IHE_XDM.ZIP"
    code = main(["xdm", "build", str(_doc("ldl-ses-n1")), "-o", str(out), "--env", "test",
                 "--source-oid", OID, "--submission-time", TIME, "--format", "json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] and payload["written"]
    assert payload["submission"]["uniqueId"].startswith(f"{OID}.{TIME}.")
    assert main(["--env", "test", str(out)]) == 0  # cdacheck accepts what it built
    assert main(["xdm", "build", str(_doc("ldl-ses-n1")), str(_doc("cr-bio-n3")),
                 "-o", str(tmp_path / "B.ZIP"), "--env", "test"]) == 1
    assert not (tmp_path / "B.ZIP").exists()
    text = capsys.readouterr().out
    assert "XDM201" in text and "NON écrite" in text


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = str(_doc("ldl-ses-n1"))
    assert main(["xdm", "build", doc, "-o", str(tmp_path / "X.ZIP")]) == 2  # production, no OID
    assert "--source-oid" in capsys.readouterr().err
    assert main(["xdm", "build", doc, "-o", str(tmp_path), "--env", "test"]) == 2  # a folder
    assert main(["xdm", "build", doc, "--env", "test"]) == 2  # -o missing
    assert main(["xdm", "build", doc, "-o", str(tmp_path / "no" / "X.ZIP"),
                 "--env", "test"]) == 2
    assert main(["xdm", "build", "--help"]) == 0
    assert list(tmp_path.iterdir()) == []


def test_cli_force(tmp_path: Path) -> None:
    out = tmp_path / "IHE_XDM.ZIP"
    code = main(["xdm", "build", str(_doc("ins-absent")), "-o", str(out), "--env", "test",
                 "--force"])
    assert code == 1 and out.is_file() and (tmp_path / "IHE_XDM.ZIP.findings.json").is_file()


def test_refuses_type_code_without_class_row() -> None:
    data = _doc("ldl-ses-n1").read_bytes()
    assert data.count(b'code="11490-0"') >= 1
    changed = data.replace(b'code="11490-0"', b'code="34876-3"', 1)  # J07, no ASS_X04 row
    result = build([changed], None, env="test")
    assert "XDM204" in _rules(result) and result.data is None
    messages = [f.message for f in result.refusals if f.rule_id == "XDM204"]
    assert "classCode" in messages[0] and "34876-3" in messages[0]


def test_any_input_gives_a_result_never_an_exception() -> None:
    """Truncated, mangled or foreign inputs: a refusal, never a traceback."""
    data = _doc("ldl-ses-n1").read_bytes()
    variants = [data[:n] for n in range(0, len(data), max(1, len(data) // 12))]
    variants += [b"\x00\xff" * 50, b"PK\x03\x04garbage", data.replace(b"<title>", b"<title>\x01"),
                 data.replace(b'root="1.2.250.1.213.1.4.10"', b'root=""'),
                 data.replace(b"<effectiveTime value=\"", b"<effectiveTime value=\"x")]
    for variant in variants:
        result = build([variant], None, env="test")
        assert result.ok or result.refusals


def test_refuses_values_longer_than_ebrim_allows() -> None:
    data = _doc("ldl-ses-n1").read_bytes()
    name = b"Centre hospitalier de test CDACHECK"
    assert name in data
    result = build([data.replace(name, b"Centre " * 60)], None, env="test")
    assert "XDM207" in _rules(result) and result.data is None


@pytest.mark.skipif(not os.environ.get("CDACHECK_EBRS_XSD"),
                    reason="set CDACHECK_EBRS_XSD to the OASIS ebRS 3.0 lcm.xsd (with rim.xsd, "
                           "rs.xsd and ../w3/xml.xsd next to it) to validate METADATA.XML")
def test_metadata_is_valid_against_the_ebrs_schema() -> None:
    schema = etree.XMLSchema(etree.parse(os.environ["CDACHECK_EBRS_XSD"]))
    for folder in (None, "Dossier"):
        result = build([_doc("ldl-ses-n1"), _doc("cr-img-n1")], None, env="test", folder=folder,
                       recipients=("a@test.mssante.fr",), title="Lot")
        xml = zipfile.ZipFile(io.BytesIO(result.data)).read("IHE_XDM/SUBSET01/METADATA.XML")
        assert schema.validate(etree.fromstring(xml)), schema.error_log
