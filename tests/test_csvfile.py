"""The one CSV writer (incident/csvfile.py) of the exports and the reshuffle sample: a BOM, CRLF lines, and
cells a spreadsheet would run as formulas guarded with an apostrophe (and read back without it)."""
from __future__ import annotations

import csv
import io

import pytest

from incident import csvfile
from incident.auth import reshuffle_csv


@pytest.mark.parametrize("value, cell", [
    ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"), ("+1", "'+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), ("a=b", "a=b"),
    ("'quoted", "'quoted"), ("", ""), (-5, "-5"), (12, "12"), (1.5, "1.5"), (True, "1"), (False, "0"), (None, ""),
])
def test_cells_that_a_spreadsheet_would_run_are_guarded(value, cell):
    assert csvfile.guard(value) == cell


@pytest.mark.parametrize("text", ["=1+1", "+81-90", "-x", "@業者", "\tx", "plain", "'plain", "'", "", "a=b"])
def test_a_guarded_cell_reads_back_as_written(text):
    assert csvfile.unguard(csvfile.guard(text)) == text


def test_the_writer_streams_chunks_with_one_bom():
    chunks = list(csvfile.encode_rows([["a", "=1"], ["b", 2], ["c", None]], chunk_rows=2))
    assert chunks[0] == b"\xef\xbb\xbf" and len(chunks) == 3  # the BOM, two rows, the last row
    assert b"".join(chunks) == "\ufeffa,'=1\r\nb,2\r\nc,\r\n".encode()


def test_a_whole_file_quotes_what_csv_must_quote():
    data = csvfile.write_csv([["件名", "備考"], ["a,b", "line\nbreak"], ['say "hi"', "=cmd"]])
    assert data == '\ufeff件名,備考\r\n"a,b","line\nbreak"\r\n"say ""hi""",\'=cmd\r\n'.encode()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows == [["件名", "備考"], ["a,b", "line\nbreak"], ['say "hi"', "'=cmd"]]


def test_the_reshuffle_reads_back_the_sample_it_wrote():
    written = csvfile.write_csv([["メールアドレス", "所属", "役割", "委託業者・指定管理者名"],
                                 ["+x@example.jp", "bosai", "担当者", "@業者"]])
    _columns, rows = reshuffle_csv.read_rows(written)
    assert b"'+x@example.jp" in written and b"'@" in written
    assert rows == [(2, {"email": "+x@example.jp", "department": "bosai", "role": "担当者", "organisation": "@業者"})]
