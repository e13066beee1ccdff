"""Batches that stream: each input's result is written as soon as it is known.

Memory stays flat: an item is rendered, written and dropped; only the summary counts are
kept. ``jobs > 1`` checks inputs in that many worker processes (each with its own warm
runner) and still writes them in input order, with a bounded window of inputs in flight.
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
from typing import TYPE_CHECKING, Any, TextIO

from cdacheck.config import Settings
from cdacheck.inputs.sources import expand, iter_sources
from cdacheck.model import ArchiveReport, DocumentReport, RunReport, Summary
from cdacheck.pipeline import Runner, SummaryBuilder, ToolError, runner_for
from cdacheck.reporters import json as json_reporter
from cdacheck.reporters import jsonl as jsonl_reporter
from cdacheck.reporters import text as text_reporter

if TYPE_CHECKING:  # the process pool is imported by --jobs only (multiprocessing is slow to load)
    from concurrent.futures import Future

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


def _worker_check(settings_json: str, entry: Entry | None, data: bytes | None) -> Any:
    """Run in a worker process: ("items", [...]) / ("head", RunReport) / ("tool-error", why)."""
    try:
        runner = runner_for(Settings.model_validate_json(settings_json))
    except ToolError as exc:
        return ("tool-error", str(exc))
    if entry is None:
        return ("head", runner.report_head())
    if data is not None:  # standard input, read by the parent
        return ("items", [runner.check_source(s) for s in iter_sources([data], runner.settings.max_bytes)])
    return ("items", _check_entry(runner, entry))


def _relabel(items: list[Item], label: str) -> list[Item]:
    return [i.model_copy(update={"source": label}) if i.source == "<bytes>" else i for i in items]


def iter_checked(settings: Settings, todo: list[Entry], jobs: int = 1,
                 stdin: Any = None) -> tuple[RunReport, Iterator[Item]]:
    """The report head (tool, settings, kit) and the items, in input order, lazily.

    Raises :class:`ToolError` when the runner cannot be built (bad schema, kit), or when
    a worker process dies.
    """
    if jobs <= 1:
        runner = Runner(settings)

        def sequential() -> Iterator[Item]:
            for entry in todo:
                yield from _check_entry(runner, entry, stdin)

        return runner.report_head(), sequential()
    return _parallel(settings, todo, jobs, stdin)


def _parallel(settings: Settings, todo: list[Entry], jobs: int,
              stdin: Any) -> tuple[RunReport, Iterator[Item]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    settings_json = settings.model_dump_json()
    try:
        head = _unwrap(pool.submit(_worker_check, settings_json, None, None))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise

    def ordered() -> Iterator[Item]:
        window: deque[tuple[Entry, Future[Any]]] = deque()
        pending = iter(todo)
        limit = jobs * 4  # inputs in flight: bounded, so memory stays flat
        try:
            while True:
                while len(window) < limit:
                    entry = next(pending, None)
                    if entry is None:
                        break
                    data = None
                    if entry.path == STDIN:
                        data = (stdin or sys.stdin.buffer).read(settings.max_bytes + 1)
                    window.append((entry, pool.submit(_worker_check, settings_json, entry, data)))
                if not window:
                    return
                entry, future = window.popleft()
                items = _unwrap(future)
                yield from (_relabel(items, entry.label) if entry.path == STDIN else items)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    return head, ordered()


def _unwrap(future: Future[Any]) -> Any:
    from concurrent.futures.process import BrokenProcessPool

    try:
        kind, value = future.result()
    except BrokenProcessPool as exc:
        raise ToolError("un processus de vérification (--jobs) s'est arrêté brutalement") from exc
    if kind == "tool-error":
        raise ToolError(value)
    return value


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
