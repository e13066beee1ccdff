"""The HTML dashboard of ``cdacheck stats``: one self-contained page, no network.

For each indicator, an inline SVG chart of the rate per month with the target of the window
as a dashed line, then the table of rates (with "proxy" where the denominator is), then the
reasons ranked by the stays (or reports) they cost. An establishment selector shows the
charts and tables of one establishment (``*`` = all). A Content-Security-Policy forbids
any fetch. The page receives a redacted result by default (no document names).
"""

from __future__ import annotations

from html import escape
from typing import Any

from cdacheck import __version__
from cdacheck.stats.engine import INDICATORS, StatsResult

W, H, PAD_L, PAD_B, PAD_T = 560, 220, 40, 34, 14

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2430;max-width:1100px}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:.6rem 0}td,th{padding:.2rem .6rem;border-bottom:1px solid #e3e6ee;text-align:right}
td.l,th.l{text-align:left}.below{color:#b3261e}.above{color:#1e7b34}.proxy{background:#fff3cd;padding:0 .3rem;border-radius:3px}
.bar{fill:#4a6fa5}.target{stroke:#b3261e;stroke-dasharray:5 4;stroke-width:2}.axis{stroke:#889}
svg text{font-size:11px;fill:#334}.note{color:#555;font-size:.9rem}
"""

_JS = """
const sel = document.getElementById('est');
function show() {
  document.querySelectorAll('[data-est]').forEach(el => {
    el.hidden = el.dataset.est !== sel.value;
  });
}
sel.addEventListener('change', show);
show();
"""


def _chart(ind: str, rows: list[dict[str, Any]], target: float | None) -> str:
    months = [r for r in rows if r["month"] != "total"]
    inner_w, inner_h = W - PAD_L - 10, H - PAD_B - PAD_T

    def y(rate: float) -> float:
        return PAD_T + inner_h * (1 - rate / 100)

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
             f'data-indicator="{escape(ind)}" aria-label="{escape(ind)} : taux par mois et cible">']
    for tick in (0, 25, 50, 75, 100):
        parts.append(f'<line class="axis" x1="{PAD_L}" x2="{W - 10}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke-opacity=".25"/>'
                     f'<text x="4" y="{y(tick) + 4:.1f}">{tick} %</text>')
    step = inner_w / max(len(months), 1)
    for i, r in enumerate(months):
        rate = r["rate"] or 0.0
        x = PAD_L + i * step + step * 0.15
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y(rate):.1f}" width="{step * 0.7:.1f}" '
                     f'height="{PAD_T + inner_h - y(rate):.1f}" data-month="{escape(r["month"])}" '
                     f'data-rate="{rate}"><title>{escape(r["month"])} : {rate} % '
                     f'({r["numerator"]}/{r["denominator"]})</title></rect>'
                     f'<text x="{x:.1f}" y="{H - PAD_B + 14}">{escape(r["month"])}</text>')
    if target is not None:
        parts.append(f'<line class="target" x1="{PAD_L}" x2="{W - 10}" y1="{y(target):.1f}" '
                     f'y2="{y(target):.1f}" data-target="{target}"/>'
                     f'<text x="{W - 90}" y="{y(target) - 4:.1f}">cible {target} %</text>')
    parts.append("</svg>")
    return "".join(parts)


def _rate_table(rows: list[dict[str, Any]]) -> str:
    out = ['<table class="rates"><tr><th class="l">mois</th><th>n/N</th><th>taux</th>'
           '<th>cible</th><th>écart</th><th class="l"></th></tr>']
    for r in rows:
        gap = r["gap"]
        cls = "" if gap is None else ("below" if gap < 0 else "above")
        proxy = '<span class="proxy">proxy</span>' if r["proxy"] else ""
        gap_text = "—" if gap is None else f"{gap:+.2f} pt"
        out.append(f'<tr class="rate"><td class="l">{escape(r["month"])}</td>'
                   f'<td>{r["numerator"]}/{r["denominator"]}</td><td>{r["rate"]} %</td>'
                   f'<td>{r["target"]} %</td><td class="{cls}">{gap_text}</td>'
                   f'<td class="l">{proxy}</td></tr>')
    out.append("</table>")
    return "".join(out)


def _reason_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p class="note">Aucune raison de non-qualification.</p>'
    unit = escape(rows[0]["unit"])
    out = [f'<table class="reasons"><tr><th>{unit}</th><th>seule raison</th><th>documents</th>'
           '<th class="l">raison</th></tr>']
    for r in rows:
        examples = (f'<br><small>ex. : {escape(", ".join(r["examples"]))}</small>'
                    if r["examples"] else "")
        out.append(f'<tr class="reason"><td>{r["units"]}</td><td>{r["sole_reason_units"]}</td>'
                   f'<td>{r["documents"]}</td><td class="l">{escape(r["reason"])}{examples}</td></tr>')
    out.append("</table>")
    return "".join(out)


def render_html(result: StatsResult) -> str:
    ests = sorted({r["establishment"] for r in result.rates}, key=lambda e: (e != "*", e))
    options = "".join(f'<option value="{escape(e)}">{"tous les établissements" if e == "*" else escape(e)}'
                      "</option>" for e in ests)
    sections = []
    for est in ests:
        blocks = []
        for ind in INDICATORS:
            rows = [r for r in result.rates if r["indicator"] == ind and r["establishment"] == est]
            if not rows:
                continue
            reasons = [r for r in result.reasons
                       if r["indicator"] == ind and r["establishment"] == est]
            blocks.append(f'<section class="indicator" data-indicator="{escape(ind)}">'
                          f"<h2>{escape(ind)}</h2>"
                          + _chart(ind, rows, result.targets.get(ind)) + _rate_table(rows)
                          + "<h3>À corriger d'abord</h3>" + _reason_table(reasons) + "</section>")
        sections.append(f'<div class="establishment" data-est="{escape(est)}">{"".join(blocks)}</div>')
    c = result.counts
    proxy_note = ("<p class='note'><span class='proxy'>proxy</span> : sans fichier des séjours "
                  "(--stays), le dénominateur de DS 1.1, 1.2 et 1.3 est l'ensemble des séjours "
                  "vus dans les documents ; un séjour sans document n'y figure pas.</p>"
                  if result.denominator == "proxy" else "")
    p = result.period
    period = f"{p['from'] or '…'} → {p['to'] or '…'}" if (p["from"] or p["to"]) else "toute la période"
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Taux SUN-ES — cdacheck</title><style>{_CSS}</style></head>
<body><h1>Taux SUN-ES, fenêtre {result.window} — cdacheck {escape(__version__)}</h1>
<p class="note">Période : {escape(period)}. {c['documents_read']} document(s) lu(s),
{c['logical_documents']} document(s) logique(s), {c['in_rejected_archive']} dans une archive
rejetée, {c['stays']} séjour(s).</p>{proxy_note}
<label>Établissement : <select id="est">{options}</select></label>
{"".join(sections)}
<script>{_JS}</script></body></html>
"""
