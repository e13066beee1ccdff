"""A standing fuzz campaign over cdacheck (issue 10): any bytes in, a report out.

    python scripts/fuzz.py --minutes 10            # the campaign of docs/security.md
    python scripts/fuzz.py --inputs 30 --seed 1    # the short run of tests/test_fuzz.py

Inputs are mutations of the official kit's examples (``CDACHECK_KIT``, when present), of
our samples (samples/documents, samples/hostile, samples/xdm) and of archives rebuilt
with every compression method. Hypothesis drives the mutations (``st.randoms``: each
example is one seed input and a list of mutations: bytes, XML tree, prolog and encoding,
ZIP members, METADATA.XML, ZIP headers). Each input is checked by a worker subprocess,
through the real reading path (``iter_sources`` -> ``Runner.check_source``), with a
watchdog in this process. Recorded as failures, each with its input saved under ``--out``:

* an internal failure: an exception out of the pipeline, an ``INT*`` or ``XDM099``
  finding, a worker that dies (segfault, abort);
* an input that takes more than ``--max-seconds`` (30 s);
* an input during which the worker's resident memory peaks above ``--max-rss-mb`` (1 GB).

The summary (JSON on stdout) gives the number of inputs, failures, the worst time and
the worst peak RSS with the input that caused each. Exit code 1 when anything failed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
HL7 = "urn:hl7-org:v3"

# ---------------------------------------------------------------------------- mutations

HOSTILE_VALUES = [
    "", " ", "0", "-1", "7" * 5000, "٢٠٢٤٠٣١٥", "²³", "1e309", "NaN",
    "20240315143000+9959", "99991231235959-1200", "00010101000000+1400", "20241332250000",
    "\u009b2J\u009b31m", "\u202eevil", "\ufeff", "x" * 100_000, "é" * 1000, "&amp;&lt;",
    "1.2.250.1.213.1.4.10", "urn:uuid:" + "0" * 36, "../../../../etc/passwd",
    "file:///etc/passwd", "/dev/stdin", "IHE_XDM/SUBSET01/../../A.XML",
]
TOKENS = [
    b"<!DOCTYPE ClinicalDocument SYSTEM \"file:///etc/passwd\">",
    b"<!DOCTYPE a [<!ENTITY e SYSTEM \"/dev/stdin\"><!ENTITY l \"lol\">]>",
    b"&e;", b"&l;", b"<![CDATA[<!DOCTYPE x>]]>", b"<!-- <!DOCTYPE x> -->", b"\x00", b"\xff\xfe",
    b"\xef\xbb\xbf", b"<?xml version='1.0' encoding='ISO-8859-1'?>", b"]]>", b"<", b"&#0;",
    b"<x>" * 300, b"</x>" * 300, b"\xc3", b"\xe2\x80\xae", b"PK\x03\x04",
]
NAMES = ["a\ufeffb", "n" * 5000, "\u00e9l\u00e9ment", "x:y", "title", "versionNumber", "id",
         "effectiveTime", "component", "ClinicalDocument"]


def _load_seeds(kit: Path | None) -> list[tuple[str, bytes]]:
    seeds: list[tuple[str, bytes]] = []
    folders = [SAMPLES / "documents", SAMPLES / "hostile", SAMPLES / "inputs", SAMPLES / "xdm"]
    if kit is not None and (kit / "ExemplesCDA").is_dir():
        folders.append(kit / "ExemplesCDA")
    for folder in folders:
        for path in sorted(folder.glob("*")):
            if path.suffix.lower() in (".xml", ".zip") and path.is_file() and path.stat().st_size < 4_000_000:
                seeds.append((str(path.relative_to(path.parent.parent)), path.read_bytes()))
    return seeds


def _mutate_bytes(rnd: random.Random, data: bytes) -> bytes:
    if not data:
        return rnd.choice(TOKENS)
    op = rnd.randrange(6)
    i = rnd.randrange(len(data))
    j = min(len(data), i + rnd.randrange(1, 2000))
    if op == 0:
        return data[:i] + bytes([rnd.randrange(256)]) + data[i + 1:]
    if op == 1:
        return data[:i] + rnd.choice(TOKENS) + data[i:]
    if op == 2:
        return data[:i] + data[j:]
    if op == 3:
        return data[:j] + data[i:j] * rnd.randrange(1, 20) + data[j:]
    if op == 4:
        return data[:i]
    return rnd.choice(TOKENS) + data


def _mutate_tree(rnd: random.Random, data: bytes) -> bytes:
    from copy import deepcopy

    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        return _mutate_bytes(rnd, data)
    elements = [el for el in root.iter() if isinstance(el.tag, str)]
    el = rnd.choice(elements)
    op = rnd.randrange(9)
    parent = el.getparent()
    if op == 0 and parent is not None:  # repeated element (two titles, two versionNumber...)
        for _ in range(rnd.choice([1, 1, 2, 50])):
            parent.insert(parent.index(el) + 1, deepcopy(el))
    elif op == 1 and parent is not None:
        parent.remove(el)
    elif op == 2:  # a hostile value in an existing attribute (timestamps, sizes, codes...)
        with_attrs = [e for e in elements if e.attrib]
        if with_attrs:
            target = rnd.choice(with_attrs)
            key = rnd.choice(list(target.attrib))
            value = rnd.choice(HOSTILE_VALUES)
            target.set(key, value if rnd.random() < 0.7 else target.get(key, "") + value[:40])
    elif op == 3:
        value = rnd.choice(HOSTILE_VALUES)
        el.text = value
    elif op == 4:
        try:
            el.tag = etree.QName(etree.QName(el).namespace, rnd.choice(NAMES)).text
        except ValueError:
            pass
    elif op == 5:  # deep nesting below this element
        node = el
        for _ in range(rnd.choice([50, 200, 1500])):
            node = etree.SubElement(node, f"{{{HL7}}}x")
    elif op == 6:
        el.append(etree.Comment(" <!DOCTYPE x> "))
    elif op == 7 and parent is not None:  # move an element elsewhere
        target = rnd.choice(elements)
        if target is not el and el not in target.iterancestors() and target is not el.getparent():
            try:
                target.append(el)
            except ValueError:
                pass
    else:
        el.set(rnd.choice(["value", "code", "root", "extension", "nullFlavor", "mediaType"]),
               rnd.choice(HOSTILE_VALUES))
    try:
        return etree.tostring(root.getroottree(), xml_declaration=rnd.random() < 0.7, encoding="UTF-8")
    except (ValueError, etree.SerialisationError):
        return data


def _mutate_encoding(rnd: random.Random, data: bytes) -> bytes:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _mutate_bytes(rnd, data)
    codec = rnd.choice(["utf-16-le", "utf-16-be", "utf-32-le", "utf-16", "utf-32", "latin-1", "utf-8-sig"])
    out = text.encode(codec, "replace")
    if rnd.random() < 0.3:
        out = out.replace(b"?>", b" " * rnd.choice([100, 300, 5000]) + b"?>", 1)
    return out


def _rezip(rnd: random.Random, data: bytes, mutate_member: bool) -> bytes:
    try:
        src = zipfile.ZipFile(io.BytesIO(data))
        members = [(i.filename, src.read(i)) for i in src.infolist()]
    except Exception:  # noqa: BLE001 - not a readable ZIP: mutate its bytes
        return _mutate_bytes(rnd, data)
    if mutate_member and members:
        k = rnd.randrange(len(members))
        name, payload = members[k]
        members[k] = (name, mutate(rnd, payload, depth=1))
    op = rnd.randrange(8)
    if op == 0:
        members.append(("IHE_XDM/SUBSET01/CDA.XSL", b'<xsl:stylesheet version="1.0" '
                        b'xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:n1="urn:hl7-org:v3">'
                        b'<xsl:template match="n1:ClinicalDocument"/></xsl:stylesheet>'))
    elif op == 1 and members:
        members.append(rnd.choice(members))  # duplicate name
    elif op == 2:
        members.append(("IHE_XDM/SUBSET01/RE\u0301SUME\u0301.TXT", b"x"))
        members.append(("IHE_XDM/SUBSET01/R\u00c9SUM\u00c9.TXT", b"y"))
    elif op == 3:
        members.append((rnd.choice(["../evil.xml", "/abs.xml", "C:/x.xml", "a\x1b[2J.xml", ""]), b"<a/>"))
    elif op == 4:
        members.append(("IHE_XDM/SUBSET01/BOMB.XML", b"\0" * rnd.choice([1 << 20, 8 << 20])))
    elif op == 5:
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w") as zf:
            zf.writestr("A.XML", b"<a/>")
        members.append(("IHE_XDM/SUBSET01/INNER.ZIP", inner.getvalue()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for name, payload in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = rnd.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED,
                                             zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
            try:
                out.writestr(info, payload)
            except (ValueError, OSError):
                continue
    result = bytearray(buf.getvalue())
    if rnd.random() < 0.3:  # lie about sizes in the local or central headers
        for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            pos = result.find(sig, rnd.randrange(max(1, len(result) // 2)))
            if pos >= 0 and pos + off + 4 <= len(result):
                result[pos + off:pos + off + 4] = rnd.choice([0, 1, 1000, 0xFFFFFFFF]).to_bytes(4, "little")
    return bytes(result)


def mutate(rnd: random.Random, data: bytes, depth: int = 0) -> bytes:
    """One to four mutations of ``data`` (a document or an archive)."""
    for _ in range(rnd.randrange(1, 5)):
        if data.startswith(b"PK") and depth == 0:
            data = _rezip(rnd, data, mutate_member=rnd.random() < 0.8) if rnd.random() < 0.85 \
                else _mutate_bytes(rnd, data)
            continue
        choice = rnd.random()
        if choice < 0.55:
            data = _mutate_tree(rnd, data)
        elif choice < 0.85:
            data = _mutate_bytes(rnd, data)
        else:
            data = _mutate_encoding(rnd, data)
    return data


# ------------------------------------------------------------------------------- worker

def _rss_mb(field_name: str) -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current RSS (Linux 4.0+)
    except OSError:
        pass


def worker() -> int:
    """Read input paths on stdin, answer one JSON line per input on stdout."""
    sys.path.insert(0, str(ROOT))
    from cdacheck.config import Settings
    from cdacheck.inputs.sources import iter_sources
    from cdacheck.model import ArchiveReport
    from cdacheck.pipeline import Runner

    settings = Settings(env="test")
    runner = Runner(settings)
    out = sys.stdout
    for line in sys.stdin:
        path = line.rstrip("\n")
        _reset_peak()
        start = time.perf_counter()
        result: dict[str, Any] = {"path": path}
        try:
            internal = []
            for src in iter_sources([path], settings.max_bytes, stdin=io.BytesIO()):
                item = runner.check_source(src)
                docs = item.documents if isinstance(item, ArchiveReport) else [item]
                for f in [*item.findings, *(f for d in docs if d is not item for f in d.findings)]:
                    if f.rule_id.startswith("INT") or f.rule_id == "XDM099":
                        internal.append(f"{f.rule_id}: {f.message[:300]}")
            result["internal"] = internal
        except Exception as exc:  # noqa: BLE001 - this is what the campaign looks for
            result["internal"] = [f"exception {type(exc).__name__}: {exc}"[:500],
                                  traceback.format_exc()[-2000:]]
        result["seconds"] = round(time.perf_counter() - start, 3)
        result["rss_mb"] = round(_rss_mb("VmHWM"), 1)
        out.write(json.dumps(result) + "\n")
        out.flush()
    return 0


# ------------------------------------------------------------------------------- driver

@dataclass
class Campaign:
    out: Path
    max_seconds: float
    max_rss_mb: float
    inputs: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    worst_time: tuple[float, str] = (0.0, "")
    worst_rss: tuple[float, str] = (0.0, "")
    kinds: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
        return self.proc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _fail(self, kind: str, data: bytes, seed: str, detail: Any) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        n = len(self.failures) + 1
        suffix = ".zip" if data.startswith(b"PK") else ".xml"
        path = self.out / f"failure-{n:03}-{kind}{suffix}"
        path.write_bytes(data)
        record = {"kind": kind, "seed": seed, "input": str(path), "detail": detail}
        path.with_suffix(".json").write_text(json.dumps(record, ensure_ascii=False, indent=2))
        self.failures.append(record)

    def run_one(self, data: bytes, seed: str, tmp: Path) -> None:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        path = tmp / ("input.zip" if data.startswith(b"PK") else "input.xml")
        path.write_bytes(data)
        kind = "zip" if data.startswith(b"PK") else "xml"
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self.inputs += 1
        start = time.perf_counter()
        proc.stdin.write(str(path) + "\n")
        proc.stdin.flush()
        # The watchdog: a worker that answers nothing in twice the time cap has hung.
        ready, _, _ = select.select([proc.stdout], [], [], self.max_seconds * 2 + 30)
        line = proc.stdout.readline() if ready else ""
        elapsed = time.perf_counter() - start
        if not line:
            hung = proc.poll() is None
            proc.kill()
            proc.wait()
            self.proc = None
            self._fail("hang" if hung else "worker-died", data, seed,
                       {"seconds": round(elapsed, 1), "returncode": proc.returncode})
            return
        result = json.loads(line)
        seconds, rss = float(result["seconds"]), float(result["rss_mb"])
        if seconds > self.worst_time[0]:
            self.worst_time = (seconds, seed)
        if rss > self.worst_rss[0]:
            self.worst_rss = (rss, seed)
        if result["internal"]:
            self._fail("internal", data, seed, result["internal"])
        if seconds > self.max_seconds:
            self._fail("slow", data, seed, {"seconds": seconds})
        if rss > self.max_rss_mb:
            self._fail("memory", data, seed, {"rss_mb": rss})
            self.stop()
            self.proc = None

    def summary(self, seconds: float) -> dict[str, Any]:
        return {"inputs": self.inputs, "by_kind": self.kinds, "failures": len(self.failures),
                "failure_kinds": sorted({f["kind"] for f in self.failures}),
                "worst_seconds": self.worst_time[0], "worst_seconds_input": self.worst_time[1],
                "worst_rss_mb": self.worst_rss[0], "worst_rss_input": self.worst_rss[1],
                "duration_s": round(seconds, 1), "out": str(self.out)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--inputs", type=int, default=None,
                        help="stop after this many inputs (without --minutes/--seconds: no time "
                             "budget, so that a short run does the same work on a loaded machine)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (reproducible runs)")
    parser.add_argument("--out", type=Path, default=None, help="where failing inputs are saved")
    parser.add_argument("--max-seconds", type=float, default=30.0)
    parser.add_argument("--max-rss-mb", type=float, default=1024.0)
    parser.add_argument("--kit", type=Path, default=None, help="the ANS kit (default CDACHECK_KIT)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker()

    import warnings

    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st

    warnings.filterwarnings("ignore")  # zipfile's "Duplicate name" while building inputs

    budget = (args.minutes or 0) * 60 + (args.seconds or 0) or (float("inf") if args.inputs else 60.0)
    wanted = args.inputs if args.inputs is not None else float("inf")
    kit_env = os.environ.get("CDACHECK_KIT")
    kit = args.kit or (Path(kit_env) if kit_env else ROOT.parent / "shared" / "cisis-kit")
    seeds = _load_seeds(kit if kit.is_dir() else None)
    archives = [s for s in seeds if s[1].startswith(b"PK")]
    documents = [s for s in seeds if not s[1].startswith(b"PK")]
    out = args.out or Path(tempfile.mkdtemp(prefix="cdacheck-fuzz-"))
    campaign = Campaign(out=out, max_seconds=args.max_seconds, max_rss_mb=args.max_rss_mb)
    deadline = time.monotonic() + budget
    begin = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="cdacheck-fuzz-in-") as tmp:

        @settings(max_examples=25, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(st.integers(min_value=0, max_value=9), st.integers(min_value=0, max_value=10**6),
               st.randoms(use_true_random=False))
        def one(pick: int, index: int, rnd: random.Random) -> None:
            # Always draw the same way (hypothesis checks that generation is deterministic);
            # only the check itself is skipped once the time is up. Three inputs in ten
            # are archives.
            pool = archives if pick < 3 and archives else documents
            name, data = pool[index % len(pool)]
            try:
                mutated = mutate(rnd, data)
            except Exception as exc:  # noqa: BLE001 - a mutator bug is not a cdacheck failure
                print(f"mutator error on {name}: {exc!r}", file=sys.stderr)
                return
            if time.monotonic() < deadline and campaign.inputs < wanted:
                campaign.run_one(mutated, name, Path(tmp))

        rounds = 0
        try:
            while time.monotonic() < deadline and campaign.inputs < wanted:  # rounds of 25 (a new seed each)
                (seed(args.seed + rounds)(one) if args.seed is not None else one)()
                rounds += 1
        finally:
            campaign.stop()
    report = campaign.summary(time.monotonic() - begin)
    report["seeds"] = len(seeds)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 1 if campaign.failures else 0


if __name__ == "__main__":
    sys.exit(main())
