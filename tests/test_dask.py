"""cdacheck.dask: the check on a LocalCluster of two worker processes equals the serial run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed", reason="Dask distributed is not installed (extra dask)")
pytest.importorskip("duckdb", reason="DuckDB is not installed (extra stats)")

import cdacheck.dask as cdask  # noqa: E402
from cdacheck.cli import main  # noqa: E402
from cdacheck.config import Settings  # noqa: E402
from cdacheck.pipeline import Runner  # noqa: E402
from stats_corpus import ROOT, write_corpus  # noqa: E402


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40) as lc, Client(lc) as client:
        yield lc.scheduler_address, client


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("dask")
    paths = write_corpus(folder)
    keep = {"L1v1.xml", "L1v2.xml", "L2v1.xml", "L3.xml", "L3b.xml", "I1.xml", "I1b.xml",
            "rejete.zip"}  # a bounded corpus: versions, a replacement, a rejected archive
    for f in paths["docs"].iterdir():
        if f.name not in keep:
            f.unlink()
    # plus an archive and an unreadable input of our samples
    shutil.copy(ROOT / "samples" / "xdm" / "xdm-ldl-ses-n1.zip", paths["docs"])
    shutil.copy(ROOT / "samples" / "inputs" / "not-xml.xml", paths["docs"])
    return paths


@pytest.fixture(scope="module")
def serial(corpus: dict[str, Path]) -> Any:
    """The serial run of the corpus, once, and its JSON report file."""
    report = Runner(Settings(env="test")).run([corpus["docs"]])
    path = corpus["docs"].parent / "serial.json"
    path.write_text(report.model_dump_json(), encoding="utf-8")
    return report, path


def _strip(obj: Any) -> Any:
    """The report without its timings (the only field two runs may not share)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k != "elapsed_ms"}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def test_bag_of_paths_equals_serial(cluster, corpus: dict[str, Path], serial) -> None:  # type: ignore[no-untyped-def]
    _, client = cluster
    expected = [r.model_dump(mode="json") for r in serial[0].items]
    remote = [r.model_dump(mode="json")
              for r in cdask.check_paths([corpus["docs"]], Settings(env="test"), client)]
    assert len(remote) == len(expected) == 10
    assert _strip(remote) == _strip(expected)
    assert len(client.scheduler_info()["workers"]) == 2


def test_bag_of_bytes(cluster, corpus: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    import dask.bag as db

    _, client = cluster
    settings = Settings(env="test")
    files = sorted(corpus["docs"].glob("L*.xml"))
    bag = db.from_sequence([(f.name, f.read_bytes()) for f in files], npartitions=2)
    texts = client.compute(cdask.reports_bag(bag, settings)).result()
    remote = [json.loads(t) for t in texts]
    runner = Runner(settings)
    serial = [runner.check_document(f.read_bytes(), f.name)[0].model_dump(mode="json")
              for f in files]
    assert _strip(remote) == _strip(serial)
    assert [r["indicator"]["indicator"] for r in remote].count("DS 1.1") == 4


def test_cli_check_and_stats_with_dask(cluster, corpus: dict[str, Path], serial,  # type: ignore[no-untyped-def]
                                       tmp_path: Path) -> None:
    address, _ = cluster
    docs = str(corpus["docs"])
    out = tmp_path / "dask.json"
    assert main(["check", docs, "--env", "test", "--format", "json", "-o", str(out),
                 "--dask", address]) == 1  # the corpus holds defective documents
    assert _strip(json.loads(out.read_text(encoding="utf-8"))) == _strip(
        serial[0].model_dump(mode="json"))
    texts = []
    for args in ([str(serial[1])], [docs, "--env", "test", "--dask", address]):
        stats = tmp_path / "stats.json"
        assert main(["stats", *args, "--stays", str(corpus["stays"]), "--format", "json",
                     "-o", str(stats)]) == 0
        texts.append(stats.read_text(encoding="utf-8"))
    assert texts[0] == texts[1] and '"DS 1.1"' in texts[0]


def test_unreachable_scheduler_is_exit_2(corpus: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cdask, "CONNECT_TIMEOUT", "1s")
    assert main(["check", str(corpus["docs"]), "--dask", "tcp://127.0.0.1:9"]) == 2
    assert "ordonnanceur Dask injoignable" in capsys.readouterr().err
