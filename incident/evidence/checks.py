"""Content checks on evidence uploads: image size from the header (Pillow), active content in PDFs (pypdf)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask_babel import lazy_gettext as _l
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from incident.errors import ValidationFailed

#: Pillow's format name for each accepted image type (a file must open as the type its bytes claim).
PILLOW_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
#: Keys of a PDF dictionary that hold scripts or actions run on events (/AA: additional actions).
_SCRIPT_KEYS = frozenset({"/JS", "/JavaScript", "/AA"})
#: Action types that run code: JavaScript, or launching a program.
_SCRIPT_ACTIONS = frozenset({"/JavaScript", "/Launch"})
#: Keys of a PDF dictionary that carry files inside the PDF.
_FILE_KEYS = frozenset({"/EmbeddedFiles", "/EF"})


def _refuse(message: Any) -> ValidationFailed:
    return ValidationFailed(fields={"file": message})


def check_content(path: Path, content_type: str, max_pixels: int) -> None:
    """Refuse (ValidationFailed on `file`) an image bomb, a corrupt file, or a PDF with active content."""
    if content_type in PILLOW_FORMATS:
        check_image(path, content_type, max_pixels)
    elif content_type == "application/pdf":
        check_pdf(path)


def check_image(path: Path, content_type: str, max_pixels: int) -> None:
    """Refuse an image Pillow cannot open as its detected type, or one of more than max_pixels pixels."""
    too_many = _refuse(_l("画像の画素数が多すぎます（上限 %(max)s 画素）。", max=f"{max_pixels:,}"))
    try:
        # Image.open reads the header only; the pixels are never decoded.
        with Image.open(path, formats=[PILLOW_FORMATS[content_type]]) as image:
            width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own limit: an error beyond twice MAX_IMAGE_PIXELS, a warning (an exception where
        # warnings are errors, as in the tests) beyond it. Either way the image is too large.
        raise too_many from None
    except Exception:  # hostile bytes may make a parser raise anything; all mean "cannot open"
        raise _refuse(_l("画像ファイルが壊れているため開けません。")) from None
    if width * height > max_pixels:
        raise too_many


def check_pdf(path: Path) -> None:
    """Refuse a PDF that pypdf cannot read, that needs a password, or that holds scripts or files."""
    try:
        reader = PdfReader(path)
        # An owner-password PDF (printing or copying restricted) opens with the empty user password.
        if reader.is_encrypted and not reader.decrypt(""):
            raise _refuse(_l("パスワードで保護された PDF は添付できません。パスワードを外してから添付してください。"))
        found = active_content(reader)
    except ValidationFailed:
        raise
    except Exception:  # malformed, truncated or hostile PDFs make pypdf raise many kinds of errors
        raise _refuse(_l("PDF を読み取れません（壊れているか、形式が正しくありません）。")) from None
    if found == "script":
        raise _refuse(_l("JavaScript など自動で動く内容を含む PDF は添付できません。印刷機能で PDF を作り直してください。"))
    if found == "file":
        raise _refuse(_l("ファイルを埋め込んだ PDF は添付できません。埋め込まれたファイルは別に添付してください。"))


def _kind(obj: DictionaryObject) -> str | None:
    """"script", "file" or None for one PDF dictionary."""
    keys = set(obj.keys())

    def name(key: str) -> str | None:  # indexing resolves an indirect reference
        value = obj[key] if key in keys else None
        return value if isinstance(value, str) else None

    if keys & _SCRIPT_KEYS or name("/S") in _SCRIPT_ACTIONS:
        return "script"
    if keys & _FILE_KEYS or name("/Type") == "/EmbeddedFile" or name("/Subtype") == "/FileAttachment":
        return "file"
    return None


def active_content(reader: PdfReader) -> str | None:
    """"script" or "file" if any object reachable from the PDF's trailer carries one, else None.

    The whole object graph is walked (catalog, name trees, OpenAction, pages, annotations, form
    fields, outlines), so nothing hides in a place a list of known locations would miss; pypdf has
    already decoded escaped names such as /J#53.
    """
    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [reader.trailer]
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            ref = (obj.idnum, obj.generation)
            if ref in seen:
                continue
            seen.add(ref)
            obj = obj.get_object()
        if isinstance(obj, DictionaryObject):  # stream objects too; their data is never decoded
            kind = _kind(obj)
            if kind is not None:
                return kind
            stack.extend(obj.values())  # raw values: references are resolved above, once each
        elif isinstance(obj, ArrayObject):
            stack.extend(obj)
    return None
