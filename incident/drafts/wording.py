"""Draft wording kept as data: Jinja2 text templates in playbooks/drafts/ and platforms.toml, checked at start-up."""
from __future__ import annotations

import dataclasses
import re
import tomllib
import types
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from incident.cases.models import CaseKind
from incident.drafts.models import DraftType
from incident.filecache import FileCache, files_key

#: The draft types and case kinds templates exist for and are checked against (playbook files name the
#: same values; incident.playbooks.loader checks those without importing the models).
DRAFT_TYPES = tuple(t.value for t in DraftType)
KINDS = tuple(k.value for k in CaseKind)

LANGUAGES = ("ja", "en")
PLATFORMS = ("x", "facebook", "instagram", "line", "youtube", "tiktok", "other")
#: Every name a template may use; anything else stops the app at start-up (see playbooks/README.md).
VARIABLES = frozenset({"city", "today", "case", "department", "author", "account", "fakes", "items",
                       "evidence", "platform", "interim", "corrects", "link"})
#: What a platform's removal form may ask for; the takedown page checks each against the case.
ASKS = ("reporter", "email", "authority_proof", "id_document", "fake_url", "fake_handle", "genuine_url",
        "description", "screenshots")
_PLATFORM_KEYS = {"name": str, "name_ja": str, "route_ja": str, "route_en": str, "form_url": str,
                  "asks": list, "notes_ja": str, "notes_en": str, "designated": bool, "answer_days": int}
_FILE_NAME = re.compile(r"^(?P<type>[a-z_]+)(?:\.(?P<platform>[a-z]+))?\.(?P<lang>[a-z]{2})\.txt$")


class WordingError(ValueError):
    """A template or platforms.toml is broken; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class PlatformFacts:
    """How an organisation asks one platform to remove an account, and what the form wants."""

    key: str
    name: str
    name_ja: str
    route_ja: str
    route_en: str
    form_url: str
    asks: tuple[str, ...]
    notes_ja: str
    notes_en: str
    designated: bool
    answer_days: int


@dataclasses.dataclass
class Wording:
    """The loaded templates (by (type, platform or None, lang)) and platform facts."""

    templates: dict[tuple[str, str | None, str], jinja2.Template]
    platforms: dict[str, PlatformFacts]

    def template(self, draft_type: str, platform: str | None, lang: str) -> jinja2.Template | None:
        """The most specific template: per platform first, then the type's own."""
        return self.templates.get((draft_type, platform, lang)) or self.templates.get((draft_type, None, lang))

    def languages(self, draft_type: str) -> list[str]:
        """Languages a type has a template in, Japanese first."""
        return [lang for lang in LANGUAGES if any(t == draft_type and lg == lang for t, _, lg in self.templates)]


