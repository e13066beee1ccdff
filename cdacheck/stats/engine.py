"""The aggregation: rows loaded into DuckDB, logical documents, units, rates and reasons in SQL.

A *unit* is what a rate counts: a stay for DS 1.1, 1.2 and 1.3, a report for DS 2.1 and
3.1. Each unit has an establishment, a day (discharge day of the stay, or the document's
day) and ``ok`` (it has a qualifying document). Rates are ``ok`` units over all units, per
establishment, indicator and month, and over the period; reasons are counted on the units
that are not ``ok``. See docs/stats.md for what is counted and what is a proxy.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cdacheck.stats.inputs import Item, StatsError, Stay
from cdacheck.stats.rows import DocRow, RowWriter, iter_rows

STAY_INDICATORS = ("DS 1.1", "DS 1.2", "DS 1.3")
REPORT_INDICATORS = ("DS 2.1", "DS 3.1")
INDICATORS = STAY_INDICATORS + REPORT_INDICATORS
UNKNOWN_FINESS = "inconnu"
NO_DOCUMENT = {
    "DS 1.1": "aucune lettre de liaison de sortie pour ce séjour",
    "DS 1.2": "aucune ordonnance de sortie pour ce séjour",
    "DS 1.3": "aucun compte rendu opératoire pour ce séjour",
}


def load_targets() -> dict[str, Any]:
    text = resources.files("cdacheck.stats").joinpath("targets.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True)
class StatsOptions:
    window: int = 4
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    stays: list[Stay] | None = None
    finess_map: dict[str, str] = field(default_factory=dict)
    memory_limit: str = "512MB"
    threads: int = 2


@dataclass
class StatsResult:
    """What ``cdacheck stats`` found; :meth:`as_dict` is the JSON output."""

    window: int
    denominator: str  # "stays-file" or "proxy" (for DS 1.1, 1.2, 1.3)
    period: dict[str, str | None]
    targets: dict[str, float]
    rates: list[dict[str, Any]]
    reasons: list[dict[str, Any]]
    counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"window": self.window, "denominator": self.denominator, "period": self.period,
                "targets": self.targets, "counts": self.counts, "rates": self.rates,
                "reasons": self.reasons}


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:
        raise StatsError("cdacheck stats a besoin de DuckDB : pip install 'cdacheck[stats]'") from exc
    return duckdb


def compute(items: Iterable[Item], options: StatsOptions | None = None) -> StatsResult:
    """The rates of the reports ``items`` (documents and archives)."""
    return compute_rows(iter_rows(items), options)


def compute_rows(rows: Iterable[DocRow], options: StatsOptions | None = None) -> StatsResult:
    """The rates of already flattened rows (what :func:`compute` and the benchmark use)."""
    options = options or StatsOptions()
    targets = load_targets()["windows"].get(str(options.window))
    if targets is None:
        raise StatsError(f"fenêtre de financement {options.window} inconnue (1 à 4)")
    duckdb = _duckdb()
    with tempfile.TemporaryDirectory(prefix="cdacheck-stats-") as tmp:
        folder = Path(tmp)
        writer = RowWriter(folder)
        try:
            for row in rows:
                writer.add(row)
        finally:
            writer.close()
        con = duckdb.connect(":memory:")
        try:
            con.execute(f"SET memory_limit='{options.memory_limit}'")
            con.execute(f"SET threads={int(options.threads)}")
            con.execute(f"SET temp_directory='{(folder / 'spill').as_posix()}'")
            con.execute("SET preserve_insertion_order=false")
            _load(con, folder, writer, options)
            return _aggregate(con, options, targets, writer.count)
        except duckdb.OutOfMemoryException as exc:
            raise StatsError(f"DuckDB : mémoire insuffisante avec memory_limit="
                             f"{options.memory_limit} ({str(exc).splitlines()[0]})") from exc
        except duckdb.Error as exc:
            raise StatsError(f"échec de l'agrégation DuckDB : {str(exc).splitlines()[0]}") from exc
        finally:
            con.close()


_DOC_TYPES = {"idx": "BIGINT", "source": "VARCHAR", "logical": "VARCHAR", "doc_id": "VARCHAR",
              "version": "BIGINT", "candidate": "VARCHAR", "qualifies": "BOOLEAN",
              "rejected": "BOOLEAN", "stay": "VARCHAR", "stay_ext": "VARCHAR",
              "finess": "VARCHAR", "doc_date": "DATE"}


def _read_csv(path: Path, columns: dict[str, str]) -> str:
    cols = ", ".join(f"'{k}': '{v}'" for k, v in columns.items())
    return (f"read_csv('{path.as_posix()}', header=false, columns={{{cols}}}, "
            "nullstr='', quote='\"', escape='\"', auto_detect=false)")


def _load(con: Any, folder: Path, writer: RowWriter, options: StatsOptions) -> None:
    con.execute(f"CREATE TABLE docs AS SELECT * FROM {_read_csv(writer.paths['docs'], _DOC_TYPES)}")
    con.execute("CREATE TABLE reasons AS SELECT * FROM "
                + _read_csv(writer.paths["reasons"], {"idx": "BIGINT", "reason": "VARCHAR"}))
    con.execute("CREATE TABLE replaces AS SELECT * FROM "
                + _read_csv(writer.paths["replaces"], {"idx": "BIGINT", "parent_id": "VARCHAR"}))
    con.execute("CREATE TABLE fmap (geo VARCHAR, legal VARCHAR)")
    if options.finess_map:
        con.executemany("INSERT INTO fmap VALUES (?, ?)", sorted(options.finess_map.items()))
    if options.stays is not None:
        path = folder / "stays.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            import csv

            w = csv.writer(fh)
            for s in options.stays:
                w.writerow((s.stay_id, s.finess, s.discharge_date.isoformat(), int(s.surgical)))
        con.execute("CREATE TABLE stays AS SELECT * FROM " + _read_csv(
            path, {"stay_id": "VARCHAR", "finess": "VARCHAR", "day": "DATE", "surgical": "BOOLEAN"}))


def _period_sql(options: StatsOptions, column: str) -> str:
    parts = ["TRUE"]
    if options.date_from is not None:
        parts.append(f"{column} >= DATE '{options.date_from.isoformat()}'")
    if options.date_to is not None:
        parts.append(f"{column} <= DATE '{options.date_to.isoformat()}'")
    return " AND ".join(parts)


_LOGICAL = """
CREATE TABLE live AS
WITH replaced AS (
    SELECT DISTINCT r.parent_id FROM replaces r JOIN docs d USING (idx) WHERE NOT d.rejected
), ranked AS (
    SELECT d.*, row_number() OVER (PARTITION BY logical ORDER BY version DESC, idx DESC) AS rn
    FROM docs d
    WHERE d.doc_id IS NULL OR d.doc_id NOT IN (SELECT parent_id FROM replaced)
)
SELECT r.* EXCLUDE (rn, finess),
       coalesce(m.legal, r.finess, '{unknown}') AS est
