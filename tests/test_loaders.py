"""Tests for territoria.ingest.loaders (fixtures made by tests/make_fixtures.py)."""

from __future__ import annotations

import os
import shutil
import unicodedata
from email.message import EmailMessage
from pathlib import Path

import pytest

from territoria.core.errors import IngestError
from territoria.core.types import ExtractedDocument
from territoria.ingest import loaders
from territoria.ingest.loaders import SUPPORTED_EXTENSIONS, extract

DOCS = Path(__file__).resolve().parent / "fixtures" / "docs"
MAX = 50 * 1024 * 1024

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr non installé")


def fold(text: str) -> str:
    """Lower-case, accent-free text for OCR-tolerant comparisons."""
    nfkd = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in nfkd if not unicodedata.combining(c))


def load(name: str) -> ExtractedDocument:
    return extract(DOCS / name, max_bytes=MAX)


def raises(path: Path, *words: str, max_bytes: int = MAX) -> IngestError:
    with pytest.raises(IngestError) as info:
        extract(path, max_bytes=max_bytes)
    err = info.value
    for w in words:
        assert w.lower() in err.message.lower(), (w, err.message)
    assert err.hint, "every IngestError carries a hint"
    return err


def test_contract_extensions():
    assert SUPPORTED_EXTENSIONS == {
        ".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".docx", ".odt",
        ".html", ".htm", ".md", ".markdown", ".txt", ".csv", ".eml",
    }


# --- Text formats ------------------------------------------------------------------------


def test_text_pdf_pages_headings_title():
    doc = load("arrete_stationnement.pdf")
    assert doc.doc_type == "pdf"
    assert doc.title == "Arrêté municipal n° 2024-117 portant réglementation du stationnement"
    assert doc.ocr_pages == 0
    assert doc.metadata["page_count"] == 2
    assert doc.metadata["author"] == "Mairie de Saint-Étienne-des-Prés"
    assert {s.page for s in doc.sections} == {1, 2}
    by_heading = {tuple(s.heading_path): s for s in doc.sections}
    assert by_heading[("Article 1er – Objet",)].page == 1
    assert "place de l'Église" in by_heading[("Article 1er – Objet",)].text
    assert by_heading[("Article 3 – Sanctions",)].page == 2
    assert "mis en fourrière" in by_heading[("Article 3 – Sanctions",)].text
    # A heading line lives in heading_path only (the chunker prints it), not twice.
    assert not by_heading[("Article 3 – Sanctions",)].text.startswith("Article 3")
    assert "Considérant la nécessité" in doc.sections[0].text and doc.sections[0].heading_path == []


