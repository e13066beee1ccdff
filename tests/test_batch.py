"""Streamed batches: text/JSON/JSONL written as results come, --jobs in input order,
progress on standard error, flat memory; the reused runner and the Validator."""

from __future__ import annotations

import gc
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import cdacheck
from cdacheck import pipeline
from cdacheck.batch import run_batch
from cdacheck.cli import main
from cdacheck.config import Settings
from cdacheck.model import DocumentReport
from cdacheck.reporters import render

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
MIXED = [str(SAMPLES / "inputs"), *(str(SAMPLES / "documents" / f"{n}.xml") for n in
         ("ldl-ses-n1", "ins-key-wrong", "cr-bio-n3", "effective-time-no-offset")),
         str(SAMPLES / "xdm" / "xdm-ldl-ses-n1.zip"), "does-not-exist.xml"]


def _strip_elapsed(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _strip_elapsed(v) for k, v in data.items() if k != "elapsed_ms"}
    if isinstance(data, list):
        return [_strip_elapsed(v) for v in data]
    return data


@pytest.fixture(scope="module")
def one_shot() -> cdacheck.RunReport:
    return pipeline.Runner(Settings(env="test")).run(MIXED)


@pytest.mark.parametrize("verbosity", [-1, 0, 1])
def test_streamed_text_is_the_reporter_text(one_shot: cdacheck.RunReport, verbosity: int) -> None:
    out = io.StringIO()
    summary = run_batch(Settings(env="test"), MIXED, out, "text", verbosity=verbosity)
    assert out.getvalue() == render(one_shot, "text", verbosity=verbosity)
    assert summary == one_shot.summary


def test_streamed_json_is_the_report(one_shot: cdacheck.RunReport) -> None:
    out = io.StringIO()
    run_batch(Settings(env="test"), MIXED, out, "json")
    expected = render(one_shot, "json")
    got = out.getvalue()
    assert _strip_elapsed(json.loads(got)) == _strip_elapsed(json.loads(expected))
    # byte for byte, once the timings (which differ from run to run) are aligned
    import re
    timing = re.compile(r'"elapsed_ms": [0-9.]+')
    assert timing.sub("T", got) == timing.sub("T", expected)
    cdacheck.RunReport.model_validate_json(got)


