"""Building IHE XDM archives from CDA documents: ``cdacheck.xdm.builder(...)``.

A room of its own over the pipeline: it reads the documents through ``cdacheck.inputs``,
validates them with :class:`cdacheck.pipeline.Runner`, maps their header facts to French XDS
metadata (:mod:`cdacheck.xdm.metadata`), writes METADATA.XML (:mod:`cdacheck.xdm.ebrim`)
and checks the archive with cdacheck's own XDM checks before writing it
(:mod:`cdacheck.xdm.builder`). See docs/xdm.md, "Building an archive".
"""

from __future__ import annotations

from cdacheck.xdm.builder import BuildError, BuildOptions, BuildResult, build

__all__ = ["BuildError", "BuildOptions", "BuildResult", "build"]
