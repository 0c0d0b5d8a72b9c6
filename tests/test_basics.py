"""Configuration, dates, and the Markdown sanitiser."""
from __future__ import annotations

import datetime as dt
import gc
from html.parser import HTMLParser

import pytest

from incident import create_app
from incident.config import ConfigurationError
from incident.dates import as_utc, era_date, format_datetime
from incident.text import ALLOWED_TAGS, render_markdown


def test_production_refuses_to_start_without_secret_key(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError) as info:
        create_app({"ENV": "production", "SECRET_KEY": None,
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    assert "INCIDENT_SECRET_KEY" in str(info.value)


def test_environment_overrides_configuration(monkeypatch, tmp_path):
    monkeypatch.setenv("INCIDENT_PER_PAGE", "7")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("INCIDENT_SECRET_KEY", "from-env")
    app = create_app()
    assert app.config["PER_PAGE"] == 7
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/env.db"
    assert app.config["SECRET_KEY"] == "from-env"


def test_a_served_app_keeps_what_start_up_built_out_of_the_collectors_walks(tmp_path, built_apps):
    """Without it a full garbage collection walked ~220,000 objects every few requests (127 ms at 100,000
    cases); a test app leaves the collector alone (the suite builds many)."""
    gc.unfreeze()
    try:
        built_apps.append(create_app({"TESTING": True, "SECRET_KEY": "x",
                                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/t.db"}))
        assert gc.get_freeze_count() == 0
        built_apps.append(create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/s.db"}))
        assert gc.get_freeze_count() > 50_000
    finally:
        gc.unfreeze()


def test_times_show_in_tokyo():
    moment = dt.datetime(2026, 11, 23, 15, 30, tzinfo=dt.UTC)
    assert format_datetime(moment) == "2026-11-24 00:30"
    assert as_utc(dt.datetime(2026, 11, 24, 0, 30)) == moment  # naive input is Tokyo time


@pytest.mark.parametrize("day, expected", [
    (dt.date(2024, 4, 1), "令和6年4月1日"),
    (dt.date(2019, 5, 1), "令和元年5月1日"),
    (dt.date(2019, 4, 30), "平成31年4月30日"),
])
def test_era_dates(day, expected):
    assert era_date(day) == expected


@pytest.mark.parametrize("payload", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<svg onload=alert(1)>",
    "<iframe src=https://evil.example></iframe>",
    "[x](JaVaScRiPt:alert(1))",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
])
def test_markdown_never_lets_script_through(payload):
    tags = _parse(str(render_markdown(payload)))
    for tag, attrs in tags:
        assert tag in ALLOWED_TAGS
        for name, value in attrs:
            assert not name.startswith("on") and name != "style"
            assert not (value or "").strip().lower().startswith("javascript:")


def _parse(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element a browser would build from this HTML, with its attributes."""
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collector().feed(html)
    return found


def test_markdown_keeps_formatting_and_safe_links():
    html = str(render_markdown("**重要** [市のページ](https://www.city.ishinomaki.lg.jp/)"))
    assert "<strong>重要</strong>" in html
    assert 'href="https://www.city.ishinomaki.lg.jp/"' in html
    assert "noopener" in html
