"""The coverage table: every official assert -> status, our rule ids, the mutants that test it.

Built from the inventory (scripts/official_asserts.py, needs the kit), the stored official
verdicts (official.json), default mode's verdicts on the mutants (evaluate.py) and the
hand-written reasons (reasons.toml). Written to tests/data/parity/coverage.json; docs/rules.md
shows it (scripts/gen_rules_doc.py, which needs neither the kit nor Java).

Statuses of an error-level assert (role neither warning nor info):

* ``covered``: at least one stored mutant fails it and default mode raises a new error-level
  finding on every such mutant (``rules``: the error-level rules new on those mutants);
* ``missed``: a mutant fails it and default mode says nothing new on at least one of them;
* ``untested``: its rule context fired on a document of the five types but no mutant fails it
  yet (a test failure, unless reasons.toml gives a reason);
* ``not-applicable``: its rule context never fired on any base or mutant of the five types;
* a status from reasons.toml (``kit-defect``, ``contradicts-facts``, ``unreachable``...),
  which wins over ``untested`` and ``missed`` (never over ``covered``);
* ``unreachable`` without a reasons.toml row, when no mutant fails the assert and its test
  cannot be false: it repeats its rule context's predicate (:func:`implied_by_context`) or
  holds whatever the document (:func:`always_true`); the reason names the predicate.

Asserts whose role is warning/info are ``warning-role``, reports ``report`` (neither counts
in the official verdict).
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from cdacheck.engines.schematron.xpath import split_literals, split_top_level, step_predicates, top_level_word
from parity.evaluate import COVERAGE_JSON, ROOT, Evaluation, load_reasons

sys.path.insert(0, str(ROOT / "scripts"))

import official_asserts as OA  # noqa: E402

ERROR_STATUSES = ("covered", "missed", "untested")


def _squeeze(expr: str) -> str:
    """An expression without the whitespace outside its string literals (for comparing)."""
    return "".join(p if lit else "".join(p.split()) for lit, p in split_literals(expr)).replace('"', "'")


_T_STRING_EQ = re.compile(r"string\((@[\w:]+)\)=\(?('[^']*')\)?(?:ornot\(\1\))?")
_T_EXISTS = re.compile(r"@[\w:]+")
_T_COUNT_GE1 = re.compile(r"count\((.+)\)>=1")
_T_PATH_ATTR_EQ = re.compile(r"((?:[\w]+:)?[\w]+)\[@([\w]+)=('[^']*')\]")
_ALWAYS = re.compile(r"[1-9]\d*|true\(\)")
_COUNT_GE0 = re.compile(r"count\((.+)\)>=0")
# string() of a boolean is 'true' or 'false', a non-empty string, so always true as a test
# (DTr1 TEL/URL: ``not(@value) or string(@value castable as xs:anyURI)``).
_STRING_OF_BOOLEAN = re.compile(r"string\((.+)castableas[\w:]+\)")


def _or_operands(expr: str) -> list[str]:
    """The top-level ``or`` operands of an expression (outer parentheses dropped)."""
    e = expr.strip()
    while e.startswith("(") and e.endswith(")") and _balanced(e[1:-1]):
        e = e[1:-1].strip()
    return [o.strip() for o in top_level_word(e, "or")]


def _balanced(text: str) -> bool:
    """Whether brackets and parentheses close in order (string literals aside)."""
    depth = 0
    for lit, piece in split_literals(text):
        for ch in "" if lit else piece:
            depth += (ch in "([") - (ch in ")]")
            if depth < 0:
                return False
    return depth == 0


def always_true(test: str) -> str | None:
    """The operand that makes ``test`` true whatever the document (``… or 1``,
    ``count(…) >= 0``, ``string(… castable as …)``), or None."""
    for operand in _or_operands(test):
        inner = _squeeze(operand)
        while inner.startswith("(") and inner.endswith(")") and _balanced(inner[1:-1]):
            inner = inner[1:-1]
        m = _COUNT_GE0.fullmatch(inner)
        b = _STRING_OF_BOOLEAN.fullmatch(inner)
        if _ALWAYS.fullmatch(inner) or (m and _balanced(m.group(1))) or (b and _balanced(b.group(1))):
            return operand
    return None


def implied_by_context(context: str, test: str) -> str | None:
    """The predicate of the rule context's last step that makes ``test`` true on every node
    the rule applies to (so the assertion can never fail), or None.

    Forms, each read off the text of the kit's own rule: ``string(@a) = ('v')`` under
    ``[@a = 'v']``, ``@a`` under ``[@a]``, ``count(X) >= 1`` under ``[X]`` (X the same
    expression), ``a[@b = 'v']`` under ``[a/@b = 'v']``, and a test that is one of the
    predicates word for word. The generated StrucMin schematron repeats the context's predicate as an
    assertion at many places (``realmCode[@code = 'FR']`` asserts ``string(@code) = ('FR')``).
    """
    if len(split_top_level(context, "|")) != 1:
        return None
    last = split_top_level(context, "/")[-1]
    preds = {_squeeze(p): p for p in step_predicates(last)}
    t = _squeeze(test)
    want = None
    if m := _T_STRING_EQ.fullmatch(t):
        want = f"{m.group(1)}={m.group(2)}"
    elif _T_EXISTS.fullmatch(t):
        want = t
    elif m := _T_COUNT_GE1.fullmatch(t):
        want = m.group(1)
    elif m := _T_PATH_ATTR_EQ.fullmatch(t):  # a[@b = 'v'] exists iff a/@b = 'v'
        want = f"{m.group(1)}/@{m.group(2)}={m.group(3)}"
    else:
        want = t  # the test is one of the predicates, word for word
    if want is None or want not in preds:
        return None
    return preds[want].strip()


def fired_rules(official: dict) -> tuple[set[str], int]:
    """Rule keys that fired on some base or mutant, and the number of documents looked at."""
    index = official["rules"]
    fired: set[str] = set()
    n = 0
    for row in official["bases"].values():
        fired.update(index[str(i)] for i in row.get("fired", []))
        n += 1
    for row in official["mutants"].values():
        fired.update(index[str(i)] for i in row.get("fired_extra", []))
        n += 1
    return fired, n


def failing_mutants(official: dict) -> dict[str, list[str]]:
    """Official assert key -> the stored mutants (of officially valid bases) that fail it."""
    out: dict[str, list[str]] = defaultdict(list)
    bases = official["bases"]
    for mid, row in sorted(official["mutants"].items()):
        base = bases.get(mid.split("|", 1)[0])
        if base is None or base["official_invalid"]:
            continue
        for key in row["failed"]:
            out[key].append(mid)
    return out


# Rules of ours that apply one check at every place the official schematron does (the DTr1
# datatype rules and the StrucMin structure constraints HDR101-104, both read from tables
# generated from the kit's StrucMin rule contexts; the schema), so that one official
# assertion tested at one place is tested by the same rule at every other place.
GENERIC_RULE_PREFIXES = ("DTY", "XSD", "HDR101", "HDR102", "HDR103", "HDR104")


def _in_structure_table(context: str) -> bool:
    """Whether cdacheck's StrucMin structure table (cdacheck/data/structure_contexts.json)
    holds this rule context, i.e. HDR101-104 apply there."""
    global _STRUCTURE_CONTEXTS
    if _STRUCTURE_CONTEXTS is None:
        from gen_datatype_contexts import PREFIX

        table = json.loads((ROOT / "cdacheck" / "data" / "structure_contexts.json").read_text("utf-8"))
        _STRUCTURE_CONTEXTS = {PREFIX + c if c else PREFIX[:-1] for c, _ in table["rules"]}
    return " ".join(context.split()) in _STRUCTURE_CONTEXTS


_STRUCTURE_CONTEXTS: set[str] | None = None


def _inherit_generic(rows: list[dict], asserts: dict[str, OA.OfficialAssert],
                     generic: dict[str, set[str]]) -> None:
    """An untested assert that is the same official assertion (same schematron, same message
    template) as a covered one, on every failing mutant of which one location-generic rule of
    ours (``generic``: assert key -> those rules) raised an error, is covered by that rule:
    status ``covered-same-rule``, with the sibling's tests."""
    covered: dict[tuple[str, str], tuple[dict, list[str]]] = {}
    for r in rows:
        if r["status"] != "covered" or not generic.get(r["key"]):
            continue
        a = asserts[r["key"]]
        covered.setdefault((a.schematron, a.excerpt), (r, sorted(generic[r["key"]])))
    for r in rows:
        if r["status"] != "untested":
            continue
        a = asserts[r["key"]]
        found = covered.get((a.schematron, a.excerpt))
        if found is None:
            continue
        sibling, rules = found
        if all(r.startswith("HDR10") for r in rules) and not _in_structure_table(a.context):
            continue  # a context the structure table leaves out: not tested by the same rule
        r.update({"status": "covered-same-rule", "role": a.role or "", "excerpt": a.excerpt,
                  "rules": rules, "tests": sibling["tests"][:3],
                  "n_tests": sibling["n_tests"],
                  "reason": (f"même assertion officielle que {sibling['key']}, appliquée à cet "
                             f"emplacement par les mêmes règles de cdacheck "
                             f"({', '.join(rules)}), qui valent pour tout emplacement")})


