"""Rules on METADATA.XML alone: structure, required attributes (French column of xdm.md
§1.4), classification schemes, value sets, patientId, associations."""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum.exceptions import ValidationError as NirError
from stdnum.fr import nir

from cdacheck.checks import xdm_codes as codes
from cdacheck.checks.xdm_ebrim import (
    DE_OBJECT_TYPE,
    HAS_MEMBER,
    Coded,
    RegistryObject,
    Submission,
)
from cdacheck.model import Hit, Location, Severity
from cdacheck.registry import rule

R_ROOT = rule("XDM030", "metadata-root", Severity.ERROR,
              "METADATA.XML : racine « {found} », attendu lcm:SubmitObjectsRequest (ebRIM 3.0).",
              "METADATA.XML must be an ebRIM 3.0 SubmitObjectsRequest.", source="xdm.md §1.2 L4")
R_SET_COUNT = rule("XDM031", "submission-set-count", Severity.ERROR,
                   "METADATA.XML contient {count} lot(s) de soumission (SubmissionSet) ; "
                   "attendu exactement 1.",
                   "Each METADATA.XML carries exactly one SubmissionSet.", source="xdm.md §1.2 L4")
R_NO_ENTRY = rule("XDM032", "no-document-entry", Severity.WARNING,
                  "METADATA.XML ne décrit aucun document (DocumentEntry).",
                  "A submission set without any DocumentEntry.")
R_REQUIRED = rule("XDM033", "attribute-missing", Severity.ERROR,
                  "{object} « {id} » : attribut {attribute} absent, requis par le profil "
                  "français (DMP/MSSanté).",
                  "An attribute required (R) by the French column of xdm.md §1.4 is missing.",
                  source="xdm.md §1.4; PFI-IG mapping")
R_R2 = rule("XDM034", "attribute-recommended-missing", Severity.INFO,
            "{object} « {id} » : attribut {attribute} absent (requis s'il est connu).",
            "An R2 attribute (required if known) is missing.", source="xdm.md §1.4")
R_OBJECT_TYPE = rule("XDM035", "object-type-unknown", Severity.ERROR,
                     "DocumentEntry « {id} » : objectType « {found} », attendu « {expected} » "
                     "(document stable).",
                     "An ExtrinsicObject whose objectType is not the stable DocumentEntry UUID.",
                     source="xdm.md §1.3")
R_SCHEME = rule("XDM036", "classification-scheme-unknown", Severity.WARNING,
                "{object} « {id} » : schéma de classification ou d'identification inconnu "
                "« {scheme} ».",
                "A Classification or ExternalIdentifier uses a scheme UUID that XDS does not "
                "define for this object.", source="xdm.md §1.3")
R_NOT_IN_SET = rule("XDM037", "code-not-in-value-set", Severity.ERROR,
                    "{object} « {id} » : {attribute} « {code} » ({scheme}) absent du jeu de "
                    "valeurs {valueset}.",
                    "A coded attribute is not in its CI-SIS value set (J06, J07, J08, J10, J02, "
                    "J04).", source="xds-value-sets.md")
R_CODING_SCHEME = rule("XDM038", "coding-scheme-wrong", Severity.ERROR,
                       "{object} « {id} » : {attribute} « {code} » déclaré avec le codingScheme "
                       "« {found} », attendu « {expected} ».",
                       "The codingScheme slot does not name the code system of the code.",
                       source="xds-value-sets.md §1")
R_RETIRED = rule("XDM039", "format-code-retired", Severity.WARNING,
                 "{object} « {id} » : formatCode « {code} » retiré de TRE_A06 le {date}.",
                 "The formatCode is end-dated in TRE_A06.", source="xds-value-sets.md §3.2")
R_MIME_FORMAT = rule("XDM040", "format-code-is-mime-type", Severity.ERROR,
                     "{object} « {id} » : formatCode « {code} » est un type MIME ; attendu un "
                     "code de format XDS (ex. urn:ihe:iti:xds-sd:pdf:2008).",
                     "A MIME type written as formatCode (seen in the PFI-IG until 2024-11).",
                     source="xds-value-sets.md §3.3")
