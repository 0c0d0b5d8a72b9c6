"""Markdown to safe HTML: the one place the application renders user-written Markdown."""
from __future__ import annotations

import markdown
import nh3
from markdown.extensions import Extension
from markupsafe import Markup

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


class _EscapeRawHtml(Extension):
    """Treat raw HTML in Markdown as text: users write notes, not markup."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (Markdown's API name)
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def render_markdown(source: str | None) -> Markup:
    """Render Markdown and sanitise it with an allow-list, so no script or handler survives."""
    if not source:
        return Markup("")
    # Raw HTML in the source is escaped rather than passed through, and the output is sanitised
    # anyway: two layers, because a bug in either alone must not become an XSS.
    html = markdown.markdown(
        source,
        extensions=[_EscapeRawHtml(), "fenced_code", "tables", "sane_lists", "nl2br"],
        output_format="html",
    )
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return Markup(clean)
