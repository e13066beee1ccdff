"""XDS value sets and association tables used by the XDM checks, loaded once per process.

Our own tables live in ``cdacheck/data/xds`` (J06 classCode, J10/J60 formatCode, J08
confidentiality, ASS_X04 type -> class, ASS_A11 model -> format, A12 media type -> format).
The CI-SIS sets J07 (typeCode), J02 (facility type) and J04 (practice setting) are produced by
the value-set generator under ``schematrons/valuesets/``; when they are not there, the
membership checks for those three attributes are skipped (the other checks still run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from lxml import etree

LOINC = "2.16.840.1.113883.6.1"
CLASS_SCHEME = "1.2.250.1.213.1.1.4.1"
IHE_FORMAT_SCHEME = "1.3.6.1.4.1.19376.1.2.3"
ANS_FORMAT_SCHEME = "1.2.250.1.213.1.1.4.2.282"
CONF_SCHEME = "2.16.840.1.113883.5.25"
MASK_SCHEME = "1.2.250.1.213.1.1.4.13"
N1_TEMPLATE = "1.3.6.1.4.1.19376.1.2.20"
PDF_FORMAT = "urn:ihe:iti:xds-sd:pdf:2008"
OUT_OF_PROFILE_FORMAT = "urn:asipSante:modelesHorsProfils:2011"
INS_OIDS = {
    "1.2.250.1.213.1.4.8": "INS-NIR",
    "1.2.250.1.213.1.4.9": "INS-NIA",
    "1.2.250.1.213.1.4.10": "INS-NIR de test",
    "1.2.250.1.213.1.4.11": "INS-NIR de démonstration",
}


@dataclass(frozen=True)
class ValueSet:
    """A set of (code, code system) pairs with displays."""

    name: str
    codes: dict[str, set[str]]  # code -> code systems
    displays: dict[str, str]

    def has(self, code: str, scheme: str | None = None) -> bool:
        systems = self.codes.get(code)
        if systems is None:
            return False
        return scheme is None or scheme in systems or not systems

    def schemes(self, code: str) -> set[str]:
        return self.codes.get(code, set())


def _data(name: str) -> dict[str, Any]:
    ref = resources.files("cdacheck") / "data" / "xds" / name
    return json.loads(ref.read_text(encoding="utf-8"))["codes"]  # type: ignore[no-any-return]


@cache
def class_codes() -> dict[str, dict[str, Any]]:
    return _data("j06_class_code.json")


@cache
def format_codes() -> dict[str, dict[str, Any]]:
    return _data("j10_format_code.json")["formats"]  # type: ignore[no-any-return]


@cache
def retired_formats() -> dict[str, str]:
    return _data("j10_format_code.json")["retired"]  # type: ignore[no-any-return]


@cache
def confidentiality_codes() -> dict[str, dict[str, Any]]:
    return _data("j08_confidentiality.json")


@cache
def type_to_class() -> dict[str, dict[str, Any]]:
    return _data("x04_type_class.json")


@cache
def model_to_format() -> dict[str, dict[str, Any]]:
    return _data("a11_model_format.json")["templates"]  # type: ignore[no-any-return]


@cache
def media_to_format() -> dict[str, dict[str, Any]]:
    return _data("a11_model_format.json")["media"]  # type: ignore[no-any-return]


def is_n1_format(code: str) -> bool:
    """True for the unstructured-body (XDS-SD) formatCodes."""
    return any(v["format"] == code for v in media_to_format().values())


def expected_formats(template_roots: list[str], level: str, media_type: str | None) -> set[str]:
    """The formatCodes a document of this level and templates may declare (empty: unknown)."""
    if level == "N1":
        entry = media_to_format().get((media_type or "application/pdf").lower())
        return {entry["format"]} if entry else set()
    table = model_to_format()
    return {table[t]["format"] for t in template_roots if t in table}


# --------------------------------------------------------------- J07 / J02 / J04 (optional)

_VALUESET_FILES = {"J07": "XdsTypeCode", "J02": "XdsHealthcareFacilityTypeCode",
                   "J04": "XdsPracticeSettingCode"}


def _valueset_dirs() -> list[Path]:
    dirs: list[Path] = []
    try:
        base = resources.files("cdacheck.schematrons")
        dirs.append(Path(str(base)) / "valuesets")
    except (ModuleNotFoundError, TypeError):
        pass
    dirs.append(Path(__file__).resolve().parents[2] / "schematrons" / "valuesets")
    return [d for d in dirs if d.is_dir()]


@cache
def cisis_value_set(key: str) -> ValueSet | None:
    """J07, J02 or J04 from ``schematrons/valuesets`` (SVS XML or JSON), None if absent."""
    needle = key.upper()
    for folder in _valueset_dirs():
        for path in sorted(folder.rglob("*")):
            upper = path.name.upper()
            if not path.is_file() or not (f"{needle}_" in upper or f"{needle}." in upper
                                          or f"{needle}-" in upper):
                continue
            if path.suffix.lower() == ".json":
                vs = _from_json(key, path)
            elif path.suffix.lower() == ".xml":
                vs = _from_svs(key, path)
            else:
                continue
            if vs is not None and vs.codes:
                return vs
    return None


def _from_svs(key: str, path: Path) -> ValueSet | None:
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        root = etree.parse(str(path), parser).getroot()
    except (etree.XMLSyntaxError, OSError):
        return None
    codes: dict[str, set[str]] = {}
    displays: dict[str, str] = {}
    for el in root.iter():
        if not isinstance(el.tag, str) or etree.QName(el).localname not in ("Concept", "c"):
            continue
        code = el.get("code")
        system = el.get("codeSystem") or el.get("system")
        if code:
            codes.setdefault(code, set()).update({system} if system else set())
            displays.setdefault(code, el.get("displayName") or el.get("display") or "")
    return ValueSet(name=key, codes=codes, displays=displays)


def _from_json(key: str, path: Path) -> ValueSet | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    items: Any = raw
    if isinstance(raw, dict):
        items = raw.get("concepts") or raw.get("codes") or raw.get("concept") or []
    codes: dict[str, set[str]] = {}
    displays: dict[str, str] = {}
    if isinstance(items, dict):
        items = [{"code": k, **(v if isinstance(v, dict) else {})} for k, v in items.items()]
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not item.get("code"):
            continue
        system = item.get("codeSystem") or item.get("system") or item.get("scheme")
        codes.setdefault(str(item["code"]), set()).update({str(system)} if system else set())
        display = item.get("displayName") or item.get("display") or ""
        displays.setdefault(str(item["code"]), str(display))
    return ValueSet(name=key, codes=codes, displays=displays)
