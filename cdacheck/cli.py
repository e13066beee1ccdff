"""Command line: parse options -> Settings -> pipeline -> exit code. Click only.

Exit codes: 0 all inputs evaluated and nothing at or above ``--fail-on``; 1 findings at or
above it (unreadable input included); 2 the tool could not do its job.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import click

from cdacheck import __version__, startup
from cdacheck.config import ConfigError, Settings, load_settings
from cdacheck.model import Severity, Summary
from cdacheck.batch import default_jobs
from cdacheck.pipeline import ToolError, tool_versions
from cdacheck.registry import load_all
from cdacheck.reporters import FORMATS, render
from cdacheck.reporters import text as text_reporter

EXIT_OK, EXIT_FINDINGS, EXIT_TOOL = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
SUBCOMMANDS = ("check", "kit", "rules", "serve", "stats", "version", "xdm")
_SEVERITIES = [s.value for s in Severity]


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _settings_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options that make the Settings, shared by ``check`` and ``serve``."""
    options = [
        click.option("--fail-on", type=click.Choice(_SEVERITIES), default=None,
                     help="Lowest severity that makes the exit code 1 [default: error]."),
        click.option("--env", type=click.Choice(["production", "test"]), default=None,
                     help="production: test/demo INS are findings; test: they are accepted."),
        click.option("--xsd", type=click.Path(path_type=Path), default=None,
                     help="Validate against this XSD instead of the embedded CDA schema."),
        click.option("--no-xsd", is_flag=True, help="Skip the XSD structure check."),
        click.option("--kit", type=click.Path(path_type=Path), default=None,
                     help="Kit mode: run the schematrons of this TestContenuCDA checkout."),
        click.option("--pack", "packs", multiple=True,
                     help="Force a rule pack of cdacheck (repeatable)."),
        click.option("--no-schematron", is_flag=True, help="Skip the Schematron rule packs."),
        click.option("--strict", is_flag=True, default=None,
                     help="Archive naming warnings become errors."),
        click.option("--max-bytes", type=click.IntRange(min=1), default=None,
                     help="Size cap for one document, in bytes."),
        click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     default=None, help="Configuration file (cdacheck.toml or pyproject.toml)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


# Formats written as results come (one item at a time, flat memory); the others need the
# whole report (SARIF, JUnit, GitHub, HTML) and are rendered once at the end.
STREAMED_FORMATS = ("text", "json", "jsonl")


@click.command("check", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="text",
              show_default=True,
              help="Output format: text, json (the versioned RunReport), jsonl (one object per "
                   "input, then a summary line), sarif, junit, github, html.")
@click.option("--redact/--no-redact", default=None,
              help="Remove patient names, birth date, birthplace and INS (a stable pseudonym "
                   "stands in) [default: on for html, off otherwise].")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=1, show_default=True,
              help="Processes checking inputs in parallel: this one and N-1 workers (0: one "
              "per core); output stays in input order.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on standard error [default: when it is a terminal].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report to this file instead of standard output.")
@click.option("-q", "--quiet", count=True,
              help="-q: findings and verdicts only, no indicator reasons; -qq: the summary only.")
@click.option("-v", "--verbose", count=True, help="Show info findings and every reason.")
@click.option("--select", "select", multiple=True, metavar="RULES",
              help="Report only these rules (ids or prefixes, comma-separated, repeatable: "
                   "INS,SCH/header/,XDM03).")
@click.option("--ignore", "ignore", multiple=True, metavar="RULES",
              help="Do not report these rules (ids or prefixes, comma-separated, repeatable).")
@click.option("--statistics", is_flag=True,
              help="After the report, count the findings per rule (text, on standard error "
                   "for machine formats).")
@click.option("--exit-zero", is_flag=True,
              help="Exit 0 even when findings reach --fail-on (2 still means the tool failed).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Colours in text output (NO_COLOR and FORCE_COLOR honoured).")
