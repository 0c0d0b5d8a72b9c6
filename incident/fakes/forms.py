"""Forms of the known-fake pages: recording a fake account and recording its state."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf

from incident import labels
from incident.accounts.models import FakeAccountState, Platform
from incident.auth.forms import at_most, stripped
from incident.fakes.service import DISPLAY_NAME_MAX, NOTE_MAX


class FakeForm(FlaskForm):
    """A fake account: platform, @handle and/or URL, display name, the genuine account it imitates.

    The service normalises the handle and URL and checks the genuine account, in its own words."""

    case_id = HiddenField()
    platform = SelectField(_l("媒体"), choices=labels.choices(labels.PLATFORM_LABELS), validate_choice=False,
                           validators=[AnyOf([p.value for p in Platform], message=_l("媒体を選んでください。"))])
    handle = StringField(_l("@ハンドル"))
    url = StringField(_l("URL"))
    display_name = StringField(_l("表示名"), filters=[stripped], validators=[at_most(DISPLAY_NAME_MAX)])
    # Choices (the registered accounts) are set by the view; the service checks the id.
    genuine_account_id = SelectField(_l("なりすまされた公式アカウント"), choices=[], validate_choice=False)


class FakeStateForm(FlaskForm):
    """A state change (reported, removed, still live) with an optional note."""

    state = SelectField(_l("新しい状態"), choices=labels.choices(labels.FAKE_STATE_LABELS), validate_choice=False,
                        validators=[AnyOf([s.value for s in FakeAccountState], message=_l("状態を選んでください。"))])
    note = TextAreaField(_l("メモ（任意）"), filters=[stripped], validators=[at_most(NOTE_MAX)])
