"""The faster helpers of issue 14 give what the code they replaced gave.

Each rewritten helper is compared with the straightforward reading it replaced (kept here
as the reference), on every real input at hand and on many random ones: the findings of a
document cannot change through them. The reports of whole runs were compared before/after
as well (docs/performance.md, "Python stages and cold start").
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from lxml import etree

from cdacheck.checks import datatypes, ins
from cdacheck.inputs.xml import _declared_encoding

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").rglob("*.xml"))


def test_context_paths_split_as_the_character_scanner_does() -> None:
    import json

    table = json.loads((ROOT / "cdacheck/data/datatype_contexts.json").read_text("utf-8"))
    paths = [p for ps in table["contexts"].values() for p in ps]
    rng = random.Random(14)
    odd = ["".join(rng.choice("ab/[]()'\"") for _ in range(rng.randint(0, 14))) for _ in range(5000)]
    # The reference is the plain character scanner (the fallback of the masked fast path).
    from cdacheck.engines.schematron.xpath import _split_scan as _split_reference
    from cdacheck.engines.schematron.xpath import split_top_level

    for path in [*paths, *odd, "", "/", "a]/b", "'open/x", "a['x/y']/b"]:
        assert split_top_level(path, "/") == _split_reference(path, "/"), path
    # The kit-mode compiler splits rule contexts on "|" with the same helper.
    for expr in [p.replace("/", "|") for p in odd] + ["a|b[c|d]|'x|y'|e(f|g)", "x[@a='it''s|']|y"]:
        assert split_top_level(expr, "|") == _split_reference(expr, "|"), expr


def test_uri_character_class_is_the_same_set() -> None:
    reference = re.compile(r'[\x00-\x20<>"{}|\\^`\x7f-\U0010ffff]')
    for code in range(0x110000):
        ch = chr(code)
        assert bool(datatypes._URI_BAD.match(ch)) == bool(reference.match(ch)), hex(code)


def test_nir_key_is_stdnum_arithmetic() -> None:
    stdnum_nir = pytest.importorskip("stdnum.fr.nir")
    rng = random.Random(97)
    for _ in range(20000):
        dept = rng.choice(["2A", "2B", f"{rng.randrange(100):02d}"])
        head = f"{rng.randrange(1, 3)}{rng.randrange(100):02d}{rng.randrange(1, 13):02d}{dept}{rng.randrange(10**6):06d}"
        key = ins.nir_key(head + "00")
        assert key == stdnum_nir.calc_check_digits(head)
        good, bad = head + key, head + f"{(int(key) + 1) % 100:02d}"
        assert ins.nir_problem(good) is None and stdnum_nir.is_valid(good)
        assert ins.nir_problem(bad) == "key" and not stdnum_nir.is_valid(bad)


_DECL_REFERENCE = re.compile(rb"^\s*<\?xml\s[^>]{0,65536}?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", re.S)


def _declared_reference(data: bytes) -> str | None:
    head = data[3:65536] if data.startswith(b"\xef\xbb\xbf") else data[:65536]
    m = _DECL_REFERENCE.match(head)
    return m.group(1).decode("ascii") if m else None


def test_declared_encoding_window() -> None:
    rng = random.Random(8)
    parts = [b"\xef\xbb\xbf", b" ", b"\n", b"<?xml", b" version='1.0'", b" encoding=", b"'UTF-8'",
             b'"latin1"', b"?>", b"<a/>", b">", b"x"]
    cases = [p.read_bytes() for p in SAMPLES]
    cases += [b"".join(rng.choice(parts) for _ in range(rng.randint(0, 10))) for _ in range(20000)]
    for pad in (65500, 65520, 65535, 65536, 65540):  # the 64 KiB window's edge, BOM or not
        for bom in (b"", b"\xef\xbb\xbf"):
            cases.append(bom + b"<?xml" + b" " * (pad - 30) + b"encoding='UTF-16'?><a/>")
    for data in cases:
        assert _declared_encoding(data) == _declared_reference(data), data[:80]


def test_entity_references_only_under_a_doctype() -> None:
    """Entity reference nodes are dropped only when a DOCTYPE is there: none exists without."""
    from cdacheck.inputs.xml import make_parser

    for path in SAMPLES:
        try:
            root = etree.fromstring(path.read_bytes(), make_parser())
        except (etree.XMLSyntaxError, ValueError):
            continue
        if root is None:
            continue
        info = root.getroottree().docinfo
        if info.internalDTD is None and info.externalDTD is None and not info.doctype:
            assert next(root.iter(etree.Entity), None) is None, path
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(b"<a>&undeclared;</a>", make_parser())
