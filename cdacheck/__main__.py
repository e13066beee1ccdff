"""``python -m cdacheck``."""

import os

# As the console script does (cdacheck_entry.quiet_start): no pydantic plugin scan at start.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

if __name__ == "__main__":
    from cdacheck.startup import pause

    pause()  # as the console script: no cyclic collection while the command starts

from cdacheck.cli import run  # noqa: E402

if __name__ == "__main__":
    run()