def test_pdf_title_falls_back_to_first_line(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import make_fixtures
    finally:
        sys.path.pop(0)
    p = tmp_path / "sans_titre.pdf"
    p.write_bytes(make_fixtures.text_pdf_bytes(title=None))  # reportlab writes "untitled"
    assert extract(p, max_bytes=MAX).title == "Arrêté municipal n° 2024-117"


def _make_fixtures():
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import make_fixtures
    finally:
        sys.path.pop(0)
    return make_fixtures


@pytest.mark.parametrize(
    ("rotate", "content_turn"),
    [
        (90, 0), (270, 0), (180, 0),  # ordinary text on a page turned by /Rotate (shown sideways)
        (90, 90), (270, 270), (180, 180),  # landscape page laid out turned, shown upright by /Rotate
        (0, 90), (0, 270),  # landscape text on portrait paper, no /Rotate
    ],
)
def test_rotated_pdf_page_reads_in_reading_order(tmp_path, rotate, content_turn):
    mf = _make_fixtures()
    upright = tmp_path / "droit.pdf"
    upright.write_bytes(mf.text_pdf_bytes())
    turned = tmp_path / "tourne.pdf"
    turned.write_bytes(mf.turned_pdf_bytes(rotate=rotate, content_turn=content_turn))
    expected = extract(upright, max_bytes=MAX)
    doc = extract(turned, max_bytes=MAX)
    assert doc.ocr_pages == 0
    # Same lines in the same order, same headings (Article 1er… Article 4) on the same pages.
    assert [(s.heading_path, s.page, s.text) for s in doc.sections] == \
        [(s.heading_path, s.page, s.text) for s in expected.sections]
    assert doc.text.index("Le maire de la commune") < doc.text.index("Vu le code général")


def test_docx_headings_and_table():
    doc = load("deliberation_cantine.docx")
    assert doc.doc_type == "docx"
    assert doc.title == "Délibération n° 2024-15 – tarifs de la cantine scolaire"
    assert doc.metadata["date"] == "2024-03-15"
    paths = [s.heading_path for s in doc.sections]
    assert ["Exposé des motifs", "Tarifs applicables"] in paths
    assert ["Décision"] in paths  # level 1 heading pops the level 2
    tarifs = next(s for s in doc.sections if s.heading_path == ["Exposé des motifs", "Tarifs applicables"])
    assert "Quotient familial | Prix du repas | Goûter" in tarifs.text
    assert "Inférieur à 600 € | 1,00 € | 0,50 €" in tarifs.text
    assert "réuni le 14 mars 2024" in doc.sections[0].text


def test_odt_headings():
    doc = load("reglement_mediatheque.odt")
    assert doc.doc_type == "odt"
    assert doc.title == "Règlement intérieur de la médiathèque"
    assert [s.heading_path for s in doc.sections] == [
        ["Accès à la médiathèque"],
        ["Accès à la médiathèque", "Inscription"],
        ["Prêt des documents"],
    ]
    assert "gratuite pour les habitants" in doc.sections[1].text


def test_html_drops_boilerplate_and_builds_headings():
    doc = load("carte_identite.html")
    assert doc.doc_type == "html"
    assert doc.title.startswith("Démarches : carte d'identité")
    text = doc.text
    for junk in ("tracker", "Menu de navigation", "pied de page", "font-family"):
        assert junk not in text
    assert "se fait sur rendez-vous en mairie" in text  # inline <strong> kept in the sentence
    paths = [s.heading_path for s in doc.sections]
    assert ["Demander une carte d'identité", "Pièces à fournir", "Pour un mineur"] in paths
    delais = next(s for s in doc.sections if s.heading_path[-1] == "Délais")
    assert "Été | 6 semaines" in delais.text


def test_html_title_from_h1_and_undeclared_cp1252(tmp_path):
    p = tmp_path / "page.htm"
    p.write_bytes("<html><body><h1>Écoles</h1><p>Inscriptions à la rentrée.</p></body></html>".encode("cp1252"))
    doc = extract(p, max_bytes=MAX)
    assert doc.title == "Écoles"
    assert doc.sections[0].text == "Inscriptions à la rentrée."


def test_markdown_headings_ignore_code_fences():
    doc = load("tri_selectif.md")
    assert doc.doc_type == "md"
    assert doc.title == "Guide du tri sélectif"
    paths = [s.heading_path for s in doc.sections]
    assert ["Guide du tri sélectif", "Bac jaune", "Cas particuliers"] in paths
    assert ["Guide du tri sélectif", "Verre"] in paths
    assert not any("ceci n'est pas un titre" in h for p in paths for h in p)
    assert "conteneurs d'apport volontaire" in doc.text


def test_markdown_links_images_comments_and_tables_read_as_text(tmp_path):
    p = tmp_path / "demarches.md"
    p.write_text("# Démarches [en ligne](https://www.exemple.fr)\n\n<!-- brouillon : ne pas publier -->\n"
                 "Remplissez **le formulaire** [cerfa 12100](https://www.service-public.fr/f(1)) puis "
                 "![logo de la mairie](logo.png) envoyez-le.\n\n| Pièce | Délai |\n|---|:---:|\n| Carte | 2 mois |\n",
                 encoding="utf-8")
    doc = extract(p, max_bytes=MAX)
    assert doc.title == "Démarches en ligne"
    assert "Remplissez le formulaire cerfa 12100 puis logo de la mairie envoyez-le." in doc.text
    assert "](" not in doc.text and "brouillon" not in doc.text and "---" not in doc.text
    assert "| Carte | 2 mois |" in doc.text  # table rows stay


def test_txt_cp1252_detected():
    doc = load("compte_rendu_cp1252.txt")
    assert doc.doc_type == "txt"
    assert doc.metadata["encoding"] == "cp1252"
    assert doc.title == "Compte rendu de la réunion publique"
    assert "travaux de voirie prévus à l'été" in doc.text


def test_txt_utf8_paragraphs_grouped(tmp_path):
    p = tmp_path / "long.txt"
    paras = [f"Paragraphe {i} : délibération relative à la voirie communale." * 5 for i in range(40)]
    p.write_text("\n\n".join(paras), encoding="utf-8")
    doc = extract(p, max_bytes=MAX)
    assert doc.metadata["encoding"] == "utf-8"
    assert 1 < len(doc.sections) < 40
    assert all(len(s.text) <= loaders.TXT_SECTION_CHARS + 400 for s in doc.sections)
    assert all(para in doc.text for para in paras)
    assert doc.title == "long"  # first line too long to be a title


def test_csv_semicolon_rows():
    doc = load("equipements.csv")
    assert doc.doc_type == "csv"
    assert doc.title == "equipements"
    assert doc.metadata["delimiter"] == ";"
    assert doc.metadata["row_count"] == 3
    assert doc.sections[0].heading_path == ["Lignes 1 à 3"]
    assert "Nom de l'équipement: Médiathèque; Adresse: 1 allée des Tilleuls; Capacité: 80" in doc.text


def test_csv_tab_and_grouping(tmp_path):
    p = tmp_path / "liste.csv"
    lines = ["commune\tpopulation"] + [f"Commune {i}\t{i * 10}" for i in range(65)]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    doc = extract(p, max_bytes=MAX)
    assert doc.metadata["delimiter"] == "\t"
    assert [s.heading_path for s in doc.sections] == [["Lignes 1 à 30"], ["Lignes 31 à 60"], ["Lignes 61 à 65"]]
    assert "commune: Commune 64; population: 640" in doc.sections[-1].text


def test_csv_excel_sep_line(tmp_path):
    p = tmp_path / "tarifs.csv"  # Excel's « sep=; » line: the delimiter, not a column named « sep= »
    p.write_bytes("sep=;\r\nPrestation;Tarif\r\nCantine;3,50 €\r\n".encode("cp1252"))
    doc = extract(p, max_bytes=MAX)
    assert doc.metadata["delimiter"] == ";"
    assert "Prestation: Cantine; Tarif: 3,50 €" in doc.sections[0].text and "sep=" not in doc.sections[0].text


def test_pdf_filled_form_fields_are_read(tmp_path):
    from reportlab.pdfgen import canvas

    p = tmp_path / "inscription.pdf"
    c = canvas.Canvas(str(p))
    c.drawString(72, 750, "Demande d'inscription à la cantine scolaire")
    c.drawString(72, 700, "Nom de l'enfant :")
    c.acroForm.textfield(name="nom_enfant", tooltip="Nom de l'enfant", x=200, y=690, width=200, height=20,
                         value="Léa Martin")
    c.acroForm.textfield(name="classe", x=200, y=640, width=100, height=20, value="CE2")
    c.acroForm.checkbox(name="allergie_arachide", x=200, y=600, checked=True)
    c.acroForm.checkbox(name="repas_sans_porc", x=200, y=560, checked=False)
    c.save()
    doc = extract(p, max_bytes=MAX)
    assert "Nom de l'enfant : Léa Martin" in doc.text and "classe : CE2" in doc.text  # the typed values were lost
    assert "allergie arachide : oui" in doc.text and "sans porc" not in doc.text
    assert doc.sections[0].page == 1


def test_eml_forwarded_message_is_headed_by_its_subject(tmp_path):
    from email.message import EmailMessage

    inner = EmailMessage()
    inner["From"], inner["Subject"] = "voirie@mairie.fr", "Travaux rue des Lilas"
    inner.set_content("Les travaux de la rue des Lilas commencent le 3 mars.")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "dgs@mairie.fr", "accueil@mairie.fr", "TR: pour information"
    outer.set_content("Voir le message ci-dessous.")
    outer.add_attachment(inner)  # message/rfc822, no file name
    p = tmp_path / "transfert.eml"
    p.write_bytes(outer.as_bytes())
    doc = extract(p, max_bytes=MAX)
    heads = [s.heading_path[0] for s in doc.sections if s.heading_path]
    assert "Pièce jointe : message « Travaux rue des Lilas »" in heads  # was « message_joint_1.eml »
    assert "commencent le 3 mars" in doc.text


def test_eml_body_metadata_and_attachment():
    doc = load("courriel_arrete.eml")
    assert doc.doc_type == "eml"
    assert doc.title == "Transmission de l'arrêté de stationnement"
    assert "secretariat@mairie-exemple.fr" in doc.metadata["from"]
    assert "police@mairie-exemple.fr" in doc.metadata["to"]
    assert doc.metadata["date"] == "2024-03-15"
    assert "Veuillez trouver ci-joint" in doc.sections[0].text
    att = [s for s in doc.sections if s.heading_path and s.heading_path[0] == "Pièce jointe : arrêté_2024-117.pdf"]
    assert att and any("mis en fourrière" in s.text for s in att)
    assert ["Pièce jointe : arrêté_2024-117.pdf", "Article 3 – Sanctions"] in [s.heading_path for s in att]
    assert any(s.page == 2 for s in att)
    # The .zip attachment is unsupported: a warning, not a failure.
    assert any("archive.zip" in w for w in doc.metadata["warnings"])


def test_eml_bad_attachment_is_a_warning_and_html_body(tmp_path):
    msg = EmailMessage()
    msg["Subject"] = "Compte rendu"
    msg["From"] = "mairie@exemple.fr"
    msg.set_content("<html><body><p>Réunion du <b>conseil</b> d'école.</p><script>x()</script></body></html>", subtype="html")
    msg.add_attachment((DOCS / "faux.pdf").read_bytes(), maintype="application", subtype="pdf", filename="cassé.pdf")
    p = tmp_path / "m.eml"
    p.write_bytes(bytes(msg))
    doc = extract(p, max_bytes=MAX)
    assert doc.text == "Réunion du conseil d'école."
    assert any("cassé.pdf" in w and "PDF" in w for w in doc.metadata["warnings"])
    assert doc.metadata["attachments"][0]["status"] == "erreur"


# --- OCR ----------------------------------------------------------------------------------------


@needs_tesseract
def test_scanned_pdf_is_ocred():
    doc = load("arrete_scanne.pdf")
    assert doc.ocr_pages == 1
    assert all(s.page == 1 for s in doc.sections)
    text = fold(doc.text)
    for word in ("arrete", "stationnement", "ecole", "police municipale"):
        assert word in text
    assert "arrêté" in doc.text.lower()  # accents survive OCR on a clean scan
    # Title: the metadata title is only the file name, and "RÉPUBLIQUE FRANÇAISE" is letterhead.
    assert fold(doc.title).startswith("arrete du maire")


@needs_tesseract
def test_mixed_pdf_ocrs_only_the_image_page():
    doc = load("deliberation_avec_annexe.pdf")
    assert doc.ocr_pages == 1
    p1 = " ".join(s.text for s in doc.sections if s.page == 1)
    p2 = fold(" ".join(s.text for s in doc.sections if s.page == 2))
    assert "Le conseil municipal adopte le nouveau plan de circulation" in p1
    assert "vehicules de livraison" in p2 and "marche" in p2


@needs_tesseract
def test_png_scan():
    doc = load("deliberation_scan.png")
    assert doc.doc_type == "image"
    assert doc.ocr_pages == 1
    text = fold(doc.text)
    for word in ("deliberation", "conseil municipal", "unanimite", "producteurs"):
        assert word in text


@needs_tesseract
def test_multipage_tiff():
    doc = load("registre_2pages.tif")
    assert doc.ocr_pages == 2
    assert [s.page for s in doc.sections] == [1, 2]
    assert "budget primitif" in fold(doc.sections[0].text)
    assert "associations sportives" in fold(doc.sections[1].text)


def test_tesseract_missing_is_explained(monkeypatch):
    pytesseract = pytest.importorskip("pytesseract")
    from territoria.ingest import ocr

    ocr._tesseract.cache_clear()
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    try:
        err = raises(DOCS / "deliberation_scan.png", "tesseract")
        assert "tesseract-ocr-fra" in err.hint
    finally:
        ocr._tesseract.cache_clear()


# --- Bad inputs ---------------------------------------------------------------------------------


def test_empty_file():
    raises(DOCS / "vide.txt", "vide")


def test_whitespace_only_has_no_text(tmp_path):
    p = tmp_path / "blanc.md"
    p.write_text("   \n\n\t\n", encoding="utf-8")
    raises(p, "aucun texte")


def test_junk_pdf():
    raises(DOCS / "faux.pdf", "pas un PDF valide")


def test_truncated_pdf():
    raises(DOCS / "tronque.pdf", "corrompu")


def test_password_pdf():
    raises(DOCS / "protege.pdf", "protégé par un mot de passe")


def test_unsupported_extension_lists_types(tmp_path):
    p = tmp_path / "tableau.xlsx"
    p.write_bytes(b"PK\x03\x04...")
    err = raises(p, "non pris en charge", ".xlsx", ".pdf", ".docx", ".eml")
    assert ".csv" in err.hint


def test_too_large_checked_before_reading(tmp_path):
    p = tmp_path / "gros.pdf"
    with p.open("wb") as fh:  # sparse 3 MiB file: never read
        fh.truncate(3 * 1024 * 1024)
    raises(p, "dépasse la taille maximale de 2 Mo", max_bytes=2 * 1024 * 1024)


def test_undecodable_text(tmp_path):
    p = tmp_path / "binaire.txt"
    p.write_bytes(bytes(range(256)) * 8)
    raises(p, "décodé")


def test_missing_file_and_directory(tmp_path):
    raises(tmp_path / "absent.pdf", "introuvable")
    d = tmp_path / "dossier.pdf"
    d.mkdir()
    raises(d, "pas un fichier")


def test_html_without_text(tmp_path):
    p = tmp_path / "vide.html"
    p.write_text("<html><head><title>Rien</title><script>a()</script></head><body><nav>menu</nav></body></html>", encoding="utf-8")
    raises(p, "aucun texte")


def test_csv_header_only(tmp_path):
    p = tmp_path / "entete.csv"
    p.write_text("nom;adresse\n", encoding="utf-8")
    raises(p, "en-tête")


@pytest.mark.parametrize("ext", sorted(SUPPORTED_EXTENSIONS - loaders.IMAGE_EXTENSIONS))
def test_random_bytes_never_leak_other_exceptions(tmp_path, ext):
    p = tmp_path / f"bruit{ext}"
    p.write_bytes(os.urandom(3000))
    with pytest.raises(IngestError):
        extract(p, max_bytes=MAX)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tiff"])
def test_corrupt_image(tmp_path, ext):
    p = tmp_path / f"scan{ext}"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100 if ext == ".png" else b"pas une image " * 20)
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract-ocr non installé")
    raises(p, "image")


