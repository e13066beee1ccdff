#!/usr/bin/env python3
"""Inventory of the official asserts the official pipeline runs on the five Ségur types (issue 17).

    python scripts/official_asserts.py [--kit KIT] [--json]     # counts (or every row) per schematron

The official schematrons applied to LDL-SES, the prescriptions (EP-MED-DM), CRO, CR-BIO and
CR-IMG documents: the five profiles (IHE, structuration minimale, ModelesDeContenusCDA,
Modeles_ANS, terminologies) and the volets LDL-SES 2022.01, EP-MED-DM 2022.01/2023.01/2024.01,
BIO-CR-BIO 2021.01/2024.01 (2023.01 is listed but flagged: its include folder is an empty file
in the kit), IMG-CR-IMG 2024.01. Includes, abstract patterns and abstract rules are expanded
by cdacheck's own loader (the one kit mode uses, in agreement with the kit on its 94
examples); only the patterns of the default phase are kept, as the kit's skeleton does.

Every assert/report gets a stable key ``<schematron stem>|<pattern id>|<context hash>|<n>``:
the context hash is the first 8 hex digits of the SHA-1 of the rule context with whitespace
normalised (``#k`` appended for the k-th rule of a pattern with the same context), ``n`` the
1-based rank of the assert in its rule. :func:`parse_svrl` maps an SVRL ``failed-assert`` of
the kit's pipeline (which drops ``@test``) back to its key: the preceding active pattern, the
preceding fired rule's context, and the assert text matched against the assert's message
with its ``value-of`` parts as wildcards.

Only keys, roles, contexts and a short excerpt of each message (at most 100 characters, for
humans) ever reach the repository; the kit's files are read in place.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cdacheck.engines.schematron.compiler import _active_patterns, message_template, pattern_key  # noqa: E402
from cdacheck.engines.schematron.loader import SCH, LoadDefect, load_schema  # noqa: E402

_S = f"{{{SCH}}}"
SVRL = "http://purl.oclc.org/dsdl/svrl"
_V = f"{{{SVRL}}}"
NON_ERROR_ROLES = frozenset({"warning", "info"})

PROFILES = (
    "schematrons/profils/IHE.sch",
    "schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "schematrons/profils/CI-SIS_ModelesDeContenusCDA.sch",
    "schematrons/profils/CI-SIS_Modeles_ANS.sch",
    "schematrons/profils/terminologies/schematron/terminologie.sch",
)
VOLETS = (
    "schematrons/CI-SIS_LDL-SES_2022.01.sch",
    "schematrons/CI-SIS_EP-MED-DM_2022.01.sch",
    "schematrons/CI-SIS_EP-MED-DM_2023.01.sch",
    "schematrons/CI-SIS_EP-MED-DM_2024.01.sch",
    "schematrons/CI-SIS_BIO-CR-BIO_2021.01.sch",
    "schematrons/CI-SIS_BIO-CR-BIO_2023.01.sch",
    "schematrons/CI-SIS_BIO-CR-BIO_2024.01.sch",
    "schematrons/CI-SIS_IMG-CR-IMG_2024.01.sch",
)
# Schematrons the kit cannot compile as published: their asserts are inventoried, flagged.
KIT_DEFECT_SCHEMATRONS = {
    "CI-SIS_BIO-CR-BIO_2023.01": "include/specificationsVolets/BIO-CR-BIO_2023.01 est un fichier vide "
                                 "au lieu d'un dossier : ses 9 inclusions n'existent pas, le volet ne "
                                 "vérifie presque rien (défaut du kit)",
}


def norm(text: str) -> str:
    return " ".join(text.split())


def context_hash(context: str) -> str:
    return hashlib.sha1(norm(context).encode()).hexdigest()[:8]


@dataclass
class OfficialAssert:
    key: str
    schematron: str
    pattern: str
    context: str
    n: int
    kind: str            # "assert" | "report"
    role: str | None
    excerpt: str
    test: str = field(repr=False, default="")
    regex: re.Pattern[str] | None = field(repr=False, default=None)
    lets: dict[str, str] = field(repr=False, default_factory=dict)   # the rule's <let>s, name -> value

    @property
    def rule_key(self) -> str:
        return self.key.rsplit("|", 1)[0]

    @property
    def is_error(self) -> bool:
        """Counted by the official verdict: a failed assert whose role is not warning/info."""
        return self.kind == "assert" and (self.role or "").lower() not in NON_ERROR_ROLES

    def row(self) -> dict[str, object]:
        return {"key": self.key, "schematron": self.schematron, "pattern": self.pattern,
                "context": norm(self.context)[:200], "kind": self.kind, "role": self.role,
                "excerpt": self.excerpt}


def _message_regex(template: str) -> re.Pattern[str]:
    """The message with ``{...}`` parts as wildcards, all whitespace ignored."""
    pieces = re.split(r"\{[^{}]*\}", template)
    body = ".*?".join(re.escape("".join(p.split())) for p in pieces)
    return re.compile(body, re.DOTALL)


def _excerpt(template: str) -> str:
    text = norm(re.sub(r"\{[^{}]*\}", "…", template))
    return text if len(text) <= 100 else text[:99] + "…"


@dataclass
class Inventory:
    asserts: list[OfficialAssert]
    defects: dict[str, list[LoadDefect]]
    by_rule: dict[tuple[str, str, str], list[OfficialAssert]]      # (stem, pattern, norm context)
    patterns: dict[str, list[tuple[str, str]]]                      # stem -> [(pattern id, title)]

    @classmethod
    def build(cls, kit: Path) -> Inventory:
        asserts: list[OfficialAssert] = []
        defects: dict[str, list[LoadDefect]] = {}
        by_rule: dict[tuple[str, str, str], list[OfficialAssert]] = {}
        patterns: dict[str, list[tuple[str, str]]] = {}
        for rel in PROFILES + VOLETS:
            path = kit / rel
            stem = path.stem
            loaded = load_schema(path)
            found: list[LoadDefect] = list(loaded.defects)
            _, active, _ = _active_patterns(loaded.root, None, found)
            defects[stem] = found
            all_patterns = [p for p in loaded.root.findall(f"{_S}pattern") if p.get("abstract") != "true"]
            keys = {id(p): pattern_key(p, i) for i, p in enumerate(all_patterns)}
            patterns[stem] = [(keys[id(p)], norm(p.get("name") or p.findtext(f"{_S}title") or ""))
                              for p in active]
            for p in active:
                pid = keys[id(p)]
                seen_ctx: dict[str, int] = {}
                for rule in p.findall(f"{_S}rule"):
                    context = rule.get("context")
                    if rule.get("abstract") == "true" or not context:
                        continue
                    nctx = norm(context)
                    seen_ctx[nctx] = seen_ctx.get(nctx, 0) + 1
                    chash = context_hash(context) + (f"#{seen_ctx[nctx]}" if seen_ctx[nctx] > 1 else "")
                    rows = by_rule.setdefault((stem, pid, nctx), []) if seen_ctx[nctx] == 1 else []
                    n = 0
                    lets = {c.get("name"): c.get("value", "") for c in rule.iter(f"{_S}let") if c.get("name")}
                    for child in rule:
                        if not isinstance(child.tag, str) or child.tag not in (f"{_S}assert", f"{_S}report"):
                            continue
                        n += 1
                        template = message_template(child)
                        a = OfficialAssert(
                            key=f"{stem}|{pid}|{chash}|{n}", schematron=stem, pattern=pid,
                            context=context, n=n,
                            kind="assert" if child.tag == f"{_S}assert" else "report",
                            role=child.get("role"), excerpt=_excerpt(template),
                            test=child.get("test", ""), regex=_message_regex(template), lets=lets)
                        asserts.append(a)
                        rows.append(a)
        return cls(asserts, defects, by_rule, patterns)

    def rule_keys(self) -> set[str]:
        return {a.rule_key for a in self.asserts}

    def rule_key_of(self, stem: str, pattern: str, context: str) -> str | None:
        rows = self.by_rule.get((stem, pattern, norm(context)))
        return rows[0].rule_key if rows else None

    def match(self, stem: str, pattern: str, context: str, text: str) -> OfficialAssert | None:
        """The assert of that fired rule whose message matches the SVRL text."""
        rows = self.by_rule.get((stem, pattern, norm(context)), [])
        squeezed = "".join(text.split())
        hits = [a for a in rows if a.kind == "assert" and a.regex is not None and a.regex.fullmatch(squeezed)]
        if not hits:
            return None
        # Several asserts of one rule with the same message: the first (the text cannot tell).
        return hits[0]


@dataclass
class FailedAssert:
    pattern: str
    context: str
    text: str
    role: str | None
    location: str
    key: str | None

    @property
    def role_is_error(self) -> bool:
        return (self.role or "").lower() not in NON_ERROR_ROLES


@dataclass
class ParsedSvrl:
    fired: list[str]             # rule keys of the fired rules (unknown contexts: "<stem>|<pattern>|?ctx")
    failed: list[FailedAssert]


def parse_svrl(data: bytes, stem: str, inventory: Inventory) -> ParsedSvrl:
    """Fired rules and failed asserts of one SVRL report, mapped to inventory keys."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    root = etree.fromstring(data, parser)
    known = inventory.patterns.get(stem, [])
    pattern = ""
    context = ""
    n_pattern = 0
    fired: list[str] = []
    failed: list[FailedAssert] = []
    for el in root:
        if not isinstance(el.tag, str):
            continue
        tag = etree.QName(el).localname
        if tag == "active-pattern":
            pattern = el.get("id") or (known[n_pattern][0] if n_pattern < len(known) else el.get("name", ""))
            n_pattern += 1
            context = ""
        elif tag == "fired-rule":
            context = el.get("context", "")
            rk = inventory.rule_key_of(stem, pattern, context)
            fired.append(rk or f"{stem}|{pattern}|?{context_hash(context)}")
        elif tag == "failed-assert":
            txt = el.find(f"{_V}text")
            text = norm("".join(txt.itertext())) if txt is not None else ""
            a = inventory.match(stem, pattern, context, text)
            failed.append(FailedAssert(pattern, context, text, el.get("role"), el.get("location", ""),
                                       a.key if a else None))
    return ParsedSvrl(sorted(set(fired)), failed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kit", type=Path, default=Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit")))
    ap.add_argument("--json", action="store_true", help="print every row as JSON")
    args = ap.parse_args(argv)
    inv = Inventory.build(args.kit.resolve())
    if args.json:
        print(json.dumps([a.row() for a in inv.asserts], ensure_ascii=False, indent=1))
        return 0
    by: dict[str, list[int]] = {}
    for a in inv.asserts:
        c = by.setdefault(a.schematron, [0, 0, 0])
        c[0] += 1
        c[1] += a.is_error
        c[2] += a.kind == "report"
    for stem, (total, errors, reports) in by.items():
        d = len(inv.defects.get(stem, []))
        print(f"{stem:40} {total:5} asserts/reports, {errors:5} error-level asserts, {reports:4} reports, {d} load defects")
    print(f"{'total':40} {len(inv.asserts):5}, {sum(a.is_error for a in inv.asserts):5} error-level")
    return 0


if __name__ == "__main__":
    sys.exit(main())
