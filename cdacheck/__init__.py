"""cdacheck: validate French CDA R2 documents and IHE XDM archives before they are sent.

Public API::

    import cdacheck
    report = cdacheck.check("lettre.xml", env="test")   # -> RunReport
    cdacheck.is_valid(b"<ClinicalDocument ...")          # -> bool
    for finding in cdacheck.iter_findings("archive.zip"):
        print(finding.rule_id, finding.message)
    cdacheck.validate("lettre.xml")                      # raises ValidationFailed
    v = cdacheck.Validator(env="test")                   # one warm runner, yours to keep
    v.check(b"<ClinicalDocument ...")
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from cdacheck.config import Settings, load_settings
    from cdacheck.model import (
        ArchiveReport,
        DocumentFacts,
        DocumentReport,
        Finding,
        IndicatorResult,
        Location,
        RunReport,
        Severity,
    )

# The public names of the settings and the models, imported on first use: ``import cdacheck``
# stays cheap (pydantic and the models load when a check is made, or a name is read).
_LAZY = {
    "Settings": "cdacheck.config", "load_settings": "cdacheck.config",
    "ArchiveReport": "cdacheck.model", "DocumentFacts": "cdacheck.model",
    "DocumentReport": "cdacheck.model", "Finding": "cdacheck.model",
    "IndicatorResult": "cdacheck.model", "Location": "cdacheck.model",
    "RunReport": "cdacheck.model", "Severity": "cdacheck.model",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cdacheck' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


Source = str | Path | bytes
__all__ = [
    "ArchiveReport", "DocumentFacts", "DocumentReport", "Finding", "IndicatorResult",
    "Location", "RunReport", "Settings", "Severity", "ValidationFailed", "Validator", "check",
    "is_valid", "iter_findings", "validate", "__version__",
]


class ValidationFailed(Exception):
    """Raised by :func:`validate` when findings reach the threshold; carries the report."""

    def __init__(self, report: RunReport) -> None:
        self.report = report
        s = report.summary
        worst = [f for f in report.all_findings() if f.severity.at_least(s.fail_on)]
        first = f": {worst[0].rule_id} {worst[0].message}" if worst else ""
        super().__init__(f"{len(worst)} constat(s) au niveau {s.fail_on.value} ou plus{first}")


def _settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    from cdacheck.config import Settings, load_settings

    if settings is None:
        return load_settings(overrides=overrides, discover=False)
    if overrides:
        return Settings.model_validate({**settings.model_dump(), **overrides})
    return settings


def _sources(source: Source | Iterable[Source]) -> list[Source]:
    if isinstance(source, (str, Path, bytes, bytearray)):
        return [source]
    return list(source)


def check(source: Source | Iterable[Source], settings: Settings | None = None,
          **overrides: Any) -> RunReport:
    """Check one source (path, directory, bytes, ``"-"``) or several; return the RunReport.

    ``overrides`` are Settings fields, e.g. ``check(path, env="test", fail_on="warning")``.
    The configuration file is not read: pass ``settings=load_settings()`` for that.
    Calls with equal settings reuse one warm runner (schema, packs or kit compiled once
    per process); :class:`Validator` holds one explicitly.
    """
    from cdacheck.pipeline import runner_for

    return runner_for(_settings(settings, overrides)).run(_sources(source))


class Validator:
    """A warm validator: engines built once from the settings, reused for every call.

    ``Validator(env="test")`` or ``Validator(settings)``; building it compiles the schema
    and the rule packs (or the kit's schematrons), so a bad ``xsd``/``kit`` raises here
    (``cdacheck.pipeline.ToolError``). It is meant for one thread at a time.
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        from cdacheck.pipeline import Runner

        self.settings = _settings(settings, overrides)
        self._runner = Runner(self.settings)

    def check(self, source: Source | Iterable[Source]) -> RunReport:
        """The RunReport of one source or several (paths, directories, bytes, ``"-"``)."""
        return self._runner.run(_sources(source))

    def iter_reports(self, source: Source | Iterable[Source]) -> Iterator[DocumentReport | ArchiveReport]:
        """One report per input, as soon as it is known (nothing kept in memory)."""
        return self._runner.iter_reports(_sources(source))

    def is_valid(self, source: Source | Iterable[Source]) -> bool:
        """True when nothing reaches the ``fail_on`` threshold."""
        return not self.check(source).summary.failed

    def validate(self, source: Source | Iterable[Source]) -> RunReport:
        """Check and return the report; raise :class:`ValidationFailed` when it fails."""
        report = self.check(source)
        if report.summary.failed:
            raise ValidationFailed(report)
        return report


def iter_findings(source: Source | Iterable[Source] | RunReport, settings: Settings | None = None,
                  **overrides: Any) -> Iterator[Finding]:
    """Every finding of a run (or of an existing report), in report order."""
    from cdacheck.model import RunReport

    report = source if isinstance(source, RunReport) else check(source, settings, **overrides)
    yield from report.all_findings()


def is_valid(source: Source | Iterable[Source], settings: Settings | None = None,
             **overrides: Any) -> bool:
    """True when nothing reaches the ``fail_on`` threshold (default: error)."""
    return not check(source, settings, **overrides).summary.failed


def validate(source: Source | Iterable[Source], settings: Settings | None = None,
             **overrides: Any) -> RunReport:
    """Check and return the report; raise :class:`ValidationFailed` when it fails."""
    report = check(source, settings, **overrides)
    if report.summary.failed:
        raise ValidationFailed(report)
    return report
