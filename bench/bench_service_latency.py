"""Where a service request's time goes: one small N1 letter checked in this process (check +
JSON report), then at once through a 1-worker ``cdacheck serve``, interleaved, one request at
a time; 50 warm-up rounds, then 350 timed ones. ``--nodelay``: TCP_NODELAY on the client.

    python bench/bench_service_latency.py [--nodelay]
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from bench_service import Served  # noqa: E402

from cdacheck.config import Settings  # noqa: E402
from cdacheck.pipeline import Runner  # noqa: E402


def main() -> None:
    if "-h" in sys.argv or "--help" in sys.argv:
        print(__doc__)
        return
    data = (ROOT / "samples" / "documents" / "ldl-ses-n1.xml").read_bytes()
    runner = Runner(Settings(env="test"))
    srv = Served("--workers", "1", "--env", "test")
    transport = (httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
                 if "--nodelay" in sys.argv else None)
    inproc: list[float] = []
    served: list[float] = []
    try:
        with httpx.Client(base_url=srv.url, timeout=60, transport=transport) as c:
            for i in range(400):
                t = time.perf_counter()
                report, _, _ = runner.check_document(data, "lettre.xml")
                report.model_dump_json()
                mid = time.perf_counter()
                assert c.post("/v1/check", content=data).status_code == 200
                end = time.perf_counter()
                if i >= 50:
                    inproc.append((mid - t) * 1000)
                    served.append((end - mid) * 1000)
    finally:
        srv.close()

    def q(values: list[float], p: float) -> float:
        return sorted(values)[int(p * (len(values) - 1))]

    print(f"in process (check + JSON): p50 {q(inproc, .5):.1f} ms, p99 {q(inproc, .99):.1f} ms")
    print(f"through the service, one request at a time: p50 {q(served, .5):.1f} ms, "
          f"p99 {q(served, .99):.1f} ms")


if __name__ == "__main__":
    main()
