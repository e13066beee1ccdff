"""Safe reading of XDM ZIPs: hostile archives give findings, never exceptions nor files."""

from __future__ import annotations

import io
import os
import tempfile
import uuid
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdacheck.checks.xdm import check_archive
from cdacheck.config import Settings, XdmLimits
from cdacheck.inputs.xdm import open_archive, unsafe_kind
from cdacheck.model import DocumentReport

DATE = (2024, 1, 1, 0, 0, 0)


def make_zip(files: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED,
             tweak=None) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names on purpose
        with zipfile.ZipFile(buf, "w", method) as zf:
            for name, data in files:
                info = zipfile.ZipInfo(name, date_time=DATE)
                info.compress_type = method
                info.external_attr = 0o644 << 16
                if tweak is not None:
                    tweak(info)
                zf.writestr(info, data)
    return buf.getvalue()


def rules(archive) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.rule_id for h in archive.hits]


def no_document(data: bytes, source: str, member: str):  # type: ignore[no-untyped-def]
    return DocumentReport(source=source, member=member, valid=True), None, None


def test_plain_archive_is_read_in_memory() -> None:
    data = make_zip([("INDEX.HTM", b"<html/>"), ("IHE_XDM/SUBSET01/A.TXT", b"abc")])
    archive = open_archive(data, "a.zip", XdmLimits())
    assert archive.readable and rules(archive) == []
    assert archive.names == ["INDEX.HTM", "IHE_XDM/SUBSET01/A.TXT"]
    assert archive.get("IHE_XDM/SUBSET01/A.TXT") == b"abc"


@pytest.mark.parametrize("data", [b"", b"not a zip", b"PK\x03\x04truncated", b"PK\x05\x06" + b"\0" * 5])
def test_not_a_zip(data: bytes) -> None:
    archive = open_archive(data, "x.zip", XdmLimits())
    assert not archive.readable
    assert rules(archive) == ["XDM001"]


@pytest.mark.parametrize("name,kind", [
    ("../evil.txt", "remontée"), ("IHE_XDM/../../evil.txt", "remontée"),
    ("/etc/evil.txt", "absolu"), ("\\windows\\evil.txt", "absolu"),
    ("C:/evil.txt", "lecteur"), ("c:evil.txt", "lecteur"),
    ("IHE_XDM\\..\\..\\evil.txt", "remontée"), ("bad\x01name", "contrôle"),
])
def test_unsafe_names_are_skipped(name: str, kind: str) -> None:
    assert kind in (unsafe_kind(name) or "")
    data = make_zip([("README.TXT", b"r"), (name, b"payload")])
    archive = open_archive(data, "t.zip", XdmLimits())
    assert rules(archive) == ["XDM002"]
    assert archive.names == ["README.TXT"]


def test_safe_names_are_not_flagged() -> None:
    for name in ("IHE_XDM/SUBSET01/DOC0001.XML", "a..b/c.txt", "README.TXT"):
        assert unsafe_kind(name) is None


