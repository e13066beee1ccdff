"""Hostile test inputs: the small text cases of samples/hostile/ and the large or binary
ones, which are never committed but built at test time.

``python scripts/hostile_cases.py`` rewrites samples/hostile/*.xml (text cases, derived from
our own samples; their sidecars ``<name>.hostile.json`` are written by hand);
``python scripts/hostile_cases.py --generated OUT_DIR`` writes the generated cases
(``GENERATED``: name -> bytes factory; samples/hostile/generated/<name>.hostile.json holds
what each must give). tests/test_hostile.py runs both. Building blocks:

* :func:`pdf_of_size` — a valid one-page PDF padded to a given size (an N1 payload);
* :func:`n1_with_pdf` — one of our N1 samples with its PDF replaced by such a payload;
* :func:`bomb_zip` — a tiny ZIP whose one member (stored, deflate, bzip2 or LZMA) expands
  far beyond every cap, with lying declared sizes if asked;
* :func:`many_entries_zip` — an archive whose METADATA.XML points thousands of
  DocumentEntries at the same CDA member.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def pdf_of_size(size: int) -> bytes:
    """A well-formed one-page PDF of about ``size`` bytes (a padding stream object)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
    ]
    content = b"BT /F1 12 Tf 72 720 Td (cdacheck) Tj ET"
    objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    pad = max(0, size - 600)
    # Incompressible-looking but deterministic padding (a PDF holding a scanned letter).
    block = bytes((i * 7919 + 13) % 251 for i in range(4096))
    padding = (block * (pad // len(block) + 1))[:pad]
    objects.append(b"<< /Length %d >>\nstream\n" % pad + padding + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


_PAYLOAD = re.compile(rb'(<text mediaType="application/pdf" representation="B64">)(.*?)(</text>)', re.S)


def n1_with_pdf(size: int, sample: str = "ldl-ses-n1") -> bytes:
    """Our N1 sample ``sample`` with a PDF of about ``size`` bytes as its payload."""
    doc = (SAMPLES / "documents" / f"{sample}.xml").read_bytes()
    encoded = base64.encodebytes(pdf_of_size(size))  # 76-character lines, as senders do
    new, count = _PAYLOAD.subn(lambda m: m.group(1) + b"\n" + encoded + m.group(3), doc, count=1)
    if count != 1:
        raise ValueError(f"{sample}: no application/pdf B64 payload to replace")
    return new


def bomb_zip(method: int, expanded: int = 256 * 1024 * 1024, lie: bool = True,
             name: str = "IHE_XDM/SUBSET01/DOC0001.XML") -> bytes:
    """A ZIP with one member of ``expanded`` zero bytes; ``lie`` declares 1,000 bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        info = zipfile.ZipInfo(name)
        info.compress_type = method
        with zf.open(info, "w", force_zip64=False) as fh:
            block = b"\0" * (1024 * 1024)
            for _ in range(expanded // len(block)):
                fh.write(block)
    data = bytearray(buf.getvalue())
    if lie:
        for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            pos = data.find(sig)
            struct.pack_into("<I", data, pos + offset, 1000)
    return bytes(data)


def many_entries_zip(count: int) -> bytes:
    """Our valid XDM sample with ``count`` DocumentEntries all pointing at its one CDA."""
    src = zipfile.ZipFile(SAMPLES / "xdm" / "xdm-ldl-ses-n1.zip")
    meta_name = next(n for n in src.namelist() if n.upper().endswith("METADATA.XML"))
    meta = src.read(meta_name)
    start = meta.index(b"<rim:ExtrinsicObject")
    end = meta.index(b"</rim:ExtrinsicObject>") + len(b"</rim:ExtrinsicObject>")
    entry = meta[start:end]
    uuid = re.search(rb'id="(urn:uuid:[0-9a-f-]+)"', entry)
    assert uuid is not None
    copies = [entry.replace(uuid.group(1), b"urn:uuid:00000000-0000-4000-8000-%012d" % i)
              for i in range(count)]
    new_meta = meta[:start] + b"".join(copies) + meta[end:]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            zf.writestr(info.filename, new_meta if info.filename == meta_name else src.read(info))
    return buf.getvalue()


# ----------------------------------------------------------------------------- text cases

def _base(sample: str = "ldl-ses-n1") -> bytes:
    return (SAMPLES / "documents" / f"{sample}.xml").read_bytes()


def _sub(data: bytes, old: bytes, new: bytes) -> bytes:
    if old not in data:
        raise ValueError(f"{old!r} not in the base sample")
    return data.replace(old, new, 1)


def _inject(data: bytes, extra: bytes) -> bytes:
    """Insert ``extra`` just before the body (after the header elements)."""
    return _sub(data, b"  <component>\n    <nonXMLBody>", extra + b"\n  <component>\n    <nonXMLBody>")


_DECL = b"<?xml version='1.0' encoding='UTF-8'?>\n"
_ROOT = b'<ClinicalDocument xmlns="urn:hl7-org:v3"'


def text_cases() -> dict[str, bytes]:
    """The committed cases: name -> bytes (samples/hostile/<name>.xml)."""
    base = _base()
    body = base[len(_DECL):]
    cases = {
        "doctype-file-url": _DECL + b'<!DOCTYPE ClinicalDocument SYSTEM "file:///etc/passwd" [\n'
                            b'  <!ENTITY secret SYSTEM "file:///etc/hostname">\n]>\n'
                            + _sub(body, b"<title>Lettre de liaison", b"<title>&secret;Lettre de liaison"),
        "doctype-dev-stdin": _DECL + b'<!DOCTYPE ClinicalDocument [\n'
                             b'  <!ENTITY in SYSTEM "/dev/stdin">\n  <!ENTITY % p SYSTEM "/dev/zero"> %p;\n]>\n'
                             + _sub(body, b"<title>Lettre de liaison", b"<title>&in;Lettre de liaison"),
        "doctype-in-comment": _DECL + b"<!-- exemple : <!DOCTYPE ClinicalDocument SYSTEM \"x.dtd\"> -->\n" + body,
        "doctype-in-cdata": _sub(base, "<title>Lettre de liaison à la sortie</title>".encode(),
                                 "<title><![CDATA[<!DOCTYPE x>]]>Lettre de liaison à la sortie</title>".encode()),
        "encoding-late-declaration": b'<?xml version="1.0"' + b" " * 300 + b'encoding="ISO-8859-1"?>\n'
                                     + body.replace("à la sortie".encode(), "à la sortie".encode("latin-1")),
        "timestamp-offset-beyond-24h": _sub(base, b'<effectiveTime value="20240315143000+0100"/>',
                                            b'<effectiveTime value="20240315143000+9959"/>'),
        "timestamp-year-9999-offset": _sub(base, b'<effectiveTime value="20240315143000+0100"/>',
                                           b'<effectiveTime value="99991231235959-1200"/>'),
        "timestamp-year-1-offset": _sub(base, b'<effectiveTime value="20240315143000+0100"/>',
                                        b'<effectiveTime value="00010101000000+1400"/>'),
        "timestamp-arabic-digits": _sub(base, b'<effectiveTime value="20240315143000+0100"/>',
                                        '<effectiveTime value="٢٠٢٤٠٣١٥١٤٣٠٠٠+0100"/>'.encode()),
        "two-version-numbers": _sub(base, b'<versionNumber value="1"/>',
                                    b'<versionNumber value="1"/>\n  <versionNumber value="1"/>'),
        "two-titles": _sub(base, "<title>Lettre de liaison à la sortie</title>".encode(),
                           "<title>Lettre de liaison à la sortie</title><title>Copie du document</title>".encode()),
        "deep-nesting": _inject(base, b"<x>" * 1500 + b"</x>" * 1500),
        "very-long-name": _inject(base, b"<" + b"n" * 100_000 + b"/>"),
        "bom-in-name": _inject(base, "<a\ufeffb/>".encode()),
        # XML 1.0 forbids C0 controls even as references; C1 controls (U+009B is CSI, the
        # start of a terminal sequence) and bidi overrides are allowed in values.
        "terminal-escapes": _sub(_sub(base, b"<title>Lettre de liaison",
                                      "<title>\u009b2J\u009b31m\u202eLettre de liaison".encode()),
                                 b'<versionNumber value="1"/>',
                                 '<versionNumber value="1\u009b2J\u202e"/>'.encode()),
        "pdf-library-raises": _PAYLOAD.sub(lambda m: m.group(1) + b"\n" + base64.encodebytes(
            b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages "
            b"/Kids [2 0 R] /Count 5 >> endobj\ntrailer << /Root 1 0 R >>\nstartxref\n9\n%%EOF\n")
            + m.group(3), base, count=1),
    }
    return cases


# -------------------------------------------------------------------------- generated cases

def _utf16(data: bytes, codec: str) -> bytes:
    text = data.decode("utf-8").replace("encoding='UTF-8'", "encoding='UTF-16'", 1)
    return text.encode(codec)


def _xdm_with(extra: dict[str, bytes], meta_edit: tuple[bytes, bytes] | None = None) -> bytes:
    """Our valid XDM sample plus ``extra`` members, its METADATA.XML edited if asked."""
    src = zipfile.ZipFile(SAMPLES / "xdm" / "xdm-ldl-ses-n1.zip")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            data = src.read(info)
            if meta_edit is not None and info.filename.upper().endswith("METADATA.XML"):
                if meta_edit[0] not in data:
                    raise ValueError(f"{meta_edit[0]!r} not in METADATA.XML")
                data = data.replace(meta_edit[0], meta_edit[1], 1)
            zf.writestr(info.filename, data)
        for name, data in extra.items():
            zf.writestr(name, data)
    return buf.getvalue()


_SIZE_SLOT = re.compile(rb'(<rim:Slot name="size"><rim:ValueList><rim:Value>)(\d+)(</rim:Value>)')


def _size_slot(value: bytes) -> bytes:
    meta = zipfile.ZipFile(SAMPLES / "xdm" / "xdm-ldl-ses-n1.zip").read("IHE_XDM/SUBSET01/METADATA.XML")
    m = _SIZE_SLOT.search(meta)
    if m is None:
        raise ValueError("no size slot in the sample METADATA.XML")
    return _xdm_with({}, (m.group(0), m.group(1) + value + m.group(3)))


_XSL = (b'<?xml version="1.0"?>\n<xsl:stylesheet version="1.0" '
        b'xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:n1="urn:hl7-org:v3">\n'
        b'<xsl:template match="n1:ClinicalDocument"><html><xsl:value-of select="n1:title"/></html>'
        b'</xsl:template>\n</xsl:stylesheet>\n')
_HTML = b"<html><body><h1>ClinicalDocument urn:hl7-org:v3</h1></body></html>\n"

GENERATED: dict[str, object] = {
    "utf16le-no-bom": lambda: _utf16(_base(), "utf-16-le"),
    "utf16be-no-bom": lambda: _utf16(_base(), "utf-16-be"),
    "utf32le-no-bom": lambda: _utf16(_base(), "utf-32-le").replace(b"UTF-16", b"UTF-32"),
    "n1-pdf-9mb": lambda: n1_with_pdf(9 * 1024 * 1024),
    "bomb-bzip2": lambda: bomb_zip(zipfile.ZIP_BZIP2),
    "bomb-lzma": lambda: bomb_zip(zipfile.ZIP_LZMA),
    "bomb-deflate": lambda: bomb_zip(zipfile.ZIP_DEFLATED),
    "bomb-bzip2-honest-sizes": lambda: bomb_zip(zipfile.ZIP_BZIP2, lie=False),
    "entries-5000-same-member": lambda: many_entries_zip(5000),
    "xsl-and-html-members": lambda: _xdm_with({"IHE_XDM/SUBSET01/CDA.XSL": _XSL, "INDEX2.HTM": _HTML}),
    "nfc-nfd-member-names": lambda: _xdm_with({"IHE_XDM/SUBSET01/R\u00c9SUM\u00c9.TXT": b"a",
                                               "IHE_XDM/SUBSET01/RE\u0301SUME\u0301.TXT": b"b"}),
    "size-slot-5000-digits": lambda: _size_slot(b"7" * 5000),
    "size-slot-arabic-digits": lambda: _size_slot("٧٥٦٨".encode()),
    "archive-over-max-bytes": lambda: (SAMPLES / "xdm" / "xdm-ldl-ses-n1.zip").read_bytes(),
}


def generated(name: str) -> bytes:
    factory = GENERATED[name]
    return factory()  # type: ignore[operator]


def write_text_cases(folder: Path = SAMPLES / "hostile") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in sorted(text_cases().items()):
        path = folder / f"{name}.xml"
        path.write_bytes(data)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    if argv[:1] == ["--generated"]:
        out = Path(argv[1] if len(argv) > 1 else "hostile-generated")
        out.mkdir(parents=True, exist_ok=True)
        for name in GENERATED:
            data = generated(name)
            suffix = ".zip" if data.startswith(b"PK") else ".xml"
            (out / f"{name}{suffix}").write_bytes(data)
        (out / "n1-pdf-40mb.xml").write_bytes(n1_with_pdf(40 * 1024 * 1024))
        print(f"written to {out}")
        return 0
    for path in write_text_cases():
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
