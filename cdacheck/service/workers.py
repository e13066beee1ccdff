"""Warm worker processes for the service, and the asyncio side that feeds them.

Each worker is a process of its own (``spawn``) that builds its runners once (schema, packs,
or the kit's schematrons), checks a warm-up document, says it is ready, then answers one
request at a time over a pipe. The event loop never checks a document itself, and talks
to the workers with asyncio streams on their pipes (no thread per request).

A worker that dies (killed, crashed) is replaced and the request it held is answered with
an error; a worker that passes the per-request time limit is killed and replaced. Workers
ignore SIGINT/SIGTERM: the parent drains in-flight requests first, then tells them to stop
(systemd and Ctrl-C signal the whole process group).

This module imports nothing from the HTTP stack, so worker processes stay light.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Literal

from cdacheck.config import Settings

log = logging.getLogger("cdacheck.serve")

ENVS = ("production", "test")
# A minimal CDA header: enough to run every engine once (lazy caches, first Saxon call).
_WARMUP = (b'<?xml version="1.0" encoding="UTF-8"?>'
           b'<ClinicalDocument xmlns="urn:hl7-org:v3"><realmCode code="FR"/>'
           b'<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>'
           b'<code code="11490-0" codeSystem="2.16.840.1.113883.6.1"/></ClinicalDocument>')


@dataclass
class Request:
    """One document to check, as sent to a worker."""

    data: bytes
    kind: Literal["xml", "zip"]
    env: str | None = None
    fail_on: str | None = None
    fmt: str = "json"


@dataclass
class Outcome:
    """What came back: ``ok`` (body + meta), ``error`` (the check raised), ``died``, ``timeout``."""

    status: Literal["ok", "error", "died", "timeout", "unavailable"]
    body: bytes = b""  # the answer, UTF-8 (encoded in the worker, not on the event loop)
    meta: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    worker: int | None = None


@dataclass
class Job:
    request: Request
    deadline: float  # time.monotonic()
    future: asyncio.Future[Outcome]
    started: float | None = None


# ---------------------------------------------------------------------------- worker side


def _verdict_meta(report: Any) -> dict[str, Any]:
    docs = report.documents()
    indicators = [d.indicator.indicator for d in docs]
    distinct = sorted(set(indicators))
    return {
        "verdict": "fail" if report.summary.failed else "pass",
        "valid": all(item.valid for item in report.items),
        "indicator": distinct[0] if len(distinct) == 1 else ("none" if not distinct else "multiple"),
        "indicators": indicators,
    }


def render_answer(report: Any, fmt: str) -> tuple[str, dict[str, Any]]:
    """The service's answer: for JSON, the RunReport with verdict and indicator on top."""
    import json

    from cdacheck.reporters import render

    meta = _verdict_meta(report)
    if fmt == "json":
        head = json.dumps(meta, ensure_ascii=False)
        return head[:-1] + ", " + report.model_dump_json()[1:], meta
    return render(report, fmt), meta


class _WorkerState:
    """The runners of one worker process: one per ``env``, settings per ``fail_on``."""

    def __init__(self, base: Settings) -> None:
        from cdacheck.pipeline import runner_for

        self.base = base
        self.runners = {env: runner_for(Settings.model_validate({**base.model_dump(), "env": env}))
                        for env in ENVS}
        self._settings: dict[tuple[str, str | None], Settings] = {}
        self._heads: dict[tuple[str, str | None], Any] = {}
        for runner in self.runners.values():
            for engine in runner.engines:  # packs, or the kit's schematrons: compiled now
                warm = getattr(engine, "warm", None)
                if callable(warm):
                    warm()
            runner.check_document(_WARMUP, "<warm-up>")

    def settings(self, env: str, fail_on: str | None) -> Settings:
        key = (env, fail_on)
        s = self._settings.get(key)
        if s is None:
            s = self.runners[env].settings
            if fail_on is not None:
                s = Settings.model_validate({**s.model_dump(), "fail_on": fail_on})
            self._settings[key] = s
        return s

    def handle(self, req: Request) -> tuple[str, dict[str, Any]]:
        from cdacheck.inputs.sources import Source
        from cdacheck.pipeline import SummaryBuilder

        env = req.env or self.base.env
        runner = self.runners[env]
        item = runner.check_source(Source(label="<http>", data=req.data, kind=req.kind))
        # Runner.report() without rebuilding the head (tool versions, settings) each time:
        # it reads package metadata, about 0.5 ms of a 8 ms small N1. Packs and schema do
        # not change in a process; in kit mode (checks of 100 ms and more) the kit's
        # described defects are read afresh.
        key = (env, req.fail_on)
        settings = self.settings(env, req.fail_on)
        head = self._heads.get(key)
        if head is None:
            head = runner.report_head(settings)
            if settings.kit is None:
                self._heads[key] = head
        builder = SummaryBuilder(settings)
        builder.add(item)
        report = head.model_copy(update={"items": [item], "summary": builder.summary()})
        return render_answer(report, req.fmt)


