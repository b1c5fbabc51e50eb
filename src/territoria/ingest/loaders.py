"""Document loaders: turn one file into an ExtractedDocument (text sections + metadata).

Entry point: ``extract(path, max_bytes=...)``. It dispatches on the file's content for
binary formats (PDF, images, DOCX, ODT: see ``_sniff``), else on its extension, never
returns an empty document and raises only ``IngestError`` (French message plus a hint)
for bad input. Heavy work (OCR) happens only when needed, and
pytesseract is imported lazily (see ``territoria.ingest.ocr``).

Formats: PDF (text layer via pypdfium2, OCR for pages without one), scanned images
(PNG/JPEG/TIFF, multi-page TIFF), DOCX, ODT, HTML, Markdown, TXT, CSV, EML (with
supported attachments extracted recursively).
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import math
import mimetypes
import re
import tempfile
import threading
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from territoria.core.dates import parse_day, parse_written_day
from territoria.core.errors import IngestError
from territoria.core.types import ExtractedDocument, Section

PDF_EXTENSIONS = {".pdf"}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
SUPPORTED_EXTENSIONS: set[str] = {
    ".pdf",
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".docx",
    ".odt",
    ".html",
    ".htm",
    ".md",
    ".markdown",
    ".txt",
    ".csv",
    ".eml",
}

# Old or proprietary formats people often try: say what to convert them to.
_CONVERT_HINTS = {
    ".doc": "Enregistrez le document au format .docx, .odt ou PDF.",
    ".rtf": "Enregistrez le document au format .docx, .odt ou PDF.",
    ".xls": "Enregistrez le tableau au format .csv.",
    ".xlsx": "Enregistrez le tableau au format .csv.",
    ".ods": "Enregistrez le tableau au format .csv.",
    ".ppt": "Exportez la présentation en PDF.",
    ".pptx": "Exportez la présentation en PDF.",
    ".odp": "Exportez la présentation en PDF.",
    ".msg": "Enregistrez le courriel au format .eml depuis votre messagerie.",
    ".zip": "Décompressez l'archive et importez les fichiers qu'elle contient.",
}

# A PDF page with fewer characters than this in its text layer is OCR'd.
MIN_PAGE_CHARS = 20
# A page whose text layer is short and which is mostly covered by images is OCR'd too
# (a scan with a small typed header, page number or stamp).
SCAN_PAGE_MAX_CHARS = 200
SCAN_IMAGE_COVERAGE = 0.5
OCR_DPI = 200
CSV_ROWS_PER_SECTION = 30
TXT_SECTION_CHARS = 2000
MAX_TITLE_CHARS = 200
MAX_ATTACHMENT_DEPTH = 3
# PDFium is not thread-safe: one document at a time per process.
_PDFIUM_LOCK = threading.RLock()
_JUNK_PDF_META = {"", "untitled", "sans titre", "unspecified", "anonymous", "unknown", "inconnu", "document"}


def _supported_list() -> str:
    return ", ".join(sorted(SUPPORTED_EXTENSIONS))


def _fmt_size(n_bytes: float) -> str:
    """Human size in French: '50 Mo', '1,5 Mo', '200 Ko', '12 octets'."""
    if n_bytes >= 1024 * 1024:
        value, unit = n_bytes / (1024 * 1024), "Mo"
    elif n_bytes >= 1024:
        value, unit = n_bytes / 1024, "Ko"
    else:
        return f"{int(n_bytes)} octets"
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text.replace('.', ',')} {unit}"


# --- Text normalisation --------------------------------------------------------------------

_LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2007": " ",
        "\u2009": " ",
        "\u00ad": "",  # soft hyphen
        "\ufffe": "",
        "\uffff": "",
        "\ufeff": "",
    }
)
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HSPACE = re.compile(r"[ \t]+")


def _clean(text: str) -> str:
    """NFC, ligatures and odd spaces normalised, control chars dropped, lines stripped."""
    text = unicodedata.normalize("NFC", text).translate(_LIGATURES)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CTRL.sub("", text)
    lines = [_HSPACE.sub(" ", ln).strip() for ln in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _one_line(text: str) -> str:
    return _HSPACE.sub(" ", _clean(text).replace("\n", " ")).strip()


def _short_title(line: str) -> str:
    line = _one_line(line)
    if len(line) <= MAX_TITLE_CHARS:
        return line
    cut = line[:MAX_TITLE_CHARS].rsplit(" ", 1)[0]
    return cut + "…"


# Letterhead lines that start most French administrative documents: never a title.
_BOILERPLATE_LINE = re.compile(
    r"^(?:republique francaise|liberte,? egalite,? fraternite|extrait du registre des deliberations.*"
    r"|departement (?:de|du|des|d').*|arrondissement (?:de|du|des|d').*|page \d+(?:\s*(?:/|sur)\s*\d+)?)$"
)


def _fold(text: str) -> str:
    nfkd = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in nfkd if not unicodedata.combining(c)).strip(" .:-–")


def _first_line(text: str) -> str | None:
    """First non-empty line that is not letterhead boilerplate (else the first line)."""
    first = None
    for ln in text.splitlines()[:15]:
        if not ln.strip():
            continue
        first = first or ln
        if not _BOILERPLATE_LINE.match(_fold(ln)):
            return _short_title(ln)
    return _short_title(first) if first else None


def _decode_text(data: bytes) -> tuple[str, str]:
    """Decode text bytes: BOM, else UTF-8, else cp1252, else latin-1. Returns (text, encoding).

    Raises IngestError when the result is clearly not text (binary content).
    """
    boms = [
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ]
    text: str | None = None
    encoding = ""
    for bom, enc in boms:
        if data.startswith(bom):
            try:
                text, encoding = data.decode(enc), enc
            except UnicodeDecodeError:
                text = None
            break
    if text is None and b"\x00" in data[:4096] and len(data) >= 4:
        # UTF-16 without BOM: NUL in every other byte.
        sample = data[:4096]
        for enc, zeros in (("utf-16-le", sample[1::2]), ("utf-16-be", sample[0::2])):
            if zeros.count(0) > 0.9 * len(zeros):
                try:
                    text, encoding = data.decode(enc), enc
                except UnicodeDecodeError:
                    text = None
                break
    if text is None:
        for enc in ("utf-8", "cp1252", "latin-1"):
            try:
                text, encoding = data.decode(enc), enc
                break
            except UnicodeDecodeError:
                continue
    assert text is not None  # latin-1 always decodes
    bad = sum(1 for ch in text if (ch < " " and ch not in "\t\n\r\f\v") or "\x7f" <= ch < "\xa0")
    if "\x00" in text or bad > max(2, 0.01 * len(text)):
        raise IngestError(
            "Le contenu du fichier n'a pas pu être décodé comme du texte (fichier binaire ou encodage inconnu).",
            hint="Vérifiez que le fichier est bien un texte (UTF-8 ou Windows-1252) et que son extension correspond à son contenu.",
        )
    return text, encoding


# --- Section building ----------------------------------------------------------------------


class _SectionBuilder:
    """Accumulates blocks of text under a heading stack and emits Sections."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self._stack: list[tuple[int, str]] = []
        self._blocks: list[str] = []
        self.page: int | None = None

    @property
    def path(self) -> list[str]:
        return [h for _, h in self._stack]

    def heading(self, level: int, text: str) -> None:
        text = _one_line(text)
        if not text:
            return
        self.flush()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))

    def add(self, text: str) -> None:
        text = _clean(text)
        if text:
            self._blocks.append(text)

    def flush(self) -> None:
        if self._blocks:
            self.sections.append(Section(text="\n\n".join(self._blocks), heading_path=self.path, page=self.page))
            self._blocks = []

    def first_heading(self) -> str | None:
        for s in self.sections:
            if s.heading_path:
                return s.heading_path[0]
        return self._stack[0][1] if self._stack else None


@dataclass
class _Ctx:
    path: Path
    max_bytes: int
    depth: int = 0
    warnings: list[str] = field(default_factory=list)


# --- PDF -----------------------------------------------------------------------------------

