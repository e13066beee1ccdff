"""Safe reading: root forms, hostile XML, bad bytes. Findings, never exceptions or network."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from cda_builder import minimal_cda, signature_wrapped, stylesheet_wrapped

from cdacheck.facts import extract_facts
from cdacheck.inputs.sources import iter_sources
from cdacheck.inputs.xml import parse_document


def _rules(hits) -> set[str]:  # type: ignore[no-untyped-def]
    return {h.rule_id for h in hits}


@pytest.mark.parametrize(
    ("wrap", "form"),
    [(lambda s: s, "ClinicalDocument"), (signature_wrapped, "ds:Signature"),
     (stylesheet_wrapped, "xsl:stylesheet")],
)
def test_three_root_forms_reach_the_clinical_document(wrap, form) -> None:  # type: ignore[no-untyped-def]
    doc, hits = parse_document(wrap(minimal_cda("X")).encode(), "t.xml")
    assert doc is not None, hits
    assert doc.root_form == form
    assert doc.cda.tag == "{urn:hl7-org:v3}ClinicalDocument"
    facts = extract_facts(doc)
    assert facts.code is not None and facts.code.code == "34874-8"
    assert facts.root_form == form


def test_other_root_is_a_finding() -> None:
    doc, hits = parse_document(b"<html><body/></html>", "t.xml")
    assert doc is None and _rules(hits) == {"PRS007"}


def test_wrapper_without_cda_is_a_finding() -> None:
    xml = b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>'
    doc, hits = parse_document(xml, "t.xml")
    assert doc is None and _rules(hits) == {"PRS008"}


def test_clinical_document_without_namespace_is_unexpected_root() -> None:
    doc, hits = parse_document(b"<ClinicalDocument/>", "t.xml")
    assert doc is None and "PRS007" in _rules(hits)


def test_empty_input() -> None:
    doc, hits = parse_document(b"", "t.xml")
    assert doc is None and _rules(hits) == {"PRS001"}


@pytest.mark.parametrize("data", [b"not xml at all", b"\x00\x01\x02\xff", b"{\"json\": 1}"])
def test_non_xml(data: bytes) -> None:
    doc, hits = parse_document(data, "t.xml")
    assert doc is None and _rules(hits) == {"PRS002"}


def test_truncated_document_gives_line_and_column() -> None:
    full = minimal_cda().encode()
    doc, hits = parse_document(full[: len(full) // 2], "t.xml")
    assert doc is None
    (hit,) = [h for h in hits if h.rule_id == "PRS002"]
    assert hit.location.line and hit.location.line > 1
    assert hit.location.column is not None


def test_size_cap() -> None:
    doc, hits = parse_document(minimal_cda().encode(), "t.xml", max_bytes=100)
    assert doc is None and _rules(hits) == {"PRS003"}


def test_utf8_bom_is_a_warning_finding() -> None:
    doc, hits = parse_document(b"\xef\xbb\xbf" + minimal_cda().encode(), "t.xml")
    assert doc is not None and "PRS006" in _rules(hits)


def test_non_utf8_encoding_is_a_finding() -> None:
    xml = ('<?xml version="1.0" encoding="ISO-8859-1"?>' + minimal_cda("é")).encode("latin-1")
    doc, hits = parse_document(xml, "t.xml")
    assert doc is not None and "PRS005" in _rules(hits)


def test_utf16_is_a_finding() -> None:
    xml = ('<?xml version="1.0" encoding="UTF-16"?>' + minimal_cda()).encode("utf-16")
    _, hits = parse_document(xml, "t.xml")
    assert "PRS005" in _rules(hits)


def test_xxe_is_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xml = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file://{secret}">]>'
           + minimal_cda("&xxe;"))
    doc, hits = parse_document(xml.encode(), "t.xml")
    assert "PRS004" in _rules(hits)
    assert doc is not None
    facts = extract_facts(doc)
    assert "TOP-SECRET" not in (facts.title or "")
    assert b"TOP-SECRET" not in doc.data


def test_billion_laughs_is_not_expanded() -> None:
    ents = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    xml = f'<?xml version="1.0"?><!DOCTYPE d [{ents}]>' + minimal_cda("&lol9;")
    doc, hits = parse_document(xml.encode(), "t.xml")
    assert "PRS004" in _rules(hits) or "PRS002" in _rules(hits)
    if doc is not None:
        assert len(extract_facts(doc).title or "") < 1000


def test_no_network_access_for_external_dtd_or_entity() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    connections: list[object] = []

    def accept() -> None:
        try:
            conn, _ = server.accept()
            connections.append(conn)
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    xml = (f'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://127.0.0.1:{port}/x.dtd" '
           f'[<!ENTITY net SYSTEM "http://127.0.0.1:{port}/e">]>' + minimal_cda("&net;"))
    doc, hits = parse_document(xml.encode(), "t.xml")
    thread.join()
    server.close()
    assert connections == []
    assert "PRS004" in _rules(hits)


def test_directory_expansion_is_sorted_and_filtered(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.xml").write_text("<a/>")
    (tmp_path / "a.XML").write_text("<a/>")
    (tmp_path / "c.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    (tmp_path / "notes.txt").write_text("ignored")
    labels = [s.label for s in iter_sources([tmp_path], 1000)]
    assert labels == [str(tmp_path / "a.XML"), str(tmp_path / "b" / "z.xml"), str(tmp_path / "c.zip")]


def test_missing_path_is_a_finding() -> None:
    (src,) = list(iter_sources(["/no/such/file.xml"], 1000))
    assert src.kind == "error" and src.hits[0].rule_id == "PRS010"
