"""The pipeline: inputs -> facts -> detect -> engines -> stamp -> classify -> report.

Every exception raised by an engine or a check becomes an ``INT001`` finding on that
document and the batch goes on. A :class:`ToolError` means the tool itself cannot do its
job (bad configuration, unusable schema or kit): the CLI turns it into exit code 2.
"""

from __future__ import annotations

import hashlib
import importlib
import platform
import time
import traceback
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from cdacheck import __version__
from cdacheck.checks import CHECKS, CheckContext
from cdacheck.config import Settings
from cdacheck.detect import Detection, detect
from cdacheck.engines import DocumentEngine
from cdacheck.facts import extract_facts
from cdacheck.inputs.sources import Source, iter_sources
from cdacheck.inputs.xml import ParsedDocument, parse_document
from cdacheck.model import (
    ArchiveReport,
    Body,
    DocumentFacts,
    DocumentReport,
    EngineName,
    Finding,
    Hit,
    IndicatorResult,
    Location,
    RunReport,
    Severity,
    Summary,
)
from cdacheck.registry import REGISTRY, Registry, RuleSpec, load_all, rule

R_CRASH = rule("INT001", "check-crashed", Severity.ERROR,
               "Échec interne de {component} : {error}. Le document n'a pas pu être "
               "entièrement vérifié ; signalez ce problème avec le document en cause.",
               "An engine or a check raised an exception; the document is reported as not "
               "fully checked and the batch goes on.")
R_MISSING = rule("INT002", "capability-unavailable", Severity.ERROR,
                 "Fonction indisponible dans cette installation : {component}.",
                 "A capability the run needs is not available in this installation.")


class ToolError(Exception):
    """cdacheck cannot do its job (configuration, schema, kit): exit code 2."""


class PythonEngine:
    """Runs every registered Python check on a document."""

    name = "python"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, doc: ParsedDocument, facts: DocumentFacts, detection: Detection) -> Iterable[Hit]:
        ctx = CheckContext(doc=doc, facts=facts, detection=detection, settings=self.settings)
        for fn in list(CHECKS):
            try:
                yield from fn(ctx)
            except Exception as exc:  # one broken check must not hide the others
                yield _crash_hit(f"la vérification {fn.__module__}.{fn.__name__}", exc, doc)

    def describe(self) -> dict[str, str]:
        return {"checks": str(len(CHECKS))}


def _crash_hit(component: str, exc: BaseException, doc: ParsedDocument | None,
               source: str | None = None, member: str | None = None) -> Hit:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f"{Path(frame.filename).name}:{frame.lineno}" if frame else ""
    loc = Location(file=doc.source if doc else source, member=doc.member if doc else member)
    return Hit(rule_id=R_CRASH.id, engine=EngineName.INTERNAL, location=loc,
               params={"component": component, "error": f"{type(exc).__name__}: {exc}"[:500]},
               provenance={"where": where})