def test_docx_junk_and_legacy(tmp_path):
    p = tmp_path / "faux.docx"
    p.write_bytes(b"ceci n'est pas un zip" * 10)
    raises(p, "DOCX", "corrompu")
    q = tmp_path / "ancien.docx"
    q.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500)
    raises(q, "mot de passe")


def test_no_ocr_import_at_module_import():
    import subprocess
    import sys

    code = "import sys, territoria.ingest.loaders; print('pytesseract' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- Smaller behaviours ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        ("Article 1er – Objet", (4, "Article 1er – Objet")),
        ("Article 2 : le stationnement est interdit rue Haute.", (4, "Article 2")),
        ("ARTICLE 3 : Le maire est chargé de l'exécution du présent arrêté.", (4, "ARTICLE 3")),
        ("Chapitre II - Dispositions générales", (2, "Chapitre II - Dispositions générales")),
        ("Titre 1er Dispositions communes", (1, "Titre 1er Dispositions communes")),
        ("1.2 Champ d'application", (6, "1.2 Champ d'application")),
        ("Article L2212-2 du code général des collectivités territoriales", None),
        ("article 3 du présent arrêté,", None),
        ("1. Le maire décide.", None),
    ],
)
def test_pdf_heading_rules(line, expected):
    assert loaders._pdf_heading(line) == expected


