"""``cdacheck serve``: a warm HTTP validation service over the pipeline.

* :mod:`cdacheck.service.app`: the Starlette application (routes, limits, token, logs);
* :mod:`cdacheck.service.workers`: warm worker processes and the bounded queue feeding them;
* :mod:`cdacheck.service.metrics`: Prometheus metrics;
* :mod:`cdacheck.service.server`: uvicorn, the socket, signals.

It needs the ``serve`` extra (``pip install 'cdacheck[serve]'``); the core never imports it.
"""

from __future__ import annotations

MISSING_EXTRA = ("cdacheck serve a besoin des dépendances optionnelles « serve » : "
                 "pip install 'cdacheck[serve]' ({missing} est absent)")


def missing_dependency() -> str | None:
    """The name of a dependency of the extra that is not installed, or None."""
    import importlib.util

    for module in ("starlette", "uvicorn", "prometheus_client"):
        if importlib.util.find_spec(module) is None:
            return module
    return None
