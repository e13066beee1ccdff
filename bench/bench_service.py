"""Benchmark: the warm service (``cdacheck serve``) side by side with a process per document.

    python bench/bench_service.py [--duration 15] [--rate 20] [--concurrency 8]
                                  [--rss-requests 20000] [--kit] [--kit-docs 20]
                                  [--client raw|httpx] [--only cold closed open rss]

Documents: the official kit's 94 examples (CDACHECK_KIT, default ../shared/cisis-kit),
split into N1 and N3 by cdacheck's own detection, and our own valid N1 samples. The server is started as a user starts
it (``python -m cdacheck serve --port 0 --workers W --env test``) on 127.0.0.1; the load
generator is an asyncio client in this process, bounded in time and count: hand-written
HTTP/1.1 keep-alive connections by default (about 0.5 ms of CPU per request), httpx's
AsyncClient with ``--client httpx`` (about 5 ms). Each row also gives the CPU per request
of the server process, its workers and the load generator.

* process per document: ``python -m cdacheck --env test DOC`` for a few N1 documents;
* closed loop: ``--concurrency`` clients send N1 (then N3) documents back to back for
  ``--duration`` seconds, at 1 and 2 workers: throughput, p50, p99;
* open loop: N1 documents at ``--rate`` requests/s for ``--duration`` s: p50, p99
  (target: p99 < 50 ms at 20 requests/s on 2 cores);
* RSS growth over ``--rss-requests`` requests of our 55 samples, valid and invalid (server
  and workers, after 500 warm-up requests; target < 10 % over 20,000);
* ``--kit``: kit mode, per-document latency in the service (1 worker, sequential requests)
  against the same documents checked in this process by a warm ``cdacheck.Validator``
  (target: within 1.3x).

The client shares the two cores with the server: read throughput figures with that in mind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE_N1 = ("ldl-ses-n1", "ordonnance-n1", "cro-n1", "cr-img-n1", "cr-bio-n1")
_LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def kit_dir() -> Path:
    return Path(os.environ.get("CDACHECK_KIT", ROOT.parent / "shared" / "cisis-kit"))


def corpus() -> dict[str, list[tuple[Path, bytes]]]:
    from cdacheck.detect import detect
    from cdacheck.facts import extract_facts
    from cdacheck.inputs.xml import parse_document

    out: dict[str, list[tuple[Path, bytes]]] = {"N1": [], "N3": []}
    for path in sorted((kit_dir() / "ExemplesCDA").glob("*.xml")):
        data = path.read_bytes()
        doc, _ = parse_document(data, str(path))
        if doc is None:
            continue
        level = detect(extract_facts(doc)).level
        if level in out:
            out[level].append((path, data))
    # Our own valid N1 samples too: small documents, as most N1 letters are (the kit's four N1
    # examples carry PDFs of 100-450 kB that pypdf opens).
    out["samples-N1"] = [(p, p.read_bytes()) for p in
                         sorted((ROOT / "samples" / "documents").glob("*-n1.xml"))
                         if p.stem in SAMPLE_N1]
    out["samples"] = [(p, p.read_bytes()) for p in sorted((ROOT / "samples" / "documents").glob("*.xml"))]
    return out


class Served:
    """``cdacheck serve`` in a subprocess."""

    def __init__(self, *args: str, timeout: float = 900) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="cdacheck-serve-")
        self.log = Path(self.tmp.name) / "serve.log"
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "cdacheck", "serve", "--port", "0",
                                          "--log-level", "warning", *args], stderr=fh,
                                         stdout=subprocess.DEVNULL, cwd=ROOT)
        deadline = time.monotonic() + timeout
        self.url = ""
        while time.monotonic() < deadline and not self.url:
            m = _LISTENING.search(self.log.read_text(errors="replace"))
            self.url = m.group(1) if m else ""
            time.sleep(0.1)
        self.started = time.monotonic()
        while time.monotonic() < deadline:
            try:
                body = httpx.get(self.url + "/readyz", timeout=5).json()
                if body["workers_ready"] == body["workers"]:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"server not ready: {self.log.read_text()}")
        self.ready_s = time.monotonic() - self.started

    def cpu(self) -> tuple[float, float, float]:
        """CPU seconds (user + system) so far: the server process, its workers, this process."""
        ps = psutil.Process(self.proc.pid)
        workers = 0.0
        for child in ps.children(recursive=True):
            try:
                workers += sum(child.cpu_times()[:2])
            except psutil.Error:
                pass
        return sum(ps.cpu_times()[:2]), workers, sum(psutil.Process().cpu_times()[:2])

    def rss(self) -> int:
        ps = psutil.Process(self.proc.pid)
        return sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.tmp.cleanup()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


class RawConnection:
    """One keep-alive HTTP/1.1 connection, written by hand: the load generator shares the two
    cores with the server, and httpx's asyncio client costs about 3 ms of CPU per request
    (measured), a third of a small N1's check; this one costs a small fraction of that."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        """POST ``body``; the status code once the whole answer is read."""
        if self.writer is None:  # asyncio sets TCP_NODELAY on the connections it opens
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/xml\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (path.encode(), self.host.encode(),
                                                             len(body), body))
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            headers = dict(line.split(b":", 1) for line in lines[1:] if b":" in line)
            fields = {k.strip().lower(): v.strip().lower() for k, v in headers.items()}
            await self.reader.readexactly(int(fields.get(b"content-length", b"0")))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
            self.close()
            raise
        if fields.get(b"connection") == b"close":
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


