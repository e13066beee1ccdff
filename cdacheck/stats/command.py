"""What ``cdacheck stats`` does, behind the thin click face in cdacheck/cli.py.

Report files (``.json``, ``.jsonl``) are read; every other path is checked on the way
(serially, or on a Dask cluster with ``dask_address``) and its reports are counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

from cdacheck.config import Settings
from cdacheck.stats.engine import StatsOptions, StatsResult, compute
from cdacheck.stats.inputs import (
    Item,
    StatsError,
    is_report_file,
    iter_report_file,
    read_finess_map,
    read_stays,
)


def parse_day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise StatsError(f"{option} « {value} » invalide (AAAA-MM-JJ attendu)") from exc


def _items(paths: Sequence[str], settings: Settings, dask_address: str | None) -> Iterator[Item]:
    reports = [Path(p) for p in paths if is_report_file(p)]
    others = [p for p in paths if not is_report_file(p)]
    for path in reports:
        if not path.is_file():
            raise StatsError(f"{path} : fichier de rapport introuvable")
        yield from iter_report_file(path)
    if not others:
        return
    if dask_address:
        from cdacheck.dask import check_paths

        yield from check_paths(others, settings, dask_address)
    else:
        from cdacheck.pipeline import Runner

        yield from Runner(settings).iter_reports(others)


def run_stats(paths: Sequence[str], settings: Settings, *, window: int = 4,
              date_from: str | None = None, date_to: str | None = None,
              stays: Path | None = None, finess_map: Path | None = None,
              dask_address: str | None = None) -> StatsResult:
    options = StatsOptions(
        window=window, date_from=parse_day(date_from, "--from"),
        date_to=parse_day(date_to, "--to"),
        stays=read_stays(stays) if stays is not None else None,
        finess_map=read_finess_map(finess_map) if finess_map is not None else {})
    if options.date_from and options.date_to and options.date_from > options.date_to:
        raise StatsError(f"--from {date_from} est après --to {date_to}")
    return compute(_items(paths, settings, dask_address), options)
