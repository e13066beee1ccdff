"""Prometheus metrics of the service: requests, latency, verdicts, indicators, queue depth.

One :class:`Metrics` per application, each with its own registry (several apps in one test
process never share counters).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Latency buckets: from a warm N1 document (a few ms) to kit mode on a large one (seconds).
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The service's counters and gauges, in a registry of their own."""

    def __init__(self, queue_depth: Callable[[], float], in_flight: Callable[[], float],
                 workers_ready: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("cdacheck_requests", "HTTP requests answered, by route and status.",
                                ["route", "status"], registry=r)
        self.latency = Histogram("cdacheck_request_duration_seconds",
                                 "Time to answer POST /v1/check, arrival to response.",
                                 buckets=_BUCKETS, registry=r)
        self.verdicts = Counter("cdacheck_verdicts", "Checked inputs by verdict (pass or fail).",
                                ["verdict"], registry=r)
        self.indicators = Counter("cdacheck_indicators", "Checked documents by Ségur indicator.",
                                  ["indicator"], registry=r)
        self.worker_restarts = Counter("cdacheck_worker_restarts",
                                       "Worker processes replaced (died, killed or timed out).",
                                       ["reason"], registry=r)
        self.disconnects = Counter("cdacheck_client_disconnects",
                                   "Requests whose client went away before the answer.", registry=r)
        Gauge("cdacheck_queue_depth", "Requests waiting for a worker.",
              registry=r).set_function(queue_depth)
        Gauge("cdacheck_in_flight", "Requests being checked by a worker.",
              registry=r).set_function(in_flight)
        Gauge("cdacheck_workers_ready", "Worker processes warm and able to check.",
              registry=r).set_function(workers_ready)

    def render(self) -> bytes:
        return generate_latest(self.registry)
