"""Frozen data models shared by every layer of cdacheck.

This module imports nothing from cdacheck: it is the contract between the readers, the
engines, the checks, the classifier and the reporters. The JSON report is
``RunReport.model_dump_json()``.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The report's JSON contract version; see docs/report-schema.md for what changes it.
# 2.0: DocumentFacts split into ``identity`` (what identifies the patient) and the rest.
REPORT_SCHEMA_VERSION = "2.0"

JsonScalar = str | int | float | bool | None


class Frozen(BaseModel):
    """Base of every cdacheck model: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Severity(StrEnum):
    """Severity of a finding, ordered ``fatal > error > warning > info``."""

    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def at_least(self, other: Severity) -> bool:
        """True when this severity is ``other`` or more serious."""
        return self.rank >= other.rank


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.FATAL: 3}


class EngineName(StrEnum):
    """Which engine produced a finding."""

    PARSER = "parser"
    XSD = "xsd"
    SCHEMATRON = "schematron"
    PYTHON = "python"
    INTERNAL = "internal"


class Location(Frozen):
    """Where a finding points: file, ZIP member, line/column and XPath, each if known."""

    file: str | None = None
    member: str | None = None
    line: int | None = None
    column: int | None = None
    xpath: str | None = None


class Hit(Frozen):
    """What a check or an engine yields before the pipeline stamps it into a Finding.

    Checks never choose their severity: the pipeline takes it from the registry (or, for
    schematron asserts, from ``role`` through the configured role mapping).
    ``message`` is only set by engines whose text comes from outside (SVRL, XSD); Python
    checks leave it empty and the registry's template is rendered with ``params``.
    """

    rule_id: str
    params: dict[str, JsonScalar] = Field(default_factory=dict)
    location: Location = Field(default_factory=Location)
    engine: EngineName = EngineName.PYTHON
    message: str | None = None
    role: str | None = None
    provenance: dict[str, str] = Field(default_factory=dict)


class Finding(Frozen):
    """One problem found, stamped with its rule id, severity and rendered message."""

    rule_id: str
    severity: Severity
    message: str
    params: dict[str, JsonScalar] = Field(default_factory=dict)
    location: Location = Field(default_factory=Location)
    engine: EngineName
    provenance: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------- facts


class Identifier(Frozen):
    """An HL7 II (root + extension) with its class when it identifies a patient."""

    root: str | None = None
    extension: str | None = None
    null_flavor: str | None = None


IdentifierClass = Literal[
    "INS-NIR", "INS-NIA", "INS-NIR-TEST", "INS-NIR-DEMO", "NSS-NIR", "NSS-NIA", "INS-C", "local"
]


class PatientIdentifier(Identifier):
    """A ``recordTarget/patientRole/id`` with its class by OID."""

    id_class: IdentifierClass = "local"


class Code(Frozen):
    """An HL7 coded value (CD/CE/CS)."""

    code: str | None = None
    code_system: str | None = None
    display_name: str | None = None
    null_flavor: str | None = None


class Timestamp(Frozen):
    """An HL7 TS: the raw value, its precision and its UTC offset when given."""

    raw: str
    value: dt.datetime | None = None
    precision: Literal["year", "month", "day", "hour", "minute", "second"] | None = None
    offset_minutes: int | None = None
    utc: dt.datetime | None = None


class Period(Frozen):
    low: Timestamp | None = None
    high: Timestamp | None = None
    value: Timestamp | None = None


class PatientTraits(Frozen):
    """The INS traits of the patient as written in the header."""

    birth_family_name: str | None = None
    birth_given_names: str | None = None
    first_birth_given_name: str | None = None
    used_family_name: str | None = None
    used_given_name: str | None = None
    sex: str | None = None
    birth_date: Timestamp | None = None
    birth_date_null_flavor: str | None = None
    birthplace_code: str | None = None
    # Every other text of the patient's names and birthplace (unqualified or repeated parts):
    # not used by the rules, kept so that redaction can remove them wherever they are quoted.
    other_traits: list[str] = Field(default_factory=list)