def _optional(module: str) -> Any | None:
    """Import a cdacheck capability; None when one of cdacheck's own modules is absent."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("cdacheck"):
            return None
        raise


class Runner:
    """Engines built once from the Settings, then applied to every input."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Every rule module is imported on first need only (an unknown id while stamping,
        # or ``registry`` read): a run of documents never loads the archive modules.
        self._all_rules = False
        self.engines: list[DocumentEngine] = []
        self.unavailable: list[str] = []
        try:
            self._build_engines()
        except ToolError:
            raise
        except Exception as exc:  # schema or kit unusable: the tool cannot do its job
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc

    def _build_engines(self) -> None:
        s = self.settings
        if not s.skip_xsd:
            xsd = _optional("cdacheck.engines.xsd")
            if xsd is None:
                self.unavailable.append("validation XSD (cdacheck.engines.xsd)")
            else:
                self.engines.append(xsd.XsdEngine(s))
        if not s.skip_schematron:
            if s.kit is not None:
                sch = _optional("cdacheck.engines.schematron")
                if sch is None or not hasattr(sch, "KitEngine"):
                    raise ToolError("le mode kit (--kit) n'est pas disponible dans cette installation")
                self.engines.append(sch.KitEngine(s))
            else:
                packs = _optional("cdacheck.engines.packs")
                if packs is None:
                    self.unavailable.append("paquets Schematron de cdacheck (cdacheck.engines.packs)")
                else:
                    self.engines.append(packs.PacksEngine(s))
        self.engines.append(PythonEngine(s))

    @property
    def registry(self) -> Registry:
        """Every rule cdacheck can report (all rule modules imported)."""
        if not self._all_rules:
            load_all()
            self._all_rules = True
        return REGISTRY

    def _spec(self, rule_id: str) -> RuleSpec | None:
        spec = REGISTRY.get(rule_id)
        if spec is None and not self._all_rules:
            spec = self.registry.get(rule_id)
        return spec

    # ------------------------------------------------------------------ documents

    def check_document(self, data: bytes, source: str, member: str | None = None,
                       pre_hits: Iterable[Hit] = ()) -> tuple[DocumentReport, DocumentFacts | None, ParsedDocument | None]:
        """Validate one CDA document given as bytes."""
        start = time.perf_counter()
        hits: list[Hit] = list(pre_hits)
        doc, read_hits = parse_document(data, source, member, self.settings.max_bytes)
        hits.extend(read_hits)
        facts: DocumentFacts | None = None
        detection: Detection | None = None
        engines_used: list[str] = []
        if doc is not None:
            try:
                facts = extract_facts(doc)
                detection = detect(facts)
            except Exception as exc:
                hits.append(_crash_hit("l'extraction des données d'en-tête", exc, doc))
                # One defect never silences the rest: the engines still run, on empty facts.
                facts = DocumentFacts(root_form=doc.root_form, body=Body(kind="none"))  # type: ignore[arg-type]
                detection = detect(facts)
        applied: list[str] = []
        kit_label: str | None = None
        if doc is not None and facts is not None and detection is not None:
            for engine in self.engines:
                engines_used.append(engine.name)
                try:
                    hits.extend(engine.run(doc, facts, detection))
                except Exception as exc:
                    hits.append(_crash_hit(f"le moteur {engine.name}", exc, doc))
                if hasattr(engine, "applied_schematrons"):  # kit mode (engines/schematron/kit.py)
                    applied.extend(engine.applied_schematrons())
                    kit_label = engine.kit_label()
            for missing in self.unavailable:
                hits.append(Hit(rule_id=R_MISSING.id, params={"component": missing},
                                location=Location(file=source, member=member),
                                engine=EngineName.INTERNAL))
        findings = self.stamp_all(hits)
        indicator = self._classify(facts, detection, findings)
        report = DocumentReport(
            source=source,
            member=member,
            sha1=hashlib.sha1(data).hexdigest(),
            size=len(data),
            valid=not any(f.severity.at_least(self.settings.fail_on) for f in findings),
            doc_type=detection.doc_type if detection else "UNKNOWN",
            level=detection.level if detection else "unknown",
            facts=facts,
            indicator=indicator,
            packs=engines_used,
            findings=findings,
            elapsed_ms=round((time.perf_counter() - start) * 1000, 2),
            kit=kit_label,
            schematrons=applied,
        )
        return report, facts, doc

    def _classify(self, facts: DocumentFacts | None, detection: Detection | None,
                  findings: list[Finding]) -> IndicatorResult:
        classify = _optional("cdacheck.classify")
        if classify is None:
            return IndicatorResult(reasons=["classification indisponible dans cette installation"])
        try:
            result: IndicatorResult = classify.classify(facts, detection, findings, self.settings)
            return result
        except Exception as exc:
            return IndicatorResult(reasons=[f"échec interne du classement : {type(exc).__name__}: {exc}"])

    # ------------------------------------------------------------------ stamping

    def stamp(self, hit: Hit) -> Finding | None:
        """Give a hit its severity and message; None when the rule is disabled."""
        s = self.settings
        if not rule_selected(hit.rule_id, s.select, s.disable):
            return None
        spec = self._spec(hit.rule_id)
        if hit.rule_id.startswith("SCH/") and hit.role is not None:
            severity = s.role_map.get(hit.role.strip().lower(), Severity.ERROR)
        elif spec is not None:
            severity = spec.severity
        elif hit.rule_id.startswith("SCH/"):
            severity = s.role_map.get("", Severity.ERROR)
        else:
            severity = Severity.ERROR
        severity = s.severity.get(hit.rule_id, severity)
        if hit.message:
            message = hit.message
        elif spec is not None:
            message = spec.render(hit.params)
        else:
            message = f"{hit.rule_id} {hit.params}"
        return Finding(rule_id=hit.rule_id, severity=severity, message=message, params=hit.params,
                       location=hit.location, engine=hit.engine, provenance=hit.provenance)

    def stamp_all(self, hits: Iterable[Hit]) -> list[Finding]:
        out = [f for f in (self.stamp(h) for h in hits) if f is not None]
        out.sort(key=lambda f: (f.location.member or "", f.location.line or 0, -f.severity.rank))
        return out

    # ------------------------------------------------------------------ archives

    def check_archive(self, data: bytes, source: str) -> ArchiveReport:
        """Validate an IHE XDM ZIP: the archive, its metadata and every document in it."""
        start = time.perf_counter()
        xdm_in = _optional("cdacheck.inputs.xdm")
        xdm_checks = _optional("cdacheck.checks.xdm")
        if xdm_in is None or xdm_checks is None:
            hit = Hit(rule_id=R_MISSING.id, params={"component": "archives IHE XDM"},
                      location=Location(file=source), engine=EngineName.INTERNAL)
            return ArchiveReport(source=source, valid=False, findings=self.stamp_all([hit]))
        hits: list[Hit] = []
        documents: list[DocumentReport] = []
        members: list[str] = []
        try:
            archive = xdm_in.open_archive(data, source, self.settings.xdm, self.settings.strict,
                                          max_size=self.settings.max_bytes)
            members = list(getattr(archive, "names", []) or [])
            archive_hits, documents = xdm_checks.check_archive(archive, self.settings, self._member_checker(source))
            hits.extend(archive_hits)
        except Exception as exc:
            hits.append(_crash_hit("la lecture de l'archive XDM", exc, None, source=source))
        findings = self.stamp_all(hits)
        own_ok = not any(f.severity.at_least(self.settings.fail_on) for f in findings)
        if not own_ok:  # the archive would be rejected: none of its documents reaches the DMP
            documents = [_archive_rejected(d, findings) for d in documents]
        valid = own_ok and all(d.valid for d in documents)
        return ArchiveReport(source=source, valid=valid, findings=findings, documents=documents,
                             members=members, elapsed_ms=round((time.perf_counter() - start) * 1000, 2))

    def _member_checker(self, source: str):  # type: ignore[no-untyped-def]
        def check_member(data: bytes, _source: str, member: str) -> tuple[DocumentReport, DocumentFacts | None, ParsedDocument | None]:
            return self.check_document(data, source, member)
        return check_member

    # ------------------------------------------------------------------ runs

    def check_source(self, src: Source) -> DocumentReport | ArchiveReport:
        if src.kind == "error":
            findings = self.stamp_all(src.hits)
            return DocumentReport(source=src.label, valid=False, findings=findings)
        if src.kind == "zip":
            return self.check_archive(src.data, src.label)
        report, _, _ = self.check_document(src.data, src.label, pre_hits=src.hits)
        return report

    def run(self, inputs: Iterable[str | Path | bytes], stdin: Any = None) -> RunReport:
        items = [self.check_source(s) for s in iter_sources(inputs, self.settings.max_bytes, stdin)]
        return self.report(items)

    def iter_reports(self, inputs: Iterable[str | Path | bytes], stdin: Any = None) -> Iterator[DocumentReport | ArchiveReport]:
        for src in iter_sources(inputs, self.settings.max_bytes, stdin):
            yield self.check_source(src)

    def report(self, items: list[DocumentReport | ArchiveReport],
               settings: Settings | None = None) -> RunReport:
        """The RunReport of ``items``; ``settings`` (default: the Runner's) gives ``fail_on``."""
        settings = settings or self.settings
        builder = SummaryBuilder(settings)
        for item in items:
            builder.add(item)
        return self.report_head(settings).model_copy(update={"items": items,
                                                             "summary": builder.summary()})

    def report_head(self, settings: Settings | None = None) -> RunReport:
        """A RunReport without items: tool versions, settings and kit (streamed reports)."""
        kit = None
        for engine in self.engines:
            if engine.name.startswith("kit"):
                kit = dict(engine.describe())
        return RunReport(tool=tool_versions(self.engines),
                         settings=(settings or self.settings).report_dict(), kit=kit)


