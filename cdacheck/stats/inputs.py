"""What ``cdacheck stats`` reads besides documents: reports and CSV files, with line numbers.

- Reports written earlier: a ``.json`` file holding one RunReport (``--format json``), or a
  ``.jsonl`` file holding one JSON object per line: DocumentReport / ArchiveReport objects
  (``"kind": "document"`` / ``"archive"``), a RunReport on one line, and header or summary
  lines (objects with no ``kind`` of a report, e.g. ``{"kind": "summary", ...}``), skipped.
- The stays file (``--stays``): UTF-8 CSV with the header
  ``stay_id,finess,discharge_date,surgical`` (extra columns ignored).
- The FINESS map (``--finess-map``): UTF-8 CSV with the header
  ``finess_geo,finess_juridique``.

Every problem is a :class:`StatsError` naming the file and the line.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from cdacheck.model import ArchiveReport, DocumentReport, RunReport

REPORT_SUFFIXES = (".json", ".jsonl", ".ndjson")
STAYS_COLUMNS = ("stay_id", "finess", "discharge_date", "surgical")
MAP_COLUMNS = ("finess_geo", "finess_juridique")
FINESS_RE = re.compile(r"^(\d{9}|2[AB]\d{7})$")
MAX_LISTED = 20

Item = DocumentReport | ArchiveReport


class StatsError(Exception):
    """The statistics cannot be computed (bad file, missing dependency): exit code 2."""


def is_report_file(path: str | Path) -> bool:
    return str(path).lower().endswith(REPORT_SUFFIXES)


def iter_report_file(path: Path) -> Iterator[Item]:
    """The document and archive reports of one report file, in file order."""
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16).lstrip()
    except OSError as exc:
        raise StatsError(f"{path} : illisible ({exc.strerror or exc})") from exc
    if head.startswith(b"{") and _one_object(path):
        yield from _run_report(path)
        return
    yield from _json_lines(path)


def _one_object(path: Path) -> bool:
    # A RunReport written by --format json is one (indented) object; a JSON-lines file has
    # one object per line. Decide on the first line: a complete object there means lines.
    with path.open("rb") as fh:
        first = fh.readline()
    try:
        json.loads(first)
    except ValueError:
        return True
    return False


def _run_report(path: Path) -> Iterator[Item]:
    try:
        report = RunReport.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise StatsError(f"{path} : ce n'est pas un rapport cdacheck (RunReport) : "
                         f"{_first_error(exc)}") from exc
    yield from report.items


def _json_lines(path: Path) -> Iterator[Item]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise StatsError(f"{path}, ligne {number} : JSON invalide ({exc})") from exc
            if not isinstance(obj, dict):
                raise StatsError(f"{path}, ligne {number} : un objet JSON est attendu")
            try:
                yield from _line_items(obj)
            except ValidationError as exc:
                raise StatsError(f"{path}, ligne {number} : rapport {obj.get('kind', '?')} "
                                 f"invalide : {_first_error(exc)}") from exc


def _line_items(obj: dict[str, object]) -> list[Item]:
    kind = obj.get("kind")
    if kind == "document":
        return [DocumentReport.model_validate(obj)]
    if kind == "archive":
        return [ArchiveReport.model_validate(obj)]
    if "items" in obj and "schema_version" in obj:
        return list(RunReport.model_validate(obj).items)
    return []  # header, summary or run findings line: nothing to count


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where} : {err.get('msg')}" if where else str(err.get("msg"))


def iter_reports(paths: Iterable[Path]) -> Iterator[Item]:
    for path in paths:
        yield from iter_report_file(path)


# --------------------------------------------------------------------------- CSV files


@dataclass(frozen=True)
class Stay:
    stay_id: str
    finess: str
    discharge_date: dt.date
    surgical: bool


def _csv_rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise StatsError(f"{path} : illisible ({exc.strerror or exc})") from exc
    with fh:
        try:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in columns if c not in header]
            if missing:
                raise StatsError(f"{path}, ligne 1 : en-tête {','.join(header) or '(vide)'} ; "
                                 f"colonne(s) attendue(s) absente(s) : {', '.join(missing)} "
                                 f"(en-tête attendu : {','.join(columns)})")
            reader.fieldnames = header
            for row in reader:
                yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}
        except UnicodeDecodeError as exc:
            raise StatsError(f"{path} : le fichier n'est pas en UTF-8 ({exc.reason})") from exc
        except csv.Error as exc:
            raise StatsError(f"{path} : CSV illisible ({exc})") from exc


def _raise_all(path: Path, problems: list[str]) -> None:
    if problems:
        more = f"\n… et {len(problems) - MAX_LISTED} autre(s)" if len(problems) > MAX_LISTED else ""
        raise StatsError(f"{path} : {len(problems)} ligne(s) invalide(s) :\n"
                         + "\n".join(problems[:MAX_LISTED]) + more)


def read_stays(path: Path) -> list[Stay]:
    """Every stay of the stays file; all bad rows are reported together, by line number."""
    stays: list[Stay] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, row in _csv_rows(path, STAYS_COLUMNS):
        bad = []
        stay_id, finess = row["stay_id"], row["finess"]
        if not stay_id:
            bad.append("stay_id vide")
        elif stay_id in seen:
            bad.append(f"stay_id {stay_id} déjà donné ligne {seen[stay_id]}")
        if not FINESS_RE.match(finess):
            bad.append(f"finess « {finess} » invalide (9 caractères FINESS attendus)")
        try:
            day = dt.date.fromisoformat(row["discharge_date"])
        except ValueError:
            bad.append(f"discharge_date « {row['discharge_date']} » invalide (AAAA-MM-JJ attendu)")
        if row["surgical"] not in ("0", "1"):
            bad.append(f"surgical « {row['surgical']} » invalide (1 ou 0 attendu)")
        if bad:
            problems.append(f"ligne {line} : " + " ; ".join(bad))
            continue
        seen[stay_id] = line
        stays.append(Stay(stay_id, finess, day, row["surgical"] == "1"))
    _raise_all(path, problems)
    return stays


def read_finess_map(path: Path) -> dict[str, str]:
    """FINESS géographique -> FINESS juridique."""
    out: dict[str, str] = {}
    problems: list[str] = []
    for line, row in _csv_rows(path, MAP_COLUMNS):
        geo, legal = row["finess_geo"], row["finess_juridique"]
        bad = [f"{name} « {value} » invalide (9 caractères FINESS attendus)"
               for name, value in (("finess_geo", geo), ("finess_juridique", legal))
               if not FINESS_RE.match(value)]
        if not bad and geo in out and out[geo] != legal:
            bad.append(f"finess_geo {geo} déjà associé à {out[geo]}")
        if bad:
            problems.append(f"ligne {line} : " + " ; ".join(bad))
            continue
        out[geo] = legal
    _raise_all(path, problems)
    return out