def worker_main(conn: Connection, settings_json: str) -> None:
    """Entry point of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    start = time.perf_counter()
    try:
        state = _WorkerState(Settings.model_validate_json(settings_json))
    except Exception as exc:  # ToolError (schema, kit) or worse: the service cannot start
        conn.send(("tool-error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid(), round((time.perf_counter() - start) * 1000)))
    while True:
        try:
            req = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if req is None:
            return
        try:
            body, meta = state.handle(req)
            meta["sha256"] = hashlib.sha256(req.data).hexdigest()[:16]  # for the log line
            conn.send(("ok", body.encode("utf-8"), meta))
        except Exception as exc:  # the pipeline turns check failures into findings; this is rarer
            conn.send(("error", f"{type(exc).__name__}: {exc}"[:500], {}))


# ---------------------------------------------------------------------------- parent side


def _frame(data: bytes) -> tuple[bytes, bytes]:
    """``data`` framed as Connection.send_bytes frames it (a 4-byte length, or -1 and 8)."""
    if len(data) > 0x7FFFFFFF:
        return struct.pack("!iQ", -1, len(data)), data
    return struct.pack("!i", len(data)), data


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack("!i", await reader.readexactly(4))
    if size == -1:
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    return await reader.readexactly(size)


class _Slot:
    """One worker process seen from the parent: started, stopped and killed in a thread of
    the pool's executor (blocking calls), its stream used on the event loop only."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None
        self.stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.ready = False
        self.pid: int | None = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def spawn(self, ctx: Any, settings_json: str, warm_timeout: float) -> tuple[bool, str, bool]:
        """Start the process and wait until it is warm: (ok, why not, fatal).

        ``fatal``: the worker could not build its runners (bad schema or kit); starting
        another one would fail the same way.
        """
        self.kill()
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker_main, args=(child, settings_json), daemon=True,
                           name=f"cdacheck-worker-{self.index}")
        proc.start()
        child.close()
        self.proc, self.conn = proc, parent
        if not wait([parent, proc.sentinel], timeout=warm_timeout) or not parent.poll():
            self.kill()
            return False, f"worker not ready after {warm_timeout:.0f} s or died while warming up", False
        try:
            msg = parent.recv()
        except (EOFError, OSError):
            self.kill()
            return False, "worker died while warming up", False
        if msg[0] != "ready":
            self.kill()
            return False, str(msg[1]), True
        self.pid, self.ready = int(msg[1]), True
        log.info("worker %d ready (pid %d, warm in %d ms)", self.index, self.pid, msg[2])
        return True, "", False

    async def open_stream(self) -> None:
        """The parent's end of the pipe as asyncio streams (after the worker said ready).

        A request goes to the worker and its answer comes back on the event loop itself,
        with no thread in between: no hop to an executor and back per request. The frames
        are those of :class:`multiprocessing.connection.Connection` (the worker keeps its
        blocking ``recv``/``send``)."""
        assert self.conn is not None
        sock = socket.socket(fileno=os.dup(self.conn.fileno()))  # a socketpair end (duplex Pipe)
        self.stream = await asyncio.open_unix_connection(sock=sock)

    async def roundtrip(self, req: Request, timeout: float) -> Outcome:
        proc, stream = self.proc, self.stream
        if proc is None or stream is None or not proc.is_alive():
            return Outcome("unavailable", worker=self.pid)
        reader, writer = stream
        try:
            payload = pickle.dumps(req, protocol=pickle.HIGHEST_PROTOCOL)
            writer.writelines(_frame(payload))  # the length, then the payload: not copied again
        except (OSError, RuntimeError):
            return Outcome("unavailable", worker=self.pid)
        try:
            async with asyncio.timeout(max(timeout, 0.0)):
                await writer.drain()
                status, body, meta = pickle.loads(await _read_frame(reader))
        except TimeoutError:
            return Outcome("timeout", worker=self.pid)
        except (OSError, EOFError, asyncio.IncompleteReadError, pickle.UnpicklingError, ValueError):
            return Outcome("died", worker=self.pid)  # its end of the pipe closed: it is gone
        if status == "ok":
            return Outcome("ok", body=body, meta=meta, worker=self.pid)
        return Outcome("error", message=body, worker=self.pid)

    def drop_stream(self) -> None:
        """Close the event loop's end of the pipe (on the loop's thread, before kill/close)."""
        self.ready = False
        if self.stream is not None:
            self.stream[1].close()
            self.stream = None

    def kill(self) -> None:
        self.ready = False
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.join(5)
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None

    def close(self, timeout: float) -> None:
        if self.conn is not None and self.alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            assert self.proc is not None
            self.proc.join(timeout)
        self.kill()


