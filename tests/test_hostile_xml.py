"""Issue 10, XML class: nothing a document names is ever opened; encodings and DOCTYPEs are
read from what the bytes are; large N1 PDFs are read within bounded memory.

Tests that could hang on a regression (a FIFO opened for reading blocks until a writer
comes) run in a subprocess with a timeout, so that a regression fails instead of hanging.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from lxml import etree

from cdacheck.inputs.xml import RefuseAll, detected_encoding, parse_xml, prolog_doctype

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60


def _python(code: str, stdin: int | None = subprocess.DEVNULL, timeout: int = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, stdin=stdin, timeout=timeout, cwd=ROOT)


@pytest.fixture()
def fifo(tmp_path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFO on this platform")
    path = tmp_path / "block.fifo"
    os.mkfifo(path)
    return path


def _hostile_doc(target: str) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE ClinicalDocument SYSTEM "{target}" [\n'
            f'  <!ENTITY e SYSTEM "{target}">\n  <!ENTITY % p SYSTEM "{target}"> %p;\n]>\n'
            '<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&e;</title>'
            f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{target}"/>'
            '</ClinicalDocument>').encode()


@pytest.mark.parametrize("kind", ["fifo", "file-url", "dev-stdin"])
def test_named_files_are_never_opened(kind: str, fifo: Path) -> None:
    """A FIFO with no writer blocks whoever opens it: the parse must end, with PRS004."""
    target = {"fifo": str(fifo), "file-url": fifo.as_uri(), "dev-stdin": "/dev/stdin"}[kind]
    doc = fifo.parent / "doc.xml"
    doc.write_bytes(_hostile_doc(target))
    # stdin is a pipe nobody writes to: reading /dev/stdin would block as well.
    proc = subprocess.Popen([sys.executable, "-m", "cdacheck", "--isolated", "--format", "json", str(doc)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"cdacheck blocked on {target}: something opened it")
    finally:
        if proc.stdin:
            proc.stdin.close()
    report = json.loads(out)
    ids = {f["rule_id"] for f in report["items"][0]["findings"]}
    assert "PRS004" in ids
    assert not {i for i in ids if i.startswith("INT")}, ids
    assert "Traceback" not in err


def test_resolver_refuses_even_when_loading_is_on(fifo: Path) -> None:
    """The second wall: a parser that WOULD load the DTD and entities gets nothing from
    RefuseAll (run in a subprocess: a regression blocks on the FIFO)."""
    code = f"""
        from lxml import etree
        from cdacheck.inputs.xml import RefuseAll
        parser = etree.XMLParser(load_dtd=True, resolve_entities=True, no_network=True)
        parser.resolvers.add(RefuseAll())
        doc = b'<!DOCTYPE r SYSTEM "{fifo}" [<!ENTITY e SYSTEM "{fifo.as_uri()}">]><r>&e;</r>'
        root = etree.fromstring(doc, parser)
        print(repr(root.text))
    """
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in ("None", "''")


@pytest.mark.parametrize(("data", "expected"), [
    ("<a/>".encode("utf-16-le"), "UTF-16LE (sans BOM)"),
    ("<a/>".encode("utf-16-be"), "UTF-16BE (sans BOM)"),
    ("<a/>".encode("utf-32-le"), "UTF-32LE (sans BOM)"),
    ("<a/>".encode("utf-32-be"), "UTF-32BE (sans BOM)"),
    (b"\xff\xfe\x00\x00" + "<a/>".encode("utf-32-le"), "UTF-32LE"),
    (b"\xff\xfe" + "<a/>".encode("utf-16-le"), "UTF-16LE"),
    (b'<?xml version="1.0"' + b" " * 5000 + b'encoding="ISO-8859-1"?><a/>', "ISO-8859-1"),
    (b'<?xml version="1.0" encoding="UTF-8"?><a/>', "UTF-8"),
    (b"<a/>", None),
])
def test_detected_encoding(data: bytes, expected: str | None) -> None:
    assert detected_encoding(data) == expected


def test_encoding_backstop_from_the_parser() -> None:
    """What libxml2 decoded is checked too: an EBCDIC-like declaration far away is caught."""
    data = b'<?xml version="1.0"' + b" " * 70000 + b'encoding="ISO-8859-1"?><a>\xe9</a>'
    _tree, hits = parse_xml(data, "x", None, 10**7)
    assert [h.rule_id for h in hits].count("PRS005") == 1


@pytest.mark.parametrize(("data", "doctype"), [
    (b"<!-- <!DOCTYPE x> --><a/>", False),
    (b"<a><![CDATA[<!DOCTYPE x>]]></a>", False),
    (b"<a>&lt;!DOCTYPE x></a>", False),
    (b"<?pi <!DOCTYPE x> ?><a/>", False),
    (b"<?xml version='1.0'?>\n<!-- c -->\n<!DOCTYPE a><a/>", True),
    (b"\xef\xbb\xbf<!DOCTYPE a [<!ENTITY x 'y'>]><a/>", True),
])
def test_doctype_only_in_the_prolog(data: bytes, doctype: bool) -> None:
    assert (prolog_doctype(data) is not None) is doctype
    _tree, hits = parse_xml(data, "x", None, 10**6)
    assert ("PRS004" in [h.rule_id for h in hits]) is doctype


def test_caps_stay_enforced_with_huge_tree() -> None:
    """huge_tree lifts libxml2's 10 MB text limit; our max_bytes cap still refuses bigger input,
    and libxml2 keeps a depth limit."""
    big = b"<a>" + b"x" * 2000 + b"</a>"
    _tree, hits = parse_xml(big, "x", None, 1000)
    assert [h.rule_id for h in hits] == ["PRS003"]
    deep = b"<a>" * 100_000 + b"</a>" * 100_000
    tree, hits = parse_xml(deep, "x", None, 10**7)
    assert tree is None and [h.rule_id for h in hits] == ["PRS002"]
    text = b"<a>" + b"x" * (12 * 1024 * 1024) + b"</a>"  # beyond libxml2's 10 MB default
    tree, hits = parse_xml(text, "x", None, 64 * 1024 * 1024)
    assert tree is not None and not hits


def _generator():  # type: ignore[no-untyped-def]
    path = ROOT / "scripts" / "hostile_cases.py"
    spec = importlib.util.spec_from_file_location("hostile_cases_xml", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_MEASURE = """
    import json, sys, time
    def hwm():
        # VmHWM: this process's own peak RSS. ru_maxrss is not: Linux carries the parent's
        # RSS at fork over exec, so under a 1.5 GB pytest the child "starts" at 1.5 GB.
        for line in open("/proc/self/status", encoding="ascii"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    from cdacheck.config import Settings
    from cdacheck.pipeline import Runner
    runner = Runner(Settings(env="test"))
    runner.check_document(open("samples/documents/ldl-ses-n1.xml", "rb").read(), "warm-up")
    base = hwm()
    data = open(sys.argv[1], "rb").read()
    start = time.perf_counter()
    report, _, _ = runner.check_document(data, sys.argv[1])
    seconds = time.perf_counter() - start
    peak = hwm()
    print(json.dumps({"size": len(data), "base": base, "peak": peak, "seconds": seconds,
                      "rules": sorted({f.rule_id for f in report.findings}), "packs": report.packs}))
"""


@pytest.mark.parametrize("mb", [9, 40])
def test_large_pdf_is_checked_within_memory(mb: int, tmp_path: Path) -> None:
    """A legitimate N1 document with a 9 MB / 40 MB PDF is well-formed and fully checked;
    the memory it adds stays under 10x its size and the process under 1 GB."""
    if sys.platform != "linux":
        pytest.skip("/proc/self/status VmHWM is Linux's")
    path = tmp_path / f"n1-{mb}.xml"
    path.write_bytes(_generator().n1_with_pdf(mb * 1024 * 1024))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_MEASURE), str(path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    assert m["rules"] == [], m
    assert m["packs"] == ["xsd", "packs", "python"]
    assert m["peak"] - m["base"] <= 10 * m["size"], m
    assert m["peak"] < 1024**3, m
    assert m["seconds"] < 30, m