def test_garbled_text_layer_detected():
    assert loaders._garbled("\ue000\ue001\ue002 \ue003\ue004 ab")
    assert not loaders._garbled("Arrêté du maire n° 12")


def test_blank_pdf_page_is_skipped_not_ocred(tmp_path):
    from reportlab.pdfgen import canvas

    p = tmp_path / "avec_page_blanche.pdf"
    c = canvas.Canvas(str(p), invariant=1)
    c.drawString(72, 720, "Procès-verbal de la séance du conseil municipal.")
    c.showPage()
    c.showPage()  # blank page
    c.save()
    doc = extract(p, max_bytes=MAX)
    assert doc.ocr_pages == 0
    assert doc.metadata["blank_pages"] == [2]
    assert doc.title == "Procès-verbal de la séance du conseil municipal."


def test_docx_content_controls_and_title_style(tmp_path):
    import docx
    from docx.oxml import OxmlElement

    d = docx.Document()
    d.add_paragraph("Convention de mise à disposition", style="Title")
    par = d.add_paragraph("Texte dans un contrôle de contenu : salle polyvalente.")
    sdt, content = OxmlElement("w:sdt"), OxmlElement("w:sdtContent")
    par._p.addprevious(sdt)
    sdt.append(content)
    content.append(par._p)
    p = tmp_path / "convention.docx"
    d.save(p)
    doc = extract(p, max_bytes=MAX)
    assert doc.title == "Convention de mise à disposition"
    assert "salle polyvalente" in doc.text
    assert "Convention de mise à disposition" in doc.text


