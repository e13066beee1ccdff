"""The ``cdacheck`` console script: a module outside the package, so that a Ctrl-C while
the package is still being imported (half a second of lxml, pydantic, saxonche) also exits
with code 130 and one line, never with a traceback. ``cdacheck.cli.run`` covers the rest.
"""

import sys


def run() -> None:
    try:
        from cdacheck.cli import run as cli_run
    except KeyboardInterrupt:
        sys.stderr.write("cdacheck: interrompu\n")
        sys.exit(130)
    cli_run()


if __name__ == "__main__":
    run()
