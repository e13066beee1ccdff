"""Totality: any bytes in, a report out; no exception, no traceback."""

from __future__ import annotations

from cda_builder import minimal_cda
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cdacheck
from cdacheck.config import Settings
from cdacheck.pipeline import Runner

_RUNNER = Runner(Settings(env="test"))
_SEED = minimal_cda().encode()


def _assert_report(data: bytes) -> None:
    report = _RUNNER.run([data])
    (item,) = report.items
    assert item.kind in ("document", "archive")  # bytes starting with PK are read as a ZIP
    findings = report.all_findings()
    for f in findings:
        assert f.rule_id and f.message
    # INT001 would mean a check crashed on this input: totality includes "no internal crash".
    assert "INT001" not in {f.rule_id for f in findings}, findings


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_a_report(data: bytes) -> None:
    _assert_report(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(_SEED)), st.binary(max_size=40),
       st.integers(min_value=0, max_value=60))
def test_mangled_documents_give_a_report(pos: int, insert: bytes, cut: int) -> None:
    _assert_report(_SEED[:pos] + insert + _SEED[pos + cut:])


def test_api_on_bytes() -> None:
    report = cdacheck.check(_SEED, env="test")
    assert report.summary.documents == 1
    assert cdacheck.is_valid(b"") is False