def test_eml_attachment_without_filename_and_nested_mail(tmp_path):
    inner = EmailMessage()
    inner["Subject"] = "Message transféré"
    inner["From"] = "dgs@exemple.fr"
    inner.set_content("Le budget annexe de l'assainissement est adopté.")
    outer = EmailMessage()
    outer["Subject"] = "TR: budget"
    outer["From"] = "maire@exemple.fr"
    outer.set_content("Pour information.")
    outer.add_attachment("Note : réunion de la commission des finances.", disposition="attachment")
    outer.add_attachment(inner)
    p = tmp_path / "tr.eml"
    p.write_bytes(bytes(outer))
    doc = extract(p, max_bytes=MAX)
    assert "commission des finances" in doc.text
    assert "assainissement est adopté" in doc.text
    assert all(s.heading_path[0].startswith("Pièce jointe : ") for s in doc.sections[1:])


def test_not_an_email(tmp_path):
    p = tmp_path / "faux.eml"
    p.write_text("juste une ligne de texte sans en-tête\n", encoding="utf-8")
    raises(p, "courriel")


@needs_tesseract
def test_jpeg_and_transparent_png(tmp_path):
    from PIL import Image

    src = Image.open(DOCS / "deliberation_scan.png").convert("L")
    jpg = tmp_path / "scan.jpg"
    src.save(jpg, quality=85)
    assert "conseil municipal" in fold(extract(jpg, max_bytes=MAX).text)
    # Black text on a transparent background (a common export): must not OCR as all-black.
    rgba = Image.new("RGBA", src.size, (0, 0, 0, 0))
    rgba.putalpha(src.point(lambda v: 255 - v))
    png = tmp_path / "transparent.png"
    rgba.save(png)
    assert "conseil municipal" in fold(extract(png, max_bytes=MAX).text)


# --- Real-world files (QA round) ----------------------------------------------------------


def test_docx_keeps_fields_insertions_text_boxes_nested_tables_and_notes(tmp_path):
    import docx
    from docx.oxml import parse_xml

    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    d = docx.Document()
    d.add_heading("Délibération sur les tarifs", level=1)
    par = d.add_paragraph("Date de la séance : ")
    par._p.append(parse_xml(f'<w:fldSimple {w} w:instr="DATE"><w:r><w:t>12 mars 2024</w:t></w:r></w:fldSimple>'))
    par._p.append(parse_xml(f'<w:ins {w} w:id="1" w:author="x"><w:r><w:t> (séance extraordinaire)</w:t></w:r></w:ins>'))
    par._p.append(parse_xml(f'<w:del {w} w:id="2" w:author="x"><w:r><w:delText>texte supprimé</w:delText></w:r></w:del>'))
    par._p.append(parse_xml(f'<w:sdt {w}><w:sdtContent><w:r><w:t> salle du conseil</w:t></w:r></w:sdtContent></w:sdt>'))
    box = d.add_paragraph("Encadré :")
    box._p.append(parse_xml(
        f'<w:r {w} xmlns:v="urn:schemas-microsoft-com:vml"><w:pict><v:shape><v:textbox><w:txbxContent>'
        "<w:p><w:r><w:t>Gratuité pour les moins de 3 ans</w:t></w:r></w:p></w:txbxContent></v:textbox></v:shape></w:pict></w:r>"))
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Repas"
    table.rows[0].cells[1].add_table(rows=1, cols=1).rows[0].cells[0].text = "3,10 € par enfant"
    p = tmp_path / "tarifs.docx"
    d.save(p)
    doc = extract(p, max_bytes=MAX)
    text = doc.text
    for words in ("12 mars 2024", "(séance extraordinaire)", "salle du conseil", "Gratuité pour les moins de 3 ans",
                  "3,10 € par enfant"):
        assert words in text, words
    assert "texte supprimé" not in text
    assert "Encadré :\nGratuité" in text  # the text box on its own line


def test_docx_footnotes_are_indexed(tmp_path):
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part

    d = docx.Document()
    d.add_paragraph("Le budget primitif est voté par chapitre.")
    notes = (
        '<w:footnotes xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        '<w:footnote w:id="1"><w:p><w:r><w:t>Article L2312-3 du CGCT.</w:t></w:r></w:p></w:footnote></w:footnotes>'
    ).encode()
    ctype = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
    d.part.relate_to(Part(PackURI("/word/footnotes.xml"), ctype, notes, d.part.package), RT.FOOTNOTES)
    p = tmp_path / "budget.docx"
    d.save(p)
    doc = extract(p, max_bytes=MAX)
    note = next(s for s in doc.sections if s.heading_path == ["Notes"])
    assert note.text == "Article L2312-3 du CGCT."


