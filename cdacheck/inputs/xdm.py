"""Safe reading of an IHE XDM ZIP archive, entirely in memory.

Nothing is ever written to disk: every member is decompressed into memory, in bounded chunks,
after its name, type, flags and sizes have been checked. Hostile archives (path traversal,
symbolic links, duplicate names, encrypted members, nested archives, too many members, zip
bombs) never raise: each problem becomes a hit and the offending member is left out.
"""

from __future__ import annotations

import bz2
import copy
import io
import lzma
import re
import stat
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from cdacheck.config import XdmLimits
from cdacheck.model import EngineName, Hit, Location, Severity
from cdacheck.registry import rule

R_NOT_ZIP = rule("XDM001", "archive-unreadable", Severity.FATAL,
                 "L'archive ne peut pas être lue comme un ZIP : {reason}",
                 "The input is not a readable ZIP file (bad signature, truncated or corrupt "
                 "central directory).", source="xdm.md §1.2")
R_UNSAFE_NAME = rule("XDM002", "member-path-unsafe", Severity.ERROR,
                     "Membre « {member} » ignoré : chemin dangereux ({kind}).",
                     "A member name escapes the archive root (\"..\" component, absolute path, "
                     "drive letter, control character); it is never read nor written.",
                     source="ZIP path traversal (zip-slip)")
R_SYMLINK = rule("XDM003", "member-symlink", Severity.ERROR,
                 "Membre « {member} » ignoré : c'est un lien symbolique.",
                 "A member is a symbolic link; an XDM archive holds only files and folders.")
R_DUPLICATE = rule("XDM004", "member-duplicate", Severity.ERROR,
                   "Le nom « {member} » apparaît {count} fois dans l'archive ; seule la "
                   "première occurrence est lue.",
                   "Two members have the same name; importers disagree on which one wins.")
R_CASE_DUPLICATE = rule("XDM005", "member-case-collision", Severity.WARNING,
                        "Les membres « {member} » et « {other} » ne diffèrent que par la casse "
                        "et se recouvrent sur Windows et macOS.",
                        "Two member names differ only by case.")
R_ENCRYPTED = rule("XDM006", "member-encrypted", Severity.ERROR,
                   "Membre « {member} » chiffré : il ne peut pas être vérifié.",
                   "A member is encrypted (ZIP encryption flag); XDM media are not encrypted.")
R_NESTED = rule("XDM007", "member-nested-archive", Severity.WARNING,
                "Membre « {member} » : archive imbriquée ({kind}), non ouverte.",
                "A member is itself an archive; cdacheck does not open nested archives.")
R_TOO_MANY = rule("XDM008", "archive-too-many-members", Severity.FATAL,
                  "L'archive compte {count} membres, au-delà de la limite de {limit} "
                  "(réglage xdm.max_members) ; elle n'est pas lue.",
                  "More members than the configured cap (XdmLimits.max_members).")
R_TOO_BIG = rule("XDM009", "archive-too-large", Severity.FATAL,
                 "Taille décompressée totale {size} octets, au-delà de la limite de {limit} "
                 "octets (réglage xdm.max_total_uncompressed) : {detail}.",
                 "The total uncompressed size exceeds the cap (zip bomb protection).")
R_MEMBER_BIG = rule("XDM010", "member-too-large", Severity.ERROR,
                    "Membre « {member} » ignoré : {size} octets décompressés, au-delà de la "
                    "limite de {limit} octets (réglage xdm.max_member_size).",
                    "A member is larger than the per-member cap.")
R_RATIO = rule("XDM011", "member-compression-ratio", Severity.ERROR,
               "Membre « {member} » ignoré : taux de compression {ratio} pour 1, au-delà de "
               "{limit} (réglage xdm.max_ratio) — bombe de décompression probable.",
               "A member's compression ratio exceeds the cap (zip bomb protection).")
R_MEMBER_BAD = rule("XDM012", "member-unreadable", Severity.ERROR,
                    "Membre « {member} » illisible : {reason}",
                    "A member cannot be decompressed (bad CRC, unsupported method, size that "
                    "does not match its header).")
