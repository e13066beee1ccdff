"""The one registry of every rule cdacheck can report.

Python-coded rules are declared next to the code that emits them (``cdacheck/checks/*``,
``cdacheck/inputs/*``, the engines) with :func:`rule`; schematron asserts of our own packs
are added when the packs are loaded. ``cdacheck rules`` and ``docs/rules.md`` are generated
from here, so the reference cannot drift from the code.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from cdacheck.model import JsonScalar, Severity

RULE_ID_RE = re.compile(r"^(?:[A-Z]{3}\d{3}|SCH/[A-Za-z0-9_.-]+/[A-Za-z0-9_.:-]+)$")


@dataclass(frozen=True)
class RuleSpec:
    """A rule: stable id, default severity, French message template and documentation."""

    id: str
    name: str
    severity: Severity
    template: str
    summary: str
    source: str = ""
    engine: str = "python"
    aliases: tuple[str, ...] = ()
    family: str = field(init=False)

    def __post_init__(self) -> None:
        if not RULE_ID_RE.match(self.id):
            raise ValueError(f"bad rule id {self.id!r}")
        object.__setattr__(self, "family", self.id.split("/")[0][:3])

    def as_dict(self) -> dict[str, str]:
        """The rule as listed by ``cdacheck rules --format json`` and ``GET /v1/rules``."""
        return {"id": self.id, "name": self.name, "severity": self.severity.value,
                "summary": self.summary, "message": self.template, "source": self.source,
                "engine": self.engine}

    def render(self, params: Mapping[str, JsonScalar]) -> str:
        """Render the message template; a missing parameter renders as ``?``, never raises."""
        return string.Formatter().vformat(self.template, (), _Lenient(params))


class _Lenient(dict[str, JsonScalar]):
    def __init__(self, params: Mapping[str, JsonScalar]) -> None:
        super().__init__(params)

    def __missing__(self, key: str) -> str:
        return "?"


class Registry:
    """Rule specs by id (aliases included)."""

    def __init__(self) -> None:
        self._rules: dict[str, RuleSpec] = {}
        self._aliases: dict[str, str] = {}

    def add(self, spec: RuleSpec) -> RuleSpec:
        existing = self._rules.get(spec.id)
        if existing is not None and existing != spec:
            raise ValueError(f"rule {spec.id} registered twice with different specs")
        self._rules[spec.id] = spec
        for alias in spec.aliases:
            self._aliases[alias] = spec.id
        return spec

    def get(self, rule_id: str) -> RuleSpec | None:
        rule_id = self._aliases.get(rule_id, rule_id)
        return self._rules.get(rule_id)

    def __contains__(self, rule_id: object) -> bool:
        return isinstance(rule_id, str) and self.get(rule_id) is not None

    def __iter__(self) -> Iterator[RuleSpec]:
        return iter(sorted(self._rules.values(), key=lambda r: r.id))

    def __len__(self) -> int:
        return len(self._rules)


REGISTRY = Registry()

# Modules that declare rules at import time. Importing them fills REGISTRY.
_RULE_MODULES = (
    "cdacheck.inputs.xml",
    "cdacheck.inputs.sources",
    "cdacheck.inputs.xdm",
    "cdacheck.facts",
    "cdacheck.engines.xsd",
    "cdacheck.engines.schematron",
    "cdacheck.checks",
    "cdacheck.checks.xdm",
    "cdacheck.pipeline",
    "cdacheck.xdm.builder",
)


def rule(
    id: str,
    name: str,
    severity: Severity,
    template: str,
    summary: str,
    source: str = "",
    engine: str = "python",
    aliases: tuple[str, ...] = (),
) -> RuleSpec:
    """Declare a rule in the global registry and return its spec."""
    return REGISTRY.add(
        RuleSpec(
            id=id,
            name=name,
            severity=severity,
            template=template,
            summary=summary,
            source=source,
            engine=engine,
            aliases=aliases,
        )
    )


def load_all() -> Registry:
    """Import every module that declares rules (and our packs' asserts), then the registry."""
    for name in _RULE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a capability not built yet declares no rules
            if exc.name != name:
                raise
    packs = importlib.import_module("cdacheck.engines.packs") if _has("cdacheck.engines.packs") else None
    if packs is not None and hasattr(packs, "register_pack_rules"):
        packs.register_pack_rules(REGISTRY)
    return REGISTRY


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
