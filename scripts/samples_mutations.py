"""Tree mutations and raw payloads for the defect samples (one defect per sample).

Each mutation takes the ClinicalDocument element built by samples_lib and changes one
thing; :func:`doc` builds, mutates and serializes. Used by scripts/make_samples.py.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

import samples_lib as L

NS = {"h": L.HL7}


def doc(spec: L.DocSpec, *mutations: Callable[[etree._Element], None],
        n3_entries: bool = True, encoding: str = "UTF-8") -> bytes:
    """Serialize a spec's document after applying tree mutations (one defect each)."""
    root = L.build_cda(spec, n3_entries=n3_entries)
    for mutate in mutations:
        mutate(root)
    return L.serialize(root, encoding=encoding)


def one(root: etree._Element, path: str) -> etree._Element:
    found = root.xpath(path, namespaces=NS)
    assert len(found) == 1, (path, len(found))
    return found[0]


def drop(path: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        node = one(root, path)
        node.getparent().remove(node)
    return mutate


def set_attr(path: str, **attrs: str | None) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        node = one(root, path)
        for key, value in attrs.items():
            if value is None:
                node.attrib.pop(key, None)
            else:
                node.set(key, value)
    return mutate


def set_text(path: str, text: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        one(root, path).text = text
    return mutate


INS_ID = "h:recordTarget/h:patientRole/h:id[1]"
N1_TEXT = "h:component/h:nonXMLBody/h:text"
PATIENT = "h:recordTarget/h:patientRole/h:patient"


def wrong_key(nir: str) -> str:
    key = (int(nir[13:]) % 97) + 1
    return nir[:13] + f"{key:02d}"


def add_second_ins(root: etree._Element) -> None:
    first = one(root, INS_ID)
    other = L.PAT_M.nir
    clone = etree.Element(f"{{{L.HL7}}}id", root=L.INS_TEST, extension=other)
    first.addnext(clone)


def add_volet_template(root: etree._Element) -> None:
    last = root.xpath("h:templateId", namespaces=NS)[-1]
    last.addnext(etree.Element(f"{{{L.HL7}}}templateId", root="1.2.250.1.213.1.1.1.29",
                               extension="2022.01"))


def replace_d2lm_templates(root: etree._Element) -> None:
    one(root, f"h:templateId[@root='{L.T_XDS_SD}']").set("root", "1.2.250.1.213.1.1.1.27")
    one(root, "h:templateId[@root='1.2.250.1.213.1.1.1.27']").set("extension", "2022.01")


def d2lm_body(root: etree._Element) -> None:
    """Replace the N1 body by a small structured body with one coded observation."""
    component = one(root, "h:component")
    component.remove(one(component, "h:nonXMLBody"))
    section = L.el(L.el(component, "structuredBody"), "component")
    section = L.el(section, "section")
    L.el(section, "code", {"code": "24606-6", "displayName": "MG Breast Screening",
                           "codeSystem": L.LOINC})
    L.el(section, "title", text="Mammographie de dépistage")
    L.el(section, "text", text="Examen sans anomalie (ACR1).")
    obs = L.el(L.el(section, "entry"), "observation", {"classCode": "OBS", "moodCode": "EVN"})
    L.el(obs, "code", {"code": "24606-6", "displayName": "MG Breast Screening",
                       "codeSystem": L.LOINC})
    L.el(obs, "statusCode", {"code": "completed"})
    L.el(obs, "effectiveTime", {"value": "20240619093000+0200"})


def add_insc(root: etree._Element) -> None:
    """A legacy INS-C (22 digits, fictional) after the INS."""
    one(root, INS_ID).addnext(etree.Element(f"{{{L.HL7}}}id", root=L.INS_C,
                                            extension="0000000000000000000042"))


def add_template(tid: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        last = root.xpath("h:templateId", namespaces=NS)[-1]
        last.addnext(etree.Element(f"{{{L.HL7}}}templateId", root=tid))
    return mutate


def n1_reference(root: etree._Element) -> None:
    """The N1 text only points at an external file instead of carrying the payload."""
    text = one(root, N1_TEXT)
    text.text = None
    L.el(text, "reference", {"value": "compte-rendu.pdf"})


def second_body(root: etree._Element) -> None:
    """A structuredBody next to the nonXMLBody in the same component."""
    component = one(root, "h:component")
    section = L.el(L.el(L.el(component, "structuredBody"), "component"), "section")
    L.el(section, "title", text="Corps structuré en trop")
    L.el(section, "text", text="Ce document porte deux corps.")


def section_template_on_entry(root: etree._Element) -> None:
    """The first entry of the body carries the templateId of the IHE laboratory report item
    section (1.3.6.1.4.1.19376.1.3.3.2.2), a section template (BDY016)."""
    entry = next(root.iter(f"{{{L.HL7}}}entry"))
    tid = etree.Element(f"{{{L.HL7}}}templateId", root="1.3.6.1.4.1.19376.1.3.3.2.2")
    tid.tail = entry.text
    entry.insert(0, tid)


def empty_structured_body(root: etree._Element) -> None:
    body = one(root, "h:component/h:structuredBody")
    for child in list(body):
        body.remove(child)


def drop_lab_entries(root: etree._Element) -> None:
    """Remove the laboratory result entries only (the PDF-copy entry stays)."""
    for entry in root.xpath("//h:entry[h:templateId/@root='1.3.6.1.4.1.19376.1.3.1']",
                            namespaces=NS):
        entry.getparent().remove(entry)


def n1_payload(data: bytes, **attrs: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        node = one(root, N1_TEXT)
        node.text = L.b64_lines(data)
        for key, value in attrs.items():
            node.set(key, value)
    return mutate


def tiny_jpeg() -> bytes:
    """A valid 1x1 grey baseline JPEG written by hand (one-symbol Huffman tables)."""
    def seg(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload
    app0 = seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    dqt = seg(0xDB, b"\x00" + bytes([1] * 64))
    sof = seg(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00")
    one_code = bytes([1] + [0] * 15) + b"\x00"
    dht = seg(0xC4, b"\x00" + one_code) + seg(0xC4, b"\x10" + one_code)
    sos = seg(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    return b"\xff\xd8" + app0 + dqt + sof + dht + sos + b"\x3f" + b"\xff\xd9"


def with_doctype(data: bytes, doctype: str, title_entity: str) -> bytes:
    """Insert a DOCTYPE after the XML declaration and an entity reference in the title."""
    decl_end = data.index(b"?>") + 2
    out = data[:decl_end] + b"\n" + doctype.encode() + data[decl_end:]
    start = out.index(b"<title>") + len(b"<title>")
    end = out.index(b"</title>")
    return out[:start] + f"&{title_entity};".encode() + out[end:]


# DOCTYPEs of the hostile samples: an external entity (XXE) and nested entities.
XXE = ('<!DOCTYPE ClinicalDocument [\n'
       '  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n'
       ']>')
LAUGHS = ('<!DOCTYPE ClinicalDocument [\n  <!ENTITY lol "lol">\n'
          + "".join(f'  <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
                    for i in range(1, 10))
          + ']>')
