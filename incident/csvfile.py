"""CSV files that spreadsheets open safely: UTF-8 with a BOM, CRLF lines, formula cells guarded."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

#: First characters that make a spreadsheet run a cell as a formula (CSV injection): such text cells get a
#: leading apostrophe, which Excel shows as plain text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Rows encoded per chunk of a streamed file, unless the caller says.
CHUNK_ROWS = 500


def guard(value: Any) -> str:
    """A cell's text: numbers as they are, None as empty, text starting like a formula with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def unguard(text: str) -> str:
    """A cell read back from a file this module wrote: the apostrophe before a formula character dropped."""
    return text[1:] if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_START else text


def encode_rows(rows: Iterable[Sequence[Any]], chunk_rows: int = CHUNK_ROWS) -> Iterator[bytes]:
    """CSV lines as UTF-8 bytes, `chunk_rows` rows a chunk, each row guarded and ended by CRLF; the first
    chunk is the BOM (so that Excel reads the Japanese)."""
    yield "\ufeff".encode()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for count, row in enumerate(rows, start=1):
        writer.writerow([guard(cell) for cell in row])
        if count % chunk_rows == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def write_csv(rows: Iterable[Sequence[Any]]) -> bytes:
    """A whole (small) CSV file as bytes."""
    return b"".join(encode_rows(rows))
