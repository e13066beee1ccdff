"""Look at one official assert and try hand-written edits on it (issue 17, item 4).

    python tests/parity/try_edit.py show KEY
    python tests/parity/try_edit.py try BASE 'PATH::EDIT' [--for KEY]
    python tests/parity/try_edit.py add BASE 'PATH::EDIT' --for KEY

``show`` prints the assert (its schematron, rule context, ``let``s, test and message), the
valid bases on which its rule fired, and the first context nodes in one of them with their
paths. ``try`` builds the mutant of an edit (tests/parity/synth.py) and prints the official
asserts the kit's schematron (cdacheck's kit mode) fails on it and not on its base, and the
error-level findings default mode adds. ``add`` appends the edit to
tests/parity/targeted.json when kit mode says it fails the assert, like targets.py does for
the edits it finds itself. The official verdict still comes from the real pipeline:
scripts/official_parity.py run --only-new afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(HERE.parent))

from lxml import etree  # noqa: E402

import official_asserts as OA  # noqa: E402
import targets as T  # noqa: E402
from cdacheck.config import Settings  # noqa: E402
from cdacheck.engines.schematron.kit import KitEngine  # noqa: E402
from cdacheck.inputs.xml import parse_document  # noqa: E402
from cdacheck.model import Severity  # noqa: E402
from cdacheck.pipeline import Runner  # noqa: E402
from parity import evaluate as E  # noqa: E402
from parity import mutants as M  # noqa: E402
from parity import synth  # noqa: E402


class Lab:
    def __init__(self, kit: Path) -> None:
        self.kit = kit
        self.official = E.load_official()
        self.inv = OA.Inventory.build(kit)
        self.by_key = {a.key: a for a in self.inv.asserts}
        self.bases = {b.id: b for b in M.all_bases(kit)}
        rules = self.official["rules"]
        self.fired_by: dict[str, list[str]] = defaultdict(list)
        self.stems_of: dict[str, set[str]] = defaultdict(set)
        for bid, row in sorted(self.official["bases"].items()):
            for i in row["fired"]:
                self.stems_of[bid].add(rules[str(i)].split("|", 1)[0])
                if not row["official_invalid"]:
                    self.fired_by[rules[str(i)]].append(bid)
        self.by_test: dict[tuple, list[OA.OfficialAssert]] = defaultdict(list)
        for a in self.inv.asserts:
            self.by_test[(a.schematron, a.pattern, OA.norm(a.test))].append(a)
        self.engine = KitEngine(Settings(kit=kit))

    def sch(self, stem: str):
        path = next(self.kit / rel for rel in OA.PROFILES + OA.VOLETS if Path(rel).stem == stem)
        return self.engine._compiled(path).compiled

    def failed(self, data: bytes, stems: set[str], target: OA.OfficialAssert | None) -> set[str]:
        """Keys of the official asserts kit mode fails on a document (the target's when one of
        its failures is on one of its context nodes)."""
        doc, _ = parse_document(data, "try.xml")
        if doc is None:
            return {"<not well-formed>"}
        keys: set[str] = set()
        for stem in sorted(stems):
            compiled = self.sch(stem)
            if compiled is not None:
                keys |= T.failed_keys(compiled.results(doc), stem, self.by_test, doc, target)
        return keys


@cache
def _runner() -> Runner:
    return Runner(Settings(env="test"))


def _errors(data: bytes) -> set[str]:
    """Default mode's error-level findings (test environment, as tests/parity/evaluate.py)."""
    report, _, _ = _runner().check_document(data, "try.xml")
    return {f"{f.rule_id}: {f.message[:140]}" for f in report.findings
            if f.severity.at_least(Severity.ERROR)}


