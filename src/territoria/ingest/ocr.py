"""French OCR with Tesseract (via pytesseract), imported lazily.

Nothing heavy happens at import time: pytesseract is imported, and the Tesseract
binary probed, on the first OCR call only.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from typing import TYPE_CHECKING

from territoria.core.errors import IngestError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

OCR_LANG = "fra"
# Page segmentation with orientation detection: a page scanned sideways or upside down is read
# upright (with the default mode it came out as gibberish). Without Tesseract's "osd" model,
# Tesseract warns and reads the page as it is.
OCR_CONFIG = "--psm 1"
# Seconds allowed for one page before giving up on it.
OCR_PAGE_TIMEOUT_S = 180
# Images larger than this (pixels) are scaled down before OCR; small ones scaled up.
MAX_OCR_PIXELS = 14_000_000
MIN_OCR_LONG_SIDE = 1000

_INSTALL_HINT = (
    "Installez Tesseract et le modèle français sur le serveur, par exemple : "
    "« apt install tesseract-ocr tesseract-ocr-fra », puis relancez l'import."
)
_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _tesseract():
    """Import pytesseract and check that Tesseract with French is available."""
    # Tesseract's OpenMP threads fight each other on small machines; one thread per
    # page is much faster there. Respect an explicit setting from the operator.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        import pytesseract
    except ImportError as exc:  # pragma: no cover - pytesseract is a dependency
        raise IngestError(
            "La reconnaissance de texte (OCR) est indisponible : le module pytesseract n'est pas installé.",
            hint="Installez le paquet Python pytesseract, ainsi que tesseract-ocr et tesseract-ocr-fra.",
        ) from exc
    try:
        langs = pytesseract.get_languages(config="")
    except pytesseract.TesseractNotFoundError as exc:
        raise IngestError(
            "La reconnaissance de texte (OCR) est indisponible : Tesseract n'est pas installé.",
            hint=_INSTALL_HINT,
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any failure to run the binary
        raise IngestError(
            "La reconnaissance de texte (OCR) est indisponible : Tesseract ne fonctionne pas correctement.",
            hint=_INSTALL_HINT,
        ) from exc
    if OCR_LANG not in langs:
        raise IngestError(
            "La reconnaissance de texte (OCR) est indisponible : le modèle de langue française de Tesseract est absent.",
            hint="Installez le paquet tesseract-ocr-fra (« apt install tesseract-ocr-fra »).",
        )
    return pytesseract


def check_available() -> None:
    """Raise IngestError if OCR cannot run (Tesseract or its French model missing)."""
    _tesseract()


def _prepare(img: "Image.Image") -> "Image.Image":
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Transparent background: flatten on white, or transparent pixels turn black.
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        img = flat
    elif img.mode.startswith(("I", "F")):
        # 16-bit / float scans: scale to 8-bit grayscale.
        lo, hi = img.getextrema()
        span = (hi - lo) or 1
        img = img.point(lambda v: (v - lo) * 255 / span).convert("L")
    elif img.mode not in ("L", "RGB", "1"):
        img = img.convert("RGB")
    w, h = img.size
    if w * h > MAX_OCR_PIXELS:
        f = (MAX_OCR_PIXELS / (w * h)) ** 0.5
        img = img.resize((max(1, int(w * f)), max(1, int(h * f))), Image.LANCZOS if img.mode != "1" else Image.NEAREST)
    elif max(w, h) < MIN_OCR_LONG_SIDE:
        # Low-resolution images (screenshots, phone thumbnails): upscale for Tesseract.
        img = img.convert("L").resize((w * 2, h * 2), Image.LANCZOS)
    return img


_SPACES = re.compile(r"[ \t]+")


def ocr_image(img: "Image.Image") -> str:
    """Return the French text Tesseract reads in `img` ("" if none).

    Raises IngestError if Tesseract is unavailable; a page that times out or fails
    on its own returns "" (the caller records a warning).
    """
    pytesseract = _tesseract()
    img = _prepare(img)
    try:
        # One OCR at a time per process: the machine is small and shared.
        with _lock:
            text = pytesseract.image_to_string(img, lang=OCR_LANG, config=OCR_CONFIG, timeout=OCR_PAGE_TIMEOUT_S)
    except pytesseract.TesseractNotFoundError as exc:
        _tesseract.cache_clear()
        raise IngestError(
            "La reconnaissance de texte (OCR) est indisponible : Tesseract n'est pas installé.",
            hint=_INSTALL_HINT,
        ) from exc
    except (RuntimeError, pytesseract.TesseractError):
        # RuntimeError is pytesseract's timeout; TesseractError a failure on this image.
        return ""
    lines = [_SPACES.sub(" ", ln).strip() for ln in text.replace("\x0c", "\n").splitlines()]
    out = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", out).strip()