class Load:
    """The load generator's clients: ``raw`` (RawConnection, default) or ``httpx``."""

    def __init__(self, url: str, client: str, connections: int) -> None:
        self.url, self.kind = url, client
        self.idle: list[RawConnection] = []
        self.httpx: httpx.AsyncClient | None = None
        if client == "httpx":
            self.httpx = httpx.AsyncClient(base_url=url, timeout=120,
                                           limits=httpx.Limits(max_connections=connections))

    async def post(self, body: bytes) -> int:
        """The status code; raises OSError (or httpx.HTTPError) on a transport error."""
        if self.httpx is not None:
            return (await self.httpx.post("/v1/check", content=body)).status_code
        conn = self.idle.pop() if self.idle else RawConnection(*_host_port(self.url))
        try:
            status = await asyncio.wait_for(conn.post("/v1/check", body), 120)
        except BaseException:
            conn.close()
            raise
        self.idle.append(conn)
        return status

    async def aclose(self) -> None:
        for conn in self.idle:
            conn.close()
        if self.httpx is not None:
            await self.httpx.aclose()


_TRANSPORT_ERRORS = (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError,
                     httpx.HTTPError)


async def closed_loop(url: str, docs: list[bytes], concurrency: int, duration: float,
                      max_requests: int | None = None, client: str = "raw") -> dict[str, float]:
    lat: list[float] = []
    errors = 0
    stop = time.monotonic() + duration
    sent = 0
    load = Load(url, client, concurrency)

    async def one(i: int) -> None:
        nonlocal errors, sent
        k = i
        while time.monotonic() < stop and (max_requests is None or sent < max_requests):
            sent += 1
            t0 = time.perf_counter()
            k += concurrency
            try:
                status = await load.post(docs[k % len(docs)])
            except _TRANSPORT_ERRORS:
                errors += 1
                continue
            lat.append(time.perf_counter() - t0)
            errors += status != 200

    try:
        start = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(concurrency)))
        elapsed = time.monotonic() - start
    finally:
        await load.aclose()
    return {"rps": len(lat) / elapsed, "p50": pct(lat, 0.5) * 1000, "p99": pct(lat, 0.99) * 1000,
            "n": len(lat), "errors": errors}


async def open_loop(url: str, docs: list[bytes], rate: float, duration: float,
                    client: str = "raw") -> dict[str, float]:
    lat: list[float] = []
    errors = 0
    load = Load(url, client, 1000)  # open loop: never wait for a connection

    async def one(data: bytes) -> None:
        nonlocal errors
        t0 = time.perf_counter()
        try:
            status = await load.post(data)
        except _TRANSPORT_ERRORS:
            errors += 1
            return
        lat.append(time.perf_counter() - t0)
        errors += status != 200

    tasks = []
    try:
        start = time.monotonic()
        n = int(rate * duration)
        for i in range(n):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(docs[i % len(docs)])))
        await asyncio.gather(*tasks)
    finally:
        await load.aclose()
    return {"rps": rate, "p50": pct(lat, 0.5) * 1000, "p99": pct(lat, 0.99) * 1000,
            "n": len(lat), "errors": errors}


def process_per_document(docs: list[tuple[Path, bytes]], count: int) -> list[float]:
    out = []
    for path, _ in docs[:count]:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cdacheck", "--env", "test", str(path)],
                       capture_output=True, cwd=ROOT, check=False)
        out.append(time.perf_counter() - t0)
    return out