class PoolFull(Exception):
    """The queue is full: answer 503 with Retry-After."""


class WorkerPool:
    """N warm worker processes fed from one bounded queue."""

    def __init__(self, settings: Settings, workers: int, queue_size: int,
                 warm_timeout: float = 600.0,
                 on_restart: Callable[[str], None] = lambda reason: None,
                 on_fatal: Callable[[str], None] = lambda message: None) -> None:
        self.settings_json = settings.model_dump_json()
        self.size = workers
        self.queue_size = queue_size
        self.warm_timeout = warm_timeout
        self.on_restart = on_restart
        self.on_fatal = on_fatal
        self.slots = [_Slot(i) for i in range(workers)]
        self.busy = 0
        self.fatal: str | None = None
        self._ctx = multiprocessing.get_context("spawn")
        self._threads = ThreadPoolExecutor(max_workers=workers + 1, thread_name_prefix="cdacheck-pool")
        self._queue: asyncio.Queue[Job | None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- state seen by /readyz and /metrics
    @property
    def ready_count(self) -> int:
        return sum(s.ready for s in self.slots)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    def worker_pids(self) -> list[int]:
        return [s.pid for s in self.slots if s.ready and s.pid is not None]

    # -- life cycle
    async def start(self) -> None:
        """Start the workers' managers; workers warm up in the background (see /readyz)."""
        self._queue = asyncio.Queue(maxsize=self.queue_size)
        self._tasks = [asyncio.create_task(self._manage(slot)) for slot in self.slots]

    async def stop(self, grace: float = 10.0) -> None:
        """Let queued jobs finish, then stop every worker."""
        self._stopping = True
        if self._queue is not None:
            for _ in self._tasks:
                try:
                    self._queue.put_nowait(None)
                except asyncio.QueueFull:  # managers gone (workers cannot start): cancel below
                    break
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
        loop = asyncio.get_running_loop()
        for slot in self.slots:
            slot.drop_stream()
        await asyncio.gather(*(loop.run_in_executor(self._threads, s.close, 5.0) for s in self.slots))
        self._threads.shutdown(wait=False, cancel_futures=True)

    def submit(self, request: Request, timeout: float) -> Job:
        """Queue a request; raise :class:`PoolFull` when the queue is full."""
        assert self._queue is not None
        job = Job(request, time.monotonic() + timeout, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise PoolFull() from None
        return job

    # -- one manager task per worker
    async def _ensure_worker(self, slot: _Slot) -> bool:
        if slot.alive() and slot.ready:
            return True
        loop = asyncio.get_running_loop()
        ok, why, fatal = await loop.run_in_executor(self._threads, slot.spawn, self._ctx,
                                                    self.settings_json, self.warm_timeout)
        if ok:
            try:
                await slot.open_stream()
            except OSError as exc:
                ok, why = False, f"pipe to the worker unusable: {exc}"
                slot.drop_stream()
                slot.kill()
        if not ok:
            log.error("worker %d could not start: %s", slot.index, why)
            if fatal:
                self.fatal = why
                self.on_fatal(why)
        return ok

    async def _manage(self, slot: _Slot) -> None:
        assert self._queue is not None
        while True:
            if not await self._ensure_worker(slot):
                if self.fatal or self._stopping:
                    return
                await asyncio.sleep(1.0)
                continue
            try:  # asyncio.timeout, not wait_for: no extra task per request (Python 3.11)
                async with asyncio.timeout(1.0):
                    job = await self._queue.get()
            except TimeoutError:
                if not slot.alive():  # died while idle: replace it now, not at the next request
                    self.on_restart("died-idle")
                    slot.drop_stream()
                    slot.kill()
                continue
            if job is None:
                return
            await self._run(slot, job)

    async def _run(self, slot: _Slot, job: Job) -> None:
        loop = asyncio.get_running_loop()
        for _attempt in range(2):  # a worker found dead before it got the job: retry once
            if job.future.done():  # the client left, or the handler gave up
                return
            remaining = job.deadline - time.monotonic()
            if remaining <= 0:
                job.future.set_result(Outcome("timeout"))
                return
            job.started = time.monotonic()
            self.busy += 1
            try:
                outcome = await slot.roundtrip(job.request, remaining)
            finally:
                self.busy -= 1
            if outcome.status in ("died", "timeout", "unavailable"):
                self.on_restart(outcome.status)
                log.warning("worker %d (pid %s) %s; replacing it", slot.index, outcome.worker,
                            outcome.status)
                slot.drop_stream()
                await loop.run_in_executor(self._threads, slot.kill)
            if outcome.status != "unavailable":
                break
            if not await self._ensure_worker(slot):
                break
        if not job.future.done():
            job.future.set_result(outcome)