R_EMPTY = rule("XDM013", "archive-empty", Severity.FATAL,
               "L'archive ne contient aucun fichier.",
               "The ZIP holds no file at all.")

R_FILE_TOO_BIG = rule("XDM014", "archive-file-too-large", Severity.FATAL,
                      "L'archive fait plus de {limit} octets (réglage max_bytes) : elle n'est "
                      "pas lue.",
                      "The archive file itself is larger than the input size cap; it is reported "
                      "as too large, never as unreadable.")
R_UNICODE_DUPLICATE = rule("XDM015", "member-unicode-collision", Severity.ERROR,
                           "Les membres « {member} » et « {other} » ont le même nom après "
                           "normalisation Unicode (NFC) : les systèmes de fichiers qui "
                           "normalisent (macOS) n'en gardent qu'un.",
                           "Two member names are equal after Unicode normalisation (NFC) but "
                           "differ in their bytes (composed and decomposed accents).")

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_NESTED_EXT = (".zip", ".jar", ".7z", ".rar", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".cab")
# Small members compress extremely well when they are repetitive (a 100 kB block of spaces);
# the ratio cap only makes sense above this size.
RATIO_FLOOR = 1024 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class XdmMember:
    """One file of the archive, read in memory."""

    name: str
    data: bytes
    compressed_size: int
    line: int  # position in the central directory (1-based), for stable ordering


@dataclass
class XdmArchive:
    """The safe view of an archive: members that passed every check, and the reading hits."""

    source: str
    readable: bool
    strict: bool = False
    members: dict[str, XdmMember] = field(default_factory=dict)
    directories: list[str] = field(default_factory=list)
    all_names: list[str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    size: int = 0

    @property
    def names(self) -> list[str]:
        """Names of the members that were read, in archive order."""
        return list(self.members)

    def get(self, name: str) -> bytes | None:
        member = self.members.get(name)
        return member.data if member is not None else None

    def find_casefold(self, name: str) -> list[str]:
        """Members whose name equals ``name`` ignoring case."""
        low = name.casefold()
        return [n for n in self.members if n.casefold() == low]

    def location(self, member: str | None = None) -> Location:
        return Location(file=self.source, member=member)


def open_archive(data: bytes, source: str, limits: XdmLimits | None = None,
                 strict: bool = False, max_size: int | None = None) -> XdmArchive:
    """Read an XDM ZIP in memory; never raises on hostile input (problems become hits).

    ``max_size`` is the input size cap: the source reader keeps at most ``max_size + 1``
    bytes, so a longer archive is reported as too large (XDM014), never as unreadable.
    """
    limits = limits or XdmLimits()
    archive = XdmArchive(source=source, readable=False, strict=strict, size=len(data))
    if max_size is not None and len(data) > max_size:
        archive.hits.append(_hit(R_FILE_TOO_BIG.id, archive.location(), limit=max_size))
        return archive
    if not data.startswith(_ZIP_MAGIC):
        archive.hits.append(_hit(R_NOT_ZIP.id, archive.location(),
                                 reason="signature ZIP (PK) absente"))
        return archive
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError, RuntimeError, UnicodeDecodeError) as exc:
        archive.hits.append(_hit(R_NOT_ZIP.id, archive.location(), reason=_reason(exc)))
        return archive
    with zf:
        try:
            _read_members(zf, infos, archive, limits)
        except Exception as exc:  # last guard: a hostile archive is a finding, never a crash
            archive.readable = False
            archive.hits.append(_hit(R_NOT_ZIP.id, archive.location(), reason=_reason(exc)))
    return archive


def _is_dir(info: zipfile.ZipInfo) -> bool:
    # ZipInfo.is_dir() raises IndexError on an empty member name (seen with mutated ZIPs).
    return info.filename.endswith("/")


