"""Rules on the files a DocumentEntry points to: URI, hash, size and media type."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from cdacheck.checks.xdm_ebrim import RegistryObject, Submission
from cdacheck.inputs.xdm import XdmArchive, unsafe_kind
from cdacheck.model import Hit, Location, Severity
from cdacheck.registry import rule

R_URI_MISSING = rule("XDM060", "uri-not-found", Severity.ERROR,
                     "DocumentEntry « {id} » : le fichier « {uri} » (slot URI) est absent du "
                     "dossier {subset}.",
                     "The file named by the URI slot must exist in the subset folder.",
                     source="xdm.md §1.2 L5")
R_URI_CASE = rule("XDM061", "uri-case-mismatch", Severity.WARNING,
                  "DocumentEntry « {id} » : URI « {uri} » mais le fichier s'appelle « {found} » "
                  "(casse différente : introuvable sous Linux).",
                  "The URI matches a file name only when case is ignored.",
                  source="xdm.md §1.2 L5")
R_HASH = rule("XDM062", "hash-mismatch", Severity.ERROR,
              "DocumentEntry « {id} » : hash « {declared} » dans METADATA.XML mais SHA-1 "
              "« {actual} » pour les octets de « {member} » — le fichier a changé après "
              "l'écriture des métadonnées.",
              "The hash slot must be the SHA-1 of the member's exact bytes.",
              source="xdm.md §1.5")
R_SIZE = rule("XDM063", "size-mismatch", Severity.ERROR,
              "DocumentEntry « {id} » : size {declared} dans METADATA.XML mais « {member} » fait "
              "{actual} octets.",
              "The size slot must be the member's byte count.", source="xdm.md §1.5")
R_MIME = rule("XDM064", "mime-type-mismatch", Severity.ERROR,
              "DocumentEntry « {id} » : mimeType « {mime} » mais « {member} » {reason}.",
              "The member's content must fit the declared mimeType.")
R_PDF = rule("XDM065", "pdf-unreadable", Severity.ERROR,
             "« {member} » (mimeType application/pdf) ne peut pas être lu comme un PDF : "
             "{reason}.",
             "A PDF member (the PDF twin of an N1 document) must be a readable PDF.",
             source="xdm.md §1.8 ECO.2.1.1")
R_UNREFERENCED = rule("XDM066", "member-unreferenced", Severity.INFO,
                      "« {member} » n'est décrit par aucun DocumentEntry de {metadata}.",
                      "A file of a subset folder that no DocumentEntry references.")
R_URI_UNSAFE = rule("XDM067", "uri-unsafe", Severity.ERROR,
                    "DocumentEntry « {id} » : URI « {uri} » sort du dossier du lot ({kind}).",
                    "The URI is a file name relative to the subset folder.",
                    source="xdm.md §1.2 L5")
R_CDA_MIME = rule("XDM068", "cda-mime-type", Severity.ERROR,
                  "DocumentEntry « {id} » : « {member} » est un document CDA mais son mimeType "
                  "est « {mime} » ; attendu text/xml (ou application/xslt+xml).",
                  "A CDA document entry has mimeType text/xml or application/xslt+xml.",
                  source="cisis-facts §A.7")

XML_MIMES = ("text/xml", "application/xml", "application/xslt+xml", "application/hl7-v3+xml")
CDA_MIMES = ("text/xml", "application/xslt+xml")


@dataclass(frozen=True)
class Resolved:
    """A DocumentEntry and the archive member it designates (None if not found)."""

    entry: RegistryObject
    member: str | None


def resolve(archive: XdmArchive, sub: Submission, de: RegistryObject,
            where: Location) -> tuple[Resolved, list[Hit]]:
    """Find the member of a DocumentEntry's URI (exact, then ignoring case)."""
    uri = de.slot("URI")
    if not uri:
        return Resolved(de, None), []
    base = {"id": de.id, "uri": uri}
    kind = unsafe_kind(uri)
    if kind is not None:
        return Resolved(de, None), [Hit(rule_id=R_URI_UNSAFE.id, params={**base, "kind": kind},
                                        location=where)]
    name = f"{sub.subset}{uri}"
    if name in archive.members:
        return Resolved(de, name), []
    same = archive.find_casefold(name)
    if same:
        return Resolved(de, same[0]), [Hit(rule_id=R_URI_CASE.id,
                                           params={**base, "found": same[0]}, location=where)]
    return Resolved(de, None), [Hit(rule_id=R_URI_MISSING.id,
                                    params={**base, "subset": sub.subset}, location=where)]


def check_bytes(de: RegistryObject, member: str, data: bytes, where: Location) -> Iterator[Hit]:
    """hash, size and mimeType of one DocumentEntry against its member's bytes."""
    base = {"id": de.id, "member": member}
    declared_hash = de.slot("hash")
    actual = hashlib.sha1(data).hexdigest()  # noqa: S324 - XDS mandates SHA-1
    if declared_hash and len(declared_hash) == 40 and declared_hash.lower() != actual:
        yield Hit(rule_id=R_HASH.id, params={**base, "declared": declared_hash, "actual": actual},
                  location=where)
    declared_size = de.slot("size")
    if declared_size and declared_size.isdigit() and int(declared_size) != len(data):
        yield Hit(rule_id=R_SIZE.id, params={**base, "declared": int(declared_size),
                                             "actual": len(data)}, location=where)
    mime = (de.mime_type or "").lower()
    if mime in XML_MIMES:
        if not looks_like_xml(data):
            yield Hit(rule_id=R_MIME.id, params={**base, "mime": mime,
                                                 "reason": "ne commence pas par du XML"},
                      location=where)
        elif looks_like_cda(data) and mime not in CDA_MIMES:
            yield Hit(rule_id=R_CDA_MIME.id, params={**base, "mime": mime}, location=where)
    elif mime == "application/pdf":
        reason = pdf_problem(data)
        if reason is not None:
            yield Hit(rule_id=R_PDF.id, params={"member": member, "reason": reason},
                      location=where)
    elif looks_like_cda(data):
        yield Hit(rule_id=R_CDA_MIME.id, params={**base, "mime": mime or "(absent)"},
                  location=where)


def looks_like_xml(data: bytes) -> bool:
    head = data[:64].lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"<")


def looks_like_cda(data: bytes) -> bool:
    """A cheap sniff: XML whose first 4 kB mention ClinicalDocument and the HL7 namespace."""
    head = data[:4096]
    return looks_like_xml(head) and b"ClinicalDocument" in head and b"urn:hl7-org:v3" in head


def pdf_problem(data: bytes) -> str | None:
    """Why bytes are not a readable PDF, or None."""
    if not data.lstrip()[:5] == b"%PDF-":
        return "signature %PDF- absente"
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError:  # pragma: no cover - pypdf is a declared dependency
        return None
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if len(reader.pages) == 0:
            return "aucune page"
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        return (str(exc) or type(exc).__name__)[:160]
    return None
