"""Batches that stream: each input's result is written as soon as it is known.

Memory stays flat: an item is rendered, written and dropped; only the summary counts are
kept. ``jobs > 1`` checks inputs in that many processes, this one and ``jobs - 1`` spawned
workers (each with its own warm runner), and still writes them in input order, with a
bounded window of inputs in flight.
The three formats stream: ``text`` (the same text as the one-shot reporter), ``json`` (the
same ``RunReport`` document, written piece by piece) and ``jsonl`` (one object per input,
then a summary line).
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from cdacheck import startup
from cdacheck.config import Settings
from cdacheck.inputs.sources import expand, iter_sources
from cdacheck.model import ArchiveReport, DocumentReport, RunReport, Summary
from cdacheck.pipeline import Runner, SummaryBuilder, ToolError, runner_for
from cdacheck.reporters import json as json_reporter
from cdacheck.reporters import jsonl as jsonl_reporter
from cdacheck.reporters import text as text_reporter

Item = DocumentReport | ArchiveReport
STDIN = "-"


@dataclass(frozen=True)
class Entry:
    """One input of the batch: a path (file, empty folder, missing name) or ``-``."""

    label: str
    path: str  # "-" for standard input


def entries(paths: Iterable[str | Path]) -> list[Entry]:
    """Every input, expanded and in the deterministic order of :func:`expand` (labels only)."""
    return [Entry(label, STDIN if path is None else str(path)) for label, path in expand(paths)]


# ---------------------------------------------------------------------------- checking


def _check_entry(runner: Runner, entry: Entry, stdin: Any = None) -> list[Item]:
    return [runner.check_source(s) for s in iter_sources([entry.path], runner.settings.max_bytes, stdin)]


def _worker_main(conn: Any, settings_json: str) -> None:
    """A ``--jobs`` worker process: one input at a time from the pipe, its items back.

    It ignores SIGINT: a Ctrl-C reaches the whole process group, and the parent, which
    handles it, stops the workers."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        runner = runner_for(Settings.model_validate_json(settings_json))
    except ToolError as exc:
        conn.send(("tool-error", str(exc)))
        return
    while True:
        try:
            entry = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if entry is None:
            return
        try:
            conn.send(("items", _check_entry(runner, entry)))
        except Exception as exc:  # the pipeline turns check failures into findings: rarer
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class _Worker:
    """One spawned ``--jobs`` worker and the inputs sent to it, oldest first.

    A plain pipe, no ProcessPoolExecutor: its feeder and manager threads need the GIL of
    this process, which checks documents too, and the worker then waited for its next
    input (measured: ``-j 2`` at half the expected rate)."""

    def __init__(self, ctx: Any, settings_json: str) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, settings_json), daemon=True,
                                name="cdacheck-job")
        self.proc.start()
        child.close()
        self.outstanding = 0

    def send(self, entry: Entry) -> None:
        self.conn.send(entry)
        self.outstanding += 1

    def ready(self) -> bool:
        return self.conn.poll()

    def result(self) -> list[Item]:
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError) as exc:
            raise ToolError("un processus de vérification (--jobs) s'est arrêté brutalement") from exc
        self.outstanding -= 1
        if kind == "tool-error":
            raise ToolError(value)
        if kind == "error":
            raise ToolError(f"échec interne d'un processus de vérification (--jobs) : {value}")
        return value

    def stop(self, finished: bool) -> None:
        if finished:
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


def iter_checked(settings: Settings, todo: list[Entry], jobs: int = 1,
                 stdin: Any = None) -> tuple[RunReport, Iterator[Item]]:
    """The report head (tool, settings, kit) and the items, in input order, lazily.

    Raises :class:`ToolError` when the runner cannot be built (bad schema, kit), or when
    a worker process dies.
    """
    if jobs <= 1:
        try:
            runner = Runner(settings)
        finally:
            startup.resume()  # a command's start is over (cdacheck.startup)

        def sequential() -> Iterator[Item]:
            for entry in todo:
                yield from _check_entry(runner, entry, stdin)

        return runner.report_head(), sequential()
    return _parallel(settings, todo, jobs, stdin)


