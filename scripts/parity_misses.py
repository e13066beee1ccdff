#!/usr/bin/env python3
"""Where default mode disagrees with the official pipeline on the parity mutants (issue 17).

    python scripts/parity_misses.py [--out DIR] [--update-data] [--kit KIT]

Runs default mode of the CURRENT worktree on the mutants (regenerated from the kit, checked
against tests/data/parity/official.json: no Java needed) and writes DIR/misses.md and
DIR/misses.json (default DIR: /tmp/parity-<worktree>):

* the misses: officially rejected mutants on which default mode raises no new error-level
  finding, grouped by official schematron / pattern / assert (text excerpt, mutant ids, what
  default mode said instead);
* the officially rejected mutants that still get an indicator (figure b);
* the false alarms: officially accepted mutants with a new error-level finding (figure c),
  grouped by our rule id, with the deliberately stricter rules (stricter.toml) apart;
* the applicable official error asserts no mutant fails yet (``untested``), and the bases the
  official pipeline itself rejects.

``--update-data`` also rewrites tests/data/parity/coverage.json (then run
scripts/gen_rules_doc.py so docs/rules.md shows the new table and figures).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

import official_asserts as OA  # noqa: E402
from parity import coverage as C  # noqa: E402
from parity import evaluate as E  # noqa: E402

DEFAULT_KIT = Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit"))


def _md(text: str) -> str:
    return " ".join(str(text).replace("|", "\\|").split())


def report(ev: E.Evaluation, inv: OA.Inventory, table: dict) -> tuple[str, dict]:
    by_key = {a.key: a for a in inv.asserts}
    official = ev.official["mutants"]
    fig = ev.figures
    groups: dict[str, list[str]] = defaultdict(list)
    for mid in fig.missed:
        for key in official[mid]["failed"] or ["(XSD seulement)"]:
            groups[key].append(mid)
    if not all(official[m]["xsd_valid"] for m in fig.missed):
        for mid in fig.missed:
            if not official[mid]["xsd_valid"] and "(XSD seulement)" not in groups:
                groups["(XSD)"].append(mid)
    misses = []
    for key, mids in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        a = by_key.get(key)
        misses.append({
            "key": key, "schematron": a.schematron if a else key.split("|")[0],
            "pattern": a.pattern if a else "", "excerpt": a.excerpt if a else "",
            "context": OA.norm(a.context)[:160] if a else "",
            "mutants": mids,
            "default_mode_said": {m: sorted(ev.verdicts[m].others - ev.verdicts[m.split("|", 1)[0]].others)
                                  for m in mids[:10]},
        })
    alarms: dict[str, list[dict]] = defaultdict(list)
    for mid in fig.false_alarms + fig.stricter_only:
        base = mid.split("|", 1)[0]
        for rid, msg in ev.verdicts[mid].messages:
            if rid not in ev.verdicts[base].errors:
                alarms[rid].append({"mutant": mid, "message": msg})
    false_alarms = [{"rule": rid, "stricter": rid in ev.stricter, "n": len(items), "mutants": items}
                    for rid, items in sorted(alarms.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    untested = [r for r in table["rows"] if r["status"] == "untested"]
    bad_bases = {bid: row["failed"] for bid, row in ev.official["bases"].items() if row["official_invalid"]}
    data = {"figures": fig.as_dict(), "figure_lines": fig.lines(), "misses": misses,
            "indicator_awarded": fig.indicator, "false_alarms": false_alarms,
            "untested": [{"key": r["key"], "excerpt": by_key[r["key"]].excerpt} for r in untested],
            "officially_rejected_bases": bad_bases, "coverage_counts": table["meta"]["counts"],
            "sha_mismatch": ev.sha_mismatch, "unstored": ev.unstored}

    out = ["# Parity misses (default mode vs the official pipeline)", ""]
    out += [f"- {line}" for line in fig.lines()]
    out += [f"- mutants with a stored verdict: {len(fig.rejected) + len(fig.accepted)} "
            f"({len(fig.skipped)} skipped: base rejected officially or a schematron did not run); "
            f"coverage rows by status: {json.dumps(table['meta']['counts'])}", ""]
    if ev.sha_mismatch or ev.unstored:
        out += [f"**Warning**: {len(ev.sha_mismatch)} mutants differ from the stored ones and "
                f"{len(ev.unstored)} have no stored verdict: re-run scripts/official_parity.py.", ""]
    families: dict[tuple[str, str], set[str]] = defaultdict(set)
    operators: dict[str, int] = defaultdict(int)
    for m in misses:
        families[(m["schematron"], m["excerpt"])].update(m["mutants"])
    for mid in fig.missed:
        operators[mid.split("|")[1]] += 1
    data["miss_families"] = [{"schematron": k[0], "excerpt": k[1], "mutants": len(v)}
                             for k, v in sorted(families.items(), key=lambda kv: -len(kv[1]))]
    out += ["## Top miss groups (same official message, every context)", "",
            "| schematron | official message | missed mutants |", "|---|---|---|"]
    out += [f"| {sch} | {_md(exc)} | {len(v)} |"
            for (sch, exc), v in sorted(families.items(), key=lambda kv: -len(kv[1]))[:40]]
    out += ["", "Missed mutants by operator: " + ", ".join(
        f"{op} {n}" for op, n in sorted(operators.items(), key=lambda kv: -kv[1])), ""]
    out += ["## Misses, by official assert", "",
            "Officially rejected mutants on which default mode raises no new error. One mutant may "
            "fail several official asserts (it is then listed under each).", ""]
    by_sch: dict[str, list[dict]] = defaultdict(list)
    for m in misses:
        by_sch[m["schematron"]].append(m)
    for sch, items in sorted(by_sch.items(), key=lambda kv: -sum(len(m["mutants"]) for m in kv[1])):
        out += [f"### {sch} ({sum(len(m['mutants']) for m in items)} mutant-asserts)", ""]
        for m in items:
            out.append(f"- `{m['key']}` ({len(m['mutants'])} mutants) — {_md(m['excerpt'])}")
            if m["context"]:
                out.append(f"  - context: `{_md(m['context'])}`")
            for mid in m["mutants"][:6]:
                said = m["default_mode_said"].get(mid)
                out.append(f"  - `{mid}`" + (f" (default mode, below error: {', '.join(said)})" if said else ""))
            if len(m["mutants"]) > 6:
                out.append(f"  - … {len(m['mutants']) - 6} more (misses.json)")
        out.append("")
    out += ["## Rejected officially but awarded an indicator (b)", ""]
    out += [f"- `{mid}` → {ev.verdicts[mid].indicator}" for mid in fig.indicator] or ["(none)"]
    out += ["", "## False alarms (c): accepted officially, new error in default mode", ""]
    for fa in false_alarms:
        tag = " (stricter by design, not counted)" if fa["stricter"] else ""
        out.append(f"- `{fa['rule']}`{tag}: {fa['n']} mutants")
        for item in fa["mutants"][:5]:
            out.append(f"  - `{item['mutant']}`: {_md(item['message'])[:200]}")
    if not false_alarms:
        out.append("(none)")
    out += ["", f"## Applicable official error asserts no mutant fails yet ({len(untested)})", ""]
    for r in untested[:400]:
        out.append(f"- `{r['key']}` — {_md(by_key[r['key']].excerpt)}")
    if len(untested) > 400:
        out.append(f"- … {len(untested) - 400} more (misses.json)")
    out += ["", "## Bases the official pipeline rejects as they are (no mutants made from them)", ""]
    for bid, keys in sorted(bad_bases.items()):
        out.append(f"- `{bid}`: " + "; ".join(f"`{k}` {_md(by_key[k].excerpt) if k in by_key else ''}"
                                               for k in keys))
    return "\n".join(out) + "\n", data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kit", type=Path, default=DEFAULT_KIT)
    ap.add_argument("--out", type=Path, default=Path("/tmp") / f"parity-{ROOT.name}")
    ap.add_argument("--update-data", action="store_true", help="rewrite tests/data/parity/coverage.json")
    args = ap.parse_args(argv)
    kit = args.kit.resolve()
    ev = E.evaluate(kit)
    inv = OA.Inventory.build(kit)
    table = C.build(inv, ev)
    text, data = report(ev, inv, table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "misses.md").write_text(text, encoding="utf-8")
    (args.out / "misses.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if args.update_data:
        C.write(table)
        print(f"wrote {E.COVERAGE_JSON}")
    for line in ev.figures.lines():
        print(line)
    print(f"coverage: {json.dumps(table['meta']['counts'])}")
    print(f"wrote {args.out / 'misses.md'} and misses.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
