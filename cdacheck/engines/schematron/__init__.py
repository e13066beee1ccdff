"""Schematron engine: ISO Schematron -> XSLT 3.0 (our compiler), run by saxonche, SVRL -> hits.

Public interface:

* :func:`compile_schematron` (cached per process) -> :class:`CompiledSchematron`,
  whose ``run(doc)`` returns hits and ``run_svrl(doc)`` the raw SVRL;
* :func:`list_asserts` -> :class:`AssertInfo` list, without Saxon (rules registry);
* :func:`parse_svrl` / :func:`to_hits` for stored SVRL;
* :class:`KitEngine` (kit mode, ``cdacheck --kit DIR``), :class:`KitError`.
"""

from __future__ import annotations

from cdacheck.model import Severity
from cdacheck.registry import rule

R_COMPILE = rule("INT101", "schematron-compile-failed", Severity.ERROR,
                 "Le schématron {schematron} n'a pas pu être compilé : {reason}. "
                 "Ses règles n'ont pas été vérifiées.",
                 "A schematron (a kit set or one of our packs) could not be loaded or compiled; "
                 "its rules were not applied to the document.",
                 engine="schematron")
R_INCOMPLETE = rule("INT102", "schematron-include-missing", Severity.WARNING,
                    "Le schématron {schematron} est incomplet : {detail}. "
                    "Les règles manquantes n'ont pas été vérifiées (comme dans le kit officiel).",
                    "An include of the schematron is missing or unreadable (a defect of the kit); "
                    "the rest of the schematron was applied, as the official pipeline does.",
                    engine="schematron")
R_RUN = rule("INT103", "schematron-run-failed", Severity.ERROR,
             "L'exécution du schématron {schematron} a échoué : {reason}.",
             "A dynamic error stopped a schematron on this document (e.g. a value set "
             "the schematron reads is missing); its results for the document are lost.",
             engine="schematron")
R_CHOSEN = rule("INT104", "kit-volet-version-chosen", Severity.INFO,
                "Kit : {why} ; {volet} appliqué ; autres versions du kit : {others}.",
                "Kit mode: the document names its CI-SIS model without a version the kit has; "
                "the version named by its <?oxygen SCHSchema?> instruction is applied, else the "
                "newest version of the volet (never the version with the fewest errors).",
                engine="schematron")

from cdacheck.engines.schematron.compiler import AssertInfo, assert_hash  # noqa: E402
from cdacheck.engines.schematron.loader import LoadDefect, SchematronError  # noqa: E402
from cdacheck.engines.schematron.runner import (  # noqa: E402
    CompiledSchematron,
    compile_schematron,
    list_asserts,
    saxon_version,
)
from cdacheck.engines.schematron.svrl import SvrlResult, parse_svrl, to_hits  # noqa: E402

__all__ = [
    "AssertInfo",
    "CompiledSchematron",
    "KitEngine",
    "KitError",
    "LoadDefect",
    "SchematronError",
    "SvrlResult",
    "assert_hash",
    "compile_schematron",
    "list_asserts",
    "parse_svrl",
    "saxon_version",
    "to_hits",
]


def __getattr__(name: str) -> object:
    # kit.py imports the detection layer; load it only when kit mode is asked for.
    if name in ("KitEngine", "KitError"):
        from cdacheck.engines.schematron import kit

        return getattr(kit, name)
    raise AttributeError(name)
