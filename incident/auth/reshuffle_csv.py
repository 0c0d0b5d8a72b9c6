"""The reshuffle CSV format: its columns, reading a file (UTF-8 or Shift_JIS) into rows with their line
numbers, and the words accepted for roles and kinds (incident.csvfile writes the sample)."""
from __future__ import annotations

import codecs
import csv
import dataclasses
import io
from typing import Any

from flask_babel import lazy_gettext as _l

from incident.auth.models import OperatorType, Role
from incident.csvfile import unguard
from incident.errors import ValidationFailed

#: The largest file and the most data rows accepted.
MAX_BYTES = 1_000_000
MAX_ROWS = 5_000
#: The headers accepted for each column (compared trimmed and lower-cased); the first is the sample's.
HEADERS = {
    "email": ("メールアドレス", "email", "e-mail", "mail"),
    "department": ("所属", "department", "所属コード", "department code"),
    #: Optional, for people reading the file: when present it must name the same department as 所属.
    "department_name": ("所属名", "department name"),
    "role": ("役割", "role"),
    "organisation": ("委託業者・指定管理者名", "organisation", "organization", "委託業者・指定管理者", "組織名"),
    "operator_kind": ("組織の種類", "organisation kind", "organization kind", "operator kind", "operator_kind"),
}
REQUIRED_COLUMNS = ("email", "department", "role")
#: Columns of the sample that are there to be read, not imported.
INFO_HEADERS = ("氏名",)
#: What the role and kind cells may say, besides the values themselves (responder, contractor...).
ROLE_WORDS = {"担当者": Role.RESPONDER, "所属長": Role.SUPERVISOR, "秘書広報課": Role.ADMIN,
              "pr office": Role.ADMIN}
KIND_WORDS = {"委託業者": OperatorType.CONTRACTOR, "指定管理者": OperatorType.DESIGNATED_MANAGER,
              "designated manager": OperatorType.DESIGNATED_MANAGER}
#: How the sample writes roles and kinds (the labels the app shows in Japanese).
ROLE_NAMES = {Role.RESPONDER: "担当者", Role.SUPERVISOR: "所属長", Role.ADMIN: "秘書広報課"}
KIND_NAMES = {OperatorType.CONTRACTOR: "委託業者", OperatorType.DESIGNATED_MANAGER: "指定管理者"}

@dataclasses.dataclass(frozen=True)
class Problem:
    """What is wrong with the file, on a CSV line (None: the file as a whole)."""

    line: int | None
    message: Any


class ReshuffleRejected(ValidationFailed):
    """The file cannot become a plan; `problems` says where (the API's `fields` name the lines)."""

    def __init__(self, problems: list[Problem]) -> None:
        fields: dict[str, str] = {}
        for problem in problems:
            key = f"line {problem.line}" if problem.line else "file"
            fields[key] = " / ".join(filter(None, [fields.get(key), str(problem.message)]))
        super().__init__(_l("CSV に誤りがあります（%(n)d 件）。直してからもう一度アップロードしてください。",
                            n=len(problems)), fields)
        self.problems = problems


def _decode(data: bytes) -> str:
    """The file's text: UTF-8 (with or without a BOM), else Shift_JIS (CP932, as Excel in Japan saves)."""
    if not data.strip():
        raise ReshuffleRejected([Problem(None, _l("ファイルが空です。"))])
    if len(data) > MAX_BYTES:
        raise ReshuffleRejected([Problem(None, _l("ファイルが大きすぎます（%(max)d バイトまで）。", max=MAX_BYTES))])
    candidates = ("utf-8",) if data.startswith(codecs.BOM_UTF8) else ("utf-8", "cp932")
    for encoding in candidates:
        try:
            text = data.decode(encoding).removeprefix("\ufeff")
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text
    raise ReshuffleRejected([Problem(None, _l(
        "文字コードを読み取れません。CSV（UTF-8 または Shift_JIS）で保存し直してください。"))])


def _cell(raw: str) -> str:
    return unguard(raw.strip())  # the sample's guard against spreadsheet formulas


def _columns(header: list[str], line: int) -> dict[str, int]:
    known = {name.lower(): key for key, names in HEADERS.items() for name in names}
    columns: dict[str, int] = {}
    for index, raw in enumerate(header):
        key = known.get(raw.strip().removeprefix("\ufeff").lower())
        if key is None:
            continue
        if key in columns:
            raise ReshuffleRejected([Problem(line, _l("列「%(name)s」が二つあります。", name=raw.strip()))])
        columns[key] = index
    missing = [HEADERS[key][0] for key in REQUIRED_COLUMNS if key not in columns]
    if missing:
        raise ReshuffleRejected([Problem(line, _l(
            "見出しの行に %(names)s の列がありません（1 行目は見出し：メールアドレス,所属,役割,委託業者・指定管理者名）。",
            names="・".join(missing)))])
    return columns


def read_rows(data: bytes) -> tuple[dict[str, int], list[tuple[int, dict[str, str]]]]:
    """The columns found and the data rows, each with its CSV line number (blank rows skipped)."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    columns: dict[str, int] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    line = 1
    try:
        for raw in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in raw):
                continue
            if columns is None:
                columns = _columns(raw, start)
                continue
            if len(rows) >= MAX_ROWS:
                raise ReshuffleRejected([Problem(start, _l("行が多すぎます（%(max)d 行まで）。", max=MAX_ROWS))])
            rows.append((start, {key: _cell(raw[index]) if index < len(raw) else ""
                                 for key, index in columns.items()}))
    except csv.Error as exc:
        raise ReshuffleRejected([Problem(reader.line_num or 1, _l("CSV として読めません（%(error)s）。",
                                                                   error=str(exc)))]) from None
    if columns is None:
        raise ReshuffleRejected([Problem(None, _l("ファイルが空です。"))])
    if not rows:
        raise ReshuffleRejected([Problem(None, _l("見出しの行のほかに、異動する人の行がありません。"))])
    return columns, rows


def role_of(value: str) -> Role | None:
    """The role a cell names (its value, or the Japanese or English label), or None."""
    word = value.strip().lower()
    try:
        return Role(word)
    except ValueError:
        return ROLE_WORDS.get(word) or ROLE_WORDS.get(value.strip())


def kind_of(value: str) -> OperatorType | None:
    """The operator kind a cell names, or None."""
    word = value.strip().lower()
    if word in (OperatorType.CONTRACTOR.value, OperatorType.DESIGNATED_MANAGER.value):
        return OperatorType(word)
    return KIND_WORDS.get(word) or KIND_WORDS.get(value.strip())
