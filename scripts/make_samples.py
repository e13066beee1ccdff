"""Generate cdacheck's synthetic samples and their expected outcomes into samples/.

Usage: python scripts/make_samples.py [OUT_DIR]   (default: <project>/samples)

Every sample is built by scripts/samples_lib.py (valid documents) and
scripts/samples_mutations.py (one defect each) from fixed data (no clock, no randomness),
so running the script twice gives byte-identical files; tests/test_samples.py checks both
that and that cdacheck's verdict on each sample matches its ``<name>.expected.json`` sidecar.
The sidecars state what the fact sheet (cisis-facts.md) requires; cdacheck is compared with
them, never the other way round. Nothing here is copied from the official kit.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))

import samples_lib as L  # noqa: E402
from samples_mutations import (  # noqa: E402
    INS_ID, LAUGHS, N1_TEXT, PATIENT, XXE, add_insc, add_second_ins, add_template,
    add_volet_template, d2lm_body, doc, drop, drop_lab_entries, empty_structured_body,
    n1_payload, n1_reference, replace_d2lm_templates, second_body, section_template_on_entry,
    set_attr, set_text, tiny_jpeg, wrong_key, with_doctype,
)
from sample_expectations import EXPECT  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- base specs

LDL_SES = L.DocSpec(
    name="ldl-ses-n1", code="11490-0",
    display="Lettre de liaison à la sortie d'un établissement de soins",
    title="Lettre de liaison à la sortie", effective="20240315143000+0100",
    patient=L.PAT_F, author=L.MED_INTERNE, encounter=L.STAY_MARCH,
    service_low="20240310080000+0100", service_high="20240315160000+0100",
    pdf_lines=("Lettre de liaison à la sortie", "Service de médecine interne"),
)
ORDONNANCE = L.DocSpec(
    name="ordonnance-n1", code="57833-6", display="Prescription de produits de santé",
    title="Ordonnance de sortie", effective="20240315120000+0100",
    patient=L.PAT_CORSE, author=L.MED_INTERNE, encounter=L.STAY_MARCH,
    service_low="20240315120000+0100", service_high="20240315120000+0100",
    pdf_lines=("Ordonnance de sortie", "PARACETAMOL 1 g : 1 comprimé 3 fois par jour, 5 jours"),
)
CRO = L.DocSpec(
    name="cro-n1", code="34874-8", display="CR opératoire", title="Compte rendu opératoire",
    effective="20240618170000+0200", patient=L.PAT_M, author=L.CHIRURGIEN,
    encounter=L.STAY_JUNE, service_low="20240618090000+0200",
    service_high="20240618103000+0200",
    service_code=("HHFA016", "1.2.250.1.215.300.1", "Appendicectomie, par coelioscopie"),
    pdf_lines=("Compte rendu opératoire", "Appendicectomie par coelioscopie"),
)
CR_IMG = L.DocSpec(
    name="cr-img-n1", code="18748-4", display="CR d'imagerie médicale",
    title="Compte rendu d'imagerie médicale", effective="20240619101500+0200",
    patient=L.PAT_F, author=L.RADIOLOGUE, encounter=L.STAY_JUNE,
    service_low="20240619093000+0200", service_high="20240619094500+0200",
    pdf_lines=("Compte rendu d'imagerie médicale", "Radiographie du thorax de face"),
)
CR_BIO = L.DocSpec(
    name="cr-bio-n3", code="11502-2", display="CR d'examens biologiques",
    title="Compte rendu d'examens biologiques", effective="20240304160500+0100",
    patient=L.PAT_M, author=L.BIOLOGISTE, encounter=L.VISIT_LAB,
    service_low="20240304092200+0100", service_high="20240304160500+0100",
    templates=L.CR_BIO_TEMPLATES, body="cr-bio-n3",
    service_code=("18719-5", L.LOINC, "Biochimie"),
    pdf_lines=("Compte rendu d'examens biologiques", "Glycémie 5,4 mmol/L ; kaliémie 4,1 mmol/L"),
)


# --------------------------------------------------------------------------- helpers
# --------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class Sample:
    """One sample file and what it shows; its expected outcome is in EXPECT[name]."""

    name: str
    build: Callable[[], bytes]
    description: str
    env: str = "test"
    folder: str = "documents"
    suffix: str = ".xml"


def _signed() -> bytes:
    spec = L.with_(LDL_SES, name="signed-ldl-ses-n1")
    return L.serialize(L.wrap_signature(L.build_cda(spec)))


def _autopresentable() -> bytes:
    spec = L.with_(CR_BIO, name="autopresentable-cr-bio-n3")
    sheet = L.wrap_stylesheet(L.build_cda(spec))
    sheet.addprevious(etree.ProcessingInstruction("xml-stylesheet", 'type="text/xsl" href="#"'))
    return L.serialize(sheet)




def _specs(name: str, base: L.DocSpec, **changes: object) -> L.DocSpec:
    return L.with_(base, name=name, **changes)


SAMPLES: list[Sample] = [
    # --- valid documents, one per indicator, in their usual form
    Sample("ldl-ses-n1", lambda: doc(LDL_SES),
           "Lettre de liaison de sortie (11490-0), N1 PDF, INS de test valide : DS 1.1."),
    Sample("ordonnance-n1", lambda: doc(ORDONNANCE),
           "Ordonnance (57833-6) N1 datée dans un séjour IMP, patient né en Corse (2A) : "
           "DS 1.2 (contexte de sortie déduit)."),
    Sample("cro-n1", lambda: doc(CRO),
           "Compte rendu opératoire (34874-8), N1, acte CCAM : DS 1.3."),
    Sample("cr-img-n1", lambda: doc(CR_IMG),
           "Compte rendu d'imagerie (18748-4), N1 : DS 3.1."),
    Sample("cr-bio-n3", lambda: doc(CR_BIO),
           "Compte rendu de biologie (11502-2) N3 : section de spécialité, entrées de "
           "résultats (glycémie 14749-6, potassium 2823-3) et copie PDF : DS 2.1."),
    Sample("signed-ldl-ses-n1", _signed,
           "Racine ds:Signature enveloppant une lettre de liaison N1 : DS 1.1."),
    Sample("autopresentable-cr-bio-n3", _autopresentable,
           "Document auto-présentable (racine xsl:stylesheet) embarquant un CR-BIO N3 : DS 2.1."),
    # --- valid documents that feed no indicator
    Sample("cr-bio-n1", lambda: doc(_specs("cr-bio-n1", CR_BIO, templates=L.N1_TEMPLATES,
                                            body="n1")),
           "CR de biologie en N1 : valide, mais DS 2.1 exige le N3 (aucun indicateur)."),
    Sample("ldl-ees-n1", lambda: doc(_specs("ldl-ees-n1", LDL_SES, code="18761-7",
                                             display="Note de transfert (dont lettre de liaison "
                                                     "à l'entrée en établissement de soins)",
                                             title="Lettre de liaison à l'entrée")),
           "Lettre de liaison à l'entrée (18761-7) : pas une lettre de sortie (aucun indicateur)."),
    Sample("cr-anest-n1", lambda: doc(_specs("cr-anest-n1", CRO, code="77436-4",
                                              display="CR d'anesthésie",
                                              title="Compte rendu d'anesthésie",
                                              author=L.ANESTHESISTE)),
           "Compte rendu d'anesthésie (77436-4) : pas un CRO (aucun indicateur)."),
    Sample("d2lm-n3", lambda: doc(_specs("d2lm-n3", CR_IMG, title="Fiche d'interprétation "
                                          "de mammographie de dépistage"),
                                  replace_d2lm_templates, d2lm_body),
           "Même code que le CR d'imagerie (18748-4) mais templateId D2LM "
           "1.2.250.1.213.1.1.1.27 : dépistage, pas un CR-IMG (aucun indicateur)."),
    Sample("ordonnance-n1-hors-sejour",
           lambda: doc(_specs("ordonnance-n1-hors-sejour", ORDONNANCE,
                              effective="20240402100000+0200",
                              service_low="20240402100000+0200",
                              service_high="20240402100000+0200")),
           "Ordonnance datée 18 jours après la fin du séjour : contexte de sortie non établi "
           "(aucun indicateur)."),
    # --- INS defects
    Sample("ins-key-wrong", lambda: doc(_specs("ins-key-wrong", LDL_SES),
                                        set_attr(INS_ID, extension=wrong_key(L.PAT_F.nir))),
           "INS dont la clé de contrôle est fausse."),
    Sample("ins-no-birthplace", lambda: doc(_specs("ins-no-birthplace", LDL_SES),
                                            drop(f"{PATIENT}/h:birthplace")),
           "INS présent mais trait manquant : pas de lieu de naissance (code COG)."),
    Sample("ins-sex-un", lambda: doc(_specs("ins-sex-un", LDL_SES),
                                     set_attr(f"{PATIENT}/h:administrativeGenderCode",
                                              code="UN", displayName="Inconnu")),
           "INS avec sexe UN : le sexe INS est F ou M."),
    Sample("ins-two", lambda: doc(_specs("ins-two", LDL_SES), add_second_ins),
           "Deux identifiants INS différents pour le même patient."),
    Sample("ins-nullflavor", lambda: doc(_specs("ins-nullflavor", LDL_SES),
                                         set_attr(INS_ID, extension=None, nullFlavor="UNK")),
           "Identifiant INS en nullFlavor (sans matricule)."),
    Sample("ins-nss-oid", lambda: doc(_specs("ins-nss-oid", LDL_SES),
                                      set_attr(INS_ID, root=L.NSS_NIR)),
           "NIR sous l'OID 1.2.250.1.213.1.4.13 (numéro de sécurité sociale) à la place de "
           "l'INS : aucun INS."),
    Sample("ins-production-oid", lambda: doc(_specs("ins-production-oid", LDL_SES),
                                             set_attr(INS_ID, root=L.INS_PROD)),
           "INS sous l'OID de production 1.2.250.1.213.1.4.8 (clé valide), contrôlé en "
           "environnement de production : INS qualifié, DS 1.1.", env="production"),
    Sample("ins-test-oid-in-production", lambda: doc(_specs("ins-test-oid-in-production",
                                                            LDL_SES)),
           "INS de test (1.2.250.1.213.1.4.10) contrôlé en environnement de production.",
           env="production"),
    # --- body / level defects
    Sample("n1-four-templateids", lambda: doc(_specs("n1-four-templateids", LDL_SES),
                                              add_volet_template),
           "N1 qui garde le templateId du volet LDL-SES (1.2.250.1.213.1.1.1.29) : "
           "4 templateId au lieu de 3."),
    Sample("n1-no-xds-sd-template", lambda: doc(_specs("n1-no-xds-sd-template", LDL_SES),
                                                drop(f"h:templateId[@root='{L.T_XDS_SD}']")),
           "N1 sans le templateId IHE XDS-SD 1.3.6.1.4.1.19376.1.2.20."),
    Sample("n1-base64-broken", lambda: doc(_specs("n1-base64-broken", LDL_SES),
                                           set_text(N1_TEXT, "JVBERi0xLjQK%%%ceci n'est pas "
                                                             "du base64***")),
           "Corps N1 dont le base64 ne se décode pas."),
    Sample("n1-not-pdf", lambda: doc(_specs("n1-not-pdf", LDL_SES),
                                     n1_payload("Ceci n'est pas un PDF.\n".encode())),
           "Corps N1 déclaré application/pdf dont le contenu n'est pas un PDF."),
    Sample("n1-mediatype-jpeg", lambda: doc(_specs("n1-mediatype-jpeg", CR_IMG),
                                            n1_payload(tiny_jpeg(), mediaType="image/jpeg")),
           "Corps N1 en image/jpeg (vraie image JPEG) : toléré par TRE_R222 mais à "
           "convertir en PDF (avertissement)."),
    Sample("n1-representation-txt", lambda: doc(_specs("n1-representation-txt", LDL_SES),
                                                set_attr(N1_TEXT, representation="TXT")),
           "Corps N1 avec representation TXT au lieu de B64."),
    Sample("n3-no-entry", lambda: doc(_specs("n3-no-entry", CR_BIO), n3_entries=False),
           "CR-BIO en structuredBody sans aucune entrée codée (N3 revendiqué, contenu "
           "non structuré) : avertissement, et DS 2.1 non atteint."),
    Sample("n3-section-template-on-entry",
           lambda: doc(_specs("n3-section-template-on-entry", CR_BIO), section_template_on_entry),
           "CR-BIO N3 dont une entrée porte le templateId d'une section (IHE Laboratory Report "
           "Item Section) : un modèle de section hors d'une section."),
    Sample("ins-absent", lambda: doc(_specs("ins-absent", LDL_SES), drop(INS_ID)),
           "Aucun INS, seulement l'IPP : avertissement, et aucun indicateur (INS qualifié exigé)."),
    Sample("ins-c-obsolete", lambda: doc(_specs("ins-c-obsolete", LDL_SES), add_insc),
           "INS valide accompagné d'un ancien INS-C (1.2.250.1.213.1.4.2) : avertissement."),
    Sample("ins-malformed", lambda: doc(_specs("ins-malformed", LDL_SES),
                                        set_attr(INS_ID, extension=L.PAT_F.nir[:14])),
           "INS de 14 caractères au lieu de 15."),
    Sample("ins-sex-contradicts-nir",
           lambda: doc(_specs("ins-sex-contradicts-nir", LDL_SES),
                       set_attr(f"{PATIENT}/h:administrativeGenderCode", code="M",
                                displayName="Masculin")),
           "Sexe M alors que le NIR commence par 2 (féminin) : avertissement."),
    Sample("ins-birth-contradicts-nir",
           lambda: doc(_specs("ins-birth-contradicts-nir", LDL_SES),
                       set_attr(f"{PATIENT}/h:birthTime", value="19860412")),
           "Année de naissance 1986 alors que le NIR porte 85 : avertissement."),
    # --- more body defects
    Sample("body-missing", lambda: doc(_specs("body-missing", LDL_SES), drop("h:component")),
           "Document sans corps (ni nonXMLBody ni structuredBody)."),
    Sample("body-both-kinds", lambda: doc(_specs("body-both-kinds", LDL_SES), second_body),
           "Un nonXMLBody et un structuredBody dans le même document."),
    Sample("n1-mediatype-missing", lambda: doc(_specs("n1-mediatype-missing", LDL_SES),
                                               set_attr(N1_TEXT, mediaType=None)),
           "Corps N1 sans @mediaType (le défaut XSD text/plain masquerait l'absence)."),
    Sample("n1-payload-reference", lambda: doc(_specs("n1-payload-reference", LDL_SES),
                                               n1_reference),
           "Corps N1 qui ne fait que référencer un fichier externe (pas de contenu)."),
    Sample("n1-pdf-encrypted", lambda: doc(_specs("n1-pdf-encrypted", LDL_SES),
                                           n1_payload(L.make_pdf(["PDF chiffré"],
                                                                 encrypted=True))),
           "Corps N1 dont le PDF déclare un chiffrement (/Encrypt)."),
    Sample("n1-pdf-no-page", lambda: doc(_specs("n1-pdf-no-page", LDL_SES),
                                         n1_payload(L.make_pdf(["PDF vide"], pages=0))),
           "Corps N1 dont le PDF n'a aucune page."),
    Sample("n3-declares-xds-sd", lambda: doc(_specs("n3-declares-xds-sd", CR_BIO),
                                             add_template(L.T_XDS_SD)),
           "CR-BIO structuré (N3) qui déclare aussi le templateId N1 XDS-SD."),
    Sample("n3-no-section", lambda: doc(_specs("n3-no-section", CR_BIO),
                                        empty_structured_body),
           "structuredBody sans aucune section."),
    # --- document type defects
    Sample("document-code-nullflavor",
           lambda: doc(_specs("document-code-nullflavor", LDL_SES),
                       set_attr("h:code", code=None, displayName=None, codeSystem=None,
                                codeSystemName=None, nullFlavor="UNK")),
           "ClinicalDocument/code en nullFlavor : type de document inconnu."),
    Sample("document-code-not-loinc",
           lambda: doc(_specs("document-code-not-loinc", LDL_SES),
                       set_attr("h:code", codeSystem="1.2.250.1.213.1.1.4.12",
                                codeSystemName=None)),
           "Code 11490-0 donné dans un autre système de codes que LOINC : avertissement (le kit ne "
           "contrôle pas le codeSystem d'une LDL-SES ni d'un N1)."),
    Sample("cr-bio-code-not-loinc",
           lambda: doc(_specs("cr-bio-code-not-loinc", CR_BIO),
                       set_attr("h:code", codeSystem="1.2.250.1.213.1.1.4.12",
                                codeSystemName=None)),
           "CR-BIO N3 dont le code 11502-2 est donné hors LOINC : erreur (le volet CR-BIO compare "
           "le codeSystem)."),
    Sample("model-template-code-mismatch",
           lambda: doc(_specs("model-template-code-mismatch", CR_BIO, code="11490-0",
                              display="Lettre de liaison à la sortie d'un établissement de "
                                      "soins", title="Lettre de liaison à la sortie")),
           "En-tête CR-BIO (templateId XD-LAB et 1.2.250.1.213.1.1.1.55) avec le code de la "
           "lettre de liaison 11490-0."),
    Sample("segur-code-other-model",
           lambda: doc(_specs("segur-code-other-model", CR_BIO,
                              templates=L.CR_BIO_TEMPLATES + (("1.2.250.1.213.1.1.1.47", None),))),
           "CR-BIO (11502-2) qui déclare aussi le templateId 1.2.250.1.213.1.1.1.47 d'un autre "
           "modèle du CI-SIS (demande d'examen d'imagerie IMG-DA-IMG)."),
    Sample("cr-bio-n3-no-xdlab-template",
           lambda: doc(_specs("cr-bio-n3-no-xdlab-template", CR_BIO,
                              templates=tuple(t for t in L.CR_BIO_TEMPLATES
                                              if t[0] != "1.3.6.1.4.1.19376.1.3.3"))),
           "CR-BIO structuré sans le templateId IHE XD-LAB 1.3.6.1.4.1.19376.1.3.3."),
    Sample("cr-bio-n3-no-lab-result", lambda: doc(_specs("cr-bio-n3-no-lab-result", CR_BIO),
                                                  drop_lab_entries),
           "CR-BIO structuré avec sa copie PDF mais sans entrée de résultat de laboratoire."),
    # --- header defects
    Sample("realm-code-missing", lambda: doc(_specs("realm-code-missing", LDL_SES),
                                             drop("h:realmCode")),
           "realmCode FR absent."),
    Sample("type-id-wrong", lambda: doc(_specs("type-id-wrong", LDL_SES),
                                        set_attr("h:typeId", extension="POCD_HD000041")),
           "typeId dont l'extension n'est pas POCD_HD000040."),
    Sample("language-code-fr", lambda: doc(_specs("language-code-fr", LDL_SES),
                                           set_attr("h:languageCode", code="fr")),
           "languageCode « fr » au lieu de « fr-FR »."),
    Sample("confidentiality-code-masque", lambda: doc(_specs("confidentiality-code-masque",
                                                             LDL_SES),
                                                      set_attr("h:confidentialityCode",
                                                               code="MASQUE_PS",
                                                               displayName="Masqué aux PS",
                                                               codeSystem="1.2.250.1.213.1.1.4.13")),
           "confidentialityCode MASQUE_PS (code DMP de métadonnée) hors de L/M/N/R/U/V."),
    Sample("effective-time-no-offset", lambda: doc(_specs("effective-time-no-offset", LDL_SES),
                                                   set_attr("h:effectiveTime",
                                                            value="20240315143000")),
           "effectiveTime du document avec heure mais sans décalage horaire."),
    Sample("set-id-missing", lambda: doc(_specs("set-id-missing", LDL_SES), drop("h:setId")),
           "setId absent."),
    Sample("custodian-root-wrong", lambda: doc(_specs("custodian-root-wrong", LDL_SES),
                                               set_attr("h:custodian/h:assignedCustodian/"
                                                        "h:representedCustodianOrganization/h:id",
                                                        root=L.PS_ID)),
           "custodian identifié sous l'OID des professionnels (1.2.250.1.71.4.2.1) au lieu "
           "de celui des structures."),
    Sample("legal-authenticator-missing", lambda: doc(_specs("legal-authenticator-missing",
                                                             LDL_SES),
                                                      drop("h:legalAuthenticator")),
           "legalAuthenticator absent."),
    Sample("gender-code-u", lambda: doc(_specs("gender-code-u", LDL_SES),
                                        set_attr(f"{PATIENT}/h:administrativeGenderCode",
                                                 code="U", displayName="Indéterminé")),
           "administrativeGenderCode « U », hors du jeu J143 (F, M, UN)."),
    Sample("family-no-qualifier", lambda: doc(_specs("family-no-qualifier", LDL_SES),
                                              set_attr(f"{PATIENT}/h:name/h:family",
                                                       qualifier=None)),
           "Nom de famille du patient sans @qualifier (BR ou CL exigé)."),
    # --- hostile or badly encoded inputs
    Sample("not-xml", lambda: b"%PDF-1.4\nCeci n'est pas du XML.\n",
           "Contenu qui n'est pas du XML.", folder="inputs"),
    Sample("truncated", lambda: doc(_specs("truncated", LDL_SES))[:1500],
           "Document tronqué au milieu de l'en-tête.", folder="inputs"),
    Sample("empty", lambda: b"", "Fichier vide (0 octet).", folder="inputs"),
    Sample("xxe", lambda: with_doctype(doc(_specs("xxe", LDL_SES)), XXE, "xxe"),
           "Entité externe vers file:///etc/passwd (XXE) : jamais résolue.", folder="inputs"),
    Sample("billion-laughs", lambda: with_doctype(doc(_specs("billion-laughs", LDL_SES)),
                                                  LAUGHS, "lol9"),
           "Entités imbriquées (« billion laughs ») : jamais développées.", folder="inputs"),
    Sample("utf8-bom", lambda: b"\xef\xbb\xbf" + doc(_specs("utf8-bom", LDL_SES)),
           "Lettre de liaison valide précédée d'une BOM UTF-8 (avertissement) : DS 1.1.",
           folder="inputs"),
    Sample("latin1", lambda: doc(_specs("latin1", LDL_SES), encoding="ISO-8859-1"),
           "Document encodé en ISO-8859-1 : le CI-SIS impose UTF-8.", folder="inputs"),
]


# --------------------------------------------------------------------------- writing


def sidecar(sample: Sample) -> dict[str, object]:
    """The expected outcome of a sample: the spec's verdict, from sample_expectations."""
    exp = dict(EXPECT[sample.name])
    out: dict[str, object] = {"env": sample.env}
    for key in ("valid", "doc_type", "level", "indicator", "rules", "absent_rules",
                "exit_code"):
        out[key] = exp.pop(key)
    out["description"] = sample.description
    out.update(exp)  # optional keys: pending, inferred, ...
    return out


