"""`cdacheck stats`: counting, rates, targets and reasons on a corpus built from our samples.

The expected figures are computed by hand from tests/stats_corpus.py (comments give the
stays and reports behind each figure).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

pytest.importorskip("duckdb", reason="DuckDB is not installed (extra stats)")

import cdacheck  # noqa: E402
from cdacheck.cli import main  # noqa: E402
from cdacheck.stats import StatsError, StatsOptions, compute  # noqa: E402
from cdacheck.stats.inputs import read_stays  # noqa: E402
from stats_corpus import FINESS_A, FINESS_B, FINESS_C, LEGAL_B, write_corpus  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stats")
    paths = write_corpus(folder)
    report = cdacheck.check(str(paths["docs"]), env="test")
    paths["report"] = folder / "rapport.json"
    paths["report"].write_text(report.model_dump_json(indent=2), encoding="utf-8")
    # the same run as JSON lines: one report per line, then a summary line
    lines = [item.model_dump_json() for item in report.items]
    lines.append(json.dumps({"kind": "summary", **report.summary.model_dump(mode="json")}))
    paths["jsonl"] = folder / "rapport.jsonl"
    paths["jsonl"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def _stats(corpus: dict[str, Path], *args: str, source: str = "report") -> dict:  # type: ignore[type-arg]
    out = corpus["report"].parent / "out.json"
    code = main(["stats", str(corpus[source]), "--format", "json", "-o", str(out), *args])
    assert code == 0
    return json.loads(out.read_text(encoding="utf-8"))


def _rate(data: dict, ind: str, est: str = "*", month: str = "total") -> tuple:  # type: ignore[type-arg]
    row = next(r for r in data["rates"] if (r["indicator"], r["establishment"], r["month"])
               == (ind, est, month))
    return row["numerator"], row["denominator"], row["rate"], row["target"], row["gap"], row["proxy"]


def test_rates_with_stays_file_match_hand_count(corpus: dict[str, Path]) -> None:
    data = _stats(corpus, "--stays", str(corpus["stays"]))
    assert data["denominator"] == "stays-file" and data["window"] == 4
    # DS 1.1: S1 (v2 good), S3 (L3b replaces L3), S4, S7 of S1..S7; S2's v2 lacks the INS
    assert _rate(data, "DS 1.1") == (4, 7, 57.14, 69, -11.86, False)
    assert _rate(data, "DS 1.1", FINESS_A) == (3, 5, 60.0, 69, -9.0, False)
    assert _rate(data, "DS 1.1", FINESS_A, "2024-03")[:3] == (2, 3, 66.67)  # S1 S7 / S1 S2 S7
    assert _rate(data, "DS 1.1", FINESS_A, "2024-04")[:3] == (1, 2, 50.0)  # S3 / S3 S6
    assert _rate(data, "DS 1.1", FINESS_B)[:3] == (1, 2, 50.0)  # S4 / S4 S5
    # DS 1.2: only S1; S2's prescription is outside its stay
    assert _rate(data, "DS 1.2") == (1, 7, 14.29, 63, -48.71, False)
    # DS 1.3: surgical stays S1 and S3; S1 has an operative report (C2 on S2 does not count)
    assert _rate(data, "DS 1.3")[:3] == (1, 2, 50.0)
    assert not [r for r in data["rates"] if r["indicator"] == "DS 1.3"
                and r["establishment"] == FINESS_B]
    # DS 2.1: B1 B2 (N3) of B1 B2 B3 (N1) in A; B4 in B
    assert _rate(data, "DS 2.1") == (3, 4, 75.0, 63, 12.0, False)
    assert _rate(data, "DS 2.1", FINESS_A)[:3] == (2, 3, 66.67)
    # DS 3.1: I1b (I1 replaced, counted once) and I9 (rejected archive) in A; I3 read as C
    # from its encounter location although its custodian is B
    assert _rate(data, "DS 3.1")[:3] == (2, 3, 66.67)
    assert _rate(data, "DS 3.1", FINESS_A)[:3] == (1, 2, 50.0)
    assert _rate(data, "DS 3.1", FINESS_A, "2024-04")[:3] == (0, 1, 0.0)
    assert _rate(data, "DS 3.1", FINESS_C)[:3] == (1, 1, 100.0)
    c = data["counts"]
    assert (c["documents_read"], c["logical_documents"], c["in_rejected_archive"]) == (20, 16, 1)
    assert c["stays"] == 7 and c["stay_not_in_stays_file"] == 0


def test_reasons_ranked_with_the_stays_they_cost(corpus: dict[str, Path]) -> None:
    data = _stats(corpus, "--stays", str(corpus["stays"]))

    def ranked(ind: str) -> list[tuple[str, int]]:
        return [(r["reason"], r["units"]) for r in data["reasons"]
                if r["indicator"] == ind and r["establishment"] == "*"]

    assert ranked("DS 1.1") == [("aucune lettre de liaison de sortie pour ce séjour", 2),
                                ("pas d'INS qualifié", 1)]
    assert ranked("DS 1.2") == [("aucune ordonnance de sortie pour ce séjour", 5),
                                ("« de sortie » non démontrable : document hors de la fenêtre "
                                 "de sortie", 1)]
    assert ranked("DS 1.3") == [("aucun compte rendu opératoire pour ce séjour", 1)]
    assert ranked("DS 2.1") == [("biologie en N1 (N3 exigé pour DS 2.1)", 1)]
    assert [r for r, _ in ranked("DS 3.1")] == ["archive XDM rejetée (XDM062)",
                                                "archive XDM rejetée (XDM063)"]
    ins = next(r for r in data["reasons"] if r["reason"] == "pas d'INS qualifié"
               and r["establishment"] == "*")
    assert ins["sole_reason_units"] == 1 and ins["examples"][0].endswith("L2v2.xml")


def test_proxy_denominator_without_stays_file(corpus: dict[str, Path]) -> None:
    data = _stats(corpus, source="jsonl")  # the JSON-lines report gives the same counts
    assert data["denominator"] == "proxy"
    # stays seen in DS 1.x documents: S1 S2 S3 S4 S7 (S5 and S6 have none)
    assert _rate(data, "DS 1.1") == (4, 5, 80.0, 69, 11.0, True)
    assert _rate(data, "DS 1.2")[:3] == (1, 5, 20.0)
    assert _rate(data, "DS 1.3")[:3] == (2, 2, 100.0)  # stays with an operative report
    assert _rate(data, "DS 2.1")[-1] is False  # report rates are never a proxy
    out = corpus["report"].parent / "out.txt"
    assert main(["stats", str(corpus["report"]), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "PROXY" in text and "57,1" not in text
    assert all("proxy" in line for line in text.splitlines() if line.startswith("DS 1.1 "))


def test_period_window_and_finess_map(corpus: dict[str, Path]) -> None:
    data = _stats(corpus, "--stays", str(corpus["stays"]), "--from", "2024-04-01",
                  "--window", "1", "--finess-map", str(corpus["map"]))
    assert data["targets"]["DS 1.1"] == 49 and data["period"]["from"] == "2024-04-01"
    # April: S3 S6 (A) and S5 (B -> legal entity) ; only S3 qualifies
    assert _rate(data, "DS 1.1") == (1, 3, 33.33, 49, -15.67, False)
    assert _rate(data, "DS 1.1", LEGAL_B)[:3] == (0, 1, 0.0)
    # April reports: I9 (rejected, A) and I3 (C -> legal entity of B)
    assert _rate(data, "DS 3.1", LEGAL_B)[:3] == (1, 1, 100.0)
    assert not [r for r in data["rates"] if r["establishment"] in (FINESS_B, FINESS_C)]


def test_documents_checked_on_the_way_and_csv(corpus: dict[str, Path]) -> None:
    out = corpus["report"].parent / "out.csv"
    code = main(["stats", str(corpus["docs"]), "--env", "test", "--stays", str(corpus["stays"]),
                 "--format", "csv", "-o", str(out)])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    total = next(r for r in rows if (r["indicator"], r["establishment"], r["month"])
                 == ("DS 1.1", "*", "total"))
    assert (total["numerator"], total["denominator"], total["rate"]) == ("4", "7", "57.14")
    assert total["denominator_source"] == "stays-file" and total["target"] == "69"


def test_bad_stays_file_lists_lines(tmp_path: Path, corpus: dict[str, Path],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "stays.csv"
    bad.write_text("stay_id,finess,discharge_date,surgical\nS1,750999997,2024-03-15,1\n"
                   "S2,75099,2024-13-01,1\nS1,750999997,2024-03-15,oui\n", encoding="utf-8")
    with pytest.raises(StatsError) as err:
        read_stays(bad)
    text = str(err.value)
    assert "ligne 3 : finess « 75099 » invalide" in text and "2024-13-01" in text
    assert "ligne 4 : stay_id S1 déjà donné ligne 2" in text and "surgical « oui »" in text
    assert main(["stats", str(corpus["report"]), "--stays", str(bad)]) == 2
    assert "ligne 3" in capsys.readouterr().err
    header = tmp_path / "header.csv"
    header.write_text("sejour,finess\nS1,750999997\n", encoding="utf-8")
    with pytest.raises(StatsError, match="ligne 1 .*stay_id, discharge_date, surgical"):
        read_stays(header)


def test_bad_report_files_name_the_line(tmp_path: Path, corpus: dict[str, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    lines = corpus["jsonl"].read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], "{not json", *lines[1:]]), encoding="utf-8")
    assert main(["stats", str(broken)]) == 2
    assert "broken.jsonl, ligne 2 : JSON invalide" in capsys.readouterr().err
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(lines[0] + "\n" + json.dumps({"kind": "document", "valid": "peut-être"}),
                     encoding="utf-8")
    assert main(["stats", str(wrong)]) == 2
    assert "wrong.jsonl, ligne 2 : rapport document invalide" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text('{\n  "hello": 1\n}\n', encoding="utf-8")
    assert main(["stats", str(other)]) == 2
    assert "ce n'est pas un rapport cdacheck" in capsys.readouterr().err
    assert main(["stats", str(tmp_path / "absent.json")]) == 2


def test_highest_version_wins_whatever_the_order(corpus: dict[str, Path]) -> None:
    report = cdacheck.RunReport.model_validate_json(corpus["report"].read_text(encoding="utf-8"))
    forward = compute(report.items, StatsOptions())
    backward = compute(list(reversed(report.items)), StatsOptions())
    assert forward.rates == backward.rates


def test_unknown_window_is_a_clear_error(corpus: dict[str, Path]) -> None:
    with pytest.raises(StatsError, match="fenêtre"):
        compute([], StatsOptions(window=7))
    assert main(["stats", str(corpus["report"]), "--window", "5"]) == 2
    assert main(["stats", str(corpus["report"]), "--from", "2024-31-01"]) == 2


# --------------------------------------------------------------------------- HTML dashboard


from test_html_browser import browser  # noqa: E402,F401  (the project's Chromium fixture)


def _visible(page, selector: str) -> list[str]:  # type: ignore[no-untyped-def]
    return list(page.eval_on_selector_all(
        selector, "els => els.filter(e => e.getClientRects().length > 0)"
                  ".map(e => e.getAttribute('data-indicator') || e.textContent)"))


def test_html_dashboard_in_a_real_browser(browser, corpus: dict[str, Path],  # type: ignore[no-untyped-def]
                                          tmp_path: Path) -> None:
    page_file = tmp_path / "stats.html"
    assert main(["stats", str(corpus["report"]), "--stays", str(corpus["stays"]),
                 "--format", "html", "-o", str(page_file)]) == 0
    html = page_file.read_text(encoding="utf-8")
    assert "L2v2.xml" not in html and "<link" not in html and "src=\"http" not in html
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith("file:") else None)
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    assert errors == [] and requests == []
    # all establishments: one chart per indicator, each with the window-4 target line
    assert _visible(page, "svg.chart") == ["DS 1.1", "DS 1.2", "DS 1.3", "DS 2.1", "DS 3.1"]
    targets = page.eval_on_selector_all(
        "[data-est='*'] line.target", "els => els.map(e => Number(e.dataset.target))")
    assert targets == [69, 63, 69, 63, 63]
    # establishment A: DS 3.1 bars are March 100 % and April 0 % (I9's archive is rejected)
    page.select_option("#est", FINESS_A)
    bars = page.eval_on_selector_all(
        f"[data-est='{FINESS_A}'] svg[data-indicator='DS 3.1'] rect.bar",
        "els => els.map(e => [e.dataset.month, Number(e.dataset.rate)])")
    assert bars == [["2024-03", 100], ["2024-04", 0]]
    assert _visible(page, "svg.chart") == ["DS 1.1", "DS 1.2", "DS 1.3", "DS 2.1", "DS 3.1"]
    page.select_option("#est", FINESS_C)
    assert _visible(page, "svg.chart") == ["DS 3.1"]
    page.select_option("#est", "*")
    reasons = _visible(page, "[data-est='*'] section[data-indicator='DS 1.1'] tr.reason td.l")
    assert reasons[0].startswith("aucune lettre de liaison")
    page.screenshot(path=str(tmp_path / "stats.png"), full_page=True)
    assert (tmp_path / "stats.png").stat().st_size > 10_000
    assert errors == []
    page.close()
    unredacted = tmp_path / "clair.html"
    assert main(["stats", str(corpus["report"]), "--format", "html", "--no-redact",
                 "-o", str(unredacted)]) == 0
    assert "L2v2.xml" in unredacted.read_text(encoding="utf-8")


def test_clear_error_without_the_optional_dependencies(monkeypatch: pytest.MonkeyPatch,
                                                       corpus: dict[str, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "duckdb", None)  # import duckdb now raises ImportError
    with pytest.raises(StatsError, match=r"pip install 'cdacheck\[stats\]'"):
        compute([], StatsOptions())
    assert main(["stats", str(corpus["report"])]) == 2
    assert "cdacheck[stats]" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "dask.bag", None)
    import cdacheck.dask as cdask
    from cdacheck.pipeline import ToolError

    with pytest.raises(ToolError, match=r"cdacheck\[dask\]"):
        cdask.check_paths([str(corpus["docs"])], cdacheck.Settings(env="test"), "tcp://x:1")


def test_out_of_memory_is_a_clear_error(corpus: dict[str, Path]) -> None:
    report = cdacheck.RunReport.model_validate_json(corpus["report"].read_text(encoding="utf-8"))
    with pytest.raises(StatsError, match="mémoire insuffisante avec memory_limit=1MB"):
        compute(report.items, StatsOptions(memory_limit="1MB"))


@pytest.mark.kit
def test_kit_examples_versions_counted_once(kit_dir: Path, tmp_path: Path) -> None:
    """Kit CR-BIO examples: a structured report in two versions of one setId, and an N1."""
    from lxml import etree

    from stats_corpus import V3

    structured = kit_dir / "ExemplesCDA" / "BIO-CR-BIO_2024.01_TSH_1.xml"
    level1 = kit_dir / "ExemplesCDA" / "BIO-CR-BIO_2021.01_CDA-R2-Niveau-1.xml"
    if not (structured.is_file() and level1.is_file()):
        pytest.skip("kit CR-BIO examples not found")
    for version in (1, 2):
        tree = etree.parse(str(structured))
        cda = tree.getroot()
        cda.find(f"{V3}id").set("root", f"2.25.77{version}")
        cda.find(f"{V3}setId").set("root", "2.25.7700")
        cda.find(f"{V3}versionNumber").set("value", str(version))
        (tmp_path / f"tsh-v{version}.xml").write_bytes(etree.tostring(tree, xml_declaration=True,
                                                                       encoding="UTF-8"))
    (tmp_path / "n1.xml").write_bytes(level1.read_bytes())
    report = cdacheck.check(str(tmp_path), env="test")
    by_name = {Path(d.source).name: d for d in report.documents()}
    assert {d.indicator.candidate for d in by_name.values()} == {"DS 2.1"}
    result = compute(report.items, StatsOptions())
    total = next(r for r in result.rates if (r["indicator"], r["establishment"], r["month"])
                 == ("DS 2.1", "*", "total"))
    # v1 is superseded by v2; the N1 report counts in the denominator only
    v2_ok = by_name["tsh-v2.xml"].indicator.indicator == "DS 2.1"
    assert (total["numerator"], total["denominator"]) == (int(v2_ok), 2)
    n1 = [r for r in result.reasons if r["establishment"] == "*"
          and r["reason"] == "biologie en N1 (N3 exigé pour DS 2.1)"]
    assert n1 and n1[0]["units"] == 1