def test_odt_note_and_frame_not_glued_to_the_text(tmp_path):
    from odf.draw import Frame, TextBox
    from odf.opendocument import OpenDocumentText
    from odf.text import Note, NoteBody, NoteCitation, P

    odt = OpenDocumentText()
    par = P(text="Le règlement s'applique")
    note = Note(noteclass="footnote")
    note.addElement(NoteCitation(text="1"))
    body = NoteBody()
    body.addElement(P(text="Voir la délibération 2023-45."))
    note.addElement(body)
    par.addElement(note)
    par.addText(" aux voies communales.")
    frame = Frame(width="5cm", height="2cm", anchortype="as-char")
    box = TextBox()
    box.addElement(P(text="Encadré important"))
    frame.addElement(box)
    par.addElement(frame)
    odt.text.addElement(par)
    p = tmp_path / "voirie.odt"
    odt.save(str(p))
    text = extract(p, max_bytes=MAX).text
    assert "s'applique\nVoir la délibération 2023-45.\naux voies communales." in text
    assert "communales.\nEncadré important" in text


def test_html_keeps_the_main_content_only(tmp_path):
    p = tmp_path / "page.html"
    p.write_text(
        '<html lang="fr"><head><meta charset="utf-8"><title>Inscriptions scolaires</title></head><body>'
        '<header><ul class="menu"><li>Accueil</li><li>Agenda des sorties</li></ul>'
        "<form><label>Rechercher sur le site</label></form></header>"
        '<div id="tarteaucitron">Ce site utilise des cookies.</div>'
        '<div role="navigation">Accueil &gt; Démarches</div>'
        "<main><article><header><h1>Inscriptions scolaires</h1></header>"
        "<p>Les inscriptions se font en mairie du 1er mars au 30 avril.</p></article></main>"
        "<aside>Fête du village le 14 juillet</aside></body></html>",
        encoding="utf-8",
    )
    doc = extract(p, max_bytes=MAX)
    assert doc.sections[0].heading_path == ["Inscriptions scolaires"]
    assert doc.text.strip().endswith("Les inscriptions se font en mairie du 1er mars au 30 avril.")
    for noise in ("Agenda des sorties", "Rechercher", "cookies", "Démarches", "Fête du village"):
        assert noise not in doc.text, noise
    # Without <main>: the site's header, forms and sidebars go, an article's own header stays.
    p.write_text(
        "<html><body><header>Menu du site</header><article><header><h1>Arrêté de voirie</h1></header>"
        "<p>La rue est fermée.</p></article><aside>Liens utiles</aside>"
        '<div class="cookie-banner">Accepter les cookies</div></body></html>',
        encoding="utf-8",
    )
    doc = extract(p, max_bytes=MAX)
    assert doc.sections[0].heading_path == ["Arrêté de voirie"]
    assert "Menu du site" not in doc.text and "Liens utiles" not in doc.text and "cookies" not in doc.text


def test_html_declared_charsets_as_browsers_read_them(tmp_path):
    latin1 = tmp_path / "ancienne.htm"
    latin1.write_bytes(b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
                       b"</head><body><p>Co\xfbt de l'\x9cuvre : 12 \x80</p></body></html>")
    assert "Coût de l'œuvre : 12 €" in extract(latin1, max_bytes=MAX).text
    wrong = tmp_path / "mal_declaree.html"
    wrong.write_bytes(b'<html><head><meta charset="utf-8"><title>Caf\xe9 associatif</title></head>'
                      b"<body><p>Le caf\xe9 est ouvert.</p></body></html>")
    doc = extract(wrong, max_bytes=MAX)
    assert doc.title == "Café associatif"
    assert "Le café est ouvert." in doc.text


@needs_tesseract
def test_sideways_scan_is_read_upright(tmp_path):
    from PIL import Image

    p = tmp_path / "scan_tourne.png"
    Image.open(DOCS / "deliberation_scan.png").rotate(90, expand=True).save(p)
    assert "conseil municipal" in fold(extract(p, max_bytes=MAX).text)


def test_folder_walk_skips_lock_and_system_files_and_keeps_symlink_place(tmp_path):
    from territoria.ingest.pipeline import expand_paths, file_doc_id

    root = tmp_path / "drive"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "cr.md").write_text("# Compte rendu\n\nTexte.\n", encoding="utf-8")
    for junk in ("~$rapport.docx", "Thumbs.db", "desktop.ini", ".DS_Store"):
        (root / "notes" / junk).write_bytes(b"\x00junk")
    outside = tmp_path / "ailleurs"
    outside.mkdir()
    (outside / "cr.md").write_text("# Autre\n\nTexte.\n", encoding="utf-8")
    (root / "lien").mkdir()
    (root / "lien" / "cr.md").symlink_to(outside / "cr.md")
    files = expand_paths([root])
    assert [f.relative_to(root).as_posix() for f, _ in files] == ["lien/cr.md", "notes/cr.md"]
    assert [file_doc_id(f, r) for f, r in files] == ["lien/cr.md", "notes/cr.md"]


