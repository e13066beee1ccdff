"""The check on a Dask distributed cluster: a bag of paths or bytes -> a bag of reports.

For corpora larger than one machine. Each worker process builds its Runner once (engines
compiled once per process, :func:`cdacheck.pipeline.runner_for`) and checks its partitions;
reports travel back as their JSON (the versioned contract), in input order, so the result
is the serial run's (``elapsed_ms`` aside)::

    from distributed import Client
    from cdacheck.dask import check_paths
    reports = check_paths(["corpus/"], settings, Client("tcp://scheduler:8786"))

The paths must be readable by the workers under the same names (a shared file system);
otherwise give the bytes: ``reports_bag(dask.bag.from_sequence([(name, data), ...]))``.
Needs the extra ``dask`` (``pip install 'cdacheck[dask]'``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from cdacheck.config import Settings
from cdacheck.inputs.sources import expand, read_stream
from cdacheck.model import ArchiveReport, DocumentReport, RunReport
from cdacheck.pipeline import ToolError, runner_for

Item = DocumentReport | ArchiveReport
_ITEM = TypeAdapter(Item)
PARTITIONS_PER_WORKER = 4
CONNECT_TIMEOUT = "10s"


def _require() -> tuple[Any, Any]:
    try:
        import dask.bag as db
        import distributed
    except ImportError as exc:
        raise ToolError("--dask a besoin de Dask : pip install 'cdacheck[dask]'") from exc
    return db, distributed


def _check_partition(elements: Iterable[Any], settings_json: str) -> list[str]:
    """Worker side: check each path or (label, bytes) of one partition -> report JSON."""
    settings = Settings.model_validate_json(settings_json)
    runner = runner_for(settings)
    out: list[str] = []
    for element in elements:
        if isinstance(element, (tuple, list)):
            label, data = element
            src = read_stream(io.BytesIO(bytes(data)), str(label), settings.max_bytes)
            out.append(runner.check_source(src).model_dump_json())
        elif isinstance(element, (bytes, bytearray)):
            src = read_stream(io.BytesIO(bytes(element)), "<bytes>", settings.max_bytes)
            out.append(runner.check_source(src).model_dump_json())
        else:
            out.extend(r.model_dump_json() for r in runner.iter_reports([element]))
    return out


def reports_bag(bag: Any, settings: Settings) -> Any:
    """A Dask bag of paths, bytes or (label, bytes) -> a bag of report JSON strings."""
    return bag.map_partitions(_check_partition, settings.model_dump_json())


def _connect(client: Any, distributed: Any) -> tuple[Any, bool]:
    if isinstance(client, str):
        try:
            return distributed.Client(client, timeout=CONNECT_TIMEOUT), True
        except (OSError, TimeoutError, ValueError) as exc:
            raise ToolError(f"ordonnanceur Dask injoignable à {client} : {exc}") from exc
    return client, False


def check_paths(paths: Sequence[str | Path], settings: Settings, client: Any) -> list[Item]:
    """Check files and directories on the cluster (``client``: a Client or an address)."""
    db, distributed = _require()
    elements: list[Any] = []
    for label, path in expand(paths):
        if path is None:  # stdin is read here, on the client, and sent as bytes
            import sys

            elements.append((label, sys.stdin.buffer.read()))
        else:
            elements.append(label)
    if not elements:
        return []
    client, owned = _connect(client, distributed)
    try:
        workers = max(len(client.scheduler_info().get("workers", {})), 1)
        bag = db.from_sequence(elements,
                               npartitions=min(len(elements), workers * PARTITIONS_PER_WORKER))
        texts = client.compute(reports_bag(bag, settings)).result()
    finally:
        if owned:
            client.close()
    return [_ITEM.validate_json(t) for t in texts]


def run(paths: Sequence[str | Path], settings: Settings, client: Any) -> RunReport:
    """The RunReport of ``cdacheck check --dask``, as the serial run would write it.

    The engines are also built here (once) so that the report names the same tool versions
    and kit as a serial run.
    """
    items = check_paths(paths, settings, client)
    return runner_for(settings).report(items)
