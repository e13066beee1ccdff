"""Targeted mutants for the applicable official asserts the seeded pool does not reach (issue 17).

    python tests/parity/targets.py [--kit KIT] [--budget SECONDS] [--per-assert N]

For every official error assert whose rule fired on a base (official.json) but that no stored
mutant fails, this looks at the nodes the rule context matches in that base (lxml XPath 1.0;
contexts it cannot evaluate are tried on the whole document), builds the one-defect candidates
of tests/parity/mutants.py on those nodes and their descendants whose names the assert's test
mentions, and pre-screens them with cdacheck's kit mode (the kit's schematron compiled by
cdacheck, in agreement with the official pipeline on the kit's examples). The first candidate
that fails the assert is appended to tests/data/parity/targeted.json as (base, operator,
target); mutants.generate() then adds it to the pool. The official verdict still comes from
the real pipeline: re-run scripts/official_parity.py afterwards.
"""

from __future__ import annotations

import argparse
import copy
import faulthandler
import json
import os
import re
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from lxml import etree  # noqa: E402

import official_asserts as OA  # noqa: E402
from cdacheck.config import Settings  # noqa: E402
from cdacheck.engines.schematron.xpath import split_top_level, step_predicates  # noqa: E402
from cdacheck.engines.schematron.kit import KitEngine  # noqa: E402
from cdacheck.inputs.xml import parse_document  # noqa: E402
from parity import evaluate as E  # noqa: E402
from parity import mutants as M  # noqa: E402
from parity import synth  # noqa: E402

NS = {"cda": M.HL7, "hl7": M.HL7, "xsi": M.XSI, "lab": "urn:oid:1.3.6.1.4.1.19376.1.3.2",
      "pharm": "urn:ihe:pharm:medication", "sdtc": "urn:hl7-org:sdtc"}
_NAME = re.compile(r"(?:cda|lab|pharm|sdtc):([A-Za-z]+)|@([A-Za-z]+)")


def _xpath_of_pattern(context: str) -> list[str]:
    """A match pattern as XPath 1.0 expressions selecting its nodes (one per union branch)."""
    return [b if b.startswith("/") else "//" + b
            for b in (branch.strip() for branch in split_top_level(context, "|"))]


def context_nodes(tree: etree._ElementTree, context: str) -> list[etree._Element] | None:
    nodes: list[etree._Element] = []
    try:
        for x in _xpath_of_pattern(context):
            for n in tree.xpath(x, namespaces=NS):
                if isinstance(n, etree._Element):
                    nodes.append(n)
                elif hasattr(n, "getparent") and n.getparent() is not None:
                    nodes.append(n.getparent())
    except (etree.XPathError, ValueError):
        return None
    return nodes


def _names(test: str) -> set[str]:
    return {a or b for a, b in _NAME.findall(test)}


def candidates_for(tree: etree._ElementTree, a: OA.OfficialAssert, cands: list, per_assert: int) -> list:
    nodes = context_nodes(tree, a.context)
    names = _names(a.test)
    if nodes is None:
        paths = None
    else:
        paths = {M.element_path(n) for n in nodes[:3]}
        if not paths:
            return []
    out = []
    for c in cands:
        if paths is not None and not any(c.path == p or c.path.startswith(p + "/") for p in paths):
            continue
        local = c.path.rsplit("/", 1)[-1].split("[")[0]
        attr = etree.QName(c.attr).localname if c.attr and "}" in c.attr else c.attr
        if local in names and (not attr or attr in names):
            score = 0
        elif attr and attr in names:
            score = 1
        elif paths is not None and c.path in paths and not c.attr:
            score = 2
        else:
            score = 3
        if paths is not None and score == 3 and c.path.count("/") - min(p.count("/") for p in paths) > 2:
            continue
        out.append((score, c))
    out.sort(key=lambda t: t[0])
    return [c for _, c in out[:per_assert]]


CODEPOINTS = "http://www.w3.org/2005/xpath-functions/collation/codepoint"


def _holds(node: etree._Element, edits: str, token) -> bool | None:
    """The assert's test (a parsed elementpath token) on a detached copy of the context element
    with the edits made: True when it still holds, None when it cannot tell alone (let
    variables, doc(), a test reaching outside the element, a bad edit). Only a pre-filter:
    the kit's schematron decides."""
    from elementpath import XPathContext

    try:
        el = copy.deepcopy(node)
        for e in synth._split(edits, ";"):
            synth._apply_one(el, e)
        return bool(token.evaluate(XPathContext(el, item=el)))
    except Exception:  # noqa: BLE001 - any failure only means "cannot tell here"
        return None