def test_unchanged_file_is_not_read_again(tmp_path, monkeypatch):
    from territoria.core.settings import Settings
    from territoria.ingest import pipeline

    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(DOCS / "tri_selectif.md", folder / "tri.md")
    settings = Settings(data_dir=tmp_path / "data")
    first = pipeline.ingest_paths([folder], tenant="qa", settings=settings)
    assert (first.ingested, first.unchanged) == (1, 0)
    calls = []
    real = loaders.extract
    monkeypatch.setattr(loaders, "extract", lambda *a, **kw: calls.append(a) or real(*a, **kw))
    again = pipeline.ingest_paths([folder], tenant="qa", settings=settings)
    assert (again.ingested, again.unchanged, calls) == (0, 1, [])
    with (folder / "tri.md").open("a", encoding="utf-8") as fh:
        fh.write("\nLes piles vont en déchetterie.\n")
    changed = pipeline.ingest_paths([folder], tenant="qa", settings=settings)
    assert (changed.ingested, changed.unchanged, len(calls)) == (1, 0, 1)


# --- Markdown front matter ---------------------------------------------------------------------

FRONT_MATTER_MD = """---
title: "Compte rendu : conseil municipal du 1er mars"
date: 2024-03-01T18:30:00+01:00
layout: page
tags: [voirie, "budget, annexe"]
keywords:
  - éclairage public
  - LED
description: >
  Synthèse des décisions du conseil
  sur l'éclairage des rues.
---

# Ordre du jour

Le conseil approuve le remplacement des lampadaires.
"""


def test_markdown_front_matter_is_metadata_not_text(tmp_path):
    from territoria.core.settings import Settings
    from territoria.ingest.chunking import chunk_document
    from territoria.ingest.pipeline import head_keywords, index_texts, record_from_file
    from territoria.search.text import analyze

    p = tmp_path / "cr.md"
    p.write_text(FRONT_MATTER_MD, encoding="utf-8")
    doc = extract(p, max_bytes=MAX)
    assert doc.title == "Compte rendu : conseil municipal du 1er mars"
    assert doc.metadata["date"] == "2024-03-01"  # an ISO day: what the search date filters compare
    assert doc.metadata["tags"] == ["voirie", "budget, annexe"]
    assert doc.metadata["keywords"] == ["éclairage public", "LED"]
    assert doc.metadata["summary"] == "Synthèse des décisions du conseil sur l'éclairage des rues."
    assert doc.text == "Le conseil approuve le remplacement des lampadaires."
    assert [s.heading_path for s in doc.sections] == [["Ordre du jour"]]
    assert "warnings" not in doc.metadata

    rec = record_from_file(p, tmp_path, Settings(data_dir=tmp_path / "data"), "fichiers")
    assert (rec.date, rec.summary) == ("2024-03-01", doc.metadata["summary"])
    chunks = chunk_document(rec)
    head = chunks[0]
    assert head.kind == "head" and "Synthèse des décisions du conseil" in head.text
    assert "voirie" in head_keywords(rec) and "éclairage public" in head_keywords(rec)
    terms, _ = index_texts(rec, chunks)
    assert set(analyze("voirie LED")) <= set(terms[0])  # the tags are searchable with the document
    assert not set(analyze("layout")) & set(t for ts in terms for t in ts)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01", "2024-03-01"),
        ("2024-03-01 18:30:00 +0100", "2024-03-01"),
        ("'01/03/2024'", "2024-03-01"),
        ("1er mars 2024", "2024-03-01"),
        ("vendredi 15 mars 2024", "2024-03-15"),
        ("2024-03", "2024-03-01"),
        ("2024-02-30", None),
        ("bientôt", None),
    ],
)
def test_markdown_front_matter_dates(tmp_path, value, expected):
    p = tmp_path / "note.md"
    p.write_text(f"---\ntitle: Note\ndate: {value}\n---\n\nTexte de la note.\n", encoding="utf-8")
    doc = extract(p, max_bytes=MAX)
    assert doc.metadata.get("date") == expected
    assert doc.text == "Texte de la note."


def test_markdown_malformed_front_matter_never_fails_the_file(tmp_path):
    def md(text: str) -> ExtractedDocument:
        p = tmp_path / "note.md"
        p.write_text(text, encoding="utf-8")
        return extract(p, max_bytes=MAX)

    # Never closed: not a front matter, every line is read as text (nothing lost).
    doc = md("---\ntitle: Budget\n\n# Le budget 2024\n\nLe conseil vote le budget.\n")
    assert doc.title == "Le budget 2024" and "title: Budget" in doc.text and "Le conseil vote" in doc.text
    # Text between two horizontal rules is Markdown, not YAML.
    doc = md("---\nIntroduction du guide du tri\n---\n\nLes bacs jaunes sont collectés le mardi.\n")
    assert "Introduction du guide du tri" in doc.title and "collectés le mardi" in doc.text
    # Not valid YAML (an unclosed quote, a line without « : »): kept as text, nothing lost, and said.
    doc = md('---\ntitle: "Budget 2024\ntags: [voirie, travaux\n---\n\nLe budget est voté.\n')
    assert "Budget 2024" in doc.text and "Le budget est voté." in doc.text
    assert any("illisible" in w and "gardé comme texte" in w for w in doc.metadata["warnings"])
    doc = md("---\ntitle: Compte rendu\ndate: 2024-03-01\nOrdre du jour validé\n---\n\nLe conseil approuve.\n")
    assert "Ordre du jour validé" in doc.text and "Le conseil approuve." in doc.text and "date" not in doc.metadata
    assert any("ligne 4" in w for w in doc.metadata["warnings"])
    # An unreadable date is no date; the rest of the front matter is kept.
    doc = md("---\ntitle: Budget\ndate: bientôt\ntags: voirie, travaux\n---\n\nLe budget est voté.\n")
    assert (doc.title, doc.metadata.get("tags"), doc.metadata.get("date")) == ("Budget", ["voirie", "travaux"], None)
    assert doc.text == "Le budget est voté."
    # A number as title.
    assert md("---\ntitle: 2024\n---\n\nTexte.\n").title == "2024"
    # Empty front matter, Windows line ends and a BOM.
    assert md("---\n---\n# Titre\n\nTexte.\n").text == "Texte."
    doc = md("\ufeff---\r\ntitle: Windows\r\nkeywords: PLU, urbanisme\r\n---\r\nTexte.\r\n")
    assert (doc.title, doc.metadata["keywords"], doc.text) == ("Windows", ["PLU", "urbanisme"], "Texte.")


