"""SUN-ES rates per establishment against the programme's targets (``cdacheck stats``).

The room is a pipeline of its own, downstream of the check:

- :mod:`cdacheck.stats.inputs` reads reports written earlier (one-object JSON RunReport or
  one JSON object per line) and the CSV files (stays, FINESS map), with line numbers;
- :mod:`cdacheck.stats.rows` turns reports into flat rows (one per document, its reasons,
  the documents it replaces), written as CSV for the database;
- :mod:`cdacheck.stats.engine` loads the rows into DuckDB and computes the rates in SQL;
- :mod:`cdacheck.stats.render` renders the result as text, JSON, CSV or an HTML dashboard.

DuckDB is an optional dependency (extra ``stats``): importing this package works without
it, :func:`compute` raises :class:`StatsError` with the install hint.
"""

from __future__ import annotations

from cdacheck.stats.inputs import StatsError
from cdacheck.stats.engine import StatsOptions, StatsResult, compute

__all__ = ["StatsError", "StatsOptions", "StatsResult", "compute"]
