"""GitHub Actions reporter: one workflow command per finding (annotations on the files).

Format of https://docs.github.com/actions/reference/workflow-commands-for-github-actions:
``::error file=F,line=L,col=C,title=T::message``. Data and property values are escaped as
GitHub requires (``%``, CR and LF everywhere; ``:`` and ``,`` in properties too).
"""

from __future__ import annotations

from cdacheck.model import ArchiveReport, Finding, RunReport, Severity

_COMMAND = {Severity.FATAL: "error", Severity.ERROR: "error", Severity.WARNING: "warning",
            Severity.INFO: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _command(f: Finding, source: str) -> str:
    loc = f.location
    props = [f"file={_prop(loc.file or source)}"]
    if loc.line:
        props.append(f"line={loc.line}")
        if loc.column:
            props.append(f"col={loc.column}")
    title = f.rule_id + (f" ({loc.member})" if loc.member else "")
    props.append(f"title={_prop(title)}")
    return f"::{_COMMAND[f.severity]} {','.join(props)}::{_data(f.message)}"


def render(report: RunReport, **_: object) -> str:
    """Workflow commands, then a plain summary line (shown in the job log)."""
    lines = [_command(f, f.location.file or "") for f in report.findings]
    for item in report.items:
        lines.extend(_command(f, item.source) for f in item.findings)
        if isinstance(item, ArchiveReport):
            for doc in item.documents:
                lines.extend(_command(f, doc.source) for f in doc.findings)
    s = report.summary
    lines.append(f"cdacheck: {s.documents} document(s), {s.valid_documents} valide(s), "
                 f"seuil {s.fail_on.value}: {'ÉCHEC' if s.failed else 'OK'}")
    return "\n".join(lines) + "\n"
