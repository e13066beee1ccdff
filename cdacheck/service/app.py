"""The HTTP application (Starlette): routes, limits, authentication, metrics, logging.

``POST /v1/check`` takes a CDA document or an IHE XDM archive as its body and answers the
same report as ``cdacheck --format json``, with ``verdict``, ``valid``, ``indicator`` and
``indicators`` on top; HTTP 200 whether the document is valid or not. Errors are JSON
``{"error": code, "message": French text}``. No document is written anywhere: the log
line of a request carries a SHA-256 prefix, the size and the verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cdacheck.config import Settings
from cdacheck.model import Severity
from cdacheck.service.metrics import CONTENT_TYPE, Metrics
from cdacheck.service.openapi import openapi_document
from cdacheck.service.workers import ENVS, Outcome, PoolFull, WorkerPool
from cdacheck.service.workers import Request as CheckRequest

log = logging.getLogger("cdacheck.serve")

_FORMATS = ("json", "text", "sarif")
_PARAMS = {"env": ENVS, "fail_on": tuple(s.value for s in Severity), "format": _FORMATS}
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class ServiceConfig:
    """Everything ``cdacheck serve`` was told (settings of the checks and service limits)."""

    settings: Settings
    workers: int = 2
    queue_size: int = 64
    timeout: float = 60.0         # per request, arrival to answer
    read_timeout: float = 15.0    # to receive the whole request (slow clients)
    max_body: int = 64 * 1024 * 1024
    token: str | None = None
    warm_timeout: float = 600.0


def body_kind(data: bytes, content_type: str = "") -> str | None:
    """``zip``, ``xml`` or None (not a document). The content decides; the type is a hint."""
    if data.startswith(_ZIP_MAGIC):
        return "zip"
    head = data[:4096]
    for bom in _BOMS:
        if head.startswith(bom):
            return "xml"  # the parser decodes (or reports) the encoding
    if head.lstrip(b" \t\r\n").startswith(b"<"):
        return "xml"
    del content_type  # a body that is neither ZIP nor XML is refused whatever its type says
    return None


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


class Service:
    """State of one running service: its worker pool, metrics and limits."""

    def __init__(self, config: ServiceConfig, on_fatal: Callable[[str], None] = lambda m: None) -> None:
        self.config = config
        self.pool = WorkerPool(config.settings, config.workers, config.queue_size,
                               warm_timeout=config.warm_timeout,
                               on_restart=self._restarted, on_fatal=on_fatal)
        self.metrics = Metrics(queue_depth=lambda: self.pool.queue_depth,
                               in_flight=lambda: self.pool.busy,
                               workers_ready=lambda: self.pool.ready_count)
        self.latency_ewma = 0.05

    def _restarted(self, reason: str) -> None:
        self.metrics.worker_restarts.labels(reason).inc()

    # ------------------------------------------------------------------ helpers

    def _authorized(self, request: Request) -> bool:
        if self.config.token is None:
            return True
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(),
                                                                  self.config.token.encode())

    def _retry_after(self) -> str:
        waiting = self.pool.queue_depth + self.pool.busy
        return str(max(1, math.ceil(self.latency_ewma * waiting / max(1, self.pool.size))))

    def _count(self, route: str, response: Response) -> Response:
        self.metrics.requests.labels(route, str(response.status_code)).inc()
        return response

    # ------------------------------------------------------------------ routes

    async def healthz(self, request: Request) -> Response:
        return self._count("/healthz", JSONResponse({"status": "ok"}))

    async def readyz(self, request: Request) -> Response:
        ready = self.pool.ready_count
        body: dict[str, Any] = {"ready": ready > 0 and self.pool.fatal is None,
                                "workers_ready": ready, "workers": self.pool.size,
                                "kit": self.config.settings.kit is not None}
        if self.pool.fatal:
            body["error"] = self.pool.fatal
        status = 200 if body["ready"] else 503
        return self._count("/readyz", JSONResponse(body, status_code=status))

    async def rules(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._count("/v1/rules", self._unauthorized())
        from cdacheck.registry import load_all

        return self._count("/v1/rules", JSONResponse([r.as_dict() for r in load_all()]))

    async def metrics_route(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._count("/metrics", self._unauthorized())
        self.metrics.requests.labels("/metrics", "200").inc()
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    async def openapi(self, request: Request) -> Response:
        return self._count("/openapi.json", JSONResponse(openapi_document()))

    def _unauthorized(self) -> Response:
        return _error(401, "unauthorized", "jeton d'accès absent ou invalide (Authorization: Bearer ...)",
                      {"WWW-Authenticate": 'Bearer realm="cdacheck"'})

    async def check(self, request: Request) -> Response:
        start = time.monotonic()
        response, digest, meta = await self._check(request, start)
        elapsed = time.monotonic() - start
        self._count("/v1/check", response)
        self.metrics.latency.observe(elapsed)
        log.info("check sha256=%s status=%d verdict=%s indicator=%s ms=%.1f",
                 digest.hexdigest() if digest is not None else "-",
                 response.status_code, meta.get("verdict", "-"), meta.get("indicator", "-"),
                 elapsed * 1000)
        return response

    async def _check(self, request: Request, start: float) -> tuple[Response, _Digest | None, dict[str, Any]]:
        if not self._authorized(request):
            return self._unauthorized(), None, {}
        params, problem = self._params(request)
        if problem is not None:
            return problem, None, {}
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.config.max_body:
            return self._too_large(), None, {}
        try:
            data = await self._read_body(request)
        except ClientDisconnect:
            self.metrics.disconnects.inc()
            return Response(status_code=499), None, {"verdict": "client-disconnected"}
        except _TooLarge:
            return self._too_large(), None, {}
        except TimeoutError:
            return _error(408, "request-timeout",
                          f"corps de requête non reçu en {self.config.read_timeout:g} s",
                          {"Connection": "close"}), None, {}
        # The log's hash of a document is computed by its worker (about 1 ms for a 400 kB
        # body, off the event loop); here only for the answers given without a worker.
        digest = _Digest(data)
        kind = body_kind(data, request.headers.get("content-type", ""))
        if kind is None:
            what = "corps vide" if not data.strip() else "ni un document XML ni une archive ZIP"
            return _error(400, "not-a-document",
                          f"le corps de la requête n'est pas un document CDA ni une archive XDM ({what})"), digest, {}
        if self.pool.fatal:
            return _error(503, "unavailable", f"service indisponible : {self.pool.fatal}"), digest, {}
        if self.pool.ready_count == 0:
            return _error(503, "not-ready", "service en cours de démarrage (voir /readyz)",
                          {"Retry-After": "5"}), digest, {}
        job_req = CheckRequest(data=data, kind=kind, env=params.get("env"),
                               fail_on=params.get("fail_on"), fmt=params.get("format", "json"))
        remaining = self.config.timeout - (time.monotonic() - start)
        try:
            job = self.pool.submit(job_req, remaining)
        except PoolFull:
            return _error(503, "queue-full", "file d'attente pleine ; réessayez plus tard",
                          {"Retry-After": self._retry_after()}), digest, {}
        outcome = await self._await(job.future, request, remaining)
        if outcome is None:  # the client went away: nothing to answer
            self.metrics.disconnects.inc()
            return Response(status_code=499), digest, {"verdict": "client-disconnected"}
        meta = dict(outcome.meta)
        digest.value = meta.pop("sha256", None)
        return self._answer(outcome, job_req.fmt, time.monotonic() - start), digest, meta

    def _params(self, request: Request) -> tuple[dict[str, str], Response | None]:
        params: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            allowed = _PARAMS.get(key)
            if allowed is None:
                return params, _error(400, "bad-parameter",
                                      f"paramètre inconnu : {key} (attendus : {', '.join(_PARAMS)})")
            if value not in allowed:
                return params, _error(400, "bad-parameter",
                                      f"valeur {value!r} invalide pour {key} (attendues : {', '.join(allowed)})")
            params[key] = value
        if params.get("format") == "sarif":
            from cdacheck.reporters import FORMATS

            if "sarif" not in FORMATS:
                return params, _error(501, "format-unavailable",
                                      "le format sarif n'est pas disponible dans cette version de cdacheck")
        return params, None

    def _too_large(self) -> Response:
        return _error(413, "too-large", f"corps de requête au-delà de {self.config.max_body} octets",
                      {"Connection": "close"})

    async def _read_body(self, request: Request) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self.config.read_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.config.max_body:
                    raise _TooLarge()
                chunks.append(chunk)
        return b"".join(chunks)

    async def _await(self, future: asyncio.Future[Outcome], request: Request,
                     timeout: float) -> Outcome | None:
        """The worker's outcome, or None when the client disconnects first."""
        watch = asyncio.ensure_future(_disconnected(request.receive))
        try:
            done, _ = await asyncio.wait({future, watch}, timeout=max(timeout, 0.0),
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
        if future in done:
            return future.result()
        future.cancel()  # a queued job is skipped; a running one finishes and is dropped
        if watch in done:
            return None
        return Outcome("timeout")

    def _answer(self, outcome: Outcome, fmt: str, elapsed: float) -> Response:
        if outcome.status == "ok":
            self.latency_ewma = 0.9 * self.latency_ewma + 0.1 * elapsed
            self.metrics.verdicts.labels(outcome.meta["verdict"]).inc()
            for indicator in outcome.meta["indicators"]:
                self.metrics.indicators.labels(indicator).inc()
            media = "application/json" if fmt in ("json", "sarif") else "text/plain; charset=utf-8"
            return Response(outcome.body, media_type=media,
                            headers={"X-Cdacheck-Verdict": outcome.meta["verdict"]})
        if outcome.status == "timeout":
            return _error(504, "timeout", f"vérification non terminée en {self.config.timeout:g} s ; "
                          "le processus de vérification a été remplacé")
        if outcome.status == "died":
            return _error(500, "worker-died", "le processus de vérification s'est arrêté pendant "
                          "cette requête ; il a été remplacé")
        if outcome.status == "unavailable":
            return _error(503, "unavailable", "aucun processus de vérification disponible",
                          {"Retry-After": self._retry_after()})
        return _error(500, "internal", f"échec interne : {outcome.message}")

    # ------------------------------------------------------------------ app

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.pool.start()
        try:
            yield
        finally:
            await self.pool.stop()

    def app(self) -> Starlette:
        routes = [
            Route("/v1/check", self.check, methods=["POST"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/v1/rules", self.rules, methods=["GET"]),
            Route("/metrics", self.metrics_route, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
        ]
        return Starlette(routes=routes, lifespan=self.lifespan)


class _TooLarge(Exception):
    pass


class _Digest:
    """The SHA-256 prefix of a body for the log: given by the worker, else computed here."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.value: str | None = None

    def hexdigest(self) -> str:
        if self.value is None:
            self.value = hashlib.sha256(self.data).hexdigest()[:16]
        return self.value


async def _disconnected(receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return

