"""XSD engine: validates the ClinicalDocument against a W3C XML Schema with lxml.

By default the schema is cdacheck's own embedded CDA R2 schema (``cdacheck/schemas/cda``,
generated from the compact model by ``scripts/gen_schema.py``); ``Settings.xsd`` names
another one, for example the kit's ``CDA_extended.xsd``. A schema is compiled once per
process and path and reused for every document of a thread: an ``etree.XMLSchema`` keeps
the errors of its last validation in its own ``error_log``, so one object shared by threads
lets the errors of one document land on another; each thread gets its own compiled copy
(70 ms). Every libxml2 validation error becomes an
``XSD001`` hit with its line, its XPath and a French reason naming what was expected and
what was found; the raw libxml2 message stays in the provenance.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

from lxml import etree

from cdacheck.config import Settings
from cdacheck.detect import Detection
from cdacheck.inputs.xml import ParsedDocument
from cdacheck.model import DocumentFacts, EngineName, Hit, Location, Severity
from cdacheck.registry import rule

EMBEDDED_DIR = Path(__file__).resolve().parent.parent / "schemas" / "cda"
EMBEDDED_ENTRY = EMBEDDED_DIR / "hl7-cda.xsd"
EMBEDDED_LABEL = "embedded"
MAX_HITS = 200

R_SCHEMA = rule(
    "XSD001", "schema-violation", Severity.ERROR,
    "Structure non conforme au schéma CDA : {reason}",
    "The ClinicalDocument does not conform to the CDA R2 schema (embedded schema, or the one "
    "given by --xsd): unexpected, missing or misplaced element, attribute not allowed or "
    "missing, value outside its data type or value set.",
    source="HL7 CDA R2 (POCD_MT000040), CI-SIS CDA_extended.xsd", engine="xsd")
R_TRUNCATED = rule(
    "XSD002", "schema-violations-truncated", Severity.INFO,
    "{count} autres erreurs de structure ne sont pas listées (limite de {limit}).",
    "More schema errors than the per-document cap were found; the rest are only counted.",
    engine="xsd")


class SchemaError(Exception):
    """The schema cannot be used (missing, unreadable, not a valid XSD): exit code 2."""


_CACHE: dict[str, tuple[etree.XMLSchema, str]] = {}
_LOCK = threading.Lock()
_LOCAL = threading.local()


def load_schema(path: Path | None = None) -> tuple[etree.XMLSchema, str]:
    """The compiled schema at ``path`` (default: the embedded one) and its version label.

    Compiled once per process and path; raises :class:`SchemaError` when unusable.
    """
    target = (path or EMBEDDED_ENTRY).resolve()
    key = str(target)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = _compile(target, embedded=path is None)
            _CACHE[key] = cached
        return cached


def thread_schema(path: Path | None = None) -> etree.XMLSchema:
    """The compiled schema at ``path`` for the calling thread only (see the module doc): the
    shared copy for the main thread, a copy of its own for any other. Kept by ``path`` as
    given, so that a document costs no path resolution (two realpath walks, 0.15 ms)."""
    own: dict[Path | None, etree.XMLSchema] | None = getattr(_LOCAL, "schemas", None)
    if own is None:
        own = _LOCAL.schemas = {}
    schema = own.get(path)
    if schema is None:
        schema = load_schema(path)[0]  # an unusable schema raises SchemaError here, once
        if threading.current_thread() is not threading.main_thread():
            schema = _compile((path or EMBEDDED_ENTRY).resolve(), embedded=path is None)[0]
        own[path] = schema
    return schema


def _compile(target: Path, embedded: bool) -> tuple[etree.XMLSchema, str]:
    if not target.is_file():
        raise SchemaError(f"schéma XSD introuvable : {target}")
    # The schema's own includes/imports are resolved on disk; the network is never used.
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    try:
        tree = etree.parse(str(target), parser)
        schema = etree.XMLSchema(tree)
    except (OSError, etree.XMLSyntaxError) as exc:
        raise SchemaError(f"schéma XSD illisible ({target}) : {exc}") from exc
    except etree.XMLSchemaParseError as exc:
        raise SchemaError(f"schéma XSD invalide ({target}) : {exc}") from exc
    digest = hashlib.sha1()
    for file in sorted(target.parent.glob("*.xsd")) if embedded else [target]:
        digest.update(file.read_bytes())
    return schema, digest.hexdigest()[:12]


class XsdEngine:
    """The document engine that checks structure against the XML Schema."""

    name = "xsd"

    def __init__(self, settings: Settings) -> None:
        self._path = settings.xsd
        self._version = load_schema(settings.xsd)[1]  # compiled here: a bad schema fails at start

    def describe(self) -> dict[str, str]:
        return {
            "schema": str(self._path) if self._path else EMBEDDED_LABEL,
            "version": self._version,
        }

    def run(self, doc: ParsedDocument, facts: DocumentFacts | None = None,
            detection: Detection | None = None) -> list[Hit]:
        """Validate ``doc.cda`` (only the ClinicalDocument subtree of a wrapped document)."""
        errors = validate(thread_schema(self._path), doc.cda)
        base = _cda_path(doc)
        hits = [self._hit(doc, base, line, path, raw) for line, path, raw in errors[:MAX_HITS]]
        if len(errors) > MAX_HITS:
            hits.append(Hit(rule_id=R_TRUNCATED.id, engine=EngineName.XSD,
                            params={"count": len(errors) - MAX_HITS, "limit": MAX_HITS},
                            location=Location(file=doc.source, member=doc.member)))
        return hits

    def _hit(self, doc: ParsedDocument, base: str, line: int | None, path: str | None,
             raw: str) -> Hit:
        reason = french_reason(raw)
        xpath = _join_path(base, path)
        element = _element_name(raw)
        return Hit(
            rule_id=R_SCHEMA.id,
            engine=EngineName.XSD,
            params={"reason": reason, "element": element},
            message=R_SCHEMA.render({"reason": reason}),
            location=Location(file=doc.source, member=doc.member, line=line, xpath=xpath),
            provenance={"xsd_reason": raw},
        )


def validate(schema: etree.XMLSchema, element: etree._Element) -> list[tuple[int | None, str | None, str]]:
    """Validate an element subtree: ``(line, libxml2 path, raw message)`` per error.

    Unexpanded entity references, which crash libxml2's validator, are already removed by
    cdacheck.inputs.xml.parse_xml.
    """
    if schema.validate(element):
        return []
    out = []
    for err in schema.error_log:
        if err.level_name in ("ERROR", "FATAL"):
            out.append((err.line or None, err.path or None, err.message.strip()))
    return out


def _cda_path(doc: ParsedDocument) -> str:
    # getroottree() builds a new wrapper each time: compare the documents' roots instead.
    same = doc.cda.getroottree().getroot() is doc.tree.getroot()
    return doc.tree.getpath(doc.cda) if same else ""


def _join_path(base: str, path: str | None) -> str | None:
    """The document XPath of an error whose libxml2 path is relative to the validated root."""
    if not path:
        return None
    if not base or base.count("/") == 1:  # the ClinicalDocument is the document root
        return path
    rest = path[path.find("/", 1):] if path.find("/", 1) > 0 else ""
    return base + rest


# --------------------------------------------------------------------------- messages

_KNOWN_PREFIXES = {
    "urn:hl7-org:v3": "",
    "urn:hl7-org:sdtc": "sdtc:",
    "urn:oid:1.3.6.1.4.1.19376.1.3.2": "lab:",
    "urn:dicom-org:ps3-20": "ps3-20:",
    "urn:ihe:pharm:medication": "pharm:",
    "http://www.w3.org/2001/XMLSchema-instance": "xsi:",
}
_CLARK = re.compile(r"\{([^}]*)\}([\w.\-]+)")
_ELEMENT = re.compile(r"^Element '([^']+)'(?:, attribute '([^']+)')?: (.*)$", re.S)


def _name(clark: str) -> str:
    """``{urn:hl7-org:v3}code`` -> ``code``; other namespaces keep a readable prefix."""
    m = _CLARK.fullmatch(clark)
    if not m:
        return clark
    ns, local = m.groups()
    prefix = _KNOWN_PREFIXES.get(ns)
    return f"{prefix}{local}" if prefix is not None else f"{local} ({ns})"


def _names(text: str) -> str:
    return _CLARK.sub(lambda m: _name(m.group(0)), text)


def _element_name(raw: str) -> str | None:
    m = _ELEMENT.match(raw)
    return _name(m.group(1)) if m else None


def _expected(text: str) -> str:
    m = re.search(r"Expected is (?:one of )?\( (.*?) \)", text)
    if not m:
        return ""
    items = [_name(x.strip()) for x in m.group(1).split(",")]
    return items[0] if len(items) == 1 else "l'un de " + ", ".join(items)


_DETAIL_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"This element is not expected\."), "NOT_EXPECTED"),
    (re.compile(r"Missing child element\(s\)\."), "MISSING"),
    (re.compile(r"The attribute '([^']+)' is not allowed\."), "ATTR_NOT_ALLOWED"),
    (re.compile(r"The attribute '([^']+)' is required but missing\."), "ATTR_MISSING"),
    (re.compile(r"\[facet 'enumeration'\] The value '(.*)' is not an element of the set \{(.*)\}\.", re.S), "ENUM"),
    (re.compile(r"\[facet '(\w+)'\] The value '(.*)' (?:is not accepted by the pattern|has a length|is (?:less|greater)).*", re.S), "FACET"),
    (re.compile(r"The value '(.*)' does not match the fixed value constraint '(.*)'\.", re.S), "FIXED"),
    (re.compile(r"'(.*)' is not a valid value of the (?:atomic|union|list) type '([^']+)'\.", re.S), "TYPE"),
    (re.compile(r"The QName value '([^']*)' of the xsi:type attribute does not resolve to a type definition\."), "XSI_TYPE"),
    (re.compile(r"The type definition '([^']*)', specified by xsi:type, is blocked or not validly derived"), "XSI_DERIVED"),
    (re.compile(r"The QName value '([^']*)' has no corresponding namespace declaration"), "XSI_NS"),
    (re.compile(r"The type definition is abstract\."), "ABSTRACT"),
    (re.compile(r"Character content other than whitespace is not allowed"), "TEXT"),
    (re.compile(r"Element content is not allowed, because the content type is a simple type"), "SIMPLE"),
    (re.compile(r"(?:Element|Character) content is not allowed, because the content type is empty"), "EMPTY"),
    (re.compile(r"No matching global (?:element )?declaration available"), "NO_DECL"),
]


def french_reason(raw: str) -> str:
    """A readable French reason for one libxml2 schema error (raw text as a fallback)."""
    m = _ELEMENT.match(raw)
    if not m:
        return "erreur de schéma : " + _names(raw)
    element, attribute, text = _name(m.group(1)), m.group(2), m.group(3)
    where = f"l'attribut {_name(attribute)} de l'élément {element}" if attribute else f"l'élément {element}"
    for pattern, kind in _DETAIL_RULES:
        d = pattern.search(text)
        if not d:
            continue
        exp = _expected(text)
        if kind == "NOT_EXPECTED":
            return (f"élément {element} inattendu à cet endroit"
                    + (f" ; attendu : {exp}" if exp else " ; aucun autre élément n'est attendu ici"))
        if kind == "MISSING":
            return f"il manque un élément obligatoire dans {element}" + (f" ; attendu : {exp}" if exp else "")
        if kind == "ATTR_NOT_ALLOWED":
            return f"l'attribut {_name(d.group(1))} n'est pas autorisé sur l'élément {element}"
        if kind == "ATTR_MISSING":
            return f"l'attribut obligatoire {_name(d.group(1))} manque sur l'élément {element}"
        if kind == "ENUM":
            values = d.group(2).replace("'", "")
            return f"valeur « {d.group(1)} » de {where} hors des valeurs permises ({values})"
        if kind == "FACET":
            return f"valeur « {d.group(2)} » de {where} non conforme (contrainte {d.group(1)})"
        if kind == "FIXED":
            return f"valeur « {d.group(1)} » de {where} : la valeur fixée est « {d.group(2)} »"
        if kind == "TYPE":
            return f"valeur « {d.group(1)} » de {where} invalide pour le type {_names(d.group(2))}"
        if kind == "XSI_TYPE":
            return f"le type « {d.group(1)} » donné par xsi:type sur l'élément {element} n'existe pas"
        if kind == "XSI_DERIVED":
            return (f"le type {_names(d.group(1))} donné par xsi:type n'est pas permis "
                    f"pour l'élément {element}")
        if kind == "XSI_NS":
            return f"le préfixe du nom « {d.group(1)} » de {where} n'est déclaré nulle part"
        if kind == "ABSTRACT":
            return f"l'élément {element} a un type abstrait : préciser un type concret par xsi:type"
        if kind == "TEXT":
            return f"texte non autorisé dans l'élément {element} (seuls des éléments y sont permis)"
        if kind == "SIMPLE":
            return f"l'élément {element} ne doit contenir que du texte, pas d'élément"
        if kind == "EMPTY":
            return f"l'élément {element} doit être vide : il ne doit contenir aucun élément ni texte"
        if kind == "NO_DECL":
            return f"élément {element} inconnu du schéma"
    return f"{where} : " + _names(text)
