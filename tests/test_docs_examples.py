"""Every shell and Python example of README.md and docs/*.md runs, against the samples.

Examples are fenced blocks tagged ``sh``, ``bash``, ``shell`` or ``python``. They run in a
scratch folder that holds links to the repository's ``samples/`` (so ``cdacheck samples/...``
works and nothing is written into the repository), with the test's Python environment first
on PATH. A shell block runs line by line (``\\`` continuations joined, comments dropped); a
line must exit 0 or 1 (1 = findings, the samples include defective documents on purpose) and
never print a traceback. An HTML comment just before a block changes that:

* ``<!-- example: exit N -->``: the block's commands must exit N;
* ``<!-- example: skip REASON -->``: not run (installs, long-running servers, other
  machines), and the reason is mandatory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"(?:<!--\s*example:\s*(?P<directive>[^>]*?)\s*-->\s*\n)?"
                   r"^```(?P<lang>[A-Za-z0-9_-]*)[^\n]*\n(?P<body>.*?)^```", re.M | re.S)
SHELL = {"sh", "bash", "shell", "console"}
PYTHON = {"python", "py"}


@dataclass(frozen=True)
class Example:
    file: str
    line: int
    lang: str
    body: str
    directive: str

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def _examples() -> list[Example]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    out = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            lang = m.group("lang").lower()
            if lang not in SHELL | PYTHON:
                continue
            line = text.count("\n", 0, m.start("lang")) + 1
            out.append(Example(str(path.relative_to(ROOT)), line, lang, m.group("body"),
                               (m.group("directive") or "").strip()))
    return out


def _commands(body: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", body)
    out = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not line or line.startswith("#"):
            continue
        out.append(line)
    return out


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("examples")
    (where / "samples").symlink_to(ROOT / "samples", target_is_directory=True)
    return where


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("CDACHECK_CONFIG", None)
    env["NO_COLOR"] = "1"
    return env


EXAMPLES = _examples()


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 3
    bad = [e.id for e in EXAMPLES if e.directive.startswith("skip") and len(e.directive) < 10]
    assert not bad, f"a skipped example must say why: {bad}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.id)
def test_example_runs(example: Example, scratch: Path) -> None:
    if example.directive.startswith("skip"):
        pytest.skip(example.directive)
    m = re.match(r"exit\s+(\d+)", example.directive)
    allowed = {int(m.group(1))} if m else {0, 1}
    if example.lang in PYTHON:
        runs = [[sys.executable, "-c", example.body]]
        shells = [example.body[:200]]
    else:
        shells = _commands(example.body)
        runs = [["bash", "-c", "set -o pipefail; " + cmd] for cmd in shells]
    for argv, shown in zip(runs, shells):
        proc = subprocess.run(argv, cwd=scratch, env=_env(), capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL)
        assert "Traceback" not in proc.stderr, f"{example.id}: {shown}\n{proc.stderr[-2000:]}"
        assert proc.returncode in allowed, (f"{example.id}: `{shown}` exited {proc.returncode}, "
                                            f"expected {sorted(allowed)}\n{proc.stderr[-2000:]}")
