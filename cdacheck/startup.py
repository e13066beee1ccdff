"""Garbage collection paused while a command starts (the console script and ``python -m``).

Starting a check allocates a few hundred thousand long-lived objects (pydantic's model
schemas, click, the packs' compiled XPath, the header tables); the cyclic garbage collector
walks them over and over while they are being built: about 110 ms of a 0.8 s cold run on
one document. A command pauses it before its imports (:func:`pause`, called by
``cdacheck_entry`` and ``cdacheck.__main__`` only, never on a library import) and resumes
it once the runner is built (:func:`resume`, called by the batch and by the CLI for every
other command), after moving what exists then to the permanent generation
(``gc.freeze``): it is the process's working set, later collections need not walk it.
Nothing is lost: objects freed by reference counting are freed as usual while paused.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Disable the cyclic collector until :func:`resume` (no-op if it is already off)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze what exists and re-enable the collector, if :func:`pause` disabled it."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