R_CLASS = rule("XDM041", "class-code-type-mismatch", Severity.ERROR,
               "{object} « {id} » : classCode « {found} » alors qu'ASS_X04 associe le typeCode "
               "« {type_code} » à la classe « {expected} ».",
               "classCode must be the class ASS_X04 gives for the typeCode.",
               source="xds-value-sets.md §4")
R_NO_CLASS_ROW = rule("XDM042", "type-code-without-class-row", Severity.INFO,
                      "{object} « {id} » : le typeCode « {type_code} » n'a pas de ligne dans "
                      "ASS_X04 ; le classCode « {found} » n'est pas vérifié.",
                      "The typeCode has no ASS_X04 row, so classCode cannot be checked.",
                      source="xds-value-sets.md §4.2")
R_CONF = rule("XDM043", "confidentiality-invalid", Severity.ERROR,
              "{object} « {id} » : confidentialityCode n°{position} « {code} » ({scheme}) "
              "invalide : {reason}.",
              "First confidentialityCode in N/R/V (2.16.840.1.113883.5.25), further ones only "
              "the DMP masking codes (1.2.250.1.213.1.1.4.13).", source="xds-value-sets.md §6")
R_CX = rule("XDM044", "patient-id-malformed", Severity.ERROR,
            "{object} « {id} » : patientId « {value} » mal formé ({reason}) ; attendu "
            "« matricule^^^&OID&ISO^NH ».",
            "patientId must be a CX <INS>^^^&<OID>&ISO^NH.", source="xdm.md §1.7")
R_NOT_INS = rule("XDM045", "patient-id-not-ins", Severity.ERROR,
                 "{object} « {id} » : patientId sous l'autorité « {oid} », qui n'est pas un OID "
                 "d'INS (1.2.250.1.213.1.4.8, .9, .10 ou .11).",
                 "The patientId assigning authority is not an INS OID.", source="xdm.md §1.7")
R_NIR_KEY = rule("XDM046", "patient-id-key", Severity.ERROR,
                 "{object} « {id} » : matricule INS « {value} » invalide ({reason}).",
                 "The INS matricule of patientId fails the NIR format or key check.",
                 source="cisis-facts §B.4")
R_ESCAPE = rule("XDM047", "patient-id-double-escaped", Severity.ERROR,
                "{object} « {id} » : {attribute} « {value} » contient « &amp; » : le « & » a "
                "été échappé deux fois.",
                "A CX value was XML-escaped twice (NIST Epic sample).", source="xdm.md §1.7")
R_PATIENTS = rule("XDM048", "several-patients", Severity.ERROR,
                  "L'archive concerne {count} patients distincts ({values}) : un message MSSanté "
                  "ne concerne qu'un seul patient.",
                  "Every SubmissionSet and DocumentEntry of an archive share one patientId.",
                  source="xdm.md §1.8 ECO.2.1.1")
R_ASSOC = rule("XDM049", "association-missing", Severity.ERROR,
               "DocumentEntry « {id} » : aucune association HasMember depuis le lot de "
               "soumission « {set_id} ».",
               "Each DocumentEntry is linked to the SubmissionSet by a HasMember association.",
               source="xdm.md §1.3")
R_DANGLING = rule("XDM050", "association-dangling", Severity.ERROR,
                  "Association « {id} » : l'objet « {target} » n'existe pas dans METADATA.XML.",
                  "An association points to an object that is not in the metadata.")
R_DTM = rule("XDM051", "datetime-malformed", Severity.ERROR,
             "{object} « {id} » : {attribute} « {value} » n'est pas une date XDS "
             "(AAAA[MM[JJ[hh[mm[ss]]]]], UTC).",
             "XDS times are DTM values without offset, in UTC.", source="xdm.md §1.4")
R_DUP_ID = rule("XDM052", "duplicate-identifier", Severity.ERROR,
                "{attribute} « {value} » porté par plusieurs objets ({count}).",
                "entryUUID and uniqueId are unique within the archive.")
R_HASH_FORM = rule("XDM053", "hash-size-malformed", Severity.ERROR,
                   "DocumentEntry « {id} » : {attribute} « {value} » mal formé ({expected}).",
                   "hash is 40 hexadecimal digits (SHA-1), size a decimal byte count.",
                   source="xdm.md §1.5")

