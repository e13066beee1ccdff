"""HTML reporter: one self-contained page for a person (a ticket to a vendor or to ANS support).

No network and no external asset: styles and the small filtering script are inline and a
Content-Security-Policy forbids any fetch. A summary (documents, verdicts, indicators, a bar
chart of the most frequent rules), then each document with its verdict, type, level,
indicator and reasons, and its findings (line, XPath, message and the rule's documentation),
searchable and filterable by severity. Patient identities are removed unless the caller
passes ``redact=False`` (``--no-redact``).
"""

from __future__ import annotations

from collections import Counter
from html import escape

from cdacheck import __version__
from cdacheck.model import ArchiveReport, DocumentReport, Finding, RunReport, Severity
from cdacheck.redact import redact as redact_report
from cdacheck.registry import Registry, load_all

_SEV_FR = {Severity.FATAL: "fatal", Severity.ERROR: "erreur", Severity.WARNING: "avertissement",
           Severity.INFO: "information"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#12355b;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}
main{padding:16px 24px;max-width:1200px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}
.toolbar{position:sticky;top:0;background:#f6f7f9;padding:8px 0;display:flex;gap:14px;align-items:center;flex-wrap:wrap;border-bottom:1px solid #d8dde3}
.toolbar input[type=search]{padding:5px 8px;min-width:280px}
section.doc{background:#fff;border:1px solid #d8dde3;border-radius:6px;margin:14px 0;padding:10px 14px}
section.doc h2{font-size:15px;margin:0 0 6px;word-break:break-all}
.ok{color:#116329}.ko{color:#b3261e}
table{border-collapse:collapse;width:100%;margin-top:6px}th,td{border-top:1px solid #e3e6ea;padding:4px 6px;text-align:left;vertical-align:top}
td.xp{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all;color:#444}
.sev{font-weight:600;border-radius:4px;padding:1px 6px;font-size:12px}
.sev-fatal,.sev-error{background:#fde2e1;color:#8c1d18}.sev-warning{background:#fff1cc;color:#6b4e00}.sev-info{background:#dcecff;color:#0b3f7a}
details summary{cursor:pointer;color:#12355b}
.chart rect{fill:#3d6fa8}.chart text{font-size:12px;fill:#1b1f24}
.hidden{display:none}
"""

_JS = """
(function(){
  var q=document.getElementById('q');
  var boxes=Array.prototype.slice.call(document.querySelectorAll('input[data-sev]'));
  function apply(){
    var text=q.value.toLowerCase();
    var on={};boxes.forEach(function(b){on[b.getAttribute('data-sev')]=b.checked;});
    var shown=0;
    document.querySelectorAll('tr.finding').forEach(function(tr){
      var ok=on[tr.getAttribute('data-sev')]&&(!text||tr.textContent.toLowerCase().indexOf(text)>=0);
      tr.classList.toggle('hidden',!ok);if(ok){shown++;}
    });
    document.querySelectorAll('section.doc').forEach(function(s){
      var rows=s.querySelectorAll('tr.finding');var vis=s.querySelectorAll('tr.finding:not(.hidden)').length;
      var match=!text||s.querySelector('h2').textContent.toLowerCase().indexOf(text)>=0;
      s.classList.toggle('hidden',rows.length>0&&vis===0&&!match);
    });
    document.getElementById('shown').textContent=String(shown);
  }
  q.addEventListener('input',apply);boxes.forEach(function(b){b.addEventListener('change',apply);});
  apply();
})();
"""


def _chart(counts: list[tuple[str, int]]) -> str:
    if not counts:
        return "<p>Aucun constat.</p>"
    top = max(n for _, n in counts)
    bar_h, label_w, width = 20, 260, 420
    rows = []
    for i, (rule_id, n) in enumerate(counts):
        y = i * (bar_h + 4)
        w = max(2, round(width * n / top))
        rows.append(f'<text x="0" y="{y + 14}">{escape(rule_id)}</text>'
                    f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}"></rect>'
                    f'<text x="{label_w + w + 6}" y="{y + 14}">{n}</text>')
    height = len(counts) * (bar_h + 4)
    return (f'<svg class="chart" role="img" aria-label="Règles les plus fréquentes" '
            f'width="{label_w + width + 60}" height="{height}">{"".join(rows)}</svg>')


def _finding_row(f: Finding, registry: Registry) -> str:
    spec = registry.get(f.rule_id)
    doc = ""
    if spec is not None:
        parts = [escape(spec.summary or spec.name)]
        if spec.source:
            parts.append(f"Source : {escape(spec.source)}")
        doc = f"<details><summary>règle</summary>{'<br>'.join(parts)}</details>"
    loc = f.location
    line = f"{loc.line}" + (f":{loc.column}" if loc.column else "") if loc.line else ""
    sev = f.severity.value
    return (f'<tr class="finding" data-sev="{sev}"><td><span class="sev sev-{sev}">'
            f"{_SEV_FR[f.severity]}</span></td><td><code>{escape(f.rule_id)}</code></td>"
            f"<td>{escape(line)}</td><td class=\"xp\">{escape(loc.xpath or '')}</td>"
            f"<td>{escape(f.message)}{doc}</td></tr>")


def _findings_table(findings: list[Finding], registry: Registry) -> str:
    if not findings:
        return "<p>Aucun constat.</p>"
    rows = "".join(_finding_row(f, registry) for f in findings)
    return ("<table><thead><tr><th>sévérité</th><th>règle</th><th>ligne</th><th>XPath</th>"
            f"<th>message</th></tr></thead><tbody>{rows}</tbody></table>")


def _verdict(ok: bool) -> str:
    return '<b class="ok">VALIDE</b>' if ok else '<b class="ko">INVALIDE</b>'


def _document(doc: DocumentReport, registry: Registry) -> str:
    label = f"{doc.source} ! {doc.member}" if doc.member else doc.source
    ind = doc.indicator
    reasons = "".join(f"<li>{escape(r)}</li>" for r in ind.reasons)
    target = ind.indicator if ind.indicator != "none" else "aucun"
    return (f'<section class="doc"><h2>{escape(label)}</h2>'
            f"<p>{_verdict(doc.valid)} · type <b>{escape(doc.doc_type)}</b> · niveau "
            f"<b>{escape(doc.level)}</b> · indicateur <b>{escape(target)}</b></p>"
            f"<details><summary>raisons de l'indicateur</summary><ul>{reasons}</ul></details>"
            f"{_findings_table(list(doc.findings), registry)}</section>")


def _archive(arc: ArchiveReport, registry: Registry) -> str:
    head = (f'<section class="doc"><h2>{escape(arc.source)} (archive XDM)</h2>'
            f"<p>{_verdict(arc.valid)} · {len(arc.documents)} document(s) CDA</p>"
            f"{_findings_table(list(arc.findings), registry)}</section>")
    return head + "".join(_document(d, registry) for d in arc.documents)


def render(report: RunReport, *, redact: bool = True, top_rules: int = 10, **_: object) -> str:
    """The report as one self-contained HTML page (redacted unless ``redact=False``)."""
    if redact:
        report = redact_report(report)
    registry = load_all()
    s = report.summary
    counts = Counter(f.rule_id for f in report.all_findings())
    by_ind = "".join(f'<div class="card">{escape(k)}<b>{n}</b></div>'
                     for k, n in s.by_indicator.items())
    by_sev = " · ".join(f"{n} {_SEV_FR[Severity(k)]}" for k, n in s.by_severity.items() if n)
    boxes = "".join(f'<label><input type="checkbox" data-sev="{sev.value}" checked> '
                    f"{_SEV_FR[sev]}</label>" for sev in Severity)
    body = "".join(_archive(i, registry) if isinstance(i, ArchiveReport) else _document(i, registry)
                   for i in report.items)
    run_findings = _findings_table(list(report.findings), registry) if report.findings else ""
    note = "identités des patients masquées" if redact else "contient des données de patients"
    return f"""<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rapport cdacheck</title><style>{_CSS}</style></head>
<body><header><h1>Rapport cdacheck {escape(__version__)}</h1>
<div>{escape(note)} · seuil d'échec {escape(s.fail_on.value)} → {'ÉCHEC' if s.failed else 'OK'}</div></header>
<main>
<div class="cards"><div class="card">documents<b>{s.documents}</b></div>
<div class="card">valides<b>{s.valid_documents}</b></div>
<div class="card">archives<b>{s.archives}</b></div>{by_ind}</div>
<p>Constats : {escape(by_sev or 'aucun')}</p>
<h2>Règles les plus fréquentes</h2>{_chart(counts.most_common(top_rules))}
<div class="toolbar"><input id="q" type="search" placeholder="Rechercher (règle, message, XPath, fichier)"> {boxes}
<span><span id="shown">0</span> constat(s) affiché(s)</span></div>
{run_findings}{body}
</main><script>{_JS}</script></body></html>
"""
