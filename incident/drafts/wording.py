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
from incident.drafts.models import FOLLOWED_UP_TYPES, DraftType
from incident.filecache import FileCache, files_key

#: The draft types and case kinds templates exist for and are checked against (playbook files name the
#: same values; incident.playbooks.loader checks those without importing the models).
DRAFT_TYPES = tuple(t.value for t in DraftType)
KINDS = tuple(k.value for k in CaseKind)

LANGUAGES = ("ja", "en")
#: Letters and forms (requests to a platform, the press release): sent once, never posted on a channel.
LETTER_TYPES = (*FOLLOWED_UP_TYPES, DraftType.PRESS)
#: Notices posted on a channel; each may have a short rendition, `<type>.short.<lang>.txt`, for channels
#: whose limit the long text exceeds (X: 280), the long text then going to the city website.
NOTICE_TYPES = tuple(t.value for t in DraftType if t not in LETTER_TYPES)
SHORT = "short"
PLATFORMS = ("x", "facebook", "instagram", "line", "youtube", "tiktok", "other")
#: Where a notice is posted ([channels.*] of platforms.toml): each with its length limit and way of counting.
CHANNELS = ("x", "facebook", "instagram", "line", "website")
COUNTINGS = ("weighted", "chars")
_CHANNEL_KEYS = {"name_ja": str, "name_en": str, "limit": int, "counting": str, "needs_url": bool}
#: Every name a template may use; anything else stops the app at start-up (see playbooks/README.md).
VARIABLES = frozenset({"city", "today", "case", "department", "author", "account", "fakes", "targets", "items",
                       "evidence", "platform", "interim", "corrects", "link"})
#: How each draft type writes dates (drafts/types.toml): 令和 for formal letters, the Western calendar for posts.
DATE_STYLES = ("reiwa", "western")
_TYPE_KEYS = {"date_style": str}
#: What a platform's removal form may ask for; the takedown page checks each against the case.
ASKS = ("reporter", "email", "authority_proof", "id_document", "fake_url", "fake_handle", "genuine_url",
        "description", "screenshots")
_PLATFORM_KEYS = {"name": str, "name_ja": str, "route_ja": str, "route_en": str, "form_url": str,
                  "asks": list, "notes_ja": str, "notes_en": str, "designated": bool, "answer_days": int}
#: <type>.<lang>.txt, takedown.<platform>.<lang>.txt or <type>.short.<lang>.txt (the middle part in "platform").
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


@dataclasses.dataclass(frozen=True)
class ChannelFacts:
    """Where a text is posted: its name, its length limit and how the platform counts (incident.drafts.length)."""

    key: str
    name_ja: str
    name_en: str
    limit: int
    counting: str
    needs_url: bool


@dataclasses.dataclass(frozen=True)
class TypeSettings:
    """What drafts/types.toml says about one draft type."""

    date_style: str


@dataclasses.dataclass
class Wording:
    """The loaded templates (by (type, platform or None, lang)), the notices' short renditions (by (type,
    lang)), platform facts and per-type settings."""

    templates: dict[tuple[str, str | None, str], jinja2.Template]
    platforms: dict[str, PlatformFacts]
    types: dict[str, TypeSettings] = dataclasses.field(default_factory=dict)
    channels: dict[str, ChannelFacts] = dataclasses.field(default_factory=dict)
    shorts: dict[tuple[str, str], jinja2.Template] = dataclasses.field(default_factory=dict)

    def date_style(self, draft_type: str) -> str:
        """"reiwa" or "western": how drafts of this type write their dates (drafts/types.toml)."""
        settings = self.types.get(draft_type)
        return settings.date_style if settings else "western"

    def template(self, draft_type: str, platform: str | None, lang: str) -> jinja2.Template | None:
        """The most specific template: per platform first, then the type's own."""
        return self.templates.get((draft_type, platform, lang)) or self.templates.get((draft_type, None, lang))

    def short_template(self, draft_type: str, lang: str) -> jinja2.Template | None:
        """The short rendition of a notice (`<type>.short.<lang>.txt`) for a channel the long text exceeds."""
        return self.shorts.get((draft_type, lang))

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
    extra = set(data) - set(PLATFORMS) - {"channels"}  # [channels.*]: load_channels
    if extra:
        raise WordingError(f"{path}: unknown platform tables {sorted(extra)}")
    return facts


