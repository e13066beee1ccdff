"""Generate docs/rules.md from the registry (every Python rule and every assert of our packs).

Usage: python scripts/gen_rules_doc.py [--check]   (--check: exit 1 when the file is stale)
"""

from __future__ import annotations

import sys
from pathlib import Path

from cdacheck.registry import RuleSpec, load_all

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
FAMILIES = {
    "PRS": "Lecture et analyse XML",
    "XSD": "Structure (schéma CDA R2)",
    "HDR": "En-tête",
    "INS": "Identité nationale de santé",
    "BDY": "Corps et niveau de structuration",
    "DOC": "Type de document",
    "XDM": "Archives IHE XDM",
    "SCH": "Paquets Schematron de cdacheck",
    "INT": "Échecs internes",
}
HEADER = """# Rules reference

Generated from the registry by `python scripts/gen_rules_doc.py`; do not edit by hand
(`tests/test_rules_doc.py` fails when this file drifts). `cdacheck rules` prints the same list.
Severities are the defaults; `[tool.cdacheck] severity = {"RULE" = "warning"}` changes one,
and the `role` of a schematron assert maps through `role_map`.

See `docs/packs.md` for the packs and the agreement figures with the official kit.
"""


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def render(rules: list[RuleSpec]) -> str:
    out = [HEADER]
    for fam, title in FAMILIES.items():
        group = [r for r in rules if r.family == fam]
        if not group:
            continue
        out.append(f"\n## {fam} — {title}\n")
        out.append("| id | name | severity | what it checks | message | source |")
        out.append("|---|---|---|---|---|---|")
        for r in group:
            out.append(f"| `{r.id}` | {_cell(r.name)} | {r.severity.value} | {_cell(r.summary)} | "
                       f"{_cell(r.template)} | {_cell(r.source)} |")
    others = [r for r in rules if r.family not in FAMILIES]
    if others:
        out.append("\n## Other\n")
        out.extend(f"- `{r.id}` {r.name}: {_cell(r.summary)}" for r in others)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    text = render(list(load_all()))
    if "--check" in argv:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is stale: run python scripts/gen_rules_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
