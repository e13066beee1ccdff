"""Issue 10, archive class: every limit holds whatever the compression method and the
declared sizes; members are checked once; non-CDA members are never validated as CDA."""

from __future__ import annotations

import importlib.util
import io
import struct
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from cdacheck.checks.xdm_members import member_kind
from cdacheck.config import Settings, XdmLimits
from cdacheck.inputs.xdm import open_archive
from cdacheck.pipeline import Runner

ROOT = Path(__file__).resolve().parent.parent
METHODS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


def _gen():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("hostile_cases_zip", ROOT / "scripts" / "hostile_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _zip(members: dict[str, bytes], method: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("method", METHODS)
def test_every_method_reads_back(method: int) -> None:
    payload = b"<a>" + bytes(range(256)) * 300 + b"</a>"
    archive = open_archive(_zip({"A.XML": payload, "E.TXT": b""}, method), "t")
    assert not archive.hits
    assert archive.get("A.XML") == payload and archive.get("E.TXT") == b""


@pytest.mark.parametrize("method", METHODS[1:])
def test_lying_sizes_stop_the_stream_with_bounded_memory(method: int) -> None:
    """64 MB of zeros declared as 1,000 bytes: zipfile's bzip2/LZMA readers would inflate a
    whole compressed block at once (a 3 kB archive reached 8 GB); ours stops one chunk after
    the declared size."""
    data = _gen().bomb_zip(method, 64 * 1024 * 1024, lie=True)
    tracemalloc.start()
    try:
        archive = open_archive(data, "bomb")
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [h.rule_id for h in archive.hits] == ["XDM012"]
    # A chunk or two of output, plus the LZMA dictionary (8 MB at the default preset).
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes"


@pytest.mark.parametrize("method", METHODS[1:])
def test_caps_hold_on_the_bytes_produced(method: int) -> None:
    """Declared sizes within the caps but a real output beyond them (sizes patched after
    compression): the member cap and the ratio cap hold on what is decompressed."""
    big = b"\0" * (6 * 1024 * 1024)
    data = bytearray(_zip({"B.XML": big}, method))
    declared = 6 * 1024 * 1024  # honest size, but the cap is smaller than it
    archive = open_archive(bytes(data), "t", XdmLimits(max_member_size=declared // 2, max_ratio=1e9))
    assert [h.rule_id for h in archive.hits] == ["XDM010"]
    # Declared small enough to pass the pre-checks; ratio counted on the real output.
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        struct.pack_into("<I", data, data.find(sig) + off, 2 * 1024 * 1024)
    archive = open_archive(bytes(data), "t", XdmLimits(max_ratio=50))
    assert [h.rule_id for h in archive.hits] in (["XDM011"], ["XDM012"])
    archive = open_archive(bytes(data), "t", XdmLimits(max_total_uncompressed=3 * 1024 * 1024, max_ratio=1e9))
    assert [h.rule_id for h in archive.hits] in (["XDM009"], ["XDM012"])


def test_crc_is_checked() -> None:
    data = bytearray(_zip({"A.TXT": b"hello world"}, zipfile.ZIP_STORED))
    pos = data.find(b"hello")
    data[pos] = ord("j")
    archive = open_archive(bytes(data), "t")
    assert [h.rule_id for h in archive.hits] == ["XDM012"]
    assert "CRC" in str(archive.hits[0].params["reason"])


def test_archive_over_the_input_cap_is_too_large_not_unreadable() -> None:
    data = _zip({"A.TXT": b"x" * 5000}, zipfile.ZIP_STORED)
    archive = open_archive(data[:1001], "t", max_size=1000)
    assert [h.rule_id for h in archive.hits] == ["XDM014"]


def test_unicode_normalisation_collision() -> None:
    archive = open_archive(_zip({"R\u00c9.TXT": b"a", "RE\u0301.TXT": b"b"}, zipfile.ZIP_DEFLATED), "t")
    assert [h.rule_id for h in archive.hits] == ["XDM015"]


def test_a_member_is_validated_once_and_entries_are_capped() -> None:
    calls: list[str] = []
    runner = Runner(Settings(env="test", xdm=XdmLimits(max_entries=50)))
    original = runner.check_document

    def counting(data, source, member=None, pre_hits=()):  # type: ignore[no-untyped-def]
        calls.append(member)
        return original(data, source, member, pre_hits)

    runner.check_document = counting  # type: ignore[method-assign]
    report = runner.check_archive(_gen().many_entries_zip(300), "many.zip")
    assert calls == ["IHE_XDM/SUBSET01/DOC0001.XML"]
    assert len(report.documents) == 1
    assert "XDM016" in {f.rule_id for f in report.findings}


@pytest.mark.parametrize(("data", "kind"), [
    (b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>', "cda"),
    (b'<!-- x --><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Object>'
     b'<ClinicalDocument xmlns="urn:hl7-org:v3"/></ds:Object></ds:Signature>', "cda"),
    (b'<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
     b'<xsl:template match="n1:ClinicalDocument" xmlns:n1="urn:hl7-org:v3"/></xsl:stylesheet>', "other"),
    (b"<html><body>ClinicalDocument urn:hl7-org:v3</body></html>", "other"),
    (b'<ClinicalDocument xmlns="urn:other"/>', "other"),
    (b"%PDF-1.4 ClinicalDocument", "other"),
    (b"\x89PNG\r\n", "other"),
    (b'<ClinicalDocument xmlns="urn:hl7-org:v3"', "broken"),
])
def test_member_kind(data: bytes, kind: str) -> None:
    assert member_kind(data)[0] == kind