# Headings typical of French administrative texts (arrêtés, délibérations, règlements).
_PDF_HEADING_RULES: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"^(?:TITRE|Titre|PARTIE|Partie|LIVRE|Livre)\s+(?:[IVXLC]+|\d+|premier|PREMIER|unique|UNIQUE)(?:er|ER)?\b(?!\s*\d)"), 1),
    (re.compile(r"^(?:ANNEXE|Annexe)(?:\s+(?:[IVXLC]+|\d+|[A-Z]))?\b(?!\s*du)"), 1),
    (re.compile(r"^(?:CHAPITRE|Chapitre)\s+(?:[IVXLC]+|\d+|premier|PREMIER|unique|UNIQUE)(?:er|ER)?\b"), 2),
    (re.compile(r"^(?:SECTION|Section)\s+(?:[IVXLC]+|\d+|premi[eè]re|unique)\b"), 3),
    (re.compile(r"^(?:ARTICLE|Article|Art\.)\s*(?:\d+|[IVXLC]+\b|premier|PREMIER|unique|UNIQUE)(?:er|ER)?\b(?![.,]\d)"), 4),
]
_NUMBERED_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})[.)]?\s+[A-ZÀ-ÖØ-Ý]")
_HEADING_SEP = re.compile(r"\s*(?:[:–—]|\s-\s|\.\s)\s*")


def _pdf_heading(line: str) -> tuple[int, str] | None:
    """(level, heading text) if the line looks like a heading, else None. Cheap regexes only."""
    if len(line) > 200 or len(line) < 3:
        return None
    for rx, level in _PDF_HEADING_RULES:
        m = rx.match(line)
        if m:
            sep = _HEADING_SEP.search(line, m.end())
            if sep is None:
                return level, (line if len(line) <= 90 else m.group(0)).rstrip(" :.–-")
            rest = line[sep.end() :].strip()
            # "Article 2 – Stationnement interdit" keeps its title; "Article 2 : le
            # stationnement est interdit..." is a sentence, so only "Article 2" heads it.
            sentence = rest.endswith((".", ";", ",")) or len(rest) > 60 or len(line) > 90
            if rest and not sentence and (rest[0].isupper() or level != 4):
                return level, line.rstrip(" :.–-")
            return level, line[: sep.start()].strip()
    m = _NUMBERED_HEADING.match(line)
    if m and len(line) <= 80 and not line.endswith((".", ";", ",", ":")) and sum(c.isalpha() for c in line) >= 4:
        return 5 + m.group(1).count("."), line
    return None


def _split_pdf_page(text: str, page_no: int, builder: _SectionBuilder) -> None:
    """Split one page's text into sections at detected headings.

    A line that is entirely a heading goes to heading_path only (the chunker shows the
    heading with the text); a line that merely starts with one ("Article 2 : le
    stationnement est interdit...") stays in the text too.
    """
    builder.page = page_no
    block: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        h = _pdf_heading(stripped)
        if h is not None:
            if block:
                builder.add("\n".join(block))
                block = []
            builder.heading(*h)
            if h[1] == stripped.rstrip(" :.–-"):
                continue
        block.append(line)
    if block:
        builder.add("\n".join(block))
    builder.flush()


