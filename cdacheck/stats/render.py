"""StatsResult -> text, JSON, CSV or a self-contained HTML dashboard (pure functions).

Nothing here names a patient: the rows are counts per establishment, indicator and month,
and the reasons are stable labels (no INS, no date). ``redact`` (on by default for HTML)
also keeps document file names out of the output; they only appear with ``--no-redact``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from cdacheck.stats.engine import INDICATORS, STAY_INDICATORS, StatsResult

FORMATS = ("text", "json", "csv", "html")
PROXY_NOTE = "proxy"
MAX_REASONS_TEXT = 8


def redacted(result: StatsResult) -> StatsResult:
    """The result without the example document names (they may name a patient)."""
    reasons = [{**r, "examples": []} for r in result.reasons]
    return StatsResult(result.window, result.denominator, result.period, result.targets,
                       result.rates, reasons, result.counts)


def render_stats(result: StatsResult, fmt: str, redact: bool = False) -> str:
    if redact:
        result = redacted(result)
    if fmt == "json":
        return json.dumps(result.as_dict(), ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return _csv(result)
    if fmt == "html":
        from cdacheck.stats.html import render_html

        return render_html(result)
    return _text(result)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %".replace(".", ",")


def _gap(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f} pt".replace(".", ",")


def rate_label(row: dict[str, Any]) -> str:
    return f"{row['numerator']}/{row['denominator']}"


def _text(result: StatsResult) -> str:
    lines = [f"Taux SUN-ES, fenêtre {result.window} — dénominateur des séjours (DS 1.x) : "
             + ("fichier des séjours" if result.denominator == "stays-file"
                else "PROXY (séjours vus dans les documents, sans --stays)")]
    p = result.period
    if p["from"] or p["to"]:
        lines.append(f"Période : {p['from'] or '…'} → {p['to'] or '…'}")
    head = f"{'indicateur':<9} {'établissement':<13} {'mois':<8} {'n/N':>11} {'taux':>9} " \
           f"{'cible':>6} {'écart':>10}"
    lines += ["", head, "-" * len(head)]
    for row in result.rates:
        proxy = f"  {PROXY_NOTE}" if row["proxy"] else ""
        lines.append(f"{row['indicator']:<9} {row['establishment']:<13} {row['month']:<8} "
                     f"{rate_label(row):>11} {_pct(row['rate']):>9} {row['target']:>4} % "
                     f"{_gap(row['gap']):>10}{proxy}")
    lines += ["", "À corriger d'abord (tous établissements) :"]
    for ind in INDICATORS:
        ranked = [r for r in result.reasons if r["indicator"] == ind and r["establishment"] == "*"]
        if not ranked:
            continue
        lines.append(f"  {ind}")
        for r in ranked[:MAX_REASONS_TEXT]:
            lines.append(f"    {r['units']:>6} {r['unit']:<14} (seule raison : "
                         f"{r['sole_reason_units']}) {r['reason']}")
            if r["examples"]:
                lines.append(f"           ex. : {', '.join(r['examples'])}")
        if len(ranked) > MAX_REASONS_TEXT:
            lines.append(f"    … et {len(ranked) - MAX_REASONS_TEXT} autre(s) raison(s)")
    c = result.counts
    lines += ["", f"{c['documents_read']} document(s) lu(s), {c['logical_documents']} document(s) "
              f"logique(s) (versions antérieures et remplacés écartés : "
              f"{c['older_versions_or_replaced']}), {c['in_rejected_archive']} dans une archive "
              f"rejetée, {c['without_stay']} sans séjour identifiable, {c['without_finess']} sans "
              f"FINESS, {c['stays']} séjour(s)"
              + (f", {c['stay_not_in_stays_file']} document(s) d'un séjour absent du fichier"
                 if "stay_not_in_stays_file" in c else "")]
    if result.denominator == "proxy":
        lines.append("proxy : sans --stays, les séjours DS 1.x sont ceux vus dans les documents ; "
                     "un séjour sans aucun document n'y figure pas (taux surestimé).")
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ("indicator", "establishment", "month", "numerator", "denominator", "rate",
               "target", "gap", "proxy")


def _csv(result: StatsResult) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow((*CSV_COLUMNS, "window", "denominator_source"))
    for row in result.rates:
        denominator_source = ("proxy" if row["proxy"] else
                              "stays-file" if row["indicator"] in STAY_INDICATORS else "reports")
        w.writerow((*(row[c] if row[c] is not None else "" for c in CSV_COLUMNS),
                    result.window, denominator_source))
    return out.getvalue()