def _matches(rule_id: str, patterns: Iterable[str]) -> bool:
    return any(rule_id == p or rule_id.startswith(p) for p in patterns)


def rule_selected(rule_id: str, select: Iterable[str], ignore: Iterable[str]) -> bool:
    """Whether a finding of ``rule_id`` is reported under ``--select`` / ``--ignore``
    (ids or prefixes, as ruff reads them); internal failures are never silenced."""
    if rule_id.startswith("INT"):
        return True
    select = tuple(select)
    if select and not _matches(rule_id, select):
        return False
    return not _matches(rule_id, ignore)


def unknown_rule_patterns(patterns: Iterable[str], registry: Registry) -> list[str]:
    """The patterns that name no rule: neither an id, an alias, nor a prefix of one."""
    ids = [r.id for r in registry]
    return [p for p in patterns
            if p not in registry and not any(i.startswith(p) for i in ids)]


class SummaryBuilder:
    """The run summary, built one item at a time (a streamed batch keeps only counts)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.inputs = self.documents = self.archives = self.valid_documents = 0
        self.by_severity: Counter[str] = Counter()
        self.by_rule: Counter[str] = Counter()
        self.by_indicator: Counter[str] = Counter()
        self.failed = False
        self.not_fully_checked: list[str] = []
        self.checked = 0

    def add(self, item: DocumentReport | ArchiveReport) -> None:
        self.inputs += 1
        self.not_fully_checked.extend(not_fully_checked([item]))
        if not _nothing_to_check(item):
            self.checked += 1
        findings = list(item.findings)
        docs = item.documents if isinstance(item, ArchiveReport) else [item]
        if isinstance(item, ArchiveReport):
            self.archives += 1
            findings.extend(f for d in docs for f in d.findings)
        self.documents += len(docs)
        self.valid_documents += sum(d.valid for d in docs)
        self.by_indicator.update(d.indicator.indicator for d in docs)
        self.by_severity.update(f.severity.value for f in findings)
        self.by_rule.update(f.rule_id for f in findings)
        self.failed = self.failed or any(f.severity.at_least(self.settings.fail_on) for f in findings)

    def summary(self) -> Summary:
        return Summary(inputs=self.inputs, documents=self.documents, archives=self.archives,
                       valid_documents=self.valid_documents,
                       by_severity={s.value: self.by_severity.get(s.value, 0) for s in Severity},
                       by_indicator=dict(sorted(self.by_indicator.items())),
                       fail_on=self.settings.fail_on, failed=self.failed,
                       not_fully_checked=self.not_fully_checked, checked=self.checked,
                       by_rule=dict(sorted(self.by_rule.items())))


def _archive_rejected(doc: DocumentReport, archive_findings: list[Finding]) -> DocumentReport:
    """A document of a rejected archive feeds no indicator, whatever its own verdict."""
    ind = doc.indicator
    if ind.indicator == "none":
        return doc
    rules = sorted({f.rule_id for f in archive_findings if f.severity.at_least(Severity.ERROR)})
    reason = (f"n'alimente pas {ind.indicator} : l'archive XDM qui le contient serait rejetée "
              f"({', '.join(rules[:5])})")
    indicator = ind.model_copy(update={"indicator": "none", "reasons": [*ind.reasons, reason],
                                       "blocking_rules": sorted({*ind.blocking_rules, *rules})})
    return doc.model_copy(update={"indicator": indicator})


def _nothing_to_check(item: DocumentReport | ArchiveReport) -> bool:
    """The placeholder report of a folder that holds nothing cdacheck checks (PRS011)."""
    return (isinstance(item, DocumentReport) and bool(item.findings)
            and all(f.rule_id == "PRS011" for f in item.findings))


def not_fully_checked(items: Iterable[DocumentReport | ArchiveReport]) -> list[str]:
    """Inputs on which a check or an engine could not run (INT findings): labels, in order."""
    out: list[str] = []
    for item in items:
        if isinstance(item, ArchiveReport) and any(f.rule_id.startswith("INT") for f in item.findings):
            out.append(item.source)
        for d in item.documents if isinstance(item, ArchiveReport) else [item]:
            if any(f.rule_id.startswith("INT") for f in d.findings):
                out.append(f"{d.source}!{d.member}" if d.member else d.source)
    return out


def summarize(items: list[DocumentReport | ArchiveReport], settings: Settings) -> Summary:
    builder = SummaryBuilder(settings)
    for item in items:
        builder.add(item)
    return builder.summary()


def tool_versions(engines: Iterable[DocumentEngine] = ()) -> dict[str, str]:
    out = {
        "cdacheck": __version__,
        "python": platform.python_version(),
        "lxml": ".".join(map(str, etree.LXML_VERSION)),
        "libxml2": ".".join(map(str, etree.LIBXML_VERSION)),
    }
    try:
        from importlib.metadata import version
        out["saxonche"] = version("saxonche")
    except Exception:  # saxonche metadata missing: the version is only informative
        pass
    for engine in engines:
        for key, value in engine.describe().items():
            out[f"{engine.name}.{key}"] = str(value)
    return out


_RUNNERS: OrderedDict[str, Runner] = OrderedDict()
_RUNNERS_MAX = 8
_RUNNERS_LOCK = threading.Lock()


def runner_for(settings: Settings) -> Runner:
    """A Runner per distinct Settings, kept for the process (engines compile once).

    The last few distinct settings are kept (least recently used dropped), so a library
    user calling :func:`cdacheck.check` in a loop pays the engines' set-up once.
    """
    key = settings.model_dump_json()
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(key)
        if runner is None:
            runner = _RUNNERS[key] = Runner(settings)
            while len(_RUNNERS) > _RUNNERS_MAX:
                _RUNNERS.popitem(last=False)
        else:
            _RUNNERS.move_to_end(key)
        return runner


def check_bytes(data: bytes, source: str = "<bytes>", settings: Settings | None = None) -> DocumentReport:
    """Validate one CDA document given as bytes (the Runner is reused across calls)."""
    report, _, _ = runner_for(settings or Settings()).check_document(data, source)
    return report