class Participant(Frozen):
    """An author, custodian or legal authenticator, reduced to what the checks need."""

    ids: list[Identifier] = Field(default_factory=list)
    code: Code | None = None
    family: str | None = None
    given: str | None = None
    organization_ids: list[Identifier] = Field(default_factory=list)
    organization_name: str | None = None
    organization_sector: Code | None = None
    time: Timestamp | None = None
    signature_code: str | None = None


class Body(Frozen):
    """The document body: ``nonXMLBody`` (N1) or ``structuredBody`` (N3)."""

    kind: Literal["nonXMLBody", "structuredBody", "none", "both"]
    media_type: str | None = None
    representation: str | None = None
    payload_chars: int | None = None
    reference: str | None = None
    section_count: int = 0
    entry_count: int = 0
    section_template_ids: list[str] = Field(default_factory=list)


class RelatedDocument(Frozen):
    type_code: str | None = None
    parent_ids: list[Identifier] = Field(default_factory=list)
    parent_version: str | None = None


class Encounter(Frozen):
    ids: list[Identifier] = Field(default_factory=list)
    code: Code | None = None
    period: Period | None = None
    facility_code: Code | None = None
    # location/healthCareFacility/serviceProviderOrganization/id: the establishment of the
    # stay (FINESS géographique when root 1.2.250.1.71.4.2.2), read first by ``cdacheck stats``.
    location_organization_ids: list[Identifier] = Field(default_factory=list)


class ServiceEvent(Frozen):
    code: Code | None = None
    period: Period | None = None
    performer_count: int = 0
    practice_setting: Code | None = None


class PatientIdentity(Frozen):
    """What identifies the patient (``recordTarget``): the identifiers and the traits.

    Kept apart from the other facts so that a report can be shared without it (``--redact``
    replaces it with pseudonyms).
    """

    ids: list[PatientIdentifier] = Field(default_factory=list)
    traits: PatientTraits = Field(default_factory=PatientTraits)


