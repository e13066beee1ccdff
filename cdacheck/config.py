"""Settings: one frozen model, read from ``cdacheck.toml`` or ``[tool.cdacheck]`` in
``pyproject.toml`` and overridden by the command line or the API caller.

Every policy that changes a verdict lives here and is recorded in the report.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cdacheck.model import Severity

DEFAULT_ROLE_MAP: dict[str, Severity] = {
    "fatal": Severity.FATAL,
    "error": Severity.ERROR,
    "erreur": Severity.ERROR,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "avertissement": Severity.WARNING,
    "info": Severity.INFO,
    "information": Severity.INFO,
    "informational": Severity.INFO,
    # An assert with no role is an error, as in the official pipeline's counting.
    "": Severity.ERROR,
}


class ConfigError(Exception):
    """The configuration cannot be used (bad file, unknown key, bad value): exit code 2."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IndicatorPolicy(_Model):
    """How documents are mapped to Ségur indicators (see docs/indicators.md)."""

    n3_counts_for_ds1: bool = True
    n3_counts_for_ds3: bool = True
    prescription_codes: tuple[str, ...] = ("57833-6", "57828-6", "57832-8")
    require_discharge_context: bool = True
    discharge_window_days: int = Field(default=1, ge=0, le=365)
    blocking_severity: Severity = Severity.ERROR


class XdmLimits(_Model):
    """Caps applied while reading an IHE XDM ZIP."""

    max_members: int = Field(default=2000, ge=1)
    max_total_uncompressed: int = Field(default=512 * 1024 * 1024, ge=1)
    max_member_size: int = Field(default=200 * 1024 * 1024, ge=1)
    max_ratio: float = Field(default=200.0, gt=1)
    # DocumentEntries checked in one archive (each costs a document validation at most once).
    max_entries: int = Field(default=1000, ge=1)


class Settings(_Model):
    """Every setting of a run. ``extra="forbid"``: an unknown key is an error, not ignored."""

    env: Literal["production", "test"] = "production"
    fail_on: Severity = Severity.ERROR
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    xsd: Path | None = None
    skip_xsd: bool = False
    kit: Path | None = None
    packs: tuple[str, ...] = ()
    skip_schematron: bool = False
    role_map: dict[str, Severity] = Field(default_factory=lambda: dict(DEFAULT_ROLE_MAP))
    severity: dict[str, Severity] = Field(default_factory=dict)
    disable: tuple[str, ...] = ()
    # When not empty, only findings of these rules (ids or prefixes: "INS", "SCH/header/",
    # "XDM03") are reported; internal failures (INT) are always reported.
    select: tuple[str, ...] = ()
    strict: bool = False
    # Remove patient identities from every output format (``--redact``); HTML always is
    # unless ``--no-redact``.
    redact: bool = False
    indicator: IndicatorPolicy = Field(default_factory=IndicatorPolicy)
    xdm: XdmLimits = Field(default_factory=XdmLimits)
    # The configuration file these settings were read from (set by load_settings; None when
    # no file was read), so that every report names it.
    config_file: str | None = None

    def report_dict(self) -> dict[str, Any]:
        """The settings as recorded in a report (JSON-safe)."""
        return self.model_dump(mode="json")


CONFIG_FILE = "cdacheck.toml"
# What makes a folder a project root: the search for a configuration stops there.
ROOT_MARKERS = ("pyproject.toml", ".git", ".hg")


def project_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding a project marker, or None."""
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return None


def find_config(start: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The configuration of the current directory: its own ``cdacheck.toml``, or else the
    ``cdacheck.toml`` or ``pyproject.toml`` ``[tool.cdacheck]`` of the project root that
    holds it (the nearest folder with a ``pyproject.toml``, ``.git`` or ``.hg``).

    Nothing above the project root is read, nor anything at all outside a project other
    than the current directory: a ``cdacheck.toml`` left in a parent folder, a home
    directory or ``/tmp`` never changes a verdict.
    """
    here = (start or Path.cwd()).resolve()
    folders = [here]
    root = project_root(here)
    if root is not None and root != here:
        folders.append(root)
    for folder in folders:
        own = folder / CONFIG_FILE
        if own.is_file():
            return own, _read_toml(own)
        py = folder / "pyproject.toml"
        if py.is_file():
            table = _read_toml(py).get("tool", {}).get("cdacheck")
            if isinstance(table, dict):
                return py, table
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def load_settings(
    config: Path | None = None, overrides: dict[str, Any] | None = None, discover: bool = True
) -> Settings:
    """Build Settings from a config file (explicit, or discovered) and overrides."""
    data: dict[str, Any] = {}
    used: Path | None = None
    if config is not None:
        raw = _read_toml(config)
        data = raw.get("tool", {}).get("cdacheck", raw) if config.name == "pyproject.toml" else raw
        used = config
    elif discover:
        found = find_config()
        if found is not None:
            used, data = found
    if "config_file" in data:
        raise ConfigError("config_file: clé réservée (le fichier lu est noté par cdacheck)")
    merged = _merge(data, overrides or {})
    if used is not None:
        merged["config_file"] = str(Path(used).resolve())
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from exc


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "invalid configuration: " + "; ".join(parts)