def _read_members(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], archive: XdmArchive,
                  limits: XdmLimits) -> None:
    loc = archive.location()
    if len(infos) > limits.max_members:
        archive.hits.append(_hit(R_TOO_MANY.id, loc, count=len(infos), limit=limits.max_members))
        return
    declared = sum(max(i.file_size, 0) for i in infos)
    if declared > limits.max_total_uncompressed:
        archive.hits.append(_hit(R_TOO_BIG.id, loc, size=declared,
                                 limit=limits.max_total_uncompressed,
                                 detail="tailles déclarées dans le répertoire central"))
        return
    archive.readable = True
    archive.all_names = [i.filename for i in infos]
    counts: dict[str, int] = {}
    for info in infos:
        counts[info.filename] = counts.get(info.filename, 0) + 1
    seen: set[str] = set()
    folded: dict[str, str] = {}
    normalised: dict[str, str] = {}
    budget = limits.max_total_uncompressed
    for index, info in enumerate(infos, start=1):
        name = info.filename
        mloc = archive.location(_printable(name))
        kind = unsafe_kind(name)
        if kind is not None:
            archive.hits.append(_hit(R_UNSAFE_NAME.id, mloc, member=_printable(name), kind=kind))
            continue
        if _is_symlink(info):
            archive.hits.append(_hit(R_SYMLINK.id, mloc, member=name))
            continue
        if name in seen:
            continue  # reported once below, the first occurrence is kept
        seen.add(name)
        if counts[name] > 1:
            archive.hits.append(_hit(R_DUPLICATE.id, mloc, member=name, count=counts[name]))
        if _is_dir(info):
            archive.directories.append(name)
            continue
        other = folded.get(name.casefold())
        if other is not None:
            archive.hits.append(_hit(R_CASE_DUPLICATE.id, mloc, member=name, other=other))
        folded.setdefault(name.casefold(), name)
        nfc = unicodedata.normalize("NFC", name)
        same = normalised.setdefault(nfc, name)
        if same != name:
            archive.hits.append(_hit(R_UNICODE_DUPLICATE.id, mloc, member=name, other=same))
        if info.flag_bits & 0x1:
            archive.hits.append(_hit(R_ENCRYPTED.id, mloc, member=name))
            continue
        if info.file_size > limits.max_member_size:
            archive.hits.append(_hit(R_MEMBER_BIG.id, mloc, member=name, size=info.file_size,
                                     limit=limits.max_member_size))
            continue
        if info.file_size > RATIO_FLOOR:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                archive.hits.append(_hit(R_RATIO.id, mloc, member=name, ratio=round(ratio, 1),
                                         limit=limits.max_ratio))
                continue
        payload = _read_one(zf, info, min(budget, limits.max_member_size), archive, mloc,
                             limits.max_ratio)
        if payload is None:
            continue
        budget -= len(payload)
        nested = _nested_kind(name, payload)
        if nested is not None:
            archive.hits.append(_hit(R_NESTED.id, mloc, member=name, kind=nested))
        archive.members[name] = XdmMember(name=name, data=payload,
                                          compressed_size=info.compress_size, line=index)
    if not any(not _is_dir(i) for i in infos):
        archive.hits.append(_hit(R_EMPTY.id, loc))


def _read_one(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, archive: XdmArchive,
              loc: Location, max_ratio: float) -> bytes | None:
    """Decompress one member as a stream, whatever its method and its declared sizes.

    The raw (compressed) bytes are read through zipfile and decompressed here, in pieces of
    at most ``_CHUNK`` bytes for every method (stored, deflate, bzip2, LZMA): zipfile's own
    bzip2 and LZMA readers decompress a whole input block at once, which lets a 3 kB member
    reach gigabytes. The output stops at the smaller of the declared size and the cap, and
    at the compression ratio cap, counted on the bytes actually produced.
    """
    buf = bytearray()
    limit = min(info.file_size, cap)
    crc = 0
    try:
        with zf.open(_raw_info(info)) as raw:
            for piece in _decompress(raw, info.compress_type):
                buf += piece
                crc = zlib.crc32(piece, crc)
                if len(buf) > limit:
                    if info.file_size > cap or len(buf) > cap:
                        archive.hits.append(_hit(R_TOO_BIG.id, loc, size=len(buf), limit=cap,
                                                 detail="budget de décompression épuisé"))
                    else:
                        archive.hits.append(_hit(R_MEMBER_BAD.id, loc, member=info.filename,
                                                 reason="plus d'octets que la taille déclarée"))
                    return None
                if len(buf) > RATIO_FLOOR and len(buf) / max(info.compress_size, 1) > max_ratio:
                    archive.hits.append(_hit(R_RATIO.id, loc, member=info.filename,
                                             ratio=round(len(buf) / max(info.compress_size, 1), 1),
                                             limit=max_ratio))
                    return None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError,
            RuntimeError, ValueError, lzma.LZMAError, struct.error) as exc:
        archive.hits.append(_hit(R_MEMBER_BAD.id, loc, member=info.filename,
                                 reason=_reason(exc)))
        return None
    if len(buf) != info.file_size:
        archive.hits.append(_hit(R_MEMBER_BAD.id, loc, member=info.filename,
                                 reason=f"{len(buf)} octets lus pour {info.file_size} déclarés"))
        return None
    if crc != info.CRC:
        archive.hits.append(_hit(R_MEMBER_BAD.id, loc, member=info.filename,
                                 reason="somme de contrôle CRC-32 fausse"))
        return None
    return bytes(buf)