FROM ranked r LEFT JOIN fmap m ON m.geo = r.finess
WHERE rn = 1
"""

_STAY_UNITS_FILE = """
CREATE TABLE stay_units AS
SELECT s.stay_id, coalesce(m.legal, s.finess) AS est, s.day, s.surgical
FROM stays s LEFT JOIN fmap m ON m.geo = s.finess
WHERE {period}
"""

_STAY_UNITS_PROXY = """
CREATE TABLE stay_units AS
SELECT stay AS stay_id, min(est) AS est, max(doc_date) AS day,
       bool_or(candidate = 'DS 1.3') AS surgical
FROM live
WHERE candidate IN ('DS 1.1', 'DS 1.2', 'DS 1.3') AND stay IS NOT NULL AND doc_date IS NOT NULL
GROUP BY stay
HAVING {period}
"""

_LINKS = """
CREATE TABLE links AS
SELECT DISTINCT s.stay_id, l.idx, l.candidate, l.qualifies
FROM stay_units s JOIN live l ON l.stay = s.stay_id
WHERE l.candidate IN ('DS 1.1', 'DS 1.2', 'DS 1.3')
UNION
SELECT s.stay_id, l.idx, l.candidate, l.qualifies
FROM stay_units s JOIN live l ON l.stay_ext = s.stay_id
WHERE l.candidate IN ('DS 1.1', 'DS 1.2', 'DS 1.3')
"""

_UNITS = """
CREATE TABLE units AS
SELECT i.ind AS indicator, s.est, s.day, s.stay_id AS unit,
       coalesce(bool_or(k.qualifies), FALSE) AS ok, count(k.idx) AS docs
