"""Which Ségur indicator a document feeds, and why (pure, table-driven).

``classify(facts, detection, findings, settings)`` reads only its arguments. The decision
(docs/indicators.md, cisis-facts §G):

1. the detected type picks a candidate indicator from :data:`INDICATORS` (or a reason from
   :data:`NOT_COUNTED`);
2. the candidate's gates run: allowed levels (policy), prescription code and "de sortie"
   context for DS 1.2, XD-LAB header for DS 2.1;
3. the common gate: one qualified INS (accepted for the environment, well-formed key, every
   trait, sex F/M) — read from the facts, so a disabled INS rule never lets a bad INS count;
4. any finding at or above ``policy.blocking_severity`` makes the document feed nothing.

The document feeds the candidate only when every gate passes; every failed gate is a reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cdacheck.checks.ins import PRODUCTION_INS, TEST_INS, ins_ids, missing_traits, nir_problem
from cdacheck.config import IndicatorPolicy, Settings
from cdacheck.detect import T_CR_BIO_IHE, Detection
from cdacheck.model import (
    DocType,
    DocumentFacts,
    Finding,
    Identifier,
    IndicatorName,
    IndicatorResult,
    JsonScalar,
    Level,
    StayKey,
    Timestamp,
)

PS_ID_ROOT = "1.2.250.1.71.4.2.1"  # national health-professional id: not a stay id (§A.5)
MAX_CITED = 8
_NOT_PROVEN = "caractère « de sortie » non démontrable"


@dataclass(frozen=True)
class IndicatorRule:
    """One row of the decision table: which type feeds which indicator, at which levels."""

    indicator: IndicatorName
    doc_type: DocType
    label: str
    levels: Callable[[IndicatorPolicy], frozenset[Level]]


def _n1_or_n3(flag: str) -> Callable[[IndicatorPolicy], frozenset[Level]]:
    return lambda p: frozenset({"N1", "N3"}) if getattr(p, flag) else frozenset({"N1"})


INDICATORS: tuple[IndicatorRule, ...] = (
    IndicatorRule("DS 1.1", "LDL-SES", "lettre de liaison de sortie",
                  _n1_or_n3("n3_counts_for_ds1")),
    IndicatorRule("DS 1.2", "PRESCRIPTION", "ordonnance de sortie", _n1_or_n3("n3_counts_for_ds1")),
    IndicatorRule("DS 1.3", "CRO", "compte rendu opératoire", _n1_or_n3("n3_counts_for_ds1")),
    IndicatorRule("DS 2.1", "CR-BIO", "compte rendu de biologie", lambda p: frozenset({"N3"})),
    IndicatorRule("DS 3.1", "CR-IMG", "compte rendu d'imagerie", _n1_or_n3("n3_counts_for_ds3")),
)

NOT_COUNTED: dict[DocType, str] = {
    "LDL-EES": "lettre de liaison à l'entrée (18761-7) : seule la lettre de sortie 11490-0 "
               "compte pour DS 1.1",
    "CR-ANEST": "compte rendu d'anesthésie (77436-4) : ce n'est pas un compte rendu "
                "opératoire (DS 1.3)",
    "D2LM": "formulaire de dépistage du cancer du sein (D2LM) : il réutilise le code 18748-4 "
            "mais n'est pas un compte rendu d'imagerie (DS 3.1)",
    "BIO-TROD": "test rapide d'orientation diagnostique (BIO-TROD) : ce n'est pas un compte rendu "
                "de biologie (DS 2.1)",
    "OTHER": "type de document hors des cinq indicateurs Ségur",
    "UNKNOWN": "type de document indéterminé (ClinicalDocument/code absent)",
}


def policy_record(settings: Settings) -> dict[str, JsonScalar]:
    """The policy that decided, as recorded in the report."""
    p = settings.indicator
    return {
        "env": settings.env,
        "n3_counts_for_ds1": p.n3_counts_for_ds1,
        "n3_counts_for_ds3": p.n3_counts_for_ds3,
        "ds21_levels": "N3",
        "prescription_codes": ",".join(p.prescription_codes),
        "require_discharge_context": p.require_discharge_context,
        "discharge_window_days": p.discharge_window_days,
        "blocking_severity": str(p.blocking_severity),
    }


def classify(facts: DocumentFacts | None, detection: Detection | None,
             findings: list[Finding], settings: Settings) -> IndicatorResult:
    """The indicator one document feeds, with the reasons, the stay key and its version."""
    policy = settings.indicator
    blocking = [f for f in findings if f.severity.at_least(policy.blocking_severity)]

    def result(**verdict: Any) -> IndicatorResult:
        return IndicatorResult(
            policy=policy_record(settings),
            blocking_rules=list(dict.fromkeys(f.rule_id for f in blocking)),
            stay_key=stay_key(facts) if facts is not None else StayKey(),
            set_id=_ii(facts.set_id) if facts is not None else None,
            version=facts.version_number if facts is not None else None,
            **verdict,
        )

    if facts is None or detection is None:
        return result(reasons=["document illisible : aucun fait d'en-tête, aucun indicateur",
                               *_cite(blocking)])
    row = next((r for r in INDICATORS if r.doc_type == detection.doc_type), None)
    if row is None:
        why = NOT_COUNTED.get(detection.doc_type, "type non suivi")
        first = f"{detection.doc_type} ({', '.join(detection.evidence)}) : {why}"
        return result(reasons=[first, *_cite(blocking)])

    reasons = [f"candidat {row.indicator} ({row.label}) : {', '.join(detection.evidence)}"]
    inferred: list[str] = []
    failed = _gates(row, facts, detection, settings, inferred)
    finding_ids = {f.rule_id for f in blocking}
    failed += [why for rule_id, why in _ins_gate(facts, settings) if rule_id not in finding_ids]
    structured = detection.level == "N3" and facts.body.entry_count > 0
    if failed or blocking:
        reasons += [f"alimenterait {row.indicator} mais :", *failed, *_cite(blocking)]
        return result(candidate=row.indicator, reasons=reasons, inferred=inferred,
                      structured=structured)
    level_note = " (document structuré N3)" if structured else ""
    reasons.append(f"alimente {row.indicator}{level_note}")
    return result(indicator=row.indicator, candidate=row.indicator, reasons=reasons,
                  inferred=inferred, structured=structured)


def _gates(row: IndicatorRule, facts: DocumentFacts, detection: Detection,
           settings: Settings, inferred: list[str]) -> list[str]:
    policy = settings.indicator
    failed: list[str] = []
    levels = row.levels(policy)
    if detection.level not in levels:
        allowed = " ou ".join(sorted(levels))
        if row.indicator == "DS 2.1" and detection.level == "N1":
            failed.append("un compte rendu de biologie en N1 ne compte pas pour DS 2.1 (N3 exigé)")
        else:
            failed.append(f"niveau {detection.level} : {row.indicator} exige {allowed} (politique)")
    if row.indicator == "DS 1.2":
        code = facts.code.code if facts.code else None
        if code not in policy.prescription_codes:
            failed.append(f"code de prescription {code} hors de la liste retenue "
                          f"({', '.join(policy.prescription_codes)}, politique prescription_codes)")
        failed += _discharge_gate(facts, policy, inferred)
    if row.indicator == "DS 2.1" and detection.level == "N3":
        if T_CR_BIO_IHE not in facts.template_roots:
            failed.append(f"templateId IHE XD-LAB {T_CR_BIO_IHE} absent de l'en-tête")
        if facts.body.entry_count == 0:
            failed.append("aucune entrée codée dans le corps structuré")
    return failed


def _discharge_gate(facts: DocumentFacts, policy: IndicatorPolicy,
                    inferred: list[str]) -> list[str]:
    """"De sortie" inferred from an inpatient (IMP) encounter and the document date (§G)."""
    if not policy.require_discharge_context:
        inferred.append("contexte « de sortie » non exigé "
                        "(politique require_discharge_context=false)")
        return []
    enc = facts.encounter
    enc_code = enc.code.code if enc is not None and enc.code is not None else None
    if enc is None:
        return [f"{_NOT_PROVEN} : pas de componentOf/encompassingEncounter"]
    if enc_code != "IMP":
        return [f"{_NOT_PROVEN} : rencontre {enc_code or 'sans code'} "
                "(attendu IMP, hospitalisation)"]
    doc_day = _day(facts.effective_time)
    low = _day(enc.period.low) if enc.period else None
    high = _day(enc.period.high) if enc.period else None
    if doc_day is None:
        return [f"{_NOT_PROVEN} : date du document (effectiveTime) illisible"]
    if high is None:
        return [f"{_NOT_PROVEN} : fin du séjour "
                "(encompassingEncounter/effectiveTime/high) absente"]
    limit = high + dt.timedelta(days=policy.discharge_window_days)
    if (low is not None and doc_day < low) or doc_day > limit:
        return [f"{_NOT_PROVEN} : document du {doc_day.isoformat()} hors du "
                f"séjour {low.isoformat() if low else '?'} – {high.isoformat()} "
                f"+ {policy.discharge_window_days} j (politique discharge_window_days)"]
    inferred.append(f"« de sortie » déduit : séjour IMP {low.isoformat() if low else '?'} – "
                    f"{high.isoformat()}, document du {doc_day.isoformat()} "
                    f"(fenêtre {policy.discharge_window_days} j après la sortie)")
    return []


def _ins_gate(facts: DocumentFacts, settings: Settings) -> list[tuple[str, str]]:
    """(rule id, reason) of every reason the identity is not a qualified INS (§B.2, §G)."""
    ins = ins_ids(facts)
    if not ins:
        test_roots = " (ou .10/.11 en test)" if settings.env == "test" else ""
        return [("INS001", "pas d'INS qualifié : aucun identifiant patient de racine "
                           f"1.2.250.1.213.1.4.8/.9{test_roots}")]
    out: list[tuple[str, str]] = []
    if len(ins) > 1:
        out.append(("INS005", f"{len(ins)} INS pour le même patient"))
    accepted = PRODUCTION_INS | (TEST_INS if settings.env == "test" else frozenset())
    for p in ins:
        if p.id_class not in accepted:
            out.append(("INS004", f"INS {p.extension} de racine {p.root} ({p.id_class}) refusé "
                                  f"en environnement {settings.env}"))
        if p.null_flavor is not None:
            out.append(("INS006", f"INS de racine {p.root} avec nullFlavor {p.null_flavor}"))
        problem = nir_problem(p.extension)
        if problem == "key":
            out.append(("INS008", f"la clé de l'INS {p.extension} est erronée"))
        elif problem is not None and p.extension is not None:
            out.append(("INS007", f"INS {p.extension} mal formé"))
    for trait, _ in missing_traits(facts):
        out.append(("INS009", f"trait INS absent : {trait}"))
    if facts.patient.sex is not None and facts.patient.sex not in ("F", "M"):
        out.append(("INS010", f"sexe {facts.patient.sex} incompatible avec un INS"))
    return out


def _cite(blocking: list[Finding]) -> list[str]:
    cited = [f"{f.rule_id} ({f.severity}) : {f.message}" for f in blocking[:MAX_CITED]]
    if len(blocking) > MAX_CITED:
        cited.append(f"… et {len(blocking) - MAX_CITED} autre(s) constat(s) bloquant(s)")
    return cited


def _day(ts: Timestamp | None) -> dt.date | None:
    # Local calendar day of the timestamp: comparing days, not instants, keeps a stay that
    # ends at 23:30+0100 and a document at 00:10+0100 the next day one day apart, as read.
    return ts.value.date() if ts is not None and ts.value is not None else None


def _ii(ident: Identifier | None) -> str | None:
    if ident is None or ident.root is None:
        return None
    return f"{ident.root}^{ident.extension}" if ident.extension else ident.root


def stay_key(facts: DocumentFacts) -> StayKey:
    """The stay a document belongs to (§G): the encounter id, else a fallback, else none.

    Fallback: custodian structure id | patient INS | encounter start | encounter code. It
    needs at least the INS and the encounter start, otherwise no stay can be told apart.
    An encounter id whose root is the national health-professional OID is a known misuse
    (CR-BIO examples) and is not taken as a stay id.
    """
    enc = facts.encounter
    if enc is not None:
        for ident in enc.ids:
            if ident.root and ident.root != PS_ID_ROOT and not ident.null_flavor:
                return StayKey(value=_ii(ident), source="encounter-id")
    ins = ins_ids(facts)
    low = enc.period.low if enc is not None and enc.period is not None else None
    if not ins or low is None:
        return StayKey()
    custodian = _ii(facts.custodian.ids[0]) if facts.custodian and facts.custodian.ids else "?"
    code = enc.code.code if enc is not None and enc.code is not None else "?"
    value = "|".join((custodian or "?", _ii(ins[0]) or "?", low.raw, code or "?"))
    return StayKey(value=value, source="fallback")