@click.option("--stdin-filename", default=None,
              help="The name to report for the document read on standard input (-).")
@_settings_options
@click.option("--isolated", is_flag=True,
              help="Read no configuration file (cdacheck.toml, pyproject.toml).")
@click.option("--dask", "dask_address", default=None,
              help="Check on this Dask scheduler (tcp://host:8786); paths readable by the workers.")
def check_command(paths: tuple[str, ...], fmt: str, redact: bool | None, jobs: int,
                  progress: bool | None, output: Path | None, quiet: int, verbose: int,
                  select: tuple[str, ...], ignore: tuple[str, ...], statistics: bool,
                  exit_zero: bool, color: str, stdin_filename: str | None,
                  fail_on: str | None, env: str | None, xsd: Path | None, no_xsd: bool,
                  kit: Path | None, packs: tuple[str, ...], no_schematron: bool,
                  strict: bool | None, max_bytes: int | None, config: Path | None,
                  isolated: bool, dask_address: str | None) -> None:
    """Check CDA documents and IHE XDM archives (files, directories, or - for stdin)."""
    selected, ignored = _rule_list(select), _rule_list(ignore)
    settings = _load_settings(config, fail_on=fail_on, env=env, xsd=xsd, kit=kit,
                              max_bytes=max_bytes, strict=strict, packs=packs, no_xsd=no_xsd,
                              no_schematron=no_schematron, isolated=isolated)
    if selected or ignored:
        settings = settings.model_copy(update={
            "select": (*settings.select, *selected), "disable": (*settings.disable, *ignored)})
    if output is not None:
        _refuse_overwriting_inputs(output, paths)
    colored = fmt == "text" and output is None and _use_color(color, sys.stdout)
    verbosity = {0: verbose, 1: text_reporter.QUIET}.get(quiet, text_reporter.SUMMARY_ONLY)
    redacting = (fmt == "html" or settings.redact) if redact is None else redact
    transform = _item_transform(stdin_filename, redacting)
    if fmt in STREAMED_FORMATS and not dask_address:
        from cdacheck.batch import run_batch

        show_progress = sys.stderr.isatty() if progress is None else progress
        try:
            with _output_stream(output) as out:
                summary = run_batch(settings, paths, out, fmt, jobs=jobs or default_jobs(),
                                    verbosity=verbosity, color=colored,
                                    progress=show_progress, transform=transform)
        except ToolError as exc:
            _fail(str(exc))
        _statistics(summary, statistics, to_stderr=fmt != "text" or output is not None)
        raise _Exit(exit_code(summary, exit_zero))
    try:
        if dask_address:
            from cdacheck.dask import run as dask_run

            startup.resume()
            report = dask_run(paths, settings, dask_address)
        else:
            from cdacheck.pipeline import Runner

            runner = Runner(settings)
            startup.resume()
            report = runner.run(paths)
    except ToolError as exc:
        _fail(str(exc))
    if transform is not None:
        report = report.model_copy(update={"items": [transform(i) for i in report.items]})
    if fmt == "text":
        text = render(report, "text", verbosity=verbosity, color=colored)
    elif fmt == "html":
        text = render(report, "html", redact=False)  # already redacted above when asked
    else:
        text = render(report, fmt)
    _emit(text, output)
    _statistics(report.summary, statistics, to_stderr=fmt != "text" or output is not None)
    raise _Exit(exit_code(report.summary, exit_zero))


def _rule_list(values: tuple[str, ...]) -> tuple[str, ...]:
    """Rule ids or prefixes from repeated, comma-separated options; unknown ones are an error."""
    out = tuple(p.strip() for v in values for p in v.split(",") if p.strip())
    if out:
        from cdacheck.pipeline import unknown_rule_patterns

        unknown = unknown_rule_patterns(out, load_all())
        if unknown:
            _fail(f"règle(s) inconnue(s) : {', '.join(unknown)} (voir `cdacheck rules`)")
    return out