def _parallel(settings: Settings, todo: list[Entry], jobs: int,
              stdin: Any) -> tuple[RunReport, Iterator[Item]]:
    """``jobs`` processes check: this one and ``jobs - 1`` spawned workers.

    This process has its own warm runner, as with ``--jobs 1``, and checks the next input
    itself whenever the oldest one in flight is not back yet: it is one of the ``jobs``
    checkers, not an idle dispatcher. So ``-j 2`` is two processes holding a schema and
    packs, not three (about 180 MB each for the kit's examples; the tree stays under 400 MB).
    Results still come out in input order, with a bounded window of inputs in flight.
    """
    import multiprocessing

    try:
        runner = Runner(settings)  # raises ToolError (bad schema, kit) before any worker starts
    finally:
        startup.resume()
    head = runner.report_head()
    settings_json = settings.model_dump_json()

    def ordered() -> Iterator[Item]:
        ctx = multiprocessing.get_context("spawn")
        workers = [_Worker(ctx, settings_json) for _ in range(jobs - 1)]
        per_worker = 4  # inputs queued for each worker
        limit = jobs * 4  # inputs in flight or waiting to be written: memory stays flat
        window: deque[tuple[Entry, _Worker | list[Item]]] = deque()
        pending = iter(todo)
        finished = False
        try:
            while True:
                while len(window) < limit:
                    free = min(workers, key=lambda w: w.outstanding)
                    if free.outstanding >= per_worker:
                        break
                    entry = next(pending, None)
                    if entry is None:
                        break
                    if entry.path == STDIN:  # read here, in input order: checked here too
                        window.append((entry, _check_entry(runner, entry, stdin)))
                        continue
                    free.send(entry)
                    window.append((entry, free))
                if not window:
                    finished = True
                    return
                entry, slot = window[0]
                if isinstance(slot, _Worker) and not slot.ready() and len(window) < limit:
                    mine = next(pending, None)
                    if mine is not None:  # the oldest is not back yet: check the next one here
                        window.append((mine, _check_entry(runner, mine, stdin)))
                        continue
                window.popleft()
                # a worker answers in the order it was sent inputs, and the window's oldest
                # input is the oldest any worker holds: its answer is the next one
                yield from (slot if isinstance(slot, list) else slot.result())
        finally:
            for worker in workers:
                worker.stop(finished)

    return head, ordered()


# ---------------------------------------------------------------------------- writing


class _Progress:
    """A progress bar on standard error (tqdm), or nothing."""

    def __init__(self, total: int, enabled: bool, stdout_tty: bool) -> None:
        self.bar: Any = None
        self.stdout_tty = stdout_tty
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm is a dependency; a stripped install just has no bar
                return
            self.bar = tqdm(total=total, file=sys.stderr, unit="doc", dynamic_ncols=True,
                            leave=False, desc="cdacheck")

    def write(self, out: TextIO, text: str) -> None:
        if self.bar is not None and self.stdout_tty:
            with self.bar.external_write_mode(file=out):
                out.write(text)
                out.flush()
        else:
            out.write(text)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_batch(settings: Settings, paths: Iterable[str | Path], out: TextIO, fmt: str = "text",
              jobs: int = 1, verbosity: int = 0, color: bool = False,
              progress: bool = False, stdin: Any = None,
              transform: Callable[[Item], Item] | None = None) -> Summary:
    """Check every input and stream its result to ``out``; return the summary.

    ``transform`` is applied to each item before it is counted and written (``--redact``).
    """
    todo = entries(paths)
    head, items = iter_checked(settings, todo, jobs, stdin)
    builder = SummaryBuilder(settings)
    bar = _Progress(len(todo), progress, stdout_tty=_isatty(out))
    writer = _writer(fmt, head, verbosity, color)
    try:
        bar.write(out, writer.start())
        for item in items:
            if transform is not None:
                item = transform(item)
            builder.add(item)
            bar.write(out, writer.item(item))
            bar.advance()
        summary = builder.summary()
        bar.close()
        out.write(writer.end(summary))
        out.flush()
    finally:
        bar.close()
    return summary


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class _Writer:
    def __init__(self, head: RunReport, verbosity: int, color: bool) -> None:
        self.head, self.verbosity, self.color = head, verbosity, color
        self.count = 0

    def start(self) -> str:
        return ""

    def item(self, item: Item) -> str:
        raise NotImplementedError

    def end(self, summary: Summary) -> str:
        raise NotImplementedError


class _TextWriter(_Writer):
    def start(self) -> str:
        return text_reporter.render_head(self.head) if self.verbosity >= 0 else ""

    def item(self, item: Item) -> str:
        if self.verbosity <= text_reporter.SUMMARY_ONLY:
            return ""
        return text_reporter.render_item(item, verbosity=self.verbosity, color=self.color)

    def end(self, summary: Summary) -> str:
        return text_reporter.render_summary(self.head.model_copy(update={"summary": summary}))


class _JsonWriter(_Writer):
    def start(self) -> str:
        return json_reporter.render_head(self.head)

    def item(self, item: Item) -> str:
        self.count += 1
        return json_reporter.render_item(item, first=self.count == 1)

    def end(self, summary: Summary) -> str:
        return json_reporter.render_tail(self.head.model_copy(update={"summary": summary}),
                                         items=self.count)


class _JsonlWriter(_Writer):
    def item(self, item: Item) -> str:
        return jsonl_reporter.render_item(item)

    def end(self, summary: Summary) -> str:
        return jsonl_reporter.render_summary(self.head.model_copy(update={"summary": summary}))


def _writer(fmt: str, head: RunReport, verbosity: int, color: bool) -> _Writer:
    writers: dict[str, type[_Writer]] = {"text": _TextWriter, "json": _JsonWriter,
                                         "jsonl": _JsonlWriter}
    return writers[fmt](head, verbosity, color)


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
