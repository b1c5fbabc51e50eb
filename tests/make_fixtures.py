"""Generate the small document fixtures used by tests/test_loaders.py.

Run from the repository root:

    .venv/bin/python tests/make_fixtures.py

Every file is written under tests/fixtures/docs/. The output is byte-for-byte
reproducible (fixed texts and dates, reportlab "invariant" mode, fixed MIME
boundary, normalised zip timestamps). Needs reportlab (dev extra), Pillow,
python-docx and odfpy; DejaVu fonts are used for the scans when present.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent / "fixtures" / "docs"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FIXED_DATE = dt.datetime(2024, 3, 15, 10, 30, tzinfo=dt.timezone.utc)

# --- Texts ---------------------------------------------------------------------------

ARRETE_TITLE = "Arrêté municipal n° 2024-117 portant réglementation du stationnement"

ARRETE_PAGE1 = [
    ("title", "Arrêté municipal n° 2024-117"),
    ("body", "Le maire de la commune de Saint-Étienne-des-Prés,"),
    ("body", "Vu le code général des collectivités territoriales ;"),
    ("body", "Considérant la nécessité de réglementer le stationnement place de l'Église,"),
    ("heading", "Article 1er – Objet"),
    ("body", "Le présent arrêté réglemente le stationnement des véhicules"),
    ("body", "sur la place de l'Église et dans la rue des Écoles."),
    ("heading", "Article 2 – Stationnement interdit"),
    ("body", "Le stationnement est interdit les jours de marché, de 6 h à 14 h."),
]

ARRETE_PAGE2 = [
    ("heading", "Article 3 – Sanctions"),
    ("body", "Toute infraction sera constatée et poursuivie conformément aux lois"),
    ("body", "et règlements en vigueur ; les véhicules pourront être mis en fourrière."),
    ("heading", "Article 4 – Exécution"),
    ("body", "Le directeur général des services est chargé de l'exécution du présent arrêté."),
    ("body", "Fait à Saint-Étienne-des-Prés, le 15 mars 2024."),
]

SCAN_LINES = [
    "RÉPUBLIQUE FRANÇAISE",
    "Arrêté du maire n° 2024-052",
    "relatif au stationnement rue de la Mairie",
    "",
    "Article 1 : le stationnement est interdit",
    "devant l'école élémentaire pendant les travaux.",
    "Article 2 : la police municipale est chargée",
    "de l'exécution du présent arrêté.",
]

PNG_LINES = [
    "Délibération du conseil municipal",
    "Séance du 12 février 2024",
    "",
    "Le conseil municipal approuve à l'unanimité",
    "la création d'un marché de producteurs",
    "le samedi matin sur la place du village.",
]

TIFF_PAGE1 = [
    "Registre des délibérations",
    "Page un : budget primitif de la commune.",
]

TIFF_PAGE2 = [
    "Registre des délibérations",
    "Page deux : subvention aux associations sportives.",
]

MIXED_SCAN_LINES = [
    "Annexe : plan de circulation",
    "Les véhicules de livraison sont autorisés",
    "de 7 h à 10 h sur la place du marché.",
]


# --- Helpers ---------------------------------------------------------------------------


def _font(size: int, bold: bool = False):
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = FONT_DIR / name
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)  # Pillow >= 10.1 scales its default font


def render_scan(lines: list[str], *, width: int = 1400, font_size: int = 40) -> Image.Image:
    """Render text lines on a white page, like a clean 200 dpi scan (1-bit)."""
    line_h = int(font_size * 1.6)
    height = 120 + line_h * len(lines) + 80
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    y = 100
    for i, line in enumerate(lines):
        if line:
            draw.text((100, y), line, fill=0, font=_font(font_size, bold=(i == 0)))
        y += line_h
    return img.point(lambda v: 0 if v < 128 else 255).convert("1")


def normalise_zip(path: Path) -> None:
    """Rewrite a zip (DOCX/ODT) with fixed timestamps so the output is reproducible."""
    with zipfile.ZipFile(path) as zin:
        items = [(info, zin.read(info.filename)) for info in zin.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zout:
        for info, data in items:
            new = zipfile.ZipInfo(info.filename, date_time=(2024, 3, 15, 10, 30, 0))
            new.compress_type = info.compress_type
            new.external_attr = info.external_attr
            zout.writestr(new, data)
    path.write_bytes(buf.getvalue())


# --- PDF -------------------------------------------------------------------------------


def _draw_lines(c, lines, top: float) -> None:
    y = top
    for kind, text in lines:
        if kind == "title":
            c.setFont("Helvetica-Bold", 16)
            c.drawString(72, y, text)
            y -= 30
        elif kind == "heading":
            y -= 8
            c.setFont("Helvetica-Bold", 12)
            c.drawString(72, y, text)
            y -= 20
        else:
            c.setFont("Helvetica", 11)
            c.drawString(72, y, text)
            y -= 16


def text_pdf_bytes(*, encrypt=None, title: str | None = ARRETE_TITLE) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1, encrypt=encrypt)
    if title:
        c.setTitle(title)
    c.setAuthor("Mairie de Saint-Étienne-des-Prés")
    _draw_lines(c, ARRETE_PAGE1, A4[1] - 72)
    c.showPage()
    _draw_lines(c, ARRETE_PAGE2, A4[1] - 72)
    c.showPage()
    c.save()
    return buf.getvalue()


def turned_pdf_bytes(*, rotate: int, content_turn: int = 0) -> bytes:
    """The two-page arrêté of ``text_pdf_bytes`` with a /Rotate of ``rotate`` on every page.

    Its text is drawn turned ``content_turn`` degrees counter-clockwise on A4 portrait paper:
    ``content_turn == rotate`` is a landscape page that a viewer shows upright (what "print to PDF"
    of a landscape table or a page rotated and saved in a viewer gives), ``content_turn == 0`` a
    page of ordinary text shown sideways. The /Rotate is set by PDFium, as a viewer would.
    """
    import pypdfium2 as pdfium
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    width, height = A4
    frames = {  # origin, angle, height of the frame the text is laid out in
        0: ((0, 0), 0, height),
        90: ((width, 0), 90, width),
        180: ((width, height), 180, height),
        270: ((0, height), 270, width),
    }
    (tx, ty), angle, frame_h = frames[content_turn]
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    c.setTitle(ARRETE_TITLE)
    for lines in (ARRETE_PAGE1, ARRETE_PAGE2):
        c.saveState()
        c.translate(tx, ty)
        c.rotate(angle)
        _draw_lines(c, lines, frame_h - 72)
        c.restoreState()
        c.showPage()
    c.save()
    pdf = pdfium.PdfDocument(buf.getvalue())
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            page.set_rotation(rotate)
            page.close()
        out = io.BytesIO()
        pdf.save(out)
    finally:
        pdf.close()
    return out.getvalue()


def make_text_pdf() -> None:
    (OUT / "arrete_stationnement.pdf").write_bytes(text_pdf_bytes())


def make_scanned_pdf() -> None:
    img = render_scan(SCAN_LINES)
    img.save(
        OUT / "arrete_scanne.pdf",
        "PDF",
        resolution=200.0,
        creationDate=FIXED_DATE.utctimetuple(),
        modDate=FIXED_DATE.utctimetuple(),
        producer="territoria-fixtures",
    )


def make_mixed_pdf() -> None:
    """Page 1 has a text layer, page 2 is only an image (a scanned annex)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    scan = render_scan(MIXED_SCAN_LINES)
    png = io.BytesIO()
    scan.save(png, "PNG")
    png.seek(0)
    c = canvas.Canvas(str(OUT / "deliberation_avec_annexe.pdf"), pagesize=A4, invariant=1)
    c.setTitle("Délibération n° 2024-08 – plan de circulation")
    c.setFont("Helvetica-Bold", 14)
    c.drawString(72, A4[1] - 72, "Délibération n° 2024-08")
    c.setFont("Helvetica", 11)
    c.drawString(72, A4[1] - 100, "Le conseil municipal adopte le nouveau plan de circulation du centre-bourg.")
    c.showPage()
    w_pt = scan.width * 72 / 200
    h_pt = scan.height * 72 / 200
    c.drawImage(ImageReader(png), 36, A4[1] - 36 - h_pt, width=w_pt, height=h_pt)
    c.showPage()
    c.save()


