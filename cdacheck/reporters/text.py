"""Human text reporter: a verdict line per document, its findings, its indicator, a summary."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdacheck.model import ArchiveReport, DocumentReport, Finding, RunReport, Severity

_SEV_FR = {Severity.FATAL: "fatal", Severity.ERROR: "erreur", Severity.WARNING: "avert.",
           Severity.INFO: "info"}
_COLORS = {Severity.FATAL: "\x1b[1;31m", Severity.ERROR: "\x1b[31m", Severity.WARNING: "\x1b[33m",
           Severity.INFO: "\x1b[36m"}
_RESET = "\x1b[0m"
# What a terminal would act on instead of printing: C0 controls (ESC starts colour, cursor
# and title sequences), DEL, C1 controls (CSI, OSC as single code points), and the bidi
# overrides that reorder what is shown (Trojan Source). Tab, CR and newline inside a value
# become a space: one finding stays one line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: object) -> str:
    """A value from a document or a file name, safe to print on a terminal (``\\xNN``/``\\uNNNN``)."""
    return _CONTROL.sub(_escape, str(text))


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    if code in (0x09, 0x0a, 0x0d):
        return " "
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@dataclass(frozen=True)
class _Style:
    color: bool

    def sev(self, sev: Severity, text: str) -> str:
        return f"{_COLORS[sev]}{text}{_RESET}" if self.color else text

    def verdict(self, ok: bool) -> str:
        word = "VALIDE" if ok else "INVALIDE"
        if not self.color:
            return word
        return f"\x1b[32m{word}{_RESET}" if ok else f"\x1b[1;31m{word}{_RESET}"


# Verbosity: -2 the summary only (-qq); -1 verdicts and findings, no indicator lines (-q);
# 0 findings >= warning and the indicator with its first reason; 1 everything (-v).
SUMMARY_ONLY, QUIET = -2, -1


def render(report: RunReport, *, verbosity: int = 0, color: bool = False) -> str:
    """Text report at a verbosity from SUMMARY_ONLY (-2) to 1 (see above)."""
    style = _Style(color)
    lines: list[str] = []
    if verbosity >= 0:
        lines.extend(render_head(report).splitlines())
    if verbosity > SUMMARY_ONLY:
        for item in report.items:
            if isinstance(item, ArchiveReport):
                lines.extend(_archive(item, style, verbosity))
            else:
                lines.extend(_document(item, style, verbosity, indent=""))
        for f in report.findings:
            lines.append(_finding(f, style, ""))
    lines.append(_summary(report))
    return "\n".join(lines) + "\n"


def _label(doc: DocumentReport) -> str:
    return clean(f"{doc.source}!{doc.member}" if doc.member else doc.source)


def _document(doc: DocumentReport, style: _Style, verbosity: int, indent: str) -> list[str]:
    ind = doc.indicator
    head = (f"{indent}{_label(doc)}: {style.verdict(doc.valid)} · type {clean(doc.doc_type)} · "
            f"niveau {clean(doc.level)}")
    lines = [head]
    shown = [f for f in doc.findings if verbosity >= 1 or f.severity.at_least(Severity.WARNING)]
    lines.extend(_finding(f, style, indent + "  ") for f in shown)
    hidden = len(doc.findings) - len(shown)
    if hidden:
        lines.append(f"{indent}  ({hidden} information(s) masquée(s) ; -v pour les voir)")
    if verbosity > QUIET and (doc.facts is not None or ind.indicator != "none"):
        target = ind.indicator if ind.indicator != "none" else "aucun"
        extra = " (structuré N3)" if ind.structured and ind.indicator != "none" else ""
        lines.append(f"{indent}  indicateur : {clean(target)}{extra}")
        reasons = ind.reasons if verbosity >= 1 or ind.indicator == "none" else ind.reasons[:1]
        lines.extend(f"{indent}    - {clean(r)}" for r in reasons)
        if verbosity >= 1 and ind.stay_key.value:
            lines.append(f"{indent}    séjour : {clean(ind.stay_key.value)} ({clean(ind.stay_key.source)})")
    return lines


def _archive(arc: ArchiveReport, style: _Style, verbosity: int) -> list[str]:
    lines = [f"{clean(arc.source)}: archive XDM {style.verdict(arc.valid)} · {len(arc.documents)} document(s) CDA"]
    shown = [f for f in arc.findings if verbosity >= 1 or f.severity.at_least(Severity.WARNING)]
    lines.extend(_finding(f, style, "  ") for f in shown)
    for doc in arc.documents:
        lines.extend(_document(doc, style, verbosity, indent="  "))
    return lines


def _finding(f: Finding, style: _Style, indent: str) -> str:
    loc = f.location
    where = []
    if loc.member and indent.strip() == "" and len(indent) <= 2:
        where.append(clean(loc.member))
    if loc.line:
        where.append(f"ligne {loc.line}" + (f":{loc.column}" if loc.column else ""))
    place = (" ".join(where) + " ") if where else ""
    sev = style.sev(f.severity, f"{_SEV_FR[f.severity]:<7}")
    return f"{indent}{place}{sev} {clean(f.rule_id)}  {clean(f.message)}"


def _summary(report: RunReport) -> str:
    s = report.summary
    sev = ", ".join(f"{n} {_SEV_FR[Severity(k)]}" for k, n in s.by_severity.items() if n)
    ind = clean(", ".join(f"{k}: {n}" for k, n in s.by_indicator.items()))
    parts = [f"{s.documents} document(s)", f"{s.valid_documents} valide(s)"]
    if s.archives:
        parts.insert(0, f"{s.archives} archive(s)")
    text = "Résumé : " + ", ".join(parts)
    text += f" ; constats : {sev or 'aucun'}"
    if ind:
        text += f" ; indicateurs : {ind}"
    text += f" ; seuil d'échec : {s.fail_on.value} → {'ÉCHEC' if s.failed else 'OK'}"
    if s.not_fully_checked:
        text += ("\nVérification incomplète (échec interne, voir les constats INT) : "
                 + ", ".join(s.not_fully_checked))
    return text


# Streamed batches (cdacheck.batch) write the same text piece by piece: head, items, summary.

def render_head(report: RunReport) -> str:
    """The lines printed before the first item: the configuration file used, kit mode."""
    lines = []
    config = report.settings.get("config_file") if isinstance(report.settings, dict) else None
    if config:
        lines.append(f"Configuration : {clean(config)}")
    if report.kit:
        lines.append("Mode kit : " + clean(", ".join(f"{k}={v}" for k, v in report.kit.items())))
    return "".join(f"{line}\n" for line in lines)


def render_item(item: DocumentReport | ArchiveReport, *, verbosity: int = 0,
                color: bool = False) -> str:
    """The lines of one document or archive, as :func:`render` prints them."""
    style = _Style(color)
    if isinstance(item, ArchiveReport):
        lines = _archive(item, style, verbosity)
    else:
        lines = _document(item, style, verbosity, indent="")
    return "\n".join(lines) + "\n"


def render_summary(report: RunReport) -> str:
    """The summary line of ``report`` (only its summary is read)."""
    return _summary(report) + "\n"
