"""Body and structuration-level rules (family BDY): N1 ``nonXMLBody`` and N3 ``structuredBody``.

N1 (cisis-facts §C, §A.1): one nonXMLBody/text, mediaType application/pdf or text/plain,
representation B64, a payload that decodes, a real PDF for application/pdf, and exactly the
three header templateIds. N3: a structuredBody with sections and coded entries.
The payload bytes are read from the tree here (they are not kept in the facts).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources

from lxml import etree

from cdacheck.checks import CheckContext, check
from cdacheck.inputs.xml import HL7
from cdacheck.model import Hit, Location, Severity
from cdacheck.registry import rule

_N = {"h": HL7}
_SRC_C = "cisis-facts §C"

T_HL7_FR = "2.16.840.1.113883.2.8.2.1"
T_STRUCT_MIN = "1.2.250.1.213.1.1.1.1"
T_XDS_SD = "1.3.6.1.4.1.19376.1.2.20"
N1_TEMPLATES = (T_HL7_FR, T_STRUCT_MIN, T_XDS_SD)

MEDIA_OK = ("application/pdf", "text/plain")
# Listed by TRE_R222 / ASS_A12 (retired) but not by the document core: accepted with a warning.
MEDIA_LEGACY = ("text/rtf", "image/jpeg", "image/tiff")

R_NO_BODY = rule(
    "BDY001", "body-missing", Severity.ERROR,
    "Aucun corps de document : component/nonXMLBody (N1) ou component/structuredBody (N3) attendu.",
    "The document has neither a nonXMLBody nor a structuredBody.", source=_SRC_C)
R_BOTH = rule(
    "BDY002", "body-both-kinds", Severity.ERROR,
    "Le document porte à la fois un nonXMLBody et un structuredBody : un seul corps attendu.",
    "A document carries both body kinds.", source=_SRC_C)
R_MEDIA = rule(
    "BDY003", "n1-media-type-not-allowed", Severity.ERROR,
    "nonXMLBody/text/@mediaType = « {found} » : attendu application/pdf ou text/plain.",
    "The N1 media type is missing or not one the CI-SIS allows (the XSD default text/plain "
    "hides a missing attribute, so absence is reported too).", source=_SRC_C + ", §H.3")
R_MEDIA_LEGACY = rule(
    "BDY004", "n1-media-type-legacy", Severity.WARNING,
    "nonXMLBody/text/@mediaType = « {found} » : type retiré du CI-SIS, convertir en "
    "application/pdf (PDF/A-1) ; attendu application/pdf ou text/plain.",
    "rtf, jpeg and tiff bodies are listed by the retired TRE_R222 only.", source=_SRC_C + ", §H.3")
R_REPR = rule(
    "BDY005", "n1-representation-not-b64", Severity.ERROR,
    "nonXMLBody/text/@representation = « {found} » : attendu B64.",
    "The N1 payload must be base64 (representation B64).", source=_SRC_C)
R_EMPTY = rule(
    "BDY006", "n1-payload-missing", Severity.ERROR,
    "nonXMLBody/text {detail} : attendu le contenu du document encodé en base64 dans l'élément.",
    "The N1 payload is empty, nullFlavored or only a reference to an external file.",
    source=_SRC_C)
R_B64 = rule(
    "BDY007", "n1-base64-invalid", Severity.ERROR,
    "Le contenu de nonXMLBody/text n'est pas du base64 valide ({reason}).",
    "The base64 payload does not decode.", source=_SRC_C)
R_PDF = rule(
    "BDY008", "n1-pdf-invalid", Severity.ERROR,
    "Le contenu déclaré application/pdf n'est pas un PDF lisible : {reason}.",
    "An application/pdf payload must start with %PDF- and parse.", source=_SRC_C)
R_PDF_ENC = rule(
    "BDY009", "n1-pdf-encrypted", Severity.ERROR,
    "Le PDF embarqué est chiffré : le récepteur ne pourra pas l'afficher ; attendu un PDF "
    "non chiffré (PDF/A-1).",
    "The embedded PDF is encrypted.", source=_SRC_C)
R_PDF_PAGES = rule(
    "BDY010", "n1-pdf-no-page", Severity.ERROR,
    "Le PDF embarqué ne contient aucune page ; attendu au moins une page.",
    "The embedded PDF has no page.", source=_SRC_C)
R_XDS_SD = rule(
    "BDY011", "n1-xds-sd-template-missing", Severity.ERROR,
    "Corps nonXMLBody (N1) sans templateId 1.3.6.1.4.1.19376.1.2.20 (IHE XDS-SD) dans "
    "l'en-tête ; templateIds trouvés : {found}.",
    "An N1 document must declare the XDS-SD templateId.", source="cisis-facts §A.1")
R_N1_COUNT = rule(
    "BDY012", "n1-template-count", Severity.ERROR,
    "Document N1 avec {count} templateId(s) d'en-tête ({found}) : attendu exactement les trois "
    "2.16.840.1.113883.2.8.2.1, 1.2.250.1.213.1.1.1.1 et 1.3.6.1.4.1.19376.1.2.20 "
    "(le templateId du volet est remplacé en N1).",
    "An N1 document carries exactly the three header templateIds.", source="cisis-facts §A.1")
R_N3_XDS_SD = rule(
    "BDY013", "n3-declares-xds-sd", Severity.ERROR,
    "Corps structuredBody (N3) mais l'en-tête déclare le templateId 1.3.6.1.4.1.19376.1.2.20 "
    "réservé aux documents non structurés (N1).",
    "A structured document must not claim the XDS-SD (N1) templateId.", source=_SRC_C)
R_N3_NO_SECTION = rule(
    "BDY014", "n3-no-section", Severity.ERROR,
    "structuredBody sans aucune section : attendu au moins une component/section.",
    "An N3 body holds no section.", source=_SRC_C)
R_N3_NO_ENTRY = rule(
    "BDY015", "n3-no-entry", Severity.WARNING,
    "structuredBody avec {sections} section(s) mais aucune entrée codée (entry) : le document "
    "revendique le niveau N3 sans données structurées.",
    "A structuredBody with no entry at all claims N3 but holds no structure.", source=_SRC_C)
R_PLACEMENT = rule(
    "BDY016", "template-on-wrong-element", Severity.ERROR,
    "{element} porte le templateId {root} ({sources}) mais {found} ; attendu {expected}.",
    "A section or entry template sits on an element of another kind: a section template on an "
    "entry, an observation template on an act (the placement assertion that opens the "
    "template's rule in the IHE and CI-SIS profiles).",
    source="CI-SIS IHE, Modèles de contenus CDA, Modèles ANS (placement des modèles ; "
           "cdacheck/data/template_placement.json)")


_TEXT_NODES = etree.XPath("text()")


def _loc(ctx: CheckContext, el: etree._Element | None) -> Location:
    return ctx.doc.location(el if el is not None else ctx.doc.cda)


@check
def check_body(ctx: CheckContext) -> Iterator[Hit]:
    """Body kind, then the N1 or N3 rules for it."""
    kind = ctx.facts.body.kind
    if kind == "none":
        yield Hit(rule_id=R_NO_BODY.id, location=_loc(ctx, ctx.doc.cda.find("h:component", _N)))
    elif kind == "both":
        yield Hit(rule_id=R_BOTH.id, location=_loc(ctx, ctx.doc.cda.find("h:component", _N)))
    elif kind == "nonXMLBody":
        yield from _n1_templates(ctx)
        yield from _n1_payload(ctx)
    else:
        yield from _n3(ctx)
    yield from _placements(ctx)


Placement = dict[str, tuple[str | None, str | None, frozenset[str], dict]]


def placement_plan(table: dict[str, dict]) -> Placement:
    """template root -> (Clark name the element must have, Clark name its parent must hold,
    the roots that turn the rule off, the table's row)."""
    out = {}
    for root, row in table.items():
        element = f"{{{HL7}}}{row['element']}" if "element" in row else None
        parent_has = f"{{{HL7}}}{row['parent_has']}" if "parent_has" in row else None
        out[root] = (element, parent_has, frozenset(row.get("unless", ())), row)
    return out


@lru_cache(maxsize=1)
def _placements_plan() -> Placement:
    raw = resources.files("cdacheck").joinpath("data/template_placement.json").read_text("utf-8")
    return placement_plan(json.loads(raw)["templates"])


_TID = f"{{{HL7}}}templateId"


def _placements(ctx: CheckContext) -> Iterator[Hit]:
    """BDY016: each template of the table on an element of the kind it requires.

    As the profiles test it: ``parent_has`` X — the element's parent holds an X (a section
    template's element is itself that section); ``element`` X — the element is an X. The
    ClinicalDocument is checked as a document of its own (its parent is the document node).
    """
    plan = _placements_plan()
    cda = ctx.doc.cda
    flagged: set[int] = set()
    for t in cda.iter(_TID):
        entry = plan.get(t.get("root") or "")
        if entry is None:
            continue
        element, parent_has, unless, row = entry
        el = t.getparent()
        if element is not None:
            if el.tag == element:
                continue
        else:
            parent = el.getparent() if el is not cda else None
            if parent is not None and parent.find(parent_has) is not None:
                continue
        if id(el) in flagged or (unless and any(x.get("root") in unless for x in el.iterchildren(_TID))):
            continue
        flagged.add(id(el))  # one finding per element, for its first misplaced template
        local = etree.QName(el).localname
        if element is not None:
            found, expected = f"est un élément {local}", f"ce modèle sur un élément {row['element']}"
        else:
            want = row["parent_has"]
            found = f"son parent ne contient aucun élément {want}"
            expected = (f"ce modèle sur un élément {want}" if want in ("section", "act", "organizer")
                        else f"un parent contenant un élément {want}")
        yield Hit(rule_id=R_PLACEMENT.id, location=_loc(ctx, el),
                  params={"element": local, "root": t.get("root"), "found": found,
                          "expected": expected, "sources": ", ".join(row["sources"])})


def _n1_templates(ctx: CheckContext) -> Iterator[Hit]:
    roots = ctx.facts.template_roots
    found = ", ".join(roots) or "aucun"
    first = ctx.doc.cda.find("h:templateId", _N)
    if T_XDS_SD not in roots:
        yield Hit(rule_id=R_XDS_SD.id, location=_loc(ctx, first), params={"found": found})
    if len(roots) != 3 or set(roots) != set(N1_TEMPLATES):
        yield Hit(rule_id=R_N1_COUNT.id, location=_loc(ctx, first),
                  params={"count": len(ctx.facts.template_ids), "found": found})


def _n1_payload(ctx: CheckContext) -> Iterator[Hit]:
    text = ctx.doc.cda.find("h:component/h:nonXMLBody/h:text", _N)
    holder = text if text is not None else ctx.doc.cda.find("h:component/h:nonXMLBody", _N)
    where = _loc(ctx, holder)
    if text is None:
        yield Hit(rule_id=R_EMPTY.id, location=where, params={"detail": "absent"})
        return
    media = text.get("mediaType")
    representation = text.get("representation")
    if media in MEDIA_LEGACY:
        yield Hit(rule_id=R_MEDIA_LEGACY.id, location=where, params={"found": media})
    elif media not in MEDIA_OK:
        yield Hit(rule_id=R_MEDIA.id, location=where, params={"found": media or "(absent)"})
    if representation != "B64":
        yield Hit(rule_id=R_REPR.id, location=where, params={"found": representation or "(absent)"})
    if text.get("nullFlavor"):
        yield Hit(rule_id=R_EMPTY.id, location=where,
                  params={"detail": f"porte nullFlavor=\"{text.get('nullFlavor')}\""})
        return
    payload = "".join("".join(_TEXT_NODES(text)).split())  # text nodes only, not comments
    if not payload:
        ref = text.find("h:reference", _N)
        detail = (f"ne contient qu'une référence externe ({ref.get('value')})" if ref is not None
                  else "est vide")
        yield Hit(rule_id=R_EMPTY.id, location=where, params={"detail": detail})
        return
    if representation != "B64":
        return  # the payload is not meant to be base64; BDY005 already says so
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        yield Hit(rule_id=R_B64.id, location=where, params={"reason": str(exc)})
        return
    if media == "application/pdf":
        yield from _pdf_hits(data, where)


def _pdf_hits(data: bytes, where: Location) -> Iterator[Hit]:
    if not data.lstrip()[:5] == b"%PDF-":
        yield Hit(rule_id=R_PDF.id, location=where,
                  params={"reason": f"il commence par {data[:8]!r} au lieu de %PDF-"})
        return
    from pypdf import PdfReader  # imported here: only N1 PDF documents pay for it

    # pypdf reports recoverable defects through logging; the verdict is what it raises.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            yield Hit(rule_id=R_PDF_ENC.id, location=where)
            return
        pages = len(reader.pages)
    except Exception as exc:  # noqa: BLE001 - any parser failure means "not a readable PDF"
        yield Hit(rule_id=R_PDF.id, location=where,
                  params={"reason": f"{type(exc).__name__}: {str(exc)[:160]}"})
        return
    if pages == 0:
        yield Hit(rule_id=R_PDF_PAGES.id, location=where)


def _n3(ctx: CheckContext) -> Iterator[Hit]:
    body = ctx.facts.body
    sb = ctx.doc.cda.find("h:component/h:structuredBody", _N)
    where = _loc(ctx, sb)
    if T_XDS_SD in ctx.facts.template_roots:
        yield Hit(rule_id=R_N3_XDS_SD.id, location=_loc(ctx, ctx.doc.cda.find("h:templateId", _N)))
    if body.section_count == 0:
        yield Hit(rule_id=R_N3_NO_SECTION.id, location=where)
    elif body.entry_count == 0:
        yield Hit(rule_id=R_N3_NO_ENTRY.id, location=where, params={"sections": body.section_count})