def load_channels(path: Path) -> dict[str, ChannelFacts]:
    """Read and check the [channels.*] tables of platforms.toml: one per channel, with a positive limit and a
    known way of counting."""
    tables = _read_toml(path).get("channels")
    if not isinstance(tables, dict):
        raise WordingError(f"{path}: [channels.*] がありません (channel tables missing: {', '.join(CHANNELS)})")
    facts = {}
    for key, table in _checked_tables(path, tables, CHANNELS, _CHANNEL_KEYS, "channels.", "channel").items():
        for name, kind in _CHANNEL_KEYS.items():
            if not isinstance(table[name], kind) or (kind is int and isinstance(table[name], bool)):
                raise WordingError(f"{path}: [channels.{key}] {name} must be {kind.__name__}")
        if table["limit"] < 1:
            raise WordingError(f"{path}: [channels.{key}] limit must be 1 or more")
        if table["counting"] not in COUNTINGS:
            raise WordingError(f"{path}: [channels.{key}] counting must be one of {', '.join(COUNTINGS)}, "
                               f"not {table['counting']!r}")
        facts[key] = ChannelFacts(key=key, **table)
    return facts


def load_types(path: Path) -> dict[str, TypeSettings]:
    """Read and check drafts/types.toml: one table per draft type, each with a known date_style."""
    settings = {}
    for key, table in _checked_tables(path, _read_toml(path), DRAFT_TYPES, _TYPE_KEYS, "", "draft type").items():
        if table["date_style"] not in DATE_STYLES:
            raise WordingError(f"{path}: [{key}] date_style must be one of {', '.join(DATE_STYLES)}, "
                               f"not {table['date_style']!r}")
        settings[key] = TypeSettings(date_style=table["date_style"])
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    """A TOML data file, or a WordingError naming it."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WordingError(f"{path}: ファイルがありません (file missing)") from None
    except tomllib.TOMLDecodeError as exc:
        raise WordingError(f"{path}: {exc}") from None


def _checked_tables(path: Path, tables: dict[str, Any], names: Any, keys: Any, prefix: str,
                    what: str) -> dict[str, dict[str, Any]]:
    """One table for each of `names` and no other, each with exactly `keys`; the tables in `names` order."""
    extra = set(tables) - set(names)
    if extra:
        raise WordingError(f"{path}: unknown {what} tables {sorted(extra)}; allowed: {', '.join(names)}")
    checked = {}
    for key in names:
        table = tables.get(key)
        if not isinstance(table, dict):
            raise WordingError(f"{path}: [{prefix}{key}] がありません ({what} table missing)")
        unknown, missing = set(table) - set(keys), set(keys) - set(table)
        if unknown or missing:
            raise WordingError(f"{path}: [{prefix}{key}] unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        checked[key] = table
    return checked


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
    """Load every template under directory/drafts, drafts/types.toml and platforms.toml, or raise WordingError.

    Cached by the files' contents (checking every template costs most of the app factory's time); each
    call gets its own dicts, and the templates and PlatformFacts in them are not changed after loading."""
    files = [directory / "platforms.toml", directory / "drafts" / "types.toml",
             *sorted((directory / "drafts").glob("*.txt"))]
    key = (str(directory.resolve()), files_key(files))
    cached = _LOADED.get(key)
    if cached is None:
        _LOADED.put(key, cached := _load_wording(directory))
    return Wording(templates=dict(cached.templates), platforms=dict(cached.platforms), types=dict(cached.types),
                   channels=dict(cached.channels), shorts=dict(cached.shorts))


def _load_wording(directory: Path) -> Wording:
    platforms = load_platforms(directory / "platforms.toml")
    channels = load_channels(directory / "platforms.toml")
    drafts = directory / "drafts"
    draft_types = load_types(drafts / "types.toml")
    env = environment(drafts)
    templates: dict[tuple[str, str | None, str], jinja2.Template] = {}
    shorts: dict[tuple[str, str], jinja2.Template] = {}
    short_paths: dict[tuple[str, str], Path] = {}
    for path in sorted(drafts.glob("*.txt")):
        match = _FILE_NAME.match(path.name)
        if match and match["platform"] == SHORT and match["type"] not in NOTICE_TYPES:
            raise WordingError(f"{path}: 短い版（.short.）を置けるのは、お知らせの種類だけです "
                               f"(a short rendition is for notices only: {', '.join(NOTICE_TYPES)})")
        if not match or match["type"] not in DRAFT_TYPES or match["lang"] not in LANGUAGES or (
                match["platform"] and match["platform"] != SHORT
                and (match["type"] != "takedown" or match["platform"] not in PLATFORMS)):
            raise WordingError(f"{path}: ファイル名は <type>.<lang>.txt、takedown.<platform>.<lang>.txt か "
                               f"<type>.short.<lang>.txt "
                               f"(types: {', '.join(DRAFT_TYPES)}; languages: ja, en; short: notices only)")
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
        if match["platform"] == SHORT:
            shorts[(match["type"], match["lang"])] = template
            short_paths[(match["type"], match["lang"])] = path
        else:
            templates[(match["type"], match["platform"], match["lang"])] = template
    orphans = [short_paths[key] for key in sorted(shorts) if (key[0], None, key[1]) not in templates]
    if orphans:
        raise WordingError(f"{orphans[0]}: 短い版に対応する長い版 {orphans[0].name.replace('.short.', '.')} が"
                           f"ありません (a short rendition needs its long template)")
    missing = [t for t in DRAFT_TYPES if (t, None, "ja") not in templates]
    if missing:
        raise WordingError(f"{drafts}: 日本語のひな形がありません (missing Japanese templates): {', '.join(missing)}")
    return Wording(templates=templates, platforms=platforms, types=draft_types, channels=channels, shorts=shorts)


def _ns(**values: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**values)


def sample_context(full: bool, draft_type: str = "takedown", kind: str = "impersonation") -> dict[str, Any]:
    """A made-up case with everything filled in (full) or nothing optional, to test-render templates.

    A takedown or recovery request (FOLLOWED_UP_TYPES) always has its platform; other types never do.
    """
    with_platform = draft_type in {t.value for t in FOLLOWED_UP_TYPES}
    city = _ns(name="石巻市", name_en="Ishinomaki City", website="https://www.city.ishinomaki.lg.jp/")
    today = _ns(iso="2026-11-23", ja="2026年11月23日", reiwa="令和8年11月23日", en="23 November 2026",
                date="令和8年11月23日")
    case = _ns(number="2026-0001", title="件名", kind=kind, kind_label="種別",
               detected_at="2026-11-23 10:30", detected_ja="2026年11月23日 10時30分",
               detected_reiwa="令和8年11月23日", detected_date="令和8年11月23日",
               detected_datetime="令和8年11月23日 10時30分", first_seen="2026-11-20 09:00",
               first_seen_date="令和8年11月20日", first_seen_datetime="令和8年11月20日 9時00分",
               description="概要" if full else "")
    context: dict[str, Any] = {
        "city": city, "today": today, "case": case,
        "department": _ns(name="防災課", contact="0225-00-0000" if full else ""),
        "author": _ns(name="担当者", email="tanto@example.jp"),
        "account": None, "fakes": [], "targets": [], "items": [], "evidence": [], "platform": None, "interim": None,
        "corrects": None, "link": "",
    }
    if with_platform:
        context["platform"] = _ns(key="other", name="その他", route_ja="", route_en="", form_url="", notes_ja="",
                                  notes_en="", answer_days=0)
    if full:
        context.update(
            account=_ns(name="石巻市公式", url="https://x.com/ishinomaki_city", handle="@ishinomaki_city",
                        platform="x", platform_label="X", department="防災課", operator="",
                        closed=kind == "dormant_account",
                        closed_date="令和7年3月31日" if kind == "dormant_account" else ""),
            fakes=[_ns(platform="x", platform_label="X", handle="@fake", url="https://x.com/fake",
                       display_name="石巻市（偽）", first_seen="2026-11-20 09:00", first_seen_date="令和8年11月20日",
                       first_seen_datetime="令和8年11月20日 9時00分", last_seen="2026-11-22 09:00",
                       state_label="公開中")],
            targets=[_ns(platform="x", platform_label="X", handle="@fake", url="https://x.com/fake",
                         display_name="石巻市（偽）", first_seen="2026-11-20 09:00", first_seen_date="令和8年11月20日",
                         first_seen_datetime="令和8年11月20日 9時00分", state_label="公開中", known=True,
                         is_account=True),
                     _ns(platform="x", platform_label="X", handle="", url="https://x.com/fake/status/1",
                         display_name="", first_seen="2026-11-20 09:05", first_seen_date="令和8年11月20日",
                         first_seen_datetime="令和8年11月20日 9時05分", state_label="", known=False,
                         is_account=False)],
            items=[_ns(target="https://x.com/fake/status/1", note="偽の投稿", captured_at="2026-11-20 09:05")],
            evidence=[_ns(name="shot.png", type="image/png", size="120 KB", sha256="0" * 64,
                          captured_at="2026-11-20 09:05", note="プロフィール", target="https://x.com/fake")],
            platform=_ns(key="x", name="X", route_ja="フォーム", route_en="form", form_url="https://example.com/form",
                         notes_ja="注意", notes_en="note", answer_days=7) if with_platform else None,
            interim=_ns(published_at="2026-11-21 10:00", published_ja="2026年11月21日",
                        published_reiwa="令和8年11月21日", published_date="2026年11月21日",
                        url="https://www.city.ishinomaki.lg.jp/n", excerpt="…"),
            corrects=_ns(target="https://x.com/ishinomaki_city/status/1", published_ja="2026年11月20日",
                         published_date="2026年11月20日", excerpt="…"),
            link="https://www.city.ishinomaki.lg.jp/page",
        )
    return context