def _use_color(choice: str, stream: TextIO) -> bool:
    """--color: always/never, else a terminal unless NO_COLOR; FORCE_COLOR forces it."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _item_transform(stdin_filename: str | None, redacting: bool) -> Callable[[Any], Any] | None:
    """What is applied to each input's report before it is written: the --stdin-filename
    label, then redaction."""
    steps: list[Callable[[Any], Any]] = []
    if stdin_filename:
        steps.append(lambda item: _relabel_stdin(item, stdin_filename))
    if redacting:
        from cdacheck.redact import redact_item

        steps.append(redact_item)
    if not steps:
        return None

    def apply(item: Any) -> Any:
        for step in steps:
            item = step(item)
        return item
    return apply


def _relabel_stdin(item: Any, name: str) -> Any:
    if item.source != "<stdin>":
        return item

    def finding(f: Any) -> Any:
        if f.location.file != "<stdin>":
            return f
        return f.model_copy(update={"location": f.location.model_copy(update={"file": name})})
    update: dict[str, Any] = {"source": name, "findings": [finding(f) for f in item.findings]}
    if item.kind == "archive":
        update["documents"] = [_relabel_stdin(d, name) for d in item.documents]
    return item.model_copy(update=update)


def _statistics(summary: Summary, wanted: bool, to_stderr: bool) -> None:
    """--statistics: one line per rule, most frequent first (ruff's layout)."""
    if not wanted:
        return
    registry = load_all()
    rows = sorted(summary.by_rule.items(), key=lambda kv: (-kv[1], kv[0]))
    lines = []
    for rule_id, n in rows:
        spec = registry.get(rule_id)
        lines.append(f"{n:>6}  {rule_id:<40} {spec.name if spec else ''}".rstrip())
    lines.append(f"{sum(summary.by_rule.values()):>6}  constat(s) au total")
    click.echo("\n".join(lines), err=to_stderr)


@contextlib.contextmanager
def _output_stream(output: Path | None) -> Iterator[TextIO]:
    """Standard output, or the ``-o`` file (written as results come)."""
    if output is None:
        yield sys.stdout
        return
    try:
        fh = output.open("w", encoding="utf-8")
    except OSError as exc:
        _fail(f"impossible d'écrire {output} : {exc.strerror or exc}")
    with fh:
        yield fh


def _load_settings(config: Path | None, *, packs: tuple[str, ...], no_xsd: bool,
                   no_schematron: bool, isolated: bool = False, **values: Any) -> Settings:
    """Settings from the configuration file and the options given (``check`` and ``serve``)."""
    overrides: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
    if packs:
        overrides["packs"] = packs
    if no_xsd:
        overrides["skip_xsd"] = True
    if no_schematron:
        overrides["skip_schematron"] = True
    try:
        if isolated and config is not None:
            raise ConfigError("--isolated et --config s'excluent")
        settings = load_settings(config, overrides, discover=not isolated)
    except ConfigError as exc:
        _fail(str(exc))
    if settings.xsd is not None and not settings.xsd.is_file():
        _fail(f"schéma XSD introuvable : {settings.xsd}")
    if settings.kit is not None and not (settings.kit / "schematrons").is_dir():
        _fail(f"dossier de kit inutilisable (pas de sous-dossier schematrons/) : {settings.kit}")
    return settings


@click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (127.0.0.1: this machine only).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port (0: any free port, printed on standard error).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes, each warm [default: the cores].")
@click.option("--queue", "queue_size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Requests waiting for a worker before 503 + Retry-After.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Per-request time limit in seconds (504 past it).")
@click.option("--read-timeout", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
              help="Seconds to receive a whole request (slow clients are cut off).")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="File holding a bearer token that clients must send.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
@_settings_options
def serve_command(host: str, port: int, workers: int | None, queue_size: int, timeout: float,
                  read_timeout: float, token_file: Path | None, log_level: str,
                  fail_on: str | None, env: str | None, xsd: Path | None, no_xsd: bool,
                  kit: Path | None, packs: tuple[str, ...], no_schematron: bool,
                  strict: bool | None, max_bytes: int | None, config: Path | None) -> None:
    """Serve POST /v1/check over HTTP with warm worker processes (see docs/serve.md)."""
    from cdacheck.service import MISSING_EXTRA, missing_dependency

    missing = missing_dependency()
    if missing:
        _fail(MISSING_EXTRA.format(missing=missing))
    settings = _load_settings(config, fail_on=fail_on, env=env, xsd=xsd, kit=kit,
                              max_bytes=max_bytes, strict=strict, packs=packs, no_xsd=no_xsd,
                              no_schematron=no_schematron)
    token = None
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"impossible de lire {token_file} : {exc}")
        if not token:
            _fail(f"le fichier de jeton {token_file} est vide")
    from cdacheck.service.app import ServiceConfig
    from cdacheck.service.server import serve

    service = ServiceConfig(settings=settings, workers=workers or default_jobs(), queue_size=queue_size,
                            timeout=timeout, read_timeout=read_timeout,
                            max_body=settings.max_bytes, token=token)
    try:
        code = serve(service, host=host, port=port, log_level=log_level)
    except OSError as exc:
        _fail(f"impossible d'écouter sur {host}:{port} : {exc.strerror or exc}")
    raise _Exit(code)