def _pdf_date(value: str | None) -> str | None:
    m = re.match(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?", value or "")
    if not m:
        return None
    y, mo, d = m.group(1), m.group(2) or "01", m.group(3) or "01"
    if not ("1980" <= y <= "2100" and "01" <= mo <= "12" and "01" <= d <= "31"):
        return None
    return f"{y}-{mo}-{d}"


def _pdf_title(meta: dict[str, str], stem: str) -> str | None:
    title = _one_line(meta.get("Title", "") or "")
    if title == stem:  # tools that write the file name as title (scanners, Pillow)
        return None
    title = re.sub(r"^Microsoft (?:Word|PowerPoint|Excel) - ", "", title)
    title = re.sub(r"\.(?:docx?|odt|rtf|pdf|xlsx?|pptx?)$", "", title, flags=re.I).strip()
    if title.lower() in _JUNK_PDF_META or len(title) < 3 or re.fullmatch(r"(?i)(?:document|doc|untitled|sans titre)\s*\d*", title):
        return None
    return _short_title(title)


def _garbled(text: str) -> bool:
    """True if a text layer is mostly unusable (fonts without Unicode mapping)."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return False
    bad = sum(1 for c in chars if c == "\ufffd" or unicodedata.category(c) in ("Co", "Cn", "Cc"))
    return bad > 0.3 * len(chars)


def _page_is_mostly_image(page: Any, pdfium_c: Any) -> bool:
    """True if image objects cover a large part of the page (cheap bounding-box test)."""
    try:
        pw, ph = page.get_size()
        area = max(pw * ph, 1.0)
        covered = 0.0
        for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
            left, bottom, right, top = obj.get_bounds()
            w = max(0.0, min(right, pw) - max(left, 0.0))
            h = max(0.0, min(top, ph) - max(bottom, 0.0))
            covered += w * h
            if covered >= SCAN_IMAGE_COVERAGE * area:
                return True
    except Exception:  # noqa: BLE001 - a heuristic must never fail the document
        return False
    return False


def _render_page(page: Any) -> Any:
    """Render a PDF page to a grayscale PIL image at OCR_DPI, capping huge pages."""
    from territoria.ingest.ocr import MAX_OCR_PIXELS

    pw, ph = page.get_size()
    scale = OCR_DPI / 72
    if pw * ph * scale * scale > MAX_OCR_PIXELS:
        scale = (MAX_OCR_PIXELS / max(pw * ph, 1.0)) ** 0.5
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        return bitmap.to_pil().copy()
    finally:
        bitmap.close()


def _check_pdf_header(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(1024)
    if b"%PDF-" not in head:
        raise IngestError(
            "Le fichier n'est pas un PDF valide : son contenu n'est pas reconnu comme un document PDF.",
            hint="Vérifiez que le fichier n'est pas endommagé et que son extension correspond à son contenu.",
        )


def _pdf_form_fields(pdf: Any, page: Any, pdfium_c: Any) -> list[str]:
    """« label : value » for the filled form fields of a page (text, choice, ticked boxes), in page order."""
    import ctypes

    form = getattr(pdf, "formenv", None)
    if form is None:
        return []

    def read(fn, annot) -> str:
        n = fn(form.raw, annot, None, 0)
        if n <= 2:
            return ""
        buf = (ctypes.c_ushort * (n // 2 + 1))()
        fn(form.raw, annot, buf, n)
        return bytes(buf)[:n].decode("utf-16-le", errors="replace").rstrip("\x00").strip()

    out: list[str] = []
    for i in range(pdfium_c.FPDFPage_GetAnnotCount(page.raw)):
        annot = pdfium_c.FPDFPage_GetAnnot(page.raw, i)
        if not annot:
            continue
        try:
            if pdfium_c.FPDFAnnot_GetSubtype(annot) != pdfium_c.FPDF_ANNOT_WIDGET:
                continue
            kind = pdfium_c.FPDFAnnot_GetFormFieldType(form.raw, annot)
            label = read(pdfium_c.FPDFAnnot_GetFormFieldAlternateName, annot) or \
                read(pdfium_c.FPDFAnnot_GetFormFieldName, annot).replace("_", " ")
            if kind in (pdfium_c.FPDF_FORMFIELD_CHECKBOX, pdfium_c.FPDF_FORMFIELD_RADIOBUTTON):
                value = "oui" if pdfium_c.FPDFAnnot_IsChecked(form.raw, annot) else ""
            elif kind in (pdfium_c.FPDF_FORMFIELD_TEXTFIELD, pdfium_c.FPDF_FORMFIELD_COMBOBOX,
                          pdfium_c.FPDF_FORMFIELD_LISTBOX):
                value = read(pdfium_c.FPDFAnnot_GetFormFieldValue, annot)
            else:  # push buttons, signatures
                value = ""
            if value:
                out.append(f"{_one_line(label) or 'Champ'} : {_one_line(value)}")
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return out


def _pdf_text_turn(textpage: Any, pdfium_c: Any) -> int:
    """Direction of most of a page's text in PDF user space: 0, 90, 180 or 270 (PDFium's char angle).

    0 is ordinary text; a landscape page laid out on portrait paper (then shown upright by its /Rotate)
    has its text at 90 or 270. Characters far from a right angle (a diagonal « COPIE » watermark) do not
    vote; on a tie the ordinary direction wins, so a margin stamp written sideways never turns a page.
    """
    raw = textpage.raw
    n = pdfium_c.FPDFText_CountChars(raw)
    votes: Counter[int] = Counter()
    for i in range(0, max(n, 0), max(1, n // 400)):  # a sample is enough to vote
        if pdfium_c.FPDFText_GetUnicode(raw, i) <= 32 or pdfium_c.FPDFText_IsGenerated(raw, i) == 1:
            continue
        angle = pdfium_c.FPDFText_GetCharAngle(raw, i)
        if angle < 0:  # error
            continue
        deg = math.degrees(angle) % 360
        quarter = round(deg / 90) % 4
        off = abs(deg - quarter * 90)
        if min(off, 360 - off) <= 20:
            votes[quarter * 90] += 1
    if not votes:
        return 0
    return max(votes, key=lambda turn: (votes[turn], turn == 0))


def _pdf_page_text(page: Any, pdfium_c: Any) -> str:
    """A page's text layer in the order a reader reads it, whatever the page's /Rotate.

    PDFium's bounded extraction groups characters into lines in unrotated user space, and orders
    them in the rotated frame of the page: on a page whose /Rotate does not match the direction of
    its text, lines came out reversed (/Rotate 90 over upright text reads as vertical writing,
    right-to-left columns) or glued together (a landscape page: text drawn at 90° shown upright by
    /Rotate). The page is turned in memory (never saved) so that its text is horizontal: upright
    text is read unrotated as usual, turned text from PDFium's text flow in the turned frame.
    """
    textpage = page.get_textpage()
    try:
        turn = _pdf_text_turn(textpage, pdfium_c)
        rotation = page.get_rotation()
        if turn == 0 and rotation == 0:  # the common case: as it always was
            return textpage.get_text_bounded()
    finally:
        textpage.close()
    upright = (360 - turn) % 360
    page.set_rotation(upright)
    try:
        textpage = page.get_textpage()
        try:
            return textpage.get_text_bounded() if upright == 0 else textpage.get_text_range()
        finally:
            textpage.close()
    finally:
        page.set_rotation(rotation)  # rendering for OCR shows the page as its reader sees it


def _load_pdf(ctx: _Ctx) -> ExtractedDocument:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    _check_pdf_header(ctx.path)
    with _PDFIUM_LOCK:
        return _load_pdf_locked(ctx, pdfium, pdfium_c)


def _load_pdf_locked(ctx: _Ctx, pdfium: Any, pdfium_c: Any) -> ExtractedDocument:
    try:
        pdf = pdfium.PdfDocument(ctx.path)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise IngestError(
                "Le fichier PDF est protégé par un mot de passe et ne peut pas être lu.",
                hint="Retirez la protection (enregistrez une copie sans mot de passe) puis importez-le à nouveau.",
            ) from exc
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise IngestError(
                "Le fichier PDF utilise un chiffrement non pris en charge et ne peut pas être lu.",
                hint="Enregistrez une copie du document sans protection puis importez-la.",
            ) from exc
        if code in (None, pdfium_c.FPDF_ERR_SUCCESS):
            raise IngestError(
                "Le fichier PDF ne contient aucune page.",
                hint="Vérifiez le document d'origine et exportez-le à nouveau en PDF.",
            ) from exc
        raise IngestError(
            "Le fichier PDF est corrompu ou incomplet et ne peut pas être lu.",
            hint="Le fichier est peut-être tronqué (téléchargement interrompu) : récupérez une copie complète du document.",
        ) from exc

    try:
        pdf.init_forms()  # before any page is loaded: the values typed into form fields are read too
    except Exception:  # noqa: BLE001 - a document without a usable form is read as before
        pass
    ocr_pages = 0
    builder = _SectionBuilder()
    try:
        meta = pdf.get_metadata_dict(skip_empty=True)
        n_pages = len(pdf)
        first_text = ""
        blank_pages: list[int] = []
        for i in range(n_pages):
            page_no = i + 1
            page = pdf[i]
            try:
                text = _clean(_pdf_page_text(page, pdfium_c))
                n_chars = len(re.sub(r"\s", "", text))
                if n_chars and _garbled(text):
                    text, n_chars = "", 0
                need_ocr = n_chars < MIN_PAGE_CHARS or (
                    n_chars < SCAN_PAGE_MAX_CHARS and _page_is_mostly_image(page, pdfium_c)
                )
                if need_ocr:
                    if n_chars == 0 and pdfium_c.FPDFPage_CountObjects(page.raw) == 0:
                        blank_pages.append(page_no)  # truly blank page: nothing to read
                        continue
                    from territoria.ingest.ocr import ocr_image

                    ocr_text = _clean(ocr_image(_render_page(page)))
                    ocr_pages += 1
                    if len(ocr_text) >= len(text):
                        text = ocr_text
                    if not text:
                        ctx.warnings.append(f"Page {page_no} : aucun texte lisible, même après reconnaissance de texte (OCR).")
                        continue
                fields = _pdf_form_fields(pdf, page, pdfium_c)
                if fields:  # a filled-in form (a CERFA sent back): what was typed is part of the document
                    text = (text + "\n\n" if text else "") + "Champs du formulaire :\n" + "\n".join(fields)
                if text:
                    if not first_text:
                        first_text = text
                    _split_pdf_page(text, page_no, builder)
            finally:
                page.close()
    finally:
        pdf.close()

    title = _pdf_title(meta, ctx.path.stem) or _first_line(first_text) or ctx.path.stem
    metadata: dict[str, Any] = {"page_count": n_pages}
    for key, name in (("Author", "author"), ("Subject", "subject"), ("Keywords", "keywords")):
        value = _one_line(meta.get(key, "") or "")
        if value and value.lower() not in _JUNK_PDF_META:
            metadata[name] = value
    date = _pdf_date(meta.get("CreationDate"))
    if date and date != "2000-01-01":  # reportlab's "invariant" placeholder date
        metadata["date"] = date
    if blank_pages:
        metadata["blank_pages"] = blank_pages
    return ExtractedDocument(title=title, sections=builder.sections, doc_type="pdf", metadata=metadata, ocr_pages=ocr_pages)


# --- Images --------------------------------------------------------------------------------


def _load_image(ctx: _Ctx) -> ExtractedDocument:
    import warnings

    from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

    from territoria.ingest.ocr import check_available, ocr_image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(ctx.path)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise IngestError(
            "L'image est trop grande (nombre de pixels) pour être analysée.",
            hint="Réduisez la résolution de l'image (300 dpi suffisent) puis importez-la à nouveau.",
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise IngestError(
            "L'image est corrompue ou son format n'est pas reconnu.",
            hint="Vérifiez que le fichier s'ouvre correctement et que son extension correspond à son contenu (PNG, JPEG ou TIFF).",
        ) from exc

    check_available()
    sections: list[Section] = []
    ocr_pages = 0
    with img:
        n_frames = getattr(img, "n_frames", 1) or 1
        for i, frame in enumerate(ImageSequence.Iterator(img)):
            try:
                page_img = ImageOps.exif_transpose(frame.copy())
            except Exception:  # noqa: BLE001 - bad EXIF: use the frame as is
                page_img = frame.copy()
            text = _clean(ocr_image(page_img))
            ocr_pages += 1
            page_no = i + 1 if n_frames > 1 else None
            if text:
                sections.append(Section(text=text, heading_path=[], page=page_no))
            elif n_frames > 1:
                ctx.warnings.append(f"Page {i + 1} : aucun texte lisible par reconnaissance de texte (OCR).")
    metadata: dict[str, Any] = {"page_count": n_frames, "image_format": img.format or ""}
    if not sections:
        raise IngestError(
            "Aucun texte n'a pu être extrait de l'image, même par reconnaissance de texte (OCR).",
            hint="Vérifiez que l'image contient du texte lisible ; pour un scan, utilisez une résolution d'au moins 200 dpi.",
        )
    return ExtractedDocument(title=ctx.path.stem, sections=sections, doc_type="image", metadata=metadata, ocr_pages=ocr_pages)


# --- Zipped office formats (DOCX, ODT) ------------------------------------------------------


def _check_zip(ctx: _Ctx, kind: str, hint: str) -> None:
    with ctx.path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        # OLE compound file: legacy .doc renamed, or an Office file encrypted with a password.
        raise IngestError(
            f"Le fichier {kind} est protégé par un mot de passe ou enregistré dans un ancien format.",
            hint="Retirez la protection par mot de passe, ou enregistrez-le à nouveau au format .docx, .odt ou PDF.",
        )
    try:
        with zipfile.ZipFile(ctx.path) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise IngestError(f"Le fichier {kind} est corrompu ou n'est pas un vrai document {kind}.", hint=hint) from exc
    if total > max(20 * ctx.max_bytes, 200 * 1024 * 1024):
        raise IngestError(
            f"Le fichier {kind} est anormalement volumineux une fois décompressé ({_fmt_size(total)}).",
            hint="Vérifiez l'origine du fichier ; allégez-le (images) ou exportez-le en PDF.",
        )


def _docx_heading_level(par: Any) -> int | None:
    """Heading level of a python-docx paragraph: 0 = document title, 1..9 headings, None = body."""
    style = par.style
    seen = 0
    while style is not None and seen < 10:
        name = (style.name or "").strip()
        if re.fullmatch(r"(?i)title|titre", name):
            return 0
        m = re.fullmatch(r"(?i)(?:heading|titre)\s*(\d)", name)
        if m:
            return max(1, int(m.group(1)))
        lvl = style.element.xpath("./w:pPr/w:outlineLvl/@w:val")
        if lvl and lvl[0].isdigit() and int(lvl[0]) < 9:
            return int(lvl[0]) + 1
        style = style.base_style
        seen += 1
    lvl = par._p.xpath("./w:pPr/w:outlineLvl/@w:val")
    if lvl and lvl[0].isdigit() and int(lvl[0]) < 9:
        return int(lvl[0]) + 1
    return None


def _table_rows(rows: Iterable[list[str]]) -> str:
    lines = []
    for cells in rows:
        cells = [_one_line(c) for c in cells]
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def _docx_blocks(document: Any) -> Iterable[Any]:
    """Body paragraphs and tables in order, including those inside content controls (w:sdt)."""
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    body = document.element.body
    stack = list(reversed(list(body.iterchildren())))
    while stack:
        el = stack.pop()
        if el.tag == qn("w:p"):
            yield Paragraph(el, document)
        elif el.tag == qn("w:tbl"):
            yield Table(el, document)
        elif el.tag in (qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml")):
            stack.extend(reversed([c for c in el.iterchildren() if c.tag != qn("w:sdtPr")]))


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Deleted text (tracked changes), the legacy copy of a drawing (mc:Fallback repeats the text box of
# mc:Choice), hidden runs' properties: never visible text.
_DOCX_SKIP = {
    _W + "del", _W + "moveFrom", _W + "rPr", _W + "pPr",
    "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback",
}


def _docx_text(el: Any) -> str:
    """Visible text of a WordprocessingML element (iterative).

    Unlike python-docx's ``Paragraph.text`` it keeps the text of inline content controls, simple
    fields, tracked insertions, smart tags and text boxes; nested paragraphs get their own line.
    """
    out: list[str] = []
    stack: list[Any] = [el]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
            continue
        tag = node.tag
        if not isinstance(tag, str) or tag in _DOCX_SKIP:
            continue
        if tag == _W + "t":
            out.append(node.text or "")
        elif tag == _W + "tab":
            out.append("\t")
        elif tag in (_W + "br", _W + "cr"):
            out.append("\n")
        elif tag == _W + "noBreakHyphen":
            out.append("-")
        else:
            if tag == _W + "p" and node is not el:
                out.append("\n")
                stack.append("\n")
            stack.extend(reversed(list(node)))
    return "".join(out)


def _docx_notes(document: Any) -> list[str]:
    """Texts of the footnotes and endnotes (parts python-docx does not expose)."""
    from docx.oxml import parse_xml

    notes: list[str] = []
    for rel in document.part.rels.values():
        if rel.is_external or not rel.reltype.endswith(("/footnotes", "/endnotes")):
            continue
        root = parse_xml(rel.target_part.blob)
        for note in root:
            if note.get(_W + "type") in ("separator", "continuationSeparator", "continuationNotice"):
                continue
            text = _one_line(_docx_text(note))
            if text:
                notes.append(text)
    return notes


def _load_docx(ctx: _Ctx) -> ExtractedDocument:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    hint = "Ouvrez-le dans un traitement de texte et enregistrez-le à nouveau au format .docx."
    _check_zip(ctx, "DOCX", hint)
    try:
        document = docx.Document(str(ctx.path))
    except Exception as exc:  # noqa: BLE001 - PackageNotFoundError, KeyError, XML errors...
        raise IngestError("Le fichier DOCX est corrompu ou n'est pas un vrai document Word.", hint=hint) from exc

    builder = _SectionBuilder()
    title_par: str | None = None
    first_par: str | None = None
    for block in _docx_blocks(document):
        if isinstance(block, Paragraph):
            text = _docx_text(block._p)
            if not text.strip():
                continue
            level = _docx_heading_level(block)
            if level == 0:
                title_par = title_par or _short_title(text)
                builder.add(text)
            elif level is not None:
                builder.heading(level, text)
            else:
                first_par = first_par or _first_line(text)
                builder.add(text)
        elif isinstance(block, Table):
            rows = []
            for row in block.rows:
                cells, last = [], None
                for cell in row.cells:
                    if cell._tc is last:  # horizontally merged cell repeated
                        continue
                    last = cell._tc
                    cells.append(_docx_text(cell._tc))  # with nested tables and content controls
                rows.append(cells)
            builder.add(_table_rows(rows))
    builder.flush()
    notes = _docx_notes(document)
    if notes:
        builder.heading(1, "Notes")
        builder.add("\n".join(notes))
        builder.flush()

    props = document.core_properties
    title = _one_line(props.title or "") or title_par or builder.first_heading() or first_par or ctx.path.stem
    metadata: dict[str, Any] = {}
    if props.author:
        metadata["author"] = _one_line(props.author)
    if props.subject:
        metadata["subject"] = _one_line(props.subject)
    if props.created:
        metadata["date"] = props.created.date().isoformat()
    return ExtractedDocument(title=_short_title(title), sections=builder.sections, doc_type="docx", metadata=metadata)


_ODF_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_ODF_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_ODF_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
# Elements whose content must not become document text.
_ODF_SKIP = {
    (_ODF_OFFICE, "annotation"),
    (_ODF_OFFICE, "annotation-end"),
    (_ODF_TEXT, "tracked-changes"),
    (_ODF_TEXT, "table-of-content"),
    (_ODF_TEXT, "alphabetical-index"),
    (_ODF_TEXT, "sequence-decls"),
    (_ODF_TEXT, "variable-decls"),
    (_ODF_TEXT, "user-field-decls"),
    (_ODF_TEXT, "note-citation"),
    (_ODF_OFFICE, "forms"),
}


def _odf_text(el: Any) -> str:
    """Text of an ODF element with text:s / tab / line-break unwrapped (iterative)."""
    out: list[str] = []
    stack = [el]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
            continue
        if node.nodeType == node.TEXT_NODE:
            out.append(node.data)
            continue
        if node.nodeType != node.ELEMENT_NODE:
            continue
        q = node.qname
        if q in _ODF_SKIP:
            continue
        if q == (_ODF_TEXT, "line-break"):
            out.append("\n")
        elif q == (_ODF_TEXT, "tab"):
            out.append("\t")
        elif q == (_ODF_TEXT, "s"):
            c = node.getAttribute("c")
            out.append(" " * (int(c) if c and c.isdigit() else 1))
        else:
            # Paragraphs nested in frames/notes: keep them on their own line.
            if q in ((_ODF_TEXT, "p"), (_ODF_TEXT, "h")) and node is not el:
                out.append("\n")  # before and after: a note or a frame is not glued to the word
                stack.append("\n")
            stack.extend(reversed(node.childNodes))
    return "".join(out)


def _load_odt(ctx: _Ctx) -> ExtractedDocument:
    from odf import dc
    from odf.opendocument import load

    hint = "Ouvrez-le dans LibreOffice et enregistrez-le à nouveau au format .odt."
    _check_zip(ctx, "ODT", hint)
    try:
        doc = load(str(ctx.path))
    except Exception as exc:  # noqa: BLE001 - KeyError, SAX errors, ...
        raise IngestError("Le fichier ODT est corrompu ou n'est pas un vrai document OpenDocument.", hint=hint) from exc

    builder = _SectionBuilder()
    first_par: str | None = None
    stack: list[Any] = list(reversed(doc.text.childNodes))
    while stack:
        node = stack.pop()
        if node.nodeType != node.ELEMENT_NODE:
            continue
        q = node.qname
        if q in _ODF_SKIP:
            continue
        if q == (_ODF_TEXT, "h"):
            lvl = node.getAttribute("outlinelevel")
            builder.heading(int(lvl) if lvl and str(lvl).isdigit() else 1, _odf_text(node))
        elif q == (_ODF_TEXT, "p"):
            text = _odf_text(node)
            if text.strip():
                first_par = first_par or _first_line(text)
                builder.add(text)
        elif q == (_ODF_TABLE, "table"):
            rows = []
            for row in node.getElementsByType(_odf_element("table", "table-row")):
                cells = [
                    _odf_text(c) for c in row.childNodes if c.nodeType == c.ELEMENT_NODE and c.qname == (_ODF_TABLE, "table-cell")
                ]
                rows.append(cells)
            builder.add(_table_rows(rows))
        else:
            # text:list, text:list-item, text:section, table-less containers...
            stack.extend(reversed(node.childNodes))
    builder.flush()

    meta_title = ""
    metadata: dict[str, Any] = {}
    for t in doc.meta.getElementsByType(dc.Title):
        meta_title = _one_line(_odf_text(t))
        break
    for d in doc.meta.getElementsByType(_odf_element("meta", "creation-date")):
        m = re.match(r"\d{4}-\d{2}-\d{2}", _odf_text(d).strip())
        if m:
            metadata["date"] = m.group(0)
        break
    title = meta_title or builder.first_heading() or first_par or ctx.path.stem
    return ExtractedDocument(title=_short_title(title), sections=builder.sections, doc_type="odt", metadata=metadata)


def _odf_element(module: str, local: str) -> Callable[..., Any]:
    """The odfpy element class for ``module:local`` (e.g. table:table-row), for getElementsByType."""
    import importlib

    mod = importlib.import_module(f"odf.{module}")
    name = "".join(part.capitalize() for part in local.split("-"))
    return getattr(mod, name)


# --- HTML ----------------------------------------------------------------------------------

_HTML_DROP = ["script", "style", "nav", "footer", "noscript", "template", "svg", "iframe", "object", "head", "button", "select"]
_HTML_DROP_ROLES = ["navigation", "banner", "contentinfo", "search", "dialog", "alertdialog"]
_COOKIE_BANNER = re.compile(r"(?i)cookie|tarteaucitron")


def _html_is_cookie_banner(tag: Any) -> bool:
    if tag.name in ("html", "body", "main", "article"):
        return False
    names = " ".join([str(tag.get("id") or ""), *(tag.get("class") or [])])
    if not names.strip() or _COOKIE_BANNER.search(names) is None:
        return False
    return tag.find(["main", "article", "h1"]) is None  # a wrapper of the whole page, not a banner


_HTML_BLOCK = {
    "p", "div", "section", "article", "main", "aside", "header", "blockquote", "pre", "ul", "ol", "dl",
    "li", "dt", "dd", "figure", "figcaption", "address", "table", "thead", "tbody", "tfoot", "caption",
    "hr", "details", "summary", "fieldset", "legend", "body", "center",
}
_HTML_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


def _html_to_builder(soup: Any, builder: _SectionBuilder) -> None:
    """Walk the tree in document order (iteratively): headings open sections, blocks break lines."""
    from bs4 import NavigableString, Tag
    from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

    skip_strings = (Comment, Declaration, Doctype, ProcessingInstruction)
    buf: list[str] = []

    def flush_text() -> None:
        text = "".join(buf)
        buf.clear()
        # Inline whitespace collapses; "\n" markers from blocks survive.
        parts = [re.sub(r"\s+", " ", p).strip() for p in text.split("\n")]
        paragraphs = [p for p in parts if p]
        if paragraphs:
            builder.add("\n".join(paragraphs))

    root = soup.body or soup
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, str) and not isinstance(node, NavigableString):
            buf.append(node)  # an end-of-block marker pushed below
            continue
        if isinstance(node, NavigableString):
            if not isinstance(node, skip_strings):
                buf.append(str(node))
            continue
        if not isinstance(node, Tag):
            continue
        name = (node.name or "").lower()
        if name in _HTML_HEADINGS:
            flush_text()
            builder.heading(_HTML_HEADINGS[name], node.get_text(""))
            continue
        if name == "tr":
            cells = [c.get_text(" ") for c in node.find_all(["td", "th"], recursive=False)]
            row = _table_rows([cells])
            if row:
                buf.append("\n" + row + "\n")
            continue
        if name == "img":
            alt = (node.get("alt") or "").strip()
            if alt and len(alt) > 3:
                buf.append(f" {alt} ")
            continue
        if name in _HTML_BLOCK:
            buf.append("\n")
            stack.append("\n")
        stack.extend(reversed(node.contents))
    flush_text()
    builder.flush()


def _html_document(markup: bytes | str, ctx: _Ctx) -> tuple[str | None, _SectionBuilder, dict[str, Any]]:
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(markup, "lxml")
    except Exception as exc:  # noqa: BLE001
        raise IngestError(
            "La page HTML n'a pas pu être analysée.",
            hint="Vérifiez que le fichier est bien une page web enregistrée (HTML).",
        ) from exc
    metadata: dict[str, Any] = {}
    title = None
    if soup.title:
        title = _one_line(soup.title.get_text(" ")) or None
    h1 = soup.find("h1")
    if not title and h1:
        title = _one_line(h1.get_text(" ")) or None
    desc = soup.find("meta", attrs={"name": "description"})
    if desc and desc.get("content"):
        metadata["description"] = _one_line(desc["content"])
    canon = soup.find("link", rel="canonical")
    if canon and canon.get("href"):
        metadata["canonical_url"] = canon["href"].strip()
    html_tag = soup.find("html")
    if html_tag and html_tag.get("lang"):
        metadata["lang"] = str(html_tag.get("lang"))
    for tag in soup(_HTML_DROP):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": _HTML_DROP_ROLES}):
        tag.decompose()
    for tag in soup.find_all(_html_is_cookie_banner):
        tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    # A page that marks its main content: only that (site header, menus, sidebars are not the page).
    main = soup.find("main") or soup.find(attrs={"role": "main"})
    root = main if main is not None and main.get_text(strip=True) else soup
    if root is soup:
        for tag in soup.find_all(["header", "aside", "form"]):
            if tag.find_parent("article") is None:
                tag.decompose()
    builder = _SectionBuilder()
    _html_to_builder(root, builder)
    return title, builder, metadata


_HTML_AS_CP1252 = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii", "windows-1252", "cp1252"}


def _load_html(ctx: _Ctx) -> ExtractedDocument:
    from bs4.dammit import EncodingDetector

    data = ctx.path.read_bytes()
    markup: str | None = None
    declared = EncodingDetector.find_declared_encoding(data[:4096], is_html=True, search_entire_document=False)
    if declared:
        enc = declared.strip().lower()
        if enc in _HTML_AS_CP1252:
            enc = "cp1252"  # what browsers do (WHATWG): keeps €, œ, ’ of pages saved on Windows
        try:
            markup = data.decode(enc)
        except (LookupError, UnicodeDecodeError):
            markup = None  # unknown or wrong declaration (cp1252 bytes in a page said to be UTF-8)
    if markup is None:
        # No usable declared charset: use our deterministic UTF-8 / cp1252 detection.
        markup, _ = _decode_text(data)
    title, builder, metadata = _html_document(markup, ctx)
    title = title or builder.first_heading() or ctx.path.stem
    return ExtractedDocument(title=_short_title(title), sections=builder.sections, doc_type="html", metadata=metadata)


# --- Markdown / TXT --------------------------------------------------------------------------

_MD_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_MD_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_MD_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _md_inline(line: str) -> str:
    """The text a reader sees: « [le formulaire](https://…) » → « le formulaire », images by their alt text."""
    line = _MD_IMAGE.sub(lambda m: m.group(1), line)
    line = _MD_LINK.sub(lambda m: m.group(1), line)
    return _MD_EMPHASIS.sub(lambda m: m.group(2), line)


# YAML front matter (Jekyll, Hugo, Obsidian, pandoc…): a block between « --- » lines at the very top,
# read with PyYAML's safe loader; dates stay text (see _FM_LOADER) and are read by _fm_date.
_FM_MAX_LINES = 300
_FM_TITLE_KEYS = ("title", "titre")
_FM_DATE_KEYS = (
    "date", "publishdate", "published", "date_publication", "created", "date_creation",
    "lastmod", "updated", "modified", "date_modified", "date_modification",
)
_FM_SUMMARY_KEYS = ("description", "summary", "resume", "résumé", "chapo", "excerpt", "abstract")
_FM_AUTHOR_KEYS = ("author", "authors", "auteur", "auteurs")
_FM_LANG_KEYS = ("lang", "language", "langue")
_FM_SUBJECT_KEYS = ("subject", "objet", "sujet")
# Front matter keys → the metadata keys that are indexed with the document's head (pipeline.head_keywords).
_FM_KEYWORD_KEYS = {
    "tags": "tags", "categories": "tags", "category": "tags", "étiquettes": "tags",
    "keywords": "keywords", "mots-clés": "keywords", "mots-cles": "keywords", "mots_cles": "keywords",
    "motscles": "keywords", "theme": "theme", "themes": "theme", "thème": "theme", "thèmes": "theme",
}


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML's safe loader without implicit timestamps: « 2024-02-30 » must be an unreadable date, not an error
    that loses the whole block, and « 01/03/2024 » a day-first date read the way users type it."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _md_front_matter(lines: list[str]) -> tuple[dict[str, Any] | None, int, str | None] | None:
    """(keys, index of the closing line, None) if the file starts with a YAML front matter; (None, 0, why)
    for a block that looks like one but is not valid YAML; None when there is none.

    A front matter opens with « --- » on the first line, closes with « --- » or « ... », and is a YAML
    mapping. Anything else (no closing line, text between two horizontal rules, invalid YAML) is read
    as Markdown text, so nothing is lost.
    """
    if not lines or lines[0].strip() != "---":
        return None
    end = next((k for k in range(1, min(len(lines), _FM_MAX_LINES)) if lines[k].strip() in ("---", "...")), None)
    if end is None:
        return None
    block = "\n".join(lines[1:end])
    if not block.strip():
        return {}, end, None  # « --- » « --- »: an empty front matter
    try:
        data = yaml.load(block, Loader=_FrontMatterLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (ligne {mark.line + 2})" if mark is not None else ""
        return (None, 0, f"En-tête YAML (front matter) illisible{where} : il est gardé comme texte du document.")
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    return {str(k).lower(): v for k, v in data.items()}, end, None


def _fm_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_one_line(str(v)) for v in value if isinstance(v, (str, int, float)) and str(v).strip())
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # « title: 2024 »
        value = str(value)
    return _one_line(value) if isinstance(value, str) else ""


def _fm_date(value: Any) -> str | None:
    """ISO day of a front matter date: 2024-03-01, 2024-03-01T18:30:00+01:00, 01/03/2024, 2024-03, 1er mars 2024."""
    if isinstance(value, list):
        value = value[0] if value else ""
    text = _one_line(value).lower() if isinstance(value, str) else ""
    if not text:
        return None
    iso = re.match(r"(\d{4})[-/](\d{1,2})(?:[-/](\d{1,2}))?(?=$|[t\s])", text)
    if iso:
        text = f"{iso.group(1)}-{iso.group(2)}-{iso.group(3) or 1}"
    else:
        text = re.split(r"[t\s]", text, maxsplit=1)[0] if re.match(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{4}", text) else text
    day = parse_day(text) or parse_written_day(text)  # « 1er mars 2024 », « lundi 4 mars 2024 »
    if day is None or not 1900 <= day.year <= 2100:
        return None
    return day.isoformat()


def _md_front_meta(data: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    """Put what a front matter says into the document's metadata, as JSONL rows are; returns its title."""
    title = next((t for t in (_fm_text(data.get(k)) for k in _FM_TITLE_KEYS) if t), None)
    date = next((d for d in (_fm_date(data.get(k)) for k in _FM_DATE_KEYS if k in data) if d), None)
    if date:
        metadata["date"] = date
    summary = next((_clean(data[k]) for k in _FM_SUMMARY_KEYS if isinstance(data.get(k), str) and data[k].strip()), None)
    if summary:
        metadata["summary"] = summary  # the document's summary, indexed with its title (head passage)
    for keys, name in ((_FM_AUTHOR_KEYS, "author"), (_FM_LANG_KEYS, "lang"), (_FM_SUBJECT_KEYS, "subject")):
        value = next((v for v in (_fm_text(data.get(k)) for k in keys) if v), None)
        if value:
            metadata[name] = value
    for key, name in _FM_KEYWORD_KEYS.items():
        value = data.get(key)
        items = value if isinstance(value, list) else value.split(",") if isinstance(value, str) else []
        for item in items:
            word = _one_line(str(item).strip("\"'")) if isinstance(item, (str, int, float)) else ""
            if word and word not in metadata.setdefault(name, []):
                metadata[name].append(word)
    return title


def _load_markdown(ctx: _Ctx) -> ExtractedDocument:
    text, encoding = _decode_text(ctx.path.read_bytes())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)  # comments are not shown
    lines = text.removeprefix("\ufeff").split("\n")
    metadata: dict[str, Any] = {"encoding": encoding}
    front_title = None
    front = _md_front_matter(lines)
    if front is not None:
        data, end, problem = front
        if data is not None:
            lines = lines[end + 1 :]
            front_title = _md_front_meta(data, metadata)
        if problem:
            ctx.warnings.append(problem)

    builder = _SectionBuilder()
    par: list[str] = []
    fence: str | None = None
    first_line: str | None = None

    def end_par() -> None:
        if par:
            builder.add("\n".join(par))
            par.clear()

    for line in lines:
        fm = _MD_FENCE.match(line)
        if fence:
            par.append(line)
            if fm and fm.group(1) == fence:
                fence = None
            continue
        if fm:
            fence = fm.group(1)
            par.append(line)
            continue
        m = _MD_ATX.match(line)
        if m and (m.group(2) or "").strip():
            end_par()
            builder.heading(len(m.group(1)), _md_inline(m.group(2)))
            continue
        s = _MD_SETEXT.match(line)
        if s and len(par) == 1 and par[0].strip():
            heading = par.pop()
            builder.heading(1 if s.group(1).startswith("=") else 2, heading)
            continue
        if not line.strip():
            end_par()
            continue
        if _MD_TABLE_RULE.match(line):  # |---|---| separates a table's header from its rows
            continue
        line = _md_inline(line)
        first_line = first_line or line.strip()
        par.append(line)
    end_par()
    builder.flush()

    h1 = next((s.heading_path[0] for s in builder.sections if s.heading_path), None)
    title = front_title or h1 or builder.first_heading() or (first_line and _short_title(first_line.lstrip("#> *-"))) or ctx.path.stem
    return ExtractedDocument(title=_short_title(title), sections=builder.sections, doc_type="md", metadata=metadata)


def _load_txt(ctx: _Ctx) -> ExtractedDocument:
    text, encoding = _decode_text(ctx.path.read_bytes())
    text = _clean(text)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    sections: list[Section] = []
    group: list[str] = []
    size = 0
    for p in paragraphs:
        if group and size + len(p) > TXT_SECTION_CHARS:
            sections.append(Section(text="\n\n".join(group)))
            group, size = [], 0
        group.append(p)
        size += len(p) + 2
    if group:
        sections.append(Section(text="\n\n".join(group)))
    title = ctx.path.stem
    if paragraphs:
        first = paragraphs[0].split("\n", 1)[0]
        if len(first) <= 150:
            title = _short_title(first)
    return ExtractedDocument(title=title, sections=sections, doc_type="txt", metadata={"encoding": encoding})


# --- CSV -----------------------------------------------------------------------------------

_CSV_DELIMITERS = [";", ",", "\t", "|"]


def _sniff_delimiter(sample: str) -> str:
    """Pick the delimiter giving the most consistent multi-column rows on a sample."""
    lines = [ln for ln in sample.split("\n")[:50] if ln.strip()]
    if len(lines) > 1 and not sample.endswith("\n"):
        lines = lines[:-1]  # last sampled line may be cut
    best, best_score = ",", (-1.0, 0)
    for delim in _CSV_DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=delim)]
        except csv.Error:
            continue
        if not counts:
            continue
        mode, freq = Counter(counts).most_common(1)[0]
        if mode < 2:
            continue
        score = (freq / len(counts), mode)
        if score > best_score:
            best, best_score = delim, score
    return best