def environment(directory: Path) -> SandboxedEnvironment:
    """A sandbox for PR-office templates: plain text, and an unknown name is an error, not a blank."""
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def load_platforms(path: Path) -> dict[str, PlatformFacts]:
    """Read and check platforms.toml: one table per platform with every key of the right type."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WordingError(f"{path}: ファイルがありません (file missing)") from None
    except tomllib.TOMLDecodeError as exc:
        raise WordingError(f"{path}: {exc}") from None
    facts = {}
    for key in PLATFORMS:
        table = data.get(key)
        if not isinstance(table, dict):
            raise WordingError(f"{path}: [{key}] がありません (platform table missing)")
        unknown = set(table) - set(_PLATFORM_KEYS)
        missing = set(_PLATFORM_KEYS) - set(table)
        if unknown or missing:
            raise WordingError(f"{path}: [{key}] unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        for name, kind in _PLATFORM_KEYS.items():
            if not isinstance(table[name], kind) or (kind is int and isinstance(table[name], bool)):
                raise WordingError(f"{path}: [{key}] {name} must be {kind.__name__}")
        bad = [a for a in table["asks"] if a not in ASKS]
        if bad:
            raise WordingError(f"{path}: [{key}] asks: unknown {bad}; allowed: {', '.join(ASKS)}")
        facts[key] = PlatformFacts(key=key, **{**table, "asks": tuple(table["asks"])})
    extra = set(data) - set(PLATFORMS)
    if extra:
        raise WordingError(f"{path}: unknown platform tables {sorted(extra)}")
    return facts


def _line_of(source: str, name: str) -> int:
    for number, line in enumerate(source.splitlines(), start=1):
        if re.search(rf"\b{re.escape(name)}\b", line):
            return number
    return 1


def _render_line(exc: BaseException, filename: str) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


_LOADED = FileCache()


def load_wording(directory: Path) -> Wording:
    """Load every template under directory/drafts and directory/platforms.toml, or raise WordingError.

    Cached by the files' contents (checking every template costs most of the app factory's time); each
    call gets its own dicts, and the templates and PlatformFacts in them are not changed after loading."""
    files = [directory / "platforms.toml", *sorted((directory / "drafts").glob("*.txt"))]
    key = (str(directory.resolve()), files_key(files))
    cached = _LOADED.get(key)
    if cached is None:
        _LOADED.put(key, cached := _load_wording(directory))
    return Wording(templates=dict(cached.templates), platforms=dict(cached.platforms))


def _load_wording(directory: Path) -> Wording:
    platforms = load_platforms(directory / "platforms.toml")
    drafts = directory / "drafts"
    env = environment(drafts)
    templates: dict[tuple[str, str | None, str], jinja2.Template] = {}
    for path in sorted(drafts.glob("*.txt")):
        match = _FILE_NAME.match(path.name)
        if not match or match["type"] not in DRAFT_TYPES or match["lang"] not in LANGUAGES or (
                match["platform"] and (match["type"] != "takedown" or match["platform"] not in PLATFORMS)):
            raise WordingError(f"{path}: ファイル名は <type>.<lang>.txt か takedown.<platform>.<lang>.txt "
                               f"(types: {', '.join(DRAFT_TYPES)}; languages: ja, en)")
        source = path.read_text(encoding="utf-8")
        try:
            unknown = meta.find_undeclared_variables(env.parse(source)) - VARIABLES
            template = env.get_template(path.name)
        except jinja2.TemplateSyntaxError as exc:
            raise WordingError(f"{path}:{exc.lineno}: {exc.message}") from None
        if unknown:
            name = sorted(unknown)[0]
            raise WordingError(f"{path}:{_line_of(source, name)}: 未知の変数 {name} (unknown variable; "
                               f"allowed: {', '.join(sorted(VARIABLES))})")
        # Every kind, full and sparse: a typo in a branch for one kind must stop start-up too.
        samples = [sample_context(full, match["type"], kind) for kind in KINDS for full in (True, False)]
        for sample in samples:
            try:
                template.render(sample)
            except Exception as exc:  # any failure of a PR-office template must name the file, not crash
                line = _render_line(exc, template.filename or "")
                raise WordingError(f"{path}:{line or '?'}: {exc}") from None
        templates[(match["type"], match["platform"], match["lang"])] = template
    missing = [t for t in DRAFT_TYPES if (t, None, "ja") not in templates]
    if missing:
        raise WordingError(f"{drafts}: 日本語のひな形がありません (missing Japanese templates): {', '.join(missing)}")
    return Wording(templates=templates, platforms=platforms)


def _ns(**values: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**values)


def sample_context(full: bool, draft_type: str = "takedown", kind: str = "impersonation") -> dict[str, Any]:
    """A made-up case with everything filled in (full) or nothing optional, to test-render templates.

    A takedown always has its platform; other types never do.
    """
    city = _ns(name="石巻市", name_en="Ishinomaki City", website="https://www.city.ishinomaki.lg.jp/")
    today = _ns(iso="2026-11-23", ja="2026年11月23日", reiwa="令和8年11月23日", en="23 November 2026")
    case = _ns(number="2026-0001", title="件名", kind=kind, kind_label="種別",
               detected_at="2026-11-23 10:30", detected_ja="2026年11月23日 10時30分",
               detected_reiwa="令和8年11月23日", description="概要" if full else "")
    context: dict[str, Any] = {
        "city": city, "today": today, "case": case,
        "department": _ns(name="防災課", contact="0225-00-0000" if full else ""),
        "author": _ns(name="担当者", email="tanto@example.jp"),
        "account": None, "fakes": [], "items": [], "evidence": [], "platform": None, "interim": None,
        "corrects": None, "link": "",
    }
    if draft_type == "takedown":
        context["platform"] = _ns(key="other", name="その他", route_ja="", route_en="", form_url="", notes_ja="",
                                  notes_en="", answer_days=0)
    if full:
        context.update(
            account=_ns(name="石巻市公式", url="https://x.com/ishinomaki_city", handle="@ishinomaki_city",
                        platform="x", platform_label="X", department="防災課", operator=""),
            fakes=[_ns(platform="x", platform_label="X", handle="@fake", url="https://x.com/fake",
                       display_name="石巻市（偽）", first_seen="2026-11-20 09:00", last_seen="2026-11-22 09:00",
                       state_label="公開中")],
            items=[_ns(target="https://x.com/fake/status/1", note="偽の投稿", captured_at="2026-11-20 09:05")],
            evidence=[_ns(name="shot.png", type="image/png", size="120 KB", sha256="0" * 64,
                          captured_at="2026-11-20 09:05", note="プロフィール", target="https://x.com/fake")],
            platform=_ns(key="x", name="X", route_ja="フォーム", route_en="form", form_url="https://example.com/form",
                         notes_ja="注意", notes_en="note", answer_days=7) if draft_type == "takedown" else None,
            interim=_ns(published_at="2026-11-21 10:00", published_ja="2026年11月21日",
                        published_reiwa="令和8年11月21日", url="https://www.city.ishinomaki.lg.jp/n", excerpt="…"),
            corrects=_ns(target="https://x.com/ishinomaki_city/status/1", published_ja="2026年11月20日",
                         excerpt="…"),
            link="https://www.city.ishinomaki.lg.jp/page",
        )
    return context