def exit_code(summary: Summary, exit_zero: bool = False) -> int:
    """2 when nothing was checked or a check could not run; 1 findings at --fail-on (0 with
    --exit-zero); else 0."""
    if not summary.checked:
        click.echo("cdacheck: erreur : aucun document à vérifier (dossier vide ou aucun fichier "
                   "*.xml / *.zip)", err=True)
        return EXIT_TOOL
    if summary.not_fully_checked:
        click.echo("cdacheck: erreur : vérification incomplète (échec interne) pour : "
                   + ", ".join(summary.not_fully_checked[:10]), err=True)
        return EXIT_TOOL
    return EXIT_FINDINGS if summary.failed and not exit_zero else EXIT_OK


@click.command("rules", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--family", default=None, help="Only this family (PRS, INS, BDY, SCH, ...).")
def rules_command(fmt: str, family: str | None) -> None:
    """List every rule cdacheck can report: id, severity, name, summary."""
    import json

    registry = load_all()
    rules = [r for r in registry if family is None or r.family == family.upper()]
    if fmt == "json":
        data = [r.as_dict() for r in rules]
        _emit(json.dumps(data, ensure_ascii=False, indent=2) + "\n", None)
    else:
        lines = [f"{r.id:<28} {r.severity.value:<8} {r.name}  — {r.summary}" for r in rules]
        lines.append(f"{len(rules)} règle(s)")
        _emit("\n".join(lines) + "\n", None)
    raise _Exit(EXIT_OK)


@click.command("version", context_settings={"help_option_names": ["-h", "--help"]})
def version_command() -> None:
    """Print the versions of cdacheck and of the tools it drives."""
    versions = tool_versions()
    _emit(f"cdacheck {__version__}\n" + "".join(f"  {k} {v}\n" for k, v in versions.items() if k != "cdacheck"), None)
    raise _Exit(EXIT_OK)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"impossible d'écrire {output} : {exc.strerror or exc}")


def _refuse_overwriting_inputs(output: Path, paths: Sequence[str]) -> None:
    # cdacheck never modifies its inputs: refuse a report path that is one of them (same file).
    from cdacheck.inputs.outputs import overwritten_input

    found = overwritten_input(output, paths)
    if found is not None:
        _fail(f"--output {output} désigne le fichier d'entrée {found} ; cdacheck ne modifie jamais ses entrées")


def _fail(message: str) -> None:
    click.echo(f"cdacheck: erreur : {message}", err=True)
    raise _Exit(EXIT_TOOL)


