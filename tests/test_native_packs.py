"""The native engine (cdacheck.engines.native) gives the Saxon path's hits, finding by finding.

Each document is checked by each pack twice: through our Schematron-to-XSLT compiler and
SaxonC, and natively (the packs' XPath 2.0 translated to lxml XPath 1.0). The hits must be
the same list: rule id, role, message, location (readable path and line) and provenance
(pattern, assert, test, Saxon ``path()`` location, kind), in the same order.

Documents (every one through all 9 packs, whether default mode would select them or not):
the kit's 94 examples (skipped without the kit), every sample of ``samples/``, and a
fixed-seed draw of each stored variant set the suite builds (header, body, datatype, CR-BIO
and parity mutants). A small schema of tricky XPath 2.0 constructs is also
run both ways, and an untranslatable pack must fall back to Saxon, never be skipped.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from cdacheck.config import Settings
from cdacheck.detect import detect
from cdacheck.engines.native import Untranslatable, compile_native
from cdacheck.engines.packs import PACKS, PacksEngine, pack_path
from cdacheck.engines.schematron import compile_schematron
from cdacheck.engines.schematron.runner import xdm_document
from cdacheck.facts import extract_facts
from cdacheck.inputs.xml import ParsedDocument, parse_document
from conftest import SAMPLES, kit_path

SEED = 14
PER_SET = 40  # variants drawn from each stored set (fixed seed)
KIT = kit_path()
NEEDS_KIT = pytest.mark.skipif(KIT is None, reason="official ANS kit not found (CDACHECK_KIT, "
                                                   "default ../shared/cisis-kit)")


def _key(h):  # type: ignore[no-untyped-def]
    loc = h.location
    return (h.rule_id, h.role, h.message, loc.xpath, loc.line, loc.file, loc.member,
            tuple(sorted(h.provenance.items())))


@cache
def _saxon(pack: str):  # type: ignore[no-untyped-def]
    return compile_schematron(pack_path(pack), pack_name=pack)


@cache
def _native(pack: str):  # type: ignore[no-untyped-def]
    return compile_native(pack_path(pack), pack)


def _parse(name: str, data: bytes) -> ParsedDocument | None:
    doc, _ = parse_document(data, name)
    return doc


def _differences(name: str, data: bytes, packs: tuple[str, ...]) -> tuple[int, list[str]]:
    """(findings compared, differences) for one document and the given packs."""
    doc = _parse(name, data)
    if doc is None:
        return 0, []
    node = xdm_document(doc)
    compared, diffs = 0, []
    for pack in packs:
        saxon = [_key(h) for h in _saxon(pack).run(doc, node)]
        native = [_key(h) for h in _native(pack).run(doc)]
        compared += len(saxon)
        if saxon != native:
            only_s = [k[:5] for k in saxon if k not in native][:2]
            only_n = [k[:5] for k in native if k not in saxon][:2]
            diffs.append(f"{name} [{pack}]: Saxon only {only_s}, native only {only_n}"
                         + (" (order)" if sorted(saxon) == sorted(native) else ""))
    return compared, diffs


def _check_all(docs: Iterator[tuple[str, bytes]], packs: tuple[str, ...]) -> int:
    total, n, diffs = 0, 0, []
    for name, data in docs:
        compared, d = _differences(name, data, packs)
        total += compared
        n += 1
        diffs.extend(d)
    print(f"native vs Saxon: {n} documents, {total} findings compared, {len(diffs)} differences")
    assert n, "no document to compare"
    assert not diffs, f"{len(diffs)} document/pack pairs differ:\n" + "\n".join(diffs[:20])
    return total


def test_every_pack_runs_natively() -> None:
    engine = PacksEngine(Settings(env="test"))
    assert not engine.pack_engines()  # nothing prepared yet
    assert not any(k.startswith("engine.") for k in engine.describe())  # never in the report
    engine.warm()
    info = engine.pack_engines()
    wrong = {p: info[f"engine.{p}"] for p in PACKS if info[f"engine.{p}"] != "native (lxml)"}
    assert not wrong, wrong


@NEEDS_KIT
def test_kit_examples_same_hits() -> None:
    assert KIT is not None
    docs = sorted((KIT / "ExemplesCDA").glob("*.xml"))
    assert len(docs) >= 90
    compared = _check_all(((d.name, d.read_bytes()) for d in docs), tuple(PACKS))
    assert compared > 1000  # the kit examples do fail some of our asserts


def test_samples_same_hits() -> None:
    files = sorted(p for p in SAMPLES.rglob("*.xml") if p.is_file())
    assert len(files) > 40
    _check_all(((str(p.relative_to(SAMPLES)), p.read_bytes()) for p in files), tuple(PACKS))


def _sample(items: list, n: int = PER_SET) -> list:  # type: ignore[type-arg]
    return random.Random(SEED).sample(items, min(n, len(items)))


def _header_variants() -> Iterator[tuple[str, bytes]]:
    import header_variants as hv

    yield from _sample(list(hv.variants()))


def _body_variants() -> Iterator[tuple[str, bytes]]:
    import body_variants as bv

    kit = bv.kit_dir()
    for name, base, op, xpath, *args in _sample(list(bv.VARIANTS)):
        data = bv.base_bytes(base, kit)
        if data is not None:
            yield name, bv.apply(data, op, xpath, *args)


def _datatype_variants() -> Iterator[tuple[str, bytes]]:
    import datatype_variants as dv

    for v in _sample(list(dv.VARIANTS)):
        data = dv.build(v)
        if data is not None:
            yield v.vid, data


def _cr_bio_variants() -> Iterator[tuple[str, bytes]]:
    import cr_bio_mutants as cb

    for v in _sample(list(cb.variants(cb.kit_dir()))):
        yield v.key, v.data


def _parity_mutants() -> Iterator[tuple[str, bytes]]:
    from parity import mutants as pm

    bases = _sample(pm.all_bases(KIT), 15)
    for base in bases:
        for m in pm.mutants_of(base, 3):
            yield m.id, m.data


VARIANT_SETS = {"header": _header_variants, "body": _body_variants, "datatypes": _datatype_variants,
                "cr-bio": _cr_bio_variants, "parity": _parity_mutants}


@pytest.mark.parametrize("name", sorted(VARIANT_SETS))
def test_variants_same_hits(name: str) -> None:
    _check_all(VARIANT_SETS[name](), tuple(PACKS))


# --------------------------------------------------------------------------- constructs

_CONSTRUCTS = """<?xml version="1.0" encoding="UTF-8"?>
<sch:schema xmlns:sch="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <sch:ns prefix="hl7" uri="urn:hl7-org:v3"/>
  <sch:let name="codes" value="('A', 'B', 'C')"/>
  <sch:let name="hasX" value="exists(//hl7:x)"/>
  <sch:pattern id="p1">
    <sch:rule context="hl7:x[1]">
      <sch:let name="vals" value="hl7:y/@v"/>
      <sch:assert id="exists-string" test="exists(string(@absent))">e</sch:assert>
      <sch:assert id="lt-strings" test="not(@s lt 'b')">lt « <sch:value-of select="@s"/> »</sch:assert>
      <sch:assert id="gt-number" test="not(number(@n) gt 9)">gt <sch:value-of select="@n"/></sch:assert>
      <sch:assert id="every" test="every $v in $vals satisfies $v = $codes">every <sch:value-of select="$vals"/></sch:assert>
      <sch:assert id="some" test="not(some $v in tokenize(@list, '\\s+') satisfies $v = 'k')">some</sch:assert>
      <sch:assert id="if" test="(if (@s) then @s else 'none') = 'zz'">if « <sch:value-of select="if (@s) then @s else 'none'"/> »</sch:assert>
      <sch:assert id="join" test="false()">j « <sch:value-of select="string-join(hl7:y/concat(@v, '/', @w), ', ')"/> » d « <sch:value-of select="string-join(distinct-values(hl7:y/@v), '+')"/> » c <sch:value-of select="count(hl7:y)"/></sch:assert>
      <sch:assert id="map-step" test="false()">m « <sch:value-of select="string-join(hl7:y/(@v, @w), ',')"/> » s « <sch:value-of select="string-join(hl7:y/string(@v), ',')"/> »</sch:assert>
      <sch:assert id="regex" test="matches(@s, '^\\p{Ll}+$') and replace(@s, '(a)(b)?', '[$1]') = '[a]'">re « <sch:value-of select="replace(@s, '(a)', '[$1]')"/> »</sch:assert>
      <sch:assert id="for" test="false()">for « <sch:value-of select="string-join(for $c in $codes return (if ($c = $vals) then () else $c), ',')"/> »</sch:assert>
      <sch:report id="report" test="$hasX and count(hl7:y) ge 2">r <sch:value-of select="hl7:y/@v"/></sch:report>
    </sch:rule>
    <sch:rule context="hl7:x">
      <sch:assert id="second-x" test="@n = '1'">second x <sch:value-of select="node-name(.) = node-name(current())"/></sch:assert>
    </sch:rule>
  </sch:pattern>