FROM stay_units s
CROSS JOIN (VALUES ('DS 1.1'), ('DS 1.2'), ('DS 1.3')) i(ind)
LEFT JOIN links k ON k.stay_id = s.stay_id AND k.candidate = i.ind
WHERE i.ind <> 'DS 1.3' OR s.surgical
GROUP BY ALL
UNION ALL
SELECT candidate, est, doc_date, CAST(idx AS VARCHAR), qualifies, 1
FROM live
WHERE candidate IN ('DS 2.1', 'DS 3.1') AND doc_date IS NOT NULL AND {period}
"""

_UNIT_REASONS = """
CREATE TABLE unit_reasons AS
SELECT u.indicator, u.est, u.unit, r.idx, r.reason
FROM units u JOIN links k ON k.stay_id = u.unit AND k.candidate = u.indicator
JOIN reasons r ON r.idx = k.idx
WHERE NOT u.ok AND u.indicator IN ('DS 1.1', 'DS 1.2', 'DS 1.3')
UNION ALL
SELECT u.indicator, u.est, u.unit, NULL, m.reason
FROM units u JOIN (VALUES {no_doc}) m(ind, reason) ON m.ind = u.indicator
WHERE NOT u.ok AND u.docs = 0
UNION ALL
SELECT u.indicator, u.est, u.unit, r.idx, r.reason
FROM units u JOIN reasons r ON CAST(r.idx AS VARCHAR) = u.unit
WHERE NOT u.ok AND u.indicator IN ('DS 2.1', 'DS 3.1')
"""

_RATES = """
SELECT indicator, coalesce(est, '*') AS establishment,
       CASE WHEN grouping(month) = 1 THEN 'total' ELSE month END AS month,
       count(*) FILTER (WHERE ok) AS numerator, count(*) AS denominator
FROM (SELECT *, strftime(day, '%Y-%m') AS month FROM units)
GROUP BY GROUPING SETS ((indicator, est, month), (indicator, est), (indicator, month), (indicator))
ORDER BY indicator, grouping(est), est, grouping(month), month
"""

# No count(DISTINCT): de-duplicated first (hash aggregates spill to disk, DISTINCT counts
# under GROUPING SETS do not). A unit belongs to one establishment, so counts add up over them.
_REASONS = """
WITH ur AS (
    SELECT DISTINCT indicator, est, unit, reason FROM unit_reasons
), per_unit AS (
    SELECT indicator, est, unit, count(*) AS n FROM ur GROUP BY ALL
), by_units AS (
    SELECT ur.indicator, coalesce(ur.est, '*') AS establishment, ur.reason,
           count(*) AS units, count(*) FILTER (WHERE p.n = 1) AS sole_reason_units
    FROM ur JOIN per_unit p USING (indicator, est, unit)
    GROUP BY GROUPING SETS ((ur.indicator, ur.est, ur.reason), (ur.indicator, ur.reason))
), by_docs AS (
    SELECT indicator, coalesce(est, '*') AS establishment, reason, count(*) AS documents
    FROM (SELECT DISTINCT indicator, est, reason, idx FROM unit_reasons WHERE idx IS NOT NULL)
    GROUP BY GROUPING SETS ((indicator, est, reason), (indicator, reason))
)
SELECT u.indicator, u.establishment, u.reason, u.units, u.sole_reason_units,
       coalesce(d.documents, 0) AS documents