def generate(out_dir: Path) -> list[Path]:
    """Write every sample and its sidecar under ``out_dir``; return the paths written."""
    written: list[Path] = []
    valid_docs: dict[str, bytes] = {}
    names = [s.name for s in SAMPLES]
    assert len(names) == len(set(names)), "duplicate sample name"
    missing = set(names) ^ set(EXPECT)
    assert not missing, f"samples and expectations differ: {sorted(missing)}"
    for sample in SAMPLES:
        folder = out_dir / sample.folder
        folder.mkdir(parents=True, exist_ok=True)
        data = sample.build()
        path = folder / f"{sample.name}{sample.suffix}"
        path.write_bytes(data)
        side = folder / f"{sample.name}.expected.json"
        side.write_text(json.dumps(sidecar(sample), ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
        written += [path, side]
        if EXPECT[sample.name]["valid"] and sample.folder == "documents":
            valid_docs[sample.name] = data
    readme = out_dir / "README.md"
    readme.write_text(render_readme(), encoding="utf-8")
    written.append(readme)
    written += _xdm(out_dir, valid_docs)
    return written


def _xdm(out_dir: Path, documents: dict[str, bytes]) -> list[Path]:
    """Archives are the XDM helper's (scripts/samples_xdm.py), built from our documents."""
    try:
        module = importlib.import_module("samples_xdm")
    except ModuleNotFoundError:
        return []
    result = module.build_xdm_samples(out_dir / "xdm", documents)
    return list(result or [])


def render_readme() -> str:
    lines = [
        "# cdacheck samples",
        "",
        "Synthetic documents written by `scripts/make_samples.py` (do not edit by hand: run",
        "`python scripts/make_samples.py` and commit the result). Every patient, professional,",
        "structure and identifier is fictional; INS use the test root 1.2.250.1.213.1.4.10 with",
        "valid NIR keys (except where a sample shows a defect). Nothing comes from the ANS kit.",
        "",
        "Each `<name>.expected.json` states what the CI-SIS facts require (env, valid,",
        "doc_type, level, indicator, rule ids that must / must not appear, exit code);",
        "`tests/test_samples.py` compares cdacheck's report with it. `pending` lists rules the",
        "spec requires that cdacheck does not declare yet (not checked).",
        "",
        "| Sample | env | Indicator | Shows |",
        "|---|---|---|---|",
    ]
    for s in SAMPLES:
        exp = EXPECT[s.name]
        lines.append(f"| `{s.folder}/{s.name}{s.suffix}` | {s.env} | {exp['indicator']} | "
                     f"{s.description} |")
    lines += ["", "`xdm/` holds IHE XDM archives built from the valid documents by",
              "`scripts/samples_xdm.py`: same sidecar format, checked against the archive's",
              "report (its own findings and its documents'); an archive sidecar may give",
              "`documents` (how many) and `indicators` (one per document) in place of",
              "doc_type / level / indicator.", ""]
    return "\n".join(lines)


def remove_stale(out_dir: Path, written: list[Path]) -> list[Path]:
    """Delete sample files a previous run wrote and this one did not (renamed samples)."""
    keep = {p.resolve() for p in written}
    stale = [p for p in out_dir.rglob("*") if p.is_file() and p.resolve() not in keep
             and (p.suffix in (".xml", ".zip") or p.name.endswith(".expected.json"))
             and p.relative_to(out_dir).parts[0] != "hostile"]  # scripts/hostile_cases.py
    for path in stale:
        path.unlink()
    return stale


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    out_dir = Path(args[0]) if args else ROOT / "samples"
    paths = generate(out_dir)
    stale = remove_stale(out_dir, paths)
    print(f"{len(paths)} files written under {out_dir}, {len(stale)} stale file(s) removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