def _without_doc_predicates(context: str) -> str:
    """The context with its ``[...]`` predicates that call doc() removed (a superset of its
    nodes; the kit's schematron still decides on each candidate)."""
    for pred in step_predicates(context):
        if "doc(" in pred:
            context = context.replace(f"[{pred}]", "", 1)
    return context


def edit_candidates(tree: etree._ElementTree, a: OA.OfficialAssert, per_assert: int) -> list[str]:
    """Edit targets (tests/parity/synth.py) on the first context nodes of the assert's rule,
    those on which the test alone is false first, those it cannot tell next."""
    from elementpath import XPath2Parser

    nodes = context_nodes(tree, a.context)
    if nodes is None:  # a context lxml cannot evaluate (doc() in a predicate): without those predicates
        nodes = context_nodes(tree, _without_doc_predicates(a.context)) or []
    false, unknown = [], []
    try:
        # The codepoint collation: elementpath's locale collations take a global lock that a
        # failed setlocale() leaves held (elementpath 5.1: the next distinct-values() hangs).
        token = XPath2Parser(namespaces=synth.PREFIXES, default_collation=CODEPOINTS).parse(
            f"boolean({a.test})")
    except Exception:  # noqa: BLE001 - variables or functions elementpath cannot parse alone
        token = None
    for node in nodes[:2]:
        path = M.element_path(node)
        edits = synth.recipes_for(node, a.test, a.lets, a.context) + synth.edits_for(node, a.test, limit=120)
        for e in dict.fromkeys(edits):
            target = f"{path}::{e}"
            verdict = None if token is None else _holds(node, e, token)
            if verdict is False:
                false.append(target)
            elif verdict is None:
                unknown.append(target)
    return (false[:per_assert] + unknown)[:per_assert]


def _from_document_element(path: str) -> str:
    """A Saxon path from its ClinicalDocument step on (kit mode checks an embedded
    ClinicalDocument — the auto-presentable form — as a document of its own)."""
    i = path.find("ClinicalDocument[")
    return path[i:] if i >= 0 else path


def _context_paths(doc, context: str) -> set[str]:
    from cdacheck.engines.native.engine import saxon_path

    root = doc.cda
    tree = root.getroottree() if root.getroottree().getroot() is root else \
        etree.ElementTree(copy.deepcopy(root))
    memo: dict = {}
    nodes = context_nodes(tree, context)
    if nodes is None:  # doc() in a predicate: the nodes without those predicates (a superset)
        nodes = context_nodes(tree, _without_doc_predicates(context)) or []
    return {_from_document_element(saxon_path(n, memo)) for n in nodes}


def failed_keys(results, stem: str, by_test: dict, doc, target: OA.OfficialAssert | None = None) -> set[str]:
    """Keys of the official asserts failed in kit-mode ``results`` of schematron ``stem``:
    matched by test and message; when that test and message stand at many places (the DTr1
    rules of every header element), the target's when the failure is on one of its context
    nodes."""
    keys: set[str] = set()
    target_paths: set[str] | None = None
    for r in results:
        if r.kind != "failed-assert":
            continue
        text = "".join(r.text.split())
        same = [b for b in by_test.get((stem, r.pattern, OA.norm(r.test or "")), [])
                if b.regex is not None and b.regex.fullmatch(text)]
        if len(same) == 1:
            keys.add(same[0].key)
        elif target is not None and target in same:
            if target_paths is None:
                target_paths = _context_paths(doc, target.context)
            if _from_document_element(r.location) in target_paths:
                keys.add(target.key)
    return keys


