"""The cross-process cache (issue 16 item 3): generated XSLT and the kit's value-set index,
keyed by content and versions, in the user cache folder, never in the kit."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdacheck.config import Settings
from cdacheck.engines.schematron import compile_schematron, diskcache
from cdacheck.engines.schematron import runner

SCH = """<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <pattern id="p"><rule context="/*"><assert test="{test}" id="a">x</assert></rule></pattern>
</schema>"""


def entries(folder: Path, kind: str) -> list[Path]:
    return sorted((folder / kind).glob("*.json")) if (folder / kind).is_dir() else []


def test_generated_xslt_is_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("CDACHECK_CACHE_DIR", str(cache))
    (tmp_path / "sch").mkdir()
    sch = tmp_path / "sch" / "s.sch"
    sch.write_text(SCH.format(test="true()"), encoding="utf-8")
    compile_schematron(sch)
    assert len(entries(cache, "xslt")) == 1
    # A new process (in-process cache cleared) reads the entry instead of generating.
    runner._CACHE.clear()
    calls: list[int] = []
    real = runner.generate_xslt
    monkeypatch.setattr(runner, "generate_xslt", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = compile_schematron(sch)
    assert calls == [] and [a.id for a in again.asserts] == ["a"]
    # Other content: a miss, a second entry, and the result follows the new content.
    sch.write_text(SCH.format(test="false()"), encoding="utf-8")
    changed = compile_schematron(sch)
    assert calls == [1] and len(entries(cache, "xslt")) == 2
    assert "false()" in changed.generated.xslt


def test_key_depends_on_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    a = diskcache.key("xslt", "digest", "pack", "", "SaxonC-HE 13.1")
    assert a != diskcache.key("xslt", "digest", "pack", "", "SaxonC-HE 12.5")
    diskcache.code_digest.cache_clear()
    monkeypatch.setattr("cdacheck.__version__", "9.9.9")
    try:
        assert diskcache.key("xslt", "digest", "pack", "", "SaxonC-HE 13.1") != a
    finally:
        diskcache.code_digest.cache_clear()


def test_damaged_entry_is_a_miss_and_off_disables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDACHECK_CACHE_DIR", str(tmp_path))
    diskcache.store("xslt", "k1", {"a": 1})
    assert diskcache.load("xslt", "k1") == {"a": 1}
    (tmp_path / "xslt" / "k1.json").write_text("{trunc", encoding="utf-8")
    assert diskcache.load("xslt", "k1") is None
    monkeypatch.setenv("CDACHECK_CACHE_DIR", "off")
    assert diskcache.cache_dir() is None and diskcache.load("xslt", "k1") is None
    monkeypatch.delenv("CDACHECK_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert diskcache.cache_dir() == (tmp_path / "xdg" / "cdacheck").resolve()


def test_never_inside_the_kit_and_value_set_index_cached(kit_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from cdacheck.engines.schematron.kit import KitEngine

    monkeypatch.setenv("CDACHECK_CACHE_DIR", str(kit_dir / "cache-here"))
    assert diskcache._path("jdv-index", "k", kit_dir) is None
    KitEngine(Settings(), kit_dir)._jdv_by_oid()
    assert not (kit_dir / "cache-here").exists()
    monkeypatch.setenv("CDACHECK_CACHE_DIR", str(tmp_path))
    first = KitEngine(Settings(), kit_dir)._jdv_by_oid()
    assert len(entries(tmp_path, "jdv-index")) == 1
    second = KitEngine(Settings(), kit_dir)._jdv_by_oid()
    assert first == second and first["1.2.250.1.213.1.1.5.471"].name == "JDV_J07_XdsTypeCode_CISIS.xml"


VOC_SCH = """<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <let name="voc" value="document('voc.xml')"/>
  <pattern id="p"><rule context="/*">
    <assert test="$voc/codes/code = 'A'" id="a">le code A manque</assert>
  </rule></pattern>
</schema>"""


def test_a_kit_moved_elsewhere_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The generated XSLT names the documents it reads by absolute URI: the same content at
    another place (a kit copied to a CI folder) must not reuse XSLT that reads the old place."""
    from cdacheck.inputs.xml import parse_document

    monkeypatch.setenv("CDACHECK_CACHE_DIR", str(tmp_path / "cache"))
    first, second = tmp_path / "here", tmp_path / "there"
    for folder in (first, second):
        folder.mkdir()
        (folder / "s.sch").write_text(VOC_SCH, encoding="utf-8")
    (first / "voc.xml").write_text("<codes><code>A</code></codes>", encoding="utf-8")
    (second / "voc.xml").write_text("<codes><code>B</code></codes>", encoding="utf-8")
    doc, _ = parse_document(b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>', "x.xml")
    assert doc is not None
    assert compile_schematron(first / "s.sch").run(doc) == []
    runner._CACHE.clear()
    assert len(entries(tmp_path / "cache", "xslt")) == 1
    hits = compile_schematron(second / "s.sch").run(doc)
    assert [h.rule_id for h in hits] == ["SCH/s/a"], hits  # read there/voc.xml, not here/voc.xml
    assert len(entries(tmp_path / "cache", "xslt")) == 2
