"""Compiling and running schematrons with saxonche, once per process.

One ``PySaxonProcessor`` per process. Each schematron is compiled once, keyed by the
content of every file it is made of (plus the phase); value-set documents it reads through
``doc()``/``document()`` are parsed once per process and handed to every transformation as
a map (``cx:docs``), which is what makes a warm run cheap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
import time
import unicodedata
from copy import deepcopy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from cdacheck.engines.schematron.compiler import DOCS_PARAM, AssertInfo, Generated, generate_xslt
from cdacheck.engines.schematron.loader import LoadDefect, SchematronError, load_schema, resolve_case_insensitive
from cdacheck.engines.schematron.svrl import SvrlResult, parse_svrl, to_hits
from cdacheck.inputs.xml import ParsedDocument
from cdacheck.model import Hit

_LOCK = threading.RLock()
_PROC: Any = None
_DOCS: dict[str, tuple[int, int, Any]] = {}  # absolute URI -> (mtime_ns, size, XdmNode)
_CACHE: dict[tuple[str, str | None], CompiledSchematron] = {}
_DOC_SUFFIXES = (".xml", ".rdf")
_LOG = logging.getLogger("cdacheck.saxon")


@contextlib.contextmanager
def quiet_saxon() -> Any:
    """Keep Saxon's own messages (errors, xsl:message) off standard error.

    SaxonC writes them to file descriptor 2 from native code; the exception it raises
    carries the error, which cdacheck turns into a finding. What was written is logged
    at debug level on ``cdacheck.saxon``. Callers hold ``_LOCK``.
    """
    try:
        fd = sys.stderr.fileno() if sys.stderr is not None else 2
    except (AttributeError, OSError, ValueError):
        fd = 2
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as sink:
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(sink.fileno(), fd)
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            text = sink.read(64 * 1024).decode("utf-8", "replace").strip()
            if text:
                _LOG.debug("saxon: %s", text)


def processor() -> Any:
    """The process-wide saxonche processor (created on first use)."""
    global _PROC
    with _LOCK:
        if _PROC is None:
            from saxonche import PySaxonProcessor

            _PROC = PySaxonProcessor(license=False)
            _lift_parser_limits(_PROC)
        return _PROC


# The JDK parser inside Saxon has its own limits (element depth 100, names of 1,000 chars,
# 50 MB of text): a document cdacheck's hardened lxml parser accepted, within its own caps
# (cdacheck.inputs.xml), must reach every pack, so these are lifted for the serialized tree.
_JAXP = "http://www.oracle.com/xml/jaxp/properties/"
_LIFTED = ("maxElementDepth", "maxXMLNameLimit", "totalEntitySizeLimit",
           "maxGeneralEntitySizeLimit", "maxParameterEntitySizeLimit", "entityExpansionLimit")


def _lift_parser_limits(proc: Any) -> None:
    from urllib.parse import quote

    for name in _LIFTED:
        key = "http://saxon.sf.net/feature/parserProperty?uri=" + quote(_JAXP + name, safe="")
        try:
            proc.set_configuration_property(key, "0")
        except Exception:  # an older saxonche: the documents beyond the limits get INT103
            pass


def saxon_version() -> str:
    return str(processor().version)


def _load_doc(path: Path) -> Any | None:
    """A value-set file parsed by Saxon, cached per process (refreshed when it changes)."""
    uri = path.as_uri()
    try:
        st = path.stat()
    except OSError:
        return None
    cached = _DOCS.get(uri)
    if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
        return cached[2]
    try:
        with _LOCK, quiet_saxon():
            node = processor().parse_xml(xml_file_name=str(path))
    except Exception:  # an unreadable value set behaves as in the kit: doc() fails at run time
        return None
    _DOCS[uri] = (st.st_mtime_ns, st.st_size, node)
    return node


def _reference_targets(base: Path, refs: list[str]) -> tuple[list[Path], list[str]]:
    """Files referenced by literal paths (a directory literal means all its .xml/.rdf files)."""
    found: list[Path] = []
    missing: list[str] = []
    for ref in refs:
        if "://" in ref or ref.startswith("#") or any(c in ref for c in "\n\t<>*{}"):
            continue
        target = (base.parent / ref).resolve()
        if ref.endswith("/"):
            if target.is_dir():
                found.extend(sorted(p for p in target.iterdir() if p.suffix in _DOC_SUFFIXES and p.is_file()))
            continue
        if target.suffix not in _DOC_SUFFIXES:
            continue
        if target.is_file():
            found.append(target)
        else:
            missing.append(str(target))
    return found, missing


@dataclass
class CompiledSchematron:
    """A schematron compiled to an XSLT executable, ready to run on many documents."""

    path: Path
    pack: str
    phase: str
    digest: str
    executable: Any
    generated: Generated
    compile_ms: float
    xslt_bytes: int
    defects: list[LoadDefect] = field(default_factory=list)
    missing_docs: list[str] = field(default_factory=list)
    _docs: dict[str, Any] = field(default_factory=dict)

    @property
    def asserts(self) -> list[AssertInfo]:
        return self.generated.asserts

    def add_documents(self, docs: Mapping[str, bytes]) -> None:
        """Provide documents by absolute path (e.g. a value set the source tree lacks)."""
        proc = processor()
        for uri, data in docs.items():
            self._docs[uri] = proc.parse_xml(xml_text=data.decode("utf-8"), encoding="UTF-8")
            if uri in self.missing_docs:
                self.missing_docs.remove(uri)
        self._set_docs()

    def _set_docs(self) -> None:
        proc = processor()
        entries = {proc.make_string_value(uri): node for uri, node in self._docs.items()}
        self.executable.set_parameter(DOCS_PARAM, proc.make_map(entries))

    def run_svrl(self, doc: ParsedDocument) -> str:
        """The raw SVRL report for the ClinicalDocument of ``doc``."""
        return self.run_svrl_node(xdm_document(doc))

    def run_svrl_node(self, node: Any) -> str:
        with _LOCK, quiet_saxon():
            out = self.executable.transform_to_string(xdm_node=node)
        if out is None:
            raise SchematronError(f"{self.pack}: la transformation n'a rien produit")
        return str(out)

    def results(self, doc: ParsedDocument, node: Any | None = None) -> list[SvrlResult]:
        svrl = self.run_svrl_node(node if node is not None else xdm_document(doc))
        return parse_svrl(svrl)

    def run(self, doc: ParsedDocument, node: Any | None = None) -> list[Hit]:
        """Validate one document: a hit per failed assert and per successful report."""
        return to_hits(self.results(doc, node), self.pack, doc)


def xdm_document(doc: ParsedDocument) -> Any:
    """The ClinicalDocument subtree as a Saxon document (no DOCTYPE, no outer wrapper).

    Names the JDK parser refuses (XML 1.0 fourth-edition name characters: U+FEFF in a name,
    for one) are rewritten in a copy, so that the packs still run on the rest; the XSD
    engine reports the element itself.
    """
    text = etree.tostring(doc.cda, encoding="unicode")
    if _ODD_NAME.search(text):
        text = etree.tostring(_renamed(doc.cda), encoding="unicode")
    if len(text) > _PAYLOAD_KEEP:
        text = _shorten_payloads(text)
    with _LOCK:
        return processor().parse_xml(xml_text=text, encoding="UTF-8")


# An N1 document's base64 PDF is checked in full by cdacheck.checks.body (decoding, PDF
# reading); the packs only test that the payload is there and well-formed. Saxon keeps text
# in UTF-16 (two bytes a character, twice: the string handed over and its tree), so a 40 MB
# PDF would cost 200 MB more there: its copy keeps the first megabyte, cut at a line end.
_PAYLOAD_KEEP = 1024 * 1024
_PAYLOAD = re.compile(r"(<(?:[\w.-]+:)?text\b[^>]*>)([^<]{%d,})(</(?:[\w.-]+:)?text>)" % (_PAYLOAD_KEEP + 1))


def _shorten_payloads(text: str) -> str:
    def cut(m: re.Match[str]) -> str:
        body = m.group(2)
        end = body.rfind("\n", 0, _PAYLOAD_KEEP)
        end = end if end > 0 else _PAYLOAD_KEEP - _PAYLOAD_KEEP % 4
        return m.group(1) + body[:end] + "\n" + m.group(3)
    return _PAYLOAD.sub(cut, text)


_ODD_NAME = re.compile(r"</?[^\s>/=\"']*[^\x00-\x7f]")


def _safe_name(local: str) -> str:
    out = "".join(c if c.isascii() or unicodedata.category(c)[0] in "LMN" else "_" for c in local)
    return out if out[:1].isalpha() or out[:1] == "_" else "_" + out


def _renamed(element: etree._Element) -> etree._Element:
    """A copy of ``element`` whose element and attribute names the JDK parser accepts."""
    copy = deepcopy(element)
    for el in copy.iter():
        if not isinstance(el.tag, str):
            continue
        qn = etree.QName(el)
        if not qn.localname.isascii():
            el.tag = etree.QName(qn.namespace, _safe_name(qn.localname)).text
        for key in [k for k in el.attrib if not k.isascii()]:
            value = el.attrib.pop(key)
            ak = etree.QName(key)
            el.set(etree.QName(ak.namespace, _safe_name(ak.localname)).text, value)
    return copy


def compile_schematron(path: Path, phase: str | None = None, pack_name: str | None = None) -> CompiledSchematron:
    """Compile a schematron (cached per process by the content of its files and the phase)."""
    path = Path(path).resolve()
    loaded = load_schema(path)
    pack = pack_name or path.stem
    key = (loaded.digest + "|" + pack, phase)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
        t0 = time.perf_counter()
        generated = _generated(loaded, phase, pack)
        proc = processor()
        xslt = proc.new_xslt30_processor()
        try:
            with quiet_saxon():
                executable = xslt.compile_stylesheet(stylesheet_text=generated.xslt, encoding="UTF-8")
        except Exception as exc:
            raise SchematronError(f"{path.name} : compilation XSLT impossible : {_first_line(exc)}") from exc
        if executable is None:
            raise SchematronError(f"{path.name} : compilation XSLT impossible")
        found, missing = _reference_targets(path, generated.doc_refs)
        defects = list(generated.defects)
        # A value-set path that only matches case-insensitively (a kit built on Windows) is
        # bridged like an include: served under the path the schematron asks for.
        bridged: list[tuple[str, Path]] = []
        for wanted in list(missing):
            actual = resolve_case_insensitive(Path(wanted))
            if actual is not None and actual.is_file():
                missing.remove(wanted)
                bridged.append((wanted, actual))
                defects.append(LoadDefect("case-bridged-value-set", f"{Path(wanted).name} -> {actual.name}",
                                          str(path)))
        compiled = CompiledSchematron(
            path=path, pack=pack, phase=generated.phase, digest=loaded.digest,
            executable=executable, generated=generated,
            compile_ms=(time.perf_counter() - t0) * 1000, xslt_bytes=len(generated.xslt.encode()),
            defects=defects, missing_docs=missing)
        for key, target in [(str(t), t) for t in found] + bridged:
            node = _load_doc(target)
            if node is not None:
                compiled._docs[key] = node
        compiled._set_docs()
        _CACHE[key] = compiled
        return compiled


def _generated(loaded: Any, phase: str | None, pack: str) -> Generated:
    """generate_xslt, through the cross-process cache (see diskcache.py)."""
    from dataclasses import asdict

    from cdacheck.engines.schematron import diskcache

    # The generated XSLT carries the absolute URIs of the documents it reads (doc(), value
    # sets), so where the schematron sits is part of the key: a kit moved or copied elsewhere
    # (another checkout, a CI folder) is a miss, never XSLT reading the old place.
    k = diskcache.key("xslt", loaded.digest, pack, phase or "", saxon_version(),
                      str(Path(loaded.path).resolve()))
    hit = diskcache.load("xslt", k, forbidden=loaded.path.parent)
    if hit is not None:
        try:
            return Generated(**{**hit, "asserts": [AssertInfo(**a) for a in hit["asserts"]],
                                "defects": [LoadDefect(**d) for d in hit["defects"]]})
        except (TypeError, KeyError):
            pass
    generated = generate_xslt(loaded, phase)
    diskcache.store("xslt", k, asdict(generated), forbidden=loaded.path.parent)
    return generated


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def list_asserts(path: Path, phase: str | None = None) -> list[AssertInfo]:
    """Every assert and report of a schematron (active phase only), without Saxon."""
    loaded = load_schema(Path(path))
    return generate_xslt(loaded, phase).asserts
