"""Values that have the right form but no meaning: timestamps out of range.

A timestamp such as ``20240315143000+9959`` matches the HL7 TS pattern (so neither the
schema nor the packs flag it) but names no instant: its offset is beyond the ±14 h that
time zones use (ISO 8601 and HL7 allow −12:00 to +14:00). ``00010101000000+1400`` is a
valid form whose UTC instant falls before year 1. cdacheck's helpers could not convert
such values; they now keep them unconverted, and this check says why, so that one broken
value is a finding and every other check still runs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from functools import lru_cache

from cdacheck.checks import CheckContext, check
from cdacheck.inputs.xml import HL7
from cdacheck.model import Hit, Severity
from cdacheck.registry import rule

# A warning: the official pipeline rejects impossible timestamps only where StrucMin's DTr1
# rules apply (the header: rules DTY001-DTY018); elsewhere it accepts them, and a document it
# accepts must not fail here. The finding says which value broke the date arithmetic.
R_TS_RANGE = rule("HDR090", "timestamp-out-of-range", Severity.WARNING,
                  "Horodatage « {value} » de l'élément {element} invalide : {reason} ; "
                  "attendu une date réelle et un décalage horaire entre -1200 et +1400.",
                  "A timestamp of the form YYYYMMDDHHMMSS[+-ZZZZ] names no real instant: "
                  "impossible month, day or hour, an offset beyond -12:00..+14:00 or "
                  "minutes of offset of 60 or more, or a UTC instant outside years 1-9999.",
                  source="HL7 V3 TS (ISO 8601), IGDC §horodatages")

_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?$", re.ASCII)
_TIME_ELEMENTS = frozenset({"effectiveTime", "time", "birthTime", "deceasedTime", "low", "high",
                            "center"})
# Clark names of those elements: lxml's iterator picks them out in C.
_TIME_TAGS = tuple(sorted(f"{{{HL7}}}{local}" for local in _TIME_ELEMENTS))
_LOCAL_START = len(HL7) + 2
MAX_REPORTED = 20


def timestamp_problem(raw: str) -> str | None:
    """Why a TS-shaped value names no instant, or None (also None when it is not TS-shaped:
    the form is the schema's and the packs' business)."""
    # Documents repeat their timestamps: short values are remembered (a long one, never a
    # timestamp, is not kept in memory after its document).
    return _timestamp_problem(raw) if len(raw) <= 64 else _timestamp_problem.__wrapped__(raw)


@lru_cache(maxsize=4096)
def _timestamp_problem(raw: str) -> str | None:
    m = _TS.match(raw.strip())
    if m is None:
        return None
    y, mo, d, h, mi, s, tz = m.groups()
    try:
        value = dt.datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError as exc:
        return f"date impossible ({exc})"
    if tz is None:
        return None
    hours, minutes = int(tz[1:3]), int(tz[3:5])
    offset = (hours * 60 + minutes) * (-1 if tz[0] == "-" else 1)
    if minutes >= 60 or not -12 * 60 <= offset <= 14 * 60:
        return f"décalage horaire {tz} hors de -1200..+1400"
    try:
        value.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset))).astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return "l'instant ramené en UTC sort des années 1 à 9999"
    return None


@check
def timestamps(ctx: CheckContext) -> Iterator[Hit]:
    count = 0
    for el in ctx.doc.cda.iter(_TIME_TAGS):
        value = el.get("value")
        if not value:
            continue
        reason = timestamp_problem(value)
        if reason is None:
            continue
        count += 1
        if count > MAX_REPORTED:
            return
        local = el.tag[_LOCAL_START:]
        yield Hit(rule_id=R_TS_RANGE.id, location=ctx.doc.location(el),
                  params={"value": value[:40], "element": local, "reason": reason})