_DE_REQUIRED = ("uniqueId", "entryUUID", "patientId", "sourcePatientId", "typeCode", "classCode",
                "formatCode", "mimeType", "confidentialityCode", "creationTime", "languageCode",
                "title", "authorPerson", "legalAuthenticator", "serviceStartTime",
                "healthcareFacilityTypeCode", "practiceSettingCode", "hash", "size", "URI")
_DE_R2 = ("authorInstitution", "authorRole", "authorSpecialty", "serviceStopTime")
_SS_REQUIRED = ("uniqueId", "entryUUID", "patientId", "sourceId", "submissionTime",
                "contentTypeCode", "authorPerson")
_SS_R2 = ("authorInstitution", "authorRole", "authorSpecialty", "intendedRecipient")
_CX_RE = re.compile(r"^([^^]+)\^\^\^([^^]*)&([0-9.]+)&ISO\^([A-Z]+)$")
_DTM_RE = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2})?)?)?)?)?$", re.ASCII)
_HEX40 = re.compile(r"^[0-9A-Fa-f]{40}$")
_MIME_RE = re.compile(r"^(application|text|image|audio|video|multipart)/[\w.+-]+$")
_TIMES = ("creationTime", "serviceStartTime", "serviceStopTime")


def label(obj: RegistryObject) -> str:
    return "Lot de soumission" if obj.kind == "SubmissionSet" else obj.kind


def loc(sub: Submission, source: str, line: int | None) -> Location:
    return Location(file=source, member=sub.member, line=line)


def check_submission(sub: Submission, source: str) -> Iterator[Hit]:
    """Every metadata-only rule of one METADATA.XML."""
    if not sub.root_ok:
        yield Hit(rule_id=R_ROOT.id, params={"found": sub.root_name},
                  location=loc(sub, source, 1))
        return
    if len(sub.sets) != 1:
        yield Hit(rule_id=R_SET_COUNT.id, params={"count": len(sub.sets)},
                  location=loc(sub, source, None))
    if not sub.entries:
        yield Hit(rule_id=R_NO_ENTRY.id, location=loc(sub, source, None))
    for ss in sub.sets:
        yield from _required(sub, source, ss, _SS_REQUIRED, _SS_R2)
        yield from _common(sub, source, ss)
    for de in sub.entries:
        if de.object_type != DE_OBJECT_TYPE:
            yield Hit(rule_id=R_OBJECT_TYPE.id,
                      params={"id": de.id, "found": de.object_type or "(absent)",
                              "expected": DE_OBJECT_TYPE}, location=loc(sub, source, de.line))
        yield from _required(sub, source, de, _DE_REQUIRED, _DE_R2)
        yield from _common(sub, source, de)
        yield from _entry_codes(sub, source, de)
    yield from _associations(sub, source)


def _required(sub: Submission, source: str, obj: RegistryObject, required: tuple[str, ...],
              r2: tuple[str, ...]) -> Iterator[Hit]:
    for attribute in required:
        if not obj.has(attribute):
            yield Hit(rule_id=R_REQUIRED.id,
                      params={"object": label(obj), "id": obj.id, "attribute": attribute},
                      location=loc(sub, source, obj.line))
    for attribute in r2:
        if not obj.has(attribute):
            yield Hit(rule_id=R_R2.id,
                      params={"object": label(obj), "id": obj.id, "attribute": attribute},
                      location=loc(sub, source, obj.line))


def _common(sub: Submission, source: str, obj: RegistryObject) -> Iterator[Hit]:
    where = loc(sub, source, obj.line)
    base = {"object": label(obj), "id": obj.id}
    for scheme, line in obj.unknown_schemes:
        yield Hit(rule_id=R_SCHEME.id, params={**base, "scheme": scheme},
                  location=loc(sub, source, line))
    pid = obj.ids.get("patientId")
    if pid:
        yield from check_cx(pid, base, where)
    for attribute in ("sourcePatientId",):
        value = obj.slot(attribute)
        if value and "&amp;" in value:
            yield Hit(rule_id=R_ESCAPE.id, params={**base, "attribute": attribute, "value": value},
                      location=where)
    for attribute in (*_TIMES, "submissionTime"):
        value = obj.slot(attribute)
        if value is not None and not _DTM_RE.match(value):
            yield Hit(rule_id=R_DTM.id, params={**base, "attribute": attribute, "value": value},
                      location=where)


