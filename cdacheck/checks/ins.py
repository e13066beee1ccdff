"""INS rules (family INS): which patient identifier is the INS, its shape, key and traits.

The identifier classes come from the facts (OID of ``recordTarget/patientRole/id/@root``,
cisis-facts §B.1). The NIR/NIA arithmetic is in :func:`nir_problem`, shared with the
classifier so that the indicator never counts an identity the checks would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from lxml import etree

from cdacheck.checks import CheckContext, check
from cdacheck.inputs.xml import HL7
from cdacheck.model import DocumentFacts, Hit, Location, PatientIdentifier, Severity
from cdacheck.registry import rule

_N = {"h": HL7}

PRODUCTION_INS = frozenset({"INS-NIR", "INS-NIA"})
TEST_INS = frozenset({"INS-NIR-TEST", "INS-NIR-DEMO"})
INS_CLASSES = PRODUCTION_INS | TEST_INS
NOT_INS = frozenset({"NSS-NIR", "NSS-NIA", "INS-C"})

_SRC_B1 = "cisis-facts §B.1"
_SRC_B3 = "cisis-facts §B.3"
_SRC_B4 = "cisis-facts §B.4"

R_ABSENT = rule(
    "INS001", "ins-absent", Severity.WARNING,
    "Aucun INS parmi les identifiants du patient (recordTarget/patientRole/id, racines "
    "trouvées : {roots}) : attendu une racine 1.2.250.1.213.1.4.8 (INS-NIR) ou "
    "1.2.250.1.213.1.4.9 (INS-NIA). Sans INS qualifié, le document ne compte pour aucun "
    "indicateur Ségur.",
    "No patient identifier is an INS; the INS is mandatory for a shared document.",
    source=_SRC_B1 + ", §B.2")
R_NOT_INS = rule(
    "INS002", "nss-or-insc-instead-of-ins", Severity.ERROR,
    "L'identifiant patient de racine {root} ({id_class}, valeur {value}) n'est pas un INS : "
    "attendu 1.2.250.1.213.1.4.8 (INS-NIR) ou 1.2.250.1.213.1.4.9 (INS-NIA). "
    "Les racines .13/.14 sont des numéros de sécurité sociale, .2 l'ancien INS-C.",
    "An NSS (1.2.250.1.213.1.4.13/.14) or an INS-C (1.2.250.1.213.1.4.2) is given where "
    "the INS is expected (no INS in the document).",
    source=_SRC_B1 + ", cisis-facts §H.9")
R_INSC = rule(
    "INS003", "ins-c-obsolete", Severity.WARNING,
    "Identifiant INS-C (racine 1.2.250.1.213.1.4.2, valeur {value}) : l'INS calculé est "
    "obsolète depuis 2021, seul l'INS (racine .8 ou .9) identifie le patient.",
    "A legacy INS-C identifier is carried next to the INS.",
    source=_SRC_B1)
R_TEST_IN_PROD = rule(
    "INS004", "test-identity-in-production", Severity.ERROR,
    "Identifiant patient {value} de racine {root} ({id_class}) : identité de "
    "{kind} refusée en environnement « production » ; attendu 1.2.250.1.213.1.4.8 ou "
    "1.2.250.1.213.1.4.9 (utiliser --env test pour des documents de test).",
    "A test (.10) or demonstration (.11) INS in a production run.",
    source=_SRC_B1)
R_MULTIPLE = rule(
    "INS005", "ins-multiple", Severity.ERROR,
    "{count} INS dans recordTarget/patientRole/id ({values}) : un seul INS attendu.",
    "More than one INS identifies the patient.",
    source=_SRC_B1)
R_NULL = rule(
    "INS006", "ins-null-flavor", Severity.ERROR,
    "INS de racine {root} avec nullFlavor=\"{null_flavor}\" : un INS n'est transmis que "
    "s'il est connu et qualifié (attendu @extension renseignée, sans nullFlavor).",
    "An INS identifier carries a nullFlavor.",
    source="cisis-facts §B.2")
R_SHAPE = rule(
    "INS007", "ins-malformed", Severity.ERROR,
    "INS « {value} » (racine {root}) mal formé : {problem} ; attendu 15 caractères, "
    "13 chiffres (département 2A ou 2B admis pour la Corse) suivis d'une clé de 2 chiffres.",
    "The NIR/NIA is not 15 characters of the allowed shape.",
    source=_SRC_B4)
R_KEY = rule(
    "INS008", "ins-key-wrong", Severity.ERROR,
    "Clé de l'INS « {value} » (racine {root}) erronée : trouvée {found}, attendue "
    "{expected} (97 − N mod 97).",
    "The NIR/NIA control key does not match the 13 first characters.",
    source=_SRC_B4)
R_TRAIT = rule(
    "INS009", "ins-trait-missing", Severity.ERROR,
    "INS présent mais trait d'identité absent : {trait} ({xpath}).",
    "With an INS, every INS trait must be present (birth family name, first birth given "
    "name, birth given names, birth date, birthplace code, sex).",
    source=_SRC_B3)
R_SEX = rule(
    "INS010", "ins-sex-not-f-m", Severity.ERROR,
    "Sexe « {found} » (administrativeGenderCode/@code) incompatible avec un INS : "
    "attendu F ou M.",
    "The sex of an INS identity can only be F or M.",
    source=_SRC_B3)
R_SEX_NIR = rule(
    "INS011", "ins-sex-contradicts-nir", Severity.WARNING,
    "Sexe « {sex} » en contradiction avec l'INS « {value} » dont le premier chiffre "
    "({digit}) indique {expected}.",
    "The administrative sex contradicts the first digit of the NIR (1 = M, 2 = F).",
    source=_SRC_B4)
R_BIRTH_NIR = rule(
    "INS012", "ins-birth-contradicts-nir", Severity.WARNING,
    "Date de naissance {birth} en contradiction avec l'INS « {value} » : {part} {found} "
    "dans la date, {expected} dans le NIR.",
    "Birth year or month contradicts the year/month digits of the NIR.",
    source=_SRC_B4)

NirProblem = Literal["length", "charset", "key"]

# Strict shape, written by hand because stdnum.fr.nir.compact() strips spaces and dots and
# upper-cases its input: "2a" or "2 79..." would pass it, but an INS in
# patientRole/id/@extension must be exactly the 15 characters, no separator, upper case.
_NIR_SHAPE = re.compile(r"^[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}$")


def nir_problem(value: str | None) -> NirProblem | None:
    """What is wrong with a NIR/NIA matricule (``None`` when it is well-formed with a valid key)."""
    if not value or len(value) != 15:
        return "length"
    if not _NIR_SHAPE.match(value):
        return "charset"
    if nir_key(value) != value[13:]:
        return "key"
    return None


def nir_key(value: str) -> str:
    """The expected 2-digit key of a NIR/NIA whose 13 first characters are well-formed.

    97 minus the 13-digit number modulo 97, Corsica's 2A/2B read as 19/18: the arithmetic of
    ``stdnum.fr.nir.calc_check_digits``, which ``stdnum.fr.nir.validate`` reduces to once the
    shape above holds (tests/test_speed_equivalence.py compares them). Written here because
    importing python-stdnum costs tens of milliseconds at start (it loads ssl and pydoc).
    """
    department = value[5:7]
    number = value[:13]
    if department == "2A":
        number = number[:5] + "19" + number[7:]
    elif department == "2B":
        number = number[:5] + "18" + number[7:]
    return "%02d" % (97 - (int(number) % 97))


def ins_ids(facts: DocumentFacts) -> list[PatientIdentifier]:
    """The patient identifiers whose OID is an INS one (production, test or demo)."""
    return [p for p in facts.patient_ids if p.id_class in INS_CLASSES]


_PROBLEM_FR = {
    "length": "longueur {n} au lieu de 15",
    "charset": "caractère non autorisé",
}

# (trait name in French, path shown to the user, PatientTraits attribute)
TRAITS: tuple[tuple[str, str, str], ...] = (
    ("nom de naissance", "patient/name/family[@qualifier='BR']", "birth_family_name"),
    ("premier prénom de naissance", "patient/name/given[@qualifier='BR']",
     "first_birth_given_name"),
    ("liste des prénoms de naissance", "patient/name/given sans @qualifier", "birth_given_names"),
    ("date de naissance", "patient/birthTime/@value", "birth_date"),
    ("code INSEE du lieu de naissance", "patient/birthplace/place/addr/county", "birthplace_code"),
    ("sexe", "patient/administrativeGenderCode/@code", "sex"),
)


def missing_traits(facts: DocumentFacts) -> list[tuple[str, str]]:
    """(trait, xpath) of every INS trait absent from the header."""
    out = []
    for label, xpath, attr in TRAITS:
        value = getattr(facts.patient, attr)
        if value is None or (attr == "birth_date" and not value.raw):
            out.append((label, xpath))
    return out


def _id_elements(ctx: CheckContext) -> list[etree._Element]:
    return list(ctx.doc.cda.findall("h:recordTarget/h:patientRole/h:id", _N))


def _value(pid: PatientIdentifier) -> str:
    return pid.extension if pid.extension is not None else "(absente)"


@check
def check_ins_identifiers(ctx: CheckContext) -> Iterator[Hit]:
    """Which identifier is the INS; env, multiplicity, nullFlavor, shape and key."""
    facts = ctx.facts
    elements = _id_elements(ctx)

    def loc(i: int) -> Location:  # the facts keep document order: index i = i-th id element
        return ctx.doc.location(elements[i]) if i < len(elements) else ctx.doc.location(None)

    indexed = list(enumerate(facts.patient_ids))
    ins = [(i, p) for i, p in indexed if p.id_class in INS_CLASSES]
    others = [(i, p) for i, p in indexed if p.id_class in NOT_INS]
    if not ins:
        if others:
            for i, p in others:
                yield Hit(rule_id=R_NOT_INS.id, location=loc(i),
                          params={"root": p.root, "id_class": p.id_class, "value": _value(p)})
        else:
            roots = ", ".join(sorted({p.root or "?" for p in facts.patient_ids})) or "aucune"
            yield Hit(rule_id=R_ABSENT.id, params={"roots": roots},
                      location=ctx.doc.location(ctx.doc.cda.find("h:recordTarget", _N)))
        return
    for i, p in others:
        if p.id_class == "INS-C":
            yield Hit(rule_id=R_INSC.id, location=loc(i), params={"value": _value(p)})
    if len(ins) > 1:
        yield Hit(rule_id=R_MULTIPLE.id, location=loc(ins[1][0]),
                  params={"count": len(ins),
                          "values": ", ".join(f"{p.root}/{_value(p)}" for _, p in ins)})
    for i, p in ins:
        if ctx.settings.env == "production" and p.id_class in TEST_INS:
            kind = "test" if p.id_class == "INS-NIR-TEST" else "démonstration"
            yield Hit(rule_id=R_TEST_IN_PROD.id, location=loc(i),
                      params={"value": _value(p), "root": p.root, "id_class": p.id_class,
                              "kind": kind})
        if p.null_flavor is not None:
            yield Hit(rule_id=R_NULL.id, location=loc(i),
                      params={"root": p.root, "null_flavor": p.null_flavor})
            if p.extension is None:
                continue
        yield from _value_hits(p, loc(i))


def _value_hits(p: PatientIdentifier, location: Location) -> Iterator[Hit]:
    value = p.extension or ""
    problem = nir_problem(value)
    if problem is None:
        return
    if problem == "key":
        yield Hit(rule_id=R_KEY.id, location=location,
                  params={"value": value, "root": p.root, "found": value[13:],
                          "expected": nir_key(value)})
    else:
        text = _PROBLEM_FR[problem].format(n=len(value))
        yield Hit(rule_id=R_SHAPE.id, location=location,
                  params={"value": value, "root": p.root, "problem": text})


@check
def check_ins_traits(ctx: CheckContext) -> Iterator[Hit]:
    """With an INS: every trait present, sex F/M, sex and birth year/month consistent with it."""
    ins = ins_ids(ctx.facts)
    if not ins:
        return
    patient_el = ctx.doc.cda.find("h:recordTarget/h:patientRole/h:patient", _N)
    where = ctx.doc.location(patient_el if patient_el is not None else ctx.doc.cda)
    for trait, xpath in missing_traits(ctx.facts):
        yield Hit(rule_id=R_TRAIT.id, location=where, params={"trait": trait, "xpath": xpath})
    traits = ctx.facts.patient
    if traits.sex is not None and traits.sex not in ("F", "M"):
        yield Hit(rule_id=R_SEX.id, location=where, params={"found": traits.sex})
    for p in ins:
        if p.extension and nir_problem(p.extension) is None:
            yield from _consistency_hits(p.extension, ctx.facts, where)


# First digit of a NIR: 1 = male, 2 = female. Other leading digits (3, 4, 7, 8: provisional
# or special numbers) are not hard-coded to a sex: their meaning is unverified (§B.4).
_NIR_SEX = {"1": "M", "2": "F"}
_SEX_FR = {"M": "le sexe masculin (M)", "F": "le sexe féminin (F)"}


def _consistency_hits(value: str, facts: DocumentFacts, where: Location) -> Iterator[Hit]:
    traits = facts.patient
    nir_sex = _NIR_SEX.get(value[0])
    if nir_sex and traits.sex in ("F", "M") and traits.sex != nir_sex:
        yield Hit(rule_id=R_SEX_NIR.id, location=where,
                  params={"sex": traits.sex, "value": value, "digit": value[0],
                          "expected": _SEX_FR[nir_sex]})
    birth = traits.birth_date
    if birth is None or birth.value is None:
        return
    year, month = value[1:3], value[3:5]
    if f"{birth.value.year % 100:02d}" != year:
        yield Hit(rule_id=R_BIRTH_NIR.id, location=where,
                  params={"birth": birth.raw, "value": value, "part": "année",
                          "found": f"{birth.value.year % 100:02d}", "expected": year})
    # Month pseudo-values (20, 30-42, 50+...) stand for an unknown month: compare 01-12 only.
    month_known = birth.precision not in ("year", None) and "01" <= month <= "12"
    if month_known and f"{birth.value.month:02d}" != month:
        yield Hit(rule_id=R_BIRTH_NIR.id, location=where,
                  params={"birth": birth.raw, "value": value, "part": "mois",
                          "found": f"{birth.value.month:02d}", "expected": month})
