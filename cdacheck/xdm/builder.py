"""Building an IHE XDM archive (``IHE_XDM.ZIP``) from CDA documents.

``build(documents, output, ...)`` validates every document with the whole pipeline, refuses
what would be rejected (error-level findings, several patients, no INS, metadata that the
header cannot give), writes README.TXT, INDEX.HTM and ``IHE_XDM/SUBSET01/`` (the documents,
byte for byte, and METADATA.XML), then checks the archive it built with cdacheck's own XDM
checks before writing it — atomically, through a temporary file in the output's folder, and
never over one of its inputs. ``force=True`` writes the archive anyway and the findings
next to it (``<output>.findings.json``).

Ids (xdm.md "Building an archive"): the SubmissionSet uniqueId is
``<source-oid>.<submission time YYYYMMDDhhmmss>.<n>``, n a decimal digest of the documents'
SHA-1 and the options; every entryUUID is a name-based UUID derived from it. Same inputs,
same options and same submission time give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from cdacheck import __version__, _settings
from cdacheck.checks import xdm as xdm_checks
from cdacheck.config import Settings
from cdacheck.inputs.sources import Source, iter_sources
from cdacheck.inputs.xdm import open_archive
from cdacheck.model import (
    ArchiveReport,
    DocumentFacts,
    DocumentReport,
    EngineName,
    Finding,
    Hit,
    JsonScalar,
    Location,
    RunReport,
    Severity,
)
from cdacheck.pipeline import Runner, runner_for
from cdacheck.registry import rule
from cdacheck.xdm import ebrim
from cdacheck.xdm import metadata as md

SUBSET = "IHE_XDM/SUBSET01/"
TEST_SOURCE_OID = "2.999.1"  # ISO/ITU-T "example" arc: only accepted with env="test"
MAX_OID = 64
_OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")

R_INVALID = rule("XDM200", "build-document-invalid", Severity.ERROR,
                 "Le document {file} a {count} constat(s) de niveau erreur ou plus ({rules}) : "
                 "il serait rejeté ; l'archive n'est construite qu'avec --force.",
                 "cdacheck xdm build refuses a document with error-level findings.",
                 source="issue 15; xdm.md §1.9")
R_PATIENTS = rule("XDM201", "build-several-patients", Severity.ERROR,
                  "Les documents concernent {count} patients distincts ({values}) : une "
                  "soumission MSSanté ne concerne qu'un patient.",
                  "cdacheck xdm build refuses documents of different patients in one "
                  "submission.", source="xdm.md §1.8 ECO.2.1.1")
R_NO_INS = rule("XDM202", "build-no-ins", Severity.ERROR,
                "Le document {file} n'a pas d'INS (matricule sous "
                "l'OID 1.2.250.1.213.1.4.8, .9, .10 ou .11) dans recordTarget/patientRole/id ; "
                "patientId ne peut pas être renseigné.",
                "cdacheck xdm build refuses a document without an INS (patientId is the INS).",
                source="xdm.md §1.7; xds-value-sets.md §7.3")
R_NOT_CDA = rule("XDM203", "build-input-not-cda", Severity.ERROR,
                 "L'entrée {file} n'est pas un document CDA lisible ({reason}) : elle ne peut "
                 "pas être mise dans l'archive.",
                 "Every input of cdacheck xdm build is one readable CDA document.",
                 source="xdm.md §1.2 L4-L5")
R_UNDERIVABLE = rule("XDM204", "build-metadata-underivable", Severity.ERROR,
                     "Pour le document {file}, {attribute} ne peut pas être déduit de "
                     "l'en-tête ({reason}).",
                     "A required XDS attribute cannot be derived from the CDA header.",
                     source="xdm.md §1.4")
R_REJECTED = rule("XDM205", "build-archive-rejected", Severity.ERROR,
                  "L'archive produite ne passe pas la vérification de cdacheck ({rules}) : "
                  "elle serait rejetée.",
                  "The archive built is checked by cdacheck's own XDM checks before it is "
                  "written; an error there stops the build.", source="xdm.md §1.2-§1.9")
R_DUPLICATE = rule("XDM206", "build-duplicate-document", Severity.ERROR,
                   "{file} et {other} portent le même identifiant de document « {unique_id} » "
                   "(ClinicalDocument/id) : uniqueId doit être unique.",
                   "Two inputs with the same ClinicalDocument/id (uniqueId is unique).",
                   source="xdm.md §1.9 (XDM052)")
R_TOO_LONG = rule("XDM207", "build-value-too-long", Severity.ERROR,
                  "METADATA.XML : la valeur de {where} fait {length} caractères, au-delà des "
                  "{limit} permis par ebRIM 3.0 (rim.xsd).",
                  "A metadata value is longer than the ebRIM 3.0 schema allows (Value 256, "
                  "Name 1024 characters).", source="ebRIM 3.0 rim.xsd (LongName, FreeFormText)")


class BuildError(Exception):
    """The builder cannot do its job (bad option, output path unusable): exit code 2."""


@dataclass(frozen=True)
class BuildOptions:
    """What the header cannot give, with the French defaults (docs/xdm.md)."""

    source_oid: str | None = None
    submission_time: str | dt.datetime | None = None
    unique_id: str | None = None
    recipients: tuple[str, ...] = ()
    folder: str | None = None
    content_type: str | None = None
    title: str | None = None
    force: bool = False


@dataclass
class BuildResult:
    """What the build did: the inputs' reports, the refusals, the archive check, the file."""

    output: Path | None
    written: bool
    data: bytes | None
    inputs: RunReport
    refusals: list[Finding] = field(default_factory=list)
    archive: ArchiveReport | None = None
    findings_file: Path | None = None
    submission: md.SubmissionMetadata | None = None
    entries: list[md.EntryMetadata] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Built with no refusal and no error-level finding anywhere."""
        return self.data is not None and not self.refusals and bool(
            self.archive is not None and self.archive.valid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output) if self.output else None,
            "written": self.written,
            "ok": self.ok,
            "findings_file": str(self.findings_file) if self.findings_file else None,
            "refusals": [f.model_dump(mode="json") for f in self.refusals],
            "submission": {"uniqueId": self.submission.unique_id,
                           "sourceId": self.submission.source_id,
                           "patientId": self.submission.patient_id,
                           "submissionTime": self.submission.submission_time}
            if self.submission else None,
            "documents": [{"uri": e.uri, "uniqueId": e.unique_id, "title": e.title}
                          for e in self.entries],
            "inputs": self.inputs.model_dump(mode="json"),
            "archive": self.archive.model_dump(mode="json") if self.archive else None,
        }


@dataclass
class _Doc:
    label: str
    data: bytes
    report: DocumentReport
    facts: DocumentFacts | None
    parsed: Any


# ------------------------------------------------------------------------ options


def submission_time(value: str | dt.datetime | None) -> tuple[str, dt.datetime]:
    """The submission time as an XDS DTM in UTC and as a datetime (now when not given).

    Accepted: a datetime (naive = UTC), ``YYYYMMDDhhmmss`` (UTC), ``YYYYMMDDhhmmss+hhmm``
    or ISO 8601 with an offset or ``Z``.
    """
    if value is None:
        moment = dt.datetime.now(dt.UTC)
    elif isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    else:
        moment = _parse_time(value.strip())
    try:
        moment = moment.astimezone(dt.UTC).replace(microsecond=0)
    except OverflowError as exc:
        raise BuildError(f"date de soumission {value} hors limites") from exc
    if moment.year < 1980:
        raise BuildError(f"date de soumission {value} antérieure à 1980 (format ZIP)")
    return moment.strftime("%Y%m%d%H%M%S"), moment


def _parse_time(text: str) -> dt.datetime:
    m = re.fullmatch(r"(\d{14})([+-]\d{4})?", text)
    try:
        if m:
            moment = dt.datetime.strptime(m.group(1), "%Y%m%d%H%M%S")
            if m.group(2):
                sign = -1 if m.group(2)[0] == "-" else 1
                offset = dt.timedelta(hours=int(m.group(2)[1:3]), minutes=int(m.group(2)[3:5]))
                return moment.replace(tzinfo=dt.timezone(sign * offset))
            return moment.replace(tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BuildError(f"date de soumission illisible « {text} » : attendu AAAAMMJJhhmmss "
                         "(UTC), AAAAMMJJhhmmss+hhmm ou ISO 8601") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def source_oid(options: BuildOptions, settings: Settings) -> str:
    oid = options.source_oid
    if oid is None:
        if settings.env != "test":
            raise BuildError("--source-oid est requis en production : l'OID du système "
                             "émetteur (sourceId du lot de soumission)")
        oid = TEST_SOURCE_OID
    if not _OID_RE.match(oid) or len(oid) > MAX_OID - 26:
        raise BuildError(f"--source-oid « {oid} » n'est pas un OID (chiffres séparés par des "
                         f"points, {MAX_OID - 26} caractères au plus)")
    return oid


def submission_unique_id(oid: str, time: str, docs: list[_Doc], options: BuildOptions) -> str:
    """``<source-oid>.<time>.<n>``: n is a decimal digest of the content and the options."""
    if options.unique_id is not None:
        if not _OID_RE.match(options.unique_id) or len(options.unique_id) > MAX_OID:
            raise BuildError(f"--unique-id « {options.unique_id} » n'est pas un OID de "
                             f"{MAX_OID} caractères au plus")
        return options.unique_id
    digest = hashlib.sha256()
    for doc in docs:
        digest.update(hashlib.sha1(doc.data).digest())  # noqa: S324 - content digest only
    digest.update(repr((options.recipients, options.folder, options.content_type,
                        options.title)).encode())
    return f"{oid}.{time}.{int(digest.hexdigest()[:8], 16)}"


# ------------------------------------------------------------------------ refusals


def _refusal(spec_id: str, file: str | None, **params: JsonScalar) -> Hit:
    return Hit(rule_id=spec_id, params={"file": file or "?", **params},
               location=Location(file=file), engine=EngineName.PYTHON)


def _document_refusals(docs: list[_Doc], fail_on: Severity) -> list[Hit]:
    hits: list[Hit] = []
    seen: dict[str, str] = {}
    for doc in docs:
        bad = [f for f in doc.report.findings if f.severity.at_least(Severity.ERROR)
               or f.severity.at_least(fail_on)]
        if bad:
            rules = ", ".join(sorted({f.rule_id for f in bad})[:8])
            hits.append(_refusal(R_INVALID.id, doc.label, count=len(bad), rules=rules))
        if doc.facts is None:
            continue
        if md.ins_of(doc.facts) is None:
            hits.append(_refusal(R_NO_INS.id, doc.label))
        unique = md.unique_id(doc.facts)
        if unique and unique in seen:
            hits.append(_refusal(R_DUPLICATE.id, doc.label, other=seen[unique], unique_id=unique))
        elif unique:
            seen[unique] = doc.label
    patients = sorted({p for d in docs if d.facts and (p := md.patient_cx(d.facts))})
    if len(patients) > 1:
        hits.append(Hit(rule_id=R_PATIENTS.id, params={"count": len(patients),
                                                       "values": " ; ".join(patients)}))
    return hits


# ------------------------------------------------------------------------ the archive


def _file_name(index: int) -> str:
    return f"DOC{index:05d}.XML"


def readme(time: str, entries: list[md.EntryMetadata]) -> bytes:
    lines = [
        "Support IHE XDM (ITI-32, Distribute Document Set on Media)",
        f"Créateur du support : cdacheck {__version__} (cdacheck xdm build)",
        "Contact : l'émetteur de cette archive (voir l'auteur de chaque document).",
        f"Créé le (UTC) : {time}",
        f"Contenu : IHE_XDM/SUBSET01/ - METADATA.XML et {len(entries)} document(s) CDA.",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def index_htm(entries: list[md.EntryMetadata]) -> bytes:
    rows = "".join(
        f'<li><a href="{SUBSET}{escape(e.uri)}">{escape(e.title or e.uri)}</a></li>'
        for e in entries)
    html = ("<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\">"
            "<title>IHE XDM</title></head><body><h1>Documents de ce support IHE XDM</h1>"
            f"<ul>{rows}</ul><p><a href=\"README.TXT\">README.TXT</a> - "
            f"<a href=\"{SUBSET}METADATA.XML\">METADATA.XML</a></p></body></html>\n")
    return html.encode("utf-8")


def zip_bytes(members: list[tuple[str, bytes]], when: dt.datetime) -> bytes:
    """A deterministic ZIP: fixed member order, dates, attributes and compression."""
    buf = io.BytesIO()
    stamp = when.timetuple()[:6]
    with zipfile.ZipFile(buf, "w") as zf:
        for folder in ("IHE_XDM/", SUBSET):
            info = zipfile.ZipInfo(folder, date_time=stamp)
            info.create_system = 0
            info.external_attr = 0o40755 << 16 | 0x10
            zf.writestr(info, b"")
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.create_system = 0
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    return buf.getvalue()


def _archive_check(runner: Runner, data: bytes, label: str, docs: list[_Doc]) -> ArchiveReport:
    """cdacheck's own XDM checks on the bytes built, reusing the documents' reports."""
    by_sha = {hashlib.sha1(d.data).hexdigest(): d for d in docs}  # noqa: S324 - XDS SHA-1

    def check_member(member_data: bytes, _source: str, member: str) -> tuple[
            DocumentReport, DocumentFacts | None, Any]:
        known = by_sha.get(hashlib.sha1(member_data).hexdigest())  # noqa: S324
        if known is None:
            return runner.check_document(member_data, label, member)
        return known.report.model_copy(update={"source": label, "member": member}), \
            known.facts, known.parsed

    archive = open_archive(data, label, runner.settings.xdm, runner.settings.strict)
    hits, reports = xdm_checks.check_archive(archive, runner.settings, check_member)
    findings = runner.stamp_all(hits)
    valid = not any(f.severity.at_least(Severity.ERROR) for f in findings) and all(
        r.valid for r in reports)
    return ArchiveReport(source=label, valid=valid, findings=findings, documents=reports,
                         members=archive.names)


# ------------------------------------------------------------------------ output


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output(output: Path, inputs: list[str | Path | bytes]) -> None:
    """Refuse an output path that is a folder or one of the inputs (or inside an input folder
    it would then be read back from)."""
    if output.exists() and output.is_dir():
        raise BuildError(f"-o {output} est un dossier ; attendu un fichier (ex. IHE_XDM.ZIP)")
    if not output.parent.exists() or not output.parent.is_dir():
        raise BuildError(f"dossier de sortie introuvable : {output.parent}")
    for item in inputs:
        if isinstance(item, (bytes, bytearray)) or str(item) == "-":
            continue
        path = Path(item)
        if _same_file(path, output):
            raise BuildError(f"-o {output} désigne un fichier d'entrée ; cdacheck ne modifie "
                             "jamais ses entrées")
        findings = output.with_name(output.name + ".findings.json")
        if _same_file(path, findings):
            raise BuildError(f"{findings} désigne un fichier d'entrée ; cdacheck ne modifie "
                             "jamais ses entrées")


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ------------------------------------------------------------------------ build


def _read(runner: Runner, inputs: list[str | Path | bytes]) -> tuple[list[_Doc], list[Hit]]:
    docs: list[_Doc] = []
    hits: list[Hit] = []
    for src in iter_sources(inputs, runner.settings.max_bytes):
        if src.kind == "zip":
            hits.append(_refusal(R_NOT_CDA.id, src.label, reason="c'est une archive ZIP"))
            continue
        report, facts, parsed = _check(runner, src)
        docs.append(_Doc(src.label, src.data, report, facts, parsed))
        if facts is None or parsed is None:
            reason = report.findings[0].message if report.findings else "illisible"
            hits.append(_refusal(R_NOT_CDA.id, src.label, reason=reason[:200]))
    return docs, hits


def _check(runner: Runner, src: Source) -> tuple[DocumentReport, DocumentFacts | None, Any]:
    if src.kind == "error":
        return DocumentReport(source=src.label, valid=False,
                              findings=runner.stamp_all(src.hits)), None, None
    return runner.check_document(src.data, src.label, pre_hits=src.hits)


def _entries(docs: list[_Doc]) -> tuple[list[tuple[md.EntryMetadata, _Doc]], list[Hit]]:
    """(DocumentEntry, document) for every readable document, in input order."""
    entries: list[tuple[md.EntryMetadata, _Doc]] = []
    hits: list[Hit] = []
    for doc in docs:
        if doc.facts is None or doc.parsed is None:
            continue
        try:
            entry = md.document_entry(
                doc.facts, doc.parsed.cda, doc.report.level, uri=_file_name(len(entries) + 1),
                sha1=hashlib.sha1(doc.data).hexdigest(), size=len(doc.data))  # noqa: S324
        except Exception as exc:  # noqa: BLE001 - a header that breaks the mapping is a finding
            hits.append(_refusal(R_UNDERIVABLE.id, doc.label, attribute="les métadonnées",
                                 reason=f"erreur interne {type(exc).__name__}: {exc}"[:200]))
            continue
        for attribute, reason in entry.problems:
            hits.append(_refusal(R_UNDERIVABLE.id, doc.label, attribute=attribute, reason=reason))
        entries.append((entry, doc))
    return entries, hits


def _submission(docs: list[_Doc], entries: list[md.EntryMetadata], options: BuildOptions,
                oid: str, time: str) -> md.SubmissionMetadata:
    first = next(d for d in docs if d.facts is not None)
    assert first.facts is not None
    if options.content_type is not None:
        content = md.parse_coded(options.content_type)
        if content is None:
            raise BuildError(f"--content-type « {options.content_type} » : attendu "
                             "code^libellé^OID (ex. 07^Consultations soins externes^"
                             "1.2.250.1.213.2.2)")
    else:
        content = md.content_type(first.facts)
    return md.SubmissionMetadata(
        unique_id=submission_unique_id(oid, time, docs, options), source_id=oid,
        patient_id=entries[0].patient_id if entries else None, submission_time=time,
        content_type=content, authors=entries[0].authors[:1] if entries else (),
        recipients=tuple(recipient(r) for r in options.recipients), title=options.title)


def recipient(value: str) -> str:
    """An intendedRecipient: given as ``XON|XCN|XTN``, or a bare e-mail address."""
    value = value.strip()
    if "|" in value or "^" in value:
        return value
    if re.fullmatch(r"[^@\s]+@[^@\s]+", value):
        return f"||^^Internet^{value}"
    raise BuildError(f"--recipient « {value} » : attendu une adresse de messagerie ou une "
                     "valeur XON|XCN|XTN")


Inputs = list[str | Path | bytes] | str | Path | bytes


def build(documents: Inputs, output: str | Path | None = None,
          *, settings: Settings | None = None, options: BuildOptions | None = None,
          **overrides: Any) -> BuildResult:
    """Build ``IHE_XDM.ZIP`` from CDA documents; see the module docstring.

    ``overrides`` are BuildOptions fields (``source_oid=``, ``submission_time=``, ``force=``...)
    or Settings fields (``env="test"``). ``output=None`` builds in memory (``result.data``).
    Raises :class:`BuildError` for unusable options or output paths.
    """
    inputs: list[str | Path | bytes] = (
        [documents] if isinstance(documents, (str, Path, bytes)) else list(documents))
    if not inputs:
        raise BuildError("aucun document à mettre dans l'archive")
    opt_fields = set(BuildOptions.__dataclass_fields__)
    opts = {k: v for k, v in overrides.items() if k in opt_fields}
    base = options or BuildOptions()
    options = BuildOptions(**{**base.__dict__, **opts})
    settings = _settings(settings, {k: v for k, v in overrides.items() if k not in opt_fields})
    out = Path(output) if output is not None else None
    if out is not None:
        check_output(out, inputs)
    oid = source_oid(options, settings)
    time, moment = submission_time(options.submission_time)
    runner = runner_for(settings)  # engines compiled once per process and settings
    docs, hits = _read(runner, inputs)
    inputs_report = runner.report([d.report for d in docs])
    hits += _document_refusals(docs, settings.fail_on)
    pairs, underivable = _entries(docs)
    entries = [e for e, _ in pairs]
    hits += underivable
    result = BuildResult(output=out, written=False, data=None, inputs=inputs_report,
                         entries=entries)
    if not entries:
        result.refusals = runner.stamp_all(hits)
        return result
    submission = _submission(docs, entries, options, oid, time)
    result.submission = submission
    folder = None
    if options.folder:
        folder = md.FolderMetadata(unique_id=f"{submission.unique_id}.1", title=options.folder,
                                   patient_id=submission.patient_id,
                                   codes=(submission.content_type,))
    members = [("README.TXT", readme(time, entries)), ("INDEX.HTM", index_htm(entries)),
               (f"{SUBSET}METADATA.XML", ebrim.metadata_xml(submission, entries, folder))]
    for where, length, limit in ebrim.too_long(members[-1][1]):
        hits.append(Hit(rule_id=R_TOO_LONG.id, params={"where": where, "length": length,
                                                       "limit": limit}))
    members += [(f"{SUBSET}{e.uri}", d.data) for e, d in pairs]
    data = zip_bytes(members, moment)
    label = str(out) if out is not None else "IHE_XDM.ZIP"
    result.archive = _archive_check(runner, data, label, docs)
    rejected = sorted({f.rule_id for f in result.archive.findings
                       if f.severity.at_least(Severity.ERROR)})
    if rejected:
        hits.append(Hit(rule_id=R_REJECTED.id, params={"rules": ", ".join(rejected)},
                        location=Location(file=label)))
    result.refusals = runner.stamp_all(hits)
    if result.refusals and not options.force:
        return result
    result.data = data
    if out is not None:
        write_atomic(out, data)
        result.written = True
        if result.refusals:
            result.findings_file = out.with_name(out.name + ".findings.json")
            write_atomic(result.findings_file, findings_json(result))
    return result


def findings_json(result: BuildResult) -> bytes:
    """What --force leaves next to the archive: every refusal and finding, as JSON."""
    payload = {"tool": f"cdacheck {__version__}", "archive": str(result.output),
               "refusals": [f.model_dump(mode="json") for f in result.refusals],
               "documents": [{"source": d.source, "valid": d.valid,
                              "findings": [f.model_dump(mode="json") for f in d.findings]}
                             for d in result.inputs.documents()],
               "archive_findings": [f.model_dump(mode="json") for f in result.archive.findings]
               if result.archive else []}
    return (json.dumps(payload, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
