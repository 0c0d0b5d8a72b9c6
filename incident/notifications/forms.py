"""The forms of the notification pages: which kinds also come by e-mail, and a new chat channel."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import Length, Optional

from incident.labels import CHAT_SERVICE_LABELS, options
from incident.notifications.chat import NAME_MAX, TARGET_MAX, URL_MAX
from incident.notifications.service import KINDS


class EmailChoicesForm(FlaskForm):
    """The kinds ticked; an unknown kind is ignored (the checkboxes only offer known ones)."""

    kinds = SelectMultipleField(choices=options((kind, kind) for kind in KINDS), validate_choice=False)


class ChatChannelForm(FlaskForm):
    """A new chat channel: whose it is, the service, a name, the webhook URL (or LINE WORKS destination), and
    the kinds of notification it takes. The service checks every value (incident.notifications.chat)."""

    owner = SelectField(_l("誰の通知か"), validate_choice=False)
    service = SelectField(_l("サービス"), choices=options(CHAT_SERVICE_LABELS.items()), validate_choice=False)
    name = StringField(_l("名前（例：防災課 Teams）"), validators=[Optional(), Length(max=NAME_MAX)])
    url = StringField(_l("Webhook の URL"), validators=[Optional(), Length(max=URL_MAX)])
    target = StringField(_l("LINE WORKS の送り先（channel:トークルームID または user:ユーザーID）"),
                         validators=[Optional(), Length(max=TARGET_MAX)])
    kinds = SelectMultipleField(_l("送る通知"), choices=options((kind, kind) for kind in KINDS), validate_choice=False)