def _load_csv(ctx: _Ctx) -> ExtractedDocument:
    text, encoding = _decode_text(ctx.path.read_bytes())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    m = re.match(r"\ufeff?sep=(.)\s*\n", text)  # Excel's « sep=; » first line names the delimiter
    if m:
        delim, text = m.group(1), text[m.end():]
    else:
        delim = _sniff_delimiter(text[:20000])
    old_limit = csv.field_size_limit()
    try:
        csv.field_size_limit(max(old_limit, 10 * 1024 * 1024))
        rows = [r for r in csv.reader(io.StringIO(text), delimiter=delim) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise IngestError(
            "Le fichier CSV est mal formé et n'a pas pu être lu.",
            hint="Vérifiez les guillemets et séparateurs (virgule, point-virgule ou tabulation), ou exportez-le à nouveau.",
        ) from exc
    finally:
        csv.field_size_limit(old_limit)
    if not rows:
        raise IngestError(
            "Aucun texte n'a pu être extrait : le fichier CSV ne contient aucune ligne.",
            hint="Vérifiez le contenu du fichier.",
        )
    header = [_one_line(h) or f"colonne {i + 1}" for i, h in enumerate(rows[0])]
    data_rows = rows[1:]
    if not data_rows:
        raise IngestError(
            "Aucun texte n'a pu être extrait : le fichier CSV ne contient qu'une ligne d'en-tête, sans données.",
            hint="Vérifiez que le fichier contient des lignes de données sous l'en-tête.",
        )
    sections: list[Section] = []
    for start in range(0, len(data_rows), CSV_ROWS_PER_SECTION):
        chunk = data_rows[start : start + CSV_ROWS_PER_SECTION]
        lines = []
        for row in chunk:
            pairs = []
            for i, value in enumerate(row):
                value = _one_line(value)
                if value:
                    name = header[i] if i < len(header) else f"colonne {i + 1}"
                    pairs.append(f"{name}: {value}")
            if pairs:
                lines.append("; ".join(pairs))
        if lines:
            first, last = start + 1, start + len(chunk)
            sections.append(Section(text="\n".join(lines), heading_path=[f"Lignes {first} à {last}"]))
    metadata = {"encoding": encoding, "delimiter": delim, "columns": header, "row_count": len(data_rows)}
    return ExtractedDocument(title=ctx.path.stem, sections=sections, doc_type="csv", metadata=metadata)


# --- EML -----------------------------------------------------------------------------------


def _safe_filename(name: str, fallback: str) -> str:
    name = Path(name.replace("\\", "/")).name
    name = re.sub(r"[^\w.\- ]", "_", name).strip(" .") or fallback
    return name[-120:]


def _part_text(part: Any) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        content = None
    if isinstance(content, str):
        return content
    payload = part.get_payload(decode=True) or b""
    try:
        return _decode_text(payload)[0]
    except IngestError:
        return ""


def _load_eml(ctx: _Ctx) -> ExtractedDocument:
    data = ctx.path.read_bytes()
    try:
        msg = email.message_from_bytes(data, policy=email.policy.default)
    except Exception as exc:  # noqa: BLE001
        raise IngestError(
            "Le courriel (.eml) est illisible ou mal formé.",
            hint="Enregistrez à nouveau le message depuis votre messagerie au format .eml.",
        ) from exc
    known = ("from", "to", "subject", "date", "message-id", "received", "mime-version")
    if not any(msg.get(h) is not None for h in known):
        raise IngestError(
            "Le fichier n'est pas un courriel valide : aucun en-tête de message (expéditeur, objet, date) n'a été trouvé.",
            hint="Enregistrez à nouveau le message depuis votre messagerie au format .eml.",
        )

    def header(name: str) -> str:
        try:
            value = msg.get(name)
        except Exception:  # noqa: BLE001 - malformed header
            return ""
        return _one_line(str(value)) if value is not None else ""

    metadata: dict[str, Any] = {}
    for name, key in (("from", "from"), ("to", "to"), ("cc", "cc"), ("date", "date_header"), ("message-id", "message_id")):
        value = header(name)
        if value:
            metadata[key] = value
    try:
        dt = msg["date"].datetime if msg["date"] is not None else None
        if dt is not None:
            metadata["date"] = dt.date().isoformat()
    except Exception:  # noqa: BLE001
        pass

    sections: list[Section] = []
    body_part = msg.get_body(preferencelist=("plain", "html"))
    if body_part is not None:
        raw = _part_text(body_part)
        if body_part.get_content_subtype() == "html":
            _, builder, _ = _html_document(raw, ctx)
            body = "\n\n".join(s.text for s in builder.sections)
        else:
            body = raw
        body = _clean(body)
        if body:
            sections.append(Section(text=body, heading_path=[]))

    ocr_pages = 0
    attachments: list[dict[str, Any]] = []
    for idx, part in enumerate(msg.iter_attachments(), start=1):
        ctype = part.get_content_type()
        fname = part.get_filename() or ""
        if ctype == "message/rfc822" and not fname:
            fname = f"message_joint_{idx}.eml"
        disposition = part.get_content_disposition()
        if part.get_content_maintype() == "image" and (disposition == "inline" or part.get("content-id")) and disposition != "attachment":
            continue  # embedded logo / signature image of an HTML mail
        display = _one_line(fname) or f"pièce jointe {idx}"
        ext = Path(fname).suffix.lower()
        if not ext:
            guessed = ".eml" if ctype == "message/rfc822" else (mimetypes.guess_extension(ctype) or "")
            if guessed in SUPPORTED_EXTENSIONS:
                ext = guessed
                fname = (fname or f"piece_jointe_{idx}") + ext
        if ext not in SUPPORTED_EXTENSIONS and ctype != "message/rfc822":
            try:
                sniffed = _sniff(part.get_payload(decode=True) or b"")
            except Exception:  # noqa: BLE001 - an undecodable part is reported below
                sniffed = None
            if sniffed is not None:  # « scan » or « document.dat » that is a PDF: read by its content
                ext = sniffed
                fname = (fname or f"piece_jointe_{idx}") + ext
        info: dict[str, Any] = {"name": display, "content_type": ctype}
        attachments.append(info)
        if ext not in SUPPORTED_EXTENSIONS:
            info["status"] = "ignorée"
            ctx.warnings.append(f"Pièce jointe « {display} » ignorée : type de fichier non pris en charge.")
            continue
        if ctx.depth + 1 > MAX_ATTACHMENT_DEPTH:
            info["status"] = "ignorée"
            ctx.warnings.append(f"Pièce jointe « {display} » ignorée : trop de niveaux de pièces jointes imbriquées.")
            continue
        try:
            if ctype == "message/rfc822":
                inner = part.get_content()
                payload = inner.as_bytes() if hasattr(inner, "as_bytes") else bytes(inner)
            else:
                payload = part.get_payload(decode=True) or b""
            with tempfile.TemporaryDirectory(prefix="territoria-pj-") as tmp:
                tmp_path = Path(tmp) / _safe_filename(fname, f"piece_jointe{ext}")
                tmp_path.write_bytes(payload)
                sub = _extract(tmp_path, max_bytes=ctx.max_bytes, depth=ctx.depth + 1)
        except IngestError as exc:
            info["status"] = "erreur"
            ctx.warnings.append(f"Pièce jointe « {display} » non extraite : {exc.message}")
            continue
        except Exception:  # noqa: BLE001 - never fail the mail because of one attachment
            info["status"] = "erreur"
            ctx.warnings.append(f"Pièce jointe « {display} » non extraite : erreur inattendue lors de la lecture.")
            continue
        info["status"] = "extraite"
        info["title"] = sub.title
        ocr_pages += sub.ocr_pages
        for w in sub.metadata.get("warnings", []):
            ctx.warnings.append(f"Pièce jointe « {display} » : {w}")
        if ctype == "message/rfc822" and not part.get_filename() and sub.title:
            display = info["name"] = f"message « {sub.title} »"  # a forwarded mail: by its subject
        head = f"Pièce jointe : {display}"
        for s in sub.sections:
            sections.append(Section(text=s.text, heading_path=[head, *s.heading_path], page=s.page))
    if attachments:
        metadata["attachments"] = attachments

    subject = header("subject")
    title = subject or (f"Courriel de {metadata['from']}" if metadata.get("from") else ctx.path.stem)
    return ExtractedDocument(title=_short_title(title), sections=sections, doc_type="eml", metadata=metadata, ocr_pages=ocr_pages)


# --- Dispatch ------------------------------------------------------------------------------

_LOADERS: dict[str, Callable[[_Ctx], ExtractedDocument]] = {
    ".pdf": _load_pdf,
    ".png": _load_image,
    ".jpg": _load_image,
    ".jpeg": _load_image,
    ".tif": _load_image,
    ".tiff": _load_image,
    ".docx": _load_docx,
    ".odt": _load_odt,
    ".html": _load_html,
    ".htm": _load_html,
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".txt": _load_txt,
    ".csv": _load_csv,
    ".eml": _load_eml,
}


# What a file really is, from its first bytes: the loaders of binary formats are chosen by content,
# so a document whose name lies (a DOCX saved as .pdf, a PDF sent as .txt or with no extension) is
# read as what it is, not rejected as corrupt nor indexed as garbage text. Text formats (HTML,
# Markdown, CSV, EML...) have no signature: their extension decides.
_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
    (b"II+\x00", ".tif"),  # BigTIFF
    (b"MM\x00+", ".tif"),
]
_PDF_MAGIC = re.compile(rb"(?:\xef\xbb\xbf)?\s*%PDF-\d\.\d")  # at the start: a text may speak of %PDF-
_ODT_MIMETYPES = {b"application/vnd.oasis.opendocument.text", b"application/vnd.oasis.opendocument.text-template"}
_DOCX_MAIN_TYPES = (b"wordprocessingml.document.main+xml", b"wordprocessingml.template.main+xml")
_KIND_NAMES = {
    ".pdf": "un document PDF",
    ".png": "une image PNG",
    ".jpg": "une image JPEG",
    ".tif": "une image TIFF",
    ".docx": "un document Word (DOCX)",
    ".odt": "un document OpenDocument (ODT)",
}