# ------------------------------------------------------------------ xdm build (issue 15)

@click.group("xdm", context_settings={"help_option_names": ["-h", "--help"]})
def xdm_group() -> None:
    """IHE XDM archives: build one from CDA documents."""


@xdm_group.command("build")
@click.argument("documents", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The archive to write (IHE_XDM.ZIP); written atomically, never over an input.")
@click.option("--env", type=click.Choice(["production", "test"]), default=None,
              help="As for check; test also allows the example source OID 2.999.1.")
@click.option("--source-oid", default=None,
              help="OID of the sending system: sourceId, root of the submission uniqueId.")
@click.option("--submission-time", default=None,
              help="submissionTime (YYYYMMDDhhmmss UTC, +hhmm offset or ISO 8601) [default: now].")
@click.option("--unique-id", default=None, help="SubmissionSet uniqueId [default: derived].")
@click.option("--recipient", "recipients", multiple=True,
              help="intendedRecipient: an e-mail address or XON|XCN|XTN (repeatable).")
@click.option("--content-type", default=None,
              help="contentTypeCode code^display^OID [default: from the encounter].")
@click.option("--folder", default=None, help="Also put the documents in a Folder with this title.")
@click.option("--title", default=None, help="Title of the submission set.")
@click.option("--force", is_flag=True,
              help="Build despite refusals; the findings go to OUTPUT.findings.json.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="What is printed on standard output.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Configuration file (cdacheck.toml or pyproject.toml).")
def xdm_build_command(documents: tuple[str, ...], output: Path, env: str | None,
                      source_oid: str | None, submission_time: str | None,
                      unique_id: str | None, recipients: tuple[str, ...],
                      content_type: str | None, folder: str | None, title: str | None,
                      force: bool, fmt: str, config: Path | None) -> None:
    """Build an IHE XDM archive (IHE_XDM.ZIP) from CDA documents."""
    from cdacheck.xdm import BuildError, BuildOptions, build
    from cdacheck.xdm.report import render_build

    try:
        settings = load_settings(config, {"env": env} if env else {})
        options = BuildOptions(source_oid=source_oid, submission_time=submission_time,
                               unique_id=unique_id, recipients=recipients, folder=folder,
                               content_type=content_type, title=title, force=force)
        result = build(list(documents), output, settings=settings, options=options)
    except (ConfigError, BuildError, ToolError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"impossible d'écrire {output} : {exc.strerror or exc}")
    _emit(render_build(result, fmt), None)
    raise _Exit(EXIT_OK if result.ok else EXIT_FINDINGS)


# ------------------------------------------------------------------ stats (issue 13)

@click.command("stats", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True)
@click.option("--stays", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Stays file (CSV stay_id,finess,discharge_date,surgical): the DS 1.x "
                   "denominator [default: the stays seen in the documents, a proxy].")
@click.option("--finess-map", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV finess_geo,finess_juridique: count per legal entity.")
@click.option("--window", type=click.IntRange(1, 4), default=4, show_default=True,
              help="Financing window whose targets apply.")
@click.option("--from", "date_from", default=None, help="First day of the period (YYYY-MM-DD).")
@click.option("--to", "date_to", default=None, help="Last day of the period (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv", "html"]),
              default="text", show_default=True)
@click.option("--redact/--no-redact", default=None,
              help="Leave document names out [default: on for html, off otherwise].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--env", type=click.Choice(["production", "test"]), default=None)
@click.option("--dask", "dask_address", default=None,
              help="Check the documents on this Dask scheduler (tcp://host:8786).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None)
def stats_command(paths: tuple[str, ...], stays: Path | None, finess_map: Path | None,
                  window: int, date_from: str | None, date_to: str | None, fmt: str,
                  redact: bool | None, output: Path | None, env: str | None,
                  dask_address: str | None, config: Path | None) -> None:
    """SUN-ES rates per establishment, indicator and month against the window's targets."""
    from cdacheck.stats import StatsError
    from cdacheck.stats.command import run_stats
    from cdacheck.stats.render import render_stats

    if output is not None:
        _refuse_overwriting_inputs(output, paths)
    try:
        settings = load_settings(config, {"env": env} if env else {})
        result = run_stats(paths, settings, window=window, date_from=date_from,
                           date_to=date_to, stays=stays, finess_map=finess_map,
                           dask_address=dask_address)
    except (ConfigError, StatsError, ToolError) as exc:
        _fail(str(exc))
    redacting = (fmt == "html" or settings.redact) if redact is None else redact
    _emit(render_stats(result, fmt, redact=redacting), output)
    raise _Exit(EXIT_OK)


_COMMANDS = {"check": check_command, "rules": rules_command, "serve": serve_command,
             "stats": stats_command, "version": version_command, "xdm": xdm_group}


def _kit_group() -> Any:
    from cdacheck.engines.schematron.kitstore import kit_group

    return kit_group()


_TOP_HELP = """Usage: cdacheck [OPTIONS] PATH...
       cdacheck serve [--port 8080] [--workers N] [--token-file FILE] [--kit DIR]
       cdacheck serve [--port 8080] [--workers N] [--token-file FILE] [--kit DIR]
       cdacheck rules [--format text|json] [--family FAM]
       cdacheck stats PATH... [--stays stays.csv] [--window 1..4] [--format text|json|csv|html]
       cdacheck version
       cdacheck kit add PATH|ZIP | kit fetch REF | kit list
       cdacheck xdm build DOC.xml... -o IHE_XDM.ZIP

Validate French CDA R2 documents and IHE XDM archives (XSD, CI-SIS rules, INS, level,
document type) and say which Ségur indicator each document feeds.
Run `cdacheck check --help` for every option.

Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 the tool
could not do its job.
"""


def _replace_unencodable() -> None:
    # A Windows console (cp1252) or a C locale (ascii) cannot show « », é or ✓: replace what
    # the console cannot encode rather than crash in the middle of a report.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):  # a closed or detached stream: nothing to do
                pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (without the program name) and return the exit code."""
    _replace_unencodable()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        click.echo(_TOP_HELP, err=not args, nl=False)
        return EXIT_OK if args else EXIT_TOOL
    if args[0] in ("--version", "-V"):
        args = ["version"]
    name = args[0] if args[0] in SUBCOMMANDS else "check"
    rest = args[1:] if args[0] in SUBCOMMANDS else args
    command = _kit_group() if name == "kit" else _COMMANDS[name]
    if name != "check":
        startup.resume()  # the check command resumes the collector once its runner is built
    try:
        command.main(args=rest, prog_name=f"cdacheck {name}" if name != "check" else "cdacheck",
                     standalone_mode=False)
    except _Exit as exc:
        return exc.code
    except click.exceptions.Exit as exc:  # --help
        return int(exc.exit_code or 0)
    except click.ClickException as exc:
        exc.show()
        return EXIT_TOOL
    except click.exceptions.Abort as exc:  # click turns a Ctrl-C into Abort
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            return _interrupted()
        return EXIT_TOOL
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:  # the last guard: a crash is exit 2 with a message, never a traceback
        click.echo(f"cdacheck: erreur interne : {type(exc).__name__}: {exc}", err=True)
        return EXIT_TOOL
    finally:
        startup.resume()  # whatever stopped the command before its runner was built
    return EXIT_OK


def _interrupted() -> int:
    try:
        sys.stderr.write("cdacheck: interrompu\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return EXIT_INTERRUPTED


def run() -> None:
    """Console-script entry point: Ctrl-C at any moment is exit code 130, no traceback."""
    try:
        code = main()
    except KeyboardInterrupt:  # between two guards (the report being written, say)
        code = _interrupted()
    sys.exit(code)