def make_bad_pdfs() -> None:
    from reportlab.lib.pdfencrypt import StandardEncryption

    good = text_pdf_bytes()
    # Truncated: keeps the header and part of the first page, loses xref and trailer.
    (OUT / "tronque.pdf").write_bytes(good[: len(good) // 3])
    # Junk: random-looking bytes (fixed) with a .pdf name.
    junk = bytes((i * 37 + 11) % 256 for i in range(2048))
    (OUT / "faux.pdf").write_bytes(b"PK\x03\x04 ceci n'est pas un PDF " + junk)
    enc = StandardEncryption("secret", ownerPassword="proprietaire", canPrint=1)
    (OUT / "protege.pdf").write_bytes(text_pdf_bytes(encrypt=enc))


# --- Images ------------------------------------------------------------------------------


def make_png() -> None:
    render_scan(PNG_LINES).save(OUT / "deliberation_scan.png", optimize=True)


def make_tiff() -> None:
    """Two-page scan, as produced by office scanners (1-bit, CCITT group 4)."""
    pages = [render_scan(TIFF_PAGE1), render_scan(TIFF_PAGE2)]
    pages[0].save(
        OUT / "registre_2pages.tif",
        save_all=True,
        append_images=pages[1:],
        compression="group4",
        dpi=(200, 200),
    )


# --- Office documents ----------------------------------------------------------------------


def make_docx() -> None:
    import docx

    d = docx.Document()
    d.core_properties.title = "Délibération n° 2024-15 – tarifs de la cantine scolaire"
    d.core_properties.author = "Secrétariat de mairie"
    d.core_properties.created = dt.datetime(2024, 3, 15, 10, 30)
    d.core_properties.modified = dt.datetime(2024, 3, 15, 10, 30)
    d.core_properties.revision = 1
    d.add_paragraph("Le conseil municipal, réuni le 14 mars 2024 sous la présidence du maire,")
    d.add_heading("Exposé des motifs", level=1)
    d.add_paragraph("Les tarifs de la restauration scolaire n'ont pas été révisés depuis 2019.")
    d.add_heading("Tarifs applicables", level=2)
    d.add_paragraph("Les tarifs suivants sont applicables à compter du 1er septembre 2024 :")
    table = d.add_table(rows=3, cols=3)
    rows = [
        ("Quotient familial", "Prix du repas", "Goûter"),
        ("Inférieur à 600 €", "1,00 €", "0,50 €"),
        ("Supérieur à 600 €", "3,20 €", "0,80 €"),
    ]
    for r, values in enumerate(rows):
        for col, value in enumerate(values):
            table.cell(r, col).text = value
    d.add_heading("Décision", level=1)
    d.add_paragraph("Après en avoir délibéré, le conseil municipal adopte les tarifs à l'unanimité.")
    path = OUT / "deliberation_cantine.docx"
    d.save(path)
    normalise_zip(path)


def make_odt() -> None:
    from odf.opendocument import OpenDocumentText
    from odf.style import Style, TextProperties
    from odf.text import H, P
    from odf import dc, meta

    doc = OpenDocumentText()
    doc.meta.addElement(dc.Title(text="Règlement intérieur de la médiathèque"))
    doc.meta.addElement(meta.CreationDate(text="2024-03-15T10:30:00"))
    h1 = Style(name="Heading 1", family="paragraph")
    h1.addElement(TextProperties(fontsize="16pt", fontweight="bold"))
    h2 = Style(name="Heading 2", family="paragraph")
    h2.addElement(TextProperties(fontsize="13pt", fontweight="bold"))
    doc.styles.addElement(h1)
    doc.styles.addElement(h2)
    doc.text.addElement(H(outlinelevel=1, stylename=h1, text="Accès à la médiathèque"))
    doc.text.addElement(P(text="La médiathèque est ouverte à tous, du mardi au samedi."))
    doc.text.addElement(H(outlinelevel=2, stylename=h2, text="Inscription"))
    doc.text.addElement(P(text="L'inscription est gratuite pour les habitants de la commune."))
    doc.text.addElement(H(outlinelevel=1, stylename=h1, text="Prêt des documents"))
    doc.text.addElement(P(text="Chaque usager peut emprunter cinq livres pour une durée de trois semaines."))
    path = OUT / "reglement_mediatheque.odt"
    doc.save(str(path))
    normalise_zip(path)


# --- Web / text formats ----------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<title>Démarches : carte d'identité | Mairie de Saint-Étienne-des-Prés</title>
<style>body { font-family: sans-serif; }</style>
<script>var tracker = "ne pas indexer ce script";</script>
</head>
<body>
<nav><a href="/">Accueil</a> <a href="/menu">Menu de navigation à ignorer</a></nav>
<main>
<h1>Demander une carte d'identité</h1>
<p>La demande de carte nationale d'identité se fait <strong>sur rendez-vous</strong> en mairie.</p>
<h2>Pièces à fournir</h2>
<ul>
<li>Une photo d'identité récente</li>
<li>Un justificatif de domicile de moins d'un an</li>
</ul>
<h3>Pour un mineur</h3>
<p>La présence du représentant légal est obligatoire.</p>
<h2>Délais</h2>
<table>
<tr><th>Période</th><th>Délai moyen</th></tr>
<tr><td>Été</td><td>6 semaines</td></tr>
</table>
</main>
<footer>Mentions légales – pied de page à ignorer</footer>
</body>
</html>
"""

MARKDOWN = """# Guide du tri sélectif

Les déchets ménagers sont collectés chaque mardi.

## Bac jaune

Emballages en plastique, métal et carton : tous les emballages se trient.

### Cas particuliers

Les pots de yaourt vont aussi dans le bac jaune.

```
# ceci n'est pas un titre
```

## Verre

Le verre se dépose dans les conteneurs d'apport volontaire.
"""

CSV_TEXT = (
    "Nom de l'équipement;Adresse;Capacité\n"
    "Salle des fêtes;2 place de l'Église;250\n"
    "Gymnase municipal;rue des Écoles;400\n"
    "Médiathèque;1 allée des Tilleuls;80\n"
)


def make_text_formats() -> None:
    (OUT / "carte_identite.html").write_text(HTML, encoding="utf-8")
    (OUT / "tri_selectif.md").write_text(MARKDOWN, encoding="utf-8")
    (OUT / "equipements.csv").write_bytes(CSV_TEXT.encode("utf-8"))
    txt = (
        "Compte rendu de la réunion publique\n\n"
        "Les habitants ont été informés des travaux de voirie prévus à l'été.\n\n"
        "Une déviation sera mise en place par le chemin des Prés.\n"
    )
    (OUT / "compte_rendu_cp1252.txt").write_bytes(txt.encode("cp1252"))
    (OUT / "vide.txt").write_bytes(b"")


def make_eml() -> None:
    msg = EmailMessage()
    msg["Subject"] = "Transmission de l'arrêté de stationnement"
    msg["From"] = "Secrétariat <secretariat@mairie-exemple.fr>"
    msg["To"] = "Police municipale <police@mairie-exemple.fr>"
    msg["Date"] = format_datetime(FIXED_DATE)
    msg["Message-ID"] = "<fixture-2024-117@mairie-exemple.fr>"
    msg.set_content(
        "Bonjour,\n\nVeuillez trouver ci-joint l'arrêté réglementant le stationnement "
        "place de l'Église.\n\nCordialement,\nLe secrétariat de mairie\n"
    )
    msg.add_attachment(
        text_pdf_bytes(),
        maintype="application",
        subtype="pdf",
        filename="arrêté_2024-117.pdf",
    )
    msg.add_attachment(
        b"\x00\x01 binaire",
        maintype="application",
        subtype="zip",
        filename="archive.zip",
    )
    msg.set_boundary("==territoria-fixture-boundary==")
    (OUT / "courriel_arrete.eml").write_bytes(bytes(msg))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    make_text_pdf()
    make_scanned_pdf()
    make_mixed_pdf()
    make_bad_pdfs()
    make_png()
    make_tiff()
    make_docx()
    make_odt()
    make_text_formats()
    make_eml()
    for p in sorted(OUT.iterdir()):
        print(f"{p.stat().st_size:>8}  {p.relative_to(OUT.parent.parent.parent)}")


if __name__ == "__main__":
    main()