def _sniff_zip(source: Path | io.BytesIO) -> str | None:
    """".docx" or ".odt" for a zip that is one (by its inner files), else None (XLSX, PPTX, archives...)."""
    try:
        with zipfile.ZipFile(source) as zf:
            names = set(zf.namelist())
            if "mimetype" in names:  # OpenDocument: the first entry names the kind of document
                with zf.open("mimetype") as fh:
                    return ".odt" if fh.read(200).strip() in _ODT_MIMETYPES else None
            if "[Content_Types].xml" in names:  # Office Open XML
                if "word/document.xml" in names:
                    return ".docx"
                with zf.open("[Content_Types].xml") as fh:
                    types = fh.read(1 << 20)
                return ".docx" if any(t in types for t in _DOCX_MAIN_TYPES) else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, KeyError, ValueError, RuntimeError, EOFError):
        return None
    return None


def _sniff(source: Path | bytes) -> str | None:
    """The real format of a file (or of bytes) from its signature, as the extension of its loader.

    PDF, PNG, JPEG, TIFF, and DOCX / ODT told apart by their inner files; None when the content is
    not one of those (text, unknown, unreadable): the extension then decides, as before.
    """
    try:
        if isinstance(source, bytes):
            head = source[:1024]
        else:
            with source.open("rb") as fh:
                head = fh.read(1024)
    except OSError:
        return None
    if _PDF_MAGIC.match(head):
        return ".pdf"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(io.BytesIO(source) if isinstance(source, bytes) else source)
    return None