def build(inv: OA.Inventory, ev: Evaluation) -> dict:
    reasons = load_reasons()
    fired, n_docs = fired_rules(ev.official)
    failing = failing_mutants(ev.official)
    rows = []
    not_applicable: dict[str, int] = defaultdict(int)
    na_reason = (f"contexte jamais rencontré sur {n_docs} documents des cinq types "
                 f"(bases et mutants)")
    known = {m.id for m in ev.mutants}
    generic: dict[str, set[str]] = {}
    for a in inv.asserts:
        reason = reasons.get(a.key) or reasons.get(a.rule_key + "|") or reasons.get(
            f"{a.schematron}|{a.pattern}|") or reasons.get(f"{a.schematron}|")
        if a.kind == "report":
            status, why = "report", "report : non compté par le verdict officiel"
        elif not a.is_error:
            status, why = "warning-role", f"role={a.role} : non compté par le verdict officiel"
        elif a.schematron in OA.KIT_DEFECT_SCHEMATRONS:
            status, why = "kit-defect", OA.KIT_DEFECT_SCHEMATRONS[a.schematron]
        elif a.rule_key not in fired and a.key not in failing:
            not_applicable[a.rule_key] += 1
            continue
        else:
            tests = [t for t in failing.get(a.key, []) if t in known]
            status, why = "untested", ""
            rules: set[str] = set()
            if tests:
                caught = [t for t in tests if ev.new_errors(t)]
                for t in caught:
                    rules |= ev.new_errors(t)
                status = "covered" if len(caught) == len(tests) else "missed"
                if status == "covered":  # the location-generic rules that caught every one
                    generic[a.key] = set.intersection(*[
                        {r for r in ev.new_errors(t) if r.startswith(GENERIC_RULE_PREFIXES)} for t in caught])
            if reason and status != "covered":
                status, why = reason["status"], reason["reason"]
            elif not tests and (pred := implied_by_context(a.context, a.test)):
                status = "unreachable"
                why = (f"le test découle du prédicat [{OA.norm(pred)}] du contexte de la règle : "
                       f"l'assertion ne peut pas échouer là où la règle s'applique")
            elif not tests and (operand := always_true(a.test)):
                status = "unreachable"
                why = (f"le test est toujours vrai (opérande « {OA.norm(operand)} ») : "
                       f"l'assertion ne peut échouer sur aucun document")
            row = {"key": a.key, "status": status, "applicable": True}
            if status != "untested":  # untested rows stay short: the key says where (official_asserts.py)
                row.update({"role": a.role or "", "excerpt": a.excerpt, "rules": sorted(rules),
                            "tests": tests[:3], "n_tests": len(tests), "reason": why})
            rows.append(row)
            continue
        rows.append({"key": a.key, "status": status, "applicable": False, "role": a.role or "",
                     "reason": why})
    _inherit_generic(rows, {a.key: a for a in inv.asserts}, generic)
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r["status"]] += 1
    counts["not-applicable"] = sum(not_applicable.values())
    return {
        "meta": {"inventoried": len(inv.asserts),
                 "error_level": sum(1 for a in inv.asserts if a.is_error),
                 "applicable_error_level": sum(1 for r in rows if r["applicable"]),
                 "documents": n_docs, "counts": dict(sorted(counts.items())),
                 "not_applicable_reason": na_reason,
                 "figures": ev.figures.as_dict(),
                 "official_meta": ev.official.get("meta", {})},
        "rows": rows,
        # Rule key -> number of its error-level asserts, for rules never fired (status not-applicable).
        "not_applicable": dict(sorted(not_applicable.items())),
    }


def write(table: dict, path: Path = COVERAGE_JSON) -> None:
    """Compact JSON, one row per line (diffs stay readable); untested rows as a list of keys."""
    head = json.dumps(table["meta"], ensure_ascii=False, sort_keys=True)
    rows = ",\n".join(json.dumps(r, ensure_ascii=False, separators=(",", ":"))
                      for r in table["rows"] if r["status"] != "untested")
    untested = ",\n".join(json.dumps(r["key"], ensure_ascii=False) for r in table["rows"] if r["status"] == "untested")
    na = json.dumps(table["not_applicable"], ensure_ascii=False, separators=(",", ":"))
    path.write_text(f'{{"meta": {head},\n"rows": [\n{rows}\n],\n"untested": [\n{untested}\n],\n'
                    f'"not_applicable": {na}}}\n', encoding="utf-8")


def read(path: Path = COVERAGE_JSON) -> dict:
    """coverage.json with its untested keys back as rows (status untested, applicable)."""
    table = json.loads(path.read_text(encoding="utf-8"))
    table["rows"] += [{"key": k, "status": "untested", "applicable": True} for k in table.pop("untested", [])]
    return table