def check_cx(value: str, base: dict[str, str], where: Location) -> Iterator[Hit]:
    """Shape, authority and NIR key of a patientId CX."""
    if "&amp;" in value:
        yield Hit(rule_id=R_ESCAPE.id, params={**base, "attribute": "patientId", "value": value},
                  location=where)
        return
    m = _CX_RE.match(value)
    if m is None:
        yield Hit(rule_id=R_CX.id, params={**base, "value": value,
                                           "reason": "composants CX.1, CX.4 ou CX.5"},
                  location=where)
        return
    matricule, _ns, oid, id_type = m.groups()
    if id_type != "NH":
        reason = f"type d'identifiant « {id_type} » au lieu de NH"
        yield Hit(rule_id=R_CX.id, params={**base, "value": value, "reason": reason},
                  location=where)
    if oid not in codes.INS_OIDS:
        yield Hit(rule_id=R_NOT_INS.id, params={**base, "oid": oid}, location=where)
        return
    reason = nir_problem(matricule)
    if reason is not None:
        yield Hit(rule_id=R_NIR_KEY.id, params={**base, "value": matricule, "reason": reason},
                  location=where)


def nir_problem(matricule: str) -> str | None:
    """Why a 15-character INS matricule is not a valid NIR/NIA, or None."""
    if len(matricule) != 15:
        return f"{len(matricule)} caractères au lieu de 15"
    try:
        nir.validate(matricule)
    except NirError as exc:
        return "clé de contrôle fausse" if "checksum" in type(exc).__name__.lower() \
            or "checksum" in str(exc).lower() else (str(exc) or "format")
    return None


def parse_cx(value: str | None) -> tuple[str, str] | None:
    """(matricule, OID) of a CX patientId, or None when it is not CX-shaped."""
    if not value:
        return None
    m = _CX_RE.match(value.replace("&amp;", "&"))
    return (m.group(1), m.group(3)) if m else None


def _entry_codes(sub: Submission, source: str, de: RegistryObject) -> Iterator[Hit]:
    where = loc(sub, source, de.line)
    base = {"object": "DocumentEntry", "id": de.id}
    cls = de.code("classCode")
    if cls is not None:
        info = codes.class_codes().get(cls.code)
        if info is None:
            yield _not_in_set(base, "classCode", cls, "JDV_J06", where)
        elif cls.scheme != info["scheme"]:
            yield _scheme(base, "classCode", cls, info["scheme"], where)
    fmt = de.code("formatCode")
    if fmt is not None:
        yield from _format(base, fmt, where)
    typ = de.code("typeCode")
    if typ is not None:
        j07 = codes.cisis_value_set("J07")
        if j07 is not None and not j07.has(typ.code):
            yield _not_in_set(base, "typeCode", typ, "JDV_J07", where)
        row = codes.type_to_class().get(typ.code)
        if row is not None and typ.scheme != row["scheme"]:
            yield _scheme(base, "typeCode", typ, row["scheme"], where)
    for position, conf in enumerate(de.codes.get("confidentialityCode", []), start=1):
        reason = _conf_problem(position, conf)
        if reason:
            yield Hit(rule_id=R_CONF.id, params={**base, "position": position, "code": conf.code,
                                                 "scheme": conf.scheme or "?", "reason": reason},
                      location=loc(sub, source, conf.line or de.line))
    for attribute, key in (("healthcareFacilityTypeCode", "J02"), ("practiceSettingCode", "J04")):
        coded = de.code(attribute)
        vs = codes.cisis_value_set(key)
        if coded is None or vs is None:
            continue
        if not vs.has(coded.code):
            yield _not_in_set(base, attribute, coded, f"JDV_{key}", where)
        elif coded.scheme and vs.schemes(coded.code) and coded.scheme not in vs.schemes(coded.code):
            yield _scheme(base, attribute, coded, sorted(vs.schemes(coded.code))[0], where)
    for attribute in ("hash", "size"):
        value = de.slot(attribute)
        if value is None:
            continue
        ok = _HEX40.match(value) if attribute == "hash" else (value.isascii() and value.isdigit())
        if not ok:
            yield Hit(rule_id=R_HASH_FORM.id,
                      params={**base, "attribute": attribute, "value": value[:80],
                              "expected": "40 chiffres hexadécimaux" if attribute == "hash"
                              else "nombre d'octets"}, location=where)