def kit_compare(docs: list[tuple[Path, bytes]]) -> None:
    """Kit mode in this process vs in a 1-worker service, interleaved document by document
    (in process, then the same document through the service) so that a change of machine
    load hits both sides alike; one warm-up pass, then two timed passes."""
    import cdacheck

    print(f"\nkit mode, {len(docs)} documents, one warm-up pass then two timed passes, interleaved")
    t0 = time.perf_counter()
    v = cdacheck.Validator(env="test", kit=kit_dir())
    build = time.perf_counter() - t0
    srv = Served("--workers", "1", "--env", "test", "--kit", str(kit_dir()), "--timeout", "300")
    inproc: list[float] = []
    served: list[float] = []
    try:
        with httpx.Client(base_url=srv.url, timeout=300) as c:
            for rep in range(3):
                for _, data in docs:
                    t = time.perf_counter()
                    v.check(data)
                    mid = time.perf_counter()
                    r = c.post("/v1/check", content=data)
                    end = time.perf_counter()
                    assert r.status_code == 200, r.text[:200]
                    if rep:
                        inproc.append(mid - t)
                        served.append(end - mid)
    finally:
        srv.close()
    a, b = statistics.median(inproc) * 1000, statistics.median(served) * 1000
    print(f"| kit mode, per document (median) | in process {a:.0f} ms | in the service {b:.0f} ms "
          f"| ratio {b / a:.2f} | in-process set-up {build:.1f} s | service ready in {srv.ready_s:.1f} s |")
    print(f"| kit mode, sum over the documents | in process {sum(inproc):.1f} s | in the service "
          f"{sum(served):.1f} s | ratio {sum(served) / sum(inproc):.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rss-requests", type=int, default=20_000)
    ap.add_argument("--cold", type=int, default=5, help="documents for the process-per-document figure")
    ap.add_argument("--kit", action="store_true", help="also compare kit mode")
    ap.add_argument("--kit-docs", type=int, default=20)
    ap.add_argument("--kit-only", action="store_true", help="only the kit-mode comparison")
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw",
                    help="load generator: hand-written HTTP/1.1 (default, cheap) or httpx's AsyncClient")
    ap.add_argument("--only", nargs="*", default=[], metavar="PART",
                    help="run only these parts: cold, closed, open, rss (default: all)")
    args = ap.parse_args()
    # SIGTERM (a time bound): leave through the finally clauses, which stop the servers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    docs = corpus()
    print(f"kit examples: N1 {len(docs['N1'])}, N3 {len(docs['N3'])}; cores "
          f"{len(os.sched_getaffinity(0))}; load average at start {os.getloadavg()[0]:.1f}")
    if args.kit_only:
        kit_compare((docs["N1"] + docs["N3"])[: args.kit_docs])
        return

    parts = set(args.only or ("cold", "closed", "open", "rss"))
    if "cold" in parts:
        cold = process_per_document(docs["N1"], args.cold)
        print(f"\n| process per document (N1, python -m cdacheck) | median {statistics.median(cold):.2f} s "
              f"| {1 / statistics.median(cold):.1f} docs/s |")

    print(f"\nload generator: {args.client}; CPU per request in ms: server process (event loop), "
          "workers (sum), load generator (this process)")
    print("\n| workers | load | documents | throughput | p50 | p99 | requests | errors "
          "| CPU server | CPU workers | CPU client | load avg |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rps: dict[tuple[str, int], float] = {}
    for workers in (1, 2):
        if not parts & {"closed", "open"} and not (workers == 2 and "rss" in parts):
            continue
        srv = Served("--workers", str(workers), "--env", "test", "--queue", "256")
        try:
            runs = []
            if "closed" in parts:
                runs += [(level, "closed") for level in ("N1", "N3", "samples-N1")]
            if "open" in parts:
                runs += [(level, "open") for level in ("N1", "samples-N1")]
            for level, loop in runs:
                data = [d for _, d in docs[level]]
                before, load_avg = srv.cpu(), os.getloadavg()[0]
                if loop == "closed":
                    r = asyncio.run(closed_loop(srv.url, data, args.concurrency, args.duration,
                                                client=args.client))
                    rps[(level, workers)] = r["rps"]
                    what, rate = f"closed loop x{args.concurrency}", f"{r['rps']:.1f} req/s"
                else:
                    r = asyncio.run(open_loop(srv.url, data, args.rate, args.duration,
                                              client=args.client))
                    what, rate = f"open loop {args.rate:g} req/s", f"{r['rps']:.0f} req/s"
                cpu = [(b - a) * 1000 / max(1, r["n"]) for a, b in zip(before, srv.cpu())]
                print(f"| {workers} | {what} | {level} | {rate} | {r['p50']:.1f} ms | {r['p99']:.1f} ms "
                      f"| {r['n']:.0f} | {r['errors']:.0f} | {cpu[0]:.2f} | {cpu[1]:.2f} | {cpu[2]:.2f} "
                      f"| {load_avg:.2f} |", flush=True)
            if workers == 2 and args.rss_requests and "rss" in parts:
                mixed = [d for _, d in docs["samples"]]  # valid and invalid, fast enough to count
                asyncio.run(closed_loop(srv.url, mixed, args.concurrency, 1e9, max_requests=500,
                                        client=args.client))
                before = srv.rss()
                t0 = time.monotonic()
                r = asyncio.run(closed_loop(srv.url, mixed, args.concurrency, 1e9,
                                            max_requests=args.rss_requests, client=args.client))
                after = srv.rss()
                print(f"\nRSS (server + workers) after 500 warm-up requests {before / 2**20:.0f} MB, "
                      f"after {r['n']:.0f} more {after / 2**20:.0f} MB: growth "
                      f"{(after - before) / before * 100:+.1f} % ({time.monotonic() - t0:.0f} s, "
                      f"{r['errors']:.0f} errors)", flush=True)
        finally:
            srv.close()
    for level in ("N1", "N3", "samples-N1"):
        if (level, 1) in rps and (level, 2) in rps:
            print(f"\n{level} closed-loop throughput, 2 workers / 1 worker: "
                  f"{rps[(level, 2)] / rps[(level, 1)]:.2f}x")
    if args.kit:
        kit_compare((docs["N1"] + docs["N3"])[: args.kit_docs])
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
