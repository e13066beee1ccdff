"""What ``cdacheck xdm build`` prints: a pure function of the BuildResult."""

from __future__ import annotations

import json

from cdacheck.model import Finding, Severity
from cdacheck.xdm.builder import BuildResult

_LABELS = {Severity.FATAL: "fatal", Severity.ERROR: "erreur", Severity.WARNING: "alerte",
           Severity.INFO: "info"}


def _line(f: Finding) -> str:
    where = f.location.member or f.location.file or ""
    line = f" ligne {f.location.line}" if f.location.line else ""
    return f"  {_LABELS[f.severity]:<7} {f.rule_id}  {where}{line} : {f.message}"


def render_build(result: BuildResult, fmt: str = "text") -> str:
    """The build summary as text (French) or as JSON (``BuildResult.to_dict()``)."""
    if fmt == "json":
        return json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n"
    out: list[str] = []
    target = str(result.output) if result.output else "(en mémoire)"
    if result.data is not None:
        verdict = "écrite" if result.written else "construite"
        out.append(f"{target} : archive IHE XDM {verdict} · {len(result.entries)} document(s)")
        if result.submission is not None:
            s = result.submission
            out.append(f"  lot {s.unique_id} · source {s.source_id} · "
                       f"patient {s.patient_id or 'aucun'} · soumis le {s.submission_time} (UTC)")
        for e in result.entries:
            out.append(f"  IHE_XDM/SUBSET01/{e.uri} ← {e.unique_id} « {e.title or ''} »")
    else:
        out.append(f"{target} : archive NON écrite ({len(result.refusals)} refus)")
    out.extend(_line(f) for f in result.refusals)
    if result.archive is not None:
        out.extend(_line(f) for f in result.archive.findings
                   if f.severity.at_least(Severity.WARNING))
    for doc in result.inputs.documents():
        out.extend(_line(f) for f in doc.findings if f.severity.at_least(Severity.ERROR))
    if result.findings_file is not None:
        out.append(f"  --force : constats écrits dans {result.findings_file}")
    elif result.refusals and result.entries:
        out.append("  (--force construit l'archive malgré ces refus et écrit les constats "
                   "à côté)")
    return "\n".join(out) + "\n"