</sch:schema>
"""

_DOC = b"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <x s="ab" n="10" list="a  k b"><y v="A" w="1"/><y v="Q" w="2"/><y v="A"/></x>
  <x n="2"/>
  <z><x n="1"/></z>
</ClinicalDocument>
"""


def test_tricky_constructs_same_hits(tmp_path: Path) -> None:
    sch = tmp_path / "constructs.sch"
    sch.write_text(_CONSTRUCTS, encoding="utf-8")
    doc = _parse("constructs.xml", _DOC)
    assert doc is not None
    saxon = [_key(h) for h in compile_schematron(sch, pack_name="t").run(doc)]
    native = [_key(h) for h in compile_native(sch, "t").run(doc)]
    assert len(saxon) >= 10
    assert saxon == native


def test_untranslatable_schema_raises(tmp_path: Path) -> None:
    sch = tmp_path / "odd.sch"
    sch.write_text(_CONSTRUCTS.replace("exists(string(@absent))", "format-number(1, '0') = '1'"),
                   encoding="utf-8")
    with pytest.raises(Untranslatable):
        compile_native(sch, "odd")


def test_untranslatable_pack_falls_back_to_saxon(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pack the native engine refuses still runs, through Saxon, and describe() says so."""
    import cdacheck.engines.native as native

    def refuse(path: Path, pack: str, phase: str | None = None):  # type: ignore[no-untyped-def]
        raise Untranslatable("construction non traduite (test)")

    data = (SAMPLES / "documents" / "realm-code-missing.xml").read_bytes()
    doc = _parse("realm-code-missing.xml", data)
    assert doc is not None
    facts = extract_facts(doc)
    det = detect(facts)
    reference = [_key(h) for h in PacksEngine(Settings(env="test")).run(doc, facts, det)]
    monkeypatch.setattr(native, "compile_native", refuse)
    engine = PacksEngine(Settings(env="test"))
    hits = [_key(h) for h in engine.run(doc, facts, det)]
    assert hits == reference and any(k[0] == "SCH/header/hdr-realm-code" for k in hits)
    assert engine.pack_engines()["engine.header"].startswith("saxon (construction non traduite")


def test_forced_saxon(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDACHECK_PACKS_ENGINE", "saxon")
    engine = PacksEngine(Settings(env="test"))
    engine.warm(["header"])
    assert engine.pack_engines()["engine.header"] == "saxon"


def test_regex_translations_are_kept_across_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """XSD regexes are translated once (elementpath) and read back from the user cache by
    the next process, which then needs no elementpath import at all."""
    import subprocess
    import sys

    from cdacheck.engines.native import functions

    monkeypatch.setenv("CDACHECK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(functions, "_REGEX_TABLE", None)
    functions._regex.cache_clear()
    assert functions._regex(r"\d{3}\i", "").pattern  # XSD's \i has no Python equivalent
    probe = ("import sys; from cdacheck.engines.native import functions as f; "
             "p = f._regex(r'\\d{3}\\i', ''); "
             "print(bool(p.match('123a')), 'elementpath.regex' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "CDACHECK_CACHE_DIR": str(tmp_path)}).stdout.split()
    assert out == ["True", "False"]
    functions._regex.cache_clear()


_LETS = """<?xml version="1.0" encoding="UTF-8"?>
<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt3">
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <pattern id="lets">
    <rule context="cda:x">
      <let name="base" value="@n"/>
      <let name="big" value="number($base) gt 5"/>
      <let name="label" value="concat('x n=', $base, ' s=', string-join(cda:y/@v, '+'))"/>
      <let name="shown" value="upper-case($label)"/>
      <assert id="small" role="error" test="not($big)">Trop grand : <value-of select="$shown"/>.</assert>
    </rule>
  </pattern>
</schema>
"""


def test_message_only_lets_are_evaluated_on_failure_only(tmp_path: Path) -> None:
    """A let only messages read is left to the failure (as Saxon evaluates variables lazily);
    the hits stay those of the Saxon path."""
    sch = tmp_path / "lets.sch"
    sch.write_text(_LETS, encoding="utf-8")
    native = compile_native(sch, "t")
    (rule,) = [r for _, rules in native.patterns for r in rules]
    assert [n for n, _ in rule.test_lets] == ["base", "big"]
    assert [n for n, _ in rule.message_lets] == ["label", "shown"]
    doc = _parse("constructs.xml", _DOC)
    assert doc is not None
    saxon = [_key(h) for h in compile_schematron(sch, pack_name="t").run(doc)]
    hits = [_key(h) for h in native.run(doc)]
    assert saxon == hits and len(hits) == 1 and "X N=10 S=A+Q+A" in str(hits[0])


_SHADOW = """<?xml version="1.0" encoding="UTF-8"?>
<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt3">
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <let name="g" value="'global'"/>
  <pattern id="p">
    <rule context="cda:x">
      <let name="m" value="concat('m=', $g)"/>
      <let name="g" value="string(@n)"/>
      <assert id="a1" role="error" test="$g = 'none'">msg <value-of select="$m"/> g=<value-of select="$g"/></assert>
    </rule>
  </pattern>
</schema>
"""


def test_a_message_let_read_before_a_rule_let_shadows_its_variable_stays_in_place(tmp_path: Path) -> None:
    """``m`` reads the global ``g`` that the next let redefines: deferring ``m`` to the failure
    would read the rule's ``g`` (found by review); it must run where it stands, as in Saxon."""
    sch = tmp_path / "shadow.sch"
    sch.write_text(_SHADOW, encoding="utf-8")
    native = compile_native(sch, "t")
    (rule,) = [r for _, rules in native.patterns for r in rules]
    assert [n for n, _ in rule.test_lets] == ["m", "g"] and rule.message_lets == []
    doc = _parse("constructs.xml", _DOC)
    assert doc is not None
    saxon = [_key(h) for h in compile_schematron(sch, pack_name="t").run(doc)]
    hits = [_key(h) for h in native.run(doc)]
    assert saxon == hits and hits and all("m=global" in str(h) for h in hits)
