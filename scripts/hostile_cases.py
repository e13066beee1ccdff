"""Hostile test inputs that are too large or too binary to be committed.

``python scripts/hostile_cases.py OUT_DIR`` writes them; the tests call the functions
directly (into a temporary folder) so that the repository stays small:

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


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "hostile-generated")
    out.mkdir(parents=True, exist_ok=True)
    (out / "n1-pdf-9mb.xml").write_bytes(n1_with_pdf(9 * 1024 * 1024))
    (out / "n1-pdf-40mb.xml").write_bytes(n1_with_pdf(40 * 1024 * 1024))
    for label, method in (("stored", zipfile.ZIP_STORED), ("deflate", zipfile.ZIP_DEFLATED),
                          ("bzip2", zipfile.ZIP_BZIP2), ("lzma", zipfile.ZIP_LZMA)):
        (out / f"bomb-{label}.zip").write_bytes(bomb_zip(method, 64 * 1024 * 1024))
    (out / "entries-5000.zip").write_bytes(many_entries_zip(5000))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