def _raw_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A copy of ``info`` that makes zipfile hand over the member's compressed bytes as is."""
    raw = copy.copy(info)
    raw.compress_type = zipfile.ZIP_STORED
    raw.file_size = info.compress_size
    try:
        del raw.CRC  # the CRC is of the decompressed bytes: checked by _read_one
    except AttributeError:
        pass
    return raw


def _chunks(raw: io.BufferedIOBase) -> Iterator[bytes]:
    while True:
        chunk = raw.read(_CHUNK)
        if not chunk:
            return
        yield chunk


def _decompress(raw: io.BufferedIOBase, method: int) -> Iterator[bytes]:
    """Decompressed pieces of at most ``_CHUNK`` bytes each (bounded memory per step)."""
    if method == zipfile.ZIP_STORED:
        yield from _chunks(raw)
        return
    if method == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-15)
        for chunk in _chunks(raw):
            while chunk:
                yield inflater.decompress(chunk, _CHUNK)
                chunk = inflater.unconsumed_tail
                if inflater.eof:
                    return
        yield inflater.flush()
        return
    if method == zipfile.ZIP_BZIP2:
        yield from _stream(bz2.BZ2Decompressor(), _chunks(raw))
        return
    if method == zipfile.ZIP_LZMA:
        chunks = _chunks(raw)
        head = raw.read(4)
        if len(head) < 4:
            raise EOFError("en-tête LZMA tronqué")
        _version, size = struct.unpack("<HH", head)
        props = raw.read(size)
        if len(props) < size:
            raise EOFError("propriétés LZMA tronquées")
        filters = [lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)]  # type: ignore[attr-defined]
        yield from _stream(lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters), chunks)
        return
    raise NotImplementedError(f"méthode de compression {method} non prise en charge")


def _stream(decompressor: bz2.BZ2Decompressor | lzma.LZMADecompressor,
            chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield decompressor.decompress(chunk, _CHUNK)
        while not decompressor.eof and not decompressor.needs_input:
            yield decompressor.decompress(b"", _CHUNK)
        if decompressor.eof:
            return


def unsafe_kind(name: str) -> str | None:
    """Why a member name is dangerous to extract, or None when it is safe."""
    if _CONTROL_RE.search(name):
        return "caractère de contrôle"
    if name.startswith(("/", "\\")):
        return "chemin absolu"
    if _DRIVE_RE.match(name):
        return "lettre de lecteur"
    parts = re.split(r"[\\/]", name)
    if any(p == ".." for p in parts):
        return "remontée « .. »"
    if name.strip() == "":
        return "nom vide"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def _nested_kind(name: str, data: bytes) -> str | None:
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return "ZIP"
    low = name.lower()
    for ext in _NESTED_EXT:
        if low.endswith(ext):
            return ext.lstrip(".").upper()
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if data.startswith(b"Rar!"):
        return "RAR"
    return None


def _printable(name: str) -> str:
    return _CONTROL_RE.sub("?", name)[:300]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


def _hit(rule_id: str, loc: Location, **params: object) -> Hit:
    return Hit(rule_id=rule_id, params=params, location=loc,  # type: ignore[arg-type]
               engine=EngineName.PARSER)