class DocumentFacts(Frozen):
    """Header facts of one CDA document, extracted once and shared by every check.

    ``identity`` holds what identifies the patient; every other field is about the document,
    its participants and its care. ``patient_ids`` and ``patient`` are read-only shortcuts
    to ``identity.ids`` and ``identity.traits`` (and accepted as constructor arguments).
    """

    root_form: Literal["ClinicalDocument", "ds:Signature", "xsl:stylesheet"]
    id: Identifier | None = None
    set_id: Identifier | None = None
    version_number: str | None = None
    related_documents: list[RelatedDocument] = Field(default_factory=list)
    code: Code | None = None
    title: str | None = None
    effective_time: Timestamp | None = None
    confidentiality: Code | None = None
    language: str | None = None
    realm: str | None = None
    type_id: Identifier | None = None
    template_ids: list[Identifier] = Field(default_factory=list)
    body: Body
    identity: PatientIdentity = Field(default_factory=PatientIdentity)
    authors: list[Participant] = Field(default_factory=list)
    custodian: Participant | None = None
    legal_authenticator: Participant | None = None
    encounter: Encounter | None = None
    service_events: list[ServiceEvent] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _identity_shortcuts(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("patient_ids" in data or "patient" in data):
            data = dict(data)
            ids = data.pop("patient_ids", [])
            traits = data.pop("patient", None) or PatientTraits()
            data["identity"] = PatientIdentity(ids=ids, traits=traits)
        return data

    @property
    def patient_ids(self) -> list[PatientIdentifier]:
        return self.identity.ids

    @property
    def patient(self) -> PatientTraits:
        return self.identity.traits

    @property
    def template_roots(self) -> list[str]:
        return [t.root for t in self.template_ids if t.root]


# --------------------------------------------------------------------------- verdicts

DocType = Literal[
    "LDL-SES",
    "PRESCRIPTION",
    "CRO",
    "CR-BIO",
    "CR-IMG",
    "LDL-EES",
    "CR-ANEST",
    "D2LM",
    "BIO-TROD",
    "OTHER",
    "UNKNOWN",
]
Level = Literal["N1", "N3", "unknown"]
IndicatorName = Literal["DS 1.1", "DS 1.2", "DS 1.3", "DS 2.1", "DS 3.1", "none"]


class StayKey(Frozen):
    """What identifies the stay a document belongs to, and how it was derived."""

    value: str | None = None
    source: Literal["encounter-id", "fallback", "none"] = "none"


class IndicatorResult(Frozen):
    """The Ségur indicator a document feeds (or ``none``) and every reason behind it."""

    indicator: IndicatorName = "none"
    candidate: IndicatorName = "none"
    reasons: list[str] = Field(default_factory=list)
    blocking_rules: list[str] = Field(default_factory=list)
    structured: bool = False
    inferred: list[str] = Field(default_factory=list)
    stay_key: StayKey = Field(default_factory=StayKey)
    set_id: str | None = None
    version: str | None = None
    policy: dict[str, JsonScalar] = Field(default_factory=dict)


class DocumentReport(Frozen):
    """Everything cdacheck says about one CDA document."""

    kind: Literal["document"] = "document"
    source: str
    member: str | None = None
    sha1: str | None = None
    size: int | None = None
    valid: bool
    doc_type: DocType = "UNKNOWN"
    level: Level = "unknown"
    facts: DocumentFacts | None = None
    indicator: IndicatorResult = Field(default_factory=IndicatorResult)
    packs: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    elapsed_ms: float | None = None
    # Kit mode: the kit (name and commit or content digest) and the kit schematrons applied
    # to this document, as paths relative to the kit (empty in default mode).
    kit: str | None = None
    schematrons: list[str] = Field(default_factory=list)


class ArchiveReport(Frozen):
    """An IHE XDM archive: its own findings, then one report per document inside."""

    kind: Literal["archive"] = "archive"
    source: str
    valid: bool
    findings: list[Finding] = Field(default_factory=list)
    documents: list[DocumentReport] = Field(default_factory=list)
    members: list[str] = Field(default_factory=list)
    elapsed_ms: float | None = None


class Summary(Frozen):
    inputs: int = 0
    documents: int = 0
    archives: int = 0
    valid_documents: int = 0
    by_severity: dict[str, int] = Field(default_factory=dict)
    by_indicator: dict[str, int] = Field(default_factory=dict)
    fail_on: Severity = Severity.ERROR
    failed: bool = False
    # Inputs on which a check or an engine could not run (an INT finding): the run's exit
    # code is then 2, whatever else was found.
    not_fully_checked: list[str] = Field(default_factory=list)
    # Inputs actually read (a document or an archive; not an empty folder's placeholder).
    checked: int = 0
    # Findings per rule id (``--statistics``).
    by_rule: dict[str, int] = Field(default_factory=dict)


class RunReport(Frozen):
    """The versioned result of one run; its JSON dump is the source of every other format."""

    schema_version: str = REPORT_SCHEMA_VERSION
    tool: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    kit: dict[str, str] | None = None
    items: list[DocumentReport | ArchiveReport] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    summary: Summary = Field(default_factory=Summary)

    def documents(self) -> list[DocumentReport]:
        """Every document report, those inside archives included, in order."""
        out: list[DocumentReport] = []
        for item in self.items:
            if isinstance(item, ArchiveReport):
                out.extend(item.documents)
            else:
                out.append(item)
        return out

    def all_findings(self) -> list[Finding]:
        """Every finding of the run in report order (run, archive, document)."""
        out = list(self.findings)
        for item in self.items:
            out.extend(item.findings)
            if isinstance(item, ArchiveReport):
                for doc in item.documents:
                    out.extend(doc.findings)
        return out