def _write(rows: list[dict]) -> None:
    tmp = E.TARGETED_JSON.with_suffix(".tmp")
    tmp.write_text(json.dumps({"about": "targeted mutants (tests/parity/targets.py): "
                               "base, operator, target; 'for' = the official assert aimed at",
                               "mutants": rows}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(E.TARGETED_JSON)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kit", type=Path, default=Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit")))
    ap.add_argument("--budget", type=float, default=900.0, help="seconds of pre-screening at most")
    ap.add_argument("--per-assert", type=int, default=8)
    ap.add_argument("--edits", action="store_true",
                    help="assert-driven edits (tests/parity/synth.py) instead of the seeded operators")
    ap.add_argument("--per-group", type=int, default=0,
                    help="with --edits: at most N asserts per (schematron, message) group (0: all)")
    ap.add_argument("--only", default="", help="only the asserts of this schematron (stem)")
    ap.add_argument("--untested", action="store_true",
                    help="only the asserts coverage.json lists as untested")
    args = ap.parse_args(argv)
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid>: where a long search is
    kit = args.kit.resolve()
    start = time.time()
    official = E.load_official()
    inv = OA.Inventory.build(kit)
    rules = official["rules"]
    failed_somewhere = {k for row in official["mutants"].values() for k in row["failed"]}
    bases = {b.id: b for b in M.all_bases(kit)}
    usable = {bid for bid, row in official["bases"].items() if not row["official_invalid"]}
    fired_by: dict[str, list[str]] = defaultdict(list)
    for bid in sorted(usable):
        for i in official["bases"][bid]["fired"]:
            fired_by[rules[str(i)]].append(bid)
    todo = [a for a in inv.asserts if a.is_error and a.schematron not in OA.KIT_DEFECT_SCHEMATRONS
            and a.key not in failed_somewhere and fired_by.get(a.rule_key)]
    if args.only:
        todo = [a for a in todo if a.schematron == args.only]
    if args.untested:
        untested = set(json.loads(E.COVERAGE_JSON.read_text(encoding="utf-8")).get("untested", []))
        todo = [a for a in todo if a.key in untested]
    # Volets and the CI-SIS profiles first, the generated structuration-minimale datatype asserts last.
    todo.sort(key=lambda a: (a.schematron == "ASIP-STRUCT-MIN-StrucMin", a.schematron, a.key))
    print(f"{len(todo)} applicable error asserts without a failing mutant", flush=True)
    existing = json.loads(E.TARGETED_JSON.read_text(encoding="utf-8"))["mutants"] if E.TARGETED_JSON.is_file() else []
    have = {(r["base"], r["operator"], r["target"]) for r in existing}
    engine = KitEngine(Settings(kit=kit))
    by_test: dict[tuple[str, str, str], list[OA.OfficialAssert]] = defaultdict(list)
    for a in inv.asserts:
        by_test[(a.schematron, a.pattern, OA.norm(a.test))].append(a)
    done: set[str] = {r["for"] for r in existing if r.get("for")}
    per_group: dict[tuple[str, str], int] = defaultdict(int)
    by_key = {a.key: a for a in inv.asserts}
    for r in existing:
        if r["operator"] == synth.OPERATOR and r.get("for") in by_key:
            per_group[(by_key[r["for"]].schematron, by_key[r["for"]].excerpt)] += 1
    if args.edits:  # one assert of every (schematron, message) group before a second one
        rank: dict[tuple[str, str], int] = defaultdict(int)
        keyed = []
        for a in todo:
            g = (a.schematron, a.excerpt)
            keyed.append((rank[g], a.schematron == "ASIP-STRUCT-MIN-StrucMin", a.key, a))
            rank[g] += 1
        todo = [t[-1] for t in sorted(keyed, key=lambda t: t[:3])]
    trees: dict[str, tuple] = {}
    found = 0
    tried = 0
    for a in todo:
        if a.key in done:
            continue
        if time.time() - start > args.budget:
            print("budget spent", flush=True)
            break
        bid = fired_by[a.rule_key][0]
        if bid not in trees:
            tree = etree.fromstring(bases[bid].data, M._parser()).getroottree()
            trees[bid] = (tree, M.enumerate_candidates(tree, extensions=True))
        tree, cands = trees[bid]
        sch_path = next(kit / rel for rel in OA.PROFILES + OA.VOLETS if Path(rel).stem == a.schematron)
        compiled = engine._compiled(sch_path).compiled
        if compiled is None:
            continue
        if tried and tried % 50 == 0:
            print(f"  {tried} candidates tried, {found} found, at {a.key}", flush=True)
        if args.edits:
            group = (a.schematron, a.excerpt)
            if args.per_group and per_group[group] >= args.per_group:
                continue
            todo_cands = edit_candidates(tree, a, args.per_assert)
        else:
            todo_cands = candidates_for(tree, a, cands, args.per_assert)
        for cand in todo_cands:
            tried += 1
            try:
                data = M._serialize(synth.apply(tree, cand) if args.edits else M.apply(tree, cand))
            except synth.EditError:
                continue
            doc, _ = parse_document(data, "targeted.xml")
            if doc is None:
                continue
            try:
                results = compiled.results(doc)
            except Exception:  # a dynamic error: not a usable candidate
                continue
            keys = failed_keys(results, a.schematron, by_test, doc, a)
            if a.key in keys:
                if args.edits:  # the candidate is the edit text itself
                    per_group[(a.schematron, a.excerpt)] += 1
                    row = (bid, synth.OPERATOR, cand)
                else:
                    row = (bid, cand.operator, cand.target)
                if row not in have:
                    have.add(row)
                    existing.append({"base": bid, "operator": row[1], "target": row[2], "for": a.key})
                    found += 1
                    if found % 10 == 0:  # a long search keeps what it found (it can be resumed)
                        _write(existing)
                done |= keys
                break
        done.add(a.key)
    _write(existing)
    print(f"{found} targeted mutants added ({tried} candidates tried, {time.time() - start:.0f} s) "
          f"-> {E.TARGETED_JSON}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