def cmd_show(lab: Lab, key: str) -> int:
    a = lab.by_key.get(key)
    if a is None:
        print(f"no such assert {key!r}", file=sys.stderr)
        return 2
    print(f"{a.key}\n  schematron {a.schematron}  pattern {a.pattern}  kind {a.kind} role {a.role}")
    print(f"  context  {OA.norm(a.context)}")
    for name, value in a.lets.items():
        print(f"  let ${name} := {OA.norm(value)}")
    print(f"  test     {OA.norm(a.test)}\n  message  {a.excerpt}")
    bases = lab.fired_by.get(a.rule_key, [])
    print(f"  rule fired on {len(bases)} valid base(s): {', '.join(bases[:8])}")
    if not bases:  # a part no base has: the stored mutants that brought it (chain from one, made valid)
        rid = next((i for i, k in lab.official["rules"].items() if k == a.rule_key), None)
        extra = [mid for mid, row in lab.official["mutants"].items()
                 if rid is not None and int(rid) in row.get("fired_extra", [])]
        print(f"  rule fired on {len(extra)} stored mutant(s) only, e.g.:")
        for mid in extra[:4]:
            print(f"    {mid}")
    for bid in bases[:1]:
        tree = etree.fromstring(lab.bases[bid].data, M._parser()).getroottree()
        nodes = T.context_nodes(tree, a.context)
        if nodes is None:
            nodes = T.context_nodes(tree, T._without_doc_predicates(a.context)) or []
        for node in nodes[:3]:
            text = etree.tostring(node, encoding="unicode")
            print(f"  --- {bid} {M.element_path(node)}\n{text[:1500]}")
    return 0


def cmd_try(lab: Lab, bid: str, targets: list[str], key: str | None, quiet: bool = False) -> set[str]:
    base = lab.bases[bid]
    a = lab.by_key.get(key) if key else None
    stems = set(lab.stems_of.get(bid, ())) | ({a.schematron} if a else set())
    before = lab.failed(base.data, stems, a)
    tree = etree.fromstring(base.data, M._parser()).getroottree()
    hits: set[str] = set()
    for target in targets:
        try:
            data = M._serialize(synth.apply(tree, target))
        except (synth.EditError, Exception) as exc:  # noqa: BLE001 - a bad edit is reported, not raised
            print(f"{target}\n  edit error: {exc}")
            continue
        new = lab.failed(data, stems, a) - before
        hits |= new
        if quiet:
            continue
        print(target)
        for k in sorted(new):
            mark = "*" if a and k == a.key else " "
            excerpt = lab.by_key[k].excerpt if k in lab.by_key else ""
            print(f" {mark} kit  {k}  {excerpt[:90]}")
        if not new:
            print("   kit  (no new failed assert)")
        for e in sorted(_errors(data) - _errors(base.data)):
            print(f"   dflt {e}")
    return hits


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("show", "try", "add"))
    ap.add_argument("args", nargs="+")
    ap.add_argument("--for", dest="key", default=None, help="the official assert aimed at")
    ap.add_argument("--kit", type=Path, default=Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit")))
    ns = ap.parse_args(argv)
    lab = Lab(ns.kit.resolve())
    if ns.command == "show":
        return max(cmd_show(lab, k) for k in ns.args)
    bid, targets = ns.args[0], ns.args[1:]
    if bid not in lab.bases:
        print(f"no such base {bid!r}", file=sys.stderr)
        return 2
    if ns.command == "try":
        cmd_try(lab, bid, targets, ns.key)
        return 0
    if not ns.key:
        print("add needs --for KEY", file=sys.stderr)
        return 2
    rows = json.loads(E.TARGETED_JSON.read_text(encoding="utf-8"))["mutants"]
    have = {(r["base"], r["operator"], r["target"]) for r in rows}
    added = 0
    for target in targets:
        if ns.key not in cmd_try(lab, bid, [target], ns.key, quiet=True):
            print(f"kit mode does not fail {ns.key} on {target}: not added", file=sys.stderr)
            continue
        if (bid, synth.OPERATOR, target) not in have:
            rows.append({"base": bid, "operator": synth.OPERATOR, "target": target, "for": ns.key})
            added += 1
    T._write(rows)
    print(f"{added} added")
    return 0 if added or not targets else 1


if __name__ == "__main__":
    sys.exit(main())