FROM by_units u LEFT JOIN by_docs d USING (indicator, establishment, reason)
ORDER BY u.indicator, u.establishment = '*', u.establishment, u.units DESC, documents DESC,
         u.reason
"""

_EXAMPLES = """
SELECT indicator, reason, source FROM (
    SELECT r.indicator, r.reason, d.source,
           row_number() OVER (PARTITION BY r.indicator, r.reason ORDER BY d.source) AS rn
    FROM (SELECT DISTINCT indicator, reason, idx FROM unit_reasons WHERE idx IS NOT NULL) r
    JOIN live d ON d.idx = r.idx
) WHERE rn <= 3 ORDER BY indicator, reason, source
"""


def _aggregate(con: Any, options: StatsOptions, targets: dict[str, float],
               read: int) -> StatsResult:
    con.execute(_LOGICAL.format(unknown=UNKNOWN_FINESS))
    if options.stays is not None:
        con.execute(_STAY_UNITS_FILE.format(period=_period_sql(options, "s.day")))
    else:
        con.execute(_STAY_UNITS_PROXY.format(period=_period_sql(options, "max(doc_date)")))
    con.execute(_LINKS)
    con.execute(_UNITS.format(period=_period_sql(options, "doc_date")))
    no_doc = ", ".join(f"('{k}', '{v}')" for k, v in NO_DOCUMENT.items())
    con.execute(_UNIT_REASONS.format(no_doc=no_doc))
    rates = []
    for ind, est, month, num, den in con.execute(_RATES).fetchall():
        rate = round(100.0 * num / den, 2) if den else None
        target = targets.get(ind)
        rates.append({
            "indicator": ind, "establishment": est, "month": month, "numerator": num,
            "denominator": den, "rate": rate, "target": target,
            "gap": round(rate - target, 2) if rate is not None and target is not None else None,
            "proxy": ind in STAY_INDICATORS and options.stays is None,
        })
    examples: dict[tuple[str, str], list[str]] = {}
    for ind, reason, source in con.execute(_EXAMPLES).fetchall():
        examples.setdefault((ind, reason), []).append(source)
    reasons = [{"indicator": ind, "establishment": est, "reason": reason, "units": units,
                "sole_reason_units": sole, "documents": docs,
                "unit": "séjours" if ind in STAY_INDICATORS else "comptes rendus",
                "examples": examples.get((ind, reason), []) if est == "*" else []}
               for ind, est, reason, units, sole, docs in con.execute(_REASONS).fetchall()]
    return StatsResult(
        window=options.window,
        denominator="proxy" if options.stays is None else "stays-file",
        period={"from": options.date_from.isoformat() if options.date_from else None,
                "to": options.date_to.isoformat() if options.date_to else None},
        targets=dict(targets), rates=rates, reasons=reasons,
        counts=_counts(con, read, options))


def _counts(con: Any, read: int, options: StatsOptions) -> dict[str, int]:
    def one(sql: str) -> int:
        return int(con.execute(sql).fetchone()[0])

    counts = {
        "documents_read": read,
        "logical_documents": one("SELECT count(*) FROM live"),
        "older_versions_or_replaced": read - one("SELECT count(*) FROM live"),
        "in_rejected_archive": one("SELECT count(*) FROM live WHERE rejected"),
        "without_stay": one("SELECT count(*) FROM live WHERE stay IS NULL AND candidate IN "
                            "('DS 1.1', 'DS 1.2', 'DS 1.3')"),
        "without_finess": one(f"SELECT count(*) FROM live WHERE est = '{UNKNOWN_FINESS}' "
                              "AND candidate <> 'none'"),
        "stays": one("SELECT count(*) FROM stay_units"),
    }
    if options.stays is not None:
        counts["stay_not_in_stays_file"] = one(
            "SELECT count(*) FROM live l WHERE candidate IN ('DS 1.1', 'DS 1.2', 'DS 1.3') "
            "AND stay IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM stays s WHERE s.stay_id = l.stay) "
            "AND (stay_ext IS NULL OR NOT EXISTS (SELECT 1 FROM stays s "
            "WHERE s.stay_id = l.stay_ext))")
    return counts
