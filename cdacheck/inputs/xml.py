"""Hardened XML parsing of one CDA document.

The parser never reaches the network, never loads a DTD, never expands an entity and never
opens a file a document names: its resolver answers every request (DTD, entity, ``file://``,
FIFO, ``/dev/stdin``) with an empty string. libxml2's huge-tree mode is on, so that an N1
document holding a 40 MB PDF (a 53 MB base64 text node) is read; our own caps replace the
limits it lifts: the input size cap (``max_bytes``) bounds every text node and name, and
libxml2 keeps its element depth limit. The three root forms the CI-SIS allows are
recognised and only the ``ClinicalDocument`` subtree is handed to the checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from cdacheck.model import EngineName, Hit, Location, Severity
from cdacheck.registry import rule

HL7 = "urn:hl7-org:v3"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSL = "http://www.w3.org/1999/XSL/Transform"
CDA_TAG = f"{{{HL7}}}ClinicalDocument"
NS = {"hl7": HL7, "ds": DS, "xsl": XSL}

R_EMPTY = rule("PRS001", "empty-input", Severity.FATAL,
               "Le document est vide (0 octet).",
               "The input holds no byte at all.")
R_SYNTAX = rule("PRS002", "not-well-formed", Severity.FATAL,
                "XML mal formé : {reason}",
                "The input is not well-formed XML (truncated, not XML, bad bytes); "
                "line and column are given when the parser knows them.")
R_TOO_LARGE = rule("PRS003", "input-too-large", Severity.FATAL,
                   "Le document fait {size} octets, au-delà de la limite de {limit} octets "
                   "(réglage max_bytes).",
                   "The input is larger than the configured size cap; it is not parsed.")
R_DOCTYPE = rule("PRS004", "doctype-forbidden", Severity.ERROR,
                 "Déclaration DOCTYPE interdite dans un document CDA ({detail}) : "
                 "les entités ne sont pas développées et aucun DTD n'est chargé.",
                 "A CDA document must not carry a DOCTYPE; internal or external entities "
                 "(XXE, billion laughs) are never expanded nor fetched.")
R_ENCODING = rule("PRS005", "encoding-not-utf8", Severity.ERROR,
                  "Encodage « {encoding} » : le CI-SIS impose UTF-8.",
                  "The document must be encoded in UTF-8 (CI-SIS document core).",
                  source="IGDC, encodage")
R_BOM = rule("PRS006", "utf8-bom", Severity.WARNING,
             "Le document commence par une marque d'ordre d'octets (BOM) UTF-8 ; "
             "certains récepteurs la refusent et elle change l'empreinte SHA-1.",
             "A UTF-8 byte-order mark precedes the XML declaration.")
R_ROOT = rule("PRS007", "unexpected-root", Severity.FATAL,
              "Élément racine {found} inattendu : attendu ClinicalDocument (urn:hl7-org:v3), "
              "ds:Signature ou xsl:stylesheet l'enveloppant.",
              "The root is none of the three forms the CI-SIS allows.",
              source="IGDC, racine du document")
R_NO_CDA = rule("PRS008", "wrapped-cda-missing", Severity.FATAL,
                "La racine {found} n'enveloppe aucun ClinicalDocument (urn:hl7-org:v3).",
                "A ds:Signature or xsl:stylesheet root holds no ClinicalDocument.")
R_SCHEMA_LOCATION = rule("PRS009", "schema-location-set", Severity.INFO,
                         "L'attribut xsi:schemaLocation ne devrait pas être renseigné "
                         "(« {value} »).",
                         "xsi:schemaLocation should not be set in a sent document.",
                         source="IGDC, racine du document")

_DECL_RE = re.compile(rb"\s*<\?xml\s[^>]{0,65536}?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", re.S)
_UTF8_NAMES = {"utf-8", "utf8"}
_DOCTYPE_RE = re.compile(rb"<!DOCTYPE[^\[>]*", re.I)
# Prolog items before the root (or the DOCTYPE): spaces, the XML declaration, PIs, comments.
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.S)
_PROLOG_SCAN = 1024 * 1024
# The first four bytes of a document without byte order mark, in UTF-16 and UTF-32
# (XML 1.0 appendix F): libxml2 reads them, the CI-SIS requires UTF-8.
_NO_BOM = ((b"\x00\x00\x00<", "UTF-32BE"), (b"<\x00\x00\x00", "UTF-32LE"),
           (b"\x00<\x00?", "UTF-16BE"), (b"<\x00?\x00", "UTF-16LE"),
           (b"\x00<\x00", "UTF-16BE"), (b"<\x00", "UTF-16LE"))
_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32BE"), (b"\xff\xfe\x00\x00", "UTF-32LE"),
         (b"\xfe\xff", "UTF-16BE"), (b"\xff\xfe", "UTF-16LE"))


@dataclass(frozen=True)
class ParsedDocument:
    """A parsed document: its bytes, its tree and the ClinicalDocument element inside."""

    source: str
    member: str | None
    data: bytes
    tree: etree._ElementTree
    cda: etree._Element
    root_form: str

    def location(self, element: etree._Element | None = None, xpath: str | None = None) -> Location:
        line = element.sourceline if element is not None else None
        if element is not None and xpath is None and element.getroottree().getroot() is self.tree.getroot():
            xpath = self.tree.getpath(element)
        return Location(file=self.source, member=self.member, line=line, xpath=xpath)


class RefuseAll(etree.Resolver):
    """Resolves every URL a document names (DTD, entity, XInclude) to nothing at all.

    With ``load_dtd=False`` and ``resolve_entities=False`` libxml2 should ask for nothing;
    this resolver makes sure that, whatever it asks, no file, FIFO, device or URL is opened
    (returning None would fall back to libxml2's own loader).
    """

    def resolve(self, url: str | None, pubid: str | None, context: object) -> object:
        return self.resolve_string("", context)


def make_parser(target: object | None = None) -> etree.XMLParser:
    """The only XML parser cdacheck uses for documents it is given."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=True,
        remove_blank_text=False,
        collect_ids=False,
        remove_pis=False,
        target=target,
    )
    parser.resolvers.add(RefuseAll())
    return parser


