"""Generate docs/rules.md from the registry (every Python rule and every assert of our packs).

Usage: python scripts/gen_rules_doc.py [--check]   (--check: exit 1 when the file is stale)
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

from cdacheck.registry import RuleSpec, load_all

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
PARITY = Path(__file__).resolve().parent.parent / "tests" / "data" / "parity"
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
    out.extend(render_parity())
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- official parity (issue 17)

_STATUS_ORDER = ("missed", "untested", "covered", "kit-defect", "contradicts-facts", "unreachable")


def render_parity(folder: Path = PARITY) -> list[str]:
    """The official parity section: figures, stricter rules, official assert -> our rule -> test.

    Read from tests/data/parity (coverage.json, written by scripts/parity_misses.py
    --update-data, and stricter.toml): neither the kit nor Java is needed here.
    """
    cov_path = folder / "coverage.json"
    if not cov_path.is_file():
        return []
    cov = json.loads(cov_path.read_text(encoding="utf-8"))
    meta = cov["meta"]
    fig = meta.get("figures", {})
    om = meta.get("official_meta", {})
    out = ["\n## Parité avec le pipeline officiel (issue 17)\n",
           "Mutants à un seul défaut des exemples du kit des cinq types Ségur et de nos échantillons "
           "(`tests/parity/mutants.py`, graine fixe, régénérés à chaque test), jugés une fois par le "
           "pipeline officiel (`scripts/official_parity.py` : Saxon-HE, squelette ISO du kit ; verdicts "
           "dans `tests/data/parity/official.json`), comparés au mode par défaut par "
           "`tests/test_official_parity.py`. S'y ajoutent des mutants ciblés (`tests/data/parity/targeted.json`, "
           "trouvés par `tests/parity/targets.py`) : pour un assert officiel qu'aucun mutant tiré au sort "
           "ne fait échouer, une modification tirée de son test (`tests/parity/synth.py` : attribut ajouté "
           "ou changé, élément fils ajouté, retiré ou répété), retenue si le schématron du kit, compilé par "
           "cdacheck, dit qu'elle fait échouer l'assert ; le verdict stocké reste celui du pipeline officiel. "
           "Pour les parties d'en-tête qu'aucune base ne porte (informateur professionnel, saisie, "
           "participant, authentificateur, demande, document remplacé, tuteur...), des bases enrichies "
           "(`tests/parity/enriched.py` : un de nos échantillons valides plus une de ces parties, jugé "
           "valide par le pipeline officiel) reçoivent ces mutants ciblés. Les asserts dont le défaut "
           "touche plusieurs éléments (une chaîne d'entryRelationship, un code et son unité) ont des "
           "modifications écrites à la main, essayées et ajoutées par `tests/parity/try_edit.py` "
           "(même filtre par le schématron du kit, même verdict officiel). Un assert qu'aucun mutant ne "
           "fait échouer et dont le test ne peut pas être faux (il répète le prédicat du contexte de sa "
           "règle, ou il est toujours vrai) est `unreachable`, avec le prédicat nommé. "
           "Tableau et chiffres régénérés par "
           "`python scripts/parity_misses.py --update-data` puis ce script.\n",
           f"- kit : commit {om.get('kit_commit', '?')} ; {om.get('saxon', '?')} ; Java {om.get('java', '?')} ; "
           f"verdicts officiels du {om.get('generated', '?')} ; {om.get('n_mutants', '?')} mutants de "
           f"{om.get('n_bases', '?')} bases",
           f"- (a) mutants rejetés officiellement avec une erreur en mode par défaut : "
           f"{fig.get('a_caught')}/{fig.get('rejected')} = {100 * fig.get('a', 0):.1f} % (objectif ≥ 99 %)",
           f"- (b) mutants rejetés officiellement qui alimentent encore un indicateur : "
           f"{fig.get('b')}/{fig.get('rejected')} (objectif 0)",
           f"- (c) mutants acceptés officiellement avec une erreur ajoutée (règles plus strictes exclues) : "
           f"{fig.get('c_false_alarms')}/{fig.get('accepted')} = {100 * fig.get('c', 0):.1f} % (objectif ≤ 1 %)",
           f"- asserts officiels inventoriés : {meta['inventoried']} ; de niveau erreur : {meta['error_level']} ; "
           f"applicables aux cinq types (contexte déclenché) : {meta['applicable_error_level']}",
           "- lignes par statut : " + ", ".join(f"{k} {v}" for k, v in meta["counts"].items()),
           f"- non applicables : {meta['not_applicable_reason']}"]
    stricter_path = folder / "stricter.toml"
    if stricter_path.is_file():
        rules = tomllib.loads(stricter_path.read_text(encoding="utf-8")).get("rule", [])
        out += ["\n### Règles délibérément plus strictes que le kit\n", "| règle | raison |", "|---|---|"]
        out += [f"| `{r['id']}` | {_cell(r['reason'])} |" for r in rules]
    rows = [r for r in cov["rows"] if r.get("applicable") and r["status"] != "untested"]
    rank = {s: i for i, s in enumerate(_STATUS_ORDER)}
    rows.sort(key=lambda r: (rank.get(r["status"], len(rank)), r["key"]))
    out += ["\n### Asserts officiels applicables → nos règles → test\n",
            "Clé : `schématron|pattern|empreinte du contexte|rang de l'assert dans la règle` "
            "(`python scripts/official_asserts.py --json` donne le contexte). Test : un mutant qui "
            "fait échouer l'assert (base|opérateur|cible). `missed` : au moins un de ces mutants "
            "passe sans erreur en mode par défaut.\n",
            "| assert officiel | texte | statut | nos règles | test | raison |", "|---|---|---|---|---|---|"]
    for r in rows:
        test = f"`{_cell(r['tests'][0])}`" + (f" (+{r['n_tests'] - 1})" if r["n_tests"] > 1 else "") if r["tests"] else ""
        rules_cell = ", ".join(f"`{x}`" for x in r["rules"][:4]) + (" …" if len(r["rules"]) > 4 else "")
        out.append(f"| `{_cell(r['key'])}` | {_cell(r['excerpt'])} | {r['status']} | {rules_cell} | {test} | "
                   f"{_cell(r['reason'])} |")
    untested: dict[str, int] = {}
    for key in cov.get("untested", []):
        group = "|".join(key.split("|")[:2])
        untested[group] = untested.get(group, 0) + 1
    if untested:
        out += ["\n### Asserts applicables sans mutant qui les fasse échouer (à couvrir)\n",
                "Leur règle s'est déclenchée sur un document des cinq types, mais aucun mutant stocké "
                "ne les fait échouer : ni test, ni raison écrite (`tests/data/parity/reasons.toml`). "
                "Les clés sont dans `tests/data/parity/coverage.json`.\n",
                "| schématron\\|pattern | asserts |", "|---|---|"]
        out += [f"| `{_cell(g)}` | {n} |" for g, n in sorted(untested.items(), key=lambda kv: (-kv[1], kv[0]))]
    per_sch: dict[str, list[int]] = {}
    for key, n in cov.get("not_applicable", {}).items():
        per_sch.setdefault(key.split("|", 1)[0], [0, 0, 0, 0])[0] += n
    for r in cov["rows"]:
        if not r.get("applicable"):
            col = {"warning-role": 1, "report": 2, "kit-defect": 3}.get(r["status"])
            if col is not None:
                per_sch.setdefault(r["key"].split("|", 1)[0], [0, 0, 0, 0])[col] += 1
    out += ["\n### Asserts officiels hors périmètre\n",
            "| schématron | non applicables (contexte jamais déclenché) | rôle warning/info | reports | défaut du kit |",
            "|---|---|---|---|---|"]
    for sch in sorted(per_sch):
        c = per_sch[sch]
        out.append(f"| {sch} | {c[0]} | {c[1]} | {c[2]} | {c[3]} |")
    return out


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
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
