"""The ``cdacheck`` console script: a module outside the package, so that a Ctrl-C while
the package is still being imported (half a second of lxml, pydantic, saxonche) also exits
with code 130 and one line, never with a traceback. ``cdacheck.cli.run`` covers the rest.
"""

import os
import sys


def quiet_start() -> None:
    """Process-wide settings of a cdacheck command (never of a library user's process).

    pydantic looks for plugins in the entry points of every installed distribution the first
    time a model is built (about 50 ms at each start); the command uses none. An explicit
    ``PYDANTIC_DISABLE_PLUGINS`` in the environment is kept. The cyclic garbage collector
    is paused until the runner is built (:mod:`cdacheck.startup`).
    """
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from cdacheck.startup import pause  # the collector is off while the command starts

    pause()


def run() -> None:
    try:
        quiet_start()
        from cdacheck.cli import run as cli_run
    except KeyboardInterrupt:
        sys.stderr.write("cdacheck: interrompu\n")
        sys.exit(130)
    cli_run()


if __name__ == "__main__":
    run()
