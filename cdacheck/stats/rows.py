"""Reports -> flat rows for the database: one per document, its reasons, what it replaces.

What a row keeps of a DocumentReport (docs/stats.md):

- ``logical``: the setId (``root^extension``), else the document id, else its SHA-1: the
  logical document; ``version`` its versionNumber (0 when absent or not a number);
- ``replaces``: the ids of the parent documents of its ``relatedDocument[@typeCode=RPLC]``;
- ``candidate`` / ``qualifies``: the indicator the classifier gives it, and whether it feeds
  it; ``rejected`` when it travelled in an archive the DMP would reject;
- ``stay`` / ``stay_ext``: the classifier's stay key, and the extension of the encounter id
  (what a stays file carries);
- ``finess``: the FINESS géographique read in this order: the encounter location
  (``location/healthCareFacility/serviceProviderOrganization/id``), the authors'
  organisations, the custodian; only ids with root 1.2.250.1.71.4.2.2 whose extension is
  ``1`` + a 9-character FINESS;
- ``doc_date``: the local day of the document's effectiveTime;
- the reasons it does not qualify, as stable labels (values such as INS or dates removed),
  so they can be counted and ranked.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cdacheck.model import ArchiveReport, DocumentReport, Identifier, Severity

STRUCTURE_ROOT = "1.2.250.1.71.4.2.2"
FINESS_EXT = re.compile(r"^1(\d{9}|2[AB]\d{7})$")
DOC_COLUMNS = ("idx", "source", "logical", "doc_id", "version", "candidate", "qualifies",
               "rejected", "stay", "stay_ext", "finess", "doc_date")
REJECTED_ARCHIVE = "archive XDM rejetée"
ARCHIVE_WITHDRAWN = "l'archive XDM qui le contient serait rejetée"
_CITED = re.compile(r"^([A-Z]{3}\d{3}|SCH/\S+|INT\d{3}) \(|^… et \d+ autre")

# Stable labels of the classifier's gate reasons (cdacheck/classify.py): first match wins.
_LABELS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), label) for p, label in (
    (r"^pas d'INS qualifié", "pas d'INS qualifié"),
    (r"^trait INS absent : (.+)$", r"trait INS absent : \1"),
    (r"^\d+ INS pour le même patient", "plusieurs INS pour le même patient"),
    (r"^INS .* refusé en environnement (\w+)", r"INS refusé en environnement \1"),
    (r"^INS de racine .* avec nullFlavor", "INS avec nullFlavor"),
    (r"^la clé de l'INS", "clé de l'INS erronée"),
    (r"^INS .* mal formé", "INS mal formé"),
    (r"^sexe .* incompatible", "sexe incompatible avec un INS"),
    (r"^un compte rendu de biologie en N1", "biologie en N1 (N3 exigé pour DS 2.1)"),
    (r"^niveau (\S+) : (.+?) exige", r"niveau \1 non retenu pour \2 (politique)"),
    (r"^code de prescription", "code de prescription hors de la liste retenue"),
    (r"^caractère « de sortie » non démontrable : pas de componentOf",
     "« de sortie » non démontrable : pas de rencontre"),
    (r"^caractère « de sortie » non démontrable : rencontre (\S+)",
     r"« de sortie » non démontrable : rencontre \1 (IMP attendu)"),
    (r"^caractère « de sortie » non démontrable : date du document",
     "« de sortie » non démontrable : date du document illisible"),
    (r"^caractère « de sortie » non démontrable : fin du séjour",
     "« de sortie » non démontrable : fin du séjour absente"),
    (r"^caractère « de sortie » non démontrable : document du",
     "« de sortie » non démontrable : document hors de la fenêtre de sortie"),
    (r"^templateId IHE XD-LAB", "templateId IHE XD-LAB absent de l'en-tête"),
    (r"^aucune entrée codée", "aucune entrée codée dans le corps structuré"),
))


def reason_label(text: str) -> str:
    """A gate reason of the classifier as a stable label (no patient value, no date)."""
    for pattern, label in _LABELS:
        m = pattern.match(text)
        if m:
            return m.expand(label)
    return re.sub(r"\d{2,}[\d\-.:^]*", "…", text.split(" : ")[0])


def ii(ident: Identifier | None) -> str | None:
    if ident is None or ident.root is None:
        return None
    return f"{ident.root}^{ident.extension}" if ident.extension else ident.root


def finess_of(doc: DocumentReport) -> str | None:
    """The FINESS géographique of a document, in the documented order, or None."""
    facts = doc.facts
    if facts is None:
        return None
    groups: list[list[Identifier]] = []
    if facts.encounter is not None:
        groups.append(facts.encounter.location_organization_ids)
    groups.extend(a.organization_ids for a in facts.authors)
    if facts.custodian is not None:
        groups.append(facts.custodian.ids)
    for ids in groups:
        for ident in ids:
            if ident.root == STRUCTURE_ROOT and ident.extension:
                m = FINESS_EXT.match(ident.extension)
                if m:
                    return m.group(1)
    return None


def _version(raw: str | None) -> int:
    try:
        return int(raw or 0)
    except ValueError:
        return 0


def _stay_ext(doc: DocumentReport) -> str | None:
    key = doc.indicator.stay_key
    if key.source != "encounter-id" or not key.value:
        return None
    return key.value.split("^", 1)[1] if "^" in key.value else key.value


def _reasons(doc: DocumentReport, rejected_by: list[str]) -> list[str]:
    ind = doc.indicator
    if ind.candidate == "none":
        return []
    out: list[str] = [f"{REJECTED_ARCHIVE} ({rule})" for rule in rejected_by]
    if ind.indicator == ind.candidate:
        return out
    # The pipeline already withdraws the indicator of a document whose archive would be
    # rejected (cdacheck.pipeline._archive_rejected): that is the archive reason above.
    if rejected_by and not [r for r in ind.blocking_rules if r not in rejected_by]:
        return out
    gates = [r for r in ind.reasons[1:] if ARCHIVE_WITHDRAWN not in r]
    if gates and gates[0].startswith("alimenterait"):
        gates = gates[1:]
    out += [reason_label(r) for r in gates if not _CITED.match(r)]
    out += [f"règle bloquante {rule}" for rule in ind.blocking_rules]
    return list(dict.fromkeys(out))


@dataclass
class DocRow:
    """One document as the database sees it."""

    source: str
    logical: str
    doc_id: str | None
    version: int
    candidate: str
    qualifies: bool
    rejected: bool
    stay: str | None
    stay_ext: str | None
    finess: str | None
    doc_date: str | None
    reasons: list[str] = field(default_factory=list)
    replaces: list[str] = field(default_factory=list)


def doc_row(doc: DocumentReport, rejected_by: list[str] | None = None) -> DocRow:
    rejected_by = rejected_by or []
    facts = doc.facts
    ind = doc.indicator
    doc_id = ii(facts.id) if facts is not None else None
    logical = ind.set_id or doc_id or doc.sha1 or f"{doc.source}#{doc.member or ''}"
    ts = facts.effective_time if facts is not None else None
    replaces = [p for rd in (facts.related_documents if facts else [])
                if (rd.type_code or "").upper() == "RPLC"
                for p in map(ii, rd.parent_ids) if p]
    label = f"{doc.source}#{doc.member}" if doc.member else doc.source
    return DocRow(
        source=label, logical=logical, doc_id=doc_id, version=_version(ind.version),
        candidate=ind.candidate, qualifies=ind.indicator != "none" and not rejected_by,
        rejected=bool(rejected_by), stay=ind.stay_key.value, stay_ext=_stay_ext(doc),
        finess=finess_of(doc),
        doc_date=ts.value.date().isoformat() if ts is not None and ts.value is not None else None,
        reasons=_reasons(doc, rejected_by), replaces=replaces)


def archive_rejection(archive: ArchiveReport) -> list[str]:
    """The rule ids that make the DMP refuse the archive itself (its own errors)."""
    rules = [f.rule_id for f in archive.findings if f.severity.at_least(Severity.ERROR)]
    return list(dict.fromkeys(rules))


def iter_rows(items: Iterable[DocumentReport | ArchiveReport]) -> Iterator[DocRow]:
    for item in items:
        if isinstance(item, ArchiveReport):
            rejected_by = archive_rejection(item)
            for doc in item.documents:
                yield doc_row(doc, rejected_by)
        else:
            yield doc_row(item)


class RowWriter:
    """Streams rows to three CSV files the database reads (bounded memory)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths = {name: folder / f"{name}.csv" for name in ("docs", "reasons", "replaces")}
        self._files = {name: p.open("w", encoding="utf-8", newline="")
                       for name, p in self.paths.items()}
        self._w = {name: csv.writer(f) for name, f in self._files.items()}
        self.count = 0

    def add(self, row: DocRow) -> None:
        idx = self.count
        self.count += 1
        self._w["docs"].writerow((idx, row.source, row.logical, _n(row.doc_id), row.version,
                                  row.candidate, int(row.qualifies), int(row.rejected),
                                  _n(row.stay), _n(row.stay_ext), _n(row.finess),
                                  _n(row.doc_date)))
        for reason in row.reasons:
            self._w["reasons"].writerow((idx, reason))
        for parent in row.replaces:
            self._w["replaces"].writerow((idx, parent))

    def close(self) -> None:
        for f in self._files.values():
            f.close()


def _n(value: str | None) -> str:
    # CSV has no NULL: the empty string stands for it (the loader reads '' as NULL).
    return "" if value is None else value