# --- The real type of a file, whatever its name ------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "name", "doc_type", "words"),
    [
        ("deliberation_cantine.docx", "deliberation.pdf", "docx", "réuni le 14 mars 2024"),
        ("deliberation_cantine.docx", "deliberation.odt", "docx", "réuni le 14 mars 2024"),
        ("deliberation_cantine.docx", "deliberation.doc", "docx", "réuni le 14 mars 2024"),  # unsupported name
        ("reglement_mediatheque.odt", "reglement.docx", "odt", "gratuite pour les habitants"),
        ("arrete_stationnement.pdf", "arrete.txt", "pdf", "mis en fourrière"),
        ("arrete_stationnement.pdf", "arrete.md", "pdf", "mis en fourrière"),
        ("arrete_stationnement.pdf", "arrete", "pdf", "mis en fourrière"),  # no extension
        ("arrete_stationnement.pdf", "arrete.docx", "pdf", "mis en fourrière"),
    ],
)
def test_content_decides_over_a_wrong_extension(tmp_path, fixture, name, doc_type, words):
    p = tmp_path / name
    shutil.copy(DOCS / fixture, p)
    doc = extract(p, max_bytes=MAX)
    assert doc.doc_type == doc_type
    assert words in doc.text
    assert "%PDF" not in doc.text and " obj" not in doc.text  # never the raw bytes as text
    assert any("en réalité" in w for w in doc.metadata["warnings"])
    assert doc.title == load(fixture).title


@needs_tesseract
def test_image_read_by_its_content_whatever_its_name(tmp_path):
    from PIL import Image

    src = Image.open(DOCS / "deliberation_scan.png").convert("L")
    cases = {"scan.pdf": "PNG", "scan.png": "JPEG", "scan": "TIFF", "scan.txt": "PNG"}
    for name, fmt in cases.items():
        p = tmp_path / name
        src.save(p, format=fmt)
        doc = extract(p, max_bytes=MAX)
        assert (doc.doc_type, doc.metadata["image_format"]) == ("image", fmt)
        assert "conseil municipal" in fold(doc.text), name


def test_content_sniffing_keeps_the_errors_of_other_content(tmp_path):
    import zipfile

    # A spreadsheet renamed .docx is still said to be no Word document.
    xlsx = tmp_path / "tableau.docx"
    with zipfile.ZipFile(xlsx, "w") as zf:
        zf.writestr("[Content_Types].xml", '<Types><Override ContentType="application/vnd.openxmlformats-'
                    'officedocument.spreadsheetml.sheet.main+xml"/></Types>')
        zf.writestr("xl/workbook.xml", "<workbook/>")
    raises(xlsx, "DOCX", "corrompu")
    # A zip archive with no extension stays unsupported; named .pdf, it is no PDF.
    archive = tmp_path / "archive"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("notes.txt", "Bonjour")
    raises(archive, "non pris en charge", "sans extension")
    fake = tmp_path / "archive.pdf"
    shutil.copy(archive, fake)
    raises(fake, "pas un PDF valide")
    # A text that speaks of PDF is still a text.
    txt = tmp_path / "note.txt"
    txt.write_text("Le format %PDF-1.7 est décrit par la norme ISO 32000.\n", encoding="utf-8")
    doc = extract(txt, max_bytes=MAX)
    assert doc.doc_type == "txt" and "warnings" not in doc.metadata


def test_eml_attachment_read_by_its_content(tmp_path):
    msg = EmailMessage()
    msg["Subject"] = "Arrêté signé"
    msg["From"] = "secretariat@exemple.fr"
    msg.set_content("Voici l'arrêté.")
    # A scanner's mail: a PDF sent as « scan » with a generic type.
    msg.add_attachment((DOCS / "arrete_stationnement.pdf").read_bytes(), maintype="application",
                       subtype="octet-stream", filename="scan_0001")
    p = tmp_path / "arrete.eml"
    p.write_bytes(bytes(msg))
    doc = extract(p, max_bytes=MAX)
    assert "mis en fourrière" in doc.text
    assert doc.metadata["attachments"][0]["status"] == "extraite"