def class_hit(de: RegistryObject, type_code: str | None, where: Location) -> Hit | None:
    """classCode against ASS_X04(type_code): a mismatch, a 'no row' note, or None."""
    cls = de.code("classCode")
    if cls is None or not type_code:
        return None
    base = {"object": "DocumentEntry", "id": de.id, "type_code": type_code, "found": cls.code}
    row = codes.type_to_class().get(type_code)
    if row is None:
        return Hit(rule_id=R_NO_CLASS_ROW.id, params=base, location=where)
    if row["class"] != cls.code:
        return Hit(rule_id=R_CLASS.id, params={**base, "expected": row["class"]}, location=where)
    return None


def _format(base: dict[str, str], fmt: Coded, where: Location) -> Iterator[Hit]:
    if _MIME_RE.match(fmt.code):
        yield Hit(rule_id=R_MIME_FORMAT.id, params={**base, "code": fmt.code}, location=where)
        return
    retired = codes.retired_formats().get(fmt.code)
    if retired is not None:
        yield Hit(rule_id=R_RETIRED.id, params={**base, "code": fmt.code, "date": retired},
                  location=where)
        return
    info = codes.format_codes().get(fmt.code)
    if info is None:
        yield _not_in_set(base, "formatCode", fmt, "JDV_J10", where)
    elif fmt.scheme != info["scheme"]:
        yield _scheme(base, "formatCode", fmt, info["scheme"], where)


def _conf_problem(position: int, conf: Coded) -> str | None:
    info = codes.confidentiality_codes().get(conf.code)
    if info is None:
        return "absent de JDV_J08"
    if conf.scheme != info["scheme"]:
        return f"codingScheme attendu {info['scheme']}"
    if position == 1 and not info["first"]:
        return "la première valeur doit être N, R ou V, copiée du document"
    if position > 1 and info["first"]:
        return "les valeurs suivantes sont des codes de masquage DMP"
    return None


def _not_in_set(base: dict[str, str], attribute: str, coded: Coded, valueset: str,
                where: Location) -> Hit:
    return Hit(rule_id=R_NOT_IN_SET.id,
               params={**base, "attribute": attribute, "code": coded.code,
                       "scheme": coded.scheme or "sans codingScheme", "valueset": valueset},
               location=where)


def _scheme(base: dict[str, str], attribute: str, coded: Coded, expected: str,
            where: Location) -> Hit:
    return Hit(rule_id=R_CODING_SCHEME.id,
               params={**base, "attribute": attribute, "code": coded.code,
                       "found": coded.scheme or "(absent)", "expected": expected},
               location=where)


def _associations(sub: Submission, source: str) -> Iterator[Hit]:
    # Entries beyond the cap were counted, not read: they exist, their associations hold.
    # An association is an object too: a submission set's HasMember may point at the
    # Folder → DocumentEntry association (ITI TF-3 4.2.1.3, documents added to a folder).
    known = ({o.id for o in (*sub.sets, *sub.entries, *sub.folders, *sub.others)}
             | {a.id for a in sub.associations} | sub.skipped_ids)
    members: dict[str, set[str]] = {}
    for assoc in sub.associations:
        missing = [e for e in (assoc.source, assoc.target) if e not in known]
        if missing and assoc.type == HAS_MEMBER:
            yield Hit(rule_id=R_DANGLING.id, params={"id": assoc.id, "target": missing[0]},
                      location=loc(sub, source, assoc.line))
        if assoc.type == HAS_MEMBER:
            members.setdefault(assoc.source, set()).add(assoc.target)
    for ss in sub.sets[:1]:
        linked = members.get(ss.id, set())
        for de in sub.entries:
            if de.id not in linked:
                yield Hit(rule_id=R_ASSOC.id, params={"id": de.id, "set_id": ss.id},
                          location=loc(sub, source, de.line))
