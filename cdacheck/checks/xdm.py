"""Checks of an IHE XDM archive: layout, METADATA.XML, members and metadata-vs-CDA.

Entry point :func:`check_archive`. The pipeline opens the archive with
:func:`cdacheck.inputs.xdm.open_archive`, passes a ``check_document`` callback that runs the
whole document validation, stamps the hits returned here and builds the ArchiveReport.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cdacheck.checks import xdm_members as members
from cdacheck.checks.xdm_cross import cross_check
from cdacheck.checks.xdm_ebrim import RegistryObject, Submission, read_submission
from cdacheck.checks.xdm_metadata import (
    R_DUP_ID,
    R_PATIENTS,
    check_submission,
    class_hit,
    parse_cx,
)
from cdacheck.config import Settings
from cdacheck.inputs.xdm import XdmArchive
from cdacheck.inputs.xml import ParsedDocument, parse_xml
from cdacheck.model import DocumentFacts, DocumentReport, EngineName, Hit, Location, Severity
from cdacheck.registry import rule

CheckDocument = Callable[[bytes, str, str],
                         tuple[DocumentReport, DocumentFacts | None, ParsedDocument | None]]

R_INDEX = rule("XDM020", "index-htm-missing", Severity.ERROR,
               "INDEX.HTM absent à la racine de l'archive.",
               "The root holds INDEX.HTM (human entry page).", source="xdm.md §1.2 L1")
R_README = rule("XDM021", "readme-txt-missing", Severity.ERROR,
                "README.TXT absent à la racine de l'archive.",
                "The root holds README.TXT (media creator, contact).", source="xdm.md §1.2 L1")
R_IHE_XDM = rule("XDM022", "ihe-xdm-missing", Severity.ERROR,
                 "Dossier IHE_XDM absent à la racine de l'archive.",
                 "The root holds an IHE_XDM folder with one folder per submission set.",
                 source="xdm.md §1.2 L2")
R_METADATA = rule("XDM023", "metadata-missing", Severity.ERROR,
                  "Le dossier de lot « {subset} » ne contient pas de METADATA.XML.",
                  "Each subset folder holds exactly one METADATA.XML.", source="xdm.md §1.2 L4")
R_NO_SUBSET = rule("XDM024", "subset-missing", Severity.ERROR,
                   "Aucun dossier de lot (IHE_XDM/SUBSET01/...) avec METADATA.XML dans l'archive.",
                   "IHE_XDM contains one folder per submission set.", source="xdm.md §1.2 L3")
R_ISO = rule("XDM025", "iso9660-name", Severity.WARNING,
             "Nom « {member} » non conforme ISO-9660 niveau 1 : {reason}.",
             "File and folder names follow ISO-9660 level 1 (8.3, A-Z 0-9 _, depth 8 at most, "
             "upper case). Error with --strict (XDM026).", source="xdm.md §1.2 L6")
R_ISO_STRICT = rule("XDM026", "iso9660-name-strict", Severity.ERROR,
                    "Nom « {member} » non conforme ISO-9660 niveau 1 : {reason} (mode strict).",
                    "XDM025 under --strict.", source="xdm.md §1.2 L6")
R_JUNK = rule("XDM027", "junk-file", Severity.WARNING,
              "Fichier parasite « {member} » ({kind}) dans l'archive.",
              "OS junk (__MACOSX, .DS_Store, Thumbs.db, .svn) or an autorun file.",
              source="xdm.md §1.2 L2")
R_STRAY = rule("XDM028", "file-outside-subset", Severity.INFO,
               "« {member} » est hors de tout dossier de lot et n'est pas lu par les importeurs.",
               "A file directly in IHE_XDM/ or an extra file at the root.")
R_TOO_MANY_ENTRIES = rule("XDM016", "archive-too-many-entries", Severity.ERROR,
                          "{count} DocumentEntry dans l'archive, au-delà de la limite de {limit} "
                          "(réglage xdm.max_entries) : les suivantes ne sont pas vérifiées.",
                          "More DocumentEntries than the configured cap; the first ones are "
                          "checked, the rest are only counted.")
R_CRASH = rule("XDM099", "xdm-check-crashed", Severity.FATAL,
               "Erreur interne pendant la vérification de « {member} » : {error}",
               "A check of the archive failed unexpectedly; the rest of the archive is still "
               "checked.", engine="internal")

ROOT_DIR = "IHE_XDM/"
_JUNK = (("__macosx/", "dossier __MACOSX"), (".ds_store", "fichier .DS_Store macOS"),
         ("thumbs.db", "fichier Thumbs.db Windows"), (".svn/", "dossier .svn"),
         ("autorun.inf", "fichier autorun"), (".git/", "dossier .git"))
_ISO_PART = re.compile(r"^[A-Z0-9_]{1,8}(\.[A-Z0-9_]{0,3})?$")
_ISO_DIR = re.compile(r"^[A-Z0-9_]{1,8}$")


@dataclass
class _Run:
    archive: XdmArchive
    settings: Settings
    check_document: CheckDocument
    hits: list[Hit] = field(default_factory=list)
    reports: list[DocumentReport] = field(default_factory=list)
    validated: dict[str, tuple[DocumentReport, DocumentFacts | None]] = field(default_factory=dict)
    entries: int = 0
    kinds: dict[str, tuple[str, str]] = field(default_factory=dict)  # member -> member_kind
    referenced: set[str] = field(default_factory=set)
    patients: dict[str, list[str]] = field(default_factory=dict)
    ids: dict[tuple[str, str], int] = field(default_factory=dict)


def check_archive(archive: XdmArchive, settings: Settings,
                  check_document: CheckDocument) -> tuple[list[Hit], list[DocumentReport]]:
    """Archive findings (reading, layout, metadata, members, cross-checks) and the document
    report of every CDA inside, in archive order."""
    run = _Run(archive=archive, settings=settings, check_document=check_document)
    run.hits.extend(archive.hits)
    if not archive.readable:
        return run.hits, run.reports
    run.hits.extend(_guard(run, "(structure)", lambda: list(layout(archive))))
    for subset, metadata in subsets(archive):
        run.hits.extend(_guard(run, metadata or subset, lambda s=subset, m=metadata:
                               _subset(run, s, m)))
    run.hits.extend(_guard(run, "(archive)", lambda: _archive_wide(run)))
    if run.entries > settings.xdm.max_entries:
        run.hits.append(Hit(rule_id=R_TOO_MANY_ENTRIES.id, location=archive.location(),
                            params={"count": run.entries, "limit": settings.xdm.max_entries}))
    for name in archive.names:
        if name in run.validated or name in run.referenced or name.upper().endswith("METADATA.XML"):
            continue
        data = archive.members[name].data
        if not members.looks_like_cda(data):
            continue
        kind, what = members.member_kind(data)
        if kind == "other":
            run.hits.append(Hit(rule_id=members.R_NOT_CDA.id, location=archive.location(name),
                                params={"member": name, "reason": f"son contenu est : {what} ; "
                                                                  "aucun DocumentEntry ne le décrit"}))
        else:
            _validate(run, name, data)
    return run.hits, run.reports


def _guard(run: _Run, member: str, step: Callable[[], list[Hit]]) -> list[Hit]:
    """Run a step; an unexpected exception becomes one XDM099 hit, the archive goes on."""
    try:
        return step()
    except Exception as exc:  # noqa: BLE001 - crash-to-finding, see architecture.md
        return [Hit(rule_id=R_CRASH.id, engine=EngineName.INTERNAL,
                    location=run.archive.location(member),
                    params={"member": member, "error": f"{type(exc).__name__}: {exc}"[:300]})]


# ------------------------------------------------------------------------------ layout

def subsets(archive: XdmArchive) -> list[tuple[str, str | None]]:
    """(subset folder with trailing slash, its METADATA.XML member or None), sorted.

    The folder IHE_XDM is matched ignoring case; when it is absent, any folder holding a
    METADATA.XML is taken as a subset so that the documents are still checked.
    """
    folders: dict[str, str | None] = {}
    for name in [*archive.names, *archive.directories]:
        parts = name.split("/")
        if len(parts) >= 3 and parts[0].upper() == "IHE_XDM" and parts[1]:
            folder = f"{parts[0]}/{parts[1]}/"
            folders.setdefault(folder, None)
            if len(parts) == 3 and parts[2].upper() == "METADATA.XML" and name in archive.members:
                if folders[folder] is None or parts[2] == "METADATA.XML":
                    folders[folder] = name
    if not folders:
        for name in archive.names:
            if name.rsplit("/", 1)[-1].upper() == "METADATA.XML":
                folders[name[: len(name) - len("METADATA.XML")]] = name
    return sorted(folders.items())


def layout(archive: XdmArchive) -> Iterator[Hit]:
    """Root files, IHE_XDM, subsets, junk and ISO-9660 names."""
    names = archive.names
    roots = {n.upper(): n for n in names if "/" not in n}
    for wanted, spec in (("INDEX.HTM", R_INDEX), ("README.TXT", R_README)):
        if wanted not in roots:
            yield Hit(rule_id=spec.id, location=archive.location())
    everything = [*names, *archive.directories]
    if not any(n.upper().startswith(ROOT_DIR) for n in everything):
        yield Hit(rule_id=R_IHE_XDM.id, location=archive.location())
    found = subsets(archive)
    if not found:
        yield Hit(rule_id=R_NO_SUBSET.id, location=archive.location())
    for folder, metadata in found:
        if metadata is None:
            yield Hit(rule_id=R_METADATA.id, params={"subset": folder},
                      location=archive.location(folder))
    for name in names:
        low = name.lower()
        junk = next((label for key, label in _JUNK if key in f"/{low}"), None)
        if junk is not None:
            yield Hit(rule_id=R_JUNK.id, params={"member": name, "kind": junk},
                      location=archive.location(name))
            continue
        parts = name.split("/")
        if (len(parts) == 2 and parts[0].upper() == "IHE_XDM") or (
                len(parts) == 1 and name.upper() not in ("INDEX.HTM", "README.TXT")):
            yield Hit(rule_id=R_STRAY.id, params={"member": name},
                      location=archive.location(name))
        reason = iso9660_problem(name)
        if reason is not None:
            spec = R_ISO_STRICT if archive.strict else R_ISO
            yield Hit(rule_id=spec.id, params={"member": name, "reason": reason},
                      location=archive.location(name))


def iso9660_problem(name: str) -> str | None:
    """Why a member path breaks ISO-9660 level 1 naming, or None."""
    parts = [p for p in name.split("/") if p]
    if len(parts) > 8:
        return f"profondeur {len(parts)} au-delà de 8"
    for i, part in enumerate(parts):
        is_file = i == len(parts) - 1 and not name.endswith("/")
        ok = _ISO_PART.match(part) if is_file else _ISO_DIR.match(part)
        if not ok:
            if part.upper() != part:
                return f"« {part} » n'est pas en majuscules"
            return f"« {part} » n'est pas au format 8.3 en A-Z, 0-9, _"
    return None


# ------------------------------------------------------------------------------ subsets

def _subset(run: _Run, folder: str, metadata: str | None) -> list[Hit]:
    if metadata is None:
        return []
    hits: list[Hit] = []
    data = run.archive.members[metadata].data
    tree, parse_hits = parse_xml(data, run.archive.source, metadata, run.settings.max_bytes)
    hits.extend(parse_hits)
    if tree is None:
        return hits
    sub = read_submission(tree, metadata, folder,
                          max_entries=max(0, run.settings.xdm.max_entries - run.entries))
    hits.extend(check_submission(sub, run.archive.source))
    if not sub.root_ok:
        return hits
    for obj in (*sub.sets, *sub.entries):
        _remember(run, sub, obj)
    for de in sub.entries:
        run.entries += 1
        if run.entries > run.settings.xdm.max_entries:
            continue  # counted, reported once by check_archive
        hits.extend(_guard(run, metadata, lambda d=de: _entry(run, sub, d)))
    run.entries += sub.skipped_entries
    for name in run.archive.names:
        if (name.startswith(folder) and name != metadata and name not in run.referenced
                and "/" not in name[len(folder):]):
            hits.append(Hit(rule_id=members.R_UNREFERENCED.id,
                            params={"member": name, "metadata": metadata},
                            location=run.archive.location(name)))
    return hits


def _remember(run: _Run, sub: Submission, obj: RegistryObject) -> None:
    pid = obj.ids.get("patientId")
    if pid:
        parsed = parse_cx(pid)
        key = f"{parsed[0]}^^^&{parsed[1]}&ISO^NH" if parsed else pid
        run.patients.setdefault(key, []).append(obj.id)
    for attribute, value in (("entryUUID", obj.id), ("uniqueId", obj.ids.get("uniqueId"))):
        if value:
            run.ids[(attribute, value)] = run.ids.get((attribute, value), 0) + 1


def _entry(run: _Run, sub: Submission, de: RegistryObject) -> list[Hit]:
    where = Location(file=run.archive.source, member=sub.member, line=de.line)
    resolved, hits = members.resolve(run.archive, sub, de, where)
    type_code = de.code("typeCode")
    facts: DocumentFacts | None = None
    level = "unknown"
    if resolved.member is not None:
        run.referenced.add(resolved.member)
        data = run.archive.members[resolved.member].data
        hits.extend(members.check_bytes(de, resolved.member, data, where))
        mime = (de.mime_type or "").lower()
        if members.looks_like_cda(data) or mime in members.CDA_MIMES:
            # METADATA.XML says what the entry should be, the content says what it is: only
            # a ClinicalDocument (or a wrapper holding one) is validated as a CDA.
            kind, what = run.kinds.get(resolved.member) or run.kinds.setdefault(
                resolved.member, members.member_kind(data))
            if kind == "other":
                hits.append(Hit(rule_id=members.R_NOT_CDA.id, location=where,
                                params={"member": resolved.member,
                                        "reason": f"METADATA.XML le déclare en « {mime or '(absent)'} » "
                                                  f"mais son contenu est : {what}"}))
            else:
                report, facts = _validate(run, resolved.member, data)
                level = report.level
    if facts is not None:
        hits.extend(cross_check(de, facts, level, resolved.member or "?", where))
    elif type_code is not None:
        found = class_hit(de, type_code.code, where)
        if found is not None:
            hits.append(found)
    return hits


def _validate(run: _Run, member: str,
              data: bytes) -> tuple[DocumentReport, DocumentFacts | None]:
    """Validate a member once, however many DocumentEntries point at it."""
    done = run.validated.get(member)
    if done is not None:
        return done
    report, facts, _parsed = run.check_document(data, run.archive.source, member)
    run.reports.append(report)
    run.validated[member] = (report, facts)
    return report, facts


def _archive_wide(run: _Run) -> list[Hit]:
    hits: list[Hit] = []
    if len(run.patients) > 1:
        hits.append(Hit(rule_id=R_PATIENTS.id, location=run.archive.location(),
                        params={"count": len(run.patients),
                                "values": " ; ".join(sorted(run.patients))}))
    for (attribute, value), count in sorted(run.ids.items()):
        if count > 1:
            hits.append(Hit(rule_id=R_DUP_ID.id, location=run.archive.location(),
                            params={"attribute": attribute, "value": value, "count": count}))
    return hits