def test_hostile_archive_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Traversal, absolute and symlink members are never written, anywhere."""
    tag = uuid.uuid4().hex
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    absolute = Path(tempfile.gettempdir()) / f"cdacheck-{tag}.txt"
    files = [("INDEX.HTM", b"i"), ("README.TXT", b"r"),
             (f"../../../{tag}.txt", b"zip-slip"), (str(absolute), b"absolute"),
             (f"IHE_XDM/SUBSET01/../../../../{tag}-2.txt", b"deep")]
    data = make_zip(files)

    def link(info: zipfile.ZipInfo) -> None:
        if info.filename == "LINK":
            info.create_system = 3
            info.external_attr = (0o120777 << 16)

    data_link = make_zip([("LINK", b"/etc/passwd")], tweak=link)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    before_tmp = set(os.listdir(tempfile.gettempdir()))
    for blob in (data, data_link):
        archive = open_archive(blob, "hostile.zip", XdmLimits())
        check_archive(archive, Settings(), no_document)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before
    assert not absolute.exists()
    new_tmp = set(os.listdir(tempfile.gettempdir())) - before_tmp
    assert not [n for n in new_tmp if tag in n]
    assert rules(open_archive(data, "h.zip", XdmLimits())).count("XDM002") == 3
    assert rules(open_archive(data_link, "l.zip", XdmLimits())) == ["XDM003"]


def test_duplicate_and_case_collision() -> None:
    data = make_zip([("A.TXT", b"1"), ("A.TXT", b"2"), ("a.txt", b"3")])
    archive = open_archive(data, "d.zip", XdmLimits())
    assert sorted(rules(archive)) == ["XDM004", "XDM005"]
    assert archive.get("A.TXT") == b"1"


def test_encrypted_member_is_not_read() -> None:
    # zipfile cannot encrypt: set the "encrypted" flag bit in both headers by hand.
    data = bytearray(make_zip([("SECRET.XML", b"<x/>")]))
    data[data.index(b"PK\x03\x04") + 6] |= 0x1
    data[data.index(b"PK\x01\x02") + 8] |= 0x1
    archive = open_archive(bytes(data), "e.zip", XdmLimits())
    assert rules(archive) == ["XDM006"]
    assert archive.names == []


def test_nested_archive_is_flagged_not_opened() -> None:
    inner = make_zip([("../inner-evil.txt", b"x")])
    archive = open_archive(make_zip([("IHE_XDM/SUBSET01/IN.ZIP", inner)]), "n.zip", XdmLimits())
    assert rules(archive) == ["XDM007"]
    assert archive.get("IHE_XDM/SUBSET01/IN.ZIP") == inner


def test_too_many_members() -> None:
    data = make_zip([(f"F{i}.TXT", b"x") for i in range(5)])
    archive = open_archive(data, "m.zip", XdmLimits(max_members=4))
    assert rules(archive) == ["XDM008"] and not archive.readable


def test_total_uncompressed_cap() -> None:
    data = make_zip([("A.TXT", b"a" * 600), ("B.TXT", b"b" * 600)])
    archive = open_archive(data, "s.zip", XdmLimits(max_total_uncompressed=1000))
    assert rules(archive) == ["XDM009"] and archive.names == []


def test_member_size_cap() -> None:
    data = make_zip([("BIG.BIN", b"x" * 5000), ("OK.TXT", b"y")])
    archive = open_archive(data, "s.zip", XdmLimits(max_member_size=4096))
    assert rules(archive) == ["XDM010"]
    assert archive.names == ["OK.TXT"]


def test_compression_ratio_bomb() -> None:
    data = make_zip([("BOMB.BIN", b"\0" * (4 * 1024 * 1024)), ("OK.TXT", b"y")])
    assert len(data) < 20_000
    archive = open_archive(data, "b.zip", XdmLimits())
    assert rules(archive) == ["XDM011"]
    assert archive.names == ["OK.TXT"]


def test_corrupt_member_crc() -> None:
    data = bytearray(make_zip([("A.TXT", b"hello world")], method=zipfile.ZIP_STORED))
    at = bytes(data).index(b"hello world")
    data[at] ^= 0xFF
    archive = open_archive(bytes(data), "c.zip", XdmLimits())
    assert rules(archive) == ["XDM012"]


def test_empty_archive() -> None:
    archive = open_archive(make_zip([]), "e.zip", XdmLimits())
    assert rules(archive) == ["XDM013"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_result(data: bytes) -> None:
    archive = open_archive(data, "any.zip", XdmLimits())
    hits, docs = check_archive(archive, Settings(), no_document)
    assert isinstance(hits, list) and isinstance(docs, list)


_BASE = make_zip([("INDEX.HTM", b"<html/>"), ("README.TXT", b"r"),
                  ("IHE_XDM/SUBSET01/METADATA.XML", b"<a/>"),
                  ("IHE_XDM/SUBSET01/DOC0001.XML", b"<ClinicalDocument/>")])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_BASE) - 1), st.integers(0, 255)), max_size=8))
def test_mutated_zip_never_raises(changes: list[tuple[int, int]]) -> None:
    data = bytearray(_BASE)
    for pos, value in changes:
        data[pos] = value
    archive = open_archive(bytes(data), "mut.zip", XdmLimits())
    hits, _ = check_archive(archive, Settings(), no_document)
    assert all(h.rule_id for h in hits)
