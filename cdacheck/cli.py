"""Command line: parse options -> Settings -> pipeline -> exit code. Click only.

Exit codes: 0 all inputs evaluated and nothing at or above ``--fail-on``; 1 findings at or
above it (unreadable input included); 2 the tool could not do its job.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from cdacheck import __version__
from cdacheck.config import ConfigError, load_settings
from cdacheck.model import Severity
from cdacheck.pipeline import Runner, ToolError, tool_versions
from cdacheck.registry import load_all
from cdacheck.reporters import FORMATS, render

EXIT_OK, EXIT_FINDINGS, EXIT_TOOL = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
SUBCOMMANDS = ("check", "kit", "rules", "stats", "version", "xdm")
_SEVERITIES = [s.value for s in Severity]


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@click.command("check", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="text",
              show_default=True,
              help="Output format: text, json (the versioned RunReport), sarif, junit, github, html.")
@click.option("--redact/--no-redact", default=None,
              help="Remove patient names, birth date, birthplace and INS (a stable pseudonym "
                   "stands in) [default: on for html, off otherwise].")
@click.option("--fail-on", type=click.Choice(_SEVERITIES), default=None,
              help="Lowest severity that makes the exit code 1 [default: error].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report to this file instead of standard output.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary (text format).")
@click.option("-v", "--verbose", count=True, help="Show info findings and every reason.")
@click.option("--env", type=click.Choice(["production", "test"]), default=None,
              help="production: test/demo INS are findings; test: they are accepted.")
@click.option("--xsd", type=click.Path(path_type=Path), default=None,
              help="Validate against this XSD instead of the embedded CDA schema.")
@click.option("--no-xsd", is_flag=True, help="Skip the XSD structure check.")
@click.option("--kit", type=click.Path(path_type=Path), default=None,
              help="Kit mode: run the schematrons of this TestContenuCDA checkout (a path, or a name from `cdacheck kit list`).")
@click.option("--pack", "packs", multiple=True, help="Force a rule pack of cdacheck (repeatable).")
@click.option("--no-schematron", is_flag=True, help="Skip the Schematron rule packs.")
@click.option("--strict", is_flag=True, default=None, help="Archive naming warnings become errors.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=None,
              help="Size cap for one document, in bytes.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Configuration file (cdacheck.toml or pyproject.toml).")
@click.option("--isolated", is_flag=True,
              help="Read no configuration file (cdacheck.toml, pyproject.toml).")
@click.option("--dask", "dask_address", default=None,
              help="Check on this Dask scheduler (tcp://host:8786); paths readable by the workers.")
def check_command(paths: tuple[str, ...], fmt: str, fail_on: str | None, output: Path | None,
                  quiet: bool, verbose: int, env: str | None, xsd: Path | None, no_xsd: bool,
                  kit: Path | None, packs: tuple[str, ...], no_schematron: bool,
                  strict: bool | None, max_bytes: int | None, config: Path | None,
                  isolated: bool, redact: bool | None,
                  dask_address: str | None = None) -> None:
    """Check CDA documents and IHE XDM archives (files, directories, or - for stdin)."""
    overrides: dict[str, Any] = {}
    for key, value in (("fail_on", fail_on), ("env", env), ("xsd", xsd), ("kit", kit),
                       ("max_bytes", max_bytes), ("strict", strict)):
        if value is not None:
            overrides[key] = value
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
    if output is not None:
        _refuse_overwriting_inputs(output, paths)
    try:
        if dask_address:
            from cdacheck.dask import run as dask_run

            report = dask_run(paths, settings, dask_address)
        else:
            report = Runner(settings).run(paths)
    except ToolError as exc:
        _fail(str(exc))
    color = fmt == "text" and output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    redacting = settings.redact if redact is None else redact
    if fmt == "html":
        redacting = True if redact is None else redact
    if redacting:
        from cdacheck.redact import redact as redact_report

        report = redact_report(report)
    if fmt == "text":
        text = render(report, "text", verbosity=-1 if quiet else verbose, color=color)
    elif fmt == "html":
        text = render(report, "html", redact=False)  # already redacted above when asked
    else:
        text = render(report, fmt)
    _emit(text, output)
    raise _Exit(exit_code(report))


def exit_code(report: Any) -> int:
    """2 when nothing was checked or a check could not run; 1 findings at --fail-on; else 0."""
    if not any(_was_checked(item) for item in report.items):
        click.echo("cdacheck: erreur : aucun document à vérifier (dossier vide ou aucun fichier "
                   "*.xml / *.zip)", err=True)
        return EXIT_TOOL
    if report.summary.not_fully_checked:
        click.echo("cdacheck: erreur : vérification incomplète (échec interne) pour : "
                   + ", ".join(report.summary.not_fully_checked[:10]), err=True)
        return EXIT_TOOL
    return EXIT_FINDINGS if report.summary.failed else EXIT_OK


def _was_checked(item: Any) -> bool:
    # A folder with nothing to check yields a placeholder report with PRS011 only.
    return not (item.kind == "document" and item.findings
                and all(f.rule_id == "PRS011" for f in item.findings))


@click.command("rules", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--family", default=None, help="Only this family (PRS, INS, BDY, SCH, ...).")
def rules_command(fmt: str, family: str | None) -> None:
    """List every rule cdacheck can report: id, severity, name, summary."""
    import json

    registry = load_all()
    rules = [r for r in registry if family is None or r.family == family.upper()]
    if fmt == "json":
        data = [{"id": r.id, "name": r.name, "severity": r.severity.value, "summary": r.summary,
                 "message": r.template, "source": r.source, "engine": r.engine} for r in rules]
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


_COMMANDS = {"check": check_command, "rules": rules_command, "stats": stats_command,
             "version": version_command, "xdm": xdm_group}


def _kit_group() -> Any:
    from cdacheck.engines.schematron.kitstore import kit_group

    return kit_group()


_TOP_HELP = """Usage: cdacheck [OPTIONS] PATH...
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
