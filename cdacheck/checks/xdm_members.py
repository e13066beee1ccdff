"""Rules on the files a DocumentEntry points to: URI, hash, size and media type."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from cdacheck.checks.xdm_ebrim import RegistryObject, Submission
from cdacheck.inputs.xdm import XdmArchive, unsafe_kind
from cdacheck.inputs.xml import CDA_TAG, DS, XSL, make_parser
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

R_NOT_CDA = rule("XDM069", "member-not-cda", Severity.INFO,
                 "« {member} » n'est pas vérifié comme document CDA : {reason}.",
                 "A member that mentions ClinicalDocument or that METADATA.XML declares as XML "
                 "but whose content is not a CDA document (an XSL display stylesheet, an HTML "
                 "index, an image) is never validated as a CDA; the finding says why.")

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
    if declared_size and declared_size.isascii() and declared_size.isdigit() and (
            len(declared_size) > 20 or int(declared_size) != len(data)):
        # More than 20 digits is no byte count (and int() refuses 4,300 digits and more).
        shown = declared_size if len(declared_size) <= 40 else declared_size[:40] + "…"
        yield Hit(rule_id=R_SIZE.id, params={**base, "declared": shown,
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


class _Found(Exception):
    def __init__(self, tag: str) -> None:
        self.tag = tag


class _RootTarget:
    """Parser target that stops at the root, or for a wrapper root at its ClinicalDocument."""

    def __init__(self) -> None:
        self.root: str | None = None

    def start(self, tag: str, attrib: object) -> None:
        if self.root is None:
            self.root = tag
            if tag in (f"{{{DS}}}Signature", f"{{{XSL}}}stylesheet", f"{{{XSL}}}transform"):
                return
            raise _Found(tag)
        if tag == CDA_TAG:
            raise _Found(tag)

    def close(self) -> None:
        return None


def _clark_label(tag: str) -> str:
    qn = etree.QName(tag)
    known = {DS: "ds:", XSL: "xsl:", "http://www.w3.org/1999/xhtml": "html:"}
    prefix = known.get(qn.namespace or "", "")
    return f"{prefix}{qn.localname}" if prefix or qn.namespace is None else f"{qn.localname} ({qn.namespace})"


def member_kind(data: bytes) -> tuple[str, str]:
    """What a member is, read from its content: ``("cda", root)`` for a ClinicalDocument (or a
    ds:Signature / xsl:stylesheet holding one), ``("broken", reason)`` for bytes that are
    not well-formed XML, ``("other", description)`` for anything else.

    The hardened parser is driven with a target that builds no tree and stops at the root
    (or, for a wrapper, at its ClinicalDocument): cheap, and the same limits as a full parse.
    """
    if not looks_like_xml(data):
        if data.startswith(b"%PDF-"):
            return "other", "un fichier PDF"
        if data[:4] in (b"\x89PNG", b"GIF8") or data[:3] == b"\xff\xd8\xff":
            return "other", "une image"
        head = data[:512].lower()
        if b"<html" in head or b"<!doctype html" in head:
            return "other", "une page HTML"
        return "other", "ce n'est pas du XML"
    target = _RootTarget()
    try:
        etree.fromstring(data, make_parser(target=target))
    except _Found as found:
        if found.tag == CDA_TAG:
            return "cda", _clark_label(target.root or found.tag)
        return "other", _other_root(found.tag)
    except (etree.XMLSyntaxError, ValueError) as exc:
        if target.root is None:
            return "broken", (str(exc) or "XML mal formé")[:160]
    if target.root is None:
        return "broken", "aucun élément racine"
    return "other", _other_root(target.root)


def _other_root(tag: str) -> str:
    label = _clark_label(tag)
    if tag in (f"{{{XSL}}}stylesheet", f"{{{XSL}}}transform"):
        return f"feuille de style XSL (racine {label} sans élément ClinicalDocument)"
    if etree.QName(tag).localname.lower() == "html":
        return f"page HTML (racine {label})"
    return f"racine {label}, pas ClinicalDocument (urn:hl7-org:v3)"


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
    except Exception as exc:  # noqa: BLE001 - any pypdf failure is a finding on this PDF
        return f"{type(exc).__name__}: {exc}"[:160]
    return None