def prolog_doctype(data: bytes) -> tuple[int, bytes] | None:
    """Offset and head of a DOCTYPE declaration in the prolog, or None.

    Only the prolog is looked at (XML declaration, spaces, comments, processing
    instructions): a ``<!DOCTYPE`` inside a comment, a CDATA section or text is not one.
    """
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    end = min(len(data), _PROLOG_SCAN)
    while pos < end:
        m = _PROLOG_ITEM.match(data, pos, end)
        if m is None:
            break
        pos = m.end()
    m = _DOCTYPE_RE.match(data, pos)
    return (pos, m.group(0)) if m else None


def detected_encoding(data: bytes) -> str | None:
    """The encoding the bytes themselves show (byte order mark, UTF-16/32 pattern,
    XML declaration however far it goes), or None for plain UTF-8."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    for head, name in _NO_BOM:
        if data.startswith(head):
            return f"{name} (sans BOM)"
    return _declared_encoding(data)


def parse_xml(data: bytes, source: str, member: str | None, max_bytes: int) -> tuple[etree._ElementTree | None, list[Hit]]:
    """Parse bytes with the hardened parser: (tree or None, reading hits)."""
    loc = Location(file=source, member=member)
    hits: list[Hit] = []
    if len(data) == 0:
        return None, [_hit(R_EMPTY.id, loc)]
    if len(data) > max_bytes:
        return None, [_hit(R_TOO_LARGE.id, loc, size=len(data), limit=max_bytes)]
    if data.startswith(b"\xef\xbb\xbf"):
        hits.append(_hit(R_BOM.id, loc.model_copy(update={"line": 1, "column": 1})))
    encoding = detected_encoding(data)
    if encoding is not None and encoding.lower() not in _UTF8_NAMES:
        hits.append(_hit(R_ENCODING.id, loc.model_copy(update={"line": 1}), encoding=encoding))
    # Spotted on the bytes, so the finding stands even when the parse then fails on it.
    doctype = prolog_doctype(data)
    if doctype:
        detail = doctype[1].decode("utf-8", "replace")
        hits.append(_hit(R_DOCTYPE.id, loc.model_copy(update={"line": data[: doctype[0]].count(b"\n") + 1}),
                         detail=detail[:120]))
    try:
        root = etree.fromstring(data, make_parser())
    except etree.XMLSyntaxError as exc:
        line, col = (exc.position if exc.position else (None, None))
        reason = _syntax_reason(exc)
        hits.append(_hit(R_SYNTAX.id, loc.model_copy(update={"line": line or None, "column": col or None}), reason=reason))
        return None, hits
    except ValueError as exc:  # e.g. unicode strings with an encoding declaration
        hits.append(_hit(R_SYNTAX.id, loc, reason=str(exc)))
        return None, hits
    if root is None:
        hits.append(_hit(R_SYNTAX.id, loc, reason="aucun élément racine"))
        return None, hits
    tree = root.getroottree()
    docinfo = tree.docinfo
    has_dtd = (docinfo.internalDTD is not None or docinfo.externalDTD is not None
               or bool(docinfo.doctype))
    if doctype or has_dtd:  # entity references exist only where a DOCTYPE declared them
        _drop_entity_references(root)
    if not doctype and has_dtd:
        hits.append(_hit(R_DOCTYPE.id, loc.model_copy(update={"line": 1}), detail=docinfo.doctype or "DTD"))
    # What libxml2 actually decoded: catches what the byte patterns above cannot.
    if encoding is None and (docinfo.encoding or "UTF-8").lower() not in _UTF8_NAMES:
        hits.append(_hit(R_ENCODING.id, loc.model_copy(update={"line": 1}), encoding=docinfo.encoding))
    return tree, hits


def parse_document(data: bytes, source: str, member: str | None = None,
                   max_bytes: int = 64 * 1024 * 1024) -> tuple[ParsedDocument | None, list[Hit]]:
    """Parse a CDA document and find its ClinicalDocument: (document or None, hits)."""
    tree, hits = parse_xml(data, source, member, max_bytes)
    if tree is None:
        return None, hits
    root = tree.getroot()
    loc = Location(file=source, member=member, line=root.sourceline, xpath="/" + _qname(root))
    if root.tag == CDA_TAG:
        cda, form = root, "ClinicalDocument"
    elif root.tag in (f"{{{DS}}}Signature", f"{{{XSL}}}stylesheet", f"{{{XSL}}}transform"):
        form = "ds:Signature" if root.tag.startswith(f"{{{DS}}}") else "xsl:stylesheet"
        found = next(root.iter(CDA_TAG), None)
        if found is None:
            hits.append(_hit(R_NO_CDA.id, loc, found=_qname(root)))
            return None, hits
        cda = found
    else:
        hits.append(_hit(R_ROOT.id, loc, found=_qname(root)))
        return None, hits
    schema_loc = cda.get("{http://www.w3.org/2001/XMLSchema-instance}schemaLocation")
    if schema_loc:
        hits.append(_hit(R_SCHEMA_LOCATION.id, loc.model_copy(update={"line": cda.sourceline}), value=schema_loc[:200]))
    return ParsedDocument(source=source, member=member, data=data, tree=tree, cda=cda, root_form=form), hits


def _drop_entity_references(root: etree._Element) -> None:
    """Remove the entity references the parser left unexpanded (PRS004 already says so).

    Left in the tree they make libxml2's schema validator and Saxon fail on the document;
    their tail text is kept, so only the reference itself disappears.
    """
    for ent in list(root.iter(etree.Entity)):
        parent = ent.getparent()
        if parent is None:
            continue
        if ent.tail:
            prev = ent.getprevious()
            if prev is not None:
                prev.tail = (prev.tail or "") + ent.tail
            else:
                parent.text = (parent.text or "") + ent.tail
        parent.remove(ent)


def _declared_encoding(data: bytes) -> str | None:
    # The first 64 KiB (after a UTF-8 BOM), matched in place: no copy of them.
    m = _DECL_RE.match(data, 3 if data.startswith(b"\xef\xbb\xbf") else 0, 65536)
    return m.group(1).decode("ascii") if m else None


def _syntax_reason(exc: etree.XMLSyntaxError) -> str:
    msg = str(exc.msg or exc).strip()
    # libxml2 messages end with "(line N, column M)"; the location is carried separately.
    msg = re.sub(r",?\s*\(?line \d+(?:,? column \d+)?\)?$", "", msg)
    return msg.strip() or "document illisible"


def _qname(el: etree._Element) -> str:
    qn = etree.QName(el)
    prefix = el.prefix
    local = qn.localname
    if qn.namespace is None:
        return f"{local} (sans espace de noms)"
    return f"{prefix}:{local}" if prefix else f"{local} ({qn.namespace})"


def _hit(rule_id: str, loc: Location, **params: object) -> Hit:
    return Hit(rule_id=rule_id, params={k: v for k, v in params.items()},  # type: ignore[misc]
               location=loc, engine=EngineName.PARSER)