def extract(path: Path, *, max_bytes: int) -> ExtractedDocument:
    """Extract the text of one file as sections with headings/pages and metadata.

    Raises IngestError (French message + hint) for any bad input: missing,
    unsupported type, too large, empty, corrupt, password-protected, undecodable,
    or no text at all. Never returns an empty document.
    """
    return _extract(Path(path), max_bytes=max_bytes, depth=0)


def _extract(path: Path, *, max_bytes: int, depth: int) -> ExtractedDocument:
    ext = path.suffix.lower()
    real: str | None = None
    if ext not in SUPPORTED_EXTENSIONS and path.is_file():
        real = _sniff(path)  # a PDF with no extension, a DOCX named .doc...
    if ext not in SUPPORTED_EXTENSIONS and real is None:
        shown = ext or "sans extension"
        hint = _CONVERT_HINTS.get(ext, "")
        raise IngestError(
            f"Type de fichier non pris en charge ({shown}). Types acceptés : {_supported_list()}.",
            hint=(hint + " " if hint else "") + "Convertissez le fichier dans l'un de ces formats puis importez-le à nouveau.",
        )
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise IngestError("Le fichier est introuvable.", hint="Vérifiez le chemin du fichier.") from exc
    except OSError as exc:
        raise IngestError("Le fichier n'a pas pu être lu (accès refusé ou support illisible).", hint="Vérifiez les droits d'accès au fichier.") from exc
    if not path.is_file():
        raise IngestError("Le chemin indiqué n'est pas un fichier.", hint="Indiquez un fichier, pas un dossier.")
    if st.st_size > max_bytes:
        raise IngestError(
            f"Le fichier dépasse la taille maximale de {_fmt_size(max_bytes)} (taille : {_fmt_size(st.st_size)}).",
            hint="Découpez ou compressez le document, ou demandez à l'administrateur d'augmenter la limite (TERRITORIA_MAX_FILE_MB).",
        )
    if st.st_size == 0:
        raise IngestError("Le fichier est vide.", hint="Vérifiez que le bon fichier a été envoyé et qu'il n'est pas endommagé.")

    ctx = _Ctx(path=path, max_bytes=max_bytes, depth=depth)
    if real is None:
        real = _sniff(path)
    loader = _LOADERS[real] if real is not None else _LOADERS[ext]
    if loader is not _LOADERS.get(ext):  # the name lies about the content: say what was read
        named = f"son extension « {ext} » ne correspond pas à son contenu" if ext else "il n'a pas d'extension"
        ctx.warnings.append(f"Le fichier est en réalité {_KIND_NAMES[real or ext]} : {named} ; il a été lu comme tel.")
    try:
        doc = loader(ctx)
    except IngestError:
        raise
    except MemoryError as exc:
        raise IngestError(
            "Le fichier est trop volumineux pour être traité avec la mémoire disponible.",
            hint="Découpez le document en plusieurs fichiers plus petits.",
        ) from exc
    except PermissionError as exc:
        raise IngestError("Le fichier n'a pas pu être lu (accès refusé).", hint="Vérifiez les droits d'accès au fichier.") from exc
    except Exception as exc:  # noqa: BLE001 - contract: only IngestError escapes
        raise IngestError(
            f"Le fichier n'a pas pu être lu : il est probablement endommagé ou mal formé ({type(exc).__name__}).",
            hint="Ouvrez-le dans son logiciel d'origine, enregistrez-le à nouveau, puis réessayez.",
        ) from exc

    doc.sections = [s for s in doc.sections if s.text and s.text.strip()]
    if not doc.sections:
        raise IngestError(
            "Aucun texte n'a pu être extrait de ce fichier.",
            hint="Le document semble ne contenir que des images ou des pages vides ; vérifiez son contenu.",
        )
    doc.title = _short_title(doc.title) or path.stem
    doc.metadata.setdefault("size_bytes", st.st_size)
    if ctx.warnings:
        doc.metadata.setdefault("warnings", []).extend(ctx.warnings)
    return doc
