"""Start ``cdacheck serve`` as a user would (a subprocess on 127.0.0.1, ``--port 0``) for tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    tmpdir: Path
    token: str | None = None

    def client(self, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def worker_pids(self) -> list[int]:
        """The worker processes (children running multiprocessing's spawn entry point)."""
        import psutil

        out = []
        for child in psutil.Process(self.proc.pid).children():
            cmd = " ".join(child.cmdline())
            if "spawn_main" in cmd:
                out.append(child.pid)
        return out

    def metric(self, name: str) -> float:
        with self.client() as c:
            text = c.get("/metrics").text
        total = 0.0
        for line in text.splitlines():
            if line.startswith((name + " ", name + "{")):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def start_server(tmp_path: Path, *args: str, token: str | None = None,
                 wait_workers: bool = True, timeout: float = 120) -> Server:
    """``cdacheck serve --port 0 ARGS``; returns once /readyz says every worker is warm."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "serve.log"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "cdacheck", "serve", "--port", "0", *args]
    if token is not None:
        token_file = tmp_path / "token"
        token_file.write_text(token + "\n", encoding="utf-8")
        cmd += ["--token-file", str(token_file)]
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=fh, cwd=tmp_path, env=env)
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"cdacheck serve exited {proc.returncode}: {log.read_text()}")
        m = _LISTENING.search(log.read_text(errors="replace"))
        if m:
            url = m.group(1)
            break
        time.sleep(0.05)
    assert url, f"no 'listening on' line: {log.read_text()}"
    server = Server(proc, url, log, tmpdir, token)
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url + "/readyz", timeout=2)
            body = r.json()
            if r.status_code == 200 and (not wait_workers or body["workers_ready"] == body["workers"]):
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    pytest.fail(f"server not ready in {timeout} s: {log.read_text()}")


def slow_document(entries: int = 5000) -> bytes:
    """A valid N3 biology report made large (thousands of entries): seconds to check."""
    src = (SAMPLES / "documents" / "cr-bio-n3.xml").read_text(encoding="utf-8")
    m = re.search(r"(<entry.*?</entry>)", src, re.DOTALL)
    assert m is not None
    return src.replace(m.group(1), m.group(1) * entries, 1).encode("utf-8")
