"""The page that checks a commissioned third-party post against guideline 5 before it goes out."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from incident.drafts.disclosure import check_with_config, shown_tag

bp = Blueprint("disclosure", __name__)

#: The longest post text checked (the API uses the same limit).
TEXT_MAX = 5000


class DisclosureForm(FlaskForm):
    """The post text, as the third party intends to publish it."""

    text = TextAreaField(_l("投稿文"), validators=[
        DataRequired(_l("入力してください。")),
        # WTForms fills in %(max)d; the same msgid as the API's length message.
        Length(max=TEXT_MAX, message=_l("%(max)d 文字以内で入力してください。")),
    ])


@bp.route("/tools/pr-disclosure", methods=["GET", "POST"])
@login_required
def check():
    """GET: the empty form; POST: the form again with the result of the check."""
    form = DisclosureForm()
    problems = check_with_config(form.text.data) if form.validate_on_submit() else None
    # The examples use the configured tag and the Japanese city name, as the post will.
    return render_template("drafts/disclosure.html", form=form, problems=problems,
                           city_tag=shown_tag(current_app.config["PR_CITY_TAG"]),
                           city=current_app.config["CITY_NAME"])