def test_streamed_json_of_nothing_found(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = io.StringIO()
    run_batch(Settings(env="test"), [str(empty)], out, "json")
    report = cdacheck.RunReport.model_validate_json(out.getvalue())
    assert report.items[0].findings[0].rule_id == "PRS011"


def test_jsonl_one_line_per_input_then_summary(one_shot: cdacheck.RunReport,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--env", "test", "--format", "jsonl", *MIXED])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    objs = [json.loads(line) for line in lines]
    assert len(objs) == len(one_shot.items) + 1
    assert [o["kind"] for o in objs[:-1]] == [i.kind for i in one_shot.items]
    assert [o["source"] for o in objs[:-1]] == [i.source for i in one_shot.items]
    last = objs[-1]
    assert last["kind"] == "summary" and "items" not in last
    assert last["summary"] == json.loads(one_shot.summary.model_dump_json())
    assert last["schema_version"] == one_shot.schema_version and last["settings"]["env"] == "test"


def test_jobs_2_text_is_the_sequential_text(one_shot: cdacheck.RunReport) -> None:
    out = io.StringIO()
    run_batch(Settings(env="test"), MIXED, out, "text", jobs=2)
    assert out.getvalue() == render(one_shot, "text")


def test_jobs_3_text_is_the_sequential_text_and_no_thread_feeds_the_workers(
        one_shot: cdacheck.RunReport) -> None:
    """Two workers and this process check; the answers still come in input order. No thread
    is started here to feed the workers (a ProcessPoolExecutor's feeder and manager threads
    need this process's GIL, which its own checks hold: the workers then waited)."""
    import threading

    from cdacheck.batch import entries, iter_checked

    threads = threading.active_count()
    head, items = iter_checked(Settings(env="test"), entries(MIXED * 3), jobs=3)
    got = []
    for item in items:
        assert threading.active_count() == threads
        got.append(item)
    out = io.StringIO()
    run_batch(Settings(env="test"), MIXED, out, "text", jobs=3)
    assert out.getvalue() == render(one_shot, "text")
    sources = [i.source for i in got]
    assert sources == [i.source for i in one_shot.items] * 3


def _dying_worker(conn: Any, settings_json: str) -> None:
    import os

    os._exit(3)


def test_jobs_a_worker_that_dies_is_a_tool_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    from cdacheck import batch
    from cdacheck.pipeline import ToolError

    monkeypatch.setattr(batch, "_worker_main", _dying_worker)
    with pytest.raises(ToolError, match="arrêté brutalement"):
        run_batch(Settings(env="test"), MIXED * 4, io.StringIO(), "jsonl", jobs=2)
    assert multiprocessing.active_children() == []


def test_jobs_2_jsonl_in_input_order_with_stdin(one_shot: cdacheck.RunReport) -> None:
    data = (SAMPLES / "documents" / "ldl-ses-n1.xml").read_bytes()
    r = subprocess.run([sys.executable, "-m", "cdacheck", "--env", "test", "--format", "jsonl",
                        "-j", "2", "-", *MIXED], input=data, capture_output=True, timeout=120,
                       check=False)
    assert r.returncode == 1, r.stderr
    lines = [_strip_elapsed(json.loads(x)) for x in r.stdout.splitlines()]
    assert lines[0]["source"] == "<stdin>" and lines[0]["indicator"]["indicator"] == "DS 1.1"
    expected = [_strip_elapsed(json.loads(i.model_dump_json())) for i in one_shot.items]
    assert lines[1:-1] == expected
    assert lines[-1]["summary"]["inputs"] == len(one_shot.items) + 1


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_unusable_kit_is_exit_2(tmp_path: Path, jobs: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "schematrons").mkdir()  # passes the CLI's first look, not the engine's
    doc = str(SAMPLES / "documents" / "ldl-ses-n1.xml")
    assert main(["--kit", str(tmp_path), "-j", jobs, doc]) == 2
    assert "kit" in capsys.readouterr().err.lower()


def test_progress_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    docs = str(SAMPLES / "xdm")
    main(["--env", "test", "--progress", "-q", docs])
    err = capsys.readouterr().err
    n = len(list((SAMPLES / "xdm").glob("*.zip")))
    assert f"/{n} [" in err and "doc/s" in err and "cdacheck" in err
    main(["--env", "test", "-q", docs])  # not a terminal: no bar by default
    assert capsys.readouterr().err == ""


def test_results_come_before_the_batch_ends(tmp_path: Path) -> None:
    from service_helpers import slow_document

    first = SAMPLES / "documents" / "ldl-ses-n1.xml"
    slow = tmp_path / "slow.xml"
    slow.write_bytes(slow_document(5000))
    proc = subprocess.Popen([sys.executable, "-m", "cdacheck", "--env", "test", "--format",
                             "jsonl", str(first), str(slow), str(slow)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        still_running = proc.poll() is None
        assert json.loads(line)["source"] == str(first)
        assert still_running, "the first result came only when the whole batch was done"
    finally:
        proc.kill()
        proc.wait()


def test_memory_stays_flat() -> None:
    """Items are written and dropped: live DocumentReports stay bounded whatever the count."""
    paths = [str(SAMPLES / "documents" / "ldl-ses-n1.xml")] * 40
    live: list[int] = []

    class Sink(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            Sink.writes += 1
            if Sink.writes % 10 == 0:
                gc.collect()
                live.append(sum(isinstance(o, DocumentReport) for o in gc.get_objects()))
            return len(text)  # and forget it

    gc.collect()
    before = sum(isinstance(o, DocumentReport) for o in gc.get_objects())  # other tests' reports
    run_batch(Settings(env="test"), paths, Sink(), "jsonl")
    assert len(live) >= 3 and max(live) - before <= 3, (before, live)


def test_check_reuses_a_warm_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Settings] = []
    real_init = pipeline.Runner.__init__

    def counting(self: pipeline.Runner, settings: Settings) -> None:
        built.append(settings)
        real_init(self, settings)

    monkeypatch.setattr(pipeline.Runner, "__init__", counting)
    monkeypatch.setattr(pipeline, "_RUNNERS", pipeline.OrderedDict())
    doc = SAMPLES / "documents" / "ldl-ses-n1.xml"
    for _ in range(3):
        assert cdacheck.check(doc, env="test").summary.failed is False
    assert len(built) == 1
    assert cdacheck.check(doc, env="production").summary.failed is True  # other settings
    assert len(built) == 2
    cdacheck.check(doc, settings=Settings(env="test"))  # equal settings, another object
    assert len(built) == 2


def test_runner_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "_RUNNERS", pipeline.OrderedDict())
    for sev in ("fatal", "error", "warning", "info"):
        for env in ("test", "production"):
            for strict in (True, False):
                pipeline.runner_for(Settings(env=env, fail_on=sev, strict=strict, skip_xsd=True,
                                             skip_schematron=True))
    assert len(pipeline._RUNNERS) == pipeline._RUNNERS_MAX


def test_validator() -> None:
    v = cdacheck.Validator(env="test")
    good = SAMPLES / "documents" / "ldl-ses-n1.xml"
    bad = SAMPLES / "documents" / "ins-key-wrong.xml"
    assert v.is_valid(good) and not v.is_valid(bad)
    assert v.check(good.read_bytes()).documents()[0].indicator.indicator == "DS 1.1"
    with pytest.raises(cdacheck.ValidationFailed) as info:
        v.validate(bad)
    assert "INS008" in {f.rule_id for f in info.value.report.all_findings()}
    items = v.iter_reports([good, bad])
    assert next(items).valid is True and next(items).valid is False
    assert v.settings.env == "test"
    start = time.perf_counter()
    v.check(good)
    assert v._runner is v._runner  # one runner for the object's life
    assert time.perf_counter() - start < 30  # sanity bound, not a benchmark


def test_validator_bad_settings_raise_early(tmp_path: Path) -> None:
    with pytest.raises(pipeline.ToolError):
        cdacheck.Validator(kit=tmp_path)
